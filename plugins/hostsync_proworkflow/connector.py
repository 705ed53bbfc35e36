"""The ProWorkflow connector: client companies, projects, tasks, time records and invoices.

Reads ask for ``status=all`` (projects, tasks and invoices default to active/unpaid on the vendor
side), for the fields hostsync maps (time records return only totals without them) and, for time,
for a tracked-date range that covers everything (the vendor's default is the last 6 days). With a
``since`` they filter by ``lastmodifiedutcfrom`` (minute precision, floored: the engine has already
subtracted the job's overlap and drops what it has seen), and ``Record.updated_at`` is the vendor's
``lastmodifiedutc``, so the cursor runs on ProWorkflow's clock.

Updates read the record first and send only what differs, compared in canonical terms, so values
ProWorkflow keeps lossily (see :mod:`.mapping`) never overwrite one that already means the same.
:meth:`stored` tells the engine what ProWorkflow keeps of what it writes.

Origin markers live in the account's API field named ``hostsync origin`` for each record type
(``GET /settings/apifields``, read once per run): written on create, read back into
``Record.origin``, searched with the ``apifields`` filter.

Deleting a project: ``DELETE /projects/{id}`` deletes the project's tasks with it, so a project is
deleted only once it has no task left; otherwise the delete is refused (``Rejected``) naming the
tasks, and a task job with mirrored deletes removes them first (the next run then deletes the
project). hostsync never deletes a task it was not asked to. Likewise a task is deleted only while
no time is tracked on it (its time records would go with it).
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import replace
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hostsync import Connector, Operations, Record, Setting, canonical
from hostsync.connector import ORIGIN, Cost
from hostsync.errors import AuthError, ConfigError, ConnectorError, NotFound, Rejected, Transient
from hostsync.model import KINDS, InvalidValue, differs, normalise, normalise_fields, normalise_value, parse_datetime

from . import mapping as m
from .client import DEFAULT_URL, PAGE_SIZE, ProWorkflowClient, created_id, one, rows_of
from .mapping import ORIGIN_FIELD

log = logging.getLogger("hostsync.proworkflow")

CLIENT_FIELDS = ("email", "first_name", "last_name", "company", "phone", "address1", "address2", "city", "state",
                 "postcode", "country")
INVOICE_FIELDS = ("number", "client", "issued_on", "due_on", "paid_on", "status", "lines", "total")

#: Lists come in pages of 500; a client's contact is read on its own where the company has no address,
#: invoices are summary stubs read whole when they changed; markers are searched with the apifields filter.
KINDS_SUPPORTED: dict[str, Operations] = {
    "client": Operations.of("list", "get", "find", "create", "update", "since", fields=CLIENT_FIELDS, origin=True,
                            cost=Cost(page=PAGE_SIZE, details=1)),
    "project": Operations.of("list", "get", "find", "create", "update", "delete", "since", origin=True,
                             cost=Cost(page=PAGE_SIZE)),
    "task": Operations.of("list", "get", "find", "create", "update", "delete", "since", origin=True,
                          cost=Cost(page=PAGE_SIZE)),
    "invoice": Operations.of("list", "get", "find", "create", "update", "since", fields=INVOICE_FIELDS,
                             read_only=("total",), origin=True, cost=Cost(page=PAGE_SIZE, details=1, find=2)),
    # a time record's project is its task's
    "time_entry": Operations.of("list", "get", "find", "create", "update", "since", read_only=("project",),
                                origin=True, cost=Cost(page=PAGE_SIZE)),
}

#: kind -> (path, list key, one-record key, API field type, fields asked for in lists)
RESOURCES = {
    "client": ("companies", "companies", "company", "company",
               "name,email,phone,address,contacts,lastmodified,apifields"),
    "project": ("projects", "projects", "project", "project",
                "title,number,company,status,dates,description,lastmodified,apifields"),
    "task": ("tasks", "tasks", "task", "task",
             "name,project,status,dates,description,priority,lastmodified,apifields"),
    "time_entry": ("time", "timerecords", "timerecord", "time",
                   "billable,contact,dates,lastmodified,notes,project,task,timetracked,apifields"),
    "invoice": ("invoices", "invoices", "invoice", "invoice",
                "number,title,company,status,dates,totals,projectid,lastmodified,apifields"),
}
#: Time records are listed from this date (the vendor's default is the last 6 days).
TRACKED_FROM = "2000-01-01"
#: ``id`` filters are sent in chunks of this many ids.
ID_CHUNK = 100


class ProWorkflowConnector(Connector):
    """ProWorkflow's classic API ("v3", ``https://api.proworkflow.net``)."""

    name = "proworkflow"
    description = "ProWorkflow (classic API): client companies, projects, tasks, time records, invoices"
    kinds = KINDS_SUPPORTED
    #: 16 calls a second with a burst of 16: at most 496 calls in any 30 s (the vendor allows 500
    #: per API key), 96 % of the allowance.
    default_rate_limit = "960/min"
    default_concurrency = 4
    #: ProWorkflow numbers every record from 1 (``details[0].id`` of a 201)
    id_pattern = r"[1-9][0-9]*"
    settings = (
        Setting("url", "url", default=DEFAULT_URL, help="the API root (the classic API; https only)"),
        Setting("apikey", required=True, secret=True, help="the account's API key (Settings > API, or GET "
                "/login with the account URL); sent in the apikey header"),
        Setting("username", required=True, help="a staff login's user name or e-mail (HTTP Basic)"),
        Setting("password", required=True, secret=True, help="that login's password (HTTP Basic)"),
        Setting("timezone", default="UTC", help="the account's time zone (IANA name): time records' dates and "
                "start times are on its clock"),
    )

    def __init__(self, system: str, options: Mapping[str, Any]) -> None:
        super().__init__(system, options)
        try:
            self.tz = ZoneInfo(str(options.get("timezone") or "UTC"))
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"unknown time zone {options.get('timezone')!r} (an IANA name such as "
                              "Pacific/Auckland)", key=f"systems.{system}.timezone") from None
        self.api = ProWorkflowClient(options, on_pause=self.pause, fetch=self.fetch)
        self._lock = threading.Lock()
        self._loading = threading.Lock()
        self._origin_fields: dict[str, str] | None = None
        self._members: dict[str, str] | None = None
        self._warned: set[str] = set()

    # -- seam -----------------------------------------------------------------------------------

    def check(self) -> None:
        """``GET /me`` needs both the API key and the login; a login that is not staff cannot read
        the companies, projects, time and invoices of the whole account."""
        body = self.api.get("me", what=f"check {self.system}")
        me = one(body, "contact", "ProWorkflow GET /me")
        if str(me.get("type") or "staff").lower() != "staff":
            raise AuthError(f"check {self.system}: the login is a {me.get('type')} contact; hostsync needs a staff "
                            "login (clients and contractors see only their own records)")
        missing = sorted({RESOURCES[kind][3] for kind in self.kinds if self._origin_field(kind) is None})
        if missing:
            log.warning("%s: no API field %r for ProWorkflow %s records: hostsync cannot mark the records it "
                        "creates there with their origin", self.system, ORIGIN_FIELD, ", ".join(missing))

    def close(self) -> None:
        self.api.close()

    def stored(self, kind: str, record: Record) -> Record:
        """``record`` as ProWorkflow reads it back once written (the lossy points of :mod:`.mapping`)."""
        fields = m.stored_fields(kind, record.fields, self.tz)
        return record if fields == record.fields else replace(record, fields=fields, refs=dict(record.refs))

    def list(self, kind: str, since: datetime | None = None) -> Iterator[Record]:
        if kind == "client":
            return self._list_clients(since)
        params = self._since(since)
        if kind == "invoice":
            return (m.invoice_stub(row) for row in self._rows("invoice", params))
        return (self._record(kind, row) for row in self._rows(kind, params))

    def get(self, kind: str, id: str) -> Record | None:
        path, _, key, _, _ = self._resource(kind)
        if not str(id).isdigit():
            return None
        try:
            row = one(self.api.get(f"{path}/{id}", what=f"read {kind} {id}"), key, f"ProWorkflow GET /{path}/{{id}}")
        except NotFound:
            return None
        if kind == "client":
            if str(row.get("type") or "client") != "client":
                return None
            return self._client(row)
        return self._record(kind, row)

    def find(self, kind: str, key: Mapping[str, Any]) -> list[Record]:
        key = dict(key)
        self._resource(kind)
        if key.get(ORIGIN):
            return self._find_origin(kind, str(key[ORIGIN]))
        finder: Callable[[dict[str, Any]], list[Record]] = getattr(self, f"_find_{kind}")
        return _matching(finder(key), key)

    def create(self, kind: str, record: Record) -> str:
        self._resource(kind)
        return getattr(self, f"_create_{kind}")(canonical(record))

    def validate(self, kind: str, record: Record, op: str = "create") -> list[str]:
        """What the creates refuse before calling ProWorkflow (each also raises it), and an invoice
        status ProWorkflow has no word for. A company without a contact or a project for an invoice
        is only known by asking: left to the write."""
        fields, refs = record.fields, record.refs
        if kind == "invoice" and (fields.get("status") or "unpaid") not in m.INVOICE_STATUS_OUT \
                and (op == "create" or "status" in fields):
            return [f"ProWorkflow invoices are paid or unpaid; a {fields.get('status')} invoice cannot be written"]
        if op != "create":
            return ["a ProWorkflow time record needs a task"] if kind == "time_entry" and "task" in refs \
                and not refs["task"] else []
        if kind == "client":
            body = m.company_body(fields, [k for k in m.COMPANY if k in fields or k == "company"])
            return [] if body.get("name") else ["a ProWorkflow company needs a name (company, person or e-mail)"]
        if kind == "project":
            body = m.body_of(record, m.PROJECT_OUT, {"client": "companyid"})
            return [] if body.get("title") else ["a ProWorkflow project needs a title"]
        if kind == "task":
            body = m.body_of(record, m.TASK_OUT, {"project": "projectid"})
            return [text for text, ok in (("a ProWorkflow task needs its project", body.get("projectid")),
                                          ("a ProWorkflow task needs a name", body.get("name"))) if not ok]
        if kind == "time_entry":
            return [text for text, ok in (("a ProWorkflow time record needs a task", refs.get("task")),
                                          ("a ProWorkflow time record needs its date (started_at)",
                                           fields.get("started_at"))) if not ok]
        if kind == "invoice":
            return [text for text, ok in (("a ProWorkflow invoice needs its client company", refs.get("client")),
                                          ("a ProWorkflow invoice needs at least one line", fields.get("lines")))
                    if not ok]
        return []

    def update(self, kind: str, id: str, record: Record) -> None:
        self._resource(kind)
        getattr(self, f"_update_{kind}")(str(id), canonical(record))

    def delete(self, kind: str, id: str) -> None:
        if kind == "project":
            self._delete_project(str(id))
        elif kind == "task":
            self._delete_task(str(id))
        else:
            raise Rejected(f"{self.system}: the ProWorkflow connector does not delete {kind} records")

    # -- common ---------------------------------------------------------------------------------

    def _resource(self, kind: str) -> tuple[str, str, str, str, str]:
        if kind not in RESOURCES:
            raise Rejected(f"{self.system}: ProWorkflow holds no {kind} records")
        return RESOURCES[kind]

    def _since(self, since: datetime | None) -> dict[str, Any]:
        return {"lastmodifiedutcfrom": m.minute(since)} if since else {}

    def _list_params(self, kind: str) -> dict[str, Any]:
        _, _, _, _, fields = self._resource(kind)
        params: dict[str, Any] = {"fields": fields, "sortby": "id"}
        if kind in ("project", "task", "invoice"):
            params["status"] = "all"
        if kind in ("task", "time_entry"):
            params["generaltasks"] = "false"  # tasks outside projects are not mirrored
        if kind == "time_entry":
            params.update(trackedfrom=TRACKED_FROM, trackedto=m.days(m.today(self.tz), 366))
        if kind == "client":
            params.update(type="client", contactdetails="true")
        return params

    def _rows(self, kind: str, params: Mapping[str, Any], path: str | None = None) -> Iterator[dict[str, Any]]:
        resource, key, _, _, _ = self._resource(kind)
        return self.api.pages(path or resource, key, {**self._list_params(kind), **params}, what=f"list {kind}")

    def _record(self, kind: str, row: Mapping[str, Any]) -> Record:
        origin = self._origin_id(kind, row)
        if kind == "project":
            return m.project_record(row, origin)
        if kind == "task":
            return m.task_record(row, origin)
        if kind == "time_entry":
            return m.time_record(row, self.tz, self._member_names(), origin)
        if kind == "invoice":
            return m.invoice_record(row, origin)
        return self._client(row)

    def _writes(self, kind: str, record: Record) -> set[str]:
        writable = {name.split(".", 1)[0] for name in self.kinds[kind].writable(kind)}
        return {name for name in (*record.fields, *record.refs) if name in writable}

    def _differs(self, kind: str, current: Record, wanted: Record) -> set[str]:
        """The written fields and refs whose values differ from ``current``, in canonical terms."""
        return {name for name in self._writes(kind, wanted) if differs(kind, name, current, wanted)}

    def _current(self, kind: str, id: str, what: str) -> Record:
        record = self.get(kind, id)
        if record is None:
            raise NotFound(f"{what}: no such {kind} in ProWorkflow")
        return _canonical(record)

    def _changes(self, kind: str, current: Record, record: Record) -> set[str]:
        """What differs between ``current`` and what ProWorkflow would keep of ``record``."""
        return self._differs(kind, current, self.stored(kind, record))

    def _must_exist(self, kind: str, id: str) -> None:
        self._current(kind, id, f"{kind} {id}")

    # -- origin markers -------------------------------------------------------------------------

    def _origin_field(self, kind: str) -> str | None:
        """The id of the ``hostsync origin`` API field for ``kind``'s records (read once per run)."""
        return self._once("_origin_fields", self._read_origin_fields).get(RESOURCES[kind][3])

    def _origin_id(self, kind: str, row: Mapping[str, Any]) -> str | None:
        """The origin field's id where a row's API fields carry no names (else none is needed: the
        field is found by its name, without reading the account's API fields)."""
        items = m.items(row.get("apifields"))
        if not items or any("name" in item for item in items):
            return None
        return self._origin_field(kind)

    def _read_origin_fields(self) -> dict[str, str]:
        body = self.api.get("settings/apifields", what="read the API fields")
        known: dict[str, str] = {}
        for row in rows_of(body, "apifields", "ProWorkflow GET /settings/apifields"):
            if str(row.get("name") or "").strip().casefold() == ORIGIN_FIELD:
                known.setdefault(str(row.get("type") or "").lower(), str(row["id"]))
        return known

    def _once(self, name: str, load: Callable[[], Any]) -> Any:
        """A value read once per run (the connector lives for one run). Read outside the lock: a
        listing's read waits for the core's gate, whose slots other threads may hold while they
        wait here (two threads may then both read it: the same value)."""
        with self._loading:
            value = getattr(self, name)
        if value is None:
            value = load()
            with self._loading:
                if getattr(self, name) is None:
                    setattr(self, name, value)
                value = getattr(self, name)
        return value

    def _origin_body(self, kind: str, record: Record) -> dict[str, Any]:
        if not record.origin:
            return {}
        field = self._origin_field(kind)
        if field is None:
            self._warn_once(kind, f"{self.system}: no API field {ORIGIN_FIELD!r} for ProWorkflow "
                            f"{RESOURCES[kind][3]} records: the origin of new {kind} records is not kept")
            return {}
        return {"apifields": [{"id": int(field), "value": record.origin}]}

    def _find_origin(self, kind: str, marker: str) -> list[Record]:
        field = self._origin_field(kind)
        if field is None:
            raise Rejected(f"{self.system}: cannot look {kind} records up by origin: the account has no API field "
                           f"{ORIGIN_FIELD!r} for {RESOURCES[kind][3]} records")
        params: dict[str, Any] = {"apifields": f"{field},{marker}"} if "||" not in marker else {}
        if kind == "client":
            records = self._list_clients(None, params)
        else:
            records = (self._record(kind, row) for row in self._rows(kind, params))
        found = [r for r in records if r.origin == marker]
        if kind == "invoice":
            return [r for r in (self.get("invoice", r.id or "") for r in found) if r is not None]
        return found

    def _warn_once(self, key: str, message: str) -> None:
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        log.warning("%s", message)

    # -- clients (companies of type client) -------------------------------------------------------

    def _list_clients(self, since: datetime | None, params: Mapping[str, Any] | None = None) -> Iterator[Record]:
        if since is None:
            for row in self._rows("client", dict(params or {})):
                yield from self._listed_client(row)
            return
        # a client's names, e-mail and phone may be its contact's, whose edits do not touch the company
        seen: set[str] = set()
        for row in self._rows("client", self._since(since)):
            seen.add(str(row["id"]))
            yield from self._listed_client(row)
        contacts = self.api.pages("contacts", "contacts", {"type": "client", "fields": "company", "sortby": "id",
                                                           **self._since(since)}, what="list client contacts")
        companies = sorted({str(c.get("companyid")) for c in contacts if m.ident(c.get("companyid"))} - seen, key=int)
        for start in range(0, len(companies), ID_CHUNK):
            for row in self._rows("client", {"id": ",".join(companies[start:start + ID_CHUNK])}):
                yield from self._listed_client(row)

    def _listed_client(self, row: Mapping[str, Any]) -> Iterator[Record]:
        """A listed company as a client; reading its contact (a request of its own) fails it alone."""
        record = self.detail("client", str(row["id"]), functools.partial(self._client, row))
        if record is not None:
            yield record

    def _client(self, row: Mapping[str, Any]) -> Record:
        """A company row as a client; its first contact fills in what the company lacks (the
        contact's address is read only for a company without one)."""
        fallback = None
        contact = m.primary_contact(m.items(row.get("contacts")))
        if not m.has_address(row) and contact:
            full = self.api.get(f"contacts/{contact['id']}", what=f"read client {row['id']}").get("contact")
            fallback = {**contact, **(full if isinstance(full, Mapping) else {})}
        return m.client_record(row, self._origin_id("client", row), fallback)

    def _company_row(self, id: str, what: str) -> dict[str, Any]:
        try:
            row = one(self.api.get(f"companies/{id}", what=what), "company", "ProWorkflow GET /companies/{id}")
        except NotFound:
            raise NotFound(f"{what}: no such company in ProWorkflow") from None
        if str(row.get("type") or "client") != "client":
            raise NotFound(f"{what}: company {id} is not a client company")
        return row

    def _find_client(self, key: dict[str, Any]) -> list[Record]:
        if key.get("email"):
            email = str(key["email"]).strip()
            found = {r.id: r for r in self._list_clients(None, {"searchemail": email})}
            contacts = self.api.pages("contacts", "contacts", {"type": "client", "fields": "company,email",
                                                               "searchemail": email, "sortby": "id"},
                                      what="find client")
            companies = sorted({str(c["companyid"]) for c in contacts if m.ident(c.get("companyid"))} - set(found),
                               key=int)
            for start in range(0, len(companies), ID_CHUNK):
                ids = ",".join(companies[start:start + ID_CHUNK])
                found.update({r.id: r for r in self._list_clients(None, {"id": ids})})
            return list(found.values())
        if key.get("company"):
            return list(self._list_clients(None, {"searchname": str(key["company"]).strip()}))
        return list(self._list_clients(None))

    def _create_client(self, record: Record) -> str:
        fields = record.fields
        body = {"type": "client", **m.company_body(fields, [k for k in m.COMPANY if k in fields or k == "company"]),
                **self._origin_body("client", record)}
        if not body.get("name"):
            raise Rejected("create client: a ProWorkflow company needs a name (company, person or e-mail)",
                           {"company": "required"})
        id = created_id(self.api.post("companies", body, what="create client"), "create client: POST /companies")
        try:
            self._add_contact(id, fields, "create client")
        except ConnectorError as exc:
            raise Transient(f"create client: company {id} added but not its contact ({exc})",
                            may_have_applied=True) from exc
        return id

    def _add_contact(self, company: str, fields: Mapping[str, Any], what: str) -> None:
        """The company's contact for the person's names (ProWorkflow needs both)."""
        if not (fields.get("first_name") and fields.get("last_name")):
            return
        contact = {"firstname": fields["first_name"], "lastname": fields["last_name"]}
        if fields.get("email"):
            contact["email"] = fields["email"]
        if fields.get("phone"):
            contact["workphone"] = fields["phone"]
        self.api.post(f"companies/{company}/contacts", contact, what=what)

    def _update_client(self, id: str, record: Record) -> None:
        what = f"update client {id}"
        row = self._company_row(id, what)
        changed = self._changes("client", _canonical(self._client(row)), record)
        body = m.company_body(record.fields, changed)
        if body:
            self.api.put(f"companies/{id}", body, what=what)
        if changed & {"first_name", "last_name"}:
            contact = m.primary_contact(m.items(row.get("contacts")))
            # a name not given stays as the contact has it (an update leaves absent fields alone)
            names = {"first_name": (contact or {}).get("firstname"), "last_name": (contact or {}).get("lastname")}
            names.update({k: v for k, v in record.fields.items() if k in names})
            if not (names["first_name"] and names["last_name"]):
                return
            if contact is None:
                self._add_contact(id, {**record.fields, **names}, what)
            else:
                self.api.put(f"contacts/{contact['id']}", {"firstname": names["first_name"],
                                                           "lastname": names["last_name"]}, what=what)

    # -- projects -------------------------------------------------------------------------------

    def _find_project(self, key: dict[str, Any]) -> list[Record]:
        params = {"searchtitle": str(key["name"]).strip()} if key.get("name") else {}
        if key.get("client"):
            if not str(key["client"]).isdigit():
                return []
            try:
                rows = list(self._rows("project", params, path=f"companies/{key['client']}/projects"))
            except NotFound:
                return []
        else:
            rows = list(self._rows("project", params))
        return [self._record("project", row) for row in rows]

    def _create_project(self, record: Record) -> str:
        fields = record.fields
        body = {**m.body_of(record, m.PROJECT_OUT, {"client": "companyid"}), **self._origin_body("project", record)}
        if not body.get("title"):
            raise Rejected("create project: a ProWorkflow project needs a title", {"name": "required"})
        if not body.get("companyid"):
            body.pop("companyid", None)  # an internal project
        if m.PROJECT_STATUS_OUT.get(fields.get("status") or "active") == "complete":
            body["completedate"] = fields.get("due_on") or m.today(self.tz)
        return created_id(self.api.post("projects", body, what="create project"), "create project: POST /projects")

    def _update_project(self, id: str, record: Record) -> None:
        self._update_work("project", "projects", id, record, m.PROJECT_OUT, {"client": "companyid"},
                          m.PROJECT_STATUS_OUT)

    def _update_work(self, kind: str, path: str, id: str, record: Record, names: Mapping[str, str],
                     refs: Mapping[str, str], statuses: Mapping[str, str]) -> None:
        """Update a project or task: the fields that differ in one PUT, a status change through the
        ``complete``/``reactivate`` call."""
        what = f"update {kind} {id}"
        current = self._current(kind, id, what)
        changed = self._changes(kind, current, record)
        fields = {k: v for k, v in record.fields.items() if k in changed}
        body = m.body_of(Record(kind, id, fields, {k: v for k, v in record.refs.items() if k in changed}), names, refs)
        if kind == "task":
            body.update(m.priority_body(fields))
        if body:
            self.api.put(f"{path}/{id}", body, what=what)
        wanted = statuses.get(record.fields.get("status") or "")
        if "status" in changed and wanted and wanted != statuses.get(current.fields.get("status") or "", "active"):
            self.api.put(f"{path}/{id}/{'complete' if wanted == 'complete' else 'reactivate'}", what=what)

    def _delete_project(self, id: str) -> None:
        what = f"delete project {id}"
        self._must_exist("project", id)
        tasks = list(self.api.pages(f"projects/{id}/tasks", "tasks", {"status": "all", "fields": "name",
                                                                      "sortby": "id"}, what=what))
        _refuse_cascade(what, "project", "task", [f"#{t['id']} {t.get('name') or ''}".strip() for t in tasks],
                        "delete or move them first, or mirror task deletes")
        self.api.delete(f"projects/{id}", what=what)

    def _delete_task(self, id: str) -> None:
        """Deleting a task deletes the time tracked on it: a task with time is not deleted."""
        what = f"delete task {id}"
        self._must_exist("task", id)
        time = list(self._rows("time_entry", {"taskid": id}))
        _refuse_cascade(what, "task", "time record", [f"#{r['id']} {r.get('date') or ''}".strip() for r in time],
                        "tracked time is billing data: move or delete it in ProWorkflow first")
        self.api.delete(f"tasks/{id}", what=what)

    # -- tasks ----------------------------------------------------------------------------------

    def _find_task(self, key: dict[str, Any]) -> list[Record]:
        params: dict[str, Any] = {"searchname": str(key["name"]).strip()} if key.get("name") else {}
        if key.get("project"):
            if not str(key["project"]).isdigit():
                return []
            params["projectid"] = key["project"]
        return [self._record("task", row) for row in self._rows("task", params)]

    def _create_task(self, record: Record) -> str:
        fields = record.fields
        body = {**m.body_of(record, m.TASK_OUT, {"project": "projectid"}), **m.priority_body(fields),
                **self._origin_body("task", record)}
        if not body.get("projectid"):
            raise Rejected("create task: a ProWorkflow task needs its project", {"project": "required"})
        if not body.get("name"):
            raise Rejected("create task: a ProWorkflow task needs a name", {"name": "required"})
        id = created_id(self.api.post("tasks", body, what="create task"), "create task: POST /tasks")
        if m.TASK_STATUS_OUT.get(fields.get("status") or "open") == "complete":
            try:
                self.api.put(f"tasks/{id}/complete", what=f"create task {id}")
            except ConnectorError as exc:
                raise Transient(f"create task: task {id} added but not marked complete ({exc})",
                                may_have_applied=True) from exc
        return id

    def _update_task(self, id: str, record: Record) -> None:
        self._update_work("task", "tasks", id, record, m.TASK_OUT, {"project": "projectid"}, m.TASK_STATUS_OUT)

    # -- time records ---------------------------------------------------------------------------

    def _member_names(self) -> dict[str, str]:
        """Contact id -> the member name time records carry (e-mail, else the name), read once per run."""
        def load() -> dict[str, str]:
            rows = self.api.pages("contacts", "contacts", {"fields": "name,email", "sortby": "id"},
                                  what="read contacts")
            return {str(r["id"]): m.text(r.get("email")) or m.text(r.get("name")) or str(r["id"]) for r in rows}
        return self._once("_members", load)

    def _contact_of(self, member: Any, what: str) -> int:
        name = str(member or "").strip().casefold()
        for contact, known in self._member_names().items():
            if known.casefold() == name:
                return int(contact)
        raise Rejected(f"{what}: member {member!r} is no ProWorkflow contact (matched by e-mail or name)",
                       {"member": "unknown"})

    def _time_body(self, record: Record, what: str) -> dict[str, Any]:
        body = m.time_body(record, self.tz)
        if "member" in record.fields:
            body["contactid"] = self._contact_of(record.fields["member"], what)
        return body

    def _find_time_entry(self, key: dict[str, Any]) -> list[Record]:
        params: dict[str, Any] = {}
        if key.get("task"):
            if not str(key["task"]).isdigit():
                return []
            params["taskid"] = key["task"]
        if key.get("started_at"):
            local = parse_datetime(key["started_at"]).astimezone(self.tz).date().isoformat()  # type: ignore[union-attr]
            params.update(trackedfrom=m.days(local, -1), trackedto=m.days(local, 1))
        return [self._record("time_entry", row) for row in self._rows("time_entry", params)]

    def _create_time_entry(self, record: Record) -> str:
        what = "create time entry"
        if not record.refs.get("task"):
            raise Rejected(f"{what}: a ProWorkflow time record needs a task (time entries without one cannot be "
                           "written)", {"task": "required"})
        if not record.fields.get("started_at"):
            raise Rejected(f"{what}: a ProWorkflow time record needs its date (started_at)", {"started_at": "required"})
        body = {**self._time_body(record, what), **self._origin_body("time_entry", record)}
        return created_id(self.api.post("time", body, what=what), f"{what}: POST /time")

    def _update_time_entry(self, id: str, record: Record) -> None:
        what = f"update time entry {id}"
        if "task" in record.refs and not record.refs["task"]:
            raise Rejected(f"{what}: a ProWorkflow time record needs a task", {"task": "required"})
        changed = self._changes("time_entry", self._current("time_entry", id, what), record)
        body = self._time_body(Record("time_entry", id, {k: v for k, v in record.fields.items() if k in changed},
                                      {k: v for k, v in record.refs.items() if k in changed}), what)
        if body:
            self.api.put(f"time/{id}", body, what=what)

    # -- invoices -------------------------------------------------------------------------------

    def _find_invoice(self, key: dict[str, Any]) -> list[Record]:
        params: dict[str, Any] = {}
        if key.get("number"):
            params["searchnumber"] = str(key["number"]).strip()
        if key.get("client"):
            if not str(key["client"]).isdigit():
                return []
            params["companyid"] = key["client"]
        rows = list(self._rows("invoice", params))
        found = []
        for row in rows:  # the list rows carry no lines
            record = self.get("invoice", str(row["id"]))
            if record is not None:
                found.append(record)
        return found

    def _invoice_row(self, id: str, what: str) -> dict[str, Any]:
        try:
            return one(self.api.get(f"invoices/{id}", what=what), "invoice", "ProWorkflow GET /invoices/{id}")
        except NotFound:
            raise NotFound(f"{what}: no such invoice in ProWorkflow") from None

    def _create_invoice(self, record: Record) -> str:
        what = "create invoice"
        fields, company = record.fields, record.refs.get("client")
        status = fields.get("status") or "unpaid"
        if status not in m.INVOICE_STATUS_OUT:
            raise Rejected(f"{what}: ProWorkflow invoices are paid or unpaid; a {status} invoice cannot be written",
                           {"status": status})
        if not company:
            raise Rejected(f"{what}: a ProWorkflow invoice needs its client company", {"client": "required"})
        lines = [m.line_body(line) for line in fields.get("lines") or []]
        if not lines:
            raise Rejected(f"{what}: a ProWorkflow invoice needs at least one line", {"lines": "required"})
        body: dict[str, Any] = {"companyid": int(company), "contactid": self._invoice_contact(company, what),
                                "projectid": self._invoice_project(company, what),
                                "title": f"Invoice {fields.get('number') or ''}".strip(), "lines": lines,
                                "number": fields.get("number") or "auto",
                                **m.invoice_body({k: v for k, v in fields.items() if k != "paid_on"}),
                                **self._origin_body("invoice", record)}
        id = created_id(self.api.post("invoices", body, what=what), f"{what}: POST /invoices")
        if m.INVOICE_STATUS_OUT[status] == "paid":
            try:
                self.api.put(f"invoices/{id}", {"status": "paid", **m.invoice_body(
                    {"paid_on": fields.get("paid_on")})}, what=f"{what} {id}")
            except ConnectorError as exc:
                raise Transient(f"{what}: invoice {id} added but not marked paid ({exc})", may_have_applied=True) from exc
        return id

    def _invoice_contact(self, company: str, what: str) -> int:
        rows = self.api.pages(f"companies/{company}/contacts", "contacts", {"fields": "name", "sortby": "id"},
                              what=what)
        contact = m.primary_contact(rows)
        if contact is None:
            raise Rejected(f"{what}: company {company} has no contact to address the invoice to", {"client": "no contact"})
        return int(contact["id"])

    def _invoice_project(self, company: str, what: str) -> int:
        """ProWorkflow invoices belong to a project: the company's newest one."""
        body = self.api.get(f"companies/{company}/projects", {"status": "all", "fields": "title", "sortby": "id",
                                                              "sortorder": "desc", "pagenumber": 1, "pagesize": 1},
                            what=what)
        rows = rows_of(body, "projects", "ProWorkflow GET /companies/{id}/projects")
        if not rows:
            raise Rejected(f"{what}: ProWorkflow invoices belong to a project and company {company} has none",
                           {"client": "no project"})
        return int(rows[0]["id"])

    def _update_invoice(self, id: str, record: Record) -> None:
        what = f"update invoice {id}"
        row = self._invoice_row(id, what)
        changed = self._changes("invoice", _canonical(m.invoice_record(row)), record)
        fields = record.fields
        if "status" in changed and fields.get("status") not in m.INVOICE_STATUS_OUT:
            raise Rejected(f"{what}: ProWorkflow invoices are paid or unpaid; it cannot be made {fields.get('status')}",
                           {"status": str(fields.get("status"))})
        body = m.invoice_body({k: fields.get(k) for k in changed if k in ("number", "issued_on", "due_on", "paid_on")})
        if "status" in changed and fields.get("status"):
            body["status"] = m.INVOICE_STATUS_OUT[fields["status"]]
        if "client" in changed and record.refs.get("client"):
            body["companyid"] = int(record.refs["client"])  # type: ignore[arg-type]
        if "lines" in changed:  # a PUT with lines replaces all of them: send every one, headings kept
            spec = KINDS["invoice"].field("lines")
            body["lines"] = m.merged_lines(row.get("lines") or [], fields.get("lines") or [],
                                           lambda vendor, line: _same_line(spec, vendor, line))
        if body:
            self.api.put(f"invoices/{id}", body, what=what)


