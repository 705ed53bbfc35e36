"""Every way an ISPConfig answer can go wrong, as a clear typed error, over both transports.

Answers are faked with ``httpx.MockTransport`` (the login succeeds, the call under test gets the bad
answer); transport failures (timeouts, lost replies, refused connections) use the real sandbox.
"""

from __future__ import annotations

import json
from typing import Callable

import httpx
import pytest

from hostsync.errors import AuthError, NotFound, ProtocolError, RateLimited, Rejected, Transient
from hostsync.model import Record
from hostsync.sandbox import Fault
from hostsync_ispconfig import soapenc
from hostsync_ispconfig.connector import IspconfigConnector

SESSION = "0123456789abcdef0123456789abcdef"
CLIENT = Record("client", None, {"email": "grace@hopper.example", "first_name": "Grace", "last_name": "Hopper",
                                 "country": "US", "status": "active"})


def function_of(request: httpx.Request) -> str:
    if "json.php" in str(request.url):
        return request.url.query.decode()
    return soapenc.read_request(soapenc.parse(request.content))[0]


def good(transport: str, function: str, value) -> httpx.Response:
    if transport == "json":
        return httpx.Response(200, json={"code": "ok", "message": "", "response": value})
    return httpx.Response(200, content=soapenc.php_reply(function, value, "/remote/index.php"),
                          headers={"Content-Type": "text/xml; charset=utf-8"})


def fake(transport: str, bad: httpx.Response, target: str = "client_get") -> Callable[..., IspconfigConnector]:
    """A connector whose ``target`` calls get ``bad``; login and the login-name check work."""

    def handler(request: httpx.Request) -> httpx.Response:
        function = function_of(request)
        if function == target:
            return bad
        return good(transport, function, {"login": SESSION, "client_get": [], "logout": True}.get(function))

    return IspconfigConnector("panel", {"url": "http://panel.test/remote/", "username": "u", "password": "p4ssw0rd",
                                        "transport": transport, "timeout": 2,
                                        "http_transport": httpx.MockTransport(handler)})


def soap_body(inner: str) -> bytes:
    return (f'<?xml version="1.0"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="{soapenc.SOAP_ENV}">'
            f"<SOAP-ENV:Body>{inner}</SOAP-ENV:Body></SOAP-ENV:Envelope>").encode()


HTML = b"<!DOCTYPE html><html><head><title>ISPConfig</title></head><body><form>Login</form></body></html>"


@pytest.mark.parametrize("transport", ["soap", "json"])
@pytest.mark.parametrize("status, body, error, text", [
    (200, HTML, ProtocolError, "HTML page"),
    (200, b"", ProtocolError, "empty body"),
    (404, HTML, ProtocolError, "HTTP 404"),
    (401, b"", AuthError, "401"),
    (403, HTML, AuthError, "403"),
    (503, b"", Transient, "503"),
    (500, b"", Transient, "500"),
    (500, HTML, Transient, "HTML page"),
])
def test_http_failures(transport, status, body, error, text):
    connector = fake(transport, httpx.Response(status, content=body, headers={"Content-Type": "text/html"}))
    with pytest.raises(error, match=text) as caught:
        connector.get("client", "7")
    assert "panel" in str(caught.value) and "client 7" in str(caught.value)
    if isinstance(caught.value, Transient):
        assert caught.value.may_have_applied is False  # a read never applied anything


@pytest.mark.parametrize("transport", ["soap", "json"])
def test_rate_limit(transport):
    connector = fake(transport, httpx.Response(429, headers={"Retry-After": "7"}))
    with pytest.raises(RateLimited) as caught:
        connector.get("client", "7")
    assert caught.value.retry_after == 7


@pytest.mark.parametrize("transport", ["soap", "json"])
@pytest.mark.parametrize("body", [b"", b"<html><body>Fatal error</body></html>"])
def test_a_failed_add_may_have_applied(transport, body):
    connector = fake(transport, httpx.Response(500, content=body), target="client_add")
    with pytest.raises(Transient) as caught:
        connector.create("client", CLIENT)
    assert caught.value.may_have_applied is True


@pytest.mark.parametrize("body, text", [
    (b"<SOAP-ENV:Envelope", "malformed XML"),
    (b'<?xml version="1.0"?><result>ok</result>', "not a SOAP 1.1 envelope"),
    (soap_body(""), "without a Body entry"),
    (soap_body("<SOAP-ENV:Fault><faultcode>data_processing_error</faultcode></SOAP-ENV:Fault>"),
     "fault without faultcode or faultstring"),
    (soap_body('<r><return xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xsd:int">7</return></r>'),
     "undeclared prefix"),
    (soap_body("<r><return><a>1</a></return></r>"), "structure without an xsi:type"),
])
def test_unreadable_soap(body, text):
    connector = fake("soap", httpx.Response(200, content=body, headers={"Content-Type": "text/xml"}))
    with pytest.raises(ProtocolError, match=text):
        connector.get("client", "7")


