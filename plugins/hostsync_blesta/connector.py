"""The Blesta connector: clients, invoices, domains (services) and Support Manager tickets.

Every argument a Blesta method takes is sent, except those whose PHP default is ``null`` or an
empty array: a form cannot carry ``null`` (an empty string would *filter* on ``""`` where Blesta
compares strictly) nor an empty array, so those defaults are left to PHP. Updates read the record
first and send only what differs, compared in canonical terms, so lossy vocabularies (see
:mod:`.mapping`) never overwrite a vendor value that already means the same thing; :meth:`stored`
tells the engine what Blesta keeps of what it writes.
"""

from __future__ import annotations

import functools
import logging
import secrets
import string
import threading
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterator, Mapping

from hostsync import ORIGIN, Connector, Operations, Record, Setting, canonical, matches, matching
from hostsync.connector import Cost, Memo, OriginIndex
from hostsync.errors import ConfigError, ConnectorError, NotFound, ProtocolError, Rejected, Transient
from hostsync.model import KINDS, differs, normalise_value

from . import mapping as m
from .client import PAGE_SIZE, BlestaClient, rows_of

log = logging.getLogger("hostsync.blesta")

TICKETS = "support_manager.support_manager_tickets"
DEPARTMENTS = "support_manager.support_manager_departments"
DOMAIN_SERVICE_FILTER = {"type": "domains"}
#: contacts/getNumbers' own default order (work, home, mobile), sent because every argument is sent.
NUMBER_ORDER = {"FIELD(location,'work','home','mobile')": "ASC"}

CLIENT_FIELDS = ("email", "first_name", "last_name", "company", "phone", "address1", "address2", "city",
                 "state", "postcode", "country", "status")
INVOICE_FIELDS = ("number", "client", "issued_on", "due_on", "paid_on", "status", "currency",
                  "lines.description", "lines.quantity", "lines.unit_price", "total")
DOMAIN_FIELDS = ("name", "client", "status", "registered_on", "expires_on")
TICKET_FIELDS = ("subject", "client", "status", "priority", "department", "messages.body", "created_at")

#: What the connector can do at most; an instance narrows it to what its settings allow.
#: Costs: pages of Blesta's fixed 20 rows; a client's phone numbers (and with ``origin_field`` its custom
#: fields) and an invoice's lines are read per record; a find by e-mail or number is one filtered list.
KINDS_MAX: dict[str, Operations] = {
    "client": Operations.of("list", "get", "find", "create", "update", "delete", fields=CLIENT_FIELDS, origin=True,
                            cost=Cost(page=PAGE_SIZE, details=2, find=1, find_origin=None)),
    "invoice": Operations.of("list", "get", "find", "create", "update", "delete", fields=INVOICE_FIELDS,
                             read_only=("number", "paid_on", "total"), cost=Cost(page=PAGE_SIZE, details=1, find=2)),
    "domain": Operations.of("list", "get", "find", "create", "update", fields=DOMAIN_FIELDS,
                            cost=Cost(page=PAGE_SIZE, find=1)),
    "ticket": Operations.of("list", "get", "find", "create", "update", "delete", fields=TICKET_FIELDS,
                            read_only=("created_at",), cost=Cost(page=PAGE_SIZE, find=None)),
}

#: Orphan tickets (added, opening reply lost) are searched this far around the newest visible ids.
ORPHAN_WINDOW = 20


