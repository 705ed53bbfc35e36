"""An in-memory ISPConfig 3.2 remoting layer: the tables and the remote functions the plugin uses.

It behaves as ``interface/lib/classes/remoting*.inc.php`` does (FACTS.md sections 6 and 9): rows
hold strings or NULL as MySQL returns them; ``_get`` takes an id (one row or NULL), ``-1`` (all),
or a filter array (``%`` -> LIKE, ``#OFFSET#``/``#LIMIT#``, case-insensitive like MySQL's
collation); adds return the new id as a string and apply no defaults beyond the columns'; updates
merge into the record and return the affected-row count (0 when nothing changed); sessions last
1800 s from login; validation fails with ``data_processing_error`` and the tform error keys. A
client's login (``sys_user.active``) is created active whatever the client's ``canceled`` says;
only ``client_update`` makes it follow ``canceled`` (ISPConfig 3.2's ``func_client_cancel``). Both
front ends in :mod:`.sandbox` (SOAP and JSON) call :meth:`Panel.invoke`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
from pathlib import Path
from typing import Any, Callable, Mapping

from .functions import FUNCTIONS
from .soapenc import PhpObject

TABLES: dict[str, dict[str, Any]] = {
    name: columns for name, columns in json.loads(Path(__file__).with_name("tables.json").read_text()).items()
    if not name.startswith("_")
}
_KEYS = {"client": "client_id", "domain": "domain_id", "web_domain": "domain_id", "sys_user": "userid",
         "sys_group": "groupid", "server": "server_id"}
SESSION_LIFETIME = 1800
_GROUPS = {"client": "client", "domains": "domains", "sites": "sites"}
_OPTIONAL = {"login": {"client_login": False}, "sites_web_domain_add": {"readonly": False}}
_NUMERIC = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
_DOMAIN = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$", re.I)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_USERNAME = re.compile(r"^[\w.\-]{1,64}$")
_INTEGER = re.compile(r"^-?\d+$")
_BREAK = "<br />\r\n"


class PanelFault(Exception):
    """A ``SoapFault`` thrown by ISPConfig's code (its fault code and message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PhpError(Exception):
    """A PHP ``Error`` (e.g. indexing a stdClass): SoapServer turns it into a ``Server`` fault."""


class Crash(Exception):
    """PHP died mid-call (a database error on PHP 8.2): the client gets an empty HTTP 500."""


def php_string(value: Any) -> str | None:
    """A PHP value as MySQL stores it through ISPConfig's string-quoting db layer."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, (dict, list)):
        return "Array"
    return str(value)


def is_numeric(value: Any) -> bool:
    """PHP's ``is_numeric``."""
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float)) or (isinstance(value, str) and bool(_NUMERIC.match(value)))


def intval(value: Any) -> int:
    """PHP's ``intval`` (leading digits of a string, 0 otherwise)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return int(value)
    match = re.match(r"^\s*([+-]?\d+)", str(value or ""))
    return int(match.group(1)) if match else 0


def array(value: Any) -> dict[str, Any]:
    """Use a parameter as a PHP array, as ISPConfig's handlers do (``$params['x']``)."""
    if isinstance(value, PhpObject):
        raise PhpError("Cannot use object of type stdClass as array")
    if value is None or value == "" or value is False:
        return {}  # null['x'] is null in PHP (with a warning)
    if isinstance(value, list):
        return {str(i): item for i, item in enumerate(value)}
    if isinstance(value, dict):
        return value
    raise PhpError("Cannot use a scalar value as an array")


