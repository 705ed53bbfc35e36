"""Ctrl-C and SIGTERM stop a run, for real: ``hostsync`` in a subprocess against slow vendors. No new
call starts, calls in flight finish, the run is recorded as interrupted with its counts, and the
command exits 130 (SIGINT) or 143 (SIGTERM); a second Ctrl-C exits at once. A rerun completes the
work with no duplicate."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from .test_engine_one_way import client

pytestmark = pytest.mark.slow
CLIENTS = 40


@pytest.fixture
def slow(project, memory, tmp_path):
    """billing -> panel, where each write to the panel takes ``write_latency`` seconds."""
    billing_store, panel_store = tmp_path / "billing.json", tmp_path / "panel.json"
    project.system("billing", plugin="memory", vendor="billing", store=str(billing_store))
    project.system("panel", plugin="memory", vendor="panel", store=str(panel_store), write_latency=0.2,
                   concurrency=2, settle_delay=0)
    project.job("clients", kind="client", source="billing", targets=["panel"])
    billing = memory.MemoryVendor("billing", billing_store)
    for n in range(CLIENTS):
        billing.put("client", client(n))
    project.write()
    return lambda: memory.MemoryVendor("panel", panel_store) if panel_store.exists() else None


def start(project, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTSYNC_")}
    return subprocess.Popen([sys.executable, "-m", "hostsync", "--config", str(project.config_path), *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_writes(process: subprocess.Popen, panel, writes: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        vendor = panel()
        if vendor is not None and vendor.write_count() >= writes:
            return
        time.sleep(0.02)
    raise AssertionError(f"the sync did not get to {writes} writes")


def last_run(project) -> dict:
    return project.cli("runs", "clients", "--limit", "1", "--json", write=False).json()[0]


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_a_sync_records_it_interrupted_and_exits_128_plus_its_number(project, slow, signum, code):
    process = start(project, "sync", "clients", "--json")
    wait_for_writes(process, slow, 3)
    process.send_signal(signum)
    out, err = process.communicate(timeout=30)
    assert process.returncode == code, err
    assert "stopping" in err and "Traceback" not in err
    run = last_run(project)
    assert run["status"] == "interrupted" and run["finished_at"]
    written = len(slow().records("client"))
    assert 3 <= run["counts"]["created"] == written < CLIENTS  # stopped early, and every write it made counted
    rerun = project.cli("sync", "clients", "--json", write=False)
    assert rerun.exit_code == 0 and rerun.json()[0]["counts"]["created"] == CLIENTS - written
    emails = [r["fields"]["email"] for r in slow().records("client").values()]
    assert sorted(emails) == sorted(set(emails)) and len(emails) == CLIENTS


def test_a_second_ctrl_c_exits_at_once(project, slow):
    project.systems["panel"]["write_latency"] = 5.0  # calls in flight would hold the first Ctrl-C for seconds
    project.write()
    process = start(project, "sync", "clients")
    wait_for_writes(process, slow, 0)
    time.sleep(0.5)  # the first creates are in flight
    process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130 and "stopped at once" in err
    assert last_run(project)["status"] == "running"  # it left without waiting to record the run
    project.systems["panel"]["write_latency"] = 0.01
    rerun = project.cli("sync", "clients", "--json")  # the intents make that safe
    assert rerun.exit_code == 0
    assert last_run(project)["status"] == "ok"
    emails = [r["fields"]["email"] for r in slow().records("client").values()]
    assert sorted(emails) == sorted(set(emails)) and len(emails) == CLIENTS


def test_ctrl_c_stops_a_plan(project, slow):
    project.systems["billing"]["read_latency"] = 0.5  # a long listing
    project.write()
    process = start(project, "plan", "clients")
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130 and "Traceback" not in err