class BlestaConnector(Connector):
    """Blesta 4.x/5.x through its REST API (``/api/{model}/{method}.json``)."""

    name = "blesta"
    description = "Blesta billing: clients, invoices, domains (services) and Support Manager tickets"
    kinds = KINDS_MAX
    default_concurrency = 4
    id_pattern = r"[1-9][0-9]*"  # auto-increment ids: anything else a create answers is not one
    settings = (
        Setting("url", "url", required=True, help="Blesta installation base, e.g. https://billing.example.com "
                "(append /index.php where .htaccess is not used); the API is at {url}/api/"),
        Setting("user", required=True, help="API user (Settings > System > API Access)"),
        Setting("key", required=True, secret=True, help="API key"),
        Setting("auth", default="basic", choices=("basic", "header"),
                help="basic: HTTP Basic; header: BLESTA-API-USER/BLESTA-API-KEY headers (Blesta >= 5.11)"),
        Setting("company_id", "int", default=1, help="the company the API key belongs to"),
        Setting("timezone", "timezone", default="UTC", help="the company's time zone (Settings > Company > Localization); "
                "calendar dates are midnight there"),
        Setting("client_group_id", "int", default=1, help="client group for clients created here"),
        Setting("currency", default="USD", help="default currency of new clients and of invoices without one"),
        Setting("language", default="en_us", help="language of new clients"),
        Setting("invoice_delivery", default="email", choices=("email", "paper", "interfax", "postalmethods"),
                help="invoice delivery method of new clients and invoices"),
        Setting("username_template", default="{email}",
                help="login name of new clients: {email}, {local} (part before @), {first_name}, {last_name}, "
                     "{random}; a random password is generated and never logged"),
        Setting("send_welcome_email", "bool", default=False, help="send Blesta's welcome e-mail to new clients"),
        Setting("unknown_state", default="omit", choices=("omit", "reject"),
                help="a state Blesta has no subdivision for: omit it (and warn) or reject the client"),
        Setting("staff_id", "int", help="staff member that posts staff replies to tickets"),
        Setting("ticket_department_id", "int", help="Support Manager department of tickets created here, and of "
                "tickets whose department ticket_departments does not map; without it a ticket goes to the "
                "department of its department's name, else to Blesta's only department"),
        Setting("ticket_departments", "table", help="department name -> Blesta department id; without it (and "
                "with ticket_department_id) the ticket department is read-only"),
        Setting("domain_pricing_id", "int", help="package pricing id of a domain package; without it domains "
                "cannot be created here"),
        Setting("domain_field", default="domain", help="service field holding the domain name (registrar module)"),
        Setting("origin_field", "int", help="id of a client custom field (a text field of the client_group_id group, "
                "hidden from clients) where hostsync keeps the origin marker of clients it creates"),
    )

    def __init__(self, system: str, options: Mapping[str, Any]) -> None:
        super().__init__(system, options)
        opts = {s.name: s.default for s in self.settings} | {k: v for k, v in self.options.items() if v is not None}
        self.opts = opts
        try:
            self.tz = m.zone(opts["timezone"])
        except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
            raise ConfigError(f"unknown time zone {opts['timezone']!r} (an IANA name such as Europe/Berlin)",
                              key=f"systems.{system}.timezone") from None
        self.company_id = int(opts["company_id"])
        self.api = BlestaClient(opts, fetch=self.fetch)  # pool sized by the core's options["concurrency"]
        self.departments = {str(k).casefold(): int(v) for k, v in (opts.get("ticket_departments") or {}).items()}
        self.kinds = dict(self.operations(opts))
        self._lock = threading.Lock()
        self._states = Memo()  # country -> subdivision name -> code, read once per run
        self._orphans: set[str] = set()
        self._department_names: dict[int, str] = {}  # Blesta's own names, learned from the tickets read
        self._departments_read: list[tuple[int, str]] | None = None  # Blesta's departments, when asked
        self.origin_field = str(opts.get("origin_field") or "") or None
        self._origins = OriginIndex()

    @classmethod
    def operations(cls, options: Mapping[str, Any]) -> Mapping[str, Operations]:
        """:data:`KINDS_MAX` narrowed to the settings: creating domains needs ``domain_pricing_id``;
        with ``ticket_department_id`` but no ``ticket_departments`` every ticket goes to that one
        department, so a ticket's department can be read but not set."""
        kinds = dict(KINDS_MAX)
        if not options.get("domain_pricing_id"):
            kinds["domain"] = replace(kinds["domain"], ops=kinds["domain"].ops - {"create"})
        if not options.get("ticket_departments") and options.get("ticket_department_id"):
            kinds["ticket"] = replace(kinds["ticket"], read_only=kinds["ticket"].read_only | {"department"})
        if not options.get("origin_field"):
            client = kinds["client"]
            kinds["client"] = replace(client, origin=False, cost=replace(client.cost, details=1))
        return kinds

    # -- seam -----------------------------------------------------------------------------------

    def check(self, kinds: Mapping[str, frozenset[str]] | None = None) -> None:
        """Prove the API user and key; where jobs write tickets here, that each has a department."""
        self.api.get("clients", "getListCount", {"filters": {"company_id": self.company_id}},
                     context=f"check {self.system}")
        ticket_ops = kinds.get("ticket", ()) if kinds is not None else self.kinds["ticket"].ops
        if {"create", "update"} & set(ticket_ops) and not self._by_settings_only():
            departments = self._blesta_departments()
            if len(departments) != 1:
                names = ", ".join(sorted(name for _, name in departments)) or "none"
                raise ConfigError(f"not set, and Blesta has {len(departments)} support departments ({names}), so a "
                                  f"ticket whose department has none of these names would fail: set it to the "
                                  f"department id for those (or map names in ticket_departments)",
                                  key=f"systems.{self.system}.ticket_department_id")

    def close(self) -> None:
        self.api.close()

    def list(self, kind: str, since: datetime | None = None) -> Iterator[Record]:
        return self._dispatch("list", kind)()

    def get(self, kind: str, id: str) -> Record | None:
        return self._dispatch("get", kind)(str(id))

    def find(self, kind: str, key: Mapping[str, Any]) -> list[Record]:
        return self._dispatch("find", kind)(dict(key))

    def create(self, kind: str, record: Record) -> str:
        return self._dispatch("create", kind)(canonical(record))

    def update(self, kind: str, id: str, record: Record) -> None:
        self._dispatch("update", kind)(str(id), canonical(record))

    def validate(self, kind: str, record: Record, op: str = "create") -> list[str]:
        """What the creates refuse before calling Blesta (each also raises it). Domains cannot be
        created at all without ``domain_pricing_id`` (see :meth:`operations`: the engine says so)."""
        if op != "create":
            return []
        fields, client = record.fields, record.refs.get("client")
        if kind == "invoice" and not client:
            return ["a Blesta invoice needs its client"]
        if kind == "domain" and (not fields.get("name") or not client):
            return ["a Blesta domain needs its name and client"]
        if kind == "ticket" and not client:
            messages = m.ticket_messages_stored(fields.get("messages"), fields.get("subject"))
            if not m.is_email(messages[0].get("author") if messages else None):
                return ["a Blesta ticket needs a client or an author e-mail"]
        return []

    def delete(self, kind: str, id: str) -> None:
        self._dispatch("delete", kind)(str(id))

    def stored(self, kind: str, record: Record) -> Record:
        """``record`` as Blesta reads it back once written: the lossy vocabularies of :mod:`.mapping`
        (a closed client is inactive, a refunded invoice cancelled, a customer_reply ticket open,
        an expired or transferred domain cancelled), a state as Blesta names its subdivision (or
        none, if Blesta has no such subdivision), a department as Blesta names it, and the defaults
        the writes fill in. No call to Blesta: what is not known yet is left as it is."""
        fields = record.fields
        if kind == "client":
            fields = m.client_stored(fields, self._cached_states(fields.get("country")),
                                     str(self.opts.get("unknown_state")))
        elif kind == "invoice":
            fields = m.invoice_stored(fields, str(self.opts["currency"]))
        elif kind == "domain":
            fields = m.domain_stored(fields)
        elif kind == "ticket":
            fields = m.ticket_stored(fields, self._department_shown)
        if fields == record.fields:
            return record
        return Record(kind, record.id, fields, dict(record.refs), record.updated_at, record.version, record.partial)

    def _dispatch(self, op: str, kind: str) -> Callable[..., Any]:
        if not self.supports(kind, op):
            raise Rejected(f"{self.system}: Blesta connector cannot {op} {kind} records with these settings")
        return getattr(self, f"_{op}_{kind}")

    def _writes(self, kind: str, record: Record) -> set[str]:
        """Top-level names of the record's fields/refs this instance may write."""
        writable = self.kinds[kind].writable(kind)
        top = {name.split(".", 1)[0] for name in writable}
        return {name for name in (*record.fields, *record.refs) if name in top}


    # -- clients --------------------------------------------------------------------------------

    def _list_client(self) -> Iterator[Record]:
        args = {"order_by": {"id_code": "ASC"}, "filters": {"company_id": self.company_id}}
        for row in self.api.pages("clients", "getList", args, count={"filters": {"company_id": self.company_id}},
                                  context="list clients"):
            record = self.detail("client", str(row.get("id")), functools.partial(self._client_from_row, row))
            if record is not None:
                yield record

    def _client_from_row(self, row: Mapping[str, Any]) -> Record:
        numbers = self._numbers(row.get("contact_id"), f"read client {row.get('id')}")
        record = m.client_record(row, numbers, self._state_names(row.get("country")))
        if self.origin_field:
            values = rows_of(self.api.get("clients", "getCustomFieldValues", {"client_id": row.get("id")},
                                          context=f"read client {row.get('id')}"), "clients/getCustomFieldValues")
            record.origin = next((str(v["value"]) for v in values
                                  if str(v.get("id")) == self.origin_field and v.get("value")), None)
        return record

    def _numbers(self, contact_id: Any, context: str, phones_only: bool = True) -> list[dict[str, Any]]:
        """The contact's numbers (``phones_only``: its phones; else every number, fax included)."""
        if not contact_id:
            return []
        args = {"contact_id": contact_id, **({"type": "phone"} if phones_only else {}), "order": NUMBER_ORDER}
        return rows_of(self.api.get("contacts", "getNumbers", args, context=context), "contacts/getNumbers")

    def _states_of(self, country: Any) -> dict[str, str]:
        """Subdivision name -> code for a country, read once per run (once, however many threads ask)."""
        code = str(country or "").upper()
        if not code:
            return {}

        def read() -> dict[str, str]:
            rows = rows_of(self.api.get("states", "getList", {"country": code, "order_by": {"name": "asc"}},
                                        context=f"read states of {code}"), "states/getList")
            return {str(r.get("name")): str(r.get("code")) for r in rows if r.get("name") and r.get("code")}

        return self._states.get(code, read)

    def _cached_states(self, country: Any) -> dict[str, str] | None:
        """The subdivisions of ``country`` if this run has read them (``{}`` for no country)."""
        code = str(country or "").upper()
        return self._states.peek(code) if code else {}

    def _state_names(self, country: Any) -> dict[str, str]:
        return {code.upper(): name for name, code in self._states_of(country).items()}

    def _client_row(self, id: str) -> dict[str, Any] | None:
        row = self.api.get("clients", "get", {"client_id": id, "get_settings": False}, context=f"read client {id}")
        if not row:
            return None
        if not isinstance(row, dict) or "id" not in row:
            raise ProtocolError(f"read client {id}: Blesta clients/get answered something other than a client")
        return row

    def _get_client(self, id: str) -> Record | None:
        row = self._client_row(id)
        return None if row is None else self._client_from_row(row)

    def _find_client(self, key: dict[str, Any]) -> list[Record]:
        if ORIGIN in key:  # Blesta cannot search custom field values: an index from one full read
            if not self.origin_field:
                return []
            ids = self._origins.find(str(key[ORIGIN]), self._list_client)
            return matching((r for r in map(self._get_client, ids) if r is not None), key)
        if key.get("email"):
            filters = {"company_id": self.company_id, "contact_email": str(key["email"]).strip()}
            rows = self.api.pages("clients", "getList", {"order_by": {"id_code": "ASC"}, "filters": filters},
                                  context="find client")
            return matching((self._client_from_row(row) for row in rows), key)
        return matching(self._list_client(), key)

    def _state_out(self, fields: Mapping[str, Any], context: str) -> str | None:
        state = fields.get("state")
        if state is None:
            return None
        code = m.state_code(state, self._states_of(fields.get("country")))
        if code is None:
            problem = f"state {state!r} is not a subdivision of {fields.get('country') or '?'} known to Blesta"
            if self.opts.get("unknown_state") == "reject":
                raise Rejected(f"{context}: {problem}", {"state": "unknown subdivision"})
            log.warning("%s: %s; written without a state", context, problem)
            return ""
        return code

    def _create_client(self, record: Record) -> str:
        fields = record.fields
        context = "create client"
        template = str(self.opts["username_template"])
        password = self.secret(secrets.token_urlsafe(24))
        contact = m.contact_vars(fields, self._state_out(fields, context))
        vars_: dict[str, Any] = {
            "username": _username(template, fields),
            "new_password": password,
            "confirm_password": password,
            "client_group_id": self.opts["client_group_id"],
            "status": m.CLIENT_STATUS_OUT.get(fields.get("status") or "active", "active"),
            **{k: v for k, v in contact.items() if v != ""},
            "settings": {
                "default_currency": self.opts["currency"],
                "language": self.opts["language"],
                "username_type": "email" if template.strip() == "{email}" else "username",
                "inv_method": self.opts["invoice_delivery"],
            },
            "send_registration_email": "true" if self.opts.get("send_welcome_email") else "false",
        }
        if fields.get("phone"):
            vars_["numbers"] = [{"number": fields["phone"], "type": "phone", "location": "home"}]
        if record.origin and self.origin_field:
            vars_["custom"] = {self.origin_field: record.origin}
        try:
            created = self.api.post("clients", "create", {"vars": vars_}, context=context)
        except ConnectorError:
            self._origins.forget()  # it may have landed: the next lookup by origin reads again
            raise
        if not isinstance(created, dict) or not created.get("id"):
            raise ProtocolError(f"{context}: Blesta clients/create answered without the new client's id")
        self._origins.created(record.origin, str(created["id"]))
        return str(created["id"])

    def _update_client(self, id: str, record: Record) -> None:
        """Send what differs from the client as Blesta holds it: its row (one read, which names the
        primary contact) has the contact's fields and the status; the phone numbers are read only
        when the phone is to be written, and a country's states only when its state is."""
        context = f"update client {id}"
        row = self._client_row(id)
        if row is None:
            raise NotFound(f"{context}: no such client in Blesta")
        writes = self._writes("client", record)
        states = self._state_names(row.get("country")) if "state" in writes and row.get("state") else None
        current = m.client_record(row, None, states)
        changed = {name for name in writes - {"phone"} if differs("client", name, current, record)}
        contact_changes = changed & set(m.CLIENT_CONTACT_FIELDS)
        if "state" in changed or ("country" in changed and record.fields.get("state")):
            contact_changes |= {"state", "country"}
        vars_: dict[str, Any] = {}
        if contact_changes:
            merged = {**current.fields, **{k: record.fields[k] for k in record.fields if k in CLIENT_FIELDS}}
            state = self._state_out(merged, context) if "state" in contact_changes else None
            vars_ = m.contact_vars({k: merged.get(k) for k in contact_changes}, state)
        if "phone" in writes:
            numbers = self._numbers(row.get("contact_id"), context, phones_only=False)
            phone = m.primary_phone(numbers)
            current.fields["phone"] = phone.get("number") if phone else None
            if differs("client", "phone", current, record):
                vars_["numbers"] = _phone_numbers(numbers, phone, record.fields.get("phone"))
        if vars_:
            self.api.put("contacts", "edit", {"contact_id": row["contact_id"], "vars": vars_}, context=context)
        if "status" in changed:
            status = m.CLIENT_STATUS_OUT.get(record.fields.get("status") or "active", "active")
            if status != row.get("status"):
                self.api.put("clients", "edit", {"client_id": id, "vars": {"status": status}}, context=context)

    def _delete_client(self, id: str) -> None:
        """Blesta's ``clients/delete`` destroys access to the client's invoices: deactivate instead."""
        if self._client_row(id) is None:
            raise NotFound(f"delete client {id}: no such client in Blesta")
        self.api.put("clients", "edit", {"client_id": id, "vars": {"status": "inactive"}},
                     context=f"delete client {id}")

    # -- invoices -------------------------------------------------------------------------------

    def _invoice(self, id: str, context: str) -> dict[str, Any] | None:
        invoice = self.api.get("invoices", "get", {"invoice_id": id, "use_cache": False}, context=context)
        if not invoice:
            return None
        if not isinstance(invoice, dict) or "id" not in invoice:
            raise ProtocolError(f"{context}: Blesta invoices/get answered something other than an invoice")
        return invoice

    def _list_invoice(self) -> Iterator[Record]:
        # Rows carry no lines and no modification time, so each invoice is read whole.
        for row in self._invoice_rows({}):
            record = self.detail("invoice", str(row["id"]), functools.partial(self._get_invoice, str(row["id"])))
            if record is not None:
                yield record

    def _invoice_rows(self, extra: Mapping[str, Any], filters: Mapping[str, Any] | None = None) -> Iterator[dict]:
        args = {**extra, "status": "all", "order_by": {"id": "ASC"}}
        count = {**extra, "status": "all"}
        if filters:
            args["filters"] = count["filters"] = dict(filters)
        return self.api.pages("invoices", "getList", args, count=count, context="list invoices")

    def _get_invoice(self, id: str) -> Record | None:
        invoice = self._invoice(id, f"read invoice {id}")
        return None if invoice is None else m.invoice_record(invoice, self.tz)

    def _find_invoice(self, key: dict[str, Any]) -> list[Record]:
        if key.get("number"):
            rows: Iterator[dict] = self._invoice_rows({}, {"invoice_number": key["number"]})
        elif key.get("client"):
            rows = self._invoice_rows({"client_id": key["client"]})
        else:
            return matching(self._list_invoice(), key)
        found = []
        for row in rows:
            stub = m.invoice_record({**row, "line_items": []}, self.tz)
            if not matches(stub, {k: v for k, v in key.items() if k in ("client", "issued_on", "due_on", "total")}):
                continue
            record = self._get_invoice(str(row["id"]))
            if record is not None:
                found.append(record)
        return matching(found, key)

    def _create_invoice(self, record: Record) -> str:
        fields = record.fields
        client = record.refs.get("client")
        context = "create invoice"
        if not client:
            raise Rejected(f"{context}: an invoice needs its client", {"client": "required"})
        status = fields.get("status") or "unpaid"
        issued = fields.get("issued_on") or datetime.now(self.tz).date().isoformat()
        vars_ = {
            "client_id": client,
            "date_billed": m.write_date(issued, self.tz),
            "date_due": m.write_date(fields.get("due_on") or issued, self.tz),
            "status": m.INVOICE_STATUS_OUT.get(status, "active"),
            "currency": fields.get("currency") or self.opts["currency"],
            "lines": [m.line_vars(line) for line in fields.get("lines") or []],
            "delivery": [self.opts["invoice_delivery"]],
        }
        created = self.api.post("invoices", "add", {"vars": vars_}, context=context)
        if not created or not str(created).isdigit():
            raise ProtocolError(f"{context}: Blesta invoices/add answered without the new invoice's id")
        id = str(created)
        if status == "paid":
            try:
                self._pay(id, f"create invoice {id}")
            except ConnectorError as exc:
                if not self._paid(id):  # a lost reply may still have applied the payment
                    raise Transient(f"create invoice: invoice {id} added but its payment not recorded ({exc})",
                                    may_have_applied=True) from exc
        return id

    def _update_invoice(self, id: str, record: Record) -> None:
        context = f"update invoice {id}"
        invoice = self._invoice(id, context)
        if invoice is None:
            raise NotFound(f"{context}: no such invoice in Blesta")
        current = m.invoice_record(invoice, self.tz)
        writes = self._writes("invoice", record)
        vars_: dict[str, Any] = {}
        for name, vendor in (("issued_on", "date_billed"), ("due_on", "date_due")):
            if name in writes and differs("invoice", name, current, record):
                vars_[vendor] = m.write_date(record.fields[name], self.tz)
        if "currency" in writes and record.fields.get("currency") and differs("invoice", "currency", current, record):
            vars_["currency"] = record.fields["currency"]
        if "client" in writes and record.refs.get("client") and record.refs["client"] != current.refs.get("client"):
            vars_["client_id"] = record.refs["client"]
        if "lines" in writes:
            lines = m.line_changes(invoice.get("line_items") or [], record.fields.get("lines") or [])
            if lines is not None:
                vars_["lines"] = lines
        pay = False
        if "status" in writes and record.fields.get("status"):
            status_vars, pay = self._invoice_status_change(current.fields["status"], record.fields["status"],
                                                           invoice, context)
            vars_.update(status_vars)
        if vars_:
            self.api.put("invoices", "edit", {"invoice_id": id, "vars": vars_}, context=context)
        if pay:
            self._pay(id, context)

    @staticmethod
    def _invoice_status_change(current: str | None, wanted: str, invoice: Mapping[str, Any],
                               context: str) -> tuple[dict[str, Any], bool]:
        """(edit vars, record a payment) that take an invoice from ``current`` to ``wanted``."""
        vendor = invoice.get("status")
        if wanted == current or (wanted == "refunded" and vendor == "void"):
            return {}, False
        if wanted == "draft":
            raise Rejected(f"{context}: Blesta cannot turn an issued invoice back into a draft", {"status": "draft"})
        if wanted == "unpaid" and current == "paid":
            raise Rejected(f"{context}: Blesta cannot mark a paid invoice unpaid through its API; "
                           "refund or unapply the payment in Blesta", {"status": "unpaid"})
        if wanted in ("cancelled", "refunded"):
            return {"status": "void"}, False
        out = {"status": "active"} if vendor != "active" else {}
        return out, wanted == "paid"

    def _paid(self, id: str) -> bool:
        try:
            invoice = self._invoice(id, f"create invoice {id}")
        except ConnectorError:
            return False
        return invoice is not None and m.invoice_status(invoice) == "paid"

    def _pay(self, id: str, context: str) -> None:
        """Record and apply a payment for what the invoice still owes (Blesta closes it when paid in full).

        Idempotent: the payment carries the reference ``hostsync-invoice-<id>-<amount>``, and an
        existing unapplied payment with it is applied instead of recording another (lost replies).
        """
        invoice = self._invoice(id, context)
        if invoice is None:
            raise NotFound(f"{context}: no such invoice in Blesta")
        due = _decimal(invoice.get("due"))
        if due is None or due <= 0:
            return
        reference = f"hostsync-invoice-{id}-{due.quantize(Decimal('0.01'))}"
        client = invoice["client_id"]
        rows = rows_of(self.api.get("transactions", "getList", {
            "client_id": client, "status": "approved", "page": 1, "order_by": {"date_added": "DESC"},
            "filters": {"transaction_id": reference}}, context=context), "transactions/getList")
        reusable = [r for r in rows if r.get("transaction_id") == reference
                    and (_decimal(r.get("credited_amount")) or 0) >= due]
        if reusable:
            transaction = str(reusable[0]["id"])
        else:
            transaction = str(self.api.post("transactions", "add", {"vars": {
                "client_id": client, "amount": str(due), "currency": invoice.get("currency"), "type": "other",
                "status": "approved", "transaction_id": reference,
                "date_added": m.write_timestamp(datetime.now(timezone.utc))}}, context=context))
            if not transaction.isdigit():
                raise ProtocolError(f"{context}: Blesta transactions/add answered without the payment's id")
        self.api.put("transactions", "apply", {"transaction_id": transaction, "vars": {
            "amounts": [{"invoice_id": id, "amount": str(due)}]}}, context=context)

    def _delete_invoice(self, id: str) -> None:
        context = f"delete invoice {id}"
        invoice = self._invoice(id, context)
        if invoice is None:
            raise NotFound(f"{context}: no such invoice in Blesta")
        if invoice.get("status") == "draft":
            self.api.delete("invoices", "deleteDraft", {"invoice_id": id}, context=context)
        elif invoice.get("status") != "void":
            self.api.put("invoices", "edit", {"invoice_id": id, "vars": {"status": "void"}}, context=context)

    # -- domains --------------------------------------------------------------------------------

    def _service_rows(self, extra: Mapping[str, Any], filters: Mapping[str, Any] | None = None) -> Iterator[dict]:
        filters = {**DOMAIN_SERVICE_FILTER, **(filters or {})}
        args = {**extra, "status": "all", "order_by": {"id": "ASC"}, "children": True, "filters": filters}
        count = {**extra, "status": "all", "children": True, "filters": filters}
        return self.api.pages("services", "getList", args, count=count, context="list domains")

    def _domain_from_row(self, row: Mapping[str, Any]) -> Record | None:
        if "fields" not in row:  # older Blesta: rows without service fields
            service = self._service(str(row["id"]), f"read domain {row['id']}")
            row = service or row
        return m.domain_record(row, self.tz, self.opts["domain_field"])

    def _list_domain(self) -> Iterator[Record]:
        for row in self._service_rows({}):
            record = self.detail("domain", str(row["id"]), functools.partial(self._domain_from_row, row))
            if record is not None:
                yield record

    def _service(self, id: str, context: str) -> dict[str, Any] | None:
        service = self.api.get("services", "get", {"service_id": id}, context=context)
        if not service:
            return None
        if not isinstance(service, dict) or "id" not in service:
            raise ProtocolError(f"{context}: Blesta services/get answered something other than a service")
        return service

    def _get_domain(self, id: str) -> Record | None:
        service = self._service(id, f"read domain {id}")
        return None if service is None else m.domain_record(service, self.tz, self.opts["domain_field"])

    def _find_domain(self, key: dict[str, Any]) -> list[Record]:
        extra = {"client_id": key["client"]} if key.get("client") else {}
        if not key.get("name"):
            rows: Any = self._service_rows(extra)
        else:  # registrar modules store either form of an internationalised name
            name = normalise_value(KINDS["domain"].field("name"), key["name"])
            forms = dict.fromkeys([name, m.domain_unicode(name)])
            rows = (row for form in forms for row in self._service_rows(extra, {"service_meta": form}))
        found = {r.id: r for r in map(self._domain_from_row, rows) if r is not None}
        return matching(found.values(), key)

    def _create_domain(self, record: Record) -> str:
        fields = record.fields
        context = f"create domain {fields.get('name') or ''}".strip()
        if not fields.get("name") or not record.refs.get("client"):
            raise Rejected(f"{context}: a domain needs its name and client", {"name": "required"})
        vars_: dict[str, Any] = {
            "pricing_id": self.opts["domain_pricing_id"],
            "client_id": record.refs["client"],
            "status": m.DOMAIN_STATUS_OUT.get(fields.get("status") or "active", "active"),
            "use_module": "false",
            "qty": 1,
            self.opts["domain_field"]: fields["name"],
        }
        if fields.get("registered_on"):
            vars_["date_added"] = m.write_date(fields["registered_on"], self.tz)
        if fields.get("expires_on"):
            vars_["date_renews"] = m.write_date(fields["expires_on"], self.tz)
        created = self.api.post("services", "add", {"vars": vars_, "notify": False}, context=context)
        if not created or not str(created).isdigit():
            raise ProtocolError(f"{context}: Blesta services/add answered without the new service's id")
        return str(created)

    def _update_domain(self, id: str, record: Record) -> None:
        context = f"update domain {id}"
        service = self._service(id, context)
        current = None if service is None else m.domain_record(service, self.tz, self.opts["domain_field"])
        if current is None:
            raise NotFound(f"{context}: no such domain service in Blesta")
        writes = {n for n in self._writes("domain", record) if differs("domain", n, current, record)}
        vars_: dict[str, Any] = {}
        if "expires_on" in writes and record.fields.get("expires_on"):
            vars_["date_renews"] = m.write_date(record.fields["expires_on"], self.tz)
        if "registered_on" in writes and record.fields.get("registered_on"):
            vars_["date_added"] = m.write_date(record.fields["registered_on"], self.tz)
        if "client" in writes and record.refs.get("client"):
            vars_["client_id"] = record.refs["client"]
        if vars_:
            self.api.put("services", "edit", {"service_id": id, "vars": {**vars_, "use_module": "false"},
                                              "bypass_module": True, "notify": False}, context=context)
        if "name" in writes and record.fields.get("name"):
            self.api.put("services", "editField", {"service_id": id, "vars": {
                "key": self.opts["domain_field"], "value": record.fields["name"], "encrypted": "false"}},
                context=context)
        if "status" in writes and record.fields.get("status"):
            self._domain_status(id, str(service.get("status")), record.fields["status"], context)

    def _domain_status(self, id: str, vendor: str, wanted: str, context: str) -> None:
        target = m.DOMAIN_STATUS_OUT.get(wanted)
        if target is None or target == vendor or m.DOMAIN_STATUS_IN.get(vendor) == wanted:
            return
        quiet = {"use_module": "false"}
        if vendor == "canceled":
            self.api.put("services", "unCancel", {"service_id": id, "vars": quiet}, context=context)
            vendor = "active"
        if target == "canceled":
            self.api.put("services", "cancel", {"service_id": id, "vars": {
                **quiet, "date_canceled": m.write_timestamp(datetime.now(timezone.utc)), "notify_cancel": "false"}},
                context=context)
        elif target == "suspended":
            if vendor != "active":
                self.api.put("services", "edit", {"service_id": id, "vars": {"status": "active", **quiet},
                                                  "bypass_module": True, "notify": False}, context=context)
            self.api.put("services", "suspend", {"service_id": id, "vars": quiet}, context=context)
        elif vendor == "suspended" and target == "active":
            self.api.put("services", "unsuspend", {"service_id": id, "vars": quiet}, context=context)
        elif vendor != target:
            self.api.put("services", "edit", {"service_id": id, "vars": {"status": target, **quiet},
                                              "bypass_module": True, "notify": False}, context=context)

    # -- tickets --------------------------------------------------------------------------------

    def _ticket_args(self, **extra: Any) -> dict[str, Any]:
        # status has no PHP default (must be sent); "" = every status. staff_id/client_id default to
        # null and are compared strictly, so they are sent only to filter.
        return {"status": "", **extra, "get_replies": True}

    def _ticket_rows(self, **extra: Any) -> Iterator[dict]:
        if not self._by_settings_only():  # stored() shows Blesta's department names: know them from here on
            self._blesta_departments()
        args = {**self._ticket_args(**extra), "order_by": {"id": "asc"}}
        count = {"status": "", **{k: v for k, v in extra.items() if k in ("client_id", "filters")}}
        return self.api.pages(TICKETS, "getList", args, count=count, context="list tickets")

    def _list_ticket(self) -> Iterator[Record]:
        for row in self._ticket_rows():
            record = self._ticket_record(row)
            if record is not None:
                yield record

    def _ticket_record(self, ticket: Mapping[str, Any]) -> Record | None:
        """The canonical ticket; remembers what Blesta calls its department (see :meth:`stored`)."""
        department, name = m._id(ticket.get("department_id")), m._blank(ticket.get("department_name"))
        if department and department.isdigit() and name:
            with self._lock:
                self._department_names[int(department)] = str(name)
        return m.ticket_record(ticket)

    def _ticket(self, id: str, context: str) -> dict[str, Any] | None:
        ticket = self.api.get(TICKETS, "get", {"ticket_id": id, "get_replies": True}, context=context)
        if not ticket:
            return None
        if not isinstance(ticket, dict) or "id" not in ticket:
            raise ProtocolError(f"{context}: Blesta {TICKETS}/get answered something other than a ticket")
        return ticket

    def _get_ticket(self, id: str) -> Record | None:
        ticket = self._ticket(id, f"read ticket {id}")
        return None if ticket is None else self._ticket_record(ticket)

    def _find_ticket(self, key: dict[str, Any]) -> list[Record]:
        if key.get("client"):
            rows: Iterator[dict] = self._ticket_rows(client_id=key["client"])
        else:
            rows = self._ticket_rows()
        found = [r for r in map(self._ticket_record, rows) if r is not None]
        found += self._orphan_tickets({r.id for r in found})
        return matching(found, key)

    def _orphan_tickets(self, known: set[str | None]) -> list[Record]:
        """Tickets whose opening reply never arrived: Blesta's lists hide them (they INNER JOIN the
        latest reply), so look them up by id: the ones this process left behind, and the ids
        around the newest visible tickets that the lists do not show (left by an earlier run)."""
        newest = rows_of(self.api.get(TICKETS, "getList", {**self._ticket_args(), "page": 1,
                                                           "order_by": {"id": "desc"}}, context="find ticket"),
                         f"{TICKETS}/getList")
        visible = {int(r["id"]) for r in newest if str(r.get("id", "")).isdigit()}
        top = max(visible, default=0)
        with self._lock:
            candidates = {int(i) for i in self._orphans}
        candidates |= {i for i in range(max(min(visible, default=1), top - ORPHAN_WINDOW), top + 1)
                       if i not in visible}
        out: list[Record] = []
        known = set(known)
        for i in sorted(candidates):
            if str(i) in known:
                continue
            known.add(str(i))
            ticket = self._ticket(str(i), "find ticket")
            record = None if ticket is None else self._ticket_record(ticket)
            if record is not None:
                out.append(record)
        probe = top + 1
        while probe <= top + ORPHAN_WINDOW:
            ticket = self._ticket(str(probe), "find ticket")
            if ticket is None:
                break
            record = self._ticket_record(ticket)
            if record is not None and str(probe) not in known:
                out.append(record)
            probe += 1
        return out

    def _department_id(self, name: Any) -> int | None:
        if name is not None and str(name).casefold() in self.departments:
            return self.departments[str(name).casefold()]
        return None

    def _by_settings_only(self) -> bool:
        """Whether the settings alone say where tickets go (else Blesta's departments are read)."""
        return bool(self.opts.get("ticket_department_id"))

    def _blesta_departments(self) -> list[tuple[int, str]]:
        """This company's Support Manager departments as (id, name), read once per run."""
        with self._lock:
            if self._departments_read is not None:
                return self._departments_read
        rows = rows_of(self.api.get(DEPARTMENTS, "getAll", {"company_id": self.company_id},
                                    context="read support departments"), f"{DEPARTMENTS}/getAll")
        found = sorted((int(r["id"]), str(r.get("name") or "")) for r in rows if str(r.get("id", "")).isdigit())
        with self._lock:
            self._departments_read = found
            for department, name in found:
                self._department_names.setdefault(department, name)
        return found

    def _department_target(self, name: Any, *, ask: bool = True) -> int | None:
        """Where a ticket of department ``name`` goes: the mapped department, else ticket_department_id,
        else Blesta's department of that name, else Blesta's only one (``ask``: read Blesta's
        departments if not read yet; without, what is not known is ``None``)."""
        default = self.opts.get("ticket_department_id")
        found = self._department_id(name) or (int(default) if default else None)
        if found or self._by_settings_only():
            return found
        if ask:
            departments = self._blesta_departments()
        else:
            with self._lock:
                departments = self._departments_read or []
        named = [d for d, known in departments if name is not None and known.casefold() == str(name).casefold()]
        if named:
            return named[0]
        return departments[0][0] if len(departments) == 1 else None

    def _department_shown(self, name: Any) -> Any:
        """The department name Blesta will show for a ticket written with department ``name``."""
        target = self._department_target(name, ask=False)
        if target is None:
            return name
        with self._lock:
            known = self._department_names.get(target)
        if known is None:  # not read yet: the name the operator mapped to it
            known = next((str(k) for k, v in (self.opts.get("ticket_departments") or {}).items()
                          if int(v) == target), None)
        return name if known is None else normalise_value(KINDS["ticket"].field("department"), known)

    def _create_ticket(self, record: Record) -> str:
        fields = record.fields
        context = "create ticket"
        client = record.refs.get("client")
        department = self._department_target(fields.get("department"))
        if not department:
            raise Rejected(f"{context}: Blesta has no support department named {fields.get('department')!r} and "
                           f"ticket_department_id is not set (set it, or map the department in ticket_departments)",
                           {"department": "no Blesta department"})
        messages = m.ticket_messages_stored(fields.get("messages"), fields.get("subject"))
        sender = None if client else messages[0].get("author")
        posters = self._posters(messages, client, sender, context)
        vars_: dict[str, Any] = {
            "department_id": department,
            "summary": fields.get("subject") or "",
            "priority": m.TICKET_PRIORITY_OUT.get(fields.get("priority") or "low", "low"),
            "status": m.TICKET_STATUS_OUT.get(fields.get("status") or "open", "open"),
        }
        if client:
            vars_["client_id"] = client
        elif m.is_email(messages[0].get("author")):
            vars_["email"] = messages[0]["author"]
        else:
            raise Rejected(f"{context}: a ticket needs a client or an author e-mail", {"client": "required"})
        created = self.api.post(TICKETS, "add", {"vars": vars_, "require_email": False}, context=context)
        if not created or not str(created).isdigit():
            raise ProtocolError(f"{context}: Blesta {TICKETS}/add answered without the new ticket's id")
        id = str(created)
        with self._lock:
            self._orphans.add(id)
        try:
            for index, (message, poster) in enumerate(zip(messages, posters)):
                self._reply(id, message, poster, new_ticket=index == 0, context=f"create ticket {id}")
        except ConnectorError as exc:
            try:  # look at what landed (a lost reply may have posted it), then post the rest once
                self._post_missing(id, messages, client, sender, f"create ticket {id}")
            except ConnectorError:
                raise Transient(f"create ticket: ticket {id} added but its messages not all posted ({exc})",
                                may_have_applied=True) from exc
        with self._lock:
            self._orphans.discard(id)
        return id

    def _post_missing(self, id: str, messages: list[Mapping[str, Any]], client: str | None, sender: str | None,
                      context: str) -> None:
        """Post the messages the ticket does not hold yet (the opening one as ``new_ticket``)."""
        ticket = self._ticket(id, context)
        current = None if ticket is None else self._ticket_record(ticket)
        if current is None:
            raise NotFound(f"{context}: the ticket is gone from Blesta")
        missing = m.missing_messages(current.fields["messages"], messages)
        has_reply = bool(current.fields["messages"])
        for message, poster in zip(missing, self._posters(missing, client, sender, context)):
            self._reply(id, message, poster, new_ticket=not has_reply, context=context)
            has_reply = True

    def _posters(self, messages: list[Mapping[str, Any]], client: str | None, sender: str | None,
                 context: str) -> list[dict[str, Any]]:
        """Who posts each message: the client (or, on an e-mail ticket, its sender) when the author is
        them or unknown; anyone else is staff (``staff_id``)."""
        client_email = None
        if client and any(msg.get("author") for msg in messages):
            row = self._client_row(client)
            client_email = str(row.get("email") or "").casefold() if row else None
        sender = str(sender or "").casefold() or None
        staff = self.opts.get("staff_id")
        out = []
        for msg in messages:
            author = str(msg.get("author") or "").casefold()
            if client and (not author or author == client_email):
                out.append({"client_id": client})
            elif not client and (not author or author == sender):
                out.append({})  # an e-mail ticket: the reply is its sender's
            elif staff:
                out.append({"staff_id": staff})
            else:
                raise Rejected(f"{context}: a message by {msg.get('author')!r} needs staff_id to post it as staff",
                               {"messages": "staff_id not set"})
        return out

    def _reply(self, id: str, message: Mapping[str, Any], poster: Mapping[str, Any], *, new_ticket: bool,
               context: str) -> None:
        self.api.post(TICKETS, "addReply", {"ticket_id": id, "vars": {
            "type": "reply", "details": message.get("body") or "", **poster}, "new_ticket": new_ticket},
            context=context)

    def _update_ticket(self, id: str, record: Record) -> None:
        context = f"update ticket {id}"
        ticket = self._ticket(id, context)
        current = None if ticket is None else self._ticket_record(ticket)
        if current is None:
            raise NotFound(f"{context}: no such ticket in Blesta")
        writes = {n for n in self._writes("ticket", record) if differs("ticket", n, current, record)}
        if "messages" in self._writes("ticket", record):
            self._post_missing(id, record.fields.get("messages") or [], current.refs.get("client"),
                               ticket.get("email"), context)
        vars_: dict[str, Any] = {}
        if "subject" in writes:
            vars_["summary"] = record.fields.get("subject") or ""
        if "priority" in writes:  # none is low, as on create
            priority = record.fields.get("priority") or "low"
            if m.TICKET_PRIORITY_IN.get(str(ticket.get("priority"))) != priority:
                vars_["priority"] = m.TICKET_PRIORITY_OUT[priority]
        if "status" in writes:  # none is open, as on create
            target = m.TICKET_STATUS_OUT[record.fields.get("status") or "open"]
            if target != ticket.get("status"):
                vars_["status"] = target
        if "department" in writes:  # as on create: a department not mapped goes to ticket_department_id
            department = self._department_target(record.fields.get("department"))
            if department is not None and str(department) != str(ticket.get("department_id")):
                vars_["department_id"] = department
        if "client" in writes and record.refs.get("client") and not m._id(ticket.get("client_id")):
            vars_["client_id"] = record.refs["client"]
        if vars_:
            self.api.put(TICKETS, "edit", {"ticket_id": id, "vars": vars_, "log": True}, context=context)

    def _delete_ticket(self, id: str) -> None:
        """Blesta keeps deleted tickets in the trash (status ``trash``), which lists here skip."""
        if self._ticket(id, f"delete ticket {id}") is None:
            raise NotFound(f"delete ticket {id}: no such ticket in Blesta")
        self.api.put(TICKETS, "edit", {"ticket_id": id, "vars": {"status": "trash"}, "log": True},
                     context=f"delete ticket {id}")


