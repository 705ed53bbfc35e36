"""The per-system gate: a pause a vendor asks for holds every later call to that system."""

from __future__ import annotations

import threading

from hostsync.engine.calls import Caller, Gate


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
