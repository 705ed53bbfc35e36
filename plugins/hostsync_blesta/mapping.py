"""Blesta records <-> canonical records, both ways. Pure functions: no I/O, every quirk handled here.

Where Blesta and the canonical vocabulary do not line up one-to-one the mapping is lossy; the
``*_stored`` functions at the end say what Blesta keeps of a written value (``Connector.stored``), so
the engine never takes a lossily kept value for a change made in Blesta:

* client status: Blesta ``fraud`` reads as ``closed``; ``closed`` is written as ``inactive``.
* invoice status: Blesta has no ``refunded``: it is written as ``void`` and reads back ``cancelled``.
  ``proforma`` reads as ``unpaid``. "Paid" is not a Blesta status but an ``active`` invoice with
  ``date_closed`` set (paid in full); the connector records a payment to get there. Blesta closes
  an invoice with nothing due by itself, so an ``unpaid`` invoice with a zero total reads ``paid``.
* ticket status: ``awaiting_reply`` <-> ``answered``; ``customer_reply`` is written as ``open``
  (what Blesta sets when a client replies); ``trash`` is a deleted ticket.
* ticket priority: ``emergency`` and ``critical`` both read as ``urgent``; ``urgent`` is written as
  ``critical``.
* domain status: ``in_review`` reads as ``pending``, ``scheduled_cancellation`` as ``active``;
  ``expired`` and ``transferred`` are written as ``canceled``.
* client state: kept as the subdivision's code and read back as Blesta's name for it; a state Blesta
  has no subdivision for is omitted (``unknown_state = "omit"``).
* ticket department: read back as Blesta names the department it went to (an unmapped one goes to
  ``ticket_department_id``); messages without a body are not posted.

A vendor status this module does not know passes through unchanged, so that normalising fails and
names the field instead of guessing.

Dates: Blesta stores timestamps in UTC and treats a calendar date as midnight in the company's
time zone, so dates go out as local midnight *with* the offset and come back converted to that
zone before the date is taken; otherwise every date east or west of UTC would shift by a day.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from hostsync.model import Field, Record, normalise_value, parse_datetime

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_BODY = Field("body", "text")

# --- vocabularies ----------------------------------------------------------------------------

CLIENT_STATUS_IN = {"active": "active", "inactive": "inactive", "fraud": "closed"}
CLIENT_STATUS_OUT = {"active": "active", "inactive": "inactive", "closed": "inactive"}

INVOICE_STATUS_OUT = {"draft": "draft", "unpaid": "active", "paid": "active", "cancelled": "void",
                      "refunded": "void"}

TICKET_STATUS_IN = {"open": "open", "awaiting_reply": "answered", "in_progress": "in_progress",
                    "on_hold": "on_hold", "closed": "closed"}
TICKET_STATUS_OUT = {"open": "open", "answered": "awaiting_reply", "customer_reply": "open",
                     "in_progress": "in_progress", "on_hold": "on_hold", "closed": "closed"}
TICKET_PRIORITY_IN = {"emergency": "urgent", "critical": "urgent", "high": "high", "medium": "medium",
                      "low": "low"}
TICKET_PRIORITY_OUT = {"urgent": "critical", "high": "high", "medium": "medium", "low": "low"}

DOMAIN_STATUS_IN = {"active": "active", "pending": "pending", "in_review": "pending", "suspended": "suspended",
                    "canceled": "cancelled", "scheduled_cancellation": "active"}
DOMAIN_STATUS_OUT = {"active": "active", "pending": "pending", "suspended": "suspended", "cancelled": "canceled",
                     "expired": "canceled", "transferred": "canceled"}


def _blank(value: Any) -> Any:
    """Blesta's empty values (``""``, ``null``, ``false``, zero dates) as ``None``."""
    if value is None or value is False:
        return None
    if isinstance(value, str) and (not value.strip() or value.startswith("0000-00-00")):
        return None
    return value


