"""WHMCS shapes <-> canonical records, both ways. Pure functions; every WHMCS quirk is handled here.

Quirks (FACTS.md §1.4): lists nest one level under a singular key (``clients.client[]``) and an
empty list is ``""``, missing, or ``[[]]`` (``attachments``); numbers and booleans arrive as strings
or numbers; zero dates are ``0000-00-00``; some documented examples are printed flattened in PHP
bracket notation (``"domains[domain][0][id]"``). Times are server-local without a zone: callers
pass the server's ``tzinfo``.

Lossy points, declared by the connector and documented here:

* Client status: Active/Inactive/Closed map one to one.
* Ticket priority: WHMCS knows Low/Medium/High only, so canonical ``urgent`` is written as High.
  Custom ticket statuses an admin added read as ``open`` unless their name slugs to a canonical one.
  A department WHMCS lacks is written as the ``ticket_department`` setting's; a message without an
  author is posted as the admin ``hostsync``; replies read back in time order, and the ticket's
  time is its opening message's.
* Invoice status: Collections and Payment Pending read as ``unpaid``. Writers send a status only
  when it differs canonically from the current one, so they never flatten those.
* Invoice totals: WHMCS computes them. Writers pass the one tax rate that gives the source's total
  when there is one, so the mirrored invoice adds up the same, else the nearest rate
  (``invoice_tax`` says which total WHMCS will show, e.g. without a fee that is on no line). Without
  a source total WHMCS applies its own tax rules.
* Invoice lines: WHMCS stores one amount per line and no quantity. A line of ``q x p`` is written
  as description ``"q x <description>"`` with amount ``q*p`` (in cents, half up); reading parses
  that prefix back when the amount divides exactly, so such lines read back identically. Where the
  amount was rounded (1.5 x 0.33 = 0.50) the line reads back as quantity 1 with the prefix left in
  its description; other lines read as quantity 1, and a description that itself starts with
  ``"2 x "`` may read back as a quantity.
* Domain status: Pending Registration/Pending Transfer read as ``pending``, Grace/Redemption as
  ``expired``, Transferred Away as ``transferred``, Fraud as ``suspended`` (WHMCS has no suspended
  domain status; Fraud is its "held" state, and ``suspended`` is written as Fraud). Every canonical
  domain status is written as a WHMCS status that reads back as itself, so writing is lossless.

The connector's ``stored()`` applies the lossy points of writing (``stored_lines``, ``invoice_tax``,
``stored_ticket_fields``), so that what hostsync wrote never looks like a change made in WHMCS.
"""

from __future__ import annotations

import base64

import hashlib
import json
import re
from datetime import date, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable, Iterable, Mapping, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hostsync.model import Record, parse_datetime
from hostsync.values import ident, text  # an id 0 names none (a ticket opened by a guest)

# --- generic quirks ---------------------------------------------------------------------------

_BRACKETS = re.compile(r"\[([^\]]*)\]")


def unflatten(data: Mapping[str, Any]) -> dict[str, Any]:
    """Nest keys printed in PHP bracket notation (``"domains[domain][0][id]"``), as some of the
    official examples show them; other keys pass through unchanged."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if "[" not in key or not key.endswith("]"):
            out[key] = value
            continue
        head = key[: key.index("[")]
        path = [head, *_BRACKETS.findall(key[len(head):])]
        node = out
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = value
    return {key: _listify(value) for key, value in out.items()}


def _listify(value: Any) -> Any:
    """Dicts whose keys are all 0..n-1 (from bracket notation) become lists."""
    if not isinstance(value, dict):
        return value
    value = {key: _listify(child) for key, child in value.items()}
    if value and all(isinstance(k, str) and k.isdigit() for k in value):
        return [value[k] for k in sorted(value, key=int)]
    return value


def nested(container: Any, key: str) -> list[dict[str, Any]]:
    """The rows of a WHMCS list: ``{"client": [...]}``, ``{"client": {...}}`` (one row), ``""``,
    ``None``, ``[]`` or ``[[]]`` all read as the rows they hold."""
    if isinstance(container, Mapping):
        container = container.get(key)
    if isinstance(container, Mapping):
        container = [container]
    if not isinstance(container, list):
        return []
    return [row for row in container if isinstance(row, Mapping) and row]



def integer(value: Any, default: int = 0) -> int:
    try:
        return int(Decimal(str(value).strip()))
    except (InvalidOperation, ValueError, TypeError):
        return default


def flag(value: Any) -> bool:
    """WHMCS booleans: ``"0"/"1"``, ``0/1``, ``true/false``, ``"on"``, ``"yes"``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return str(value or "").strip().lower() in {"1", "true", "on", "yes", "y"}


