"""Prometheus metrics: read with prometheus_client's own parser, moving with runs made through the CLI;
the textfile written atomically; events counted by a running exporter; the README's alert rules."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from hostsync.config import load_config
from hostsync.errors import AuthError, ConnectorError, NotFound, ProtocolError, RateLimited, Rejected, Transient
from hostsync.events import Event, failure_cause
from hostsync.metrics import Exporter, StateCollector, build_registry, write_textfile
from hostsync.plugins import load_plugins
from hostsync.state import State

from .test_engine_one_way import client
from .test_engine_two_way import _conflict

README = Path(__file__).resolve().parents[2] / "README.md"
#: Every family, by the name the parser gives it (counters without their _total suffix).
FAMILIES = {
    "hostsync_job_runs": "counter", "hostsync_job_records": "counter",
    "hostsync_job_last_success_timestamp_seconds": "gauge", "hostsync_job_first_run_timestamp_seconds": "gauge",
    "hostsync_job_interval_seconds": "gauge", "hostsync_system_held": "gauge", "hostsync_conflicts_open": "gauge",
    "hostsync_vendor_calls": "counter", "hostsync_vendor_call_duration_seconds": "histogram",
    "hostsync_rate_limit_waits": "counter", "hostsync_rate_limit_wait_seconds": "counter",
    "hostsync_record_failures": "counter", "hostsync_drift_found": "counter",
}


def parse(text: str) -> dict[str, dict[tuple, float]]:
    """family -> {(sample name, sorted labels): value}, via prometheus_client's parser."""
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        assert FAMILIES.get(family.name) == family.type, (family.name, family.type)
        out[family.name] = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}
    return out


def value(families: dict, sample: str, **labels: str) -> float | None:
    family = next(name for name in families if sample.startswith(name))
    return families[family].get((sample, tuple(sorted(labels.items()))))


def metrics(project) -> dict[str, dict[tuple, float]]:
    result = project.cli("metrics")
    assert result.exit_code == 0, result.output
    return parse(result.stdout)


@pytest.fixture
def billing_panel(project, memory):
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memory", vendor="panel")
    project.job("clients", kind="client", source="billing", targets=["panel"], every="1m")
    project.job("nightly", kind="domain", source="billing", targets=["panel"], cron="30 2 * * *")
    project.job("manual", kind="invoice", source="billing", targets=["panel"])
    return memory.vendor("billing")


def test_metrics_parse_and_move_with_runs(project, billing_panel):
    before = metrics(project)
    assert set(before) == set(FAMILIES)  # every family, even before any run
    assert value(before, "hostsync_job_runs_total", hostsync_job="clients", status="ok") == 0
    assert value(before, "hostsync_job_interval_seconds", hostsync_job="clients") == 60
    assert value(before, "hostsync_job_interval_seconds", hostsync_job="nightly") == 86400
    assert value(before, "hostsync_job_interval_seconds", hostsync_job="manual") is None
    assert value(before, "hostsync_system_held", system="panel") == 0
    assert value(before, "hostsync_job_last_success_timestamp_seconds", hostsync_job="clients") is None

    for n in range(3):
        billing_panel.put("client", client(n))
    assert project.cli("sync", "clients").exit_code == 0
    after = metrics(project)
    assert value(after, "hostsync_job_runs_total", hostsync_job="clients", status="ok") == 1
    assert value(after, "hostsync_job_records_total", hostsync_job="clients", action="created") == 3
    assert value(after, "hostsync_job_records_total", hostsync_job="nightly", action="created") == 0
    with project.state() as state:
        [run] = state.runs("clients")
    finished = value(after, "hostsync_job_last_success_timestamp_seconds", hostsync_job="clients")
    assert finished == pytest.approx(_epoch(run["finished_at"]))
    assert value(after, "hostsync_job_first_run_timestamp_seconds", hostsync_job="clients") == \
        pytest.approx(_epoch(run["started_at"]))

    project.systems["panel"]["password"] = "wrong"
    billing_panel.put("client", client(9))
    assert project.cli("sync", "clients").exit_code == 1
    failed = metrics(project)
    assert value(failed, "hostsync_job_runs_total", hostsync_job="clients", status="failed") == 1
    assert value(failed, "hostsync_job_runs_total", hostsync_job="clients", status="ok") == 1
    assert value(failed, "hostsync_system_held", system="panel") == 1
    assert value(failed, "hostsync_job_last_success_timestamp_seconds", hostsync_job="clients") == finished


