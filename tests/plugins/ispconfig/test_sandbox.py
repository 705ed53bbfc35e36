"""The sandbox on the wire: ISPConfig's semantics as FACTS.md sections 6, 7 and 9 describe them."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pluggy
import pytest
from lxml import etree

from hostsync import hookspecs
from hostsync_ispconfig import soapenc
from hostsync_ispconfig.functions import Default
from hostsync_ispconfig.sandbox import REMOTE_PASSWORD, REMOTE_USER, IspconfigSandbox
from hostsync_ispconfig.soap import SoapTransport


class Wire:
    """Raw calls to one endpoint of a running sandbox: ``call(function, *args) -> (status, value)``,
    where value is the decoded return, a ``Fault``, or the JSON envelope."""

    def __init__(self, sandbox: IspconfigSandbox, transport: str) -> None:
        self.sandbox, self.transport = sandbox, transport
        self.soap = SoapTransport(f"{sandbox.url}/remote/", {"timeout": 5})

    def call(self, function: str, *args: Any) -> tuple[int, Any]:
        if self.transport == "soap":
            body = etree.tostring(self.soap.envelope(function, list(args)))
            response = httpx.post(f"{self.sandbox.url}/remote/index.php", content=body)
            return response.status_code, (soapenc.read_reply(soapenc.parse(response.content))
                                          if response.content else None)
        from hostsync_ispconfig.functions import FUNCTIONS

        named = {name: (a.value if isinstance(a, Default) else a) for name, a in zip(FUNCTIONS[function], args)}
        response = httpx.post(f"{self.sandbox.url}/remote/json.php?{function}", json=named)
        if not response.content:
            return response.status_code, None
        envelope = response.json()
        return response.status_code, (envelope["response"] if envelope["code"] == "ok" else envelope)

    def ok(self, function: str, *args: Any) -> Any:
        status, value = self.call(function, *args)
        assert status == 200 and not isinstance(value, (soapenc.Fault, dict)) or (
            isinstance(value, dict) and "code" not in value), (status, value)
        return value

    def fault(self, function: str, *args: Any) -> str:
        """The fault's message (SOAP: code and message must be ISPConfig's)."""
        status, value = self.call(function, *args)
        if self.transport == "soap":
            assert status == 500 and isinstance(value, soapenc.Fault), value
            return f"{value.code}: {value.string}"
        assert status == 200 and value["code"] == "remote_fault" and value["response"] is False, value
        return value["message"]

    def login(self) -> str:
        return self.ok("login", REMOTE_USER, REMOTE_PASSWORD, Default(False))


@pytest.fixture
def wire(sandbox, transport) -> Wire:
    return Wire(sandbox, transport)


def test_get_semantics(wire):
    session = wire.login()
    everyone = wire.ok("client_get", session, -1)
    assert isinstance(everyone, list) and len(everyone) == 14
    one = wire.ok("client_get", session, int(everyone[3]["client_id"]))
    assert one == everyone[3] and isinstance(one["client_id"], str)
    assert wire.ok("client_get", session, "4") == wire.ok("client_get", session, 4)  # numeric strings too
    assert wire.ok("client_get", session, 99999) is None
    assert wire.ok("client_get", session, "abc") == []
    assert wire.ok("client_get", session, {}) == everyone  # [] -> all
    assert "The ID has to be > 0 or -1." in wire.fault("client_get", session, 0)
    assert "The ID has to be > 0 or -1." in wire.fault("client_get", session, -5)


def test_filters_like_and_paging(wire):
    session = wire.login()
    everyone = wire.ok("client_get", session, -1)
    target = everyone[5]
    assert wire.ok("client_get", session, {"email": target["email"].upper()}) == [target]  # ci collation
    domain = target["email"].split("@")[1]
    assert wire.ok("client_get", session, {"email": f"%@{domain.upper()}"}) == [target]
    assert len(wire.ok("client_get", session, {"email": "%"})) == 14
    pages, offset = [], 0
    while True:
        page = wire.ok("client_get", session, {"#OFFSET#": offset, "#LIMIT#": 4})
        if not page:
            break
        pages.append(page)
        offset += 4
    assert [len(p) for p in pages] == [4, 4, 4, 2]
    assert [row["client_id"] for p in pages for row in p] == [row["client_id"] for row in everyone]
    assert wire.ok("client_get", session, {"#OFFSET#": 0, "#LIMIT#": 0}) == everyone  # LIMIT 0: no limit


def test_unknown_filter_column_kills_php(wire):
    session = wire.login()
    assert wire.call("client_get", session, {"no_such_column": "x"}) == (500, None)


def test_adds_return_string_ids_updates_and_deletes_row_counts(wire):
    session = wire.login()
    params = {"contact_name": "Hopper", "email": "grace@navy.example", "username": "grace", "password": "pw",
              "language": "en"}
    new_id = wire.ok("client_add", session, 0, params)
    assert isinstance(new_id, str) and new_id.isdigit()
    assert wire.ok("client_update", session, int(new_id), 0, {"city": "Arlington"}) == 1
    assert wire.ok("client_update", session, int(new_id), 0, {"city": "Arlington"}) == 0  # unchanged
    assert wire.ok("client_get", session, int(new_id))["city"] == "Arlington"
    assert wire.ok("client_update", session, 99999, 0, {"city": "x"}) == 0
    assert wire.ok("client_delete", session, int(new_id)) == 1
    assert wire.ok("client_delete", session, int(new_id)) == 0


def test_client_get_carries_secrets_like_the_real_one(wire):
    session = wire.login()
    row = wire.ok("client_get", session, 1)
    assert row["password"].startswith("$6$") and "PRIVATE KEY" in row["id_rsa"] and row["ssh_rsa"].startswith("ssh-rsa ")
    assert row["tmp_data"] is None and row["added_date"] is None and row["contact_firstname"] != ""


def test_validation_is_data_processing_error(wire):
    session = wire.login()
    message = wire.fault("client_add", session, 0, {"email": "nope", "username": "admin", "language": "en"})
    assert "contact_error_empty" in message and "email_error_isemail" in message
    assert "username_error_unique" in message  # the admin login exists
    if wire.transport == "soap":
        assert message.startswith("data_processing_error: ")
    site = wire.fault("sites_web_domain_add", session, 1, {"domain": "bad domain"}, Default(False))
    assert site.startswith(("no_server_error<br />\r\ndomain_error_regex<br>\r\n",
                            "data_processing_error: no_server_error<br />\r\ndomain_error_regex<br>\r\n"))


def test_sessions_expire_1800s_after_login_whatever_the_use(wire, sandbox):
    session = wire.login()
    sandbox.advance(1000)
    wire.ok("client_get", session, 1)
    sandbox.advance(801)
    assert "The Session is expired or does not exist." in wire.fault("client_get", session, 1)
    assert "The SessionID is empty." in wire.fault("client_get", "", 1)
    assert wire.ok("logout", wire.login()) is True


def test_login_failures(wire, sandbox):
    assert "The login failed. Username or password wrong." in wire.fault("login", REMOTE_USER, "nope", Default(False))
    assert "The login password is empty." in wire.fault("login", REMOTE_USER, "", Default(False))
    data = sandbox.dump()
    data["remote_users"][0]["remote_ips"] = "192.0.2.1"
    sandbox.load(data)
    assert "The login is not allowed from 127.0.0.1" in wire.fault("login", REMOTE_USER, REMOTE_PASSWORD, Default(False))


def test_soap_specifics(sandbox):
    endpoint = f"{sandbox.url}/remote/index.php"
    garbage = httpx.post(endpoint, content=b"<not xml")
    assert garbage.status_code == 500
    assert soapenc.read_reply(soapenc.parse(garbage.content)) == soapenc.Fault("Client", "Bad Request", True)
    wire = Wire(sandbox, "soap")
    status, fault = wire.call("client_get", wire.login(), Default(None))  # one argument short (SkipValue)
    assert status == 500 and fault.code == "Server" and "Too few arguments" in fault.string
    body = etree.tostring(wire.soap.envelope("logout", ["x"])).replace(b"logout", b"no_such_function")
    unknown = soapenc.read_reply(soapenc.parse(httpx.post(endpoint, content=body).content))
    assert unknown == soapenc.Fault("Server", "Function 'no_such_function' doesn't exist", True)
    status, empty_map = wire.call("client_update", wire.login(), 1, 0, {})  # empty dict -> empty Array
    assert status == 200 and empty_map == 0


def test_json_specifics(sandbox):
    def post(query: str, body: bytes) -> httpx.Response:
        return httpx.post(f"{sandbox.url}/remote/json.php?{query}", content=body)

    session = Wire(sandbox, "json").login()
    misspelt = post("client_get", json.dumps({"session_id": session, "primary_id": 3}).encode())
    assert misspelt.status_code == 200 and misspelt.json() == {"code": "ok", "message": "", "response": []}
    unknown = post("no_such_method", json.dumps({"session_id": session}).encode())
    assert unknown.json() == {"code": "invalid_method", "message": "Method no_such_method does not exist",
                              "response": False}
    assert post("client_get", b"[1").json()["code"] == "invalid_data"
    assert unknown.headers["Content-Type"] == 'application/json; charset="utf-8"'
    site = post("sites_web_domain_get", json.dumps({"session_id": session, "primary_id": 1}).encode())
    assert b"\\/var\\/www\\/clients" in site.content  # PHP's json_encode escapes slashes
    assert httpx.post(f"{sandbox.url}/remote/rest.php?client_get", content=b"{}").status_code == 400


def test_control_surface(sandbox):
    wire = Wire(sandbox, "soap")
    session = wire.login()
    httpx.post(f"{sandbox.url}/_sandbox/clock", json={"advance": 1801})
    assert wire.call("client_get", session, 1)[1].code == "session_does_not_exist"
    httpx.post(f"{sandbox.url}/_sandbox/flags", json={"orphan_on_failed_add": 1})
    params = {"contact_name": "X", "email": "x@x.example", "username": "xx", "password": "pw", "language": "en"}
    assert wire.call("client_add", wire.login(), 0, params) == (500, None)
    assert [r["email"] for r in sandbox.dump()["tables"]["client"]].count("x@x.example") == 1
    assert wire.call("client_add", wire.login(), 0, {**params, "email": "y@x.example", "username": "yy"})[0] == 200
    dumped = httpx.get(f"{sandbox.url}/_sandbox/dump").json()
    assert dumped == json.loads(json.dumps(sandbox.dump()))
    assert httpx.get(f"{sandbox.url}/_sandbox/calls").json()["calls"]["client_add"] == 2


def test_sample_is_deterministic_realistic_and_loadable():
    first, again, other = IspconfigSandbox().sample(5), IspconfigSandbox().sample(5), IspconfigSandbox().sample(6)
    assert first == again and first != other
    clients = first["tables"]["client"]
    assert len(clients) == 14 and len({c["country"] for c in clients}) >= 10
    assert any(not c["contact_name"].isascii() for c in clients)
    assert {(c["locked"], c["canceled"]) for c in clients} >= {("n", "n"), ("y", "n"), ("n", "y")}
    assert len(first["tables"]["domain"]) > 14 and first["tables"]["web_domain"]
    restored = IspconfigSandbox()
    restored.load(first)
    assert restored.dump()["tables"] == first["tables"]


def test_registered_through_the_hook():
    import hostsync_ispconfig

    manager = pluggy.PluginManager("hostsync")
    manager.add_hookspecs(hookspecs)
    manager.register(hostsync_ispconfig)
    connectors, sandboxes = [], []
    manager.hook.hostsync_register_connectors(register=connectors.append)
    manager.hook.hostsync_register_sandboxes(register=sandboxes.append)
    assert [c.name for c in connectors] == ["ispconfig"] and sandboxes == [IspconfigSandbox]


def test_systems_point_at_both_endpoints(sandbox):
    systems = sandbox.systems()
    assert systems["panel"]["transport"] == "soap" and systems["panel-json"]["transport"] == "json"
    assert systems["panel"]["url"] == f"{sandbox.url}/remote/"


def test_php_tests_fail_instead_of_skipping_when_ci_requires_php(monkeypatch):
    from . import support

    monkeypatch.setattr(support.shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="HOSTSYNC_REQUIRE_PHP=1 but php"):
        support.require_php({"HOSTSYNC_REQUIRE_PHP": "1"})
    with pytest.raises(pytest.skip.Exception, match="php"):
        support.require_php({})


def test_the_json_transport_never_loads_zeep():
    import subprocess
    import sys

    code = ("import sys; from hostsync_ispconfig.connector import IspconfigConnector; "
            "IspconfigConnector('p', {'url': 'http://x/remote/', 'username': 'u', 'password': 'p', "
            "'transport': 'json'}).close(); assert 'zeep' not in sys.modules, 'zeep loaded'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    from pathlib import Path

    import hostsync_ispconfig

    importers = sorted(path.name for path in Path(hostsync_ispconfig.__file__).parent.glob("*.py")
                       if "import zeep" in path.read_text() or "from zeep" in path.read_text())
    assert importers == ["soap.py"]
