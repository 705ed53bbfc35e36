"""The ISPConfig sandbox: :mod:`.panel` served over ``remote/index.php`` (SOAP) and ``remote/json.php``.

SOAP is answered the way PHP's SoapServer does in non-WSDL mode (positional arguments, Map and
SOAP-ENC:Array encodings, faults with HTTP 500, ``xsi:nil`` for a missing record, an untyped struct
failing as stdClass); JSON the way ISPConfig's json handler does (parameters by name, the
``code``/``message``/``response`` envelope, always HTTP 200 unless PHP dies). PHP dying mid-call is
an empty HTTP 500.

Controls beyond the base's ``/_sandbox/``: the clock is injectable (``clock=``) and can be moved on
with :meth:`advance` or ``POST /_sandbox/clock {"advance": seconds}`` to expire sessions mid-run;
``orphan_on_failed_add`` (``True``: every add; an int: that many adds; also ``POST /_sandbox/flags``)
applies an add and then answers an empty HTTP 500, as a non-atomic ISPConfig write does. With
``latency`` (``hostsync sandbox --latency 1``, or ``POST /_sandbox/flags {"latency": 1}``) each
``client_add`` takes :data:`CLIENT_ADD_SECONDS` times it, as on a real panel; it is 0 by default,
so tests and the demo stay fast.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any, Callable, Mapping

from lxml import etree

from hostsync.sandbox import Request, Response, Sandbox

from . import soapenc
from .functions import FUNCTIONS
from .mapping import CLIENT_FIELDS, DOMAIN_FIELDS, SITE_FIELDS, client_changes, domain_params, site_changes
from .panel import Crash, Panel, PanelFault, PhpError, php_string

REMOTE_USER = "hostsync"
#: Seconds a ``client_add`` takes on a real panel (an SSH key pair per client), at ``latency = 1``.
CLIENT_ADD_SECONDS = 0.6
REMOTE_PASSWORD = "sandbox-Remote-pass-7"
_SOAP_TYPE = "text/xml; charset=utf-8"
_JSON_TYPE = 'application/json; charset="utf-8"'


class IspconfigSandbox(Sandbox):
    """An ISPConfig 3.2 panel with both remote endpoints."""

    name = "ispconfig"
    plugins = ("ispconfig",)
    description = "ISPConfig 3.2 remote API: SOAP (remote/index.php) and JSON (remote/json.php)"

    def __init__(self, seed: int | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.offset = 0.0
        self.orphan_on_failed_add: bool | int = False
        self.panel = Panel(self.now, random.Random(seed or 0))
        super().__init__(seed)

    def now(self) -> float:
        return self.clock() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the panel's clock on (sessions expire 1800 s after login)."""
        with self.lock:
            self.offset += seconds

    # -- state --------------------------------------------------------------------------------

    def reset(self) -> None:
        self.panel.reset()
        self.panel.remote_users = [_remote_user()]

    def load(self, data: Mapping[str, Any]) -> None:
        with self.lock:
            self.panel.load(data)
            if not self.panel.remote_users:
                self.panel.remote_users = [_remote_user()]

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return self.panel.dump()

    def sample(self, seed: int) -> dict[str, Any]:
        from .sample import sample_panel  # only the demo and tests need it

        return sample_panel(seed)

    def systems(self) -> dict[str, dict[str, Any]]:
        base = {"plugin": "ispconfig", "url": f"{self.url}/remote/", "username": REMOTE_USER,
                "password": REMOTE_PASSWORD, "verify_tls": False}
        return {"panel": {**base, "transport": "soap"}, "panel-json": {**base, "transport": "json"}}

    # -- requests -----------------------------------------------------------------------------

    def operation(self, request: Request) -> str:
        if request.path.endswith("/json.php"):
            pairs = request.query_pairs()
            return pairs[0][0] if pairs else "json.php"
        if request.path.endswith("/index.php") and request.method == "POST":
            try:
                return soapenc.read_request(soapenc.parse(request.body))[0]
            except (etree.XMLSyntaxError, soapenc.DecodeError):
                return "index.php"
        return f"{request.method} {request.path}"

    def edit(self, kind: str, id: str, **fields: Any) -> None:
        """Change a client, domain or site as the admin would in the panel (the columns the remote
        updates set; ``client`` moves a domain or site to that client, as the panel's owner field does)."""
        with self.lock:
            tables = {"client": "client", "domain": "domain", "site": "web_domain"}
            row = self.editable(kind, id, fields, self.panel.tables[tables.get(kind, "client")],
                                {"client": sorted(CLIENT_FIELDS), "domain": sorted(DOMAIN_FIELDS),
                                 "site": sorted(SITE_FIELDS)})
            if kind == "client":
                row.update(client_changes(fields))
                return
            if "client" in fields:
                row["sys_userid"], row["sys_groupid"] = self.panel.owner(fields.pop("client") or 0)
            changes = domain_params(fields) if kind == "domain" else site_changes(fields)
            row.update({column: php_string(value) for column, value in changes.items()})

    def dispatch(self, request: Request) -> tuple[Response | None, Any]:
        if request.path.endswith("/_sandbox/clock") and request.method == "POST":
            self.advance(float(request.json().get("advance", 0)))
            return Response.json({"ok": True, "now": self.now()}), None
        if request.path.endswith("/_sandbox/flags") and request.method == "POST":
            flags = request.json()
            with self.lock:
                self.orphan_on_failed_add = flags.get("orphan_on_failed_add", self.orphan_on_failed_add)
                self.latency = float(flags.get("latency", self.latency))
            return Response.json({"ok": True}), None
        if self.latency and request.method == "POST" and self.operation(request) == "client_add":
            # ISPConfig generates an SSH key pair per client: each add takes this long, outside the
            # lock, so parallel adds overlap as they do on a real panel's PHP workers
            time.sleep(self.latency * CLIENT_ADD_SECONDS)
        return super().dispatch(request)

    def handle(self, request: Request) -> Response:
        if request.path.endswith("/remote/index.php") and request.method == "POST":
            return self._soap(request)
        if request.path.endswith("/remote/json.php") and request.method == "POST":
            return self._json(request)
        if request.path.endswith("/remote/rest.php"):
            return Response.text("", 400)  # broken upstream (FACTS.md 9): always 400
        return Response.text("<!DOCTYPE html><html><head><title>404 Not Found</title></head>"
                             "<body><h1>Not Found</h1></body></html>", 404)

    def _orphan(self, function: str) -> bool:
        flag = self.orphan_on_failed_add
        if not function.endswith("_add") or not flag:
            return False
        if flag is not True:
            self.orphan_on_failed_add = int(flag) - 1
        return True

    def _soap(self, request: Request) -> Response:
        try:
            function, args = soapenc.read_request(soapenc.parse(request.body))
        except (etree.XMLSyntaxError, soapenc.DecodeError):
            return _soap_fault("Client", "Bad Request", standard=True)
        try:
            value = self.panel.invoke(function, args, request.client, orphan=self._orphan(function))
        except PanelFault as fault:
            return _soap_fault(fault.code, fault.message)
        except PhpError as exc:
            return _soap_fault("Server", str(exc), standard=True)
        except Crash:
            return Response(500, b"", {"Content-Type": "text/html; charset=UTF-8"})
        return Response(200, soapenc.php_reply(function, value, request.path), {"Content-Type": _SOAP_TYPE})

    def _json(self, request: Request) -> Response:
        pairs = request.query_pairs()
        method = pairs[0][0] if pairs else ""
        if not method:
            return _json_envelope("invalid_method", "No method name", False)
        try:
            params = json.loads(request.body or b"null")
        except ValueError:
            params = None
        if not isinstance(params, dict):
            return _json_envelope("invalid_data", "The JSON data sent to the api is invalid", False)
        if method not in FUNCTIONS:
            return _json_envelope("invalid_method", f"Method {method} does not exist", False)
        args = [params.get(name) for name in FUNCTIONS[method]]  # by name; a missing one is null
        try:
            value = self.panel.invoke(method, args, request.client, orphan=self._orphan(method))
        except PanelFault as fault:
            return _json_envelope("remote_fault", fault.message, False)
        except (PhpError, Crash):
            return Response(500, b"", {"Content-Type": "text/html; charset=UTF-8"})
        return _json_envelope("ok", "", value)


def _remote_user() -> dict[str, Any]:
    return {"remote_userid": 1, "remote_username": REMOTE_USER, "remote_password": REMOTE_PASSWORD,
            "remote_functions": "client,domains,sites,server", "remote_access": "y", "remote_ips": ""}


def _soap_fault(code: str, message: str, *, standard: bool = False) -> Response:
    return Response(500, soapenc.php_fault(code, message, standard=standard), {"Content-Type": _SOAP_TYPE})


def _json_envelope(code: str, message: str, response: Any) -> Response:
    # PHP's json_encode: ASCII only, slashes escaped, no spaces.
    body = json.dumps({"code": code, "message": message, "response": response}, separators=(",", ":"))
    return Response(200, body.replace("/", "\\/"), {"Content-Type": _JSON_TYPE})