def test_open_conflicts_are_counted_per_job(project, memory):
    project.system("whmcs", plugin="memory", vendor="whmcs")
    project.system("blesta", plugin="memory", vendor="blesta")
    project.job("clients", kind="client", source="whmcs", targets=["blesta"], direction="two-way")
    pair = memory.vendor("whmcs"), memory.vendor("blesta")
    _conflict(project, pair)
    assert project.cli("sync", "clients").exit_code == 1  # a conflict waits: said, and exit 1
    assert value(metrics(project), "hostsync_conflicts_open", hostsync_job="clients") == 1
    [conflict] = project.cli("conflicts", "--json").json()
    assert project.cli("resolve", str(conflict["id"]), "--use", "source").exit_code == 0
    assert value(metrics(project), "hostsync_conflicts_open", hostsync_job="clients") == 0


def test_a_long_running_collector_counts_each_finished_run_once(tmp_path, project, billing_panel):
    """Totals of finished runs are kept between collections; a run still going is counted when it ends."""
    project.write()
    config = load_config(project.config_path, load_plugins(project.settings["plugins_dir"]))
    collector = StateCollector(config)

    def runs(status: str = "ok") -> float:
        registry = CollectorRegistry()
        registry.register(collector)
        text = "".join(_exposition(registry))
        return value(parse(text), "hostsync_job_runs_total", hostsync_job="clients", status=status)

    with State.open(config.state_path) as state:
        first = state.start_run("clients")
        state.finish_run(first, "ok", {"created": 2})
        long = state.start_run("clients")  # still going through the next collections
        assert runs() == 1
        for status in ("ok", "failed", "ok"):
            state.finish_run(state.start_run("clients"), status, {"created": 1})
        assert runs() == 3 and runs("failed") == 1
        assert runs() == 3  # collecting again counts nothing twice
        state.finish_run(long, "interrupted", {"created": 5})
        assert runs() == 3 and runs("interrupted") == 1
        fresh = StateCollector(config)
    registry = CollectorRegistry()
    registry.register(fresh)
    again = CollectorRegistry()
    again.register(collector)
    assert parse("".join(_exposition(registry))) == parse("".join(_exposition(again)))


