"""Prometheus metrics (the one module that imports prometheus_client), as a built-in plugin.

Two sources feed one :class:`~prometheus_client.CollectorRegistry` per :class:`Exporter` (never the
library's global registry, so each process and each test has its own):

* **The state file**, read at each collection, so every process shows the same and counters survive
  restarts and count CLI runs too: runs by job and status, records by job and action, each job's last
  success, first run and schedule interval, held systems, open conflicts.
* **Events** (``hostsync_event``, see :mod:`hostsync.events`), counted by the process that sees them:
  vendor calls and their latency by system, rate-limit waits, record failures by cause, drift found.
  The daemon exports them; ``hostsync metrics`` (another process) prints these families empty.

Jobs are labelled ``hostsync_job``: Prometheus reserves ``job`` for its own scrape job.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from prometheus_client import (CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest,
                               start_http_server)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .config import Config, JobConfig, format_listen
from .errors import ConfigError
from .events import Event
from .scheduler import trigger_for
from .state import State

log = logging.getLogger("hostsync.metrics")
# No `*_created` series: the text format (and node_exporter's textfile collector) shows each as one more
# gauge family, and they would appear only once a counter has a child, unlike the families themselves.
disable_created_metrics()

JOB = "hostsync_job"
RUN_STATUSES = ("ok", "failed", "refused", "interrupted")
#: node_exporter runs as another user: the file must be readable by it (it holds no secrets).
TEXTFILE_MODE = 0o644
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

#: The event counters of the exporters running in this process (replaced, never changed in place,
#: so the hookimpl reads it without a lock from any thread).
_sinks: tuple["EventMetrics", ...] = ()
_sinks_lock = threading.Lock()


def observe(event: Event) -> None:
    """Count the event in every exporter of this process (none: nothing to do). Called by the
    ``metrics`` plugin's hook (:mod:`hostsync.metrics_events`) once this module is loaded."""
    for sink in _sinks:
        sink.observe(event)


def _attach(sink: "EventMetrics", attached: bool = True) -> None:
    global _sinks
    with _sinks_lock:
        _sinks = tuple(s for s in _sinks if s is not sink) + ((sink,) if attached else ())


class EventMetrics:
    """The families counted from events (thread-safe: prometheus_client's metrics are)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        self.calls = counter("hostsync_vendor_calls", "Calls made to vendor APIs, by system and outcome "
                             "(ok, or the cause of the failure).", "system", "outcome")
        self.latency = Histogram("hostsync_vendor_call_duration_seconds", "How long vendor API calls took.",
                                 ["system"], registry=registry, buckets=LATENCY_BUCKETS)
        self.waits = counter("hostsync_rate_limit_waits", "Calls that waited before they were sent, by system "
                             "and why (rate_limit: the system's own limit; vendor: the vendor asked).", "system", "why")
        self.waited = counter("hostsync_rate_limit_wait_seconds", "Seconds calls waited before they were sent.",
                              "system", "why")
        self.failures = counter("hostsync_record_failures", "Records that failed, by job, target and cause.",
                                JOB, "target", "cause")
        self.drift = counter("hostsync_drift_found", "Linked target records found changed since hostsync wrote "
                             "them, by job, target and outcome (repaired or reported).", JOB, "target", "outcome")

    def observe(self, event: Event) -> None:
        detail = event.detail
        if event.type == "vendor.call":
            self.calls.labels(event.system, detail.get("outcome") or "ok").inc()
            self.latency.labels(event.system).observe(float(detail.get("seconds") or 0.0))
        elif event.type == "system.waited":
            why = detail.get("why") or "rate_limit"
            self.waits.labels(event.system, why).inc()
            self.waited.labels(event.system, why).inc(float(detail.get("seconds") or 0.0))
        elif event.type == "record.failed":
            self.failures.labels(event.job, detail.get("target") or "", detail.get("cause") or "unknown").inc()
        elif event.type == "record.drift":
            outcome = "repaired" if detail.get("repaired") else "reported"
            self.drift.labels(event.job, detail.get("target") or "", outcome).inc()


class StateCollector(Collector):
    """The families read from the state file at each collection.

    Finished runs never change, so their totals are kept and only later runs are read again: a
    collection costs the runs since the last one, not the whole history.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._kept: dict[tuple[str, str], dict[str, Any]] = {}
        self._through = 0

    def collect(self) -> Iterator[Metric]:
        totals, held, conflicts = self._read()
        jobs = sorted({job for job, _ in totals} | set(self.config.jobs))
        actions = sorted({action for entry in totals.values() for action in entry["counts"]})

        runs = CounterMetricFamily("hostsync_job_runs", "Finished runs, by job and status.", labels=[JOB, "status"])
        records = CounterMetricFamily("hostsync_job_records", "Records handled by runs, by job and action.",
                                      labels=[JOB, "action"])
        success = GaugeMetricFamily("hostsync_job_last_success_timestamp_seconds",
                                    "When the job's last successful run finished (Unix time).", labels=[JOB])
        first = GaugeMetricFamily("hostsync_job_first_run_timestamp_seconds",
                                  "When the job's first recorded run started (Unix time).", labels=[JOB])
        for job in jobs:
            entries = {status: totals.get((job, status)) for status in {*RUN_STATUSES, *(s for j, s in totals if j == job)}}
            for status, entry in sorted(entries.items()):
                runs.add_metric([job, status], entry["runs"] if entry else 0)
            for action in actions:
                records.add_metric([job, action], sum(e["counts"].get(action, 0) for e in entries.values() if e))
            if entries.get("ok"):
                success.add_metric([job], _timestamp(entries["ok"]["last_finished_at"]))
            started = [_timestamp(e["first_started_at"]) for e in entries.values() if e]
            if started:
                first.add_metric([job], min(started))
        interval = GaugeMetricFamily("hostsync_job_interval_seconds", "Seconds between the job's scheduled runs "
                                     "(for cron, the gap between its next two).", labels=[JOB])
        for name, job_config in sorted(self.config.jobs.items()):
            seconds = schedule_interval(job_config)
            if seconds:
                interval.add_metric([name], seconds)
        held_family = GaugeMetricFamily("hostsync_system_held", "1 while the system is held after an "
                                        "authentication failure (see `hostsync check`).", labels=["system"])
        for system in sorted(self.config.systems):
            held_family.add_metric([system], 1 if system in held else 0)
        open_conflicts = GaugeMetricFamily("hostsync_conflicts_open", "Two-way conflicts waiting for an operator "
                                           "(`hostsync conflicts`).", labels=[JOB])
        for job in sorted(set(conflicts) | set(self.config.jobs)):
            open_conflicts.add_metric([job], conflicts.get(job, 0))
        yield from (runs, records, success, first, interval, held_family, open_conflicts)

    def _read(self) -> tuple[dict[tuple[str, str], dict[str, Any]], set[str], dict[str, int]]:
        path = self.config.state_path
        if not path.exists():
            return {}, set(), {}
        state = State.open_readonly(path)
        try:
            if not state.initialised:
                return {}, set(), {}
            with self._lock:
                through = state.finished_through(self._through)
                if through < self._through:  # another state file: start again
                    self._kept, self._through = {}, 0
                if through > self._through:
                    self._kept = _merge(self._kept, state.run_totals(self._through, through))
                    self._through = through
                totals = _merge(self._kept, state.run_totals(through))
            held = {row["system"] for row in state.all_health() if row["status"] == "held"}
            return totals, held, state.count_open_conflicts()
        finally:
            state.close()