class Panel:
    """The emulated ISPConfig: tables, remote users, sessions and the remote functions."""

    def __init__(self, now: Callable[[], float], rng: random.Random) -> None:
        self.now = now
        self.rng = rng
        self.sessions: dict[str, dict[str, Any]] = {}
        self.reset()

    # -- state --------------------------------------------------------------------------------

    def reset(self) -> None:
        self.tables: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in (*TABLES, "server")}
        self.auto: dict[str, int] = {name: 0 for name in self.tables}
        self.remote_users: list[dict[str, Any]] = []
        self.sessions.clear()
        self.insert("sys_group", {"groupid": "1", "name": "admin", "description": "", "client_id": "0"})
        self.insert("sys_user", {**TABLES["sys_user"], "userid": "1", "username": "admin", "typ": "admin",
                                 "passwort": self.password_hash("admin"), "client_id": "0",
                                 "groups": "1", "default_group": "1"})
        self.insert("server", {"server_id": "1", "server_name": "web1.example.test", "web_server": "1",
                               "mail_server": "1", "dns_server": "1", "db_server": "1"})

    def dump(self) -> dict[str, Any]:
        return {"remote_users": [dict(user) for user in self.remote_users],
                "tables": {name: [dict(row) for row in rows.values()] for name, rows in self.tables.items()},
                "auto_increment": dict(self.auto)}

    def load(self, data: Mapping[str, Any]) -> None:
        self.reset()
        if "remote_users" in data:
            self.remote_users = [dict(user) for user in data["remote_users"]]
        for name, rows in (data.get("tables") or {}).items():
            if rows:
                self.tables[name] = {}
            for row in rows:
                self.insert(name, row)
        for name, value in (data.get("auto_increment") or {}).items():
            self.auto[name] = max(self.auto.get(name, 0), int(value))

    def insert(self, table: str, row: Mapping[str, Any]) -> int:
        key = _KEYS[table]
        defaults = TABLES.get(table, {})
        new = {**defaults, **{column: value for column, value in row.items()}}
        ident = intval(new.get(key)) or self.auto[table] + 1
        self.auto[table] = max(self.auto[table], ident)
        new[key] = str(ident)
        self.tables[table][ident] = new
        return ident

    def password_hash(self, password: str) -> str:
        """A crypt-style hash, like the ``password``/``passwort`` columns hold."""
        salt = "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789./") for _ in range(16))
        digest = base64.b64encode(hashlib.sha512((salt + password).encode()).digest()).decode()
        return f"$6$rounds=5000${salt}${digest.rstrip('=').replace('+', '.')}"

    def ssh_keys(self) -> tuple[str, str]:
        """A fake key pair, as ISPConfig generates one per client (``id_rsa``/``ssh_rsa``)."""
        blob = base64.b64encode(self.rng.randbytes(180)).decode()
        private = f"-----BEGIN RSA PRIVATE KEY-----\n{blob}\n-----END RSA PRIVATE KEY-----\n"
        public = f"ssh-rsa AAAAB3NzaC1yc2E{base64.b64encode(self.rng.randbytes(60)).decode()} hostsync-sandbox"
        return private, public

    # -- dispatch -----------------------------------------------------------------------------

    def invoke(self, function: str, args: list[Any], client_ip: str, *, orphan: bool = False) -> Any:
        """Call a remote function with positional arguments as PHP would bind them.

        :param orphan: for an add, apply it and then die with an empty HTTP 500 (the sandbox's
            ``orphan_on_failed_add`` flag: ISPConfig writes are not atomic).
        """
        if function not in FUNCTIONS:
            raise PhpError(f"Function '{function}' doesn't exist")
        names = FUNCTIONS[function]
        optional = _OPTIONAL.get(function, {})
        required = len(names) - len(optional)
        if len(args) < required:
            raise PhpError(f"Too few arguments to function remoting::{function}(), {len(args)} passed "
                           f"and {'exactly' if not optional else 'at least'} {required} expected")
        bound = {name: (args[i] if i < len(args) else optional[name]) for i, name in enumerate(names)}
        if function == "login":
            return self.login(bound["username"], bound["password"], client_ip)
        if function == "logout":
            return self.logout(bound["session_id"])
        self.check_perm(bound.pop("session_id"), function)
        if function.endswith("_add"):
            bound["orphan"] = orphan
        return getattr(self, function)(**bound)

    # -- sessions -----------------------------------------------------------------------------

    def login(self, username: Any, password: Any, client_ip: str) -> str:
        if not username:
            raise PanelFault("login_username_empty", "The login username is empty.")
        if not password:
            raise PanelFault("login_password_empty", "The login password is empty.")
        for user in self.remote_users:
            if user["remote_username"] == username and user["remote_password"] == password:
                break
        else:
            raise PanelFault("login_failed", "The login failed. Username or password wrong.")
        allowed = [ip.strip() for ip in str(user.get("remote_ips") or "").split(",") if ip.strip()]
        if user.get("remote_access", "y") != "y" or (allowed and client_ip not in allowed):
            raise PanelFault("login_failed", f"The login is not allowed from {client_ip}")
        session_id = hashlib.md5(self.rng.randbytes(16)).hexdigest()
        self.sessions[session_id] = {"remote_userid": user["remote_userid"], "tstamp": int(self.now())}
        return session_id

    def logout(self, session_id: Any) -> bool:
        if not session_id:
            raise PanelFault("session_id_empty", "The SessionID is empty.")
        self.sessions.pop(str(session_id), None)
        return True

    def check_perm(self, session_id: Any, function: str) -> None:
        if not session_id:
            raise PanelFault("session_id_empty", "The SessionID is empty.")
        session = self.sessions.get(str(session_id))
        if session is None or self.now() - session["tstamp"] > SESSION_LIFETIME:
            self.sessions.pop(str(session_id), None)
            raise PanelFault("session_does_not_exist", "The Session is expired or does not exist.")
        user = next(u for u in self.remote_users if u["remote_userid"] == session["remote_userid"])
        granted = {g.strip() for g in str(user.get("remote_functions") or "").split(",")}
        if function.split("_", 1)[0] not in granted:
            raise PanelFault("permission_denied", "You do not have the permissions to access this function.")

    # -- remoting_lib -------------------------------------------------------------------------

    def get_data_record(self, table: str, primary_id: Any) -> Any:
        """``remoting_lib::getDataRecord``: one row or NULL, all rows for -1, or a filtered list."""
        rows = self.tables[table]
        if is_numeric(primary_id):
            number = float(primary_id)
            if number > 0:
                row = rows.get(int(number)) if number == int(number) else None
                return dict(row) if row else None
            if number == -1:
                return [dict(row) for row in rows.values()]
            raise PanelFault("invalid_id", "The ID has to be > 0 or -1.")
        if isinstance(primary_id, (dict, list)):
            return self._filter(table, array(primary_id))
        return []

    def _filter(self, table: str, conditions: Mapping[str, Any]) -> list[dict[str, Any]]:
        offset, limit, tests = 0, 0, []
        columns = TABLES.get(table) or next(iter(self.tables[table].values()), {})
        for column, value in conditions.items():
            if column == "#OFFSET#":
                offset = intval(value)
            elif column == "#LIMIT#":
                limit = intval(value)
            elif column not in columns:
                raise Crash(f"Unknown column '{column}' in 'where clause'")
            else:
                tests.append((column, _matcher(php_string(value))))
        found = [dict(row) for row in self.tables[table].values() if all(test(row.get(col)) for col, test in tests)]
        return found[offset:offset + limit] if offset >= 0 and limit > 0 else found

    def owner(self, client_id: Any) -> tuple[str, str]:
        """``loadUserProfile``: the sys_userid/sys_groupid a record of ``client_id`` gets (0 or an
        unknown client: the admin's, which is how an invalid parent id silently reassigns)."""
        wanted = str(intval(client_id))
        for user in self.tables["sys_user"].values():
            if wanted != "0" and user.get("client_id") == wanted:
                return user["userid"], user["default_group"]
        return "1", "1"

    def _store(self, table: str, row: dict[str, Any], params: Mapping[str, Any]) -> bool:
        """Merge params into a row (unknown names ignored); whether anything changed."""
        changed = False
        for column, value in params.items():
            if column in row and column != _KEYS[table]:
                stored = php_string(value)
                changed |= row[column] != stored
                row[column] = stored
        return changed

    # -- clients ------------------------------------------------------------------------------

    def client_get(self, client_id: Any) -> Any:
        return self.get_data_record("client", client_id)

    def client_get_id(self, sys_userid: Any) -> int:
        user = self.tables["sys_user"].get(intval(sys_userid))
        if user is None:
            raise PanelFault("no_client_found", "There is no sysuser account for this client ID.")
        return intval(user["client_id"])

    def _client_errors(self, record: Mapping[str, Any], client_id: int | None) -> list[str]:
        errors = []
        if not str(record.get("contact_name") or "").strip():
            errors.append("contact_error_empty")
        if not _EMAIL.match(str(record.get("email") or "")):
            errors.append("email_error_isemail")
        username = str(record.get("username") or "")
        if not username:
            errors.append("username_error_empty")
        elif not _USERNAME.match(username):
            errors.append("username_error_regex")
        elif any(u["username"].lower() == username.lower() and intval(u["client_id"]) != (client_id or -1)
                 for u in self.tables["sys_user"].values()):
            errors.append("username_error_unique")
        number = str(record.get("customer_no") or "")
        if number and any(c["customer_no"] == number and intval(c["client_id"]) != client_id
                          for c in self.tables["client"].values()):
            errors.append("customer_no_error_unique")
        return errors

    def client_add(self, reseller_id: Any, params: Any, *, orphan: bool = False) -> str:
        params = array(params)
        errors = self._client_errors(params, None)
        if errors:
            raise PanelFault("data_processing_error", _BREAK.join(errors) + _BREAK)
        row = dict(TABLES["client"])
        self._store("client", row, params)
        private, public = self.ssh_keys()
        row.update(sys_userid="1", sys_groupid="1", created_at=str(int(self.now())), id_rsa=private, ssh_rsa=public,
                   password=self.password_hash(str(params.get("password") or "")),
                   parent_client_id=str(intval(reseller_id) or intval(params.get("parent_client_id"))))
        missing_language = not params.get("language")
        if missing_language:
            row["language"] = None
        client_id = self.insert("client", row)
        if missing_language:
            # FACTS.md 9: on PHP 8.2 a client_add without language dies in the database with an
            # empty HTTP 500. We take it to die after the client row is in (creating its login), which
            # is the orphan row the facts warn about.
            raise Crash("Column 'language' cannot be null")
        group = self.insert("sys_group", {"name": row["username"], "description": "", "client_id": str(client_id)})
        self.insert("sys_user", {**TABLES["sys_user"], "username": row["username"], "passwort": row["password"],
                                 "language": row["language"], "app_theme": row["usertheme"],
                                 "client_id": str(client_id), "groups": str(group), "default_group": str(group),
                                 "id_rsa": private, "ssh_rsa": public, "sys_userid": "1", "sys_groupid": "1"})
        if orphan:
            raise Crash("emulated: the add was applied, then PHP died")
        return str(client_id)

    def client_update(self, client_id: Any, reseller_id: Any, params: Any) -> int:
        params = array(params)
        row = self.tables["client"].get(intval(client_id))
        if row is None:
            return 0
        merged = {**row, **{k: php_string(v) for k, v in params.items()}}
        errors = self._client_errors(merged, intval(client_id))
        if errors:
            raise PanelFault("data_processing_error", _BREAK.join(errors) + _BREAK)
        if "password" in params:
            params = {**params, "password": self.password_hash(str(params["password"] or ""))}
        changed = self._store("client", row, params)
        for user in self.tables["sys_user"].values():
            if user["client_id"] == row["client_id"]:
                user.update(username=row["username"], passwort=row["password"], language=row["language"])
                # func_client_cancel, run by every client_update (never by client_add) with the merged
                # record's `canceled`: the login follows it. (func_client_lock, run for `locked`, turns
                # the client's sites, mail, FTP, ... off and on; it leaves the login alone.)
                if row["canceled"] in ("y", "n"):
                    user["active"] = "0" if row["canceled"] == "y" else "1"
        return int(changed)

    def client_delete(self, client_id: Any) -> int:
        row = self.tables["client"].pop(intval(client_id), None)
        if row is None:
            return 0
        for table in ("sys_user", "sys_group"):
            for key in [k for k, r in self.tables[table].items() if r.get("client_id") == row["client_id"]]:
                del self.tables[table][key]
        return 1

    # -- domains (the domain-limit table) -------------------------------------------------------

    def _domain_errors(self, table: str, record: Mapping[str, Any], ident: int | None) -> list[str]:
        name = str(record.get("domain") or "")
        if not name:
            return ["domain_error_empty"]
        if not _DOMAIN.match(name):
            return ["domain_error_regex"]
        if any(r["domain"].lower() == name.lower() and intval(r[_KEYS[table]]) != ident
               for r in self.tables[table].values()):
            return ["domain_error_unique"]
        return []

    def domains_domain_get(self, primary_id: Any) -> Any:
        return self.get_data_record("domain", primary_id)

    def domains_domain_add(self, client_id: Any, params: Any, *, orphan: bool = False) -> str:
        params = array(params)
        errors = self._domain_errors("domain", params, None)
        if errors:
            raise PanelFault("data_processing_error", _BREAK.join(errors) + _BREAK)
        row = dict(TABLES["domain"])
        self._store("domain", row, params)
        row["sys_userid"], row["sys_groupid"] = self.owner(client_id)
        ident = self.insert("domain", row)
        if orphan:
            raise Crash("emulated: the add was applied, then PHP died")
        return str(ident)

    def domains_domain_update(self, client_id: Any, primary_id: Any, params: Any) -> int:
        return self._update("domain", client_id, primary_id, array(params))

    def domains_domain_delete(self, primary_id: Any) -> int:
        return int(self.tables["domain"].pop(intval(primary_id), None) is not None)

    def _update(self, table: str, client_id: Any, primary_id: Any, params: dict[str, Any]) -> int:
        row = self.tables[table].get(intval(primary_id))
        if row is None:
            return 0
        merged = {**row, **{k: php_string(v) for k, v in params.items()}}
        errors = self._domain_errors(table, merged, intval(primary_id))
        if table == "web_domain":
            errors += self._site_errors(merged)
        if errors:
            raise PanelFault("data_processing_error", _BREAK.join(errors) + _BREAK)
        changed = self._store(table, row, params)
        owner = self.owner(client_id)
        changed |= (row["sys_userid"], row["sys_groupid"]) != owner
        row["sys_userid"], row["sys_groupid"] = owner
        return int(changed)

    # -- sites (web domains) --------------------------------------------------------------------

    def _site_errors(self, record: Mapping[str, Any]) -> list[str]:
        errors = []
        if intval(record.get("server_id")) not in self.tables["server"]:
            errors.append("no_server_error")
        for column in ("hd_quota", "traffic_quota"):
            value = str(record.get(column) if record.get(column) is not None else "")
            if value == "":
                errors.append(f"{column}_error_empty")
            if not _INTEGER.match(value):
                errors.append(f"{column}_error_regex")
        if not str(record.get("allow_override") or ""):
            errors.append("allow_override_error_empty")
        for column in ("pm_process_idle_timeout", "pm_max_requests", "http_port", "https_port"):
            if not _INTEGER.match(str(record.get(column) if record.get(column) is not None else "")):
                errors.append(f"{column}_error_regex")
        return errors

    def sites_web_domain_get(self, primary_id: Any) -> Any:
        return self.get_data_record("web_domain", primary_id)

    def sites_web_domain_add(self, client_id: Any, params: Any, readonly: Any = False, *, orphan: bool = False) -> str:
        params = array(params)
        domain_errors = self._domain_errors("web_domain", params, None)
        errors = self._site_errors(params)
        errors[1 if errors[:1] == ["no_server_error"] else 0:0] = domain_errors
        if errors:
            # The real message mixes "<br />" and "<br>" (json-httpx.wire.txt); so do we.
            text = "".join(e + ("<br>\r\n" if e == "domain_error_regex" else _BREAK) for e in errors)
            raise PanelFault("data_processing_error", text)
        row = dict(TABLES["web_domain"])
        self._store("web_domain", row, params)
        row["sys_userid"], row["sys_groupid"] = self.owner(client_id)
        ident = self.insert("web_domain", row)
        owner = intval(client_id) or 0
        self.tables["web_domain"][ident].update(document_root=f"/var/www/clients/client{owner}/web{ident}", system_user=f"web{ident}",
                   system_group=f"client{owner}")
        if orphan:
            raise Crash("emulated: the add was applied, then PHP died")
        return str(ident)

    def sites_web_domain_update(self, client_id: Any, primary_id: Any, params: Any) -> int:
        return self._update("web_domain", client_id, primary_id, array(params))

    def sites_web_domain_delete(self, primary_id: Any) -> int:
        return int(self.tables["web_domain"].pop(intval(primary_id), None) is not None)


def _matcher(value: str | None) -> Callable[[Any], bool]:
    """MySQL's ``col = ?`` / ``col LIKE ?`` under a case-insensitive collation (NULL never matches)."""
    if value is None:
        return lambda cell: False
    if "%" in value:
        pattern = re.compile("".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in value),
                             re.I | re.S)
        return lambda cell: cell is not None and pattern.fullmatch(cell) is not None
    folded = value.casefold().rstrip(" ")
    return lambda cell: cell is not None and cell.casefold().rstrip(" ") == folded
