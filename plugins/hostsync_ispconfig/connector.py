"""The ISPConfig connector: clients, domains (domain-limit table) and sites (web domains).

One session per run (see :mod:`.client`), over SOAP (default) or JSON. ISPConfig writes are not
atomic: after any 5xx or lost reply on an add the connector raises ``Transient(may_have_applied=True)``
and the engine looks the record up by its natural key (:meth:`find`) before writing again.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, Callable, Iterator, Mapping

from hostsync import Connector, Cost, Operations, Record, Setting
from hostsync.errors import ConfigError, ConnectorError, NotFound, ProtocolError, Rejected, Transient
from hostsync.model import normalise

from . import mapping
from .client import Session, make_transport
from .functions import Default

_OPS = ("list", "get", "find", "create", "update", "delete")
_TABLES = {"client": "client", "domain": "domains_domain", "site": "sites_web_domain"}

CLIENT_DEFAULT_SETTINGS = (
    Setting("language", default="en", help="Interface language of new client logins."),
    Setting("usertheme", default="default", help="Interface theme of new client logins."),
    Setting("default_mailserver", "int", default=1), Setting("default_webserver", "int", default=1),
    Setting("default_dnsserver", "int", default=1), Setting("default_dbserver", "int", default=1),
    Setting("template_master", "int", default=0, help="Limits template id for new clients (0: none)."),
    Setting("template_additional", default="", help="Additional limits templates, as ISPConfig stores them."),
    Setting("reseller_id", "int", default=0, help="Reseller new clients belong to (0: the admin)."),
    Setting("username_template", default="{email_local}",
            help="Login name of new clients from {email_local} {email} {first_name} {last_name} {company}; "
                 "a number is appended when taken. Passwords are random and never logged or stored."),
    Setting("notes", default=""),
    Setting("limits", "table", default={}, help="limit_* columns for new clients, e.g. limit_web_domain = 5."),
)
SITE_DEFAULT_SETTINGS = (
    Setting("server_id", "int", default=1, help="Web server new sites are created on."),
    Setting("ip_address", default="*"),
    Setting("hd_quota", "int", default=100, help="Disk quota in MiB when the record has none (-1: unlimited)."),
    Setting("letsencrypt", "bool", default=False, help="Ask for a Let's Encrypt certificate when ssl is on."),
    Setting("extra", "table", default={}, help="Further web_domain columns for new sites (e.g. pm = \"dynamic\")."),
)


def _defaults(declared: tuple[Setting, ...], given: Mapping[str, Any] | None, key: str) -> dict[str, Any]:
    given = dict(given or {})
    unknown = set(given) - {s.name for s in declared}
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(sorted(unknown))}", key=key)
    return {s.name: given.get(s.name, s.default) for s in declared}


_ONE_REQUEST = Cost(page=2**31 - 1)


class IspconfigConnector(Connector):
    name = "ispconfig"
    description = "ISPConfig 3 control panel over its remote API (SOAP or JSON): clients, domains, sites"
    # Each kind lists in one request (every row: a page as large as any panel), a find is one filtered
    # request. client_delete removes the client and its login, but leaves its domains and sites pointing
    # at a login and group that no longer exist (strands).
    kinds = {
        "client": Operations.of(*_OPS, fields=mapping.CLIENT_FIELDS, strands=("domain", "site"), cost=_ONE_REQUEST),
        "domain": Operations.of(*_OPS, fields=mapping.DOMAIN_FIELDS, cost=_ONE_REQUEST),
        "site": Operations.of(*_OPS, fields=mapping.SITE_FIELDS, cost=_ONE_REQUEST),
    }
    settings = (
        Setting("url", "url", required=True, help="The remote API base, e.g. https://panel.example.com:8080/remote/"),
        Setting("username", required=True, help="An ISPConfig remote user (System > Remote Users)."),
        Setting("password", secret=True, required=True, help="The remote user's password."),
        Setting("transport", default="soap", choices=("soap", "json"),
                help="soap: remote/index.php; json: remote/json.php."),
        Setting("client_defaults", "table", default={}, fields=CLIENT_DEFAULT_SETTINGS,
                help="Values ISPConfig needs for new clients that canonical data lacks."),
        Setting("site_defaults", "table", default={}, fields=SITE_DEFAULT_SETTINGS,
                help="Values ISPConfig needs for new sites that canonical data lacks."),
    )
    default_concurrency = 4
    id_pattern = r"[1-9][0-9]*"  # auto-increment ids: anything else a create answers is not one

    def __init__(self, system: str, options: Mapping[str, Any], *,
                 clock: Callable[[], float] | None = None) -> None:
        super().__init__(system, options)
        self.client_defaults = _defaults(CLIENT_DEFAULT_SETTINGS, options.get("client_defaults"),
                                         f"systems.{system}.client_defaults")
        self.site_defaults = _defaults(SITE_DEFAULT_SETTINGS, options.get("site_defaults"),
                                       f"systems.{system}.site_defaults")
        try:
            mapping.login_name(self.client_defaults["username_template"], {})
        except (KeyError, ValueError, IndexError) as exc:
            raise ConfigError(f"username_template: unknown placeholder or bad format ({exc})",
                              key=f"systems.{system}.client_defaults") from None
        # What an add sends besides the record: the defaults that are ISPConfig columns.
        self._client_columns = {**{k: v for k, v in self.client_defaults.items()
                                   if k not in ("reseller_id", "username_template", "limits")},
                                **self.client_defaults["limits"]}
        self._site_columns = {**mapping.SITE_DEFAULTS,
                              **{k: v for k, v in self.site_defaults.items() if k not in ("letsencrypt", "extra")},
                              **self.site_defaults["extra"]}
        extra = {"clock": clock} if clock else {}
        self.session = Session(make_transport(options), str(options["username"]),
                               str(options["password"]), system=system, **extra)
        self._owners: dict[str, str | None] = {}

    # -- plumbing -----------------------------------------------------------------------------

    def _call(self, function: str, *args: Any, what: str, hide: tuple[str, ...] = ()) -> Any:
        return self.session.call(function, *args, what=f"{self.system}: {what}", hide=hide)

    def _new_id(self, value: Any, what: str) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int)) or self._id(value) is None:
            raise ProtocolError(f"{self.system}: {what}: the answer is not the new record's id")
        return str(int(value))

    def _rows(self, value: Any, what: str) -> list[dict[str, Any]]:
        """Rows of a ``-1`` or filter read (PHP sends a list, an empty one as ``[]``, never a Map)."""
        if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
            raise ProtocolError(f"{self.system}: {what}: expected a list of records")
        return value

    def _owner(self, sys_userid: Any) -> str | None:
        """The client owning a record, from its ``sys_userid`` (cached for the run)."""
        userid = self._id(sys_userid) if sys_userid is not None else None
        if userid is None:
            return None
        key = str(userid)
        if key not in self._owners:
            try:
                client = self._call("client_get_id", userid, what=f"client_get_id for sys_userid {key}")
            except Rejected:  # no_client_found: a login without a client (the admin, a deleted client)
                client = 0
            self._owners[key] = str(int(client)) if str(client).isdigit() and int(client) > 0 else None
        return self._owners[key]

    def _record(self, kind: str, row: Mapping[str, Any]) -> Record:
        if kind == "client":
            return mapping.client_record(row)
        owner = self._owner(row.get("sys_userid"))
        return mapping.domain_record(row, owner) if kind == "domain" else mapping.site_record(row, owner)

    @staticmethod
    def _id(value: str | int) -> int | None:
        text = str(value).strip()
        return int(text) if text.isdigit() and int(text) > 0 else None

    @classmethod
    def _owner_id(cls, record: Record) -> int:
        """The ``client_id`` an add or update names as owner (0: the admin, i.e. no client)."""
        client = record.refs.get("client")
        return (cls._id(client) or 0) if client is not None else 0

    # -- operations ---------------------------------------------------------------------------

    def check(self) -> None:
        """Log in and prove the remote user may read clients (a filter that matches nothing)."""
        self._call("client_get", {"client_id": 0}, what="check: client_get")

    def list(self, kind: str, since: datetime | None = None) -> Iterator[Record]:
        selector: Any = mapping.site_filter({}) if kind == "site" else -1
        answer = self.fetch(lambda: self._call(f"{_TABLES[kind]}_get", selector, what=f"list {kind}s"))
        rows = self._rows(answer, f"list {kind}s")
        for row in rows:
            yield self._record(kind, row)

    def get(self, kind: str, id: str) -> Record | None:
        ident = self._id(id)
        if ident is None:
            return None
        value = self._call(f"{_TABLES[kind]}_get", ident, what=f"get {kind} {id}")
        if value is None or value == [] or value is False:
            return None
        if not isinstance(value, dict):
            raise ProtocolError(f"{self.system}: get {kind} {id}: expected one record")
        if kind == "site" and value.get("type") != "vhost":
            return None  # an alias or subdomain, not a site
        return self._record(kind, value)

    def find(self, kind: str, key: Mapping[str, Any]) -> list[Record]:
        selector: Any = {"client": mapping.client_filter, "domain": mapping.domain_filter,
                         "site": mapping.site_filter}[kind](key) or -1
        what = f"find {kind} by {', '.join(sorted(key))}"
        return [self._record(kind, row) for row in self._rows(self._call(f"{_TABLES[kind]}_get", selector, what=what),
                                                              what)]

    def create(self, kind: str, record: Record) -> str:
        fields = record.fields
        if kind == "client":
            return self._create_client(fields)
        if kind == "domain":
            what = f"create domain {fields.get('name')}"
            new_id = self._call("domains_domain_add", self._owner_id(record), mapping.domain_params(fields), what=what)
        else:
            what = f"create site {fields.get('domain')}"
            params = mapping.site_add_params(fields, self._site_columns, letsencrypt=self.site_defaults["letsencrypt"])
            new_id = self._call("sites_web_domain_add", self._owner_id(record), params, Default(False), what=what)
        return self._new_id(new_id, what)

    def _create_client(self, fields: Mapping[str, Any]) -> str:
        """``client_add`` as an active client, then ``client_update`` to any other status.

        ISPConfig 3.2 makes every new login active whatever ``canceled`` says; only ``client_update``
        applies ``canceled`` to the login (and ``locked`` to the client's services). The add is
        active on purpose: should the update not happen, ISPConfig shows an active client, a
        difference the engine sees, so its lookup after the ``Transient`` below adopts the client and
        updates it, instead of linking a "closed" client whose login still works.
        """
        status = fields.get("status") or "active"
        username = self._free_login_name(fields)
        password = self.secret(secrets.token_urlsafe(18))
        params = mapping.client_add_params({**fields, "status": "active"}, self._client_columns,
                                           username=username, password=password)
        what = f"create client {fields.get('email')}"
        new_id = self._new_id(self._call("client_add", self.client_defaults["reseller_id"], params, what=what,
                                         hide=(password,)), what)
        if status != "active":
            try:
                self._call("client_update", int(new_id), self.client_defaults["reseller_id"],
                           mapping.client_changes({"status": status}), what=f"{what}: set status {status}")
            except ConnectorError as exc:
                raise Transient(f"{self.system}: {what}: client {new_id} was added as active, but setting its "
                                f"status to {status} failed ({exc}); it is looked up and updated again",
                                may_have_applied=True) from exc
        return new_id

    def _free_login_name(self, fields: Mapping[str, Any]) -> str:
        template = self.client_defaults["username_template"]
        for attempt in range(1, 21):
            name = mapping.login_name(template, fields, attempt)
            if not self._rows(self._call("client_get", {"username": name}, what="check a login name is free"),
                              "check a login name is free"):
                return name
        raise Rejected(f"{self.system}: create client {fields.get('email')}: no free login name from "
                       f"username_template after 20 tries", {"username": "taken"})

    def update(self, kind: str, id: str, record: Record) -> None:
        ident = self._id(id)
        if ident is None:
            raise NotFound(f"{self.system}: update {kind} {id}: not an ISPConfig id")
        what = f"update {kind} {id}"
        if kind == "client":
            changes = mapping.client_changes(record.fields)
            if not changes:
                return
            affected = self._call("client_update", ident, self.client_defaults["reseller_id"], changes, what=what)
        else:
            # An update also sets the owner (client_id 0 is the admin), so keep the current one when
            # the record does not say.
            if "client" in record.refs:
                owner = self._owner_id(record)
            else:
                current = self.get(kind, id)
                if current is None:
                    raise NotFound(f"{self.system}: {what}: ISPConfig has no such record")
                owner = self._owner_id(current)
            if kind == "domain":
                changes = mapping.domain_params(record.fields)
                affected = self._call("domains_domain_update", owner, ident, changes, what=what)
            else:
                changes = mapping.site_changes(record.fields, self._site_columns,
                                               letsencrypt=self.site_defaults["letsencrypt"])
                affected = self._call("sites_web_domain_update", owner, ident, changes, what=what)
        # ISPConfig answers the affected-row count: 0 is "nothing changed" or "no such record".
        if not _count(affected) and self.get(kind, id) is None:
            raise NotFound(f"{self.system}: {what}: ISPConfig has no such record")

    def delete(self, kind: str, id: str) -> None:
        ident = self._id(id)
        what = f"delete {kind} {id}"
        if ident is None or not _count(self._call(f"{_TABLES[kind]}_delete", ident, what=what)):
            raise NotFound(f"{self.system}: {what}: ISPConfig has no such record")

    def stored(self, kind: str, record: Record) -> Record:
        """What ISPConfig shows for ``record`` once written: ``php = "no"`` is no PHP; a client or
        site without status is active, a site without TLS flag has none and one without quota gets
        the configured ``hd_quota`` (ISPConfig has no empty value for them)."""
        back = mapping.stored(kind, record.fields, self._site_columns)
        fields = normalise(Record(kind, record.id, back)).fields
        kept = {name: fields[name] if name in fields else value for name, value in back.items()}
        if kept == record.fields:
            return record
        return Record(kind, record.id, kept, dict(record.refs), record.updated_at, record.version)

    def close(self) -> None:
        self.session.close()


def _count(value: Any) -> int:
    """An affected-row count as ISPConfig answers it (int, numeric string or false)."""
    text = str(value).strip()
    return int(text) if text.lstrip("-").isdigit() else 0