def test_the_textfile_is_replaced_atomically_and_readable_by_node_exporter(tmp_path):
    path = tmp_path / "hostsync.prom"
    registry = CollectorRegistry()
    registry.register(_Fixed(50))
    old_umask = os.umask(0o077)  # as under the shipped unit (UMask=0077)
    try:
        write_textfile(registry, path)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # node_exporter runs as another user
    assert [p.name for p in tmp_path.iterdir()] == ["hostsync.prom"]

    torn: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            text = path.read_text()
            if len(list(text_string_to_metric_families(text))) != 50:
                torn.append(text)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(200):
            write_textfile(registry, path)
    finally:
        done.set()
        reader.join()
    assert torn == []

    before = path.read_bytes()
    broken = CollectorRegistry()
    broken.register(_Broken())
    with pytest.raises(RuntimeError):
        write_textfile(broken, path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["hostsync.prom"]


def test_a_textfile_that_cannot_be_written_is_logged_and_never_stops_the_daemon(project, billing_panel, caplog):
    caplog.set_level(logging.INFO, logger="hostsync.metrics")
    project.settings["metrics_textfile"] = "missing-dir/hostsync.prom"
    project.write()
    config = load_config(project.config_path, load_plugins(project.settings["plugins_dir"]))
    exporter = Exporter(config)
    exporter.write()
    exporter.write()
    assert [r.getMessage() for r in caplog.records] == \
        [f"cannot write metrics to {config.metrics_textfile}: No such file or directory"]  # once, not per run
    config.metrics_textfile.parent.mkdir()
    exporter.write()
    assert "hostsync_job_runs_total" in config.metrics_textfile.read_text()
    assert caplog.records[-1].getMessage() == f"metrics written to {config.metrics_textfile} again"


def test_events_are_counted_only_while_an_exporter_runs(project, billing_panel):
    project.write()
    plugins = load_plugins(project.settings["plugins_dir"])
    exporter = Exporter(load_config(project.config_path, plugins))
    events = [
        Event("vendor.call", system="panel", detail={"operation": "create", "seconds": 0.2, "outcome": "ok"}),
        Event("vendor.call", system="panel", detail={"operation": "update", "seconds": 3.0, "outcome": "transient"}),
        Event("system.waited", system="panel", detail={"seconds": 1.5, "why": "vendor"}),
        Event("system.waited", system="panel", detail={"seconds": 0.25, "why": "rate_limit"}),
        Event("record.failed", job="clients", system="billing", detail={"target": "panel", "cause": "rejected"}),
        Event("record.failed", job="clients", system="billing", detail={"target": "panel"}),
        Event("record.drift", job="clients", system="billing", detail={"target": "panel", "repaired": True}),
    ]
    for event in events:
        plugins.emit(event)  # no exporter running: nothing counted, nothing fails
    exporter.start()
    try:
        for event in events:
            plugins.emit(event)
        counted = parse(_text(exporter))
    finally:
        exporter.close()
    plugins.emit(events[0])
    assert parse(_text(exporter)) == counted
    assert value(counted, "hostsync_vendor_calls_total", system="panel", outcome="ok") == 1
    assert value(counted, "hostsync_vendor_calls_total", system="panel", outcome="transient") == 1
    assert value(counted, "hostsync_vendor_call_duration_seconds_count", system="panel") == 2
    assert value(counted, "hostsync_vendor_call_duration_seconds_sum", system="panel") == pytest.approx(3.2)
    assert value(counted, "hostsync_vendor_call_duration_seconds_bucket", system="panel", le="0.25") == 1
    assert value(counted, "hostsync_rate_limit_waits_total", system="panel", why="vendor") == 1
    assert value(counted, "hostsync_rate_limit_wait_seconds_total", system="panel", why="rate_limit") == 0.25
    assert value(counted, "hostsync_record_failures_total", hostsync_job="clients", target="panel",
                 cause="rejected") == 1
    assert value(counted, "hostsync_record_failures_total", hostsync_job="clients", target="panel",
                 cause="unknown") == 1
    assert value(counted, "hostsync_drift_found_total", hostsync_job="clients", target="panel",
                 outcome="repaired") == 1


def test_failure_causes():
    class Held(ConnectorError):
        cause = "held"

    assert [failure_cause(e) for e in (AuthError("x"), RateLimited("x"), Transient("x"), NotFound("x"),
                                       Rejected("x"), ProtocolError("x"), Held("x"), ConnectorError("x"),
                                       KeyError("x"), None)] == \
        ["auth", "rate_limited", "transient", "not_found", "rejected", "protocol", "held", "connector", "plugin",
         "unknown"]


@pytest.mark.parametrize("settings, key, message", [
    ({"metrics_listen": "0.0.0.0:9477"}, "metrics_listen", "0.0.0.0 is reachable from other machines"),
    ({"metrics_listen": "[2001:db8::1]:9477"}, "metrics_listen", "reachable from other machines"),
    ({"metrics_listen": "metrics.example:9477"}, "metrics_listen", "use HOST:PORT with an IP address"),
    ({"metrics_listen": "9477"}, "metrics_listen", "use HOST:PORT"),
    ({"metrics_listen": "127.0.0.1:70000"}, "metrics_listen", "bad port"),
    ({"metrics_listen": 9477}, "metrics_listen", "expected a string, got a number"),
    ({"metrics_listen": "0.0.0.0:9477", "metrics_listen_public": "yes"}, "metrics_listen_public",
     "expected true or false"),
    ({"metrics_textfile": "/var/lib/node-exporter/hostsync.txt"}, "metrics_textfile", "ending in .prom"),
])
def test_bad_metrics_settings_are_one_clear_line(project, billing_panel, settings, key, message):
    project.settings.update(settings)
    result = project.cli("config", "validate")
    assert result.exit_code == 2 and "Traceback" not in result.output
    [line] = result.stderr.splitlines()
    assert f"hostsync.{key}: " in line and message in line, line


def test_good_metrics_settings_are_shown(project, billing_panel):
    project.settings.update(metrics_textfile="node/hostsync.prom", metrics_listen="localhost:9477")
    shown = project.cli("config", "show", "--json")
    assert shown.exit_code == 0, shown.output
    head = shown.json()["hostsync"]
    assert head["metrics_listen"] == "127.0.0.1:9477"
    assert head["metrics_textfile"] == str(project.path / "node" / "hostsync.prom")
    project.settings.update(metrics_listen="0.0.0.0:9477", metrics_listen_public=True)
    assert project.cli("config", "validate").exit_code == 0


def test_the_readme_alert_rules_are_valid_and_use_exported_metrics(project, billing_panel):
    section = README.read_text().split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```yaml\n(.*?)```", section, re.S)
    rules = [rule for group in yaml.safe_load(block)["groups"] for rule in group["rules"]]
    assert len(rules) == 2 and all(rule["alert"] and rule["expr"] and rule["annotations"] for rule in rules)
    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
    exported = {name + suffix for name in metrics(project) for suffix in suffixes[FAMILIES[name]]}
    for rule in rules:
        names = set(re.findall(r"\bhostsync_[a-z_]+", rule["expr"]))
        assert names and names <= exported, (rule["alert"], names - exported)
        assert rule["expr"].count("(") == rule["expr"].count(")")


# --- the daemon ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_daemon_serves_the_same_families_on_loopback_and_writes_the_textfile(project, memory, tmp_path):
    from .test_daemon import NotifySocket, start, stop, wait_until

    billing_store = tmp_path / "billing.json"
    project.system("billing", plugin="memory", vendor="billing", store=str(billing_store))
    project.system("panel", plugin="memory", vendor="panel", store=str(tmp_path / "panel.json"))
    project.job("clients", kind="client", source="billing", targets=["panel"], every="1s")
    memory.vendor("billing", str(billing_store)).put("client", client(1))
    port = _free_port()
    textfile = tmp_path / "node-exporter" / "hostsync.prom"
    textfile.parent.mkdir()
    project.settings.update(metrics_listen=f"127.0.0.1:{port}", metrics_textfile=str(textfile))
    project.write()
    notify = NotifySocket(tmp_path / "notify.sock")
    process = start(project, notify, watchdog_usec=None)
    try:
        notify.wait_for("READY=1")  # sent once the port is bound
        wait_until(lambda: textfile.exists() and value(parse(textfile.read_text()), "hostsync_job_runs_total",
                                                       hostsync_job="clients", status="ok"))
        served = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert served.status_code == 200 and served.headers["content-type"].startswith("text/plain")
        over_http = parse(served.text)
        assert value(over_http, "hostsync_job_runs_total", hostsync_job="clients", status="ok") >= 1
        assert value(over_http, "hostsync_job_records_total", hostsync_job="clients", action="created") == 1
        assert set(over_http) == set(parse(textfile.read_text())) == set(metrics(project)) == set(FAMILIES)
        moved = tmp_path / "node-exporter" / "moved.prom"  # a reload takes a new textfile path
        project.settings["metrics_textfile"] = str(moved)
        project.write()
        process.send_signal(signal.SIGHUP)
        wait_until(lambda: moved.exists())
        assert set(parse(moved.read_text())) == set(FAMILIES)
    finally:
        code, err = stop(process)
        notify.close()
    assert code == 0, err
    assert f"serving metrics on http://127.0.0.1:{port}/metrics" in err
    assert sorted(p.name for p in textfile.parent.iterdir()) == ["hostsync.prom", "moved.prom"]  # no temp file
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


@pytest.mark.slow
def test_a_metrics_port_in_use_stops_the_daemon_with_one_clear_line(project, billing_panel, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        project.settings["metrics_listen"] = f"127.0.0.1:{taken.getsockname()[1]}"
        project.write()
        result = subprocess.run([sys.executable, "-m", "hostsync", "--config", str(project.config_path), "daemon"],
                                capture_output=True, text=True, timeout=60,
                                env={k: v for k, v in os.environ.items() if not k.startswith("NOTIFY_")})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "hostsync.metrics_listen: cannot serve metrics on 127.0.0.1:" in result.stderr
    assert "Address already in use" in result.stderr


# --- helpers ---------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Fixed(Collector):
    """``n`` gauges: a file big enough that a torn read would show."""

    def __init__(self, n: int) -> None:
        self.n = n

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        for i in range(self.n):
            yield GaugeMetricFamily(f"filler_{i}", "Filler " + "x" * 200, value=i)


class _Broken(Collector):
    def collect(self):
        raise RuntimeError("collector failed")


def _exposition(registry) -> list[str]:
    from prometheus_client import generate_latest

    return [generate_latest(registry).decode()]


def _text(exporter: Exporter) -> str:
    return "".join(_exposition(exporter.registry))


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()
