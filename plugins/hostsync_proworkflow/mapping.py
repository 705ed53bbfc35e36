"""ProWorkflow rows <-> canonical records, both ways. Pure functions.

Field names follow the calls' ``fields`` lists in the vendor doc (FACTS.md §4.5); what a selector
expands to (``dates`` -> start/due/complete, ``company`` -> ``companyid``/``companyname``,
``project`` -> ``projectid``/``projecttitle``...) is not printed in the doc and lives in the tables
and functions below only, so a correction is a one-line change.

Lossy points, applied by :func:`stored_fields` (the connector's ``stored()``):

* projects are ``active`` or ``complete``: planned and on_hold are kept active, cancelled complete;
* tasks are ``active`` or ``complete``: in_progress is kept open, cancelled done;
* task priorities are 1-5 (Very High to Very Low): urgent 1, high 2, medium 3, low 4; Very Low (5)
  reads as low, and a task without a priority is kept as medium (3, what ProWorkflow gives a new task);
* invoices are ``paid`` or ``unpaid``: a draft is kept unpaid (cancelled and refunded are refused);
* a client without a company name becomes a company named after the person;
* a time record starts at a whole minute of the account's clock.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

from hostsync.model import InvalidValue, Record, parse_datetime
from hostsync.values import ident, text

PROJECT_STATUS_IN = {"active": "active", "complete": "completed", "completed": "completed"}
PROJECT_STATUS_OUT = {"planned": "active", "active": "active", "on_hold": "active", "completed": "complete",
                      "cancelled": "complete"}
TASK_STATUS_IN = {"active": "open", "complete": "done", "completed": "done"}
TASK_STATUS_OUT = {"open": "active", "in_progress": "active", "done": "complete", "cancelled": "complete"}
#: ProWorkflow's 1-5 (Very High, High, Medium, Low, Very Low) <-> canonical priorities.
PRIORITY_IN = {1: "urgent", 2: "high", 3: "medium", 4: "low", 5: "low"}
PRIORITY_OUT = {"urgent": 1, "high": 2, "medium": 3, "low": 4}
#: What a task gets without a priority (and what hostsync writes for none: ProWorkflow has no "none").
PRIORITY_DEFAULT = 3
INVOICE_STATUS_IN = {"paid": "paid", "unpaid": "unpaid"}
INVOICE_STATUS_OUT = {"draft": "unpaid", "unpaid": "unpaid", "paid": "paid"}

#: Canonical client field -> company field (the address block and the company's own contact details).
COMPANY = {"company": "name", "email": "email", "phone": "phone", "address1": "address1", "address2": "address2",
           "city": "city", "state": "state", "postcode": "zipcode", "country": "country"}
ADDRESS = ("address1", "address2", "city", "state", "postcode", "country")

#: Country names ProWorkflow accounts commonly hold in the free-text country field (hostsync writes
#: the ISO code itself); a name not listed reads as no country.
COUNTRY_NAMES = {
    "australia": "AU", "austria": "AT", "belgium": "BE", "brazil": "BR", "canada": "CA", "china": "CN",
    "czech republic": "CZ", "czechia": "CZ", "denmark": "DK", "finland": "FI", "france": "FR",
    "germany": "DE", "deutschland": "DE", "greece": "GR", "hong kong": "HK", "india": "IN", "ireland": "IE",
    "israel": "IL", "italy": "IT", "japan": "JP", "luxembourg": "LU", "malaysia": "MY", "mexico": "MX",
    "netherlands": "NL", "the netherlands": "NL", "new zealand": "NZ", "norway": "NO", "philippines": "PH",
    "poland": "PL", "portugal": "PT", "singapore": "SG", "south africa": "ZA", "spain": "ES", "sweden": "SE",
    "switzerland": "CH", "united arab emirates": "AE", "united kingdom": "GB", "uk": "GB", "great britain": "GB",
    "england": "GB", "scotland": "GB", "wales": "GB", "united states": "US", "united states of america": "US",
    "usa": "US", "us": "US",
}

#: Invoice line types that bill time: ``time`` in minutes at ``rate`` per hour.
TIME_LINES = ("taskrate", "staffrate")


# --- small readers -----------------------------------------------------------------------------

def day(value: Any) -> str | None:
    """A date, whether ProWorkflow sends ``2024-05-01`` or ``2024-05-01T00:00:00``."""
    value = text(value)
    return None if value is None or value.startswith("0000") else value[:10]


def stamp(value: Any, tz: tzinfo = timezone.utc) -> datetime | None:
    """A ``lastmodified``-style stamp (ISO, no zone) as an aware UTC datetime; naive ones are in ``tz``.
    One that cannot be read is no stamp (the record still syncs; it just does not move the cursor)."""
    value = text(value)
    try:
        return None if value is None else parse_datetime(value.replace(" ", "T", 1), tz)
    except InvalidValue:
        return None


def minute(moment: datetime) -> str:
    """The ``lastmodified*from`` filter format: ISO 8601 at minute precision (floored)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M")