def zone(name: str | None) -> tzinfo:
    """The server's time zone from an IANA name (default UTC); ``ValueError`` if unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/London)") from exc


def utc(value: Any, tz: tzinfo) -> datetime | None:
    """A server-local WHMCS timestamp (zero dates included) as an aware UTC datetime."""
    return parse_datetime(text(value), tz)  # type: ignore[arg-type]


def local(value: Any, tz: tzinfo) -> str | None:
    """A canonical timestamp as the server-local ``Y-m-d H:i:s`` WHMCS expects."""
    moment = parse_datetime(value) if value not in (None, "") else None
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if moment else None


def stored_time(value: Any, tz: tzinfo) -> str | None:
    """A canonical time as it reads back once WHMCS kept it as local time without a zone: the
    same, except in the hour a change from summer time repeats, which reads as its first pass."""
    moment = utc(local(value, tz), tz)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def day(value: Any) -> str | None:
    """The date part of a WHMCS date or datetime (``0000-00-00`` is none). Dates carry no zone:
    a paid-on or due date is the business day the vendor shows."""
    value = text(value)
    if value is None or value.startswith("0000-00-00"):
        return None
    return value[:10]


def iso_date(value: Any) -> str:
    """A canonical date for a WHMCS parameter (``""`` clears it)."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()[:10]
    return text(value) or ""


