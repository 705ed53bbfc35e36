"""WebWork under its limit of 60 requests a minute: calls, minutes and the rate achieved, with zero 429s.

    python bench/webwork.py              # time scaled 10x: a WebWork minute lasts 6 s (about a minute in all)
    python bench/webwork.py --scale 1    # the real limit (about 10 minutes)

Scaling is faithful: the sandbox enforces 60 requests per 60/K s (and says so in its rate-limit
headers), and the engine's token bucket runs on a clock K times faster, so it keeps its burst of one
and its 58 per (scaled) minute. Every request takes a token (list pages are calls of their own; the
read before an update is paced inside its call). Minutes are printed in WebWork minutes.

1. 150 new tasks: wbTeamPro -> WebWork (one create each).
2. 1,000 tasks in 10 projects, WebWork -> elsewhere: what a run costs when nothing changed, and what
   a wbTeamPro -> WebWork run costs WebWork when nothing changed.
3. 31 days x 10 members of time entries (weekdays, two entries a day): the first run, an
   incremental one, and the first run without the tracked-hours report.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping

from hostsync import Connector, Operations, Record, hookimpl
from hostsync.cli.config_cmd import to_toml
from hostsync.config import load_config
from hostsync.engine import Runtime, make_gates, sync_job
from hostsync.engine.calls import TokenBucket
from hostsync.plugins import load_plugins
from hostsync_webwork.connector import WebWorkConnector
from hostsync_webwork.sandbox import WebWorkSandbox
from hostsync_whmcs.sandbox import WhmcsSandbox

WS = WebWorkSandbox.WORKSPACE
LIMIT = 60


class Sink(Connector):
    """A target that stores nothing: what is measured is WebWork's side."""

    name = "bench-sink"
    kinds = {"task": Operations.of("find", "create", "update", fields=("name", "status", "description", "due_on")),
             "time_entry": Operations.of("find", "create", "update", fields=("member", "started_at", "minutes",
                                                                                "note"))}
    ids = itertools.count(1)

    def check(self) -> None:
        """Nothing to log in to."""

    def find(self, kind: str, key: Mapping[str, Any]) -> list[Record]:
        return []

    def create(self, kind: str, record: Record) -> str:
        return str(next(Sink.ids))

    def update(self, kind: str, id: str, record: Record) -> None:
        pass


@hookimpl
def hostsync_register_connectors(register):  # noqa: ANN001 - the hook's own signature
    register(Sink)


class ScaledBucket(TokenBucket):
    """The engine's bucket on a clock ``scale`` times faster: the same arithmetic, in less time."""

    def __init__(self, limit: Any, scale: float) -> None:
        super().__init__(limit, clock=lambda: time.monotonic() * scale)
        self.scale = scale

    def reserve(self) -> float:
        return super().reserve() / self.scale


class Bench:
    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.folder = Path(tempfile.mkdtemp(prefix="hostsync-bench-webwork-"))
        self.plugins = load_plugins(extra=[("bench", sys.modules[__name__])])
        self.webwork = WebWorkSandbox().start()
        self.webwork.set_limit(LIMIT, 60.0 / scale)
        self.whmcs = WhmcsSandbox(seed=1).start()

    def fresh(self) -> None:
        """An empty workspace again, under the scaled limit."""
        self.webwork.reset()
        self.webwork.set_limit(LIMIT, 60.0 / self.scale)

    def close(self) -> None:
        self.webwork.stop()
        self.whmcs.stop()

    def config(self, jobs: dict[str, dict[str, Any]], **webwork: Any) -> Path:
        tables = self.whmcs.systems()
        system = {**self.webwork.systems()["webwork"], "timeout": 10.0, **webwork}
        system.pop("rate_limit", None)  # the connector's default, 58/min, on the scaled clock
        data = {"hostsync": {"state": "state.db", "log_level": "warning"},
                "systems": {"billing": tables["billing"], "teampro": {**tables["teampro"], "members": {
                    "1": "api@example.net", "2": "jane@example.net"}}, "webwork": system, "sink": {"plugin": "bench-sink"}},
                "jobs": jobs}
        path = self.folder / "hostsync.toml"
        path.write_text(to_toml(data))
        return path

    def run(self, path: Path, job: str) -> dict[str, Any]:
        config = load_config(path, self.plugins)
        gates = make_gates(config)
        gates["webwork"].bucket = ScaledBucket(config.systems["webwork"].rate_limit, self.scale)
        self.webwork.reset_calls()
        started = time.monotonic()
        with Runtime(config, self.plugins, gates=gates) as rt:
            result = sync_job(rt, job)
        seconds = time.monotonic() - started
        log = [entry for entry in self.webwork.log if "at" in entry]
        statuses = [entry.get("status") for entry in self.webwork.log]
        window = 60.0 / self.scale
        arrivals = sorted(entry["at"] for entry in log)
        busiest = max((sum(1 for t in arrivals[i:] if t - start < window) for i, start in enumerate(arrivals)),
                      default=0)
        minutes = seconds * self.scale / 60
        return {"job": job, "status": result.status, "counts": result.counts, "calls": len(statuses),
                "refused": statuses.count(429), "minutes": minutes, "busiest": busiest,
                "average": len(statuses) / minutes, "by_call": dict(self.webwork.calls)}


