"""One emulator for a WHMCS host: the External API and the wbTeamPro addon's API.

Both live on one WHMCS install and share its database (clients, tickets, admins, banned IPs), so
one stateful sandbox serves ``/includes/api.php`` and ``/modules/addons/wbteampro/api.php`` (the
direct ``?action=v1.projects.100.json`` form, the clean ``api.php/v1/projects/100/json`` form and
the rewritten ``…/wbteampro/api/v1/…`` form). Faithful to FACTS.md §1, §2 and §7, quirks included:

* WHMCS: form-encoded POSTs; API credentials or an admin username with md5(password); the IP
  allow-list (HTTP 403 ``Invalid IP``, passed with ``accesskey``); lists nested under singular
  keys, empty lists as ``""`` or missing, numbers as strings or ints depending on the action,
  ``attachments: [[]]``, zero dates; ``GetTickets`` shows only the API admin's departments unless
  ``ignore_dept_assignments`` is sent; PHP bracket arrays for ``UpdateInvoice``/``AddOrder``;
  numbered ``itemdescriptionN`` for ``CreateInvoice``; an activity log written the way WHMCS writes
  it (``... - User ID: N`` with ``clientId``), newest first.
* wbTeamPro: the ``action`` chain, ``method`` override, ``params`` as JSON or a form array, the
  ``request``/``response`` envelope with ``data`` paging (``pages`` computed the way the vendor's
  own example shows it: ``total // limit``), and a ban of the client's IP after 3 failed logins,
  stored in the WHMCS banned-IP table, so that IP is refused on both APIs from then on.

Unconfirmed vendor details (FACTS.md marks them [U]) are emulated as follows and can be changed
in one place each: WHMCS bad credentials answer HTTP 403 ``Authentication Failed``; wbTeamPro
errors carry the HTTP status in ``request.code`` too (401 bad login, 403 banned/permission,
404 unknown record, 400 invalid data); wbTeamPro field names follow the addon's column names
(``project_name``, ``client_userid``, ``date_start``, ``timelog_elapsed``...).

Test helpers: :meth:`WhmcsSandbox.edit_client` changes a client the way an admin would in the
WHMCS admin area (logged like WHMCS logs it); :attr:`WhmcsSandbox.failed_logins` counts failed
wbTeamPro logins; flags ``php_warnings`` (prepend a PHP warning to every answer, as a misconfigured
WHMCS does), ``allowed_ips`` (the IP allow-list), ``api_role`` (the actions the API credential's
role allows: see :meth:`WhmcsSandbox.deny_actions`) and ``missing_actions`` (answered ``Command Not
Found``) switch vendor failure modes on.
"""

from __future__ import annotations

import copy
import hashlib
import re
from datetime import datetime
from typing import Any, ClassVar, Mapping
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from hostsync.sandbox import Request, Response, Sandbox

from ._sample import sample_state
from ._teampro_api import TeamProApi
from ._whmcs_api import WhmcsApi

WHMCS_PATH = "/includes/api.php"
#: What ``edit`` changes: kind -> (table, canonical field -> column, canonical status -> WHMCS status).
EDITABLE = {
    "client": ("clients", {"email": "email", "first_name": "firstname", "last_name": "lastname",
                           "company": "companyname", "phone": "phonenumber", "address1": "address1",
                           "address2": "address2", "city": "city", "state": "state", "postcode": "postcode",
                           "country": "country", "status": "status"},
               {"active": "Active", "inactive": "Inactive", "closed": "Closed"}),
    "domain": ("domains", {"name": "domainname", "status": "status", "registered_on": "regdate",
                           "expires_on": "expirydate"},
               {"pending": "Pending", "active": "Active", "expired": "Expired", "cancelled": "Cancelled",
                "transferred": "Transferred Away", "suspended": "Fraud"}),
}
TEAMPRO_PREFIXES = ("/modules/addons/wbteampro/api.php", "/modules/addons/wbteampro/api")
TABLES = ("clients", "tickets", "invoices", "domains", "orders", "activity",
          "projects", "actions", "timelogs", "ticketxrefs")