def row_version(row: Mapping[str, Any]) -> str:
    """A change token for a summary row: a short hash of everything the row says."""
    blob = json.dumps(row, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(blob.encode("utf-8"), digest_size=12).hexdigest()


def _canonical(mapping: Mapping[str, str], value: Any) -> str | None:
    """The canonical name of a vendor status; an unknown one passes through lower-cased, so that
    normalising the record fails with a message naming it instead of guessing."""
    value = text(value)
    if value is None:
        return None
    return mapping.get(value.lower(), value.lower())


# --- clients ----------------------------------------------------------------------------------

CLIENT_STATUS = {"active": "active", "inactive": "inactive", "closed": "closed"}
CLIENT_STATUS_OUT = {"active": "Active", "inactive": "Inactive", "closed": "Closed"}


def client_record(details: Mapping[str, Any], origin_field: str | None = None) -> Record:
    """A ``GetClientsDetails`` answer (the ``client`` object, or the deprecated top-level copy);
    its origin marker is the value of client custom field ``origin_field``."""
    client = details.get("client") if isinstance(details.get("client"), Mapping) else details
    origin = next((text(field.get("value")) for field in nested(client.get("customfields"), "customfield")
                   if origin_field and str(field.get("id")) == origin_field), None)
    return Record(
        "client", ident(client.get("id") or client.get("client_id") or client.get("userid")),
        {
            "email": text(client.get("email")),
            "first_name": text(client.get("firstname")),
            "last_name": text(client.get("lastname")),
            "company": text(client.get("companyname")),
            "phone": text(client.get("phonenumber")),
            "address1": text(client.get("address1")),
            "address2": text(client.get("address2")),
            "city": text(client.get("city")),
            "state": text(client.get("state")),
            "postcode": text(client.get("postcode")),
            "country": text(client.get("countrycode") or client.get("country")),
            "status": _canonical(CLIENT_STATUS, client.get("status")),
        },
        origin=origin,
    )


def custom_fields(values: Mapping[str, str]) -> str:
    """The ``customfields`` parameter of AddClient/UpdateClient: field id -> value as a PHP
    ``serialize()``d array, base64-encoded (the form the WHMCS reference gives)."""
    items = "".join(f'i:{int(field)};s:{len(value.encode("utf-8"))}:"{value}";' for field, value in values.items())
    return base64.b64encode(f"a:{len(values)}:{{{items}}}".encode("utf-8")).decode("ascii")


_CLIENT_PARAMS = {
    "email": "email", "first_name": "firstname", "last_name": "lastname", "company": "companyname",
    "phone": "phonenumber", "address1": "address1", "address2": "address2", "city": "city",
    "state": "state", "postcode": "postcode", "country": "country",
}


def client_params(record: Record, names: Iterable[str] | None = None) -> dict[str, str]:
    """AddClient/UpdateClient parameters for the given canonical fields (all when ``None``);
    ``None`` becomes ``""`` so a cleared value is cleared in WHMCS too."""
    wanted = set(_CLIENT_PARAMS) | {"status"} if names is None else set(names)
    params = {param: text(record.fields.get(name)) or ""
              for name, param in _CLIENT_PARAMS.items() if name in wanted}
    status = record.fields.get("status")
    if "status" in wanted and status:
        params["status"] = CLIENT_STATUS_OUT[status]
    return params


# --- activity log -----------------------------------------------------------------------------

_USER_ID = re.compile(r"\bUser ID: (\d+)")


def activity_client_ids(entry: Mapping[str, Any]) -> set[str]:
    """The client ids a ``GetActivityLog`` entry is about.

    ``clientId`` (8.0+), else ``userid`` (the client id before 8.0, kept as an alias since), plus
    any ``User ID: N`` in the description: WHMCS's own wording for the client it changed
    (e.g. "Client Profile Modified - ... - User ID: 5").
    """
    ids = {ident(entry.get("clientId") if "clientId" in entry else entry.get("userid"))}
    ids.update(_USER_ID.findall(str(entry.get("description") or "")))
    return {i for i in ids if i}


def newest_activity(entries: Iterable[Mapping[str, Any]], tz: tzinfo, since: datetime | None = None,
                    into: dict[str, datetime] | None = None) -> tuple[dict[str, datetime], bool]:
    """The newest log time per client from ``entries`` (newest first, as GetActivityLog lists them),
    stopping at the first entry older than ``since``; the flag says whether one was reached."""
    newest = {} if into is None else into
    for entry in entries:
        when = utc(entry.get("date"), tz)
        if when is None:
            continue
        if since is not None and when < since:
            return newest, True
        for client_id in activity_client_ids(entry):
            newest.setdefault(client_id, when)
    return newest, False


# --- tickets ----------------------------------------------------------------------------------

TICKET_STATUS = {"open": "open", "answered": "answered", "customer-reply": "customer_reply",
                 "in progress": "in_progress", "on hold": "on_hold", "closed": "closed"}
TICKET_STATUS_OUT = {"open": "Open", "answered": "Answered", "customer_reply": "Customer-Reply",
                     "in_progress": "In Progress", "on_hold": "On Hold", "closed": "Closed"}
PRIORITY = {"low": "low", "medium": "medium", "high": "high"}
PRIORITY_OUT = {"low": "Low", "medium": "Medium", "high": "High", "urgent": "High"}


#: The admin name replies without an author are posted as.
ANONYMOUS_ADMIN = "hostsync"


def stored_ticket_fields(fields: Mapping[str, Any], department: Callable[[str], str | None] | None = None,
                         tz: tzinfo | None = None) -> dict[str, Any]:
    """Canonical ticket fields as WHMCS reads them back after hostsync wrote them.

    :param department: the name of the WHMCS department a given name is written to (WHMCS's own
        spelling, or the ``ticket_department`` fallback's), ``None`` if unknown.
    :param tz: the server's zone, for times in the hour a change from summer time repeats.
    """
    out = dict(fields)
    if tz is not None and out.get("created_at"):
        out["created_at"] = stored_time(out["created_at"], tz)
    if out.get("priority") == "urgent":
        out["priority"] = "high"
    if out.get("department") and department is not None:
        out["department"] = department(out["department"]) or out["department"]
    messages = [dict(message) for message in out.get("messages") or []]
    for message in messages:
        if tz is not None and message.get("created_at"):
            message["created_at"] = stored_time(message["created_at"], tz)
    if messages:
        first = messages[0]
        if "created_at" in first and not first["created_at"] and out.get("created_at"):
            first["created_at"] = out["created_at"]  # the opening message is dated by the ticket
        for reply in messages[1:]:
            if "author" in reply and not reply.get("author"):
                reply["author"] = ANONYMOUS_ADMIN
        if all(message.get("created_at") for message in messages):  # WHMCS lists replies by time
            messages.sort(key=lambda message: str(message["created_at"]))
        out["messages"] = messages
        if "created_at" in out and first.get("created_at"):
            out["created_at"] = first["created_at"]  # OpenTicket dates the ticket by its opening message
    return out


def ticket_status(value: Any) -> str | None:
    """Custom statuses an admin added read as ``open`` unless their name is a canonical one."""
    name = text(value)
    if name is None:
        return None
    slug = name.lower().replace("-", "_").replace(" ", "_")
    return TICKET_STATUS.get(name.lower()) or (slug if slug in TICKET_STATUS_OUT else "open")


def reply_author(reply: Mapping[str, Any]) -> str | None:
    """The admin's name for staff replies, else the author's e-mail, else their name."""
    return (text(reply.get("admin")) or text(reply.get("email")) or text(reply.get("requestor_email"))
            or text(reply.get("name")) or text(reply.get("requestor_name")))


def ticket_record(ticket: Mapping[str, Any], tz: tzinfo) -> Record:
    """A ``GetTicket`` answer (replies in ascending order, the opening message first)."""
    replies = sorted(nested(ticket.get("replies"), "reply"),
                     key=lambda r: (text(r.get("date")) or "", integer(r.get("replyid"))))
    return Record(
        "ticket", ident(ticket.get("ticketid") or ticket.get("id")),
        {
            "subject": text(ticket.get("subject")),
            "status": ticket_status(ticket.get("status")),
            "priority": _canonical(PRIORITY, ticket.get("priority")),
            "department": text(ticket.get("deptname")),
            "messages": [{"author": reply_author(r), "body": r.get("message"),
                          "created_at": utc(r.get("date"), tz)} for r in replies],
            "created_at": utc(ticket.get("date"), tz),
        },
        {"client": ident(ticket.get("userid"))},
        updated_at=utc(ticket.get("lastreply"), tz),
    )


_TICKET_ROW_KEYS = ("id", "tid", "deptid", "userid", "subject", "status", "priority", "date", "lastreply")


def ticket_stub(row: Mapping[str, Any], tz: tzinfo) -> Record:
    """A ``GetTickets`` row as a partial record; its version changes with anything the row says
    about the ticket (a reply moves ``lastreply``)."""
    return Record(
        "ticket", ident(row.get("id")),
        {"subject": text(row.get("subject")), "status": ticket_status(row.get("status")),
         "priority": _canonical(PRIORITY, row.get("priority")), "created_at": utc(row.get("date"), tz)},
        {"client": ident(row.get("userid"))},
        updated_at=utc(row.get("lastreply"), tz),
        version=row_version({key: str(row.get(key, "")) for key in _TICKET_ROW_KEYS}),
        partial=True,
    )


# --- invoices ---------------------------------------------------------------------------------

INVOICE_STATUS = {"draft": "draft", "unpaid": "unpaid", "overdue": "unpaid", "collections": "unpaid",
                  "payment pending": "unpaid", "paid": "paid", "cancelled": "cancelled",
                  "refunded": "refunded"}
INVOICE_STATUS_OUT = {"draft": "Draft", "unpaid": "Unpaid", "paid": "Paid", "cancelled": "Cancelled",
                      "refunded": "Refunded"}

_QUANTITY_PREFIX = re.compile(r"^(\d+(?:\.\d+)?) x (.+)$", re.S)
_CENT = Decimal("0.01")


def invoice_status(value: Any) -> str | None:
    return _canonical(INVOICE_STATUS, value)


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value).strip()) if text(value) is not None else None
    except InvalidOperation:
        return None


