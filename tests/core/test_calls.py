"""The per-system gate: a pause a vendor asks for holds every later call to that system; credentials
are proven by one call before others go; a write the vendor may have acted on is unknown."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from hostsync import AuthError, Rejected, Transient
from hostsync.engine.calls import Caller, Gate
from hostsync.http import build_client
from hostsync.sandbox import Fault

from .test_http import Echo


def test_a_pause_holds_the_next_call_to_that_system_only():
    gates = {"slow": Gate(4, None), "other": Gate(4, None)}
    waits: list[tuple[str, float]] = []
    current = {"system": ""}
    caller = Caller(gates, threading.Event(), sleep=lambda s: waits.append((current["system"], s)))
    gates["slow"].pause(30)
    for system in ("other", "slow"):
        current["system"] = system
        assert caller.call(system, lambda: system) == system
    assert [system for system, _ in waits] == ["slow"]
    assert 29 < waits[0][1] <= 30


def test_the_longest_pause_wins_and_a_connector_reaches_it_through_its_pacer():
    from hostsync.connector import Connector

    gate = Gate(1, None)
    connector = Connector("acme", {})
    connector.pacer = gate.pause
    connector.pause(10)
    connector.pause(2)
    assert 9 < gate.pause_left() <= 10


# -- credentials are proven once per system ------------------------------------------------------

def parallel(n: int, function) -> list:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(function, range(n)))


def outcome(call):
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - what each call ended with
        return type(exc).__name__


def test_until_a_call_is_accepted_one_at_a_time_and_the_first_refusal_holds_the_system():
    gate = Gate(16, None)
    caller = Caller({"vendor": gate}, threading.Event())
    sent = []

    def refused():
        sent.append(1)
        threading.Event().wait(0.05)  # a login takes a while: time for the others to pile up behind it
        raise AuthError("login refused")

    results = parallel(16, lambda _: outcome(lambda: caller.call("vendor", refused)))
    assert len(sent) == 1 and sorted(results) == ["AuthError"] + ["SystemHeld"] * 15
    assert gate.held == "login refused" and not gate.proven


@pytest.mark.parametrize("first", ["accepted", "rejected"])
def test_once_accepted_calls_run_in_parallel(first):
    gate = Gate(4, None)
    caller = Caller({"vendor": gate}, threading.Event())

    def proof():
        if first == "rejected":
            raise Rejected("postcode is invalid")  # refused for what it is: the login was accepted

    outcome(lambda: caller.call("vendor", proof))
    assert gate.proven
    together = threading.Barrier(4, timeout=10)  # breaks unless all four are in flight at once
    assert parallel(4, lambda _: caller.call("vendor", together.wait)) is not None


def test_a_request_inside_a_call_does_not_wait_for_the_gate_again():
    gate = Gate(1, None)
    caller = Caller({"vendor": gate}, threading.Event())
    inner = lambda: caller.request("vendor", lambda: "page")  # noqa: E731 - a connector paging inside get()
    assert caller.call("vendor", inner) == "page"


def test_each_request_of_a_call_beyond_its_first_waits_for_the_rate_limit_and_a_pause():
    """The rate limit counts requests: an update that reads first is two, a page fetched inside a
    find is one more; a pause the first reply asks for holds the call's next request too."""
    from hostsync.config import parse_rate

    waits: list[float] = []
    gate = Gate(1, parse_rate("1/s"))
    caller = Caller({"vendor": gate}, threading.Event(), sleep=waits.append)
    client = build_client({"http_transport": httpx.MockTransport(lambda request: httpx.Response(200, json={}))})

    def update() -> None:  # reads, then writes
        client.get("http://vendor.test/record")
        client.put("http://vendor.test/record")

    caller.call("vendor", update)
    assert len(waits) == 1 and 0.9 < waits[0] <= 1.0  # the write waited for its own token; the read had the call's
    waits.clear()

    def paused_after_reading() -> None:
        client.get("http://vendor.test/record")
        gate.pause(30)  # as Connector.pause does on "X-RateLimit-Remaining: 0"
        client.put("http://vendor.test/record")

    caller.call("vendor", paused_after_reading)
    assert any(29 < w <= 30 for w in waits[1:])  # the write waited for the pause (the first wait: the call's turn)


