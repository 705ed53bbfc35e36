"""The wbTeamPro wire protocol, client and emulator: request forms, envelope, paging, errors, one
refused login through the core's gate, and the IP ban after three failed logins."""

from __future__ import annotations

import hashlib
import json
import logging
from urllib.parse import parse_qsl

import httpx
import pytest

from hostsync.engine.calls import Caller, Gate, SystemHeld
from hostsync.errors import AuthError, NotFound, ProtocolError, Rejected, Transient
from hostsync.sandbox import Fault
from hostsync_wbteampro.client import TeamProClient
from hostsync_whmcs.client import WhmcsClient

API = "/modules/addons/wbteampro/api.php"


def login(sandbox) -> dict:
    return {"username": sandbox.ADMIN, "password": hashlib.md5(sandbox.ADMIN_PASSWORD.encode()).hexdigest()}


# --- the emulator's request forms ------------------------------------------------------------------

@pytest.mark.parametrize("path, query", [
    (API, {"action": "v1.projects.1.json"}),
    (API + "/v1/projects/1/json", {}),
    ("/modules/addons/wbteampro/api/v1/projects/1/json", {}),
])
def test_direct_clean_and_rewritten_urls(sandbox, path, query):
    answer = httpx.get(sandbox.url + path, params={**query, **login(sandbox)}).json()
    assert answer["request"] == {"action": "projects/1", "method": "GET", "format": "json", "code": 200,
                                 "message": "Success"}
    assert answer["response"]["project"]["project_id"] == 1


def test_method_override_and_params_as_a_form_array(sandbox):
    form = {"action": "v1.projects.1.json", "method": "put", "params[project_name]": "Relaunch", **login(sandbox)}
    answer = httpx.post(sandbox.url + API, data=form).json()
    assert answer["request"]["method"] == "PUT"
    assert sandbox.state["projects"][1]["project_name"] == "Relaunch"
    assert sandbox.calls["updateProject"] == 1


def test_subresource_envelope_and_the_documented_pages_oddity(sandbox):
    answer = httpx.get(sandbox.url + API, params={"action": "v1.projects.1.whmcstickets.json", **login(sandbox)}).json()
    response = answer["response"]
    assert answer["request"]["action"] == "projects/1/whmcstickets"
    assert response["data"]["total"] == 1 and response["data"]["pages"] == 0  # as the vendor's example shows
    assert response["project"]["project_id"] == 1
    assert [(t["id"], t["ticketxref"]["xref_id"]) for t in response["whmcstickets"]] == [(1, 1)]


def test_xml_format_and_bad_chains(sandbox):
    xml = httpx.get(sandbox.url + API, params={"action": "v1.projects.1.xml", **login(sandbox)})
    assert xml.headers["Content-Type"].startswith("text/xml") and "<project_name>Website redesign" in xml.text
    for action in ("projects.1.json", "v1.projects.1", "v1.nothing.json", "v1.projects.abc.json"):
        bad = httpx.get(sandbox.url + API, params={"action": action, **login(sandbox)})
        assert (bad.status_code, bad.json()["request"]["message"]) == (400, "Request Invalid or Bad Format")


# --- the client ------------------------------------------------------------------------------------

def test_client_posts_a_form_and_keeps_credentials_out_of_the_url():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, str(request.url), dict(parse_qsl(request.content.decode()))))
        return httpx.Response(200, json={"request": {"code": 200, "message": "Success"},
                                         "response": {"project": {"project_id": 5}}})

    client = TeamProClient({"url": "https://billing.example.net", "username": "admin", "password": "pw-1",
                            "http_transport": httpx.MockTransport(handler)})
    client.call("projects", "post", {"project_name": "Ä"})
    method, url, form = seen[0]
    assert (method, url) == ("POST", "https://billing.example.net/modules/addons/wbteampro/api.php")
    assert form == {"action": "v1.projects.json", "method": "post", "username": "admin",
                    "password": hashlib.md5(b"pw-1").hexdigest(), "params": '{"project_name": "Ä"}'}


def test_pages_to_the_end_without_trusting_pages(sandbox, options):
    rows = list(TeamProClient(options).pages("actions", limit=4))
    assert [row["action_id"] for row in rows] == list(range(1, 11))
    assert sandbox.calls["findActions"] == 3


def test_record_errors_are_typed(sandbox, options):
    client = TeamProClient(options)
    with pytest.raises(NotFound, match="Record Not Found"):
        client.call("projects.999")
    with pytest.raises(Rejected, match="required data was not provided"):
        client.call("projects", "post", {"project_status": "Active"})
    with pytest.raises(Rejected, match="client_userid is invalid"):
        client.call("projects", "post", {"project_name": "x", "client_userid": 999})