def line_from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """An ``items.item`` row as a canonical line (see the module note on quantities)."""
    description = str(item.get("description") or "")
    amount = _decimal(item.get("amount")) or Decimal("0")
    quantity, unit = Decimal(1), amount
    match = _QUANTITY_PREFIX.match(description)
    if match:
        q = Decimal(match.group(1))
        if q > 0 and (amount / q).quantize(_CENT, ROUND_HALF_UP) * q == amount:
            quantity, unit, description = q, (amount / q).quantize(_CENT, ROUND_HALF_UP), match.group(2)
    return {"description": description, "quantity": quantity, "unit_price": unit,
            "taxed": flag(item.get("taxed"))}


def line_to_item(line: Mapping[str, Any]) -> tuple[str, str, str]:
    """(description, amount, taxed) for a canonical line."""
    description = str(line.get("description") or "")
    quantity = _decimal(line.get("quantity"))
    unit = _decimal(line.get("unit_price")) or Decimal("0")
    if quantity is None or quantity == 1:
        amount = unit
    else:
        amount = unit * quantity
        description = f"{format(quantity.normalize(), 'f')} x {description}"
    return description, str(amount.quantize(_CENT, ROUND_HALF_UP)), "1" if flag(line.get("taxed")) else "0"


class InvoiceTax(NamedTuple):
    """What hostsync sends as WHMCS's ``taxrate`` (percent) and the total WHMCS will then compute."""

    rate: str
    total: str