def _refuse_cascade(what: str, kind: str, child: str, children: list[str], advice: str) -> None:
    """Refuse a delete that ProWorkflow would carry on to ``children`` hostsync was not asked to delete."""
    if children:
        more = f" and {len(children) - 5} more" if len(children) > 5 else ""
        raise Rejected(f"{what}: ProWorkflow would delete its {len(children)} {child}(s) with it "
                       f"({', '.join(children[:5])}{more}); hostsync deletes a {kind} only once it has none ({advice})",
                       {f"{child}s": str(len(children))})


def _canonical(record: Record) -> Record:
    """``record`` normalised; as read where a value cannot be (it then differs from any wanted value)."""
    try:
        return normalise(record)
    except InvalidValue:
        return record


def _same_line(spec: Any, vendor: Mapping[str, Any], line: Mapping[str, Any]) -> bool:
    read = m.line_record(vendor)
    try:
        return read is not None and normalise_value(spec, [read]) == normalise_value(spec, [line])
    except InvalidValue:
        return False


def _matching(records: Iterable[Record], key: Mapping[str, Any]) -> list[Record]:
    """The records equal to ``key`` (canonical fields after normalisation, references as ids); a
    record that cannot be normalised matches nothing (the engine could not adopt it either)."""
    out = []
    for record in records:
        try:
            have = normalise(Record(record.kind, record.id, dict(record.fields), dict(record.refs)))
            want = normalise_fields(record.kind, {k: v for k, v in key.items() if k in record.fields})
        except InvalidValue:
            continue
        refs = {k: str(v) for k, v in key.items() if k in record.refs and v not in (None, "")}
        if all(have.fields[k] == v for k, v in want.items()) and all(have.refs[k] == v for k, v in refs.items()):
            out.append(record)
    return out