@pytest.mark.parametrize("fault, error, text", [
    (Fault("error", status=200, body="<!DOCTYPE html><html>Maintenance</html>"), ProtocolError, "HTML page"),
    (Fault("error", status=200, body='{"request":{"code":200', content_type="application/json"),
     ProtocolError, "expected JSON"),
    (Fault("error", status=200, body='{"projects": []}', content_type="application/json"), ProtocolError, "envelope"),
    (Fault("error", status=200, body='{"request":{"code":299,"message":"?"},"response":{}}',
           content_type="application/json"), ProtocolError, "unknown request.code 299"),
    (Fault("error", status=502), Transient, "502"),
    (Fault("error", status=200, body='{"request":{"code":500,"message":"DB gone"},"response":null}',
           content_type="application/json"), Transient, "DB gone"),
])
def test_bad_answers_fail_with_a_clear_typed_error(sandbox, options, fault, error, text):
    sandbox.inject(fault)
    with pytest.raises(error, match=text):
        TeamProClient(options).call("projects")


def test_lost_reply_on_create_may_have_applied(sandbox, options):
    sandbox.inject(Fault("lost_reply", match="createProject"))
    with pytest.raises(Transient) as caught:
        TeamProClient(options).call("projects", "post", {"project_name": "Lost", "client_userid": 1})
    assert caught.value.may_have_applied
    assert any(p["project_name"] == "Lost" for p in sandbox.state["projects"].values())


def test_timeout(sandbox, options):
    sandbox.inject(Fault("timeout", match="findProjects", delay=1.0))
    with pytest.raises(Transient, match="no answer in time"):
        TeamProClient({**options, "timeout": 0.3}).call("projects")


# --- one refused login, and the ban ---------------------------------------------------------------

def gated(concurrency: int = 1) -> Caller:
    """The core's gate for one system, as the engine calls every connector."""
    import threading

    return Caller({"crm": Gate(concurrency, None)}, threading.Event())


def test_a_refused_login_holds_the_system_so_no_second_attempt_is_sent(sandbox, options):
    client, caller = TeamProClient({**options, "password": "wrong"}), gated()
    with pytest.raises(AuthError, match="Authentication Failed"):
        caller.call("crm", client.call, "projects")
    for _ in range(3):
        with pytest.raises(SystemHeld, match="is held"):
            caller.call("crm", client.call, "projects")
    assert sandbox.failed_logins == 1 and sum(sandbox.calls.values()) == 1
    assert sandbox.state["banned_ips"] == []


def test_three_failed_logins_ban_the_ip_on_both_apis(sandbox, options):
    for _ in range(3):
        with pytest.raises(AuthError):
            TeamProClient({**options, "password": "wrong"}).call("projects")
    assert sandbox.state["banned_ips"] == ["127.0.0.1"]
    with pytest.raises(AuthError, match="banned"):
        TeamProClient(options).call("projects")
    whmcs = {k: v for k, v in sandbox.systems()["billing"].items() if k != "plugin"}
    with pytest.raises(AuthError, match="403"):
        WhmcsClient(whmcs).call("GetClients")


def test_no_secret_in_any_log_line_or_error(sandbox, options, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="hostsync.vendor")  # the line of each request (-vv)
    digest = hashlib.md5(sandbox.ADMIN_PASSWORD.encode()).hexdigest()
    sandbox.inject(Fault("error", match="findActions", status=200, content_type="application/json",
                         body=json.dumps({"request": {"code": 400, "message": f"bad {digest} {sandbox.ADMIN_PASSWORD}"},
                                          "response": None})))
    errors = []
    client = TeamProClient(options)
    for chain in ("projects", "actions", "projects.999"):
        try:
            client.call(chain)
        except Exception as exc:  # noqa: BLE001 - collecting every message
            errors.append(str(exc))
    wrong = TeamProClient({**options, "password": sandbox.ADMIN_PASSWORD + "!"})
    for _ in range(2):
        try:
            wrong.call("projects")
        except AuthError as exc:
            errors.append(str(exc))
    assert len(errors) == 4 and "***" in errors[0]
    text = caplog.text + "\n".join(errors)
    assert "POST projects (get) -> HTTP 200" in caplog.text
    for secret in (sandbox.ADMIN_PASSWORD, digest, hashlib.md5((sandbox.ADMIN_PASSWORD + "!").encode()).hexdigest()):
        assert secret not in text


def test_parallel_calls_with_a_wrong_password_fail_one_login(sandbox, options):
    from concurrent.futures import ThreadPoolExecutor

    client, caller = TeamProClient({**options, "password": "wrong", "concurrency": 6}), gated(6)

    def attempt(n):
        try:
            caller.call("crm", client.call, "projects")
        except (AuthError, SystemHeld) as exc:
            return str(exc)

    with ThreadPoolExecutor(6) as pool:
        errors = list(pool.map(attempt, range(6)))
    assert len(errors) == 6 and sum("is held" in e for e in errors) == 5
    assert sandbox.failed_logins == 1 and sandbox.state["banned_ips"] == []