def invoice_tax(lines: Iterable[Mapping[str, Any]], total: Any) -> InvoiceTax | None:
    """The tax rate for an invoice of ``lines`` whose source computed ``total``, and WHMCS's total.

    WHMCS computes totals itself: subtotal plus the rate on the taxed lines, rounded half up (a
    second-level rate is sent as 0). The rate sent is the one that turns ``lines`` into ``total``
    when one exists (so the mirror adds up the same), else the nearest one (0 when nothing is taxed
    or the source's total is below the subtotal); the second value says what WHMCS will show.
    ``None`` without a total: WHMCS applies its own tax rules, which hostsync cannot predict.
    """
    target = _decimal(total)
    if target is None:
        return None
    items = [line_to_item(line) for line in lines]
    subtotal = sum((Decimal(amount) for _, amount, _ in items), Decimal(0))
    taxed = sum((Decimal(amount) for _, amount, flagged in items if flagged == "1"), Decimal(0))
    extra = target.quantize(_CENT, ROUND_HALF_UP) - subtotal
    rate = Decimal("0.000")
    if taxed > 0 and extra > 0:
        rate = (extra / taxed * 100).quantize(Decimal("0.001"), ROUND_HALF_UP)
    computed = subtotal + (taxed * rate / 100).quantize(_CENT, ROUND_HALF_UP)
    return InvoiceTax(str(rate), str(computed.quantize(_CENT)))