def _id(value: Any) -> str | None:
    value = _blank(value)
    return None if value is None or str(value) == "0" else str(value)


# --- dates -----------------------------------------------------------------------------------

def zone(name: str | None) -> ZoneInfo:
    return ZoneInfo(name or "UTC")


def read_date(value: Any, tz: ZoneInfo) -> str | None:
    """A Blesta UTC timestamp as the calendar date in the company's zone."""
    moment = parse_datetime(_blank(value))
    return None if moment is None else moment.astimezone(tz).date().isoformat()


def read_datetime(value: Any) -> str | None:
    moment = parse_datetime(_blank(value))
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_date(value: Any, tz: ZoneInfo) -> str | None:
    """A calendar date as local midnight with its UTC offset: ``2024-03-01 00:00:00 +01:00``."""
    if value in (None, ""):
        return None
    day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    local = datetime.combine(day, time(0, 0), tzinfo=tz)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:]}"


def write_timestamp(moment: datetime) -> str:
    """An aware datetime as ``YYYY-MM-DD hh:mm:ss UTC``."""
    return f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"


# --- clients ---------------------------------------------------------------------------------

CLIENT_CONTACT_FIELDS = {  # canonical -> Blesta contact field
    "first_name": "first_name", "last_name": "last_name", "company": "company", "email": "email",
    "address1": "address1", "address2": "address2", "city": "city", "state": "state",
    "postcode": "zip", "country": "country",
}


def primary_phone(numbers: Any) -> dict[str, Any] | None:
    """The number that is the client's phone: the first of type ``phone`` (Blesta orders work, home,
    mobile); fax numbers are not phones."""
    for number in numbers or []:
        if isinstance(number, dict) and (number.get("type") or "phone") == "phone" and _blank(number.get("number")):
            return number
    return None


def client_record(row: Mapping[str, Any], numbers: Any = None, state_names: Mapping[str, str] | None = None) -> Record:
    """A client from a ``clients/getList`` row or ``clients/get`` (primary contact fields inline).

    :param numbers: ``contacts/getNumbers`` of the primary contact (phone numbers are not in rows).
    :param state_names: subdivision code -> name for the client's country, so that ``NY`` reads as
        ``New York`` (Blesta stores ISO 3166-2 codes; billing systems mostly hold names).
    """
    fields = {canon: _blank(row.get(vendor)) for canon, vendor in CLIENT_CONTACT_FIELDS.items()}
    state = fields["state"]
    if state and state_names:
        fields["state"] = state_names.get(str(state).upper(), state)
    phone = primary_phone(numbers)
    fields["phone"] = _blank(phone.get("number")) if phone else None
    status = _blank(row.get("status"))
    fields["status"] = CLIENT_STATUS_IN.get(str(status), status) if status else None
    return Record("client", str(row["id"]), fields)


def state_code(value: Any, codes_by_name: Mapping[str, str]) -> str | None:
    """A canonical state (a name or a code) as Blesta's subdivision code, if it can be told."""
    text = _blank(value)
    if text is None:
        return None
    text = " ".join(str(text).split())
    by_name = {name.casefold(): code for name, code in codes_by_name.items()}
    if text.casefold() in by_name:
        return by_name[text.casefold()]
    codes = {code.upper() for code in codes_by_name.values()}
    if text.upper() in codes or (len(text) <= 3 and not codes):
        return text.upper()
    return None


def contact_vars(fields: Mapping[str, Any], state: str | None) -> dict[str, Any]:
    """Contact ``vars`` for the canonical client fields given (only those present in ``fields``)."""
    out: dict[str, Any] = {}
    for canon, vendor in CLIENT_CONTACT_FIELDS.items():
        if canon in fields:
            out[vendor] = state if canon == "state" else _text_out(fields[canon])
    return out


def _text_out(value: Any) -> str:
    return "" if value is None else str(value)


# --- invoices --------------------------------------------------------------------------------

