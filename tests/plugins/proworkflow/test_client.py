"""The ProWorkflow wire client against scripted answers (``httpx.MockTransport``): every error shape
maps to its taxonomy type with a plain-text message, secrets never show, paging and the rate limit."""

from __future__ import annotations

import json
from typing import Any, Callable
from urllib.parse import quote_plus

import httpx
import pytest

from hostsync.errors import AuthError, NotFound, ProtocolError, RateLimited, Rejected, Transient
from hostsync.redact import register_secret
from hostsync_proworkflow.client import ProWorkflowClient

KEY, PASSWORD = "key-5f2a-SECRET", "pw-SECRET-77"


def client(handler: Callable[[httpx.Request], httpx.Response],
           on_pause: Callable[[float], None] | None = None) -> ProWorkflowClient:
    return ProWorkflowClient({"apikey": KEY, "username": "hostsync", "password": PASSWORD, "timeout": 2,
                              "http_transport": httpx.MockTransport(handler)}, on_pause=on_pause)


def answer(status: int, body: Any = None, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        if isinstance(body, (dict, list)):
            return httpx.Response(status, json=body, headers=headers)
        return httpx.Response(status, content=(body or "").encode(), headers=headers)
    return handle


def test_every_request_carries_the_key_header_and_basic_auth():
    seen = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"details": [{"id": 5}], "status": "Success"})

    api = client(handle)
    api.post("projects", {"title": "X", "staff": "1,2"})
    request = seen[0]
    assert request.headers["apikey"] == KEY and request.headers["authorization"].startswith("Basic ")
    assert request.url.path == "/projects" and str(request.url).startswith("https://api.proworkflow.net/")
    assert request.headers["content-type"] == "application/json" and json.loads(request.content)["staff"] == "1,2"


@pytest.mark.parametrize("status,body,error,text", [
    (401, "", AuthError, "login refused (HTTP 401): check username and password"),
    (403, {"status": "Error", "details": ["Invalid API Key"]}, AuthError, "the API key was refused"),
    (403, {"status": "Error", "details": "You do not have permission"}, AuthError, "permission denied"),
    (404, "<!DOCTYPE html><html><body>404 - File or directory not found.</body></html>", ProtocolError,
     "no such API path (an HTML page (HTTP 404"),
    (404, {"status": "Error", "details": ["Invalid Project ID"]}, NotFound, "Invalid Project ID"),
    (400, {"status": "Error", "details": ["'title' is a required field", "<b>priority</b> must be 1-5"]}, Rejected,
     "refused (HTTP 400): 'title' is a required field; priority must be 1-5"),
    (500, {"status": "Error", "details": "<b>Error</b>: Array to string conversion"}, Transient,
     "ProWorkflow failed (HTTP 500: Error : Array to string conversion)"),
    (200, {"count": 1, "project": {"id": 1}}, ProtocolError, "the answer has no status 'Success'"),
    (200, "<html>maintenance</html>", ProtocolError, "expected JSON, got an HTML page"),
    (302, "", ProtocolError, "redirected"),
])
def test_error_answers_are_typed_with_plain_text_details(status, body, error, text):
    api = client(answer(status, body))
    with pytest.raises(error) as caught:
        api.get("projects/1", what="read project 1")
    message = str(caught.value)
    assert text in message and message.startswith("read project 1: ProWorkflow GET /projects/1")
    assert "<b>" not in message and KEY not in message and PASSWORD not in message


def test_a_5xx_on_a_write_may_have_applied_but_not_on_a_read():
    api = client(answer(500, {"status": "Error", "details": "Timeout expired"}))
    with pytest.raises(Transient) as write:
        api.post("projects", {"title": "X"})
    with pytest.raises(Transient) as read:
        api.get("projects")
    assert write.value.may_have_applied and not read.value.may_have_applied
    with pytest.raises(Transient) as unavailable:
        client(answer(503, "")).post("projects", {})
    assert not unavailable.value.may_have_applied


@pytest.mark.parametrize("cut", [False, True], ids=["whole", "cut-across-it"])
def test_an_echoed_secret_is_masked_before_the_details_are_cut(cut):
    """Configured secrets are registered when the config loads (as here). The vendor echoes the
    password URL-encoded; the details are cut at 500 characters only once it is masked, so no part
    of it shows (masked after the cut, its first characters would)."""
    password = "pass word/SECRET 77"
    register_secret(KEY)
    register_secret(password)
    first, echo = f"apikey {KEY} is not valid", f" user=hostsync&password={quote_plus(password)}"
    padding = 500 - len(f"{first}; ") - len(echo) + len(quote_plus(password)) - 6 if cut else 0  # 6 before the cut
    api = client(answer(400, {"status": "Error", "details": [first, "x" * padding + echo]}))
    with pytest.raises(Rejected) as caught:
        api.get("me")
    message = str(caught.value)
    assert "apikey *** is not valid" in message and KEY not in message
    assert quote_plus(password)[:6] not in message and message.endswith("password=***")


def test_429_is_rate_limited_with_the_reset_as_retry_after():
    api = client(answer(429, {"status": "Error", "details": "slow down"}, **{"x-ratelimit-reset": "17",
                                                                             "x-ratelimit-remaining": "0"}))
    with pytest.raises(RateLimited) as caught:
        api.get("projects")
    assert caught.value.retry_after == 17


def test_pages_send_the_pair_and_stop_on_a_short_page():
    asked = []

    def handle(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        asked.append(params)
        number, size = int(params["pagenumber"]), int(params["pagesize"])
        rows = [{"id": i} for i in range((number - 1) * size + 1, min(number * size, 7) + 1)]
        return httpx.Response(200, json={"count": len(rows), "totalcount": 7, "status": "Success", "projects": rows})

    api = client(handle)
    api.page_size = 3
    assert [r["id"] for r in api.pages("projects", "projects", {"status": "all"})] == list(range(1, 8))
    assert [(a["pagenumber"], a["pagesize"], a["status"]) for a in asked] == [("1", "3", "all"), ("2", "3", "all"),
                                                                             ("3", "3", "all")]


def test_a_server_that_ignores_paging_is_read_once():
    asked = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        rows = [{"id": i} for i in range(1, 6)]
        return httpx.Response(200, json={"count": 5, "totalcount": 5, "status": "Success", "timerecords": rows})

    api = client(handle)
    api.page_size = 2
    assert len(list(api.pages("time", "timerecords", {}))) == 5 and len(asked) == 1


def test_a_list_answer_without_its_list_names_the_call():
    api = client(answer(200, {"status": "Success", "totals": {"timetracked": 90}}))
    with pytest.raises(ProtocolError) as caught:
        list(api.pages("time", "timerecords", {}, what="list time_entry"))
    assert "ProWorkflow GET /time" in str(caught.value) and "no 'timerecords' list" in str(caught.value)


def test_a_reply_that_spends_the_window_pauses_every_worker():
    paused: list[float] = []
    spent = client(answer(200, {"status": "Success"}, **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}),
                   on_pause=paused.append)
    spent.get("me")
    assert paused == [1.0]
    plenty = client(answer(200, {"status": "Success"}, **{"x-ratelimit-remaining": "40", "x-ratelimit-reset": "9"}),
                    on_pause=paused.append)
    plenty.get("me")
    assert paused == [1.0]
