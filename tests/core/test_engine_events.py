"""The events the engine emits for metrics: waits before vendor calls (``system.waited``), failures with
their cause, drift; delivered one at a time although waits happen in workers; and the
Prometheus families that count them moving with a run made through the CLI."""

from __future__ import annotations

import shutil
import threading

import pytest

from hostsync import RateLimited, Rejected
from hostsync.config import load_config, parse_rate
from hostsync.engine.calls import Caller, Gate, RetryPolicy
from hostsync.events import Event
from hostsync.metrics import Exporter
from hostsync.plugins import _import_file, load_plugins

from tests.conftest import PLUGINS_DIR
from .test_engine_one_way import client
from .test_metrics import _text, parse, value

OBSERVER = '''
import threading
import time
from hostsync import hookimpl

EVENTS = []
INSIDE = []  # observers running now: more than one at once is an overlap
OVERLAPS = []

@hookimpl
def hostsync_event(event):
    INSIDE.append(event.type)
    if len(INSIDE) > 1:
        OVERLAPS.append(list(INSIDE))
    time.sleep(0.001)  # long enough for another thread to come in, were it let in
    EVENTS.append((event.type, threading.current_thread().name, event.system, dict(event.detail)))
    INSIDE.remove(event.type)
'''


def test_the_caller_reports_what_a_call_waited_for_and_why():
    events: list[Event] = []
    gates = {"limited": Gate(1, parse_rate("1/s")), "paused": Gate(1, None)}
    caller = Caller(gates, threading.Event(), RetryPolicy(base=0.01), sleep=lambda seconds: None, emit=events.append)
    caller.call("limited", lambda: None)  # the bucket's burst: no wait
    caller.call("limited", lambda: None)  # waits for a token
    gates["paused"].pause(30)  # as Connector.pause does on "X-RateLimit-Remaining: 0"
    caller.call("paused", lambda: None)
    gates["paused"].paused_until = 0.0
    refusals = iter([RateLimited("slow down", retry_after=7), None])

    def limited() -> None:
        error = next(refusals)
        if error:
            raise error

    caller.call("paused", limited)  # a 429 with Retry-After: 7
    got = [(e.type, e.system, e.detail["why"], round(e.detail["seconds"])) for e in events]
    assert got == [("system.waited", "limited", "rate_limit", 1), ("system.waited", "paused", "vendor", 30),
                   ("system.waited", "paused", "vendor", 7)]


@pytest.fixture
def observed(tmp_path, project, memory):
    """A project whose plugins directory also holds an observer that notes each event and its thread."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    shutil.copy(PLUGINS_DIR / "memory.py", plugins / "memory.py")
    (plugins / "observer.py").write_text(OBSERVER)
    project.settings["plugins_dir"] = str(plugins)
    observer = _import_file(plugins / "observer.py")
    observer.EVENTS.clear()
    observer.OVERLAPS.clear()
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memory", vendor="panel", rate_limit="20/s", concurrency=4)
    project.job("clients", kind="client", source="billing", targets=["panel"])
    return observer, memory.vendor("billing"), memory.vendor("panel")


def test_events_from_workers_reach_observers_one_at_a_time(project, observed):
    observer, billing, panel = observed
    events = observer.EVENTS
    for n in range(30):
        billing.put("client", client(n))
    panel.fail("create", lambda: (_ for _ in ()).throw(Rejected("panel: email taken", {"email": "taken"})))
    result = project.cli("sync", "clients", "--json").json()[0]
    assert result["counts"]["created"] == 29 and result["counts"]["failed"] == 1
    waited = [e for e in events if e[0] == "system.waited"]
    assert waited and {e[2] for e in waited} == {"panel"} and {e[3]["why"] for e in waited} == {"rate_limit"}
    assert {e[1] for e in waited} - {threading.main_thread().name}  # waits happen in the panel's workers
    assert observer.OVERLAPS == []
    [failed] = [e for e in events if e[0] == "record.failed"]
    assert failed[3]["cause"] == "rejected" and failed[3]["target"] == "panel"
    assert events[-1][0] == "run.finished"  # nothing delivered after the run it belongs to


def test_metrics_move_with_drift_and_failures_by_cause(project, memory):
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memory", vendor="panel")
    project.job("clients", kind="client", source="billing", targets=["panel"])
    billing, panel = memory.vendor("billing"), memory.vendor("panel")
    ids = [billing.put("client", client(n)) for n in range(3)]
    project.cli("sync", "clients")
    project.write()
    exporter = Exporter(load_config(project.config_path, load_plugins(project.settings["plugins_dir"])))
    exporter.start()
    try:
        before = parse(_text(exporter))
        edited = next(i for i, r in panel.records("client").items() if r["fields"]["email"] == "c1@example.org")
        panel.edit("client", edited, city="Bonn")
        billing.edit("client", ids[2], city="Hamburg")
        panel.fail("update", lambda: (_ for _ in ()).throw(Rejected("panel: city not allowed")))
        project.cli("sync", "clients", "--full")
        after = parse(_text(exporter))
    finally:
        exporter.close()
    assert value(before, "hostsync_drift_found_total", hostsync_job="clients", target="panel",
                 outcome="repaired") is None
    assert value(after, "hostsync_drift_found_total", hostsync_job="clients", target="panel",
                 outcome="repaired") == 1
    assert value(after, "hostsync_record_failures_total", hostsync_job="clients", target="panel",
                 cause="rejected") == 1
