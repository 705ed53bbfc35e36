"""wbTeamPro rows <-> canonical records, both ways. Pure functions.

Field names beyond ``project_id``, ``xref_id`` and ``id`` are not in the vendor's public docs
(FACTS.md §2 marks them [U]; the API Developers Sandbox that ships with the addon lists them).
They follow the addon's column names as its language file shows them (``project_name``,
``client_userid``, ``date_start``, ``date_finish``, ``action_*``, ``timelog_*``) and live in the
tables below only, so a correction is a one-line change.

Project and action statuses are lists the admin configures (one per line), so the canonical
mapping reads the usual names and takes overrides from the ``project_statuses`` /
``task_statuses`` settings. Timelogs belong to an admin id; the ``members`` setting names them
(``{"2" = "jane@example.net"}``), otherwise the member is the admin id itself. Elapsed time is in
seconds; canonical minutes round half up (what hostsync writes is whole minutes).

Lossy points of writing, applied by ``stored_fields`` (the connector's ``stored()``): a status
setting that gives two canonical statuses one vendor name reads back as the one that name reads as;
a member reads back as the ``members`` setting spells it; times are kept in local time without a
zone, so one in the hour a change from summer time repeats reads back as its first pass.
"""

from __future__ import annotations

from datetime import tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Mapping

from hostsync.errors import Rejected
from hostsync.model import Record, parse_datetime
from hostsync.values import ident, text

PROJECT = {"name": "project_name", "client": "client_userid", "status": "project_status",
           "start_on": "date_start", "due_on": "date_finish", "description": "project_details"}
TASK = {"name": "action_name", "project": "project_id", "status": "action_status",
        "description": "action_detail", "due_on": "date_finish"}
TIMELOG = {"project": "project_id", "task": "action_id", "member": "owner_adminid", "started_at": "date_start",
           "minutes": "timelog_elapsed", "note": "timelog_note", "billable": "billable"}
ZERO = "0000-00-00 00:00:00"

PROJECT_READ = {"pending": "planned", "planned": "planned", "not started": "planned", "new": "planned",
                "active": "active", "in progress": "active", "open": "active",
                "on hold": "on_hold", "paused": "on_hold",
                "completed": "completed", "complete": "completed", "closed": "completed", "done": "completed",
                "cancelled": "cancelled", "canceled": "cancelled"}
PROJECT_WRITE = {"planned": "Pending", "active": "Active", "on_hold": "On Hold", "completed": "Completed",
                 "cancelled": "Cancelled"}
TASK_READ = {"open": "open", "pending": "open", "not started": "open", "new": "open",
             "in progress": "in_progress", "active": "in_progress",
             "completed": "done", "complete": "done", "done": "done", "closed": "done",
             "cancelled": "cancelled", "canceled": "cancelled"}
TASK_WRITE = {"open": "Open", "in_progress": "In Progress", "done": "Completed", "cancelled": "Cancelled"}


class Vocabulary:
    """A configurable status list: canonical name <-> the admin's own names."""

    def __init__(self, read: Mapping[str, str], write: Mapping[str, str], canonical: tuple[str, ...],
                 overrides: Mapping[str, Any] | None = None) -> None:
        unknown = set(overrides or {}) - set(canonical)
        if unknown:
            raise ValueError(f"{', '.join(sorted(unknown))}: not a canonical status ({', '.join(canonical)})")
        self.write_names = {**write, **{k: str(v) for k, v in (overrides or {}).items()}}
        self.read_names = {**read, **{v.lower(): k for k, v in self.write_names.items()}}

    def read(self, value: Any) -> str | None:
        """The canonical status; an unknown name passes through lower-cased, so normalising fails
        naming it (map it with the setting)."""
        name = text(value)
        return None if name is None else self.read_names.get(name.lower(), name.lower())

    def write(self, status: str | None) -> str | None:
        return None if status is None else self.write_names[status]

    def stored(self, status: str | None) -> str | None:
        """What a written status reads back as (another one where two share a vendor name)."""
        return self.read(self.write(status)) if status in self.write_names else status


class Members:
    """Timelog owners (admin ids) <-> canonical member names, from the ``members`` setting."""

    def __init__(self, table: Mapping[str, Any] | None = None) -> None:
        self.by_id = {str(k): str(v) for k, v in (table or {}).items()}
        self.by_name = {v.lower(): k for k, v in self.by_id.items()}

    def read(self, admin_id: Any) -> str | None:
        admin = ident(admin_id)
        return None if admin is None else self.by_id.get(admin, admin)

    def write(self, member: Any) -> int:
        name = text(member)
        if name and name.lower() in self.by_name:
            return int(self.by_name[name.lower()])
        if name and name.isdigit():
            return int(name)
        raise Rejected(f"member {name!r} has no wbTeamPro admin id: add it to the members setting",
                       {"member": "unknown"})


def day(value: Any) -> str | None:
    value = text(value)
    return None if value is None or value.startswith("0000") else value[:10]


def day_param(value: Any) -> str:
    """A canonical date as the datetime column wants it; none clears it."""
    value = text(value)
    return f"{value[:10]} 00:00:00" if value else ZERO


def _int(value: Any) -> int:
    try:
        return int(Decimal(str(value)))
    except (InvalidOperation, ValueError, TypeError):
        return 0