def status_in(table: Mapping[str, str], value: Any) -> str | None:
    """A canonical status; an unknown vendor status passes through lower-cased, so that normalising
    fails that record alone, naming the value."""
    name = text(value)
    return None if name is None else table.get(name.lower(), name.lower())


def priority_in(value: Any) -> str | None:
    """A canonical priority from ProWorkflow's 1-5; a number outside reads as the nearest end, and
    anything else passes through, so normalising fails that record alone, naming the value."""
    name = text(value)
    if name is None:
        return None
    if name.lstrip("-").isdigit():
        return PRIORITY_IN[min(5, max(1, int(name)))]
    return name.lower()


def priority_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The POST/PUT ``priority`` for a canonical one (none is the default, Medium)."""
    if "priority" not in fields:
        return {}
    return {"priority": PRIORITY_OUT.get(fields["priority"] or "", PRIORITY_DEFAULT)}


def country_code(value: Any) -> str | None:
    name = text(value)
    if name is None:
        return None
    if len(name) == 2 and name.isalpha() and name.isascii():
        return name.upper()
    return COUNTRY_NAMES.get(" ".join(name.casefold().split()))


def decimal(value: Any) -> Decimal | None:
    try:
        number = None if value in (None, "") else Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number is not None and number.is_finite() else None


def items(value: Any) -> list[Mapping[str, Any]]:
    """The objects of a list field (``contacts``, ``apifields``); anything else holds none."""
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


ORIGIN_FIELD = "hostsync origin"


def origin_of(row: Mapping[str, Any], field_id: str | None = None) -> str | None:
    """The ``hostsync origin`` API field's value in a row's ``apifields`` list, found by its name
    (or by ``field_id`` where the items carry no names)."""
    for item in items(row.get("apifields")):
        named = item.get("name")
        if (named is not None and str(named).strip().casefold() == ORIGIN_FIELD) or \
                (named is None and field_id is not None and str(item.get("id")) == field_id):
            return text(item.get("value"))
    return None


# --- clients (companies of type client) ------------------------------------------------------

def primary_contact(contacts: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The company's first contact (lowest id): ProWorkflow marks none as primary."""
    rows = [c for c in contacts if isinstance(c, Mapping) and ident(c.get("id"))]
    return min(rows, key=lambda c: int(str(c["id"])) if str(c["id"]).isdigit() else 0, default=None)