# -- helpers ------------------------------------------------------------------------------------

_USERNAME_SAFE = set(string.ascii_letters + string.digits + "._-@+")


def _phone_numbers(numbers: list[dict[str, Any]], primary: dict[str, Any] | None, phone: Any) -> list[dict[str, Any]]:
    """Every number of the contact (Blesta drops the ones an edit does not send), the phone changed."""
    out = [{"id": str(n["id"]), "number": ("" if phone is None else phone) if n is primary else n.get("number"),
            "type": n.get("type") or "phone", "location": n.get("location") or "home"} for n in numbers]
    if primary is None and phone:
        out.append({"number": phone, "type": "phone", "location": "home"})
    return out


def _username(template: str, fields: Mapping[str, Any]) -> str:
    email = str(fields.get("email") or "")
    values = {"email": email, "local": email.split("@", 1)[0], "first_name": str(fields.get("first_name") or ""),
              "last_name": str(fields.get("last_name") or ""), "random": secrets.token_hex(4)}
    try:
        name = template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise Rejected(f"create client: username_template {template!r} is not usable ({exc})") from None
    if name == email:
        return name
    name = "".join(ch if ch in _USERNAME_SAFE else "_" for ch in name.lower().replace(" ", "."))
    return name or f"client{values['random']}"


def _decimal(value: Any) -> Decimal | None:
    try:
        return None if value in (None, "", False) else Decimal(str(value))
    except InvalidOperation:
        return None