def invoice_status(invoice: Mapping[str, Any]) -> str | None:
    status = _blank(invoice.get("status"))
    if status == "draft":
        return "draft"
    if status == "void":
        return "cancelled"
    if status in ("active", "proforma"):
        return "paid" if _blank(invoice.get("date_closed")) else "unpaid"
    return status  # unknown: normalise names it


def invoice_lines(items: Any) -> list[dict[str, Any]]:
    rows = [item for item in (items or []) if isinstance(item, dict)]
    rows.sort(key=lambda item: (int(item.get("order") or 0), int(item.get("id") or 0)))
    return [{"description": _blank(item.get("description")), "quantity": item.get("qty"),
             "unit_price": item.get("amount"), "taxed": bool(item.get("taxes"))} for item in rows]


def invoice_record(invoice: Mapping[str, Any], tz: ZoneInfo) -> Record:
    """A whole invoice from ``invoices/get`` (lines under ``line_items``)."""
    fields = {
        "number": _blank(invoice.get("id_code")),
        "issued_on": read_date(invoice.get("date_billed"), tz),
        "due_on": read_date(invoice.get("date_due"), tz),
        "paid_on": read_date(invoice.get("date_closed"), tz),
        "status": invoice_status(invoice),
        "currency": _blank(invoice.get("currency")),
        "lines": invoice_lines(invoice.get("line_items")),
        "total": invoice.get("total"),
    }
    return Record("invoice", str(invoice["id"]), fields, {"client": _id(invoice.get("client_id"))})


def _same_money(a: Any, b: Any) -> bool:
    try:
        return Decimal(str(a or 0)).quantize(Decimal("0.01")) == Decimal(str(b or 0)).quantize(Decimal("0.01"))
    except ArithmeticError:
        return False


def _same_qty(a: Any, b: Any) -> bool:
    try:
        return Decimal(str(a if a not in (None, "") else 1)) == Decimal(str(b if b not in (None, "") else 1))
    except ArithmeticError:
        return False


def line_vars(line: Mapping[str, Any], default_tax: bool = False) -> dict[str, Any]:
    """One canonical line as Blesta line ``vars`` (quantity defaults to 1; Blesta's minimum)."""
    quantity = line.get("quantity")
    taxed = line.get("taxed")
    return {
        "description": _text_out(line.get("description")),
        "qty": "1" if quantity in (None, "") else str(quantity),
        "amount": "0" if line.get("unit_price") in (None, "") else str(line.get("unit_price")),
        "tax": default_tax if taxed is None else bool(taxed),
    }


def line_changes(current: Iterable[Mapping[str, Any]], wanted: Iterable[Mapping[str, Any]],
                 *, compare_tax: bool = False) -> list[dict[str, Any]] | None:
    """``vars[lines]`` for ``invoices/edit`` that turn the current line items into ``wanted``.

    Lines are matched by position: changed ones are updated in place (by ``id``), extra wanted
    lines added (no ``id``), surplus current lines deleted (``id`` with an empty description and
    amount: Blesta's way to remove a line). ``None`` when nothing differs.
    """
    rows = sorted((dict(item) for item in current), key=lambda item: (int(item.get("order") or 0),
                                                                      int(item.get("id") or 0)))
    wanted = list(wanted)
    changes: list[dict[str, Any]] = []
    differ = False
    for index in range(max(len(rows), len(wanted))):
        row = rows[index] if index < len(rows) else None
        want = wanted[index] if index < len(wanted) else None
        if want is None:
            changes.append({"id": str(row["id"]), "description": "", "amount": ""})
            differ = True
            continue
        out = line_vars(want, default_tax=bool(row.get("taxes")) if row else False)
        if row is None:
            changes.append(out)
            differ = True
            continue
        same = (_text_out(row.get("description")).strip() == out["description"].strip()
                and _same_qty(row.get("qty"), out["qty"]) and _same_money(row.get("amount"), out["amount"])
                and (not compare_tax or bool(row.get("taxes")) == out["tax"]))
        differ = differ or not same
        changes.append({"id": str(row["id"]), **out})
    return changes if differ else None


