"""The canonical model: the vendor-neutral records every connector reads and writes.

A connector maps its vendor's shapes to a :class:`Record` of one of the :data:`KINDS` and back. The
engine only ever sees canonical records, normalised by :func:`normalise` so that the same fact looks
(and hashes) the same whichever vendor it came from: dates as ISO dates, datetimes as UTC
``YYYY-MM-DDTHH:MM:SSZ``, money as two-decimal strings, e-mail lower-cased, country codes ISO 3166-1
alpha-2, domain names lower-case IDNA, empty values as ``None``, statuses from a fixed vocabulary.

References to other records (an invoice's client) live in :attr:`Record.refs` as ids *in the same
system* as the record; the engine translates them through its links.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping


class InvalidValue(ValueError):
    """A value cannot be normalised to its canonical field type. Names the field."""


@dataclass(slots=True)
class Record:
    """One record of one canonical kind as seen in one system.

    :param kind: a key of :data:`KINDS`, e.g. ``"invoice"``.
    :param id: the vendor's id for it (``None`` before it is created).
    :param fields: canonical field values (not the references).
    :param refs: references by field name to ids in the same system, e.g. ``{"client": "17"}``.
    :param updated_at: when the vendor last changed it, if the vendor says (aware datetime).
    :param version: a cheap change token (a modification time, a hash of a list row). With
        ``partial=True`` the record is only a stub from a summary list: the engine compares the
        token with the one it stored and fetches the whole record with ``get`` only when it differs.
    :param origin: the *origin marker*: the identity of the source record hostsync stored in this
        record when it created it (only for kinds whose :class:`~hostsync.connector.Operations`
        declare ``origin``). On ``create`` the engine sets it and the connector writes it where the
        vendor keeps it; on reads the connector fills it in from there (``None``: no marker).
    """

    kind: str
    id: str | None
    fields: dict[str, Any]
    refs: dict[str, str | None] = field(default_factory=dict)
    updated_at: datetime | None = None
    version: str | None = None
    partial: bool = False
    origin: str | None = None

    def value(self, name: str) -> Any:
        """A field or reference by name."""
        if name in self.fields:
            return self.fields[name]
        return self.refs.get(name)


@dataclass(frozen=True)
class Field:
    """One canonical field: its name, value type and, for references, the kind it points at."""

    name: str
    type: str
    doc: str = ""
    ref: str | None = None
    choices: tuple[str, ...] = ()
    items: tuple["Field", ...] = ()


@dataclass(frozen=True)
class Kind:
    """A canonical kind: its fields and the fields that identify one of its records.

    ``natural_key`` is what jobs match on by default to adopt records already present in a target.
    ``identity`` is what the engine looks a record up by after a create whose outcome is unknown
    (a crash or a lost reply), so that it is adopted rather than created twice.
    """

    name: str
    doc: str
    fields: tuple[Field, ...]
    natural_key: tuple[str, ...]
    identity: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {f.name: f for f in self.fields})
        object.__setattr__(self, "names", tuple(f.name for f in self.fields))
        object.__setattr__(self, "refs", {f.name: f.ref for f in self.fields if f.ref})

    def field(self, name: str) -> Field:
        return self._by_name[name]  # type: ignore[attr-defined]

    #: the field names in order (set in __post_init__)
    names: tuple[str, ...] = ()
    #: reference field name -> referenced kind (set in __post_init__)
    refs: dict[str, str] = None  # type: ignore[assignment]


CLIENT_STATUSES = ("active", "inactive", "closed")
SITE_STATUSES = ("active", "inactive")
DOMAIN_STATUSES = ("pending", "active", "suspended", "expired", "cancelled", "transferred")
INVOICE_STATUSES = ("draft", "unpaid", "paid", "cancelled", "refunded")
TICKET_STATUSES = ("open", "answered", "customer_reply", "in_progress", "on_hold", "closed")
#: How urgent a ticket or a task is: one vocabulary for both.
PRIORITIES = ("low", "medium", "high", "urgent")
TICKET_PRIORITIES = TASK_PRIORITIES = PRIORITIES
PROJECT_STATUSES = ("planned", "active", "on_hold", "completed", "cancelled")
TASK_STATUSES = ("open", "in_progress", "done", "cancelled")


def _kind(name: str, doc: str, natural_key: tuple[str, ...], identity: tuple[str, ...], *fields: Field) -> Kind:
    return Kind(name, doc, tuple(fields), natural_key, identity)


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        _kind(
            "client", "A customer account.", ("email",), ("email",),
            Field("email", "email", "Login and contact address; the natural key."),
            Field("first_name", "str"), Field("last_name", "str"), Field("company", "str"),
            Field("phone", "str", "As the customer gave it; not reformatted."),
            Field("address1", "str"), Field("address2", "str"), Field("city", "str"),
            Field("state", "str"), Field("postcode", "str"),
            Field("country", "country", "ISO 3166-1 alpha-2, upper case."),
            Field("status", "choice", choices=CLIENT_STATUSES),
        ),
        _kind(
            "domain", "A registered domain name owned by a client.", ("name",), ("name",),
            Field("name", "domain", "Lower-case IDNA (A-label) name without a trailing dot; the natural key."),
            Field("client", "ref", "The owning client.", ref="client"),
            Field("status", "choice", choices=DOMAIN_STATUSES),
            Field("registered_on", "date"), Field("expires_on", "date"),
        ),
        _kind(
            "site", "A hosted web site (a web domain on a control panel).", ("domain",), ("domain",),
            Field("domain", "domain", "The site's domain name, lower-case IDNA; the natural key."),
            Field("client", "ref", "The owning client.", ref="client"),
            Field("status", "choice", choices=SITE_STATUSES),
            Field("php", "str", "PHP mode, e.g. php-fpm, or None for no PHP."),
            Field("ssl", "bool", "Whether the site is served over TLS."),
            Field("quota_mb", "int", "Disk quota in MiB; -1 for unlimited."),
        ),
        _kind(
            "invoice", "A bill sent to a client.", ("number",), ("client", "issued_on", "due_on", "total"),
            Field("number", "str", "The invoice number shown to the client; the natural key. Usually assigned by "
                  "the billing system, so connectors that cannot set it declare it read-only."),
            Field("client", "ref", "The billed client.", ref="client"),
            Field("issued_on", "date"), Field("due_on", "date"), Field("paid_on", "date"),
            Field("status", "choice", choices=INVOICE_STATUSES),
            Field("currency", "currency", "ISO 4217, upper case."),
            Field("lines", "list", "Invoice lines in order.", items=(
                Field("description", "text"), Field("quantity", "decimal"),
                Field("unit_price", "money"), Field("taxed", "bool"),
            )),
            Field("total", "money", "Total including tax, as the billing system computed it."),
        ),
        _kind(
            "ticket", "A support conversation.", (), ("client", "subject"),
            Field("subject", "str"),
            Field("client", "ref", "The client who opened it.", ref="client"),
            Field("status", "choice", choices=TICKET_STATUSES),
            Field("priority", "choice", choices=TICKET_PRIORITIES),
            Field("department", "str", "Department name."),
            Field("messages", "list", "The conversation in order, opening message first.", items=(
                Field("author", "str", "E-mail address of the author where known, else the name."),
                Field("body", "text"), Field("created_at", "datetime"),
            )),
            Field("created_at", "datetime"),
            Field("project", "ref", "The project the ticket is tied to, where the system ties tickets to "
                  "projects (wbTeamPro).", ref="project"),
        ),
        _kind(
            "project", "A piece of work for a client.", (), ("client", "name"),
            Field("name", "str"), Field("client", "ref", "The client it is for.", ref="client"),
            Field("status", "choice", choices=PROJECT_STATUSES),
            Field("start_on", "date"), Field("due_on", "date"), Field("description", "text"),
        ),
        _kind(
            "task", "A step of a project.", (), ("project", "name"),
            Field("name", "str"), Field("project", "ref", ref="project"),
            Field("status", "choice", choices=TASK_STATUSES),
            Field("description", "text"), Field("due_on", "date"),
            Field("priority", "choice", "How urgent it is, in a ticket's vocabulary. A vendor with more levels "
                  "reads its extra ones as the nearest (ProWorkflow's Very Low is low); one with no priority "
                  "does not carry it, so a job never clears it on the other side.", choices=TASK_PRIORITIES),
        ),
        _kind(
            "time_entry", "Time someone spent on a project or task.", (), ("task", "member", "started_at"),
            Field("project", "ref", ref="project"), Field("task", "ref", ref="task"),
            Field("member", "str", "Who worked (e-mail or login name)."),
            Field("started_at", "datetime"), Field("minutes", "int"), Field("note", "text"),
            Field("billable", "bool"),
        ),
    )
}

#: The order in which kinds are synced when several jobs run together: referenced kinds first.
KIND_ORDER: tuple[str, ...] = ("client", "domain", "site", "invoice", "project", "ticket", "task", "time_entry")


# --- normalisation ---------------------------------------------------------------------------

_ZERO_DATE = re.compile(r"^0000-00-00")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}
_CENT = Decimal("0.01")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is str and value.isascii() and "\r" not in value:  # the common case, fast
        return value.strip() or None
    text = unicodedata.normalize("NFC", str(value)).replace("\r\n", "\n").replace("\r", "\n").strip()
    return text or None


def _str(value: Any) -> str | None:
    if type(value) is str and value.isascii():  # the common case, fast
        return " ".join(value.split()) or None
    text = _text(value)
    return " ".join(text.split()) if text else None


def _email(value: Any) -> str | None:
    text = _str(value)
    return text.lower() if text else None


def _country(value: Any) -> str | None:
    text = _str(value)
    if text is None:
        return None
    text = text.upper()
    if not _COUNTRY.match(text):
        raise InvalidValue(f"{text!r} is not an ISO 3166-1 alpha-2 country code")
    return text


def _currency(value: Any) -> str | None:
    text = _str(value)
    if text is None:
        return None
    text = text.upper()
    if not _CURRENCY.match(text):
        raise InvalidValue(f"{text!r} is not an ISO 4217 currency code")
    return text


def _domain(value: Any) -> str | None:
    text = _str(value)
    if text is None:
        return None
    text = text.lower().rstrip(".")
    try:
        return text.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidValue(f"{text!r} is not a valid domain name") from exc


def _date(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if not text or _ZERO_DATE.match(text):
        return None
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError as exc:
        raise InvalidValue(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def parse_datetime(value: Any, tz: timezone | None = None) -> datetime | None:
    """Parse a vendor timestamp to an aware UTC datetime; naive values are taken to be in ``tz`` (UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        if not text or _ZERO_DATE.match(text):
            return None
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as exc:
            raise InvalidValue(f"{text!r} is not a timestamp") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz or timezone.utc)
    return moment.astimezone(timezone.utc)


