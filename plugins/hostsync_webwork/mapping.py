"""WebWork rows <-> canonical records, both ways. Pure functions, no calls.

Projects: ``name``, ``start_date`` -> start_on, ``deadline`` -> due_on, ``notes`` -> description,
``status`` (read only: the API cannot set it; 1 reads as active, 0 as on_hold). Budgets go in as
``budget`` and come out as ``budget_estimation``; canonical projects carry no budget, so hostsync
sends neither and leaves WebWork's alone.

Tasks: ``title`` -> name, ``project_id`` -> project, ``description``, ``end_date`` -> due_on, and
``status`` codes 0/10/20/30. Their labels changed between revisions of the API docs (Incomplete,
Doing, Done, Completed; then Open, In Progress, Done, Closed): both spellings read. A workspace may
define custom codes (1, 2, 11, 21, ...); each reads as the base code of its ten (11 is in progress),
so it is kept lossily, and one outside 0-39 as the nearest base. Writing: open 0, in_progress 10,
done 20, cancelled 30 -- WebWork has no "cancelled", so 30 reads back as done (:func:`stored_fields`
says so). Priorities: 10 Urgent, 20 High, 30 Normal, 40 Low are urgent, high, medium and low, both
ways (the label read too, where an answer carries one); no priority (null) is none. A code WebWork
does not document reads as the nearest of its ten (15 as urgent, 50 as low), lossily: an update
sends only what differs in canonical terms, so the code stays until the priority really changes.

Time entries (read only): one per member, date and start time. ``date`` + ``start_time`` in the
workspace's time zone -> started_at; ``end_time - start_time`` -> minutes (an end before the start
crosses midnight); ``notes`` (else ``activity_description``) -> note; the member is named by the
``members`` setting, else by the member's e-mail (the connector knows them). A running tracker (no end yet) is not read until
it stops. The record id is ``<user id>/<date>/<start HH:MM:SS>``: WebWork's own time entry ids are
encrypted UUIDs whose text may differ between two reads of the same entry, and a member's entries
never overlap, so the start identifies one -- and ``get`` knows which member-day to read.

The origin marker (``Operations(origin=True)``) lives in the text WebWork keeps for us: a last
line ``hostsync-origin: <marker>`` in a project's notes or a task's description. Reading strips it
from the description and returns it as ``Record.origin``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Mapping

from hostsync.errors import Rejected
from hostsync.model import InvalidValue, Record, parse_datetime
from hostsync.values import ident, text

PROJECT_STATUS_IN = {1: "active", 0: "on_hold"}
TASK_STATUS_IN = {0: "open", 10: "in_progress", 20: "done", 30: "done"}
TASK_STATUS_OUT = {"open": 0, "in_progress": 10, "done": 20, "cancelled": 30}
#: Both documented label sets: 0 Incomplete/Open, 10 Doing/In Progress, 20 Done, 30 Completed/Closed.
TASK_LABELS = {"incomplete": 0, "open": 0, "doing": 10, "in progress": 10, "done": 20, "completed": 30,
               "closed": 30}
PRIORITY_IN = {10: "urgent", 20: "high", 30: "medium", 40: "low"}
PRIORITY_OUT = {name: number for number, name in PRIORITY_IN.items()}
#: The documented labels (one spelling: Urgent, High, Normal, Low).
PRIORITY_LABELS = {"urgent": 10, "high": 20, "normal": 30, "low": 40}

ORIGIN_PREFIX = "hostsync-origin: "
_ORIGIN_LINE = re.compile(r"^hostsync-origin: ([\x20-\x7e]{1,64})$", re.M)


# --- small values ------------------------------------------------------------------------------

def day(value: Any) -> str | None:
    """A WebWork date (``Y-m-d``, or a timestamp whose date part counts) as an ISO date."""
    value = text(value)
    if value is None:
        return None
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        raise InvalidValue(f"{value!r} is not a date (Y-m-d)") from None


def clock(value: Any) -> time | None:
    """``HH:MM`` or ``HH:MM:SS`` as a time of day."""
    value = text(value)
    if value is None:
        return None
    try:
        return time.fromisoformat(value if value.count(":") == 2 else f"{value}:00")
    except ValueError:
        raise InvalidValue(f"{value!r} is not a time of day (HH:MM)") from None


def code(value: Any) -> int | None:
    """A numeric status or priority code (an int or a numeric string), else ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value.strip())
    return None