# --- domains (services) ----------------------------------------------------------------------

def service_field(service: Mapping[str, Any], key: str) -> Any:
    for field in service.get("fields") or []:
        if isinstance(field, dict) and field.get("key") == key:
            return _blank(field.get("value"))
    return None


def domain_unicode(name: str) -> str:
    """The Unicode form of an IDNA name (``xn--bcher-kva.de`` -> ``bücher.de``), or the name itself."""
    try:
        return name.encode("ascii").decode("idna")
    except UnicodeError:
        return name


def domain_record(service: Mapping[str, Any], tz: ZoneInfo, domain_field: str = "domain") -> Record | None:
    """A domain from a service, or ``None`` when the service has no domain-name field (not a domain)."""
    name = service_field(service, domain_field)
    if not name:
        return None
    status = _blank(service.get("status"))
    fields = {
        "name": name,
        "status": DOMAIN_STATUS_IN.get(str(status), status) if status else None,
        "registered_on": read_date(service.get("date_added"), tz),
        "expires_on": read_date(service.get("date_renews"), tz),
    }
    return Record("domain", str(service["id"]), fields, {"client": _id(service.get("client_id"))})


# --- tickets ---------------------------------------------------------------------------------

def ticket_messages(replies: Any) -> list[dict[str, Any]]:
    """The conversation: replies of type ``reply`` oldest first (notes and logs are not messages)."""
    rows = [r for r in (replies or []) if isinstance(r, dict) and (r.get("type") or "reply") == "reply"]
    rows.sort(key=lambda r: (str(r.get("date_added") or ""), int(r.get("id") or 0)))
    out = []
    for reply in rows:
        name = " ".join(str(part) for part in (reply.get("first_name"), reply.get("last_name")) if _blank(part))
        out.append({"author": _blank(reply.get("email")) or name or None,
                    "body": _blank(reply.get("details")), "created_at": read_datetime(reply.get("date_added"))})
    return out


def ticket_record(ticket: Mapping[str, Any]) -> Record | None:
    """A ticket with its replies, or ``None`` for a ticket in the trash (deleted)."""
    status = _blank(ticket.get("status"))
    if status == "trash":
        return None
    priority = _blank(ticket.get("priority"))
    fields = {
        "subject": _blank(ticket.get("summary")),
        "status": TICKET_STATUS_IN.get(str(status), status) if status else None,
        "priority": TICKET_PRIORITY_IN.get(str(priority), priority) if priority else None,
        "department": _blank(ticket.get("department_name")),
        "messages": ticket_messages(ticket.get("replies")),
        "created_at": read_datetime(ticket.get("date_added")),
    }
    return Record("ticket", str(ticket["id"]), fields, {"client": _id(ticket.get("client_id"))})


def is_email(value: Any) -> bool:
    return bool(value) and _EMAIL.fullmatch(str(value).strip()) is not None


def _body(message: Mapping[str, Any]) -> str | None:
    return normalise_value(_BODY, message.get("body"))


def missing_messages(current: Iterable[Mapping[str, Any]], wanted: Iterable[Mapping[str, Any]]) -> list[dict]:
    """The wanted messages the ticket does not have yet (by body, each present one used once), in order.

    Replies cannot be edited or removed through the API, so extra replies in Blesta stay."""
    present: dict[str | None, int] = {}
    for message in current:
        body = _body(message)
        present[body] = present.get(body, 0) + 1
    out = []
    for message in wanted:
        body = _body(message)
        if present.get(body):
            present[body] -= 1
        elif body:
            out.append(dict(message))
    return out


# --- what Blesta keeps (Connector.stored) -----------------------------------------------------
#
# Each function takes canonical fields as hostsync is about to write them (only the fields given)
# and returns them as Blesta reads them back, so that a lossily kept value never looks like a change
# made in Blesta. They follow the writes in the connector exactly; a value they cannot predict
# without asking Blesta is left as it is.