def _merge(kept: dict[tuple[str, str], dict[str, Any]], rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    out = {key: {**entry, "counts": dict(entry["counts"])} for key, entry in kept.items()}
    for row in rows:
        key = (row["job"], row["status"])
        if key not in out:
            out[key] = {**row, "counts": dict(row["counts"])}
            continue
        entry = out[key]
        entry["runs"] += row["runs"]
        for action, n in row["counts"].items():
            entry["counts"][action] = entry["counts"].get(action, 0) + n
        entry["first_started_at"] = min(filter(None, (entry["first_started_at"], row["first_started_at"])), default=None)
        entry["last_finished_at"] = max(filter(None, (entry["last_finished_at"], row["last_finished_at"])), default=None)
    return out


def _timestamp(iso: str | None) -> float:
    return datetime.fromisoformat(iso).timestamp() if iso else 0.0


def schedule_interval(job: JobConfig, now: datetime | None = None) -> float | None:
    """Seconds between the job's runs: ``every``, or for ``cron`` the gap between its next two runs."""
    if job.every:
        return float(job.every)
    trigger = trigger_for(job)
    if trigger is None:
        return None
    now = now or datetime.now(timezone.utc)
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
    return (second - first).total_seconds() if first and second else None


def build_registry(config: Config) -> tuple[CollectorRegistry, EventMetrics, StateCollector]:
    """A fresh registry holding every hostsync family."""
    registry = CollectorRegistry()
    events = EventMetrics(registry)
    state = StateCollector(config)
    registry.register(state)
    return registry, events, state


def render(config: Config) -> str:
    """The metrics as the Prometheus text format, once (``hostsync metrics``)."""
    return generate_latest(build_registry(config)[0]).decode()


def write_textfile(registry: CollectorRegistry, path: Path) -> None:
    """Write the metrics to ``path`` atomically: a temporary file beside it (not ``*.prom``, so
    node_exporter skips it), made readable to node_exporter, flushed to disk, then renamed over it.
    A failure leaves the previous file as it was."""
    data = generate_latest(registry)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), TEXTFILE_MODE)
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class Exporter:
    """The daemon's metrics: counts this process's events, writes the textfile, serves HTTP."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.registry, self.events, self.state = build_registry(config)
        self._server: Any = None
        self._listening: tuple[str, int] | None = None
        self._last_error: str | None = None

    def start(self) -> None:
        """Count events from now on and serve ``metrics_listen`` if configured."""
        _attach(self.events)
        listen = self.config.metrics_listen
        if listen:
            try:
                self._server, _ = start_http_server(listen[1], listen[0], registry=self.registry)
            except OSError as exc:
                raise ConfigError(f"cannot serve metrics on {format_listen(listen)}: {exc.strerror or exc}",
                                  file=str(self.config.path), key="hostsync.metrics_listen") from None
            self._listening = listen
            log.info("serving metrics on http://%s/metrics", format_listen(listen))

    def reconfigure(self, config: Config) -> None:
        """Take a reloaded configuration (the listening address changes only with a restart)."""
        self.config = config
        self.state.config = config
        if config.metrics_listen != self._listening:
            log.warning("metrics_listen changed; restart hostsync to serve metrics on the new address")

    def write(self) -> None:
        """Write ``metrics_textfile`` if configured; a failure is logged (once until it changes), never raised."""
        path = self.config.metrics_textfile
        if path is None:
            return
        try:
            write_textfile(self.registry, path)
        except Exception as exc:  # metrics must never stop the jobs
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
            message = f"cannot write metrics to {path}: {why}"
            if message != self._last_error:
                log.error("%s", message)
            self._last_error = message
            return
        if self._last_error:
            log.info("metrics written to %s again", path)
        self._last_error = None

    def close(self) -> None:
        _attach(self.events, attached=False)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