@pytest.mark.parametrize("body, text", [
    (b'{"code":"ok","message":"","respo', "expected JSON"),
    (b"[1, 2]", "envelope"),
    (b'{"message": "x"}', "envelope"),
    (b'{"code":"weird","message":"","response":false}', "unknown ISPConfig status code 'weird'"),
])
def test_unreadable_json(body, text):
    connector = fake("json", httpx.Response(200, content=body, headers={"Content-Type": "application/json"}))
    with pytest.raises(ProtocolError, match=text):
        connector.get("client", "7")


def _fault(transport: str, code: str, message: str) -> httpx.Response:
    if transport == "json":
        envelope = {"code": "remote_fault", "message": message, "response": False}
        if code in ("invalid_data", "invalid_method"):
            envelope["code"] = code
        return httpx.Response(200, json=envelope)
    return httpx.Response(500, content=soapenc.php_fault(code, message), headers={"Content-Type": "text/xml"})


@pytest.mark.parametrize("transport", ["soap", "json"])
@pytest.mark.parametrize("code, message, error", [
    ("permission_denied", "You do not have the permissions to access this function.", AuthError),
    ("invalid_id", "The ID has to be > 0 or -1.", NotFound),
    ("data_processing_error", "email_error_isemail<br />\r\n", Rejected),
    ("invalid_data", "The JSON data sent to the api is invalid", Rejected),
    ("invalid_method", "Method client_get does not exist", ProtocolError),
    ("data_processing_error", "", Rejected),
    ("server_maintenance", "This server is in maintenance mode.", Transient),
])
def test_faults(transport, code, message, error):
    if transport == "soap" and code in ("invalid_method",):
        code, message = "Server", "Function 'client_get' doesn't exist"
    connector = fake(transport, _fault(transport, code, message))
    with pytest.raises(error) as caught:
        connector.get("client", "7")
    assert "client 7" in str(caught.value) and "<br" not in str(caught.value)
    if not message:
        assert "no message given" in str(caught.value)


@pytest.mark.parametrize("transport", ["soap", "json"])
@pytest.mark.parametrize("code, message, error", [
    # what a real panel answers when the credentials or the remote user's rights are refused (FACTS.md 6, 9)
    ("login_failed", "The login failed. Username or password wrong.", AuthError),
    ("login_failed", "The login is not allowed from 192.0.2.7", AuthError),
    ("login_username_empty", "The login username is empty.", AuthError),
    ("login_password_empty", "The login password is empty.", AuthError),
    # anything else may pass: it must not hold the panel until someone runs `hostsync check`
    ("server_error", "Internal server error", Transient),
    ("maintenance_mode", "This ISPConfig installation is currently under maintenance.", Transient),
    ("db_error", "SQLSTATE[HY000] [2002] Connection refused", Transient),
    ("session_does_not_exist", "The Session is expired or does not exist.", Transient),
])
def test_only_refused_credentials_hold_the_panel_at_login(transport, code, message, error):
    connector = fake(transport, _fault(transport, code, message), target="login")
    with pytest.raises(error) as caught:
        connector.check()
    assert type(caught.value) is error
    assert message.split(".")[0] in str(caught.value)


@pytest.mark.parametrize("transport", ["soap", "json"])
def test_php_failing_on_the_login_call_is_a_protocol_error(transport):
    bad = (httpx.Response(200, json={"code": "invalid_method", "message": "Method login does not exist", "response": False})
           if transport == "json" else
           httpx.Response(500, content=soapenc.php_fault("Server", "Too few arguments to function login()", standard=True),
                          headers={"Content-Type": "text/xml"}))
    with pytest.raises(ProtocolError):
        fake(transport, bad, target="login").check()


@pytest.mark.parametrize("transport", ["soap", "json"])
def test_login_answer_that_is_no_session_id(transport):
    connector = fake(transport, good(transport, "login", False), target="login")
    with pytest.raises(ProtocolError, match="not a session id"):
        connector.check()


@pytest.mark.parametrize("transport", ["soap", "json"])
def test_session_refused_right_after_login_is_transient(transport):
    connector = fake(transport, _fault(transport, "session_does_not_exist", "The Session is expired or does not exist."))
    with pytest.raises(Transient, match="just opened"):
        connector.get("client", "7")
    assert connector.session.logins == 2  # logged in again exactly once


@pytest.mark.parametrize("transport", ["soap", "json"])
@pytest.mark.parametrize("answer", ["surprise", {"client_id": "1"}, [{"client_id": "1"}, "x"], None])
def test_a_list_that_is_not_a_list_of_records(transport, answer):
    connector = fake(transport, good(transport, "client_get", answer))
    with pytest.raises(ProtocolError, match="expected a list of records"):
        list(connector.list("client"))


