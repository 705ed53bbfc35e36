"""The WebWork Tracker connector: projects and tasks both ways, time entries read.

WebWork has no modification filter, so projects and tasks are read whole (one call per 100
projects, then per project one call per 100 of its tasks) and the engine finds changes by hash;
a run with nothing changed costs only those list pages. Updates read the record first (one more
call) and send only what differs in canonical terms, so a custom status code that already means
the wanted status, and the origin line in the notes, are kept.

Time entries: see :mod:`.walk` for the member-day walk and :mod:`.mapping` for their ids. ``since``
here means "tracked on or after the day of ``since``": the engine's cursor is the newest
``updated_at`` read (WebWork's modification time of an entry), minus the job's overlap, and the
next run walks from that day to today. An entry changed later on an earlier day is not seen until
a full run (``sync --full``: the look-back window) or an overlap that reaches it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import datetime
from typing import Any, Iterator, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hostsync import ORIGIN, Connector, Operations, Record, Setting, canonical, matching
from hostsync.connector import Cost
from hostsync.errors import AuthError, ConfigError, NotFound, ProtocolError, Rejected
from hostsync.model import differs

from . import mapping as m
from . import walk
from .client import DEFAULT_URL, PER_PAGE, VENDOR_LIMIT, WebWorkClient, parse_limit

log = logging.getLogger("hostsync.webwork")

API_ROLES = ("owner", "executive manager")
KIND_FIELDS = {
    "project": ("name", "status", "start_on", "due_on", "description"),
    "task": ("name", "project", "status", "description", "due_on", "priority"),
    "time_entry": ("project", "task", "member", "started_at", "minutes", "note"),
}


class WebWorkConnector(Connector):
    """WebWork Tracker through its REST API v2, one workspace per system."""

    name = "webwork"
    description = "WebWork Tracker: projects and tasks both ways, time entries read (REST API v2)"
    kinds = {
        # pages of 100; projects are searched by name, markers only by reading every project (or task)
        "project": Operations.of("list", "get", "find", "create", "update", "delete", fields=KIND_FIELDS["project"],
                                 read_only=("status",), origin=True, cost=Cost(page=PER_PAGE, find_origin=None)),
        "task": Operations.of("list", "get", "find", "create", "update", "delete", fields=KIND_FIELDS["task"],
                              origin=True, cost=Cost(page=PER_PAGE, find_origin=None)),
        "time_entry": Operations.of("list", "get", "since", fields=KIND_FIELDS["time_entry"],
                                    cost=Cost(page=PER_PAGE)),
    }
    #: 58 a minute: the engine's token bucket (a burst of one, then 58/60 a second) then sends at
    #: most 59 in any minute, under WebWork's 60 per user, and uses 96.7 % of it.
    default_rate_limit = "58/min"
    default_concurrency = 2
    #: projects and tasks are numbered from 1 (time entries, ``<user>/<date>/<start>``, are read, never created)
    id_pattern = r"[1-9][0-9]*"
    settings = (
        Setting("url", "url", default=DEFAULT_URL, help="the API base, ending in /api/v2"),
        Setting("token", secret=True, required=True,
                help="an OAuth2 access token or a personal access token (Settings > REST API) of a workspace "
                     "owner or executive manager"),
        Setting("workspace_id", "int", required=True, help="the workspace (see GET /workspaces)"),
        Setting("timezone", default="UTC", help="the time zone WebWork shows this workspace's dates and times in"),
        Setting("members", "table", help="WebWork user id -> member name for time entries (default: the member's "
                                         "e-mail)"),
        Setting("time_lookback_days", "int", default=31,
                help="days of time entries a first run (and sync --full) reads, today included"),
        Setting("tracked_hours_report", "bool", default=True,
                help="ask the tracked-hours report which member-days have time, so empty ones cost no call"),
        Setting("request_limit", default=VENDOR_LIMIT,
                help="WebWork's own limit for this token: a 429 that says no more waits its period (keep "
                     "rate_limit under it)"),
    )

    def __init__(self, system: str, options: Mapping[str, Any]) -> None:
        super().__init__(system, options)
        key = f"systems.{system}"
        try:
            self.tz = ZoneInfo(str(options.get("timezone") or "UTC"))
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"unknown time zone {options.get('timezone')!r} (an IANA name such as "
                              "Europe/Berlin)", key=f"{key}.timezone") from None
        try:
            parse_limit(str(options.get("request_limit") or VENDOR_LIMIT))
        except ValueError as exc:
            raise ConfigError(str(exc), key=f"{key}.request_limit") from None
        self.lookback = int(options.get("time_lookback_days") or 31)
        if not 1 <= self.lookback <= 366:
            raise ConfigError("expected 1 to 366 days", key=f"{key}.time_lookback_days")
        self.use_report = options.get("tracked_hours_report", True) is not False
        self.member_names = {str(k): str(v) for k, v in (options.get("members") or {}).items()}
        self.api = WebWorkClient(options, on_pause=self.pause, fetch=self.fetch)
        self._lock = threading.Lock()
        self._projects_of: dict[str, str] = {}  # origin marker -> project of a task created this run
        self._members: dict[str, str] | None = None  # user id -> canonical member name
        self._refreshed = False

    def close(self) -> None:
        self.api.close()

    # -- the seam -------------------------------------------------------------------------------

    def check(self) -> None:
        """The token works, sees the workspace, and belongs to an owner or executive manager there."""
        what = f"check {self.system}"
        mine = list(self.api.pages("workspaces", workspace=None, what=what))
        ours = next((row for row in mine if str(row.get("id")) == str(self.api.workspace_id)), None)
        if ours is None:
            seen = ", ".join(f"{row.get('id')} ({row.get('name')})" for row in mine[:10]) or "none"
            raise AuthError(f"{what}: workspace {self.api.workspace_id} is not one of this token's workspaces "
                            f"(it sees: {seen})")
        role = m.text(ours.get("role"))
        if role is not None and role.lower() not in API_ROLES:
            raise AuthError(f"{what}: the token's user is a {role!r} in workspace {self.api.workspace_id}; the "
                            "WebWork API needs an Owner or Executive manager")
        self.api.call("GET", "members", {"per_page": 1}, what=what)  # proves the rights where no role is given

    def list(self, kind: str, since: datetime | None = None) -> Iterator[Record]:
        if kind == "project":
            return (m.project_record(row) for row in self._project_rows())
        if kind == "task":
            return self._list_tasks()
        if kind == "time_entry":
            return self._list_time(since)
        raise Rejected(f"WebWork does not hold {kind} records")

    def get(self, kind: str, id: str) -> Record | None:
        if kind == "time_entry":
            return self._get_time(id)
        row = self._row(kind, id)
        if row is None:
            return None
        return m.project_record(row) if kind == "project" else m.task_record(row)

    def find(self, kind: str, key: Mapping[str, Any]) -> list[Record]:
        """Projects by name (WebWork's own search), tasks within their project; by origin marker,
        the records carrying it. A superset: the engine compares exactly."""
        marker = key.get(ORIGIN)
        if kind == "project":
            rows = self._project_rows(name=key.get("name") if not marker else None)
            records = [m.project_record(row) for row in rows]
        elif kind == "task":
            with self._lock:
                project = key.get("project") or (self._projects_of.get(marker) if marker else None)
            records = list(self._list_tasks(project))
        else:
            raise Rejected(f"WebWork cannot look up {kind} records")
        if marker:
            return [r for r in records if r.origin == marker]
        return matching(records, key)

    def create(self, kind: str, record: Record) -> str:
        record = canonical(record)
        what = f"create {kind} {record.id or ''}".strip()
        if kind == "project":
            m.check_dates(record.fields.get("start_on"), record.fields.get("due_on"), ("start_date", "deadline"), what)
            body = m.project_body(record.fields, record.origin, create=True)
            data, _ = self.api.call("POST", "projects", body=body, what=what)
        elif kind == "task":
            project = record.refs.get("project")
            if not project:
                raise Rejected(f"{what}: a WebWork task needs its project", {"project": "required"})
            if record.origin:
                with self._lock:
                    self._projects_of[record.origin] = str(project)
            body = m.task_body(record.fields, record.refs, record.origin, create=True)
            data, _ = self.api.call("POST", "tasks", body=body, workspace="body", what=what)
        else:
            raise Rejected(f"WebWork time entries are read here, not written ({what})")
        new_id = m.ident(data.get("id")) if isinstance(data, dict) else None
        if new_id is None or not new_id.isdigit():  # validated before it becomes a link
            raise ProtocolError(f"{what}: WebWork answered without a usable id for the new {kind} ({new_id!r})")
        return new_id

    def validate(self, kind: str, record: Record, op: str = "create") -> list[str]:
        """WebWork's documented rules: a project's deadline on or after its start date; a task in a
        project. (A task's end date against the start it has is only known by asking.)"""
        fields = record.fields
        if kind == "project" and (op == "create" or {"start_on", "due_on"} <= set(fields)):
            start, end = fields.get("start_on"), fields.get("due_on")
            if start and end and str(end) < str(start):
                return [f"deadline {end} is before start_date {start}; WebWork needs the deadline on or after "
                        "the start date"]
        if kind == "task" and op == "create" and not record.refs.get("project"):
            return ["a WebWork task needs its project"]
        return []

    def update(self, kind: str, id: str, record: Record) -> None:
        record = canonical(record)
        what = f"update {kind} {id}"
        if kind not in ("project", "task"):
            raise Rejected(f"WebWork time entries are read here, not written ({what})")
        row = self._row(kind, id)
        if row is None:
            raise NotFound(f"{what}: no such {kind} in workspace {self.api.workspace_id}")
        current = m.project_record(row) if kind == "project" else m.task_record(row)
        changed = {name for name in (*record.fields, *record.refs)
                   if name in self.kinds[kind].writable(kind) and differs(kind, name, current, record)}
        if not changed:
            return
        fields = {k: v for k, v in record.fields.items() if k in changed}
        refs = {k: v for k, v in record.refs.items() if k in changed}
        if kind == "project":
            merged = {**current.fields, **fields}
            m.check_dates(merged.get("start_on"), merged.get("due_on"), ("start_date", "deadline"), what)
            body = m.project_body(fields, current.origin, create=False)
        else:
            m.check_dates(m.day(row.get("start_date")), fields.get("due_on"), ("start_date", "end_date"), what)
            body = m.task_body(fields, refs, current.origin, create=False)
        self.api.call("PUT", f"{_plural(kind)}/{_num(id, kind)}", body=body, what=what)

    def delete(self, kind: str, id: str) -> None:
        """Projects are archived (WebWork keeps them, restorable); tasks are deleted."""
        if kind not in ("project", "task"):
            raise Rejected(f"WebWork time entries are read here, not deleted ({kind} {id})")
        self.api.call("DELETE", f"{_plural(kind)}/{_num(id, kind)}", what=f"delete {kind} {id}")

    def stored(self, kind: str, record: Record) -> Record:
        """A cancelled task is written as 30 (Closed), which reads as done. Priorities are kept
        exactly (and an undocumented code that reads as the priority written is left as it is)."""
        fields = m.stored_fields(kind, record.fields)
        return record if fields == record.fields else replace(record, fields=fields, refs=dict(record.refs))

    # -- projects and tasks -------------------------------------------------------------------

    def _project_rows(self, name: Any = None) -> Iterator[dict[str, Any]]:
        query = {"name": str(name)} if name else None
        return self.api.pages("projects", query, what="list projects" if not name else "find project")

    def _list_tasks(self, project: str | None = None) -> Iterator[Record]:
        """Tasks of one project, or of every project (WebWork lists tasks per project)."""
        projects = [str(project)] if project else [str(row["id"]) for row in self._project_rows()]
        for project_id in projects:
            try:
                rows = list(self.api.pages("tasks", {"project_id": project_id}, what=f"list tasks of project {project_id}"))
            except NotFound:  # archived meanwhile
                continue
            for row in rows:
                yield m.task_record(row)

    def _row(self, kind: str, id: str) -> dict[str, Any] | None:
        if not str(id).isdigit():
            return None
        try:
            data = self.api.get(f"{_plural(kind)}/{int(id)}", what=f"read {kind} {id}")
        except NotFound:
            return None
        if not isinstance(data, dict) or data.get("id") is None:
            raise ProtocolError(f"read {kind} {id}: WebWork GET /{_plural(kind)}/{id} answered no {kind}")
        return None if data.get("deleted_at") else data

    # -- time entries -------------------------------------------------------------------------

    def _member_names(self, refresh: bool = False) -> dict[str, str]:
        """User id -> member name: the ``members`` setting, else the member's e-mail (read once, and
        once more when an entry names someone not met yet)."""
        with self._lock:
            if self._members is not None and not (refresh and not self._refreshed):
                return self._members
            self._refreshed = self._refreshed or refresh
        names = {}
        for row in self.api.pages("members", what="list members"):
            user = m.ident(row.get("id") or row.get("user_id"))
            if user is not None:
                names[user] = self.member_names.get(user) or m.text(row.get("email")) or _unnamed(user)
        with self._lock:
            self._members = names
        return names

    def _member(self, user_id: Any) -> str | None:
        user = m.ident(user_id)
        if user is None:
            return None
        if user in self.member_names:
            return self.member_names[user]
        names = self._member_names()
        if user not in names:
            names = self._member_names(refresh=True)
        return names.get(user) or _unnamed(user)

    def _list_time(self, since: datetime | None) -> Iterator[Record]:
        today = datetime.now(self.tz).date()
        first, last = walk.window(since, today, self.tz, self.lookback)
        users = set(self._member_names())
        busy: set[tuple[str, str]] | None = None
        if self.use_report:
            busy = set()
            for start, end in walk.chunks(first, last):
                what = f"read the tracked-hours report {start}..{end}"
                data = self.api.get("reports/tracked-hours", {"start_date": start.isoformat(),
                                                              "end_date": end.isoformat()}, what=what)
                busy |= walk.busy_days(data, f"{what}: WebWork GET /reports/tracked-hours")
            users |= {user for user, _ in busy}  # time of people no longer listed as members
        log.info("%s: reading time entries %s..%s of %d member(s)", self.system, first, last, len(users))
        for on in walk.days(first, last):
            for user in sorted(users, key=_id_order):
                if busy is None or (user, on.isoformat()) in busy:
                    yield from self._day(user, on.isoformat())

    def _day(self, user: str, on: str) -> Iterator[Record]:
        what = f"list time entries of user {user} on {on}"
        for row in self.api.pages("time-entries", {"user_id": user, "date": on}, what=what):
            record = m.time_entry_record(row, self.tz, self._member(row.get("user_id") or user))
            if record is not None:
                yield record

    def _get_time(self, id: str) -> Record | None:
        parsed = m.parse_entry_id(id)
        if parsed is None:
            return None
        user, on, start = parsed
        return next((r for r in self._day(user, on) if r.id == id), None)


# -- helpers -------------------------------------------------------------------------------------

def _plural(kind: str) -> str:
    return {"project": "projects", "task": "tasks"}[kind]


def _num(id: str, kind: str) -> int:
    if not str(id).isdigit():
        raise NotFound(f"WebWork: no {kind} with id {id!r}")
    return int(id)


def _unnamed(user: str) -> str:
    """A member WebWork does not name (left, or no e-mail): never a bare number, which another system
    could take for one of its own ids."""
    return f"webwork-user-{user}"


def _id_order(user: str) -> tuple[int, str]:
    return (int(user), "") if user.isdigit() else (0, user)