# --- statuses ----------------------------------------------------------------------------------

def base_code(value: int) -> int:
    """The base status a (custom) code belongs to: its ten, within 0-30."""
    return min(30, max(0, value // 10 * 10))


def task_status(value: Any) -> str | None:
    """The canonical status of a task's ``status``: a code (a custom one as its ten's base) or
    either label spelling."""
    return _coded(value, TASK_STATUS_IN, TASK_LABELS, base_code)


def task_priority(value: Any) -> str | None:
    """The canonical priority of a task's ``priority`` (``None``: none): a code (an undocumented
    one as the nearest of its ten) or its label."""
    return _coded(value, PRIORITY_IN, PRIORITY_LABELS, lambda number: min(40, max(10, number // 10 * 10)))


def _coded(value: Any, names: Mapping[int, str], labels: Mapping[str, int], nearest: Any) -> str | None:
    """The canonical name of a coded value: a code (``nearest(code)`` finds the documented one) or a
    label; an unknown label is passed through lower-cased, so the record fails naming it."""
    number = code(value)
    if number is not None:
        return names[nearest(number)]
    label = text(value)
    if label is None:
        return None
    known = labels.get(label.lower())
    return names[known] if known is not None else label.lower()


def project_status(value: Any) -> str | None:
    number = code(value)
    if number is None:
        return None
    return PROJECT_STATUS_IN.get(number, "active")


def stored_fields(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical fields as WebWork reads them back after hostsync wrote them."""
    out = dict(fields)
    if kind == "task" and out.get("status") == "cancelled":
        out["status"] = "done"  # written as 30 (Closed), which reads as done
    return out


# --- the origin marker -------------------------------------------------------------------------

def split_origin(value: Any) -> tuple[str | None, str | None]:
    """Notes or a description without its origin line, and the marker (``None``: no marker)."""
    body = text(value)
    if body is None:
        return None, None
    match = _ORIGIN_LINE.search(body)
    if match is None:
        return body, None
    rest = (body[:match.start()] + body[match.end():]).strip()
    return rest or None, match.group(1)


def with_origin(description: Any, origin: str | None) -> str:
    """The text to store: the description, then the origin line when there is a marker."""
    body = text(description) or ""
    if not origin:
        return body
    if not re.fullmatch(r"[\x20-\x7e]{1,64}", origin):
        raise Rejected(f"origin marker {origin!r} is not printable ASCII of at most 64 characters")
    line = ORIGIN_PREFIX + origin
    return f"{body}\n\n{line}" if body else line


# --- projects ----------------------------------------------------------------------------------

def project_record(row: Mapping[str, Any]) -> Record:
    description, origin = split_origin(row.get("notes"))
    return Record(
        "project", ident(row.get("id")),
        {"name": text(row.get("name")), "status": project_status(row.get("status")),
         "start_on": _date_or_raw(row.get("start_date")), "due_on": _date_or_raw(row.get("deadline")),
         "description": description},
        {}, updated_at=_moment(row.get("updated_at")), origin=origin)


def project_body(fields: Mapping[str, Any], origin: str | None, *, create: bool) -> dict[str, Any]:
    """A create or update body for the fields given (the status cannot be set through the API)."""
    body: dict[str, Any] = {}
    if "name" in fields or create:
        body["name"] = fields.get("name") or ""
    if "start_on" in fields:
        body["start_date"] = fields["start_on"]
    if "due_on" in fields:
        body["deadline"] = fields["due_on"]
    if "description" in fields or (create and origin):
        body["notes"] = with_origin(fields.get("description"), origin)
    return body


def check_dates(start: Any, end: Any, names: tuple[str, str], what: str) -> None:
    """WebWork refuses an end (deadline, end_date) before the start: say so before sending."""
    if start and end and str(end) < str(start):
        raise Rejected(f"{what}: {names[1]} {end} is before {names[0]} {start}; WebWork needs the "
                       f"{names[1]} on or after the {names[0]}", {names[1]: f"before {names[0]} {start}"})


# --- tasks -------------------------------------------------------------------------------------

def task_record(row: Mapping[str, Any]) -> Record:
    description, origin = split_origin(row.get("description"))
    return Record(
        "task", ident(row.get("id")),
        {"name": text(row.get("title")), "status": task_status(row.get("status")),
         "description": description, "due_on": _date_or_raw(row.get("end_date")),
         "priority": task_priority(row.get("priority"))},
        {"project": ident(row.get("project_id"))},
        updated_at=_moment(row.get("updated_at")), origin=origin)


def task_body(fields: Mapping[str, Any], refs: Mapping[str, Any], origin: str | None, *,
              create: bool) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if "name" in fields or create:
        body["title"] = fields.get("name") or ""
    if refs.get("project"):
        body["project_id"] = int(refs["project"])
    if fields.get("status"):
        body["status"] = TASK_STATUS_OUT[fields["status"]]
    if fields.get("priority") or ("priority" in fields and not create):  # none: null (a new task has none)
        body["priority"] = PRIORITY_OUT.get(fields["priority"])
    if "description" in fields or (create and origin):
        body["description"] = with_origin(fields.get("description"), origin)
    if "due_on" in fields:
        body["end_date"] = fields["due_on"]
    return body


# --- time entries ------------------------------------------------------------------------------

def entry_id(user_id: Any, on: str, start: time) -> str:
    return f"{user_id}/{on}/{start.strftime('%H:%M:%S')}"


def parse_entry_id(value: str) -> tuple[str, str, time] | None:
    """(user id, date, start) of a time entry id, or ``None`` if it is not one of ours."""
    match = re.fullmatch(r"(\d+)/(\d{4}-\d{2}-\d{2})/(\d{2}:\d{2}:\d{2})", str(value))
    if match is None:
        return None
    try:
        return match.group(1), date.fromisoformat(match.group(2)).isoformat(), time.fromisoformat(match.group(3))
    except ValueError:
        return None


def time_entry_record(row: Mapping[str, Any], tz: tzinfo, member: str | None) -> Record | None:
    """A time entry, or ``None`` while its tracker runs (no end time yet).

    An entry whose date or times cannot be read comes back with them as given, so the engine
    fails that record alone, naming the value."""
    refs = {"project": ident(row.get("project_id")), "task": ident(row.get("task_id"))}
    raw_day, raw_start, raw_end = text(row.get("date")), text(row.get("start_time")), text(row.get("end_time"))
    try:
        on, start, end = day(raw_day), clock(raw_start), clock(raw_end)
        if on is None or start is None:
            raise InvalidValue("no date or start time")
    except InvalidValue:
        return Record("time_entry", f"{row.get('user_id')}/{raw_day}/{raw_start}",
                      {"member": member, "started_at": f"date {raw_day}, {raw_start} to {raw_end}"}, refs)
    if end is None:
        return None
    started = datetime.combine(date.fromisoformat(on), start, tz)
    ended = datetime.combine(date.fromisoformat(on), end, tz)
    if ended < started:
        ended += timedelta(days=1)
    seconds = Decimal((ended.astimezone(timezone.utc) - started.astimezone(timezone.utc)).total_seconds())
    minutes = int((seconds / 60).quantize(Decimal(1), ROUND_HALF_UP))
    return Record(
        "time_entry", entry_id(row.get("user_id"), on, start),
        {"member": member, "started_at": started, "minutes": minutes,
         "note": text(row.get("notes")) or text(row.get("activity_description"))},
        refs, updated_at=_moment(row.get("updated_at")) or parse_datetime(ended))


# --- helpers -----------------------------------------------------------------------------------

def _date_or_raw(value: Any) -> Any:
    """A date as ISO text; a malformed one is passed on, so normalising fails naming the field."""
    try:
        return day(value)
    except InvalidValue:
        return value


def _moment(value: Any) -> datetime | None:
    try:
        return parse_datetime(text(value))
    except InvalidValue:
        return None