def test_a_listed_records_failed_read_is_a_stub_in_a_listing_but_fails_a_find_that_scans(memory):
    """One record's read failing must not fail a listing (it becomes a stub fetched alone), but a
    find that scans the listing must not miss it either: there the failure is the find's, retried."""
    import functools

    from hostsync.memory_vendor import MemoryConnector

    vendor = memory.vendor("scan")
    first = vendor.put("client", {"email": "ann@example.org", "status": "active"})
    vendor.put("client", {"email": "bo@example.org", "status": "active"})
    caller = Caller({"scan": Gate(2, None)}, threading.Event(), sleep=lambda seconds: None)

    class Scanning(MemoryConnector):
        def find(self, kind, key):  # as the WHMCS and Blesta origin indexes read every record
            return [r for r in self.list(kind) if r.fields.get("email") == key["email"]]

    connector = Scanning("scan", {"vendor": "scan", "password": "right", "details": True})
    connector.requester = functools.partial(caller.request, "scan")

    def fails() -> None:
        raise Transient("details: HTTP 500")

    vendor.fail("get", fails, record=first)
    listed = {r.id: r.partial for r in connector.list("client")}
    assert listed == {first: True, "2": False}

    vendor.fail("get", fails, record=first)
    with pytest.raises(Transient):
        caller.call("scan", connector.find, "client", {"email": "ann@example.org"}, retry=False)
    found = caller.call("scan", connector.find, "client", {"email": "ann@example.org"})
    assert [r.id for r in found] == [first]


# -- a write whose reply the vendor may have acted on is unknown -----------------------------------

@pytest.mark.parametrize("status, body, unknown", [
    (500, '{"result": "error", "message": "Internal error"}', True), (502, "<html>bad gateway</html>", True),
    (503, "maintenance", False)])
def test_a_failed_write_after_a_5xx_is_unknown_whatever_the_plugin_said(status, body, unknown):
    with Echo() as vendor:
        vendor.inject(Fault("applied_error", status=status, body=body))
        http = build_client({}, base_url=vendor.url)

        def create():  # a plugin that reads the error body and calls it a plain failure
            response = http.post("/api")
            raise Transient(f"HTTP {response.status_code}: {response.text}", may_have_applied=False)

        caller = Caller({"vendor": Gate(1, None)}, threading.Event())
        with pytest.raises(Transient) as raised:
            caller.call("vendor", create, write=True, retry_applied=False, retry=False)
    assert raised.value.may_have_applied is unknown and vendor.applied == 1


def test_a_refusal_proves_nothing_was_applied_even_after_a_5xx():
    with Echo() as vendor:
        vendor.inject(Fault("error", status=500, body="<fault>invalid_data</fault>"))
        http = build_client({}, base_url=vendor.url)

        def create():  # a SOAP fault: the vendor's validation refused it
            http.post("/api")
            raise Rejected("invalid_data")

        with pytest.raises(Rejected):
            Caller({"vendor": Gate(1, None)}, threading.Event()).call("vendor", create, write=True)


def test_changed_credentials_are_proven_again_by_a_gate_kept_across_runs(project, memory):
    """The daemon keeps its gates across runs and reloads: a new password gets one call first."""
    from hostsync.config import load_config
    from hostsync.engine import Runtime, make_gates
    from hostsync.plugins import load_plugins

    from ..conftest import PLUGINS_DIR

    project.system("panel", plugin="memory", vendor="panel")
    plugins = load_plugins(PLUGINS_DIR)
    gates = make_gates(load_config(project.write(), plugins))
    with Runtime(load_config(project.config_path, plugins), plugins, gates=gates) as rt:
        rt.caller.call("panel", rt.connector("panel").check)
    assert gates["panel"].proven
    project.system("panel", plugin="memory", vendor="panel", password="changed")
    with Runtime(load_config(project.write(), plugins), plugins, gates=gates):
        assert not gates["panel"].proven
