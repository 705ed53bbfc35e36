"""The WHMCS connector: clients, tickets, invoices and domains through the External API.

Change signals (WHMCS has no modified-since filter):

* clients declare ``since``: an incremental read pages ``GetActivityLog`` from the newest entry back
  to ``since`` (usually one call), collects the clients those entries are about and fetches only
  those with ``GetClientsDetails``; ``updated_at`` is the newest entry's time on the WHMCS clock
  (the latest logged activity about the client: an upper bound of its last change). If the log
  ends before ``since`` (trimmed), the read falls back to a full scan. A full scan is one
  ``GetActivityLog`` page (to stamp the clients it names, so the engine gets a cursor), ``GetClients``
  pages, and one ``GetClientsDetails`` per client, since list rows carry no address. Where
  ``GetActivityLog`` is refused (an API role without it) or unknown, every read is a full scan
  (warned once per run) and clients carry no ``updated_at``;
* tickets and invoices are listed as partial stubs whose version hashes the ``GetTickets`` /
  ``GetInvoices`` row (``lastreply``, ``updated_at``, status, totals...): the engine fetches with
  ``GetTicket`` / ``GetInvoice`` only those whose row changed;
* domain rows are complete, so domains list as full records.
"""

from __future__ import annotations

import functools
import logging
import secrets
import threading
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterator, Mapping

from hostsync import ORIGIN, Connector, Operations, Record, Setting, matches, matching
from hostsync.connector import Cost, Memo, OriginIndex
from hostsync.errors import AuthError, ConfigError, ConnectorError, NotFound, Rejected, Transient
from hostsync.model import KINDS, normalise, normalise_value

from . import mapping as m
from .client import API_ROLES, ActionRefused, WhmcsClient

log = logging.getLogger("hostsync.whmcs")

TICKET_FIELDS = ("subject", "client", "status", "priority", "department", "messages", "created_at")

#: The API actions each operation on each kind calls (what ``check`` proves the credentials may call).
ACTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "client": {"list": ("GetClients", "GetClientsDetails", "GetActivityLog"), "since": ("GetActivityLog",),
               "get": ("GetClientsDetails",), "find": ("GetClientsDetails", "GetClients"),
               "create": ("AddClient", "UpdateClient"), "update": ("UpdateClient",), "delete": ("UpdateClient",)},
    "ticket": {"list": ("GetTickets",), "get": ("GetTicket",), "find": ("GetTickets", "GetTicket"),
               "create": ("GetSupportDepartments", "OpenTicket", "AddTicketReply", "UpdateTicket", "GetClientsDetails"),
               "update": ("GetTicket", "GetSupportDepartments", "AddTicketReply", "UpdateTicket", "GetClientsDetails")},
    "invoice": {"list": ("GetInvoices",), "get": ("GetInvoice", "GetClientsDetails"), "find": ("GetInvoices", "GetInvoice"),
                "create": ("GetInvoices", "CreateInvoice", "UpdateInvoice"), "update": ("GetInvoice", "UpdateInvoice")},
    "domain": {"list": ("GetClientsDomains",), "get": ("GetClientsDomains",), "find": ("GetClientsDomains",),
               "create": ("GetPaymentMethods", "AddOrder", "UpdateClientDomain"),
               "update": ("GetClientsDomains", "UpdateClientDomain")},
}
#: Actions a read can do without (at a cost), so check() reports them without failing.
OPTIONAL = {"GetActivityLog": "clients are read by a full scan on every run"}
#: Parameters that make each action harmless: lists read one row; the others name id 0, which no
#: WHMCS record has, so an action the role allows answers "... Not Found" and changes nothing.
#: (WHMCS checks the API role before it reads the parameters.)
PROBES: dict[str, dict[str, Any]] = {
    **dict.fromkeys(("GetClients", "GetTickets", "GetInvoices", "GetClientsDomains", "GetActivityLog"),
                    {"limitstart": 0, "limitnum": 1}),
    "GetClientsDetails": {"clientid": 0}, "UpdateClient": {"clientid": 0}, "GetTicket": {"ticketid": 0},
    "AddTicketReply": {"ticketid": 0}, "UpdateTicket": {"ticketid": 0}, "OpenTicket": {"deptid": 0},
    "GetInvoice": {"invoiceid": 0}, "UpdateInvoice": {"invoiceid": 0}, "CreateInvoice": {"userid": 0},
    "AddOrder": {"clientid": 0}, "UpdateClientDomain": {"domainid": 0},
    "GetSupportDepartments": {}, "GetPaymentMethods": {},
}


