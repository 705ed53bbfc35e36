"""The wire client over real loopback HTTP: envelopes, every error mapping, paging, auth, and no secret leaks."""

from __future__ import annotations

import base64
import logging
import socket
from typing import Any, Iterator

import pytest

from hostsync.errors import AuthError, ConnectorError, ProtocolError, RateLimited, Rejected, Transient
from hostsync.sandbox import Fault
from hostsync_blesta.client import BlestaClient
from hostsync_blesta.sandbox import BlestaSandbox


@pytest.fixture
def client(sandbox: BlestaSandbox) -> Iterator[BlestaClient]:
    api = BlestaClient({**sandbox.systems()["blesta"], "timeout": 2.0})
    yield api
    api.close()


@pytest.fixture(autouse=True)
def debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="hostsync")


def secrets_of(box: BlestaSandbox) -> list[str]:
    basic = base64.b64encode(f"{box.USER}:{box.KEY}".encode()).decode()
    return [box.KEY, basic]


def assert_no_secret(box: BlestaSandbox, *texts: str) -> None:
    for text in texts:
        for secret in secrets_of(box):
            assert secret not in text


def error_of(call: Any, *args: Any, **kwargs: Any) -> ConnectorError:
    with pytest.raises(ConnectorError) as caught:
        call(*args, **kwargs)
    return caught.value


def json_fault(status: int, body: str, match: str = "clients/getListCount") -> Fault:
    return Fault("error", match=match, status=status, body=body, content_type="application/json")


def test_answers_are_the_response_member(client: BlestaClient, sandbox: BlestaSandbox) -> None:
    assert client.get("clients", "getListCount") == len(sandbox.blesta.t["clients"])
    row = client.get("clients", "get", {"client_id": 1, "get_settings": False})
    assert row["id"] == "1" and "settings" not in row


def test_validation_errors_are_rejected_with_the_field_messages(client: BlestaClient) -> None:
    error = error_of(client.post, "clients", "create", {"vars": {"username": "x", "email": "bad"}},
                     context="create client x")
    assert type(error) is Rejected
    assert error.fields["email"] == "Please enter a valid email address."
    assert "create client x: Blesta clients/create: refused:" in str(error)