def contact_names(contact: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    if not contact:
        return None, None
    first, last = text(contact.get("firstname")), text(contact.get("lastname"))
    if first is None and last is None and text(contact.get("name")):
        first, _, rest = str(contact["name"]).strip().partition(" ")
        return text(first), text(rest)
    return first, last


def contact_phone(contact: Mapping[str, Any] | None) -> str | None:
    if not contact:
        return None
    return next((text(contact.get(k)) for k in ("phone", "workphone", "mobilephone") if text(contact.get(k))), None)


def client_record(row: Mapping[str, Any], origin_field: str | None = None,
                  fallback: Mapping[str, Any] | None = None) -> Record:
    """A client company as a canonical client: its own name, address, e-mail and phone; the primary
    contact's where the company has none (``fallback``: that contact with its address, when read)."""
    contact = fallback or primary_contact(items(row.get("contacts")))
    first, last = contact_names(contact)
    fields: dict[str, Any] = {canonical: text(row.get(vendor)) for canonical, vendor in COMPANY.items()}
    fields["email"] = fields["email"] or (text(contact.get("email")) if contact else None)
    fields["phone"] = fields["phone"] or contact_phone(contact)
    if not any(fields[name] for name in ADDRESS) and contact:
        for name in ADDRESS:
            fields[name] = text(contact.get(COMPANY[name]))
    fields["country"] = country_code(fields["country"])
    fields.update(first_name=first, last_name=last)
    return Record("client", ident(row.get("id")), fields, {}, updated_at=stamp(row.get("lastmodifiedutc")),
                  origin=origin_of(row, origin_field))


def has_address(row: Mapping[str, Any]) -> bool:
    return any(text(row.get(COMPANY[name])) for name in ADDRESS)


def company_name(fields: Mapping[str, Any]) -> str | None:
    """The company's name: the client's company, else the person (ProWorkflow companies need a name)."""
    if fields.get("company"):
        return str(fields["company"])
    person = " ".join(str(fields[k]) for k in ("first_name", "last_name") if fields.get(k))
    return person or (str(fields["email"]) if fields.get("email") else None)


def company_body(fields: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """Company fields for the canonical ``names`` (a ``None`` value clears the field)."""
    body: dict[str, Any] = {}
    for canonical in names:
        if canonical == "company":
            name = company_name(fields)
            if name:
                body["name"] = name
        elif canonical in COMPANY:
            body[COMPANY[canonical]] = fields.get(canonical) or ""
    return body


# --- projects ------------------------------------------------------------------------------

def project_record(row: Mapping[str, Any], origin_field: str | None = None) -> Record:
    return Record(
        "project", ident(row.get("id")),
        {"name": text(row.get("title")), "status": status_in(PROJECT_STATUS_IN, row.get("status")),
         "start_on": day(row.get("startdate")), "due_on": day(row.get("duedate")),
         "description": text(row.get("description"))},
        {"client": ident(row.get("companyid"))},
        updated_at=stamp(row.get("lastmodifiedutc")), origin=origin_of(row, origin_field))


#: Canonical field -> the POST/PUT field (status goes through the complete/reactivate calls).
PROJECT_OUT = {"name": "title", "description": "description", "start_on": "startdate", "due_on": "duedate"}
TASK_OUT = {"name": "name", "description": "description", "due_on": "duedate"}


def body_of(record: Record, names: Mapping[str, str], refs: Mapping[str, str]) -> dict[str, Any]:
    """POST/PUT fields for the fields and references ``record`` has (a ``None`` clears a field;
    a missing reference is sent as 0)."""
    body: dict[str, Any] = {vendor: record.fields[canonical] or "" for canonical, vendor in names.items()
                            if canonical in record.fields}
    body.update({vendor: int(record.refs[canonical] or 0) for canonical, vendor in refs.items()
                 if canonical in record.refs})
    return body


# --- tasks ---------------------------------------------------------------------------------

def task_record(row: Mapping[str, Any], origin_field: str | None = None) -> Record:
    return Record(
        "task", ident(row.get("id")),
        {"name": text(row.get("name")), "status": status_in(TASK_STATUS_IN, row.get("status")),
         "description": text(row.get("description")), "due_on": day(row.get("duedate")),
         "priority": priority_in(row.get("priority"))},
        {"project": ident(row.get("projectid"))},
        updated_at=stamp(row.get("lastmodifiedutc")), origin=origin_of(row, origin_field))


# --- time records ----------------------------------------------------------------------------

def local_start(row: Mapping[str, Any], tz: tzinfo) -> datetime | None:
    """The record's date and start time on the account's clock, as UTC (midnight without a start)."""
    when = day(row.get("date"))
    if when is None:
        return None
    start = text(row.get("starttime")) or "00:00"
    try:
        clock = time.fromisoformat(start[:8] if len(start) > 5 else start)
        moment = datetime.combine(date.fromisoformat(when), clock)
    except ValueError:
        return None
    return moment.replace(tzinfo=tz).astimezone(timezone.utc)


def time_record(row: Mapping[str, Any], tz: tzinfo, members: Mapping[str, str],
                origin_field: str | None = None) -> Record:
    contact = ident(row.get("contactid"))
    return Record(
        "time_entry", ident(row.get("id")),
        {"member": members.get(contact or "", contact), "started_at": local_start(row, tz),
         "minutes": row.get("timetracked"), "note": text(row.get("notes")), "billable": row.get("billable")},
        {"project": ident(row.get("projectid")), "task": ident(row.get("taskid"))},
        updated_at=stamp(row.get("lastmodifiedutc")), origin=origin_of(row, origin_field))


def time_body(record: Record, tz: tzinfo) -> dict[str, Any]:
    """POST/PUT /time fields (the member's contact id is the connector's to add)."""
    fields, body = record.fields, {}
    if fields.get("started_at"):
        moment = parse_datetime(fields["started_at"])
        local = moment.astimezone(tz)  # type: ignore[union-attr]
        body["date"] = local.date().isoformat()
        body["starttime"] = local.strftime("%H:%M")
    if "minutes" in fields:
        body["timetracked"] = int(fields["minutes"] or 0)
    if "note" in fields:
        body["notes"] = fields["note"] or ""
    if "billable" in fields and fields["billable"] is not None:
        body["billable"] = bool(fields["billable"])
    if record.refs.get("task"):
        body["taskid"] = int(record.refs["task"])  # type: ignore[arg-type]
    return body


def local_minute(value: Any, tz: tzinfo) -> str | None:
    """A canonical start as ProWorkflow keeps it: a whole minute of the account's clock."""
    moment = parse_datetime(value)
    if moment is None:
        return None
    local = moment.astimezone(tz).replace(second=0, microsecond=0, tzinfo=None)
    return local.replace(tzinfo=tz).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- invoices ------------------------------------------------------------------------------

def invoice_stub(row: Mapping[str, Any]) -> Record:
    """A list row: no lines (the list call never returns them), so the engine fetches the invoice
    when the row's version changes."""
    version = "|".join(str(row.get(k) or "") for k in ("lastmodifiedutc", "status", "grandtotal", "number"))
    return Record("invoice", ident(row.get("id")), {}, {}, updated_at=stamp(row.get("lastmodifiedutc")),
                  version=version, partial=True)


def line_record(line: Mapping[str, Any]) -> dict[str, Any] | None:
    """A line as canonical; headings (no amount) are not lines to hostsync."""
    kind = str(line.get("type") or "lineitem").lower()
    if kind == "heading":
        return None
    if kind in TIME_LINES:
        hours = (decimal(line.get("time")) or Decimal(0)) / 60
        try:
            quantity: Decimal | None = hours.quantize(Decimal("0.0001"), ROUND_HALF_UP).normalize()
        except InvalidOperation:  # too many digits to round: left as it is
            quantity = hours
    else:
        quantity = decimal(line.get("quantity"))
    description = text(line.get("description")) if kind == "lineitem" and not text(line.get("name")) else \
        text(line.get("name"))
    return {"description": description, "quantity": quantity, "unit_price": decimal(line.get("rate")),
            "taxed": line.get("taxable")}


def invoice_record(row: Mapping[str, Any], origin_field: str | None = None) -> Record:
    raw = row.get("lines") or []
    # lines not in the documented shape pass through as they are, so that this invoice fails to read alone
    lines = [line for line in (line_record(x) if isinstance(x, Mapping) else x for x in raw) if line is not None] \
        if isinstance(raw, list) else raw
    return Record(
        "invoice", ident(row.get("id")),
        {"number": text(row.get("number")), "issued_on": day(row.get("invoiceddate")),
         "due_on": day(row.get("duedate")), "paid_on": day(row.get("paiddate")),
         "status": status_in(INVOICE_STATUS_IN, row.get("status")), "lines": lines,
         "total": row.get("grandtotal")},
        {"client": ident(row.get("companyid"))},
        updated_at=stamp(row.get("lastmodifiedutc")), origin=origin_of(row, origin_field))


def line_body(line: Mapping[str, Any]) -> dict[str, Any]:
    """A canonical line as a ProWorkflow ``lineitem``."""
    return {"type": "lineitem", "name": line.get("description") or "", "quantity": str(line.get("quantity") or 0),
            "rate": str(line.get("unit_price") or 0), "taxable": bool(line.get("taxed"))}


def merged_lines(current: list[Mapping[str, Any]], wanted: list[Mapping[str, Any]],
                 same: Any) -> list[dict[str, Any]]:
    """The complete line list for a PUT (which replaces every line): the canonical lines in order,
    each line that already holds the same values kept as it is (type, time, rate), and the headings
    kept where they stand among the others.

    :param same: ``same(vendor_line, canonical_line) -> bool``.
    """
    out: list[dict[str, Any]] = []
    wanted = list(wanted)
    for line in current:
        if str(line.get("type") or "").lower() == "heading":
            out.append(_vendor_line(line))
            continue
        if not wanted:
            continue
        target = wanted.pop(0)
        out.append(_vendor_line(line) if same(line, target) else line_body(target))
    out.extend(line_body(line) for line in wanted)
    return out


def _vendor_line(line: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("type", "name", "description", "quantity", "rate", "time", "taxable")
    return {k: line[k] for k in keep if line.get(k) is not None}


def invoice_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for canonical, vendor in (("number", "number"), ("issued_on", "invoiceddate"), ("due_on", "duedate"),
                              ("paid_on", "paiddate")):
        if canonical in fields and fields[canonical]:
            body[vendor] = fields[canonical]
    return body


# --- what ProWorkflow keeps --------------------------------------------------------------------

def stored_fields(kind: str, fields: Mapping[str, Any], tz: tzinfo) -> dict[str, Any]:
    """Canonical fields as ProWorkflow reads them back after hostsync wrote them."""
    out = dict(fields)
    status = out.get("status")
    if kind == "project" and status in PROJECT_STATUS_OUT:
        out["status"] = PROJECT_STATUS_IN[PROJECT_STATUS_OUT[status]]
    elif kind == "task" and status in TASK_STATUS_OUT:
        out["status"] = TASK_STATUS_IN[TASK_STATUS_OUT[status]]
    elif kind == "invoice" and status in INVOICE_STATUS_OUT:
        out["status"] = INVOICE_STATUS_OUT[status]
    elif kind == "client" and "company" in out and not out.get("company"):
        out["company"] = company_name(out)
    elif kind == "time_entry" and out.get("started_at"):
        out["started_at"] = local_minute(out["started_at"], tz)
    if kind == "task" and "priority" in out and out["priority"] is None:
        out["priority"] = PRIORITY_IN[PRIORITY_DEFAULT]
    return out


def today(tz: tzinfo) -> str:
    return datetime.now(tz).date().isoformat()


def days(value: str, delta: int) -> str:
    return (date.fromisoformat(value) + timedelta(days=delta)).isoformat()
