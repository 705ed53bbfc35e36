"""The HTTP helpers every connector shares: status and transport failures map to the taxonomy."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from hostsync import AuthError, ProtocolError, RateLimited, Transient
from hostsync.http import build_client, check_status, describe_body, json_body, retry_after, transport_errors


def response(status: int, body: bytes = b"", **headers: str) -> httpx.Response:
    return httpx.Response(status, content=body, headers=headers)


@pytest.mark.parametrize("value, expected", [("7", 7.0), ("0.5", 0.5), ("-3", 0.0), ("soon", None), ("", None)])
def test_retry_after_reads_seconds_and_ignores_garbage(value, expected):
    assert retry_after(response(429, **{"Retry-After": value})) == expected


def test_retry_after_reads_an_http_date():
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    assert 100 < retry_after(response(429, **{"Retry-After": later})) <= 120


@pytest.mark.parametrize("status, body, error, applied", [
    (401, b"", AuthError, None), (429, b"", RateLimited, None), (502, b"x", Transient, True),
    (503, b"x", Transient, False), (500, b"", Transient, True)])
def test_statuses_every_vendor_means_alike(status, body, error, applied):
    with pytest.raises(error) as raised:
        check_status(response(status, body, **{"Retry-After": "3"}), "save client", write=True)
    assert str(raised.value).startswith("save client:")
    if applied is not None:
        assert raised.value.may_have_applied is applied
    if error is RateLimited:
        assert raised.value.retry_after == 3.0


def test_other_statuses_are_left_to_the_vendor_client():
    check_status(response(500, b'{"error": "validation"}'), "save client")  # a body: the client reads it
    check_status(response(404, b"{}"), "save client")


def test_unreadable_bodies_are_described_without_their_content():
    html = response(200, b"<!DOCTYPE html><html><body>secret-token-in-page</body></html>", **{"Content-Type": "text/html"})
    with pytest.raises(ProtocolError) as raised:
        json_body(html, "list clients")
    assert str(raised.value) == "list clients: expected JSON, got an HTML page (HTTP 200, 61 bytes)"
    assert "secret" not in str(raised.value)
    assert describe_body(response(200, b'{"trunc', **{"Content-Type": "application/json"})) == \
        "7 bytes of application/json (HTTP 200)"
    assert describe_body(response(502)) == "an empty body (HTTP 502)"


@pytest.mark.parametrize("failure, applied", [
    (httpx.ConnectError("refused"), False), (httpx.ConnectTimeout("slow"), False),
    (httpx.ReadTimeout("stalled"), True), (httpx.RemoteProtocolError("dropped"), True)])
def test_transport_failures_are_transient_and_say_whether_a_write_may_have_applied(failure, applied):
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure

    client = build_client({"http_transport": httpx.MockTransport(fail), "concurrency": 2}, base_url="http://vendor.test")
    with pytest.raises(Transient) as raised, transport_errors("create client", write=True):
        client.post("/api")
    assert raised.value.may_have_applied is applied
    assert str(raised.value).startswith("create client:")
