"""The WebWork wire client: envelope, errors, paging and the rate limit, against scripted answers
(``httpx.MockTransport``) for what the sandbox does not do on its own, and against the sandbox."""

from __future__ import annotations

import functools
import json
import threading
from typing import Any, Callable

import httpx
import pytest

from hostsync.engine.calls import Caller, Gate
from hostsync.errors import AuthError, NotFound, ProtocolError, RateLimited, Rejected, Transient
from hostsync.redact import register_secret
from hostsync_webwork.client import WebWorkClient
from hostsync_webwork.sandbox import WebWorkSandbox

TOKEN = "secret-token-5c1b"
META = {"api_version": "2.0.0", "timestamp": "2026-01-29T12:00:00Z"}


def client(handler: Callable[[httpx.Request], httpx.Response], paused: list[float] | None = None,
           fetch: Callable[..., Any] | None = None, **options: Any) -> WebWorkClient:
    opts = {"url": "https://api.example.test/api/v2", "token": TOKEN, "workspace_id": 7, "timeout": 1.0,
            "http_transport": httpx.MockTransport(handler), "request_limit": "6000/min", **options}
    return WebWorkClient(opts, on_pause=None if paused is None else paused.append, fetch=fetch)


def core_fetch() -> Callable[..., Any]:
    """A ``fetch`` through a gate of the core, as in a run (retries without waiting)."""
    caller = Caller({"webwork": Gate(2, None)}, threading.Event(), sleep=lambda seconds: None)
    return functools.partial(caller.request, "webwork")


def envelope(data: Any, status: int = 200, headers: dict[str, str] | None = None, **extra: Any) -> httpx.Response:
    return httpx.Response(status, json={"success": True, "data": data, "meta": META, **extra}, headers=headers)


def test_bearer_token_and_workspace_in_the_query_or_the_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return envelope({"id": 5})

    api = client(handler)
    api.call("GET", "projects/5")
    api.call("POST", "tasks", body={"title": "x"}, workspace="body")
    api.call("GET", "workspaces", workspace=None)
    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert str(seen[0].url) == "https://api.example.test/api/v2/projects/5?workspace_id=7"
    assert json.loads(seen[1].content) == {"workspace_id": 7, "title": "x"} and seen[1].url.query == b""
    assert seen[2].url.query == b""


@pytest.mark.parametrize(("status", "body", "error", "text"), [
    (401, {"success": False, "message": "Unauthenticated."}, AuthError, "token was refused"),
    (403, {"success": False, "message": "Access is restricted."}, AuthError, "owner or executive manager"),
    (404, {"success": False, "message": "Task not found."}, NotFound, "Task not found."),
    (422, {"success": False, "message": "The given data was invalid.",
           "errors": {"deadline": ["The deadline must be a date after or equal to start date."]}}, Rejected,
     "deadline: The deadline must be a date after or equal to start date."),
    (400, {"success": False, "message": "Bad JSON"}, Rejected, "Bad JSON"),
    (500, {"success": False, "message": "Server Error"}, Transient, "HTTP 500"),
    (200, {"success": False, "message": "Project limit reached", "data": None}, Rejected, "Project limit reached"),
    (200, {"data": []}, ProtocolError, "envelope"),
    (200, ["not", "an", "object"], ProtocolError, "envelope"),
])
def test_answers_map_to_the_error_taxonomy(status: int, body: Any, error: type, text: str) -> None:
    api = client(lambda request: httpx.Response(status, json=body))
    with pytest.raises(error) as raised:
        api.call("PUT", "tasks/3", body={"title": "x"}, what="update task 3")
    message = str(raised.value)
    assert text in message and "update task 3: WebWork PUT /tasks/3" in message and TOKEN not in message
    if status == 422:
        assert raised.value.fields == {"deadline": "The deadline must be a date after or equal to start date."}
    if status == 500:
        assert raised.value.may_have_applied


@pytest.mark.parametrize("status", [401, 422])
def test_an_echoed_token_is_masked_before_the_message_is_cut(status: int) -> None:
    """The configured token is registered when the config loads (as here). WebWork's message is cut
    at 200 characters and a field's at 500, each only once the token in it is masked: no part of
    the token shows (masked after the cut, its first characters would)."""
    register_secret(TOKEN)
    echo = f"Authorization: Bearer {TOKEN}"
    message = "m" * (200 - len(echo) + len(TOKEN) - 6) + echo  # the cut falls 6 characters into the token
    field = "f" * (500 - len(echo) + len(TOKEN) - 6) + echo
    api = client(lambda request: httpx.Response(status, json={"success": False, "message": message,
                                                              "errors": {"name": [field]}}))
    with pytest.raises((AuthError, Rejected)) as raised:
        api.call("POST", "projects", body={"name": "x"})
    shown = [str(raised.value), *getattr(raised.value, "fields", {}).values()]
    assert not any(TOKEN[:6] in text for text in shown) and any("Bearer ***" in text for text in shown)


