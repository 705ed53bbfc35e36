"""Reads isolate records: a record whose own read fails fails alone (reported by id, retried next
run), never the listing; a listing page that fails is retried from that page; the cursor never
passes a record that was not read; a record queued for a retry leaves the queue once it reads fine."""

from __future__ import annotations

import pytest

from hostsync import ProtocolError, Transient

from .test_engine_one_way import client


def boom() -> None:
    raise Transient("HTTP 500 from the server")


def unreadable() -> None:
    raise ProtocolError("expected JSON, got an HTML page")


@pytest.fixture
def systems(project, memory):
    # the billing listing comes in pages of 2, and each client is read on its own (as WHMCS does)
    project.system("billing", plugin="memory", vendor="billing", page_size=2, details=True)
    project.system("panel", plugin="memory", vendor="panel")
    project.job("clients", kind="client", source="billing", targets=["panel"])
    return memory.vendor("billing"), memory.vendor("panel")


def emails(vendor) -> list[str]:
    return sorted(r["fields"]["email"] for r in vendor.records("client").values())


def test_a_record_whose_read_fails_fails_alone_and_is_retried_next_run(project, systems):
    billing, panel = systems
    ids = [billing.put("client", client(n)) for n in range(5)]
    billing.fail("get", boom, times=6, record=ids[0])  # its read in the listing, then every retry of its fetch
    result = project.cli("sync", "clients", "--json")
    assert result.exit_code == 1
    counts = result.json()[0]["counts"]
    assert counts["created"] == 4 and counts["failed"] == 1
    assert emails(panel) == [f"c{n}@example.org" for n in (1, 2, 3, 4)]
    run = project.cli("runs", "clients", "--limit", "1", "--json").json()[0]
    failed = _failed_event(project, run["id"])
    assert failed["record_id"] == ids[0] and f"cannot read client {ids[0]} from billing" in failed["reason"]
    with project.state() as state:
        assert state.pending("clients", "billing") == [ids[0]]
    again = project.cli("sync", "clients", "--json")
    assert again.exit_code == 0 and again.json()[0]["counts"]["created"] == 1
    assert emails(panel) == [f"c{n}@example.org" for n in range(5)]
    with project.state() as state:
        assert state.pending("clients", "billing") == []


def test_a_failed_listing_page_is_retried_from_that_page(project, systems):
    billing, panel = systems
    for n in range(6):
        billing.put("client", client(n))
    billing.fail("list", lambda: None)  # page 1 reads fine...
    billing.fail("list", boom, times=2)  # ...page 2 fails twice
    result = project.cli("sync", "clients", "--json")
    assert result.exit_code == 0, result.output
    assert result.json()[0]["counts"]["created"] == 6
    # pages 1, 2 (failed twice, then read), 3 and the empty 4th: never page 1 again
    assert billing.calls["list"] == 6


def test_the_cursor_never_passes_a_record_that_was_not_read(project, systems):
    billing, panel = systems
    ids = [billing.put("client", client(n)) for n in range(4)]
    assert project.cli("sync", "clients").exit_code == 0
    for rid in ids:  # all four change, in this order
        billing.edit("client", rid, city="Hamburg")
    changed_at = {rid: row["updated_at"] for rid, row in billing.records("client").items()}
    billing.fail("get", boom, times=6, record=ids[1])  # the second record's read fails, and its fetches
    assert project.cli("sync", "clients").exit_code == 1
    with project.state() as state:
        cursor = state.cursor("clients", "billing")
    assert cursor is not None and cursor.isoformat() <= changed_at[ids[1]]
    assert cursor.isoformat() < max(changed_at.values())
    again = project.cli("sync", "clients", "--json")
    assert again.exit_code == 0 and again.json()[0]["counts"]["updated"] == 1
    assert {r["fields"]["city"] for r in panel.records("client").values()} == {"Hamburg"}


def test_a_record_queued_for_a_retry_leaves_the_queue_once_it_reads_fine(project, systems):
    billing, panel = systems
    rid = billing.put("client", client(1))
    assert project.cli("sync", "clients").exit_code == 0
    billing.fail("get", boom, times=6, record=rid)  # one run cannot read it (it is unchanged all along)
    assert project.cli("sync", "clients").exit_code == 1
    with project.state() as state:
        assert state.pending("clients", "billing") == [rid]
    result = project.cli("sync", "clients", "--json")
    assert result.exit_code == 0 and result.json()[0]["counts"]["unchanged"] == 1
    with project.state() as state:
        assert state.pending("clients", "billing") == []
    reads = billing.calls["get"]
    project.cli("sync", "clients")
    assert billing.calls["get"] == reads + 1  # its read in the listing only, no retry fetch on top


def _failed_event(project, run_id: int) -> dict:
    with project.state() as state:
        [event] = [e for e in state.events(run_id) if e["outcome"] == "failed"]
        return event


def test_a_record_that_keeps_failing_holds_the_cursor_back_once_then_the_retry_queue_carries_it(project, systems):
    billing, panel = systems
    ids = [billing.put("client", client(n)) for n in range(3)]
    assert project.cli("sync", "clients").exit_code == 0
    for rid in ids:
        billing.edit("client", rid, city="Hamburg")
    newest = max(row["updated_at"] for row in billing.records("client").values())
    billing.fail("get", unreadable, times=100, record=ids[0])
    for _ in range(2):
        assert project.cli("sync", "clients").exit_code == 1
    with project.state() as state:
        assert state.cursor("clients", "billing").isoformat() == newest
        assert state.pending("clients", "billing") == [ids[0]]