def test_a_wrong_key_is_an_auth_error_that_does_not_show_the_key(sandbox: BlestaSandbox,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    api = BlestaClient({**sandbox.systems()["blesta"], "key": "not-the-key-4711", "timeout": 2.0})
    error = error_of(api.get, "clients", "getListCount")
    assert type(error) is AuthError and "401" in str(error)
    assert "not-the-key-4711" not in str(error) and "not-the-key-4711" not in caplog.text
    api.close()


def test_header_authentication(sandbox: BlestaSandbox) -> None:
    api = BlestaClient({**sandbox.systems()["blesta"], "auth": "header", "timeout": 2.0})
    assert api.get("clients", "getListCount") > 0
    sandbox.header_auth = False  # an older Blesta ignores the headers
    assert type(error_of(api.get, "clients", "getListCount")) is AuthError
    api.close()


@pytest.mark.parametrize("status, body, kind, words", [
    (403, '{"message":"The requested resource is not accessible."}', AuthError, "not accessible"),
    (415, '{"message":"The format requested is not supported by the server."}', ProtocolError, "415"),
    (500, '{"message":"An unexpected error occurred.","response":"Internal error: Failed to retrieve the default '
          'value"}', ProtocolError, "must send it"),
    (500, '{"message":"An unexpected error occurred."}', Transient, "HTTP 500"),
    (503, '{"message":"The requested resource is currently unavailable due to maintenance."}', Transient, "503"),
    (502, "", Transient, "502"),
    (500, "", Transient, "500"),
    (418, '{"message":"teapot"}', ProtocolError, "unexpected answer"),
    (302, "", ProtocolError, "redirected"),
    (200, "<!DOCTYPE html><html><body>Login</body></html>", ProtocolError, "HTML page"),
    (200, '{"response": [{"id": "1", "na', ProtocolError, "expected JSON"),
    (200, '{"result": "ok"}', ProtocolError, "'response'"),
    (200, '["not", "an", "envelope"]', ProtocolError, "'response'"),
])
def test_failures_are_typed(client: BlestaClient, sandbox: BlestaSandbox, caplog: pytest.LogCaptureFixture,
                            status: int, body: str, kind: type, words: str) -> None:
    sandbox.inject(json_fault(status, body))
    error = error_of(client.get, "clients", "getListCount", context="check")
    assert type(error) is kind
    assert words in str(error) and "clients/getListCount" in str(error)
    assert_no_secret(sandbox, str(error), caplog.text)
    if isinstance(error, Transient):
        assert error.may_have_applied is False  # a read


def test_unknown_methods_are_a_clear_protocol_error(client: BlestaClient) -> None:
    error = error_of(client.get, "support_manager.support_manager_nope", "getList", {"status": ""})
    assert type(error) is ProtocolError and "no such model or method" in str(error)


def test_a_500_on_a_write_may_have_applied(client: BlestaClient, sandbox: BlestaSandbox) -> None:
    sandbox.inject(json_fault(500, '{"message":"An unexpected error occurred."}', match="clients/edit"))
    error = error_of(client.put, "clients", "edit", {"client_id": 1, "vars": {"status": "active"}})
    assert type(error) is Transient and error.may_have_applied is True


def test_rate_limits_carry_retry_after(client: BlestaClient, sandbox: BlestaSandbox) -> None:
    sandbox.inject(Fault("rate_limit", match="clients/getListCount", retry_after=7))
    error = error_of(client.get, "clients", "getListCount")
    assert type(error) is RateLimited and error.retry_after == 7


def test_a_lost_reply_on_a_write_may_have_applied_and_did(client: BlestaClient, sandbox: BlestaSandbox) -> None:
    sandbox.inject(Fault("lost_reply", match="clients/edit"))
    error = error_of(client.put, "clients", "edit", {"client_id": 1, "vars": {"status": "inactive"}})
    assert type(error) is Transient and error.may_have_applied is True
    assert sandbox.blesta.t["clients"][1]["status"] == "inactive"


def test_a_lost_reply_on_a_read_did_not_apply_anything(client: BlestaClient, sandbox: BlestaSandbox) -> None:
    sandbox.inject(Fault("lost_reply", match="clients/get"))
    error = error_of(client.get, "clients", "get", {"client_id": 1, "get_settings": False})
    assert type(error) is Transient and error.may_have_applied is False


def test_timeouts_are_transient(sandbox: BlestaSandbox) -> None:
    api = BlestaClient({**sandbox.systems()["blesta"], "timeout": 0.3})
    sandbox.inject(Fault("timeout", match="clients/edit", delay=1.0))
    error = error_of(api.put, "clients", "edit", {"client_id": 1, "vars": {"status": "active"}})
    assert type(error) is Transient and error.may_have_applied is True and "no answer in time" in str(error)
    api.close()


def test_nothing_listening_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = BlestaClient({"url": f"http://127.0.0.1:{port}", "user": "u", "key": "k", "timeout": 1.0})
    error = error_of(api.get, "clients", "getListCount")
    assert type(error) is Transient and "cannot connect" in str(error)
    api.close()


def test_bad_form_values_are_rejected_before_sending(client: BlestaClient, sandbox: BlestaSandbox) -> None:
    before = sum(sandbox.calls.values())
    error = error_of(client.put, "clients", "edit", {"client_id": 1, "vars": {"a[b]": 1}})
    assert type(error) is Rejected and sum(sandbox.calls.values()) == before


# -- paging -----------------------------------------------------------------------------------

def add_invoices(box: BlestaSandbox, n: int) -> None:
    for i in range(n):
        box.blesta.invoices_add({"client_id": "1", "date_billed": "2025-02-01Z", "date_due": "2025-02-10Z",
                                 "currency": "USD", "lines": [{"description": f"extra {i}", "amount": "1"}]})


@pytest.mark.parametrize("page_size", [20, 7])
def test_pages_run_to_the_end_whatever_the_page_size(client: BlestaClient, sandbox: BlestaSandbox,
                                                     page_size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    add_invoices(sandbox, 45)
    monkeypatch.setattr(sandbox, "page_size", page_size)  # the sandbox is the session's
    total = len(sandbox.blesta.t["invoices"])
    sandbox.reset_calls()
    rows = list(client.pages("invoices", "getList", {"status": "all", "order_by": {"id": "ASC"}},
                             count={"status": "all"}))
    assert sorted(int(r["id"]) for r in rows) == sorted(sandbox.blesta.t["invoices"])
    pages = -(-total // page_size)
    assert sandbox.calls["invoices/getList"] == pages  # the count ends the loop: no extra empty page
    assert sandbox.calls["invoices/getListCount"] == 1


def test_pages_without_a_count_stop_on_a_short_page(client: BlestaClient, sandbox: BlestaSandbox) -> None:
    add_invoices(sandbox, 25)
    total = len(sandbox.blesta.t["invoices"])
    assert total % 20
    rows = list(client.pages("invoices", "getList", {"status": "all", "order_by": {"id": "ASC"}}))
    assert len(rows) == total and sandbox.calls["invoices/getList"] == -(-total // 20)


@pytest.mark.parametrize("mode", ["[]", "false", "null"])
def test_empty_lists_in_every_form_end_paging(client: BlestaClient, sandbox: BlestaSandbox, mode: str) -> None:
    sandbox.blesta.config["empty_list"] = mode
    assert list(client.pages("invoices", "getList", {"status": "void", "client_id": 999})) == []
    add_invoices(sandbox, 20 - len(sandbox.blesta.t["invoices"]) % 20)  # a multiple of the page size
    rows = list(client.pages("invoices", "getList", {"status": "all", "order_by": {"id": "ASC"}}))
    assert len(rows) == len(sandbox.blesta.t["invoices"])


def test_a_server_that_ignores_page_is_caught(client: BlestaClient, sandbox: BlestaSandbox,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    add_invoices(sandbox, 30)
    original = sandbox.blesta.page
    monkeypatch.setattr(sandbox.blesta, "page", lambda rows, page: original(rows, 1))
    with pytest.raises(ProtocolError, match="same rows again"):
        list(client.pages("invoices", "getList", {"status": "all", "order_by": {"id": "ASC"}}))


def test_debug_logs_name_calls_but_no_values(client: BlestaClient, sandbox: BlestaSandbox,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="hostsync.vendor")  # the core's line of each request (-vv)
    client.post("clients", "create", {"vars": {
        "username": "logcheck@example.com", "new_password": "Pa55-secret-word", "confirm_password": "Pa55-secret-word",
        "client_group_id": 1, "first_name": "Log", "last_name": "Check", "email": "logcheck@example.com"}})
    assert "clients/create.json" in caplog.text
    assert "Pa55-secret-word" not in caplog.text and "logcheck@example.com" not in caplog.text
    assert_no_secret(sandbox, caplog.text)


def test_the_core_options_reach_the_http_client() -> None:
    """``http_transport`` (tests) and ``concurrency`` (the pool) come from the options, as the core gives them."""
    import httpx

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"response": 3})

    api = BlestaClient({"url": "https://billing.example.com/", "user": "u", "key": "k", "concurrency": 7,
                        "http_transport": httpx.MockTransport(answer)})
    try:
        assert api.get("clients", "getListCount", {"filters": {"company_id": 1}}) == 3
    finally:
        api.close()
    assert [str(r.url) for r in seen] == [
        "https://billing.example.com/api/clients/getListCount.json?filters%5Bcompany_id%5D=1"]
    sized = BlestaClient({"url": "https://billing.example.com", "user": "u", "key": "k", "concurrency": 7})
    try:  # httpcore's pool: keep-alive connections = concurrency
        assert sized.http._transport.inner._pool._max_keepalive_connections == 7  # inside the core's guard
    finally:
        sized.close()