class WhmcsConnector(Connector):
    name = "whmcs"
    description = "WHMCS billing: clients, tickets, invoices and domains over the External API."
    id_pattern = r"[1-9][0-9]*"  # auto-increment ids: anything else a create answers is not one
    kinds = {
        # the origin marker lives in the client custom field origin_field (see operations()); list rows
        # carry no address, so each client is read with GetClientsDetails (as find by e-mail does)
        "client": Operations.of("list", "get", "find", "create", "update", "delete", "since", origin=True,
                                cost=Cost(page=100, details=1, find=1, find_origin=None)),
        "ticket": Operations.of("list", "get", "find", "create", "update", fields=TICKET_FIELDS,
                                cost=Cost(page=100, details=1, find=2)),
        # the total is set through the tax rate; stored() says what WHMCS computes where no rate fits
        "invoice": Operations.of("list", "get", "find", "create", "update", read_only=("number", "currency"),
                                 cost=Cost(page=100, details=1, find=2)),
        "domain": Operations.of("list", "get", "find", "create", "update", cost=Cost(page=100, find=1)),
    }
    settings = (
        Setting("url", "url", required=True, help="WHMCS base URL; the API is {url}/includes/api.php"),
        Setting("identifier", help="API credential identifier (Setup > Staff Management > API Credentials)"),
        Setting("secret", secret=True, help="API credential secret"),
        Setting("username", help="admin username for the legacy login (instead of identifier and secret)"),
        Setting("password", secret=True, help="that admin's password; hostsync sends the md5 hash the API expects"),
        Setting("accesskey", secret=True, help="$api_access_key from configuration.php: passes the IP allow-list"),
        Setting("ticket_department", help="department id or name for tickets whose department WHMCS lacks"),
        Setting("payment_method", help="gateway module for domain orders (default: the first WHMCS lists)"),
        Setting("timezone", "timezone", default="UTC",
                help="the WHMCS server's time zone (IANA name): WHMCS sends local times"),
        Setting("page_size", "int", default=100, min=1, max=10000, help="rows per list call (limitnum)"),
        Setting("origin_field", "int", min=1, help="id of a client custom field (a text field, admin only) where "
                "hostsync keeps the origin marker of clients it creates: exact identity after a lost reply"),
    )

    @classmethod
    def validate_settings(cls, options: Mapping[str, Any]) -> None:
        has_api_credentials = bool(options.get("identifier") or options.get("secret"))
        has_login = bool(options.get("username") or options.get("password"))
        if has_api_credentials == has_login:
            raise ConfigError("set either identifier and secret (API credentials) or username and password")
        for a, b in (("identifier", "secret"), ("username", "password")):
            if bool(options.get(a)) != bool(options.get(b)):
                raise ConfigError(f"{a} and {b} go together", key=b if options.get(a) else a)

    def __init__(self, system: str, options: Mapping[str, Any]) -> None:
        super().__init__(system, options)
        try:
            self.tz = m.zone(options.get("timezone"))
        except ValueError as exc:
            raise ConfigError(str(exc), key=f"systems.{system}.timezone") from None
        self.page_size = int(options.get("page_size") or 100)
        self.api = WhmcsClient(options, fetch=self.fetch)
        for value in self.api._secrets:  # the md5 of the password is as good as the password
            self.secret(value, keep=True)
        self._lock = threading.Lock()
        self._departments: dict[str, tuple[str, str]] | None = None
        self._payment_method: str | None = options.get("payment_method") or None
        self._currencies = Memo()  # client id -> its currency code (read once per run)
        self._client_emails = Memo()  # client id -> its e-mail address (read once per run)
        self._invoice_numbers: dict[str, str] | None = None
        self._no_activity_log: str | None = None  # why GetActivityLog cannot be used in this run
        self.origin_field = str(options.get("origin_field") or "") or None
        self._origins = OriginIndex()

    @classmethod
    def operations(cls, options: Mapping[str, Any]) -> Mapping[str, Operations]:
        """Clients keep origin markers only where ``origin_field`` names the custom field for them;
        lists come in pages of ``page_size``."""
        page = int(options.get("page_size") or 100)
        kinds = {kind: replace(ops, cost=replace(ops.cost, page=page)) for kind, ops in cls.kinds.items()}
        if not options.get("origin_field"):
            kinds["client"] = replace(kinds["client"], origin=False)
        return kinds

    def close(self) -> None:
        self.api.close()

    def check(self, kinds: Mapping[str, frozenset[str]] | None = None) -> str | None:
        """Prove the credentials, then that their API role allows every action the operations in
        ``kinds`` call (default: all this connector offers); raise ``ActionRefused`` listing those
        it does not. Each action is probed harmlessly (see :data:`PROBES`)."""
        wanted = kinds if kinds is not None else {kind: ops.ops for kind, ops in self.kinds.items()}
        actions = list(dict.fromkeys(action for kind, ops in wanted.items() for op in sorted(ops)
                                     for action in ACTIONS.get(kind, {}).get(op, ())))
        if self._payment_method:
            actions = [a for a in actions if a != "GetPaymentMethods"]
        if not actions:  # used by no job: only the login to prove, which any answer but a refused one does
            try:
                self.api.call("GetClients", PROBES["GetClients"], about="check")
            except ActionRefused:
                pass
            return None
        refused: dict[str, str] = {}
        for action in actions:
            params = PROBES.get(action)
            if action == "AddClient":  # an e-mail address WHMCS already has: refused as a duplicate
                try:
                    params = self._probe_email()
                except ActionRefused:  # GetClients refused (and listed, where the jobs need it)
                    params = None
                if params is None:  # no client to take one from: not probed rather than risk a create
                    continue
            try:
                self.api.call(action, params or {}, about="check")
            except ActionRefused as exc:
                refused[action] = "unknown to this WHMCS" if "Command Not Found" in str(exc) else "not allowed"
            except Rejected:  # allowed: WHMCS looked at the parameters
                pass
        needed = [f"{action} ({why})" for action, why in refused.items() if action not in OPTIONAL]
        notes = [f"{action} {why}: {OPTIONAL[action]}" for action, why in refused.items() if action in OPTIONAL]
        if needed:
            raise ActionRefused(f"the configured jobs need WHMCS API actions these credentials may not call: "
                                f"{', '.join(needed)}; allow them in the credentials' API role ({API_ROLES})"
                                + "".join(f"; also {note}" for note in notes))
        return "; ".join(notes) or None

    def _probe_email(self) -> dict[str, Any] | None:
        rows = m.nested(self.api.call("GetClients", PROBES["GetClients"], about="check").get("clients"), "client")
        email = m.text(rows[0].get("email")) if rows else None
        return {"email": email} if email else None

    def stored(self, kind: str, record: Record) -> Record:
        """What WHMCS shows after hostsync wrote ``record``: urgent tickets as high, an unknown
        department as the fallback, times in local time, quantities that do not divide the amount
        left in the line's description, the total WHMCS computes (see :mod:`.mapping`)."""
        if kind == "ticket":
            fields = m.stored_ticket_fields(record.fields, self._department_name, self.tz)
        elif kind == "invoice":
            fields = dict(record.fields)
            if "total" in fields and "lines" in fields:
                tax = m.invoice_tax(fields["lines"] or [], fields["total"])
                fields["total"] = tax.total if tax else fields["total"]
            if "lines" in fields:
                fields["lines"] = m.stored_lines(fields["lines"] or [])
        else:  # clients and domains: every value reads back as written
            return record
        spec = KINDS[kind]
        values = {name: normalise_value(spec.field(name), value) for name, value in fields.items()}
        return Record(kind, record.id, values, dict(record.refs), record.updated_at, record.version, record.partial)

    # -- reading ------------------------------------------------------------------------------

    def list(self, kind: str, since: datetime | None = None) -> Iterator[Record]:
        if kind == "client":
            yield from (self._changed_clients(since) if since else self._all_clients())
        elif kind == "ticket":
            self.fetch(self._departments_by_name)  # read once here, so that stored() knows them without a call
            for row in self.api.pages("GetTickets", "tickets", "ticket", {"ignore_dept_assignments": True},
                                      limit=self.page_size, announce=lambda n: self.total("ticket", n)):
                yield m.ticket_stub(row, self.tz)
        elif kind == "invoice":
            for row in self.api.pages("GetInvoices", "invoices", "invoice", {"orderby": "id", "order": "asc"},
                                      limit=self.page_size, announce=lambda n: self.total("invoice", n)):
                self._remember_currency(row)
                yield m.invoice_stub(row, self.tz)
        elif kind == "domain":
            for row in self.api.pages("GetClientsDomains", "domains", "domain", limit=self.page_size,
                                      announce=lambda n: self.total("domain", n)):
                yield m.domain_record(row)
        else:
            raise Rejected(f"WHMCS does not hold {kind} records")

    def get(self, kind: str, id: str) -> Record | None:
        try:
            if kind == "client":
                return m.client_record(self.api.call("GetClientsDetails", {"clientid": id, "stats": False},
                                                     about=f"client {id}"), self.origin_field)
            if kind == "ticket":
                return m.ticket_record(self._ticket(id), self.tz)
            if kind == "invoice":
                invoice = self._invoice(id)
                return m.invoice_record(invoice, self._currency(m.ident(invoice.get("userid"))))
            if kind == "domain":
                row = self._domain(id)
                return m.domain_record(row) if row else None
        except NotFound:
            return None
        raise Rejected(f"WHMCS does not hold {kind} records")

    def find(self, kind: str, key: Mapping[str, Any]) -> list[Record]:
        if kind == "client":
            return self._find_clients(key)
        if kind == "ticket":
            params = {"ignore_dept_assignments": True, "clientid": key.get("client"), "subject": key.get("subject")}
            rows = self.api.pages("GetTickets", "tickets", "ticket", {k: v for k, v in params.items() if v},
                                  limit=self.page_size)
            return [r for r in (self.get("ticket", m.ident(row.get("id")) or "") for row in rows) if r]
        if kind == "invoice":
            return self._find_invoices(key)
        if kind == "domain":
            if not key.get("name"):
                return [r for r in self.list("domain") if matches(r, key)]
            found: dict[str, Record] = {}
            for name in m.domain_spellings(str(key["name"])):  # WHMCS may hold an IDN in either form
                for row in self.api.pages("GetClientsDomains", "domains", "domain", {"domain": name},
                                          limit=self.page_size):
                    record = m.domain_record(row)
                    found[record.id or ""] = record
            return list(found.values())
        raise Rejected(f"WHMCS does not hold {kind} records")

    def _all_clients(self) -> Iterator[Record]:
        """Every client with details; those the newest log entries name carry that entry's time
        as ``updated_at`` (the others: unknown), which gives the engine its next cursor on the
        WHMCS clock: anything logged later is read by the next incremental run."""
        stamps = self._log_head()
        for record in self._clients():
            record.updated_at = stamps.get(record.id or "")
            yield record

    def _clients(self) -> Iterator[Record]:
        """Every client, with details (list rows carry no address and no custom fields)."""
        for row in self.api.pages("GetClients", "clients", "client", limit=self.page_size,
                                  announce=lambda n: self.total("client", n)):
            client_id = str(row.get("id"))
            record = self.detail("client", client_id, functools.partial(self.get, "client", client_id))
            if record is not None:
                yield record

    def _log_head(self, pages: int = 3) -> dict[str, datetime]:
        """Newest activity-log time per client, from the newest page(s) that name any client."""
        newest: dict[str, datetime] = {}
        if self._no_activity_log:
            return newest
        for start in range(0, pages * self.page_size, self.page_size):
            try:
                answer = self.fetch(self.api.call, "GetActivityLog", {"limitstart": start, "limitnum": self.page_size})
            except ActionRefused as exc:
                self._without_activity_log(exc)
                return {}
            entries = m.nested(answer.get("activity"), "entry")
            m.newest_activity(entries, self.tz, into=newest)
            if newest or len(entries) < self.page_size:
                break
        return newest

    def _without_activity_log(self, error: ActionRefused) -> None:
        """Read clients without the activity log for the rest of this run; say so once."""
        with self._lock:
            first, self._no_activity_log = self._no_activity_log is None, str(error)
        if first:
            log.warning("%s: cannot read the WHMCS activity log, so clients are read by a full scan on every run "
                        "(%s)", self.system, error)

    def _changed_clients(self, since: datetime) -> Iterator[Record]:
        """Clients named by activity-log entries at or after ``since`` (the log is newest first)."""
        newest: dict[str, datetime] = {}
        reached = False
        if not self._no_activity_log:
            try:
                newest, reached = m.newest_activity(
                    self.api.pages("GetActivityLog", "activity", "entry", limit=self.page_size), self.tz, since)
            except ActionRefused as exc:
                self._without_activity_log(exc)
        if not reached:  # the log was trimmed (or is younger than ``since``, or unreadable): it may miss changes
            yield from self._all_clients()
            return
        for client_id, when in sorted(newest.items(), key=lambda item: item[1]):
            record = self.detail("client", client_id, functools.partial(self.get, "client", client_id))
            if record is not None:
                record.updated_at = when
                yield record

    def _find_clients(self, key: Mapping[str, Any]) -> list[Record]:
        if ORIGIN in key:  # WHMCS cannot search custom fields: an index from one full read
            if not self.origin_field:
                return []
            ids = self._origins.find(str(key[ORIGIN]), self._clients)
            return matching((r for r in (self.get("client", i) for i in ids) if r), key)
        if key.get("email"):
            try:
                found = m.client_record(self.api.call("GetClientsDetails", {"email": key["email"], "stats": False}),
                                        self.origin_field)
            except NotFound:
                return []
            return [found]
        term = next((key[name] for name in ("company", "last_name", "first_name") if key.get(name)), None)
        if term is None:
            rows = self.api.pages("GetClients", "clients", "client", limit=self.page_size)
            return [r for r in (self.get("client", str(row.get("id"))) for row in rows) if r and matches(r, key)]
        rows = self.api.pages("GetClients", "clients", "client", {"search": term}, limit=self.page_size)
        return [r for r in (self.get("client", str(row.get("id"))) for row in rows) if r]

    def _find_invoices(self, key: Mapping[str, Any]) -> list[Record]:
        if key.get("number") and not key.get("client"):
            invoice_id = self._invoice_number_index().get(str(key["number"]))
            found = self.get("invoice", invoice_id) if invoice_id else None
            return [found] if found else []
        params = {"userid": key["client"]} if key.get("client") else {}
        rows = self.api.pages("GetInvoices", "invoices", "invoice", {**params, "orderby": "id", "order": "asc"},
                              limit=self.page_size)
        stubs = [m.invoice_stub(row, self.tz) for row in rows]
        wanted = {k: v for k, v in key.items() if k in ("number", "issued_on", "due_on", "total", "client")}
        return [r for r in (self.get("invoice", s.id or "") for s in stubs if matches(s, wanted)) if r]

    # -- writing ------------------------------------------------------------------------------

    def create(self, kind: str, record: Record) -> str:
        if kind == "client":
            return self._create_client(record)
        if kind == "ticket":
            return self._create_ticket(record)
        if kind == "invoice":
            return self._create_invoice(record)
        if kind == "domain":
            return self._create_domain(record)
        raise Rejected(f"WHMCS does not hold {kind} records")

    def validate(self, kind: str, record: Record, op: str = "create") -> list[str]:
        """What the creates refuse before calling WHMCS (each also raises it)."""
        if op != "create":
            return []
        fields, client = record.fields, record.refs.get("client")
        if kind == "ticket":
            messages = list(fields.get("messages") or [])
            if not fields.get("subject") or not messages or not messages[0].get("body"):
                return ["a WHMCS ticket needs a subject and an opening message"]
            if not client and "@" not in str(messages[0].get("author") or ""):
                return ["a ticket without a client needs an e-mail address as its first author"]
        if kind == "invoice" and not client:
            return ["a WHMCS invoice needs a client"]
        if kind == "domain" and (not client or not fields.get("name")):
            return ["a WHMCS domain needs a name and a client"]
        return []

    def update(self, kind: str, id: str, record: Record) -> None:
        if kind == "client":
            self.api.call("UpdateClient", {"clientid": id, **m.client_params(record, record.fields)},
                          write=True, about=f"client {id}")
        elif kind == "ticket":
            self._update_ticket(id, record)
        elif kind == "invoice":
            self._update_invoice(id, record)
        elif kind == "domain":
            self._update_domain(id, record)
        else:
            raise Rejected(f"WHMCS does not hold {kind} records")

    def delete(self, kind: str, id: str) -> None:
        """Clients are closed (status Closed), never erased: their billing history stays."""
        if kind != "client":
            raise Rejected(f"hostsync does not delete WHMCS {kind} records")
        self.api.call("UpdateClient", {"clientid": id, "status": "Closed"}, write=True, about=f"client {id}")

    def _create_client(self, record: Record) -> str:
        params = {k: v for k, v in m.client_params(record, record.fields).items() if k != "status"}
        # WHMCS 8 needs a password for the client's user login; a random one (never stored or
        # logged) keeps the account closed until the client resets it. No welcome e-mail is sent,
        # and skipvalidation lets records that lack WHMCS's required address fields through.
        params.update(password2=self.secret(secrets.token_urlsafe(24)), noemail=True, skipvalidation=True)
        if record.origin and self.origin_field:
            params["customfields"] = m.custom_fields({self.origin_field: record.origin})
        email = record.fields.get("email")
        try:
            answer = self.api.call("AddClient", params, write=True, about=f"client {email}")
            client_id = _required_id(answer, "clientid", "AddClient")
        except ConnectorError:
            self._origins.forget()  # it may have landed: the next lookup by origin reads again
            raise
        self._origins.created(record.origin, client_id)
        status = record.fields.get("status")
        if status and status != "active":
            self._follow_up(f"client {client_id}", "UpdateClient",
                            {"clientid": client_id, "status": m.CLIENT_STATUS_OUT[status]})
        return client_id

    def _follow_up(self, about: str, action: str, params: Any) -> None:
        """A later step of a multi-step create. If it fails, the record exists but is incomplete:
        the engine must look it up and update it rather than create it again."""
        try:
            self.api.call(action, params, write=True, about=about)
        except AuthError:
            raise
        except ConnectorError as exc:
            raise Transient(f"{about} was created but is incomplete: {exc}", may_have_applied=True) from exc

    # tickets

    def _ticket(self, id: str) -> dict[str, Any]:
        self._departments_by_name()  # once per run, so that stored() knows them without a call
        return self.api.call("GetTicket", {"ticketid": id, "repliessort": "ASC"}, about=f"ticket {id}")

    def _create_ticket(self, record: Record) -> str:
        fields, client = record.fields, record.refs.get("client")
        messages = list(fields.get("messages") or [])
        if not fields.get("subject") or not messages or not messages[0].get("body"):
            raise Rejected("a WHMCS ticket needs a subject and an opening message",
                           {"subject": "required", "messages": "required"})
        first = messages[0]
        params: dict[str, Any] = {
            "deptid": self._department_id(fields.get("department")),
            "subject": fields["subject"], "message": first["body"],
            "priority": m.PRIORITY_OUT.get(fields.get("priority") or "", None),
            "created": m.local(first.get("created_at") or fields.get("created_at"), self.tz),
            "noemail": True, "markdown": False,
        }
        if client:
            params["clientid"] = client
        elif "@" in str(first.get("author") or ""):
            params.update(name=first["author"], email=first["author"])
        else:
            raise Rejected("a ticket without a client needs an e-mail address as its first author",
                           {"client": "required"})
        answer = self.api.call("OpenTicket", {k: v for k, v in params.items() if v is not None},
                               write=True, about=f"ticket {fields['subject']!r}")
        ticket_id = _required_id(answer, "id", "OpenTicket")
        about = f"ticket {ticket_id}"
        for message in messages[1:]:
            self._follow_up(about, "AddTicketReply", self._reply_params(ticket_id, message, client))
        status = fields.get("status")
        if (status and status != "open") or len(messages) > 1:  # replies move the status: set it last
            self._follow_up(about, "UpdateTicket",
                            {"ticketid": ticket_id, "status": m.TICKET_STATUS_OUT[status or "open"]})
        return ticket_id

    def _reply_params(self, ticket_id: str, message: Mapping[str, Any], client: str | None) -> dict[str, Any]:
        """AddTicketReply parameters: the client's own address replies as the client, another
        address as a named guest, a plain name as that admin."""
        author = str(message.get("author") or "")
        params: dict[str, Any] = {"ticketid": ticket_id, "message": message.get("body") or "",
                                  "noemail": True, "markdown": False}
        created = m.local(message.get("created_at"), self.tz)
        if created:
            params["created"] = created
        if client and author and author.lower() == (self._client_email(client) or "").lower():
            params["clientid"] = client
        elif "@" in author:
            params.update(name=author, email=author)
        else:
            params["adminusername"] = author or m.ANONYMOUS_ADMIN
        return params

    def _update_ticket(self, id: str, record: Record) -> None:
        current = self._ticket(id)
        have = normalise(m.ticket_record(current, self.tz))
        fields, client = record.fields, record.refs.get("client") or have.refs.get("client")
        spec = KINDS["ticket"].field("messages")
        present = [_message_key(msg) for msg in have.fields["messages"]]
        added = 0
        for message in normalise_value(spec, fields.get("messages")) if "messages" in fields else []:
            message_key = _message_key(message)
            if message_key in present:
                present.remove(message_key)
                continue
            self.api.call("AddTicketReply", self._reply_params(id, message, client), write=True, about=f"ticket {id}")
            added += 1
        params: dict[str, Any] = {}
        if fields.get("subject") and fields["subject"] != have.fields["subject"]:
            params["subject"] = fields["subject"]
        if fields.get("priority") and m.PRIORITY.get(m.PRIORITY_OUT[fields["priority"]].lower()) != have.fields["priority"]:
            params["priority"] = m.PRIORITY_OUT[fields["priority"]]
        # replies move the status: set it last, back to what it was where the record does not change it
        status = fields.get("status") or (have.fields["status"] if added else None)
        if status and (added or status != have.fields["status"]):
            params["status"] = m.TICKET_STATUS_OUT[status]
        if fields.get("department") and fields["department"] != have.fields["department"]:
            department = self._department_id(fields["department"])
            if department != str(current.get("deptid")):  # an unknown name falls back to where it is
                params["deptid"] = department
        if record.refs.get("client") and record.refs["client"] != have.refs.get("client"):
            params["userid"] = record.refs["client"]
        if params:
            self.api.call("UpdateTicket", {"ticketid": id, **params}, write=True, about=f"ticket {id}")

    def _departments_by_name(self) -> dict[str, tuple[str, str]]:
        """Lower-cased department name -> (id, name as WHMCS spells it); read once per run."""
        with self._lock:
            if self._departments is None:
                answer = self.api.call("GetSupportDepartments", {"ignore_dept_assignments": True})
                rows = m.nested(answer.get("departments"), "department")
                names = [(str(d.get("id")), str(d.get("name", "")).strip()) for d in rows]
                self._departments = {name.lower(): (dept_id, name) for dept_id, name in names}
            return self._departments

    def _department(self, name: str | None) -> tuple[str, str] | None:
        """The department a ticket of department ``name`` goes to: that one, else the
        ``ticket_department`` setting's (an id or a name), else none."""
        departments = self._departments_by_name()
        if name and name.strip().lower() in departments:
            return departments[name.strip().lower()]
        fallback = str(self.options.get("ticket_department") or "").strip()
        by_id = {dept[0]: dept for dept in departments.values()}
        if fallback.isdigit() and fallback in by_id:
            return by_id[fallback]
        return departments.get(fallback.lower()) if fallback else None

    def _department_id(self, name: str | None) -> str:
        found = self._department(name)
        if found is None:
            fallback = str(self.options.get("ticket_department") or "").strip()
            raise Rejected(f"WHMCS has no support department {name!r} and ticket_department "
                           f"{'is not set' if not fallback else 'names none either'}", {"department": "unknown"})
        return found[0]

    def _department_name(self, name: str) -> str | None:
        """WHMCS's name for the department a ticket of department ``name`` goes to (for stored(),
        which must not call WHMCS: until this run has read the departments, assume it is kept as
        given)."""
        with self._lock:
            if self._departments is None:
                return None
        found = self._department(name)
        return found[1] if found else None

    def _client_email(self, client_id: str) -> str | None:
        def read() -> str | None:
            record = self.get("client", client_id)
            return record.fields.get("email") if record else None

        return self._client_emails.get(client_id, read)

    # invoices

    def _invoice(self, id: str) -> dict[str, Any]:
        return self.api.call("GetInvoice", {"invoiceid": id}, about=f"invoice {id}")

    def _remember_currency(self, row: Mapping[str, Any]) -> None:
        client_id = m.ident(row.get("userid"))
        if client_id and m.text(row.get("currencycode")):
            self._currencies.put(client_id, m.text(row.get("currencycode")))

    def _currency(self, client_id: str | None) -> str | None:
        """An invoice is in its client's currency; GetInvoice does not say which."""
        if client_id is None:
            return None

        def read() -> str | None:
            try:
                answer = self.api.call("GetClientsDetails", {"clientid": client_id, "stats": False},
                                       about=f"client {client_id}")
            except NotFound:
                return None
            client = answer.get("client") if isinstance(answer.get("client"), dict) else answer
            return m.text(client.get("currency_code"))

        return self._currencies.get(client_id, read)

    def _invoice_number_index(self) -> dict[str, str]:
        with self._lock:
            if self._invoice_numbers is not None:
                return self._invoice_numbers
        index = {}
        for row in self.api.pages("GetInvoices", "invoices", "invoice", {"orderby": "id", "order": "asc"},
                                  limit=self.page_size):
            stub = m.invoice_stub(row, self.tz)
            index[str(stub.fields["number"])] = str(stub.id)
        with self._lock:
            self._invoice_numbers = index
        return index

    def _create_invoice(self, record: Record) -> str:
        fields, client = record.fields, record.refs.get("client")
        if not client:
            raise Rejected("a WHMCS invoice needs a client", {"client": "required"})
        status = fields.get("status") or "unpaid"
        lines = list(fields.get("lines") or [])
        params: list[tuple[str, Any]] = [("userid", client), ("sendinvoice", False), ("autoapplycredit", False)]
        params += [("draft", True)] if status == "draft" else [("status", m.INVOICE_STATUS_OUT[status])]
        params += [(name, m.iso_date(fields[key])) for key, name in (("issued_on", "date"), ("due_on", "duedate"))
                   if fields.get(key)]
        tax = m.invoice_tax(lines, fields.get("total"))
        if tax is not None:
            params += [("taxrate", tax.rate), ("taxrate2", "0")]
        for n, line in enumerate(lines, start=1):
            description, amount, taxed = m.line_to_item(line)
            params += [(f"itemdescription{n}", description), (f"itemamount{n}", amount), (f"itemtaxed{n}", taxed)]
        # WHMCS will show another total than the source's: the engine's lookup after a lost reply
        # (by the source's total) cannot find this invoice, so look for it here (see _made_meanwhile)
        unfindable = tax is not None and Decimal(tax.total) != Decimal(str(fields["total"]))
        newest = self._newest_invoice_id() if unfindable else None
        try:
            answer = self.api.call("CreateInvoice", params, write=True, about=f"invoice for client {client}")
            invoice_id = _required_id(answer, "invoiceid", "CreateInvoice")
        except Transient as exc:
            found = self._made_meanwhile(newest, client, fields, tax.total) if exc.may_have_applied and tax else None
            if found is None:
                raise
            invoice_id = found
        with self._lock:
            self._invoice_numbers = None
        if fields.get("paid_on"):
            self._follow_up(f"invoice {invoice_id}", "UpdateInvoice",
                            {"invoiceid": invoice_id, "datepaid": m.iso_date(fields["paid_on"])})
        return invoice_id

    def _newest_invoice_id(self) -> int:
        answer = self.api.call("GetInvoices", {"orderby": "id", "order": "desc", "limitstart": 0, "limitnum": 1})
        rows = m.nested(answer.get("invoices"), "invoice")
        return m.integer(rows[0].get("id")) if rows else 0

    def _made_meanwhile(self, newest: int | None, client: str, fields: Mapping[str, Any], total: str) -> str | None:
        """The one invoice of ``client`` created after invoice ``newest`` with these dates and the
        total WHMCS computes, if a CreateInvoice whose reply was lost made it; else None (also when
        that cannot be told: the engine then looks itself and retries)."""
        if newest is None:
            return None
        wanted = {"issued_on": fields.get("issued_on"), "due_on": fields.get("due_on"), "total": total}
        found = []
        try:
            rows = self.api.pages("GetInvoices", "invoices", "invoice",
                                  {"userid": client, "orderby": "id", "order": "desc"}, limit=self.page_size)
            for row in rows:
                if m.integer(row.get("id")) <= newest:
                    break
                stub = normalise(m.invoice_stub(row, self.tz))
                if all(stub.fields[name] == value for name, value in wanted.items() if value is not None):
                    found.append(stub.id)
        except ConnectorError:
            return None
        return found[0] if len(found) == 1 else None

    def _update_invoice(self, id: str, record: Record) -> None:
        current = self._invoice(id)
        have = normalise(m.invoice_record(current, None))
        fields = record.fields
        client = record.refs.get("client")
        if client and client != have.refs.get("client"):
            raise Rejected(f"WHMCS cannot move invoice {id} to another client", {"client": "read-only in WHMCS"})
        params: list[tuple[str, Any]] = [("invoiceid", id)]
        items = m.nested(current.get("items"), "item")
        if "lines" in fields:
            params += m.line_edits(items, list(fields["lines"] or []))
        if "total" in fields:  # lines unchanged (not sent) or changed: the rate that gives the total
            lines = (fields["lines"] or []) if "lines" in fields else [m.line_from_item(item) for item in items]
            tax = m.invoice_tax(lines, fields["total"])
            if tax is not None and (Decimal(tax.rate) != Decimal(str(current.get("taxrate") or 0))
                                    or Decimal(str(current.get("taxrate2") or 0)) != 0):
                params += [("taxrate", tax.rate), ("taxrate2", "0")]
        if fields.get("status") and fields["status"] != have.fields["status"]:
            params.append(("status", m.INVOICE_STATUS_OUT[fields["status"]]))
        for key, name in (("issued_on", "date"), ("due_on", "duedate"), ("paid_on", "datepaid")):
            if key in fields and (fields[key] or None) != have.fields[key]:
                params.append((name, m.iso_date(fields[key])))
        if len(params) > 1:
            self.api.call("UpdateInvoice", params, write=True, about=f"invoice {id}")

    # domains

    def _domain(self, id: str) -> dict[str, Any] | None:
        answer = self.api.call("GetClientsDomains", {"domainid": id, "limitstart": 0, "limitnum": 1},
                               about=f"domain {id}")
        rows = m.nested(answer.get("domains"), "domain")
        return rows[0] if rows else None

    def _payment_gateway(self) -> str:
        with self._lock:
            if self._payment_method:
                return self._payment_method
        answer = self.api.call("GetPaymentMethods")
        methods = m.nested(answer.get("paymentmethods"), "paymentmethod")
        if not methods:
            raise Rejected("WHMCS lists no payment method for domain orders; set payment_method")
        with self._lock:
            self._payment_method = str(methods[0].get("module"))
            return self._payment_method

    def _create_domain(self, record: Record) -> str:
        fields, client = record.fields, record.refs.get("client")
        if not client or not fields.get("name"):
            raise Rejected("a WHMCS domain needs a name and a client", {"client": "required", "name": "required"})
        params = [("clientid", client), ("paymentmethod", self._payment_gateway()), ("domain[0]", fields["name"]),
                  ("domaintype[0]", "register"), ("regperiod[0]", 1), ("noinvoice", True),
                  ("noinvoiceemail", True), ("noemail", True)]
        answer = self.api.call("AddOrder", params, write=True, about=f"domain {fields['name']}")
        domain_id = str(answer.get("domainids") or "").split(",")[0].strip()
        if not domain_id:
            raise Transient(f"WHMCS AddOrder (domain {fields['name']}): the answer names no domain id",
                            may_have_applied=True)
        params = self._domain_params(record, {"status": "pending"})
        if params:
            self._follow_up(f"domain {domain_id}", "UpdateClientDomain", {"domainid": domain_id, **params})
        return domain_id

    def _domain_params(self, record: Record, have: Mapping[str, Any]) -> dict[str, Any]:
        """UpdateClientDomain parameters for what differs from ``have`` (canonical fields)."""
        fields, params = record.fields, {}
        if fields.get("name") and fields["name"] != have.get("name", fields["name"]):
            params["domain"] = fields["name"]
        if fields.get("status") and fields["status"] != have.get("status"):
            params["status"] = m.DOMAIN_STATUS_OUT[fields["status"]]
        for key, name in (("registered_on", "regdate"), ("expires_on", "expirydate")):
            if fields.get(key) and fields[key] != have.get(key):
                params[name] = m.iso_date(fields[key])
        return params

    def _update_domain(self, id: str, record: Record) -> None:
        row = self._domain(id)
        if row is None:
            raise NotFound(f"WHMCS domain {id} not found")
        have = normalise(m.domain_record(row))
        client = record.refs.get("client")
        if client and client != have.refs.get("client"):
            raise Rejected(f"WHMCS cannot move domain {id} to another client", {"client": "read-only in WHMCS"})
        params = self._domain_params(record, have.fields)
        if params:
            self.api.call("UpdateClientDomain", {"domainid": id, **params}, write=True, about=f"domain {id}")


def _required_id(answer: Mapping[str, Any], key: str, action: str) -> str:
    value = m.ident(answer.get(key))
    if value is None:
        raise Transient(f"WHMCS {action}: the answer has no {key}", may_have_applied=True)
    return value


def _message_key(message: Mapping[str, Any]) -> tuple[Any, Any]:
    return (message.get("body"), message.get("created_at"))

