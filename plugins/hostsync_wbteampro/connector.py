"""The wbTeamPro connector: projects, tasks (actions), time entries (timelogs) and ticket links.

wbTeamPro lives in the WHMCS database, so its client ids and ticket ids *are* the WHMCS ones:
configure the system with ``shares_ids_with = "<the WHMCS system>"`` and the engine translates
references by identity. Its ``ticket`` kind is "a WHMCS ticket tied to a project":

* ``list`` yields only tied tickets (``ticketxrefs``), as partial stubs whose version follows the
  link; ``get`` reads ``whmcstickets.{id}`` and is ``None`` for an untied ticket;
* ``create`` ties WHMCS ticket ``record.id`` to ``refs["project"]`` or, when that is none, to the
  client's most recently created active project, else to the ``unassigned_project`` setting, else
  it is rejected; ``update`` re-ties when the project changes; ``delete`` unties;
* the ticket's subject and client are read-only here (they are WHMCS's), so a tied ticket never
  looks changed.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime
from typing import Any, Iterator, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hostsync import Connector, Operations, Record, Setting, matching
from hostsync.errors import ConfigError, NotFound, Rejected, Transient
from hostsync.model import PROJECT_STATUSES, TASK_STATUSES

from . import mapping as m
from .client import TeamProClient

#: kind -> (resource, its id field)
RESOURCES = {"project": ("projects", "project_id"), "task": ("actions", "action_id"),
             "time_entry": ("timelogs", "timelog_id")}
SINGULAR = {"projects": "project", "actions": "action", "timelogs": "timelog", "ticketxrefs": "ticketxref"}


class TeamProConnector(Connector):
    name = "wbteampro"
    description = "wbTeamPro (WHMCS addon): projects, tasks, time entries and ticket links."
    default_concurrency = 2
    id_pattern = r"[1-9][0-9]*"  # auto-increment ids: anything else a create answers is not one
    kinds = {
        "project": Operations.of("list", "get", "find", "create", "update", "delete"),
        # no priority: the API reference names no action priority field and the addon publishes no scale
        # for the one its screens show, so a job never clears a priority the other system holds
        "task": Operations.of("list", "get", "find", "create", "update", "delete",
                              fields=("name", "project", "status", "description", "due_on")),
        "time_entry": Operations.of("list", "get", "find", "create", "update", "delete"),
        "ticket": Operations.of("list", "get", "find", "create", "update", "delete",
                                fields=("project", "client", "subject"), read_only=("client", "subject")),
    }
    settings = (
        Setting("url", "url", required=True, help="the WHMCS base URL; the API is {url}/modules/addons/wbteampro/api.php"),
        Setting("username", required=True, help="a WHMCS admin in a role with wbTeamPro access"),
        Setting("password", secret=True, required=True,
                help="that admin's password; sent as its md5. 3 failed logins ban this host's IP"),
        Setting("timezone", "timezone", default="UTC", help="the WHMCS server's time zone (IANA name)"),
        Setting("unassigned_project", "int", help="project id for tickets whose client has no active project"),
        Setting("project_statuses", "table", help="canonical project status -> your wbTeamPro status name"),
        Setting("task_statuses", "table", help="canonical task status -> your wbTeamPro action status name"),
        Setting("members", "table", help="WHMCS admin id -> member name (e-mail or login) for time entries"),
        Setting("page_size", "int", default=50, min=1, max=10000, help="rows per list call"),
    )

    @classmethod
    def validate_settings(cls, options: Mapping[str, Any]) -> None:
        for key, read, write, canonical in (("project_statuses", m.PROJECT_READ, m.PROJECT_WRITE, PROJECT_STATUSES),
                                            ("task_statuses", m.TASK_READ, m.TASK_WRITE, TASK_STATUSES)):
            try:
                m.Vocabulary(read, write, canonical, options.get(key))
            except ValueError as exc:
                raise ConfigError(str(exc), key=key) from None

    def __init__(self, system: str, options: Mapping[str, Any]) -> None:
        super().__init__(system, options)
        try:
            self.tz = ZoneInfo(options.get("timezone") or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"unknown time zone {options.get('timezone')!r}",
                              key=f"systems.{system}.timezone") from None
        try:
            self.project_statuses = m.Vocabulary(m.PROJECT_READ, m.PROJECT_WRITE, PROJECT_STATUSES,
                                                 options.get("project_statuses"))
            self.task_statuses = m.Vocabulary(m.TASK_READ, m.TASK_WRITE, TASK_STATUSES, options.get("task_statuses"))
        except ValueError as exc:
            raise ConfigError(str(exc), key=f"systems.{system}.project_statuses/task_statuses") from None
        self.members = m.Members(options.get("members"))
        self.page_size = int(options.get("page_size") or 50)
        self.api = TeamProClient(options, fetch=self.fetch)
        for value in self.api._secrets:  # the md5 of the password is as good as the password
            self.secret(value, keep=True)
        self._lock = threading.Lock()

    def close(self) -> None:
        self.api.close()

    def check(self) -> None:
        self.api.call("api.resources")

    def stored(self, kind: str, record: Record) -> Record:
        """What wbTeamPro shows after hostsync wrote ``record`` (see the lossy points in :mod:`.mapping`)."""
        if kind not in RESOURCES:
            return record  # ticket links: the project is kept as written (a missing one is picked when written)
        fields = m.stored_fields(kind, record.fields, self.tz, self.project_statuses, self.task_statuses, self.members)
        if fields == record.fields:
            return record
        return Record(kind, record.id, fields, dict(record.refs), record.updated_at, record.version, record.partial)

    # -- reading ------------------------------------------------------------------------------

    def _record(self, kind: str, row: Mapping[str, Any]) -> Record:
        if kind == "project":
            return m.project_record(row, self.tz, self.project_statuses)
        if kind == "task":
            return m.task_record(row, self.tz, self.task_statuses)
        return m.time_entry_record(row, self.tz, self.members)

    def list(self, kind: str, since: datetime | None = None) -> Iterator[Record]:
        if kind == "ticket":
            for xref in self.api.pages("ticketxrefs", limit=self.page_size):
                link = {k: xref.get(k) for k in ("xref_id", "project_id", "ticket_id")}
                yield Record("ticket", m.ident(xref.get("ticket_id")), {},
                             {"project": m.ident(xref.get("project_id"))}, version=_version(link), partial=True)
            return
        resource, _ = self._resource(kind)
        for row in self.api.pages(resource, limit=self.page_size):
            yield self._record(kind, row)

    def get(self, kind: str, id: str) -> Record | None:
        try:
            if kind == "ticket":
                row = self.api.call(_chain("whmcstickets", id), about=f"ticket {id}").get("whmcsticket")
                return m.ticket_record(row) if isinstance(row, Mapping) else None
            resource, _ = self._resource(kind)
            row = self.api.call(_chain(resource, id), about=f"{kind} {id}").get(SINGULAR[resource])
        except NotFound:
            return None
        return self._record(kind, row) if isinstance(row, Mapping) else None

    def find(self, kind: str, key: Mapping[str, Any]) -> list[Record]:
        if kind == "ticket":
            params = {"userid": key["client"]} if key.get("client") else {}
            rows = self.api.pages("whmcstickets", params, limit=self.page_size)
            records = [r for r in (m.ticket_record(row) for row in rows) if r]
        else:
            resource, _ = self._resource(kind)
            ref, param = {"project": ("client", "client_userid"), "task": ("project", "project_id"),
                          "time_entry": ("task", "action_id")}[kind]
            params = {param: key[ref]} if key.get(ref) else {}
            records = [self._record(kind, row) for row in self.api.pages(resource, params, limit=self.page_size)]
        return matching(records, key)

    def _resource(self, kind: str) -> tuple[str, str]:
        if kind not in RESOURCES:
            raise Rejected(f"wbTeamPro does not hold {kind} records")
        return RESOURCES[kind]

    # -- writing ------------------------------------------------------------------------------

    def _params(self, kind: str, record: Record) -> dict[str, Any]:
        if kind == "project":
            return m.project_params(record, self.project_statuses)
        if kind == "task":
            return m.task_params(record, self.task_statuses)
        return m.timelog_params(record, self.tz, self.members)

    def create(self, kind: str, record: Record) -> str:
        if kind == "ticket":
            return self._tie(record)
        resource, id_field = self._resource(kind)
        answer = self.api.call(resource, "post", self._params(kind, record), about=f"new {kind}")
        created = answer.get(SINGULAR[resource]) or {}
        new_id = m.ident(created.get(id_field)) if isinstance(created, Mapping) else None
        if new_id is None:
            raise Transient(f"wbTeamPro POST {resource}: the answer names no {id_field}", may_have_applied=True)
        return new_id

    def validate(self, kind: str, record: Record, op: str = "create") -> list[str]:
        """A ticket link needs the WHMCS ticket id, and a project: its own, else the client's newest
        active one, else ``unassigned_project``. Without a project of its own, a client or that
        setting it certainly fails; with a client, whether it has an active project is only known by
        asking (left to the write)."""
        if kind != "ticket" or op != "create":
            return []
        if not str(record.id or "").isdigit():
            return ["a wbTeamPro ticket link needs the WHMCS ticket id: set shares_ids_with to the WHMCS system"]
        no_client = "client" in record.refs and not record.refs["client"]
        if not record.refs.get("project") and no_client and not self.options.get("unassigned_project"):
            return [f"ticket {record.id} has no project and no client, and unassigned_project is not set"]
        return []

    def update(self, kind: str, id: str, record: Record) -> None:
        if kind == "ticket":
            self._retie(id, record)
            return
        resource, _ = self._resource(kind)
        self.api.call(_chain(resource, id), "put", self._params(kind, record), about=f"{kind} {id}")

    def delete(self, kind: str, id: str) -> None:
        if kind == "ticket":
            xref = self._xref(id)
            self.api.call(f"ticketxrefs.{xref['xref_id']}", "delete", about=f"ticket {id}")
            return
        resource, _ = self._resource(kind)
        self.api.call(_chain(resource, id), "delete", about=f"{kind} {id}")

    # -- ticket links -------------------------------------------------------------------------

    def _xref(self, ticket_id: str) -> dict[str, Any]:
        rows = list(self.api.pages("ticketxrefs", {"ticket_id": ticket_id}, limit=self.page_size))
        if not rows:
            raise NotFound(f"wbTeamPro: ticket {ticket_id} is not tied to a project")
        return rows[0]

    def _tie(self, record: Record) -> str:
        if not str(record.id or "").isdigit():
            raise Rejected("a wbTeamPro ticket link needs the WHMCS ticket id: set shares_ids_with to the "
                           "WHMCS system")
        client = record.refs.get("client") if "client" in record.refs else self._ticket_client(record.id)
        project = record.refs.get("project") or self._default_project(record.id, client)
        self.api.call("ticketxrefs", "post", {"project_id": int(project), "ticket_id": int(record.id)},
                      about=f"ticket {record.id}")
        return str(record.id)

    def _ticket_client(self, ticket_id: str) -> str | None:
        """The WHMCS ticket's client, when the record does not carry it."""
        try:
            row = self.api.call(_chain("whmcstickets", ticket_id), about=f"ticket {ticket_id}").get("whmcsticket")
        except NotFound:
            raise NotFound(f"wbTeamPro: WHMCS ticket {ticket_id} not found") from None
        return m.ident(row.get("userid")) if isinstance(row, Mapping) else None

    def _default_project(self, ticket_id: str, client: str | None) -> str:
        """The client's most recently created active project, else ``unassigned_project``."""
        if client:
            rows = self.api.pages("projects", {"client_userid": client}, limit=self.page_size)
            active = [row for row in rows if self.project_statuses.read(row.get("project_status")) == "active"]
            if active:
                newest = max(active, key=lambda row: (str(row.get("date_created") or ""), m._int(row.get("project_id"))))
                return str(newest["project_id"])
        fallback = self.options.get("unassigned_project")
        if fallback:
            return str(fallback)
        raise Rejected(f"ticket {ticket_id}: client {client or '(none)'} has no active wbTeamPro project and "
                       f"unassigned_project is not set", {"project": "required"})

    def _retie(self, ticket_id: str, record: Record) -> None:
        project = record.refs.get("project")
        if not project:  # the source does not say: keep the link as it is
            self._xref(ticket_id)
            return
        xref = self._xref(ticket_id)
        if str(xref.get("project_id")) != str(project):
            self.api.call(f"ticketxrefs.{xref['xref_id']}", "put", {"project_id": int(project), "action_id": 0},
                          about=f"ticket {ticket_id}")


def _chain(resource: str, id: str) -> str:
    """``resource.<id>``; an id that is not a number names no record."""
    if not str(id).isdigit():
        raise NotFound(f"wbTeamPro: no {resource} with id {id!r}")
    return f"{resource}.{int(id)}"


def _version(row: Mapping[str, Any]) -> str:
    blob = json.dumps(row, sort_keys=True, default=str)
    return hashlib.blake2b(blob.encode("utf-8"), digest_size=12).hexdigest()

