"""The real thing: ``hostsync sync`` in a subprocess against slow vendors, SIGKILLed mid-run at many
points, then run again: no duplicate anywhere and nothing missing. The runs alternate between
syncing every job (clients, then invoices) and syncing only the invoices, which syncs each
invoice's client first through the client job (invoices reference clients)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from .test_engine_one_way import client, invoice

pytestmark = pytest.mark.slow
CLIENTS, INVOICES = 12, 12


@pytest.fixture
def stores(project, memory, tmp_path):
    billing_store, panel_store = tmp_path / "billing.json", tmp_path / "panel.json"
    project.system("billing", plugin="memory", vendor="billing", store=str(billing_store))
    # A panel that numbers invoices itself: nothing but the stored intent can tell that an invoice
    # whose create was killed in flight is already there.
    # (settle_delay 0: this vendor lives in the killed process, so nothing it was sent lands later)
    project.system("panel", plugin="memlite", vendor="panel", store=str(panel_store), write_latency=0.04,
                   concurrency=3, settle_delay=0)
    project.job("clients", kind="client", source="billing", targets=["panel"])
    project.job("invoices", kind="invoice", source="billing", targets=["panel"])
    billing = memory.MemoryVendor("billing", billing_store)
    for n in range(CLIENTS):
        cid = billing.put("client", client(n))
        billing.put("invoice", invoice(f"INV-{n}"), {"client": cid})
    project.write()
    return billing_store, panel_store


def panel_view(memory, panel_store):
    panel = memory.MemoryVendor("panel", panel_store)
    return panel.records("client") if panel_store.exists() else {}, \
        panel.records("invoice") if panel_store.exists() else {}, panel


def kill_after(project, panel_store, memory, writes: int, jobs: tuple[str, ...] = ("--all",)) -> None:
    """Start a sync of ``jobs`` and SIGKILL it once the panel has taken ``writes`` writes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTSYNC_")}
    process = subprocess.Popen([sys.executable, "-m", "hostsync", "--config", str(project.config_path),
                                "-q", "sync", *jobs], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while process.poll() is None and time.monotonic() < deadline:
        if panel_store.exists() and memory.MemoryVendor("panel", panel_store).write_count() >= writes:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def test_sigkill_at_any_point_then_rerun_leaves_no_duplicate_and_nothing_missing(project, stores, memory):
    billing_store, panel_store = stores
    # kill points spread over the whole run, each after a few more writes than the last
    for i, writes in enumerate((1, 3, 6, 10, 15, 19, 23)):
        kill_after(project, panel_store, memory, writes, ("invoices",) if i % 2 else ("--all",))
        clients, invoices, _ = panel_view(memory, panel_store)
        emails = [r["fields"]["email"] for r in clients.values()]
        assert len(emails) == len(set(emails)), f"duplicate client after a kill at {writes} writes"
        owners = [r["refs"]["client"] for r in invoices.values()]
        assert len(owners) == len(set(owners)), f"duplicate invoice after a kill at {writes} writes"

    runs = project.cli("runs", "--json", "--limit", "50", write=False).json()
    assert "interrupted" in {r["status"] for r in runs}, "no run was actually killed mid-way"

    final = project.cli("sync", "--all", "--json", write=False)
    assert final.exit_code == 0, final.output
    clients, invoices, panel = panel_view(memory, panel_store)
    assert sorted(r["fields"]["email"] for r in clients.values()) == sorted(f"c{n}@example.org" for n in range(CLIENTS))
    # every client has its one invoice, pointing at the panel's copy of that client
    assert sorted(r["refs"]["client"] for r in invoices.values()) == sorted(clients)
    with project.state() as state:
        for link in state.iter_links("invoice", "billing", "panel"):
            source_client = memory.MemoryVendor("billing", billing_store).records("invoice")[link.id]["refs"]["client"]
            panel_client = state.link("client", "billing", source_client, "panel").peer_id
            assert invoices[link.peer_id]["refs"]["client"] == panel_client
    with project.state() as state:
        assert state.count_intents() == 0
        assert len(state.list_links()) == CLIENTS + INVOICES

    writes = panel.write_count()
    again = project.cli("sync", "--all", "--json", write=False).json()
    assert [r["counts"]["unchanged"] for r in again] == [CLIENTS, INVOICES]
    assert memory.MemoryVendor("panel", panel_store).write_count() == writes