def stored_fields(kind: str, fields: Mapping[str, Any], tz: tzinfo, projects: Vocabulary, tasks: Vocabulary,
                  members: Members) -> dict[str, Any]:
    """Canonical fields as wbTeamPro reads them back after hostsync wrote them."""
    out = dict(fields)
    if kind in ("project", "task") and out.get("status"):
        out["status"] = (projects if kind == "project" else tasks).stored(out["status"])
    if kind == "time_entry":
        if out.get("member") is not None:
            try:
                out["member"] = members.read(members.write(out["member"]))
            except Rejected:
                pass  # not written at all: the write is refused
        if out.get("started_at"):
            moment = parse_datetime(out["started_at"])
            local = moment.astimezone(tz).replace(tzinfo=None, fold=0)  # read back from text: fold 0
            out["started_at"] = parse_datetime(local, tz).strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[union-attr]
    return out


# --- projects ---------------------------------------------------------------------------------

def project_record(row: Mapping[str, Any], tz: tzinfo, statuses: Vocabulary) -> Record:
    return Record(
        "project", ident(row.get("project_id")),
        {"name": text(row.get("project_name")), "status": statuses.read(row.get("project_status")),
         "start_on": day(row.get("date_start")), "due_on": day(row.get("date_finish")),
         "description": text(row.get("project_details"))},
        {"client": ident(row.get("client_userid"))},
        updated_at=parse_datetime(text(row.get("date_modified")), tz),  # type: ignore[arg-type]
    )


def project_params(record: Record, statuses: Vocabulary) -> dict[str, Any]:
    """createProject/updateProject params for the fields and refs the record has."""
    params: dict[str, Any] = {}
    fields = record.fields
    if "name" in fields:
        params["project_name"] = fields["name"] or ""
    if "status" in fields and fields["status"]:
        params["project_status"] = statuses.write(fields["status"])
    for key in ("start_on", "due_on"):
        if key in fields:
            params[PROJECT[key]] = day_param(fields[key])
    if "description" in fields:
        params["project_details"] = fields["description"] or ""
    if "client" in record.refs:
        params["client_userid"] = int(record.refs["client"] or 0)
    return params


# --- tasks (actions) --------------------------------------------------------------------------

def task_record(row: Mapping[str, Any], tz: tzinfo, statuses: Vocabulary) -> Record:
    return Record(
        "task", ident(row.get("action_id")),
        {"name": text(row.get("action_name")), "status": statuses.read(row.get("action_status")),
         "description": text(row.get("action_detail")), "due_on": day(row.get("date_finish"))},
        {"project": ident(row.get("project_id"))},
        updated_at=parse_datetime(text(row.get("date_modified")), tz),  # type: ignore[arg-type]
    )


def task_params(record: Record, statuses: Vocabulary) -> dict[str, Any]:
    params: dict[str, Any] = {}
    fields = record.fields
    if "name" in fields:
        params["action_name"] = fields["name"] or ""
    if "status" in fields and fields["status"]:
        params["action_status"] = statuses.write(fields["status"])
        if fields["status"] == "done":
            params["action_complete"] = 100
    if "description" in fields:
        params["action_detail"] = fields["description"] or ""
    if "due_on" in fields:
        params["date_finish"] = day_param(fields["due_on"])
    if record.refs.get("project"):
        params["project_id"] = int(record.refs["project"])  # type: ignore[arg-type]
    return params


# --- time entries (timelogs) ------------------------------------------------------------------

def time_entry_record(row: Mapping[str, Any], tz: tzinfo, members: Members) -> Record:
    seconds = Decimal(_int(row.get("timelog_elapsed")))
    return Record(
        "time_entry", ident(row.get("timelog_id")),
        {"member": members.read(row.get("owner_adminid")),
         "started_at": parse_datetime(day_time(row.get("date_start")), tz),  # type: ignore[arg-type]
         "minutes": int((seconds / 60).quantize(Decimal(1), ROUND_HALF_UP)),
         "note": text(row.get("timelog_note")), "billable": bool(_int(row.get("billable")))},
        {"project": ident(row.get("project_id")), "task": ident(row.get("action_id"))},
        updated_at=parse_datetime(text(row.get("date_modified")), tz),  # type: ignore[arg-type]
    )


def day_time(value: Any) -> str | None:
    value = text(value)
    return None if value is None or value.startswith("0000") else value


def timelog_params(record: Record, tz: tzinfo, members: Members) -> dict[str, Any]:
    params: dict[str, Any] = {}
    fields = record.fields
    if "member" in fields and fields["member"] is not None:
        params["owner_adminid"] = members.write(fields["member"])
    if "started_at" in fields and fields["started_at"]:
        moment = parse_datetime(fields["started_at"])
        params["date_start"] = moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")  # type: ignore[union-attr]
    if "minutes" in fields:
        params["timelog_elapsed"] = _int(fields["minutes"]) * 60
    if "note" in fields:
        params["timelog_note"] = fields["note"] or ""
    if "billable" in fields and fields["billable"] is not None:
        params["billable"] = 1 if fields["billable"] else 0
    for ref, param in (("project", "project_id"), ("task", "action_id")):
        if ref in record.refs:
            params[param] = int(record.refs[ref] or 0)
    return params


# --- ticket links -----------------------------------------------------------------------------

def ticket_record(row: Mapping[str, Any]) -> Record | None:
    """A ``whmcstickets`` row as a ticket tied to its project; ``None`` when it is not tied."""
    xref = row.get("ticketxref")
    if not isinstance(xref, Mapping) or not ident(xref.get("project_id")):
        return None
    return Record("ticket", ident(row.get("id") or row.get("ticket_id")), {"subject": text(row.get("subject"))},
                  {"client": ident(row.get("userid")), "project": ident(xref.get("project_id"))})