def _same(spec: Field, value: Any) -> Any:
    try:
        return normalise_value(spec, value)
    except ValueError:
        return value


def client_stored(fields: Mapping[str, Any], state_codes: Mapping[str, str] | None,
                  unknown_state: str = "omit") -> dict[str, Any]:
    """:param state_codes: subdivision name -> code of the client's country as Blesta lists them,
        ``None`` when they have not been read yet (then the state is left as it is)."""
    out = dict(fields)
    if "status" in out:  # closed is kept as inactive; no status is active
        out["status"] = CLIENT_STATUS_IN[CLIENT_STATUS_OUT.get(out["status"] or "active", "active")]
    if out.get("state") is not None and state_codes is not None:
        code = state_code(out["state"], state_codes)
        if code is None:  # not a subdivision Blesta knows: omitted, or the client is refused
            out["state"] = None if unknown_state == "omit" else out["state"]
        else:  # kept as the code, read back as Blesta's name for it
            names = {str(c).upper(): name for name, c in state_codes.items()}
            out["state"] = _same(Field("state", "str"), names.get(code.upper(), code))
    return out


def _lines_total(lines: Iterable[Mapping[str, Any]]) -> Decimal | None:
    try:
        return sum((Decimal(str(line.get("quantity") or 1)) * Decimal(str(line.get("unit_price") or 0))
                    for line in lines), Decimal(0)).quantize(Decimal("0.01"))
    except ArithmeticError:
        return None


def invoice_stored(fields: Mapping[str, Any], currency: str) -> dict[str, Any]:
    """:param currency: the ``currency`` setting, which an invoice naming none is created in."""
    out = dict(fields)
    if "lines" in out:  # a line without a quantity is one; without a price, zero
        out["lines"] = [{**line,
                         **({"quantity": "1"} if "quantity" in line and line["quantity"] in (None, "") else {}),
                         **({"unit_price": "0.00"} if "unit_price" in line and line["unit_price"] in (None, "")
                            else {})} for line in out["lines"] or []]
    if "status" in out:
        status = out["status"] or "unpaid"
        if status == "refunded":  # void, read as cancelled
            status = "cancelled"
        if status == "unpaid" and "lines" in out:  # Blesta closes an invoice with nothing due
            total = _lines_total(out["lines"])
            status = "paid" if total is not None and total <= 0 else status
        out["status"] = status
    if "currency" in out and out["currency"] is None:
        out["currency"] = _same(Field("currency", "currency"), currency)
    return out


def domain_stored(fields: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    if "status" in out:  # expired and transferred are kept as canceled; no status is active
        out["status"] = DOMAIN_STATUS_IN[DOMAIN_STATUS_OUT.get(out["status"] or "active", "active")]
    return out


def ticket_messages_stored(messages: Any, subject: Any) -> list[dict[str, Any]]:
    """Messages without a body are not posted; a ticket needs one, so the subject opens an empty one."""
    kept = [dict(message) for message in messages or [] if isinstance(message, Mapping) and _body(message)]
    return kept or [{"body": _same(_BODY, subject) or "-"}]


def ticket_stored(fields: Mapping[str, Any], department: Any = None) -> dict[str, Any]:
    """:param department: the callable giving the department name Blesta shows for a given one."""
    out = dict(fields)
    if "status" in out:  # customer_reply is kept as open; no status is open
        out["status"] = TICKET_STATUS_IN[TICKET_STATUS_OUT.get(out["status"] or "open", "open")]
    if "priority" in out:  # urgent is kept as critical (read back as urgent); no priority is low
        out["priority"] = TICKET_PRIORITY_IN[TICKET_PRIORITY_OUT.get(out["priority"] or "low", "low")]
    if "messages" in out:
        out["messages"] = ticket_messages_stored(out["messages"], out.get("subject"))
    if "department" in out and department is not None:
        out["department"] = department(out["department"])
    return out