def stored_lines(lines: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Canonical lines as WHMCS reads them back after hostsync wrote them (quantities folded into
    the description read back only where the amount divides exactly; see the module note)."""
    out = []
    for line in lines:
        description, amount, taxed = line_to_item(line)
        out.append(line_from_item({"description": description, "amount": amount, "taxed": taxed}))
    return out


def invoice_record(invoice: Mapping[str, Any], currency: str | None) -> Record:
    """A ``GetInvoice`` answer; ``currency`` comes from the client (GetInvoice does not say it)."""
    invoice_id = ident(invoice.get("invoiceid") or invoice.get("id"))
    return Record(
        "invoice", invoice_id,
        {
            "number": text(invoice.get("invoicenum")) or invoice_id,
            "issued_on": day(invoice.get("date")),
            "due_on": day(invoice.get("duedate")),
            "paid_on": day(invoice.get("datepaid")),
            "status": invoice_status(invoice.get("status")),
            "currency": currency,
            "lines": [line_from_item(item) for item in nested(invoice.get("items"), "item")],
            "total": text(invoice.get("total")),
        },
        {"client": ident(invoice.get("userid"))},
    )


def invoice_stub(row: Mapping[str, Any], tz: tzinfo) -> Record:
    """A ``GetInvoices`` row as a partial record; its version is a hash of the whole row, which
    includes ``updated_at``, status, dates and totals."""
    invoice_id = ident(row.get("id"))
    return Record(
        "invoice", invoice_id,
        {"number": text(row.get("invoicenum")) or invoice_id, "issued_on": day(row.get("date")),
         "due_on": day(row.get("duedate")), "paid_on": day(row.get("datepaid")),
         "status": invoice_status(row.get("status")), "currency": text(row.get("currencycode")),
         "total": text(row.get("total"))},
        {"client": ident(row.get("userid"))},
        updated_at=utc(row.get("updated_at"), tz),
        version=row_version(row),
        partial=True,
    )


def line_edits(current: list[Mapping[str, Any]], lines: list[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """UpdateInvoice parameters that turn the ``current`` items into ``lines``, by position:
    changed lines are edited in place (all three fields, as WHMCS requires), extra lines added
    with ``newitem*[]`` and surplus lines removed with ``deletelineids[]``."""
    params: list[tuple[str, str]] = []
    for index, line in enumerate(lines):
        description, amount, taxed = line_to_item(line)
        if index < len(current):
            item = current[index]
            now = (str(item.get("description") or ""), str((_decimal(item.get("amount")) or Decimal(0)).quantize(_CENT, ROUND_HALF_UP)),
                   "1" if flag(item.get("taxed")) else "0")
            if now != (description, amount, taxed):
                line_id = str(item.get("id"))
                params += [(f"itemdescription[{line_id}]", description), (f"itemamount[{line_id}]", amount),
                           (f"itemtaxed[{line_id}]", taxed)]
        else:
            n = index - len(current)
            params += [(f"newitemdescription[{n}]", description), (f"newitemamount[{n}]", amount),
                       (f"newitemtaxed[{n}]", taxed)]
    params += [("deletelineids[]", str(item.get("id"))) for item in current[len(lines):]]
    return params


# --- domains ----------------------------------------------------------------------------------

DOMAIN_STATUS = {"pending": "pending", "pending registration": "pending", "pending transfer": "pending",
                 "active": "active", "grace": "expired", "redemption": "expired", "expired": "expired",
                 "cancelled": "cancelled", "transferred away": "transferred", "fraud": "suspended"}
DOMAIN_STATUS_OUT = {"pending": "Pending", "active": "Active", "suspended": "Fraud", "expired": "Expired",
                     "cancelled": "Cancelled", "transferred": "Transferred Away"}


def domain_record(row: Mapping[str, Any]) -> Record:
    """A ``GetClientsDomains`` row (already complete: no details call needed)."""
    return Record(
        "domain", ident(row.get("id")),
        {"name": text(row.get("domainname")), "status": _canonical(DOMAIN_STATUS, row.get("status")),
         "registered_on": day(row.get("regdate")), "expires_on": day(row.get("expirydate"))},
        {"client": ident(row.get("userid"))},
    )


def domain_spellings(name: str) -> list[str]:
    """A domain name as given and in its other IDN form (A-label <-> U-label), without duplicates."""
    name = name.strip().lower().rstrip(".")
    try:
        other = name.encode("ascii").decode("idna") if "xn--" in name else name.encode("idna").decode("ascii")
    except UnicodeError:
        other = name
    return [name] if other == name else [name, other]
