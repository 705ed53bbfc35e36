"""ProWorkflow: calls per run for 1,000 unchanged projects (full and incremental), and the request rate
hostsync achieves against the vendor's allowance (500 requests per 30 s per API key) under a backlog.

    python bench/proworkflow.py                     # the real allowance: a 30 s window (takes ~70 s)
    python bench/proworkflow.py --window 6 --limit 100 --rate 16/s --backlog 400   # scaled down

Both parts run the real engine against the sandbox on loopback. The other side of each job is a
throw-away connector that stores records in memory (``bench-side``), so every call counted is a
ProWorkflow call. The rate part creates ``--backlog`` projects in ProWorkflow with the connector's
default rate limit (or ``--rate``) and prints what the sandbox saw: requests per window, the most in
any sliding window, the rate achieved as a share of the allowance, and the 429s (there should be none).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta
from bisect import bisect_left
from pathlib import Path
from typing import Any, Iterator, Mapping

from hostsync import Connector, Operations, Record, Setting, hookimpl
from hostsync.config import load_config
from hostsync.engine import Runtime, sync_job
from hostsync.plugins import load_plugins
from hostsync.sandbox import Request, Response
from hostsync_proworkflow.client import ProWorkflowClient
from hostsync_proworkflow.sample import account_setup
from hostsync_proworkflow.sandbox import ProWorkflowSandbox

PROJECT_FIELDS = ("name", "status", "start_on", "due_on", "description")


class Side(Connector):
    """The other side of a job: ``records`` generated projects to read, anything written kept in memory."""

    name = "bench-side"
    kinds = {"project": Operations.of("list", "get", "find", "create", "update", fields=PROJECT_FIELDS)}
    settings = (Setting("records", "int", default=0),)
    stored_records: dict[str, Record] = {}

    def check(self) -> None:
        """Nothing to log in to."""

    def list(self, kind: str, since: Any = None) -> Iterator[Record]:
        return (self.get(kind, str(i)) for i in range(self.options["records"]))  # type: ignore[misc]

    def get(self, kind: str, id: str) -> Record | None:
        return Record("project", id, {"name": f"Backlog project {id}", "status": "active", "start_on": "2025-04-01",
                                      "due_on": None, "description": f"Imported #{id}"})

    def find(self, kind: str, key: Mapping[str, Any]) -> list[Record]:
        return []

    def create(self, kind: str, record: Record) -> str:
        Side.stored_records[str(len(Side.stored_records) + 1)] = record
        return str(len(Side.stored_records))

    def update(self, kind: str, id: str, record: Record) -> None:
        Side.stored_records[id] = record


@hookimpl
def hostsync_register_connectors(register):  # noqa: ANN001 - the hook's own signature
    register(Side)


class TimedSandbox(ProWorkflowSandbox):
    """The sandbox, noting when each request arrived and what it answered."""

    def __init__(self, seed: int | None = None) -> None:
        self.arrivals: list[tuple[float, int]] = []
        super().__init__(seed)

    def handle(self, request: Request) -> Response:
        response = super().handle(request)
        self.arrivals.append((time.monotonic(), response.status))
        return response


def write_config(folder: Path, box: ProWorkflowSandbox, job: str, rate: str | None, records: int = 0) -> Path:
    system = box.systems()["proworkflow"]
    lines = ["[hostsync]", 'state = "state.db"', 'log_level = "warning"', "[systems.pwf]"]
    lines += [f'{k} = "{v}"' for k, v in system.items()]
    lines += ["timeout = 10"] + ([f'rate_limit = "{rate}"'] if rate else [])
    lines += ["[systems.side]", 'plugin = "bench-side"', f"records = {records}"]
    source, target = ("pwf", "side") if job == "read" else ("side", "pwf")
    lines += ["[jobs.projects]", 'kind = "project"', f'source = "{source}"', f'targets = ["{target}"]']
    path = folder / "hostsync.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def unchanged_projects(plugins: Any, count: int) -> None:
    """Calls per run of a job reading ``count`` unchanged ProWorkflow projects."""
    data = account_setup()
    base = datetime(2025, 3, 1, 10, 0, 0)  # edited over the last weeks, one every 30 minutes
    data["projects"] = [{"id": i, "title": f"Project {i}", "number": f"P{i:05d}", "status": "active",
                         "startdate": "2025-03-01", "description": "",
                         "modified": (base - timedelta(minutes=30 * i)).strftime("%Y-%m-%dT%H:%M:%S")}
                        for i in range(1, count + 1)]
    with ProWorkflowSandbox() as box, tempfile.TemporaryDirectory() as folder:
        box.load(data)
        config = load_config(write_config(Path(folder), box, "read", None), plugins)
        print(f"{count} unchanged projects, ProWorkflow -> memory ({ProWorkflowClient.page_size} rows a page):")
        for label, full in (("initial sync", True), ("unchanged, full scan", True), ("unchanged, incremental", False)):
            box.reset_calls()
            with Runtime(config, plugins) as rt:
                result = sync_job(rt, "projects", full=full)
            calls = sum(box.calls.values())
            print(f"  {label:24} {calls:3} ProWorkflow calls  {dict(box.calls)}  {result.counts}")


def rate(plugins: Any, backlog: int, window: float, limit: int, rate_limit: str | None) -> None:
    """Create ``backlog`` projects in ProWorkflow as fast as hostsync will; report what the vendor saw."""
    with TimedSandbox() as box, tempfile.TemporaryDirectory() as folder:
        box.load({**account_setup(), "config": {**account_setup()["config"], "rate_limit": limit, "window": window}})
        config = load_config(write_config(Path(folder), box, "write", rate_limit, backlog), plugins)
        effective = config.systems["pwf"].rate_limit
        print(f"\n{backlog} new projects into ProWorkflow; allowance {limit} per {window:g} s, hostsync rate_limit "
              f"{effective.text if effective else 'none'}, concurrency {config.systems['pwf'].concurrency}:")
        started = time.monotonic()
        with Runtime(config, plugins) as rt:
            result = sync_job(rt, "projects")
        took = time.monotonic() - started
        times = [t for t, _ in box.arrivals]
        statuses = [s for _, s in box.arrivals]
        first = times[0]
        per_window: dict[int, int] = {}
        for t in times:
            per_window[int((t - first) // window)] = per_window.get(int((t - first) // window), 0) + 1
        sliding = max(bisect_left(times, t + window) - i for i, t in enumerate(times))
        span = times[-1] - first
        full_windows = [n for w, n in per_window.items() if w < max(per_window)]
        print(f"  {result.counts['created']} created in {took:.1f} s; {len(times)} requests, "
              f"{statuses.count(429)} answered 429")
        print(f"  requests per {window:g} s window: {[per_window[w] for w in sorted(per_window)]}")
        print(f"  most in any sliding {window:g} s: {sliding} (allowance {limit})")
        if full_windows:
            mean = sum(full_windows) / len(full_windows)
            print(f"  complete windows: {mean:.1f} requests on average = {100 * mean / limit:.1f} % of the allowance")
        achieved = (len(times) - 1) / span * window
        print(f"  overall: {achieved:.1f} per {window:g} s = {100 * achieved / limit:.1f} % of the allowance "
              "(first to last request)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=1000, help="unchanged projects to read")
    parser.add_argument("--backlog", type=int, default=1000, help="projects to create for the rate")
    parser.add_argument("--window", type=float, default=30.0, help="the sandbox's rate-limit window (s)")
    parser.add_argument("--limit", type=int, default=500, help="requests allowed per window")
    parser.add_argument("--rate", help="hostsync's rate_limit for ProWorkflow (default: the connector's)")
    args = parser.parse_args()
    plugins = load_plugins(extra=[("bench", sys.modules[__name__])])
    unchanged_projects(plugins, args.projects)
    rate(plugins, args.backlog, args.window, args.limit, args.rate)


if __name__ == "__main__":
    main()
