"""Metrics benchmark: what one collection costs as the runs table grows.

    python bench/metrics.py                       # 10k, 100k and 500k runs over 8 jobs
    python bench/metrics.py --sizes 100000

For each size it fills a fresh state file with finished runs (8 jobs; 500k runs is about ten months
of 8 jobs every 5 minutes), then times: the first collection (what `hostsync metrics` pays, and the
daemon once after it starts), and a collection after one more run (what the daemon pays after each
run and per scrape: finished runs are kept, only newer ones are read).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from hostsync.config import Config
from hostsync.metrics import StateCollector
from hostsync.state import State, now

JOBS = [f"job{i}" for i in range(8)]
ACTIONS = ("created", "updated", "deleted", "adopted", "unchanged", "deferred", "conflicts", "failed")


def fill(state: State, runs: int, rng: random.Random) -> None:
    rows = []
    for i in range(runs):
        counts = {action: 0 for action in ACTIONS}
        counts.update(created=rng.randint(0, 3), updated=rng.randint(0, 5), unchanged=rng.randint(0, 1000))
        rows.append((JOBS[i % len(JOBS)], 1, now(), now(), "failed" if rng.random() < 0.05 else "ok", 0,
                     str(counts).replace("'", '"'), None))
    with state.atomic():
        state.db.conn.executemany("INSERT INTO runs (job, pid, started_at, finished_at, status, dry_run, counts, "
                                  "error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def collect(collector: StateCollector) -> float:
    registry = CollectorRegistry()
    registry.register(collector)
    started = time.perf_counter()
    generate_latest(registry)
    return time.perf_counter() - started


def measure(runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hostsync.db"
        with State.open(path) as state:
            fill(state, runs, random.Random(runs))
            config = Config(Path(folder) / "hostsync.toml", path, "info", None, {}, {})
            collector = StateCollector(config)
            first = collect(collector)
            run = state.start_run("job0")
            state.finish_run(run, "ok", {"created": 1})
            steady = min(collect(collector) for _ in range(5))
    return {"runs": runs, "first_ms": first * 1000, "steady_ms": steady * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,500000")
    args = parser.parse_args()
    print(f"{'runs':>8}  {'first collection':>17}  {'after one more run':>19}")
    for size in (int(s) for s in args.sizes.split(",")):
        result = measure(size)
        print(f"{result['runs']:>8}  {result['first_ms']:>14.1f} ms  {result['steady_ms']:>16.2f} ms")


if __name__ == "__main__":
    main()