class WhmcsSandbox(WhmcsApi, TeamProApi, Sandbox):
    name = "whmcs"
    plugins = ("whmcs", "wbteampro")
    description = "WHMCS External API and the wbTeamPro addon API on one emulated WHMCS host"

    #: The emulated server's clock zone: WHMCS answers in local time without a zone.
    timezone: ClassVar[str] = "Europe/Amsterdam"
    #: Failed wbTeamPro logins from one IP before it is banned.
    ban_after: ClassVar[int] = 3

    IDENTIFIER: ClassVar[str] = "hsbx-identifier-3f9c2a"
    SECRET: ClassVar[str] = "hsbx-secret-8d41e07b5c"
    ACCESSKEY: ClassVar[str] = "hsbx-accesskey-51aa"
    ADMIN: ClassVar[str] = "apiadmin"
    ADMIN_PASSWORD: ClassVar[str] = "hsbx-admin-pw-6b2f90"

    def reset(self) -> None:
        self.tz = ZoneInfo(self.timezone)
        self.php_warnings = False
        self.allowed_ips: list[str] | None = None
        #: the actions the API credential's role allows, lower-case (None: every action); see deny_actions
        self.api_role: set[str] | None = None
        #: actions this WHMCS answers "Command Not Found" to (an older or a trimmed install)
        self.missing_actions: set[str] = set()
        self.state: dict[str, Any] = self._empty()

    def _empty(self) -> dict[str, Any]:
        return {
            **{table: {} for table in TABLES},
            "currencies": [{"id": 1, "code": "EUR", "prefix": "€", "suffix": " EUR", "default": True},
                           {"id": 2, "code": "USD", "prefix": "$", "suffix": " USD"},
                           {"id": 3, "code": "GBP", "prefix": "£", "suffix": " GBP"}],
            "departments": [{"id": 1, "name": "Technical Support"}, {"id": 2, "name": "Sales"},
                            {"id": 3, "name": "Billing"}],
            # a text field, admin only, made to keep hostsync's origin markers (systems() names it)
            "customfields": [{"id": 1, "type": "client", "fieldname": "hostsync origin", "fieldtype": "text",
                              "adminonly": True}],
            "paymentmethods": [{"module": "banktransfer", "displayname": "Bank Transfer"},
                               {"module": "paypal", "displayname": "PayPal"}],
            "admins": [{"id": 1, "username": self.ADMIN, "password": self.ADMIN_PASSWORD, "firstname": "Api",
                        "lastname": "Admin", "email": "api@example.net", "departments": [1], "teampro": True},
                       {"id": 2, "username": "jdoe", "password": "unused-7c1", "firstname": "Jane",
                        "lastname": "Doe", "email": "jane@example.net", "departments": [1, 2, 3], "teampro": True}],
            "project_statuses": ["Pending", "Active", "On Hold", "Completed", "Cancelled"],
            "action_statuses": ["Open", "In Progress", "Completed", "Cancelled"],
            "banned_ips": [],
            "failed_logins": {},
            "next_id": {},
        }

    def sample(self, seed: int) -> dict[str, Any]:
        return sample_state(seed, self._empty())

    def load(self, data: Mapping[str, Any]) -> None:
        with self.lock:
            state = self._empty()
            for key, value in data.items():
                if key in TABLES:
                    state[key] = {int(row["id"]): copy.deepcopy(dict(row)) for row in value}
                else:
                    state[key] = copy.deepcopy(value)
            self.state = state

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {key: (list(value.values()) if key in TABLES else value)
                    for key, value in copy.deepcopy(self.state).items()}

    def systems(self) -> dict[str, dict[str, Any]]:
        """``billing`` and ``teampro``; tickets whose client has no project of its own go to the
        first internal project (one of no client), as a support queue."""
        teampro = {"plugin": "wbteampro", "url": self.url, "username": self.ADMIN, "password": self.ADMIN_PASSWORD,
                   "shares_ids_with": "billing", "timezone": self.timezone}
        with self.lock:
            internal = sorted(p["id"] for p in self.state["projects"].values() if not int(p.get("client_userid") or 0))
        if internal:
            teampro["unassigned_project"] = internal[0]
        return {
            "billing": {"plugin": "whmcs", "url": self.url, "identifier": self.IDENTIFIER, "secret": self.SECRET,
                        "timezone": self.timezone, "ticket_department": "Technical Support",
                        **({"origin_field": field["id"]} if (field := next(
                            (f for f in self.state["customfields"] if f["fieldname"] == "hostsync origin"), None))
                           else {})},
            "teampro": teampro,
        }

    # -- test helpers -------------------------------------------------------------------------

    @property
    def failed_logins(self) -> int:
        """Failed wbTeamPro logins so far, from every IP."""
        with self.lock:
            return sum(self.state["failed_logins"].values())

    def deny_actions(self, *actions: str) -> None:
        """Take ``actions`` out of the API credential's role, as an admin would under Manage API Roles:
        WHMCS then answers them HTTP 403 ``Invalid Permissions: API action "..." is not allowed``."""
        allowed = self.api_role if self.api_role is not None else {
            name[len("_api_"):] for name in dir(self) if name.startswith("_api_")}
        self.api_role = allowed - {action.lower() for action in actions}

    def edit_client(self, client_id: int, **changes: Any) -> None:
        """Change a client as an admin would in the WHMCS admin area (and log it as WHMCS does);
        ``changes`` are WHMCS column names (``edit`` takes canonical ones)."""
        with self.lock:
            self._change_client(self.state["clients"][int(client_id)], changes, username="jdoe", ip="10.0.0.8")

    def edit(self, kind: str, id: str, **fields: Any) -> None:
        """Change a client or domain as an admin would in the WHMCS admin area (logged as WHMCS does)."""
        with self.lock:
            row = self.editable(kind, id, fields, self.state[EDITABLE[kind][0]] if kind in EDITABLE else {},
                                {name: columns for name, (_, columns, _) in EDITABLE.items()})
            _, columns, statuses = EDITABLE[kind]
            changes = {columns[name]: statuses.get(str(value), value) if name == "status"
                       else ("" if value is None else str(value)) for name, value in fields.items()}
            if kind == "client":
                self._change_client(row, changes, username="jdoe", ip="10.0.0.8")
            else:
                row.update(changes)
                self.log_activity(f"Domain Modified - Domain ID: {row['id']}", row["userid"], username="jdoe",
                                  ip="10.0.0.8")

    def now(self) -> str:
        """The server's local time, as WHMCS prints it."""
        return datetime.now(self.tz).strftime("%Y-%m-%d %H:%M:%S")

    def new_id(self, table: str) -> int:
        rows = self.state[table]
        counter = self.state["next_id"]
        counter[table] = max(counter.get(table, 0), max(rows, default=0)) + 1
        return counter[table]

    def log_activity(self, description: str, client_id: int = 0, *, username: str = "", ip: str = "") -> None:
        entry_id = self.new_id("activity")
        self.state["activity"][entry_id] = {
            "id": entry_id, "clientId": int(client_id), "userId": 0, "adminId": 1 if username else 0,
            "date": self.now(), "description": description, "username": username or "System",
            "ipaddress": ip,
        }

    # -- dispatch -----------------------------------------------------------------------------

    def operation(self, request: Request) -> str:
        if request.path.rstrip("/").endswith(WHMCS_PATH):
            return str(_params(request).get("action") or "(no action)")
        if request.path.startswith(TEAMPRO_PREFIXES):
            return self.teampro_operation(request, _params(request))
        return f"{request.method} {request.path}"

    def handle(self, request: Request) -> Response:
        params = _params(request)
        if request.path.rstrip("/").endswith(WHMCS_PATH):
            response = self._banned(request) or self.whmcs(request, params)
        elif request.path.startswith(TEAMPRO_PREFIXES):
            response = self._banned(request) or self.teampro(request, params)
        else:
            return Response.text("<html><body><h1>404 Not Found</h1></body></html>", 404)
        if self.php_warnings and not response.drop:
            body = response.body.decode() if isinstance(response.body, bytes) else response.body
            response.body = ("<br />\n<b>Warning</b>:  Undefined array key \"x\" in "
                             "<b>/var/www/whmcs/includes/hooks/custom.php</b> on line <b>12</b><br />\n" + body)
        return response

    def _banned(self, request: Request) -> Response | None:
        """WHMCS refuses every request from an IP in its banned-IP table."""
        if request.client in self.state["banned_ips"]:
            return Response.text("<html><body><h1>Access Denied</h1><p>Your IP Address has been banned."
                                 "</p></body></html>", 403)
        return None

    def record_failed_login(self, ip: str) -> None:
        failed = self.state["failed_logins"]
        failed[ip] = failed.get(ip, 0) + 1
        if failed[ip] >= self.ban_after and ip not in self.state["banned_ips"]:
            self.state["banned_ips"].append(ip)
            self.log_activity(f"wbTeamPro API: IP {ip} banned after {failed[ip]} failed logins", ip=ip)

    def admin_by_login(self, username: str, password_md5: str) -> dict[str, Any] | None:
        for admin in self.state["admins"]:
            digest = hashlib.md5(admin["password"].encode()).hexdigest()
            if admin["username"] == username and password_md5.lower() == digest:
                return admin
        return None


_PARAM_KEY = re.compile(r"\[([^\]]*)\]")


def _params(request: Request) -> dict[str, Any]:
    """Query and form parameters merged like PHP's ``$_REQUEST``, bracket keys nested."""
    pairs = request.query_pairs()
    content_type = str(request.headers.get("Content-Type") or "")
    if request.body and "json" not in content_type:
        try:
            pairs += parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            pass
    return php_form(pairs)


def php_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``a[b][]=1`` style pairs as nested dicts (``[]`` appends with the next index), as PHP does."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if "[" not in key or not key.endswith("]"):
            out[key] = value
            continue
        head = key[: key.index("[")]
        parts = _PARAM_KEY.findall(key[len(head):])
        node = out.get(head)
        if not isinstance(node, dict):
            node = out[head] = {}
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1] or str(len(node))] = value
    return out