@pytest.mark.parametrize("transport", ["soap", "json"])
def test_an_add_that_answers_no_id(transport):
    connector = fake(transport, good(transport, "client_add", False), target="client_add")
    with pytest.raises(ProtocolError, match="not the new record's id"):
        connector.create("client", CLIENT)


# --- transport failures against the running sandbox --------------------------------------------

def test_timeout_on_a_write_may_have_applied(sandbox, connect, transport):
    connector = connect(sandbox.systems()[{"soap": "panel", "json": "panel-json"}[transport]], timeout=0.3)
    connector.check()
    sandbox.inject(Fault("timeout", match="client_add", delay=1.0))
    with pytest.raises(Transient) as caught:
        connector.create("client", CLIENT)
    assert caught.value.may_have_applied is True
    assert len(connector.find("client", {"email": "grace@hopper.example"})) == 1  # it was applied


def test_lost_reply_on_client_add_leaves_exactly_one_client(sandbox, connect, transport):
    connector = connect(sandbox.systems()[{"soap": "panel", "json": "panel-json"}[transport]])
    sandbox.inject(Fault("lost_reply", match="client_add"))
    with pytest.raises(Transient) as caught:
        connector.create("client", CLIENT)
    assert caught.value.may_have_applied is True
    # What the engine does next: look the record up by its natural key instead of adding again.
    found = connector.find("client", {"email": CLIENT.fields["email"]})
    assert len(found) == 1 and found[0].fields["last_name"] == "Hopper"


def test_orphan_on_failed_add_is_found_not_duplicated(sandbox, connect, transport):
    connector = connect(sandbox.systems()[{"soap": "panel", "json": "panel-json"}[transport]])
    sandbox.orphan_on_failed_add = 1
    with pytest.raises(Transient) as caught:
        connector.create("client", CLIENT)
    assert caught.value.may_have_applied is True
    assert sandbox.calls["client_add"] == 1
    found = connector.find("client", {"email": CLIENT.fields["email"]})
    assert len(found) == 1
    connector.update("client", found[0].id, CLIENT)  # the engine makes the adopted record right
    assert [r["email"] for r in sandbox.dump()["tables"]["client"]].count(CLIENT.fields["email"]) == 1
    assert sandbox.orphan_on_failed_add == 0  # only the one add failed


def test_client_add_without_language_leaves_an_orphan_row(sandbox, connect, transport):
    connector = connect(sandbox.systems()[{"soap": "panel", "json": "panel-json"}[transport]],
                        client_defaults={"language": ""})
    with pytest.raises(Transient) as caught:
        connector.create("client", CLIENT)
    assert caught.value.may_have_applied is True
    rows = [r for r in sandbox.dump()["tables"]["client"] if r["email"] == CLIENT.fields["email"]]
    assert len(rows) == 1 and rows[0]["language"] is None  # the row is in, its login is not
    assert not [u for u in sandbox.dump()["tables"]["sys_user"] if u["client_id"] == rows[0]["client_id"]]


def test_connection_refused_is_transient(connect, transport):
    connector = connect({"url": "http://127.0.0.1:9/remote/", "username": "u", "password": "p",
                         "transport": transport, "timeout": 1})
    with pytest.raises(Transient, match="cannot connect"):
        connector.check()


def test_json_endpoint_answers_garbage_with_invalid_data_and_http_200(sandbox):
    response = httpx.post(f"{sandbox.url}/remote/json.php?client_get", content=b"{not json")
    assert response.status_code == 200
    assert json.loads(response.content) == {"code": "invalid_data", "message": "The JSON data sent to the api is invalid",
                                            "response": False}


@pytest.mark.parametrize("transport", ["soap", "json"])
def test_a_domain_row_with_an_odd_owner_has_no_client(transport):
    rows = [{"domain_id": "1", "domain": "a.example", "sys_userid": "x"},
            {"domain_id": "2", "domain": "b.example", "sys_userid": None}]
    connector = fake(transport, good(transport, "domains_domain_get", rows), target="domains_domain_get")
    assert [r.refs for r in connector.list("domain")] == [{"client": None}, {"client": None}]


def test_a_server_error_at_login_does_not_hold_the_panel(sandbox, hostsync_project):
    """Through the CLI against the sandbox: the run fails, nothing is held, and once the panel is back
    the next sync works without anyone running `hostsync check`."""
    project = hostsync_project
    project.system("panel", **{**sandbox.systems()["panel"], "timeout": 2})
    sandbox.inject(Fault("error", match="login", times=None, status=500, content_type="text/xml; charset=utf-8",
                         body=soapenc.php_fault("server_error", "Internal server error").decode()))
    result = project.cli("check", "panel", "--json")
    assert result.exit_code == 1
    [row] = result.json()
    assert row["message"].startswith("Transient: panel: login as 'hostsync': ISPConfig failed (server_error)")
    assert "held" not in row["message"]
    assert project.cli("state", "check", "--json").json()["holds"] == 0
    sandbox.clear_faults()
    assert project.cli("check", "panel").exit_code == 0
