"""The WHMCS wire client: encoding, auth, paging and every error mapping, over real loopback HTTP."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest

from hostsync.errors import AuthError, NotFound, ProtocolError, RateLimited, Rejected, Transient
from hostsync.sandbox import Fault
from hostsync_whmcs.client import ActionRefused, WhmcsClient

EXAMPLES = Path(__file__).with_name("examples")


def secrets_of(sandbox) -> list[str]:
    return [sandbox.SECRET, sandbox.ACCESSKEY, sandbox.ADMIN_PASSWORD,
            hashlib.md5(sandbox.ADMIN_PASSWORD.encode()).hexdigest()]


def mock_client(handler, **options) -> WhmcsClient:
    return WhmcsClient({"url": "https://billing.example.net/", "identifier": "id", "secret": "s3cret-value",
                        "http_transport": httpx.MockTransport(handler), **options})


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_every_official_example_parses_as_a_success(path):
    body = path.read_bytes()
    client = mock_client(lambda request: httpx.Response(200, content=body,
                                                        headers={"Content-Type": "application/json"}))
    answer = client.call(path.stem)
    assert answer["result"] == "success"
    assert not any("[" in key for key in answer)  # bracket-notation examples come back nested


def test_request_is_a_form_post_with_json_response_type_and_php_booleans():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.headers["Content-Type"],
                     dict(parse_qsl(request.content.decode()))))
        return httpx.Response(200, json={"result": "success"})

    mock_client(handler, accesskey="k3y").call("OpenTicket", {"noemail": True, "markdown": False, "subject": "Ä ö"})
    method, path, content_type, form = seen[0]
    assert (method, path, content_type) == ("POST", "/includes/api.php", "application/x-www-form-urlencoded")
    assert form == {"action": "OpenTicket", "responsetype": "json", "identifier": "id", "secret": "s3cret-value",
                    "accesskey": "k3y", "noemail": "1", "markdown": "0", "subject": "Ä ö"}


def test_legacy_login_sends_the_md5_of_the_password(sandbox):
    seen = []
    transport = httpx.HTTPTransport()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(parse_qsl(request.content.decode())))
        return transport.handle_request(request)

    client = WhmcsClient({"url": sandbox.url, "username": sandbox.ADMIN, "password": sandbox.ADMIN_PASSWORD,
                          "http_transport": httpx.MockTransport(handler)})
    assert client.call("GetClients", {"limitnum": 1})["totalresults"] == 12
    assert seen[0]["password"] == hashlib.md5(sandbox.ADMIN_PASSWORD.encode()).hexdigest()
    assert sandbox.ADMIN_PASSWORD not in json.dumps(seen)


def test_pages_to_the_end(sandbox, options):
    client = WhmcsClient(options)
    rows = list(client.pages("GetClients", "clients", "client", limit=5))
    assert sorted(row["id"] for row in rows) == list(range(1, 13))
    assert sandbox.calls["GetClients"] == 3  # 5 + 5 + 2


def test_pages_without_numreturned_and_without_a_list_key_when_empty(sandbox, options):
    client = WhmcsClient(options)
    entries = list(client.pages("GetActivityLog", "activity", "entry", limit=20))
    assert len(entries) == len(sandbox.state["activity"])
    assert list(client.pages("GetActivityLog", "activity", "entry", {"description": "no such entry"})) == []


def test_wrong_secret_is_an_auth_error_without_the_secret(sandbox, options):
    client = WhmcsClient({**options, "secret": "wrong-secret-value"})
    with pytest.raises(AuthError, match="Authentication Failed") as caught:
        client.call("GetClients")
    assert "wrong-secret-value" not in str(caught.value)


def test_ip_allow_list_refuses_until_the_access_key_is_sent(sandbox, options):
    sandbox.allowed_ips = ["192.0.2.10"]
    with pytest.raises(AuthError, match="Invalid IP 127.0.0.1"):
        WhmcsClient(options).call("GetClients")
    answer = WhmcsClient({**options, "accesskey": sandbox.ACCESSKEY}).call("GetClients", {"limitnum": 1})
    assert answer["numreturned"] == 1


def test_business_errors_are_typed(sandbox, options):
    client = WhmcsClient(options)
    with pytest.raises(NotFound, match=r"GetClientsDetails \(client 999\): Client Not Found"):
        client.call("GetClientsDetails", {"clientid": 999}, about="client 999")
    with pytest.raises(Rejected, match="Subject is required") as caught:
        client.call("OpenTicket", {"deptid": 1, "clientid": 1, "message": "hi"}, write=True)
    assert not isinstance(caught.value, NotFound)


@pytest.mark.parametrize("fault, error, text", [
    (Fault("error", status=200, body="<!DOCTYPE html><html><body>Maintenance</body></html>"), ProtocolError, "HTML page"),
    (Fault("error", status=200, body='{"result":"success","clients":{"cli', content_type="application/json"),
     ProtocolError, "expected JSON"),
    (Fault("error", status=200, body='{"result":"pending"}', content_type="application/json"),
     ProtocolError, "unknown result 'pending'"),
    (Fault("error", status=200, body="[1, 2]", content_type="application/json"), ProtocolError, "JSON object"),
    (Fault("error", status=200, body=""), ProtocolError, "empty body"),
    (Fault("error", status=500, body="<html>Fatal error</html>"), Transient, "HTTP 500"),
    (Fault("error", status=502), Transient, "HTTP 502"),
    (Fault("error", status=503, body="busy"), Transient, "HTTP 503"),
    (Fault("error", status=401), AuthError, "401"),
    (Fault("error", status=403, body="<html>Forbidden</html>"), AuthError, "403"),
    (Fault("error", status=302), ProtocolError, "redirected"),
    (Fault("rate_limit", retry_after=7), RateLimited, "429"),
])
def test_bad_answers_fail_the_call_with_a_clear_typed_error(sandbox, options, fault, error, text):
    sandbox.inject(fault)
    with pytest.raises(error, match=text) as caught:
        WhmcsClient(options).call("GetClients", {"limitnum": 1})
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 7


def test_a_failed_write_leaves_the_state_alone_and_a_retry_works(sandbox, options):
    before = sandbox.dump()["clients"]
    sandbox.inject(Fault("error", match="AddClient", status=200, body="<html>Oops</html>", applied=False))
    client = WhmcsClient(options)
    params = {"firstname": "Ada", "lastname": "Lovelace", "email": "ada@example.org", "skipvalidation": True,
              "noemail": True}
    with pytest.raises(ProtocolError):
        client.call("AddClient", params, write=True)
    assert sandbox.dump()["clients"] == before
    assert client.call("AddClient", params, write=True)["clientid"] == "13"


def test_lost_reply_on_a_write_may_have_applied(sandbox, options):
    sandbox.inject(Fault("lost_reply", match="AddClient"))
    with pytest.raises(Transient, match="connection lost") as caught:
        WhmcsClient(options).call("AddClient", {"email": "x@example.org", "skipvalidation": True}, write=True)
    assert caught.value.may_have_applied is True
    assert any(c["email"] == "x@example.org" for c in sandbox.state["clients"].values())


def test_lost_reply_on_a_read_has_not_applied_anything(sandbox, options):
    sandbox.inject(Fault("lost_reply", match="GetClients"))
    with pytest.raises(Transient) as caught:
        WhmcsClient(options).call("GetClients")
    assert caught.value.may_have_applied is False


def test_timeout_is_transient(sandbox, options):
    sandbox.inject(Fault("timeout", match="UpdateClient", delay=1.5))
    with pytest.raises(Transient, match="no answer in time") as caught:
        WhmcsClient({**options, "timeout": 0.3}).call("UpdateClient", {"clientid": 1, "city": "Malmö"}, write=True)
    assert caught.value.may_have_applied is True


def test_php_warning_before_the_json_is_a_protocol_error(sandbox, options):
    sandbox.php_warnings = True
    with pytest.raises(ProtocolError, match="expected JSON"):
        WhmcsClient(options).call("GetClients")


def test_missing_responsetype_gets_the_legacy_format_which_is_refused():
    client = mock_client(lambda r: httpx.Response(200, text="<?xml version='1.0'?><whmcsapi><result>success"
                                                           "</result></whmcsapi>", headers={"Content-Type": "text/xml"}))
    with pytest.raises(ProtocolError, match="text/xml"):
        client.call("GetClients")


def test_no_secret_in_any_log_line_or_error(sandbox, options, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="hostsync.vendor")  # the line of each request (-vv)
    secret_values = secrets_of(sandbox)
    errors = []
    for settings in (options, {**options, "accesskey": sandbox.ACCESSKEY},
                     {**{k: v for k, v in options.items() if k not in ("identifier", "secret")},
                      "username": sandbox.ADMIN, "password": sandbox.ADMIN_PASSWORD},
                     {**options, "secret": sandbox.SECRET + "x"}):
        client = WhmcsClient(settings)
        own = [str(settings[k]) for k in ("secret", "accesskey", "password") if settings.get(k)]
        if settings.get("password"):
            own.append(hashlib.md5(settings["password"].encode()).hexdigest())
        sandbox.inject(Fault("error", match="GetClientsDetails", status=200, content_type="application/json",
                             body=json.dumps({"result": "error", "message": f"Bad key {' '.join(own)}"})))
        for action in ("GetClients", "GetClientsDetails", "GetTicket"):
            try:
                client.call(action, {"ticketid": 999})
            except Exception as exc:  # noqa: BLE001 - collecting every message
                errors.append(str(exc))
    assert len(errors) >= 4 and any("***" in e for e in errors)
    text = caplog.text + "\n".join(errors)
    assert "POST GetClients -> HTTP 200" in caplog.text  # the core's line of each request (-vv)
    for value in secret_values:
        assert value not in text


def test_parallel_calls_with_wrong_credentials_send_one_login(sandbox, options):
    """Through the core's gate, as the engine calls it: the credentials are proven by one call."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from hostsync.engine.calls import Caller, Gate, SystemHeld

    client = WhmcsClient({**options, "secret": "wrong", "concurrency": 6})
    caller = Caller({"billing": Gate(6, None)}, threading.Event())

    def attempt(n):
        with pytest.raises((AuthError, SystemHeld)) as caught:
            caller.call("billing", client.call, "GetClientsDetails", {"clientid": n + 1})
        return str(caught.value)

    with ThreadPoolExecutor(6) as pool:
        errors = list(pool.map(attempt, range(6)))
    assert sum("is held" in e for e in errors) == 5 and sandbox.calls == {"GetClientsDetails": 1}


def test_a_refused_permission_for_one_action_does_not_stop_the_others(sandbox, options):
    sandbox.deny_actions("GetTickets")  # answered HTTP 403 "Invalid Permissions: ..." as WHMCS does
    client = WhmcsClient(options)
    with pytest.raises(ActionRefused, match='WHMCS GetTickets: not allowed .*"gettickets".* Manage API Roles') as refused:
        client.call("GetTickets")
    assert isinstance(refused.value, Rejected) and not isinstance(refused.value, AuthError)
    assert client.call("GetClients", {"limitnum": 1})["numreturned"] == 1
    sandbox.missing_actions.add("getclients")
    with pytest.raises(ActionRefused, match="does not know the action"):
        client.call("GetClients")  # not a NotFound: no record is missing