def report(title: str, row: dict[str, Any]) -> None:
    """Calls, WebWork minutes, the most calls that arrived in any one minute (the limit is 60) and
    the calls per minute over the whole run (a run shorter than a few minutes starts with a burst:
    its first minute's calls come at once, so the average can pass 60 while no minute does)."""
    busy = ", ".join(f"{op} {n}" for op, n in sorted(row["by_call"].items(), key=lambda kv: -kv[1]))
    average = row["average"]
    rate = f"average {average:5.1f}/min ({100 * average / LIMIT:5.1f}%)" if row["calls"] > LIMIT else " " * 30
    print(f"{title:<48} {row['calls']:>4} calls {row['minutes']:>5.2f} min  busiest minute {row['busiest']:>2}  "
          f"{rate}  {row['refused']} x 429  [{busy}]")


def tasks_in_teampro(box: WhmcsSandbox, count: int) -> None:
    template = box.state["actions"][3]
    for n in range(count):
        box.state["actions"][1000 + n] = {**template, "id": 1000 + n, "project_id": 1 + n % 4,
                                          "action_name": f"Step {n}"}


def tasks_in_webwork(box: WebWorkSandbox, count: int, projects: int) -> None:
    ids = [box.webwork.api_create_project(WS, 1, {"name": f"Project {p}"})["id"] for p in range(projects)]
    for n in range(count):
        box.webwork.api_create_task(WS, 1, {"project_id": ids[n % projects], "title": f"Task {n}"})


def time_in_webwork(box: WebWorkSandbox, members: int, days: int) -> int:
    project = box.webwork.api_create_project(WS, 1, {"name": "Support retainer"})["id"]
    today = box.webwork.today(WS)
    tracked = 0
    for m in range(members):
        user = 100 + m
        box.webwork.t["users"][user] = {"id": user, "email": f"staff{m}@example.net", "firstname": "Staff",
                                        "lastname": str(m), "token": None, "timezone": "Europe/Berlin"}
        box.webwork.t["members"][(WS, user)] = {"workspace_id": WS, "user_id": user, "role": "Regular User",
                                                "status": "active", "created_at": "2024-09-02T08:00:00Z"}
        for back in range(days):
            on = today - timedelta(days=back)
            if on.weekday() < 5:
                box.webwork.track(WS, user, project, on.isoformat(), "09:00", "12:00", notes="Morning")
                box.webwork.track(WS, user, project, on.isoformat(), "13:00", "17:30", notes="Afternoon")
                tracked += 1
    return tracked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=10.0, help="how many times faster than real time")
    scale = parser.parse_args().scale
    print(f"WebWork limit {LIMIT} requests/min per user; hostsync rate_limit {WebWorkConnector.default_rate_limit} "
          f"for every request; time scaled {scale:g}x (a WebWork minute = {60 / scale:g} s)")
    bench = Bench(scale)
    try:
        tasks_in_teampro(bench.whmcs, 140)  # with the 10 wbTeamPro already has: 150 in 4 projects
        path = bench.config({"projects": {"kind": "project", "source": "teampro", "targets": ["webwork"]},
                             "tasks": {"kind": "task", "source": "teampro", "targets": ["webwork"]}})
        bench.run(path, "projects")
        row = bench.run(path, "tasks")
        assert row["counts"]["created"] == 150, row
        report("1. 150 new tasks wbTeamPro -> WebWork", row)
        report("   a re-run with nothing changed", bench.run(path, "tasks"))

        bench.fresh()
        tasks_in_webwork(bench.webwork, 1000, 10)
        path = bench.config({"out": {"kind": "task", "source": "webwork", "targets": ["sink"]}})
        first = bench.run(path, "out")
        assert first["counts"]["created"] == 1000, first
        report("2. 1,000 tasks WebWork -> elsewhere, first run", first)
        row = bench.run(path, "out")
        assert row["counts"]["unchanged"] == 1000, row
        report("   no-op run", row)

        bench.fresh()
        days = time_in_webwork(bench.webwork, 10, 31)
        path = bench.config({"time": {"kind": "time_entry", "source": "webwork", "targets": ["sink"]}})
        row = bench.run(path, "time")
        assert row["counts"]["created"] == 2 * days, row
        report(f"3. time, 31 days x 10 members ({days} member-days)", row)
        report("   incremental run (from the cursor's day on)", bench.run(path, "time"))
        path = bench.config({"time2": {"kind": "time_entry", "source": "webwork", "targets": ["sink"]}},
                            tracked_hours_report=False)
        report("   first run without the tracked-hours report", bench.run(path, "time2"))
    finally:
        bench.close()


if __name__ == "__main__":
    main()
