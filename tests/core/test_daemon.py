"""``hostsync daemon`` in a subprocess, as systemd runs it: notifications, scheduling, reload, stop."""

from __future__ import annotations

import copy
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hostsync.config import load_config
from hostsync.errors import ConfigError
from hostsync.plugins import load_plugins
from hostsync.scheduler import Scheduler
from hostsync.testing import HostsyncProject

from ..conftest import PLUGINS_DIR
from .test_engine_one_way import client

pytestmark = pytest.mark.slow


class NotifySocket:
    """A stand-in for systemd's notify socket: collects the daemon's datagrams."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []

    def wait_for(self, text: str, timeout: float = 15.0, after: int = 0) -> int:
        """Index of the first message at or after ``after`` containing ``text``."""
        deadline = time.monotonic() + timeout
        while True:
            for i, message in enumerate(self.messages[after:], after):
                if text in message:
                    return i
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} notification; got {self.messages}")
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def daemon_project(project, memory, tmp_path):
    billing_store, panel_store = tmp_path / "billing.json", tmp_path / "panel.json"
    project.system("billing", plugin="memory", vendor="billing", store=str(billing_store))
    project.system("panel", plugin="memory", vendor="panel", store=str(panel_store))
    project.job("clients", kind="client", source="billing", targets=["panel"], every="1s")
    billing = memory.vendor("billing", str(billing_store))
    billing.put("client", client(1))
    project.write()
    return project, billing, memory.MemoryVendor("panel", panel_store)


def start(project, notify: NotifySocket, watchdog_usec: int | None = 400_000) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOSTSYNC_", "NOTIFY_", "WATCHDOG_"))}
    env["NOTIFY_SOCKET"] = str(notify.path)
    if watchdog_usec:
        env["WATCHDOG_USEC"] = str(watchdog_usec)
    return subprocess.Popen([sys.executable, "-m", "hostsync", "--config", str(project.config_path), "daemon"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(process: subprocess.Popen, timeout: float = 15.0) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=timeout)
    return process.returncode, err


def wait_until(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.fixture
def notify(tmp_path):
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()


def test_ready_watchdog_status_and_a_clean_stop(daemon_project, notify):
    project, billing, panel = daemon_project
    process = start(project, notify)
    try:
        ready = notify.wait_for("READY=1")
        assert f"MAINPID={process.pid}" in notify.messages[ready]
        first = notify.wait_for("WATCHDOG=1", after=ready)
        notify.wait_for("WATCHDOG=1", after=first + 1)
        notify.wait_for("STATUS=last run clients: ok")
        wait_until(lambda: len(panel.records("client")) == 1)
    finally:
        code, err = stop(process)
    assert code == 0, err
    notify.wait_for("STOPPING=1")
    assert "daemon started: 1 scheduled job" in err and "stopped" in err


def test_sighup_reloads_a_good_config_and_keeps_the_old_one_when_the_new_is_bad(daemon_project, notify, memory):
    project, billing, panel = daemon_project
    process = start(project, notify, watchdog_usec=None)
    try:
        notify.wait_for("READY=1")
        wait_until(lambda: len(panel.records("client")) == 1)
        # a new job arrives with a reload
        project.job("invoices", kind="invoice", source="billing", targets=["panel"], every="1s")
        project.write()
        billing.put("invoice", {"number": "INV-9", "status": "unpaid", "currency": "EUR", "total": "5"},
                    {"client": "1"})
        process.send_signal(signal.SIGHUP)
        reloading = notify.wait_for("RELOADING=1")
        assert "MONOTONIC_USEC=" in notify.messages[reloading]
        notify.wait_for("READY=1", after=reloading)
        wait_until(lambda: len(panel.records("invoice")) == 1)
        # a broken config is refused; the running one goes on
        project.config_path.write_text(project.config_path.read_text() + "\n[jobs.broken]\nkind = 'nope'\n")
        process.send_signal(signal.SIGHUP)
        second = notify.wait_for("RELOADING=1", after=reloading + 1)
        failed = notify.wait_for("READY=1", after=second)
        assert "reload failed" in notify.messages[failed]
        billing.put("client", client(2))
        wait_until(lambda: len(panel.records("client")) == 2)
    finally:
        code, err = stop(process)
    assert code == 0, err
    assert "reload failed, keeping the running configuration" in err
    assert "hostsync.toml: jobs.broken.kind: unknown value 'nope'" in err


def test_sigterm_mid_run_finishes_the_record_in_hand_and_exits_promptly(daemon_project, notify):
    project, billing, panel = daemon_project
    project.systems["panel"]["write_latency"] = 0.3
    project.write()
    for n in range(2, 40):
        billing.put("client", client(n))
    process = start(project, notify, watchdog_usec=None)
    notify.wait_for("READY=1")
    wait_until(lambda: len(panel.records("client")) >= 2)
    started = time.monotonic()
    code, err = stop(process)
    assert code == 0, err
    assert time.monotonic() - started < 5  # a handful of in-flight writes, not the remaining queue
    created = len(panel.records("client"))
    assert created < 39
    # nothing half-written: the next run completes the rest, and only the rest
    result = project.cli("sync", "clients", "--json", write=False)
    counts = result.json()[0]["counts"]
    assert counts["created"] + counts["adopted"] == 39 - created
    assert len(panel.records("client")) == 39
    runs = project.cli("runs", "clients", "--json", write=False).json()
    assert "interrupted" in {r["status"] for r in runs}


def test_a_scheduled_job_never_overlaps_itself(daemon_project, notify):
    project, billing, panel = daemon_project
    project.systems["panel"]["write_latency"] = 0.25
    project.systems["billing"]["read_latency"] = 0.4  # each run takes longer than the 1 s period
    project.write()
    for n in range(2, 8):
        billing.put("client", client(n))
    process = start(project, notify, watchdog_usec=None)
    try:
        notify.wait_for("READY=1")
        wait_until(lambda: len(project.cli("runs", "clients", "--json", write=False).json()) >= 3, timeout=30)
    finally:
        code, err = stop(process)
    assert code == 0, err
    runs = sorted(project.cli("runs", "clients", "--json", write=False).json(), key=lambda r: r["id"])
    finished = [r for r in runs if r["finished_at"]]
    assert len(finished) >= 2
    spans = [(datetime.fromisoformat(r["started_at"]), datetime.fromisoformat(r["finished_at"])) for r in finished]
    for (_, end), (next_start, _) in zip(spans, spans[1:]):
        assert next_start >= end, "a run started before the previous one finished"


def test_the_first_start_on_a_fresh_state_migrates_once_before_any_job_runs(daemon_project, notify):
    """Two jobs due at once on a fresh state used to race in the migration ("database is locked")."""
    project, billing, panel = daemon_project
    project.job("invoices", kind="invoice", source="billing", targets=["panel"], every="1s")
    project.write()
    for attempt in range(3):
        for leftover in project.path.glob("hostsync.db*"):
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        after = len(notify.messages)
        process = start(project, notify, watchdog_usec=None)
        try:
            notify.wait_for("READY=1", after=after)
            wait_until(lambda: {r["job"] for r in project.cli("runs", "--json", write=False).json()
                                if r["status"] == "ok"} == {"clients", "invoices"})
        finally:
            code, err = stop(process)
        assert code == 0, err
        assert "ERROR" not in err and "locked" not in err and "Traceback" not in err, err


def broken_plugins_dir(project) -> Path:
    folder = project.path / "broken-plugins"
    folder.mkdir(exist_ok=True)
    (folder / "kaput.py").write_text("raise RuntimeError('this plugin does not import')\n")
    return folder


RELOADS = [  # (what the config becomes, the reason logged)
    (lambda p: p.jobs["clients"].update(kind=["client"]), "jobs.clients.kind: expected a string, got a list"),
    (lambda p: p.jobs["clients"].update(every="99999999999d"),
     "jobs.clients.every: expected a duration from 1s to 366d, got '99999999999d'"),
    (lambda p: p.jobs["clients"].update(cron="0 0 31 2 *"), "jobs.clients.cron: cron expression '0 0 31 2 *' never fires"),
    (lambda p: p.systems["panel"].update(timezone="Mars/Olympus"),
     "systems.panel.timezone: unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/Berlin or UTC)"),
    (lambda p: p.systems["panel"].update(timeout=-5), "systems.panel.timeout: expected a duration from 0.01s to 1h, got -5"),
    (lambda p: p.settings.update(state="."), "is a directory; give a file path such as"),
    (lambda p: p.settings.update(plugins_dir="nowhere"), "hostsync.plugins_dir: directory"),
    (lambda p: p.settings.update(plugins_dir=str(broken_plugins_dir(p))),
     "failed to import: RuntimeError: this plugin does not import"),
    (lambda p: p.settings.update(state="garbage.db"), "garbage.db is not a usable state file (file is not a database)"),
]


def test_no_reload_ever_takes_the_daemon_down(daemon_project, notify):
    """Each broken config in turn on SIGHUP: logged in one line, the running config kept (it goes on
    syncing), and a good config after them all is taken."""
    project, billing, panel = daemon_project
    (project.path / "garbage.db").write_bytes(b"not a database" * 100)
    good = copy.deepcopy((project.settings, project.systems, project.jobs))
    process = start(project, notify, watchdog_usec=None)
    try:
        notify.wait_for("READY=1")
        wait_until(lambda: len(panel.records("client")) == 1)
        mark = len(notify.messages)
        for n, (breaks, _) in enumerate(RELOADS, 2):
            project.settings, project.systems, project.jobs = copy.deepcopy(good)
            breaks(project)
            project.write()
            process.send_signal(signal.SIGHUP)
            reloading = notify.wait_for("RELOADING=1", after=mark)
            mark = notify.wait_for("READY=1", after=reloading) + 1
            assert "reload failed; running the previous configuration" in notify.messages[mark - 1]
            billing.put("client", client(n))  # the running configuration carries on
            wait_until(lambda: len(panel.records("client")) == n)
        project.config_path.write_text("[hostsync\n")  # not even TOML
        process.send_signal(signal.SIGHUP)
        mark = notify.wait_for("READY=1", after=notify.wait_for("RELOADING=1", after=mark)) + 1
        project.config_path.unlink()
        process.send_signal(signal.SIGHUP)
        mark = notify.wait_for("READY=1", after=notify.wait_for("RELOADING=1", after=mark)) + 1
        project.settings, project.systems, project.jobs = copy.deepcopy(good)
        project.job("invoices", kind="invoice", source="billing", targets=["panel"], every="1s")
        project.write()
        billing.put("invoice", {"number": "INV-1", "status": "unpaid", "currency": "EUR", "total": "5"}, {"client": "1"})
        process.send_signal(signal.SIGHUP)
        assert "reloaded; 2 scheduled jobs" in notify.messages[notify.wait_for("READY=1", after=notify.wait_for("RELOADING=1", after=mark))]
        wait_until(lambda: len(panel.records("invoice")) == 1)
        assert process.poll() is None
    finally:
        code, err = stop(process)
    assert code == 0, err
    failures = [line for line in err.splitlines() if "reload failed" in line]
    assert len(failures) == len(RELOADS) + 2, err
    for line, (_, reason) in zip(failures, RELOADS):
        assert reason in line, (line, reason)
    assert "invalid TOML" in failures[-2] and "file not found" in failures[-1]
    assert "Traceback" not in err


# --- a config that passes `config validate` never crashes the scheduler --------------------------

_valid_field = st.one_of(st.just("*"), st.integers(1, 12).map(str), st.integers(1, 30).map(lambda k: f"*/{k}"),
                         st.tuples(st.integers(1, 6), st.integers(6, 12)).map(lambda p: f"{p[0]}-{p[1]}"),
                         st.lists(st.integers(1, 6), min_size=2, max_size=3).map(lambda v: ",".join(map(str, v))),
                         st.sampled_from(["mon-fri", "sun", "jan", "last", "mon#5", "sat#1"]))
_any_field = st.one_of(st.integers(0, 70).map(str),
                       st.tuples(st.integers(0, 60), st.integers(0, 60), st.integers(0, 9)).map(
                           lambda p: f"{p[0]}-{p[1]}/{p[2]}"),
                       st.sampled_from(["L", "?", "", "**", "31", "0", "feb-jan"]))
_field = st.one_of(_valid_field, _valid_field, _valid_field, _any_field)
_schedule = st.one_of(
    st.builds(lambda f: {"cron": " ".join(f)}, st.lists(_field, min_size=5, max_size=5)),
    st.builds(lambda day, month: {"cron": f"0 0 {day} {month} *"}, st.integers(28, 31), st.sampled_from([2, 4, 9, 12])),
    st.builds(lambda f: {"cron": " ".join(f)}, st.lists(_field, min_size=4, max_size=6)),
    st.builds(lambda n, unit: {"every": f"{n}{unit}"}, st.integers(0, 10 ** 12), st.sampled_from("smhd")),
    st.builds(lambda n: {"every": n}, st.one_of(st.integers(-10, 10 ** 12), st.floats(allow_nan=True))),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schedules=st.lists(_schedule, min_size=1, max_size=3))
def test_a_config_that_validates_never_crashes_the_scheduler(tmp_path_factory, schedules):
    folder = tmp_path_factory.mktemp("schedules")
    project = HostsyncProject(folder, plugins_dir=PLUGINS_DIR)
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memory", vendor="panel")
    for n, schedule in enumerate(schedules):
        project.job(f"j{n}", kind="client", source="billing", targets=["panel"], **schedule)
    project.write()
    plugins = load_plugins(PLUGINS_DIR, env={"HOSTSYNC_LOAD_PLUGINS": ""})
    try:
        config = load_config(project.config_path, plugins)
    except ConfigError:
        event("refused at load")
        return  # refused at load, with its one line (the table in test_config.py checks the messages)
    event("accepted: scheduled")
    scheduler = Scheduler(lambda name: None)
    try:
        scheduler.apply(config)  # every trigger built and every job added, as on start and on reload
        scheduler.start()
        for job in scheduler.scheduler.get_jobs():
            assert job.next_run_time is not None, job.id  # it will run
    finally:
        scheduler.shutdown(wait=False)
