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


# -- a listing's per-record reads run in parallel, in order, a chunk ahead --------------------------

def test_records_read_one_by_one_are_read_in_parallel_on_the_sources_concurrency(project, memory):
    """Each client's own read (``Connector.detail``, declared by ``Cost.details``) runs in the
    source's workers: four reads wait for each other here, which read one at a time never could."""
    import threading

    project.system("billing", plugin="memory", vendor="billing", page_size=5, details=True, concurrency=4)
    project.system("panel", plugin="memory", vendor="panel", concurrency=1)
    project.job("clients", kind="client", source="billing", targets=["panel"])
    billing, panel = memory.vendor("billing"), memory.vendor("panel")
    ids = [billing.put("client", client(n)) for n in range(12)]
    together = threading.Barrier(4, timeout=10)  # the first four reads meet (read one by one: broken)
    read = billing.get

    def get(kind, rid, password):
        if int(rid) <= 4:
            together.wait()
        return read(kind, rid, password)

    billing.get = get
    result = project.cli("sync", "clients", "--json")
    assert result.exit_code == 0, result.output
    assert result.json()[0]["counts"]["created"] == 12 and billing.calls["get"] == 12
    made = [panel.records("client")[str(i)]["fields"]["email"] for i in sorted(map(int, panel.records("client")))]
    assert made == [billing.records("client")[i]["fields"]["email"] for i in ids]  # in the order listed


def test_the_listing_runs_at_most_one_chunk_ahead_of_what_is_planned(project, memory):
    """Memory holds two chunks, whatever the size of the source: the listing waits for the reads."""
    from hostsync.config import load_config
    from hostsync.engine import Runtime
    from hostsync.engine.context import RunContext
    from hostsync.engine.read import CHUNK, Reader
    from hostsync.plugins import load_plugins

    from ..conftest import PLUGINS_DIR

    project.system("billing", plugin="memory", vendor="billing", page_size=100, details=True)
    project.system("panel", plugin="memory", vendor="panel")
    project.job("clients", kind="client", source="billing", targets=["panel"])
    billing = memory.vendor("billing")
    for n in range(3 * CHUNK + 200):
        billing.put("client", client(n))
    listed = [0]
    pages = billing.list

    def page(kind, since, password, start=0, size=None):
        rows = pages(kind, since, password, start, size)
        listed[0] = start + len(rows)
        return rows

    billing.list = page
    project.write()
    plugins = load_plugins(PLUGINS_DIR)
    config = load_config(project.config_path, plugins)
    with Runtime(config, plugins) as rt:
        reader = Reader(RunContext(rt, config.jobs["clients"]), report=lambda outcome: None)
        order = []
        for number, chunk in enumerate(reader.chunks("billing", ["panel"])):
            assert listed[0] <= (number + 2) * CHUNK + 100, (number, listed[0])
            order.extend(int(r.id) for r in chunk)
    assert order == list(range(1, 3 * CHUNK + 201))