def _datetime(value: Any) -> str | None:
    moment = parse_datetime(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _decimal(value: Any) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise InvalidValue(f"{value!r} is not a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise InvalidValue(f"{value!r} is not a number") from exc
    if not number.is_finite():
        raise InvalidValue(f"{value!r} is not a finite number")
    return number


def _money(value: Any) -> str | None:
    number = _decimal(value)
    if number is None:
        return None
    try:
        return str(number.quantize(_CENT))
    except InvalidOperation:  # more digits than the decimal context holds
        raise InvalidValue(f"{value!r} is too large an amount") from None


def _quantity(value: Any) -> str | None:
    number = _decimal(value)
    if number is None:
        return None
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _int(value: Any) -> int | None:
    number = _decimal(value)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise InvalidValue(f"{value!r} is not a whole number")
    return int(number)


def _bool(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidValue(f"{value!r} is not a boolean")


_SCALARS = {
    "str": _str, "text": _text, "email": _email, "country": _country, "currency": _currency,
    "domain": _domain, "date": _date, "datetime": _datetime, "money": _money, "decimal": _quantity,
    "int": _int, "bool": _bool,
}


def normalise_value(spec: Field, value: Any) -> Any:
    """One value in its canonical form; raises :class:`InvalidValue` naming the field."""
    try:
        if spec.type == "choice":
            text = _str(value)
            if text is None:
                return None
            text = text.lower()
            if text not in spec.choices:
                raise InvalidValue(f"{text!r} is not one of {', '.join(spec.choices)}")
            return text
        if spec.type == "list":
            if value in (None, "", False):
                return []
            if not isinstance(value, (list, tuple)):
                raise InvalidValue(f"expected a list, got {type(value).__name__}")
            return [_normalise_item(spec, item) for item in value]
        return _SCALARS[spec.type](value)
    except InvalidValue as exc:
        if str(exc).startswith(f"{spec.name}:") or str(exc).startswith(f"{spec.name}["):
            raise
        raise InvalidValue(f"{spec.name}: {exc}") from None


@functools.lru_cache(maxsize=None)
def _converters(kind: str) -> tuple[tuple[str, Any], ...]:
    """(field name, converter) for the non-reference fields of a kind: scalars convert directly."""
    return tuple((f.name, _SCALARS[f.type] if f.type in _SCALARS else functools.partial(normalise_value, f))
                 for f in KINDS[kind].fields if not f.ref)


def _normalise_item(spec: Field, item: Any) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise InvalidValue(f"expected an object, got {type(item).__name__}")
    unknown = set(item) - {f.name for f in spec.items}
    if unknown:
        raise InvalidValue(f"unknown item field(s) {', '.join(sorted(unknown))}")
    return {f.name: normalise_value(f, item.get(f.name)) for f in spec.items}


def normalise(record: Record) -> Record:
    """A copy of ``record`` with every field in canonical form and every canonical field present.

    Raises :class:`InvalidValue` for an unknown field or a value that cannot be normalised.
    """
    kind = KINDS.get(record.kind)
    if kind is None:
        raise InvalidValue(f"unknown kind {record.kind!r}")
    refs = kind.refs
    unknown = set(record.fields) - set(kind.names)
    if unknown or set(record.refs) - set(refs):
        names = sorted(unknown | (set(record.refs) - set(refs)))
        raise InvalidValue(f"{record.kind} has no field(s) {', '.join(names)}")
    misplaced = set(record.fields) & set(refs)
    if misplaced:
        raise InvalidValue(f"{', '.join(sorted(misplaced))}: references belong in refs, not fields")
    get = record.fields.get
    try:
        fields = {name: convert(get(name)) for name, convert in _converters(kind.name)}
    except InvalidValue:  # say which field: redo it the slow way
        fields = {f.name: normalise_value(f, get(f.name)) for f in kind.fields if not f.ref}
    out_refs = {name: (None if record.refs.get(name) in (None, "") else str(record.refs[name]))
                for name in refs}
    return Record(record.kind, None if record.id is None else str(record.id), fields, out_refs,
                  record.updated_at, record.version, origin=record.origin or None)


def differs(kind: str, name: str, current: Record, wanted: Record) -> bool:
    """Whether field or reference ``name`` differs between two records of ``kind`` in canonical terms,
    for an update that sends only what changed (a value that cannot be normalised differs)."""
    spec = KINDS[kind].field(name)
    if spec.ref:
        return (current.refs.get(name) or None) != (wanted.refs.get(name) or None)
    try:
        return normalise_value(spec, current.value(name)) != normalise_value(spec, wanted.value(name))
    except InvalidValue:
        return True


def normalise_fields(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Just these fields of a ``kind`` in canonical form (``normalise`` fills in every field)."""
    spec = KINDS[kind]
    return {name: normalise_value(spec.field(name), value) for name, value in fields.items()}


# --- hashing ---------------------------------------------------------------------------------

def project(record: Record, names: Iterable[str] | None = None) -> dict[str, Any]:
    """The record's fields and references restricted to ``names`` (``None`` = all), in field order.

    ``names`` may restrict list items with a dotted name: ``"lines.description"`` keeps only that
    part of each line, ``"lines"`` keeps whole lines.
    """
    fields, refs = record.fields, record.refs
    out: dict[str, Any] = {}
    for name, parts in _projection(record.kind, None if names is None else frozenset(names)):
        value = fields[name] if name in fields else refs.get(name)
        out[name] = value if parts is None else [{part: item.get(part) for part in parts} for item in value or []]
    return out


@functools.lru_cache(maxsize=None)
def _projection(kind: str, names: frozenset[str] | None) -> tuple[tuple[str, tuple[str, ...] | None], ...]:
    """(field, list-item parts or None for the whole value) for ``project``, worked out once per field set."""
    plan: list[tuple[str, tuple[str, ...] | None]] = []
    for spec in KINDS[kind].fields:
        if names is None or spec.name in names:
            plan.append((spec.name, None))
        elif spec.type == "list":
            parts = tuple(item.name for item in spec.items if f"{spec.name}.{item.name}" in names)
            if parts:
                plan.append((spec.name, parts))
    return tuple(plan)


def content_hash(values: Mapping[str, Any]) -> str:
    """A short stable hash of projected values: equal facts give equal hashes in every vendor."""
    blob = json.dumps(values, separators=(",", ":"), ensure_ascii=False, default=str)  # project() orders keys
    return hashlib.blake2b(blob.encode("utf-8"), digest_size=16).hexdigest()


def changed_fields(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Field name -> (old, new) for the projected values that differ."""
    old = old or {}
    return {name: (old.get(name), value) for name, value in new.items() if old.get(name) != value}
