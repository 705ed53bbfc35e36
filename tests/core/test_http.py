"""The HTTP helpers every connector shares: status and transport failures map to the taxonomy; every
request keeps its deadline and reply size limit and notes whether the vendor may have acted on it."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from hostsync import AuthError, ProtocolError, RateLimited, Transient
from hostsync.http import (DeadlineExceeded, ReplyTooLarge, build_client, check_status, describe_body, exchanges,
                           json_body, retry_after, transport_errors)
from hostsync.sandbox import Fault, Response, Sandbox


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


# -- the deadline, the reply size, and what became of each request --------------------------------

class Echo(Sandbox):
    """A vendor that answers every call with a small JSON object and counts what it applied."""

    name = "echo"

    def reset(self) -> None:
        self.applied = 0

    def handle(self, request):
        self.applied += 1
        return Response.json({"result": "success", "n": self.applied})


@pytest.fixture
def echo():
    with Echo() as box:
        yield box


def client_for(box: Sandbox, **options) -> httpx.Client:
    return build_client({"timeout": 1.0, "deadline": 1.5, **options}, base_url=box.url)


def test_a_reply_dripped_byte_by_byte_trips_the_deadline_not_the_idle_timeout(echo):
    echo.inject(Fault("drip", delay=0.05))  # ~200 bytes: 10 s, each byte well inside the 1 s idle timeout
    client = client_for(echo)
    with exchanges() as seen, pytest.raises(Transient, match="deadline") as raised, \
            transport_errors("create client", write=True):
        client.post("/api")  # without the deadline the whole reply arrives, after 10 s
    assert raised.value.may_have_applied is True
    assert seen[0].status is None  # stopped while the head was still dripping in, not after it


def test_a_reply_longer_than_the_limit_is_refused_while_it_streams(echo):
    echo.inject(Fault("oversized", size=1 << 40))  # a terabyte: only refusing it early ends this test
    client = client_for(echo, max_reply_size=1 << 20)
    with pytest.raises(ProtocolError, match="max_reply_size"), transport_errors("list clients"):
        client.get("/api")
    assert client.get("/api").json()["result"] == "success"  # the client is still usable


def test_a_declared_length_over_the_limit_is_refused_before_reading():
    sent = []

    def big(request: httpx.Request) -> httpx.Response:
        def body():
            sent.append(1)
            yield b"x" * 10
        return httpx.Response(200, headers={"Content-Length": str(5 << 20)}, stream=_Stream(body()))

    client = build_client({"http_transport": httpx.MockTransport(big), "max_reply_size": 1 << 20})
    with pytest.raises(ReplyTooLarge, match="5.0 MiB, more than max_reply_size \\(1.0 MiB\\)"):
        client.get("http://vendor.test/")
    assert sent == []


class _Stream(httpx.SyncByteStream):
    def __init__(self, chunks):
        self.chunks = chunks

    def __iter__(self):
        yield from self.chunks


def test_a_deadline_also_bounds_a_test_transport():
    def slow(request: httpx.Request) -> httpx.Response:
        def body():
            for _ in range(100):
                time.sleep(0.05)
                yield b"x"
        return httpx.Response(200, stream=_Stream(body()))

    client = build_client({"http_transport": httpx.MockTransport(slow), "timeout": 0.2, "deadline": 0.3})
    with pytest.raises(DeadlineExceeded):
        client.get("http://vendor.test/")


@pytest.mark.parametrize("fault, unsure", [
    (None, None), (Fault("error", status=503), None), (Fault("error", status=429), None),
    (Fault("error", status=500, body='{"result":"error"}'), "HTTP 500"),
    (Fault("applied_error", status=502, body="<html>bad gateway</html>"), "HTTP 502"),
    (Fault("lost_reply"), "no reply")])
def test_each_exchange_says_whether_the_vendor_may_have_acted_on_it(echo, fault, unsure):
    if fault:
        echo.inject(fault)
    client = client_for(echo)
    with exchanges() as seen:
        try:
            client.post("/api")
        except httpx.TransportError:
            pass
    assert [e.unsure for e in seen] == [unsure]


def test_a_request_that_never_left_is_sure():
    client = build_client({"timeout": 0.5}, base_url="http://127.0.0.1:9")  # nothing listens on port 9
    with exchanges() as seen, pytest.raises(httpx.ConnectError):
        client.post("/api")
    assert len(seen) == 1 and seen[0].unsure is None


@pytest.mark.parametrize("cookies, sent_back", [(False, [None, None]), (True, [None, "session=42"])])
def test_a_cookie_a_reply_sets_is_sent_back_only_by_a_client_that_asked_for_cookies(cookies, sent_back):
    seen = []

    def vendor(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Cookie"))
        return httpx.Response(200, headers={"Set-Cookie": "session=42; Path=/"}, content=b"{}")

    client = build_client({"http_transport": httpx.MockTransport(vendor)}, base_url="http://vendor.test",
                          cookies=cookies)
    client.get("/a")
    client.get("/b")
    assert seen == sent_back


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def test_a_request_through_a_proxy_from_the_environment_keeps_the_guard(echo, monkeypatch):
    """HTTP_PROXY sends requests through a transport httpx would build itself: it is guarded too (the
    echo sandbox stands in for the proxy, answering whatever it is asked to forward)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", echo.url)
    client = build_client({"timeout": 1.0, "deadline": 1.5}, base_url="http://vendor.invalid")
    with exchanges() as seen:
        assert client.post("/api").json()["result"] == "success"  # vendor.invalid exists only behind the proxy
    assert echo.applied == 1 and [(e.sent, e.status) for e in seen] == [(True, 200)]
    echo.inject(Fault("drip", delay=0.05))
    with pytest.raises(Transient, match="deadline"), transport_errors("create client", write=True):
        client.post("/api")
    echo.inject(Fault("oversized", size=1 << 40))
    with pytest.raises(ProtocolError, match="max_reply_size"), transport_errors("list clients"):
        build_client({"max_reply_size": 1 << 20}, base_url="http://vendor.invalid").get("/api")


@pytest.mark.parametrize("no_proxy", ["vendor.example", ""])
def test_no_proxy_hosts_and_loopback_are_reached_directly(echo, monkeypatch, no_proxy):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://192.0.2.1:9")  # TEST-NET: no proxy there
    monkeypatch.setenv("NO_PROXY", no_proxy)
    assert client_for(echo).post("/api").json()["result"] == "success"  # the sandbox, on 127.0.0.1
