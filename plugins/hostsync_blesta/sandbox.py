"""A Blesta API emulator on loopback: the API controller's behaviour around :mod:`.emulator`'s models.

What the controller does, kept here (FACTS.md §3.1-3.2): ``/api/{model}/{method}.{format}`` (also
behind ``/index.php``), plugin models as ``plugin.model``; HTTP Basic or (Blesta >= 5.11) the
``BLESTA-API-USER``/``BLESTA-API-KEY`` headers, else 401; 503 in maintenance mode; 404 for an
unknown model or method; 415 for a format other than json (the sandbox speaks JSON only);
arguments taken from the query for GET/DELETE, from ``$_POST`` (form bodies only) for POST and from
``parse_str(php://input)`` for PUT, then bound by name to the method's PHP signature: a missing
argument takes its default, and one without a default is a 500 "Failed to retrieve the default
value"; a string where the method declares ``array`` is a 500 too. Model validation errors are 400
with the ``errors`` map; success is ``{"response": ...}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from hostsync.sandbox import Request, Response, Sandbox

from . import phpform
from .emulator import Blesta, Crash, Invalid
from .sample import company_setup, sample_data

REQUIRED = object()

MESSAGES = {
    400: "The request cannot be fulfilled due to bad syntax.",
    401: "The authorization details given appear to be invalid.",
    403: "The requested resource is not accessible.",
    404: "The requested resource does not exist.",
    415: "The format requested is not supported by the server.",
    500: "An unexpected error occurred.",
    503: "The requested resource is currently unavailable due to maintenance.",
}


@dataclass(frozen=True)
class Param:
    name: str
    default: Any = REQUIRED
    array: bool = False


def _p(spec: str) -> Param:
    """``"name"`` (required), ``"name=default"`` (JSON default) or ``"@name..."`` (declared ``array``)."""
    array = spec.startswith("@")
    spec = spec.lstrip("@")
    if "=" not in spec:
        return Param(spec, REQUIRED, array)
    name, default = spec.split("=", 1)
    return Param(name, json.loads(default), array)


def _sig(*specs: str) -> tuple[Param, ...]:
    return tuple(_p(s) for s in specs)


SM = "support_manager.support_manager_tickets"
SMD = "support_manager.support_manager_departments"
#: Canonical client field -> the primary contact's column (what ``edit`` changes).
CONTACT_COLUMNS = {"first_name": "first_name", "last_name": "last_name", "company": "company", "email": "email",
                   "address1": "address1", "address2": "address2", "city": "city", "state": "state",
                   "postcode": "zip", "country": "country"}

#: (model, method) -> (PHP signature, changes state). Core signatures as in raw/blesta_api_schema.json
#: (checked by a test); the Support Manager ones as FACTS.md §3.4 gives them.
METHODS: dict[tuple[str, str], tuple[tuple[Param, ...], bool]] = {
    ("clients", "getList"): (_sig("status=null", "page=1", 'order_by={"id_code": "ASC"}', "@filters=[]"), False),
    ("clients", "getListCount"): (_sig("status=null", "@filters=[]"), False),
    ("clients", "get"): (_sig("client_id", "get_settings=true"), False),
    ("clients", "create"): (_sig("@vars"), True),
    ("clients", "edit"): (_sig("client_id", "@vars"), True),
    ("clients", "getCustomFields"): (_sig("company_id", "client_group_id=null", "@options=null"), False),
    ("clients", "getCustomFieldValues"): (_sig("client_id"), False),
    ("clients", "setCustomField"): (_sig("field_id", "client_id", "value"), True),
    ("client_groups", "get"): (_sig("client_group_id"), False),
    ("contacts", "get"): (_sig("contact_id"), False),
    ("contacts", "edit"): (_sig("contact_id", "@vars"), True),
    ("contacts", "getNumbers"): (_sig("contact_id", "type=null", "location=null",
                                      '@order={"FIELD(location,\'work\',\'home\',\'mobile\')": "ASC"}'), False),
    ("states", "getList"): (_sig("country=null", '@order_by={"name": "asc"}'), False),
    ("invoices", "getList"): (_sig("client_id=null", 'status="open"', "page=1", '@order_by={"date_due": "ASC"}',
                                   "@filters=[]"), False),
    ("invoices", "getListCount"): (_sig("client_id=null", 'status="open"', "@filters=[]"), False),
    ("invoices", "get"): (_sig("invoice_id", "use_cache=false"), False),
    ("invoices", "add"): (_sig("@vars"), True),
    ("invoices", "edit"): (_sig("invoice_id", "@vars"), True),
    ("invoices", "deleteDraft"): (_sig("invoice_id"), True),
    ("transactions", "add"): (_sig("@vars"), True),
    ("transactions", "apply"): (_sig("transaction_id", "@vars"), True),
    ("transactions", "getList"): (_sig("client_id=null", 'status="approved"', "page=1",
                                       '@order_by={"date_added": "DESC"}', "@filters=[]"), False),
    ("services", "getList"): (_sig("client_id=null", 'status="active"', "page=1", '@order_by={"date_added": "DESC"}',
                                   "children=true", "@filters=[]", "@formatted_filters=[]"), False),
    ("services", "getListCount"): (_sig("client_id=null", 'status="active"', "children=true", "package_id=null",
                                        "@filters=[]", "@formatted_filters=[]"), False),
    ("services", "get"): (_sig("service_id"), False),
    ("services", "add"): (_sig("@vars", "@packages=null", "notify=false"), True),
    ("services", "edit"): (_sig("service_id", "@vars", "bypass_module=false", "notify=false"), True),
    ("services", "editField"): (_sig("service_id", "@vars"), True),
    ("services", "suspend"): (_sig("service_id", "@vars=[]"), True),
    ("services", "unsuspend"): (_sig("service_id", "@vars=[]"), True),
    ("services", "cancel"): (_sig("service_id", "@vars"), True),
    ("services", "unCancel"): (_sig("service_id", "@vars=[]"), True),
    (SM, "getList"): (_sig("status", "staff_id=null", "client_id=null", "page=1",
                           '@order_by={"last_reply_date": "desc"}', "get_replies=true", "@reply_types=null",
                           "@filters=[]"), False),
    (SM, "getListCount"): (_sig("status", "staff_id=null", "client_id=null", "@filters=[]"), False),
    (SM, "get"): (_sig("ticket_id", "get_replies=true", "@reply_types=null", "staff_id=null"), False),
    (SM, "add"): (_sig("@vars", "require_email=false"), True),
    (SM, "addReply"): (_sig("ticket_id", "@vars", "@files=null", "new_ticket=false"), True),
    (SM, "edit"): (_sig("ticket_id", "@vars", "log=true"), True),
    (SMD, "getAll"): (_sig("company_id", "status=null", "clients_only=null", "@criteria=[]"), False),
}


class BlestaSandbox(Sandbox):
    """Stateful Blesta API emulator: clients, contacts, invoices, payments, services (domains) and
    Support Manager tickets.

    Flags (attributes, also settable through ``load``'s ``config``): ``header_auth`` (accept the
    Blesta >= 5.11 headers), ``maintenance`` (answer 503), ``config["empty_list"]`` (``"[]"``,
    ``"false"`` or ``"null"``: how empty lists come back), ``config["timezone"]`` (the company's zone).
    """

    name = "blesta"
    plugins = ("blesta",)
    description = "Blesta API emulator (clients, invoices, domain services, Support Manager tickets)"
    USER: ClassVar[str] = "hostsync-sandbox"
    KEY: ClassVar[str] = "blesta-sandbox-key-8d5e1c"

    def __init__(self, seed: int | None = None) -> None:
        self.blesta = Blesta()
        self.header_auth = True
        self.maintenance = False
        super().__init__(seed)

    @property
    def page_size(self) -> int:
        return self.blesta.page_size

    @page_size.setter
    def page_size(self, value: int) -> None:
        self.blesta.page_size = value

    # -- Sandbox --------------------------------------------------------------------------------

    def reset(self) -> None:
        """A configured company with no customers (as a fresh, set-up install): see ``company_setup``."""
        with self.lock:
            self.blesta.load(company_setup())
            self.credentials = {self.USER: self.KEY}

    def sample(self, seed: int) -> dict[str, Any]:
        return sample_data(seed)

    def load(self, data: Mapping[str, Any]) -> None:
        with self.lock:
            self.blesta.load(data)
            config = data.get("config") or {}
            self.credentials = dict(config.get("api_users") or {self.USER: self.KEY})
            self.header_auth = bool(config.get("header_auth", True))
            self.maintenance = bool(config.get("maintenance", False))

    def dump(self) -> dict[str, Any]:
        with self.lock:
            data = self.blesta.dump()
            data["config"].update(api_users=dict(self.credentials), header_auth=self.header_auth,
                                  maintenance=self.maintenance)
            return data

    def systems(self) -> dict[str, dict[str, Any]]:
        packages = self.blesta.t["packages"].values()
        domain_pricing = next((p["id"] for pkg in packages if pkg.get("type") == "domain"
                               for p in pkg.get("pricing") or []), None)
        company = self.blesta.config["company_id"]
        departments = {d["name"]: d["id"] for d in self.blesta.t["departments"].values()
                       if str(d.get("company_id")) == str(company)}
        system: dict[str, Any] = {
            "plugin": "blesta", "url": self.url, "user": self.USER, "key": self.credentials.get(self.USER, self.KEY),
            "auth": "basic", "company_id": self.blesta.config["company_id"],
            "timezone": self.blesta.config.get("timezone") or "UTC",
            "client_group_id": min(self.blesta.t["client_groups"], default=1),
            "currency": (self.blesta.currencies or ["USD"])[0],
            "staff_id": min(self.blesta.t["staff"], default=None),
            "ticket_department_id": min(departments.values(), default=None),
            "ticket_departments": departments, "domain_pricing_id": domain_pricing,
            "origin_field": next((f["id"] for f in self.blesta.t["client_fields"].values()
                                  if f["name"] == "hostsync origin"), None),
        }
        return {"blesta": {k: v for k, v in system.items() if v not in (None, {})}}

    def edit(self, kind: str, id: str, **fields: Any) -> None:
        """Change a client as staff would in Blesta's admin area: its primary contact's fields (a
        state as its ISO 3166-2 code) and its status."""
        with self.lock:
            client = self.editable(kind, id, fields, self.blesta.t["clients"],
                                   {"client": [*CONTACT_COLUMNS, "status"]})
            if "status" in fields:
                client["status"] = {"closed": "inactive"}.get(str(fields["status"]), fields["status"])
            contact = self.blesta.t["contacts"][client["contact_id"]]
            contact.update({CONTACT_COLUMNS[k]: v for k, v in fields.items() if k in CONTACT_COLUMNS})

    def operation(self, request: Request) -> str:
        route = _route(request.path)
        return f"{route[0]}/{route[1]}" if route else f"{request.method} {request.path}"

    # -- the API controller ---------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        entry = self.log[-1] if self.log else {}
        entry["verb"] = request.method
        if self.maintenance:
            return _error(503)
        if not self._authorised(request):
            return _error(401, {"authentication": {"invalid": MESSAGES[401]}})
        route = _route(request.path)
        if route is None:
            return _error(404)
        model, method, fmt = route
        if fmt != "json":
            return _error(415)
        if method.startswith("_"):  # a protected or private PHP method: exists, but is not callable
            return _error(403)
        found = METHODS.get((model, method))
        if found is None:
            return _error(404)
        signature, write = found
        entry["write"] = write
        params = self._params(request)
        entry["args"] = sorted(params)
        args: dict[str, Any] = {}
        for param in signature:
            if param.name in params:
                value = params[param.name]
                if param.array and not isinstance(value, (dict, list)):
                    return _error(500, response=f"Internal error: Argument ${param.name} must be of type array, "
                                                f"string given")
                args[param.name] = value
            elif param.default is REQUIRED:
                return _error(500, response="Internal error: Failed to retrieve the default value")
            else:
                args[param.name] = param.default
        function = getattr(self.blesta, f"{model.split('.')[-1]}_{method}")
        try:
            result = function(**args)
        except Invalid as exc:
            return Response.json({"message": MESSAGES[400], "errors": exc.errors, "response": None}, 400)
        except Crash:
            return _error(500)
        return Response.json({"response": result})

    def _authorised(self, request: Request) -> bool:
        headers = {k.lower(): v for k, v in request.headers.items()}
        if self.header_auth and "blesta-api-user" in headers:
            return self.credentials.get(headers["blesta-api-user"]) == headers.get("blesta-api-key")
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, key = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user in self.credentials and self.credentials[user] == key

    @staticmethod
    def _params(request: Request) -> dict[str, Any]:
        """The verb's parameter source only: GET/DELETE the query, POST ``$_POST``, PUT the raw body."""
        if request.method in ("GET", "DELETE"):
            return phpform.decode(request.raw_query)
        if request.method == "POST":
            kind = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            return phpform.decode(request.body) if kind == "application/x-www-form-urlencoded" else {}
        if request.method == "PUT":
            return phpform.decode(request.body)
        return {}


def _route(path: str) -> tuple[str, str, str] | None:
    if path.startswith("/index.php/"):
        path = path[len("/index.php"):]
    if not path.startswith("/api/"):
        return None
    parts = path[len("/api/"):].strip("/").split("/")
    if len(parts) != 2 or "." not in parts[1]:
        return None
    method, _, fmt = parts[1].rpartition(".")
    return parts[0], method, fmt


def _error(status: int, errors: Mapping[str, Any] | None = None, *, response: str | None = None) -> Response:
    body: dict[str, Any] = {"message": MESSAGES[status]}
    if errors:
        body["errors"] = errors
    if response is not None:
        body["response"] = response
    return Response.json(body, status)