def test_an_html_page_or_a_read_timeout_say_what_happened() -> None:
    html = client(lambda request: httpx.Response(200, text="<!DOCTYPE html><html>login</html>",
                                                 headers={"Content-Type": "text/html"}))
    with pytest.raises(ProtocolError, match="HTML page"):
        html.get("projects")

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(Transient) as lost:
        client(slow).call("POST", "projects", body={"name": "x"})
    assert lost.value.may_have_applied
    with pytest.raises(Transient) as read:
        client(slow).get("projects")
    assert not read.value.may_have_applied


def test_paging_follows_last_page_or_a_short_page() -> None:
    asked: list[int] = []

    def paged(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        asked.append(int(request.url.params["per_page"]))
        rows = [{"id": n} for n in range((page - 1) * 100, min(page * 100, 230))]
        return envelope(rows, meta={**META, "pagination": {"current_page": page, "per_page": 100, "total": 230,
                                                           "last_page": 3}})

    assert len(list(client(paged).pages("projects"))) == 230 and asked == [100, 100, 100]

    def bare(request: httpx.Request) -> httpx.Response:  # no pagination meta, as the reference's examples
        page = int(request.url.params["page"])
        return envelope([{"id": n} for n in range((page - 1) * 100, min(page * 100, 150))])

    assert len(list(client(bare).pages("tasks"))) == 150

    def repeated(request: httpx.Request) -> httpx.Response:  # a row shifted onto the next page
        page = int(request.url.params["page"])
        rows = [{"id": n} for n in range(100)] if page == 1 else [{"id": 99}, {"id": 100}]
        return envelope(rows, meta={**META, "pagination": {"last_page": 2}})

    assert [row["id"] for row in client(repeated).pages("tasks")][-2:] == [99, 100]

    with pytest.raises(ProtocolError, match="expected a list of objects"):
        list(client(lambda request: envelope({"rows": []})).pages("tasks"))


def test_a_spent_budget_on_a_good_reply_pauses_every_call() -> None:
    paused: list[float] = []
    gate = Gate(2, None)
    api = WebWorkClient({"url": "https://api.example.test/api/v2", "token": TOKEN, "workspace_id": 7,
                         "http_transport": httpx.MockTransport(lambda request: envelope([], headers={
                             "X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0", "Retry-After": "7"}))},
                        on_pause=lambda seconds: (paused.append(seconds), gate.pause(seconds)))
    api.get("members")
    assert paused == [7.0] and 6 < gate.pause_left() <= 7  # the core's gate holds every worker
    quiet: list[float] = []
    client(lambda request: envelope([], headers={"X-RateLimit-Remaining": "12"}), quiet).get("members")
    assert quiet == []


def test_a_429_is_rate_limited_with_retry_after_and_a_list_page_is_asked_again() -> None:
    answers = iter([httpx.Response(429, json={"success": False, "message": "Too Many Attempts."},
                                   headers={"Retry-After": "0"}),
                    envelope([{"id": 1}], meta={**META, "pagination": {"last_page": 1}})])
    paused: list[float] = []
    api = client(lambda request: next(answers), paused, fetch=core_fetch())  # in a run: the core asks for the page again
    assert [row["id"] for row in api.pages("members")] == [1] and paused == [0.0]
    refused = client(lambda request: httpx.Response(429, json={}, headers={"Retry-After": "12"}))
    with pytest.raises(RateLimited) as raised:
        refused.call("POST", "projects", body={"name": "x"})
    assert raised.value.retry_after == 12.0


def test_against_the_sandbox_a_bad_token_and_a_foreign_workspace_are_auth_errors(workspace: WebWorkSandbox) -> None:
    base = {**workspace.systems()["webwork"], "timeout": 2.0}
    with pytest.raises(AuthError, match="401"):
        WebWorkClient({**base, "token": "expired"}).get("projects")
    with pytest.raises(AuthError, match="403.*workspace 5150"):
        WebWorkClient({**base, "workspace_id": 5150}).get("projects")
