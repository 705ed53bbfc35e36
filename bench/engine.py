"""Engine benchmark: initial sync, no-op re-sync and 1 % changed, at 10k and 100k records, plus the
write phase against a target with 20 ms latency per write and ``concurrency = 8``.

    python bench/engine.py              # 10k and 100k, best of 3 runs each
    python bench/engine.py --sizes 10000 --repeat 1
    python bench/engine.py --sizes 10000 --secrets 10 --generated 64   # with secrets to redact

Each size runs in a fresh process so peak RSS is its own. The connectors generate records on the fly
and store nothing but counters, so what is measured is hostsync (engine, state file, hashing), not
an in-memory vendor's data. Prints records/s, engine time per record, writes sent and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

from hostsync import Connector, Operations, Record, Setting, hookimpl
from hostsync.config import load_config
from hostsync.engine import Runtime, sync_job
from hostsync.plugins import load_plugins
from hostsync.redact import register_secret

COUNTRIES = ["DE", "FR", "GB", "NL", "AT", "CH", "US", "ES"]
CHANGED: set[int] = set()  # indexes whose city changed since the initial sync


def client(i: int) -> Record:
    city = f"City {i % 97}" + (" (moved)" if i in CHANGED else "")
    return Record("client", str(i), {
        "email": f"client{i}@example.org", "first_name": f"First{i}", "last_name": f"Last{i}", "company": f"Company {i}",
        "phone": f"+49 30 {i:07d}", "address1": f"Street {i}", "address2": None, "city": city, "state": None,
        "postcode": f"{10000 + i % 89999}", "country": COUNTRIES[i % len(COUNTRIES)], "status": "active"})


class Source(Connector):
    """Lists ``records`` generated clients (no storage)."""

    name = "bench-source"
    kinds = {"client": Operations.of("list", "get")}
    settings = (Setting("records", "int", required=True),)

    def check(self) -> None:
        """Nothing to log in to."""

    def list(self, kind: str, since: Any = None) -> Iterator[Record]:
        return (client(i) for i in range(self.options["records"]))

    def get(self, kind: str, id: str) -> Record | None:
        return client(int(id))


class Target(Connector):
    """Counts writes, optionally taking ``latency`` seconds for each; stores nothing."""

    name = "bench-target"
    kinds = {"client": Operations.of("find", "create", "update")}
    settings = (Setting("latency", "float", default=0.0),)
    lock = threading.Lock()
    writes = 0
    first = last = 0.0

    def check(self) -> None:
        """Nothing to log in to."""

    def find(self, kind: str, key: Mapping[str, Any]) -> list[Record]:
        return []

    def _write(self) -> None:
        started = time.perf_counter()
        if self.options.get("latency"):
            time.sleep(self.options["latency"])
        with Target.lock:
            Target.first = Target.first or started
            Target.last = time.perf_counter()
            Target.writes += 1

    def create(self, kind: str, record: Record) -> str:
        self._write()
        return record.id or ""

    def update(self, kind: str, id: str, record: Record) -> None:
        self._write()


@hookimpl
def hostsync_register_connectors(register):  # noqa: ANN001 - the hook's own signature
    register(Source)
    register(Target)


def config(folder: Path, records: int, latency: float = 0.0, concurrency: int = 8) -> Path:
    path = folder / "hostsync.toml"
    path.write_text(f"""
[hostsync]
state = "state.db"
log_level = "warning"
[systems.source]
plugin = "bench-source"
records = {records}
[systems.target]
plugin = "bench-target"
latency = {latency}
concurrency = {concurrency}
[jobs.clients]
kind = "client"
source = "source"
targets = ["target"]
""")
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(path: Path, plugins: Any) -> dict[str, Any]:
    Target.writes, Target.first, Target.last = 0, 0.0, 0.0
    cfg = load_config(path, plugins)
    started = time.perf_counter()
    with Runtime(cfg, plugins) as rt:
        result = sync_job(rt, "clients")
    seconds = time.perf_counter() - started
    assert result.status == "ok", result
    return {"seconds": seconds, "counts": result.counts, "writes": Target.writes,
            "write_phase": Target.last - Target.first, "rss_mb": peak_rss_mb()}


PHASES = ("initial sync", "no-op re-sync", "1% changed")


def one_size(records: int, repeat: int) -> list[dict[str, Any]]:
    """Initial, no-op and 1 %-changed syncs of ``records`` clients, ``repeat`` times from scratch
    (in its own process); the fastest of each phase is kept, as the least disturbed by the machine."""
    plugins = load_plugins(env={"HOSTSYNC_LOAD_PLUGINS": ""}, extra=[("bench", sys.modules[__name__])])
    best: dict[str, dict[str, Any]] = {}
    for _ in range(repeat):
        CHANGED.clear()
        with tempfile.TemporaryDirectory() as folder:
            path = config(Path(folder), records)
            for phase in PHASES:
                if phase == "1% changed":
                    CHANGED.update(range(0, records, 100))
                figures = run(path, plugins)
                expected = {"initial sync": records, "no-op re-sync": 0, "1% changed": len(CHANGED)}[phase]
                row = {"records": records, "phase": phase, **figures, "expected_writes": expected}
                if phase not in best or row["seconds"] < best[phase]["seconds"]:
                    best[phase] = row
    return [best[phase] for phase in PHASES]


def latency(records: int = 2000) -> dict[str, Any]:
    plugins = load_plugins(env={"HOSTSYNC_LOAD_PLUGINS": ""}, extra=[("bench", sys.modules[__name__])])
    with tempfile.TemporaryDirectory() as folder:
        figures = run(config(Path(folder), records, latency=0.020, concurrency=8), plugins)
    return {"records": records, **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the fastest of each phase is shown")
    parser.add_argument("--secrets", type=int, default=0,
                        help="secrets registered with the redactor, as a config holding that many would")
    parser.add_argument("--generated", type=int, default=0,
                        help="passwords registered as made up by a connector (the redactor keeps the last 64)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--latency-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    for n in range(args.secrets + args.generated):  # every value written to the state is checked against each
        register_secret(secrets.token_urlsafe(24), keep=n < args.secrets)
    if args.child:
        print(json.dumps(one_size(args.child, args.repeat)))
        return
    if args.latency_child:
        print(json.dumps(latency()))
        return

    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        child = subprocess.run([sys.executable, __file__, "--child", str(size), "--repeat", str(args.repeat),
                                "--secrets", str(args.secrets), "--generated", str(args.generated)],
                               capture_output=True, text=True, check=True)
        rows.extend(json.loads(child.stdout))
    print(f"{'records':>8} {'phase':<14} {'seconds':>8} {'records/s':>10} {'µs/record':>10} {'writes':>7} "
          f"{'expected':>8} {'peak RSS':>9}")
    for row in rows:
        rate = row["records"] / row["seconds"]
        print(f"{row['records']:>8} {row['phase']:<14} {row['seconds']:>8.2f} {rate:>10,.0f} "
              f"{1e6 * row['seconds'] / row['records']:>10.1f} {row['writes']:>7} {row['expected_writes']:>8} "
              f"{row['rss_mb']:>7.1f}MB")
    sizes = sorted({r["records"] for r in rows})
    if len(sizes) > 1:
        small, large = (max(r["rss_mb"] for r in rows if r["records"] == s) for s in (sizes[0], sizes[-1]))
        print(f"peak RSS {sizes[0]} -> {sizes[-1]} records: {small:.1f}MB -> {large:.1f}MB ({large / small:.2f}x)")
    child = subprocess.run([sys.executable, __file__, "--latency-child"], capture_output=True, text=True, check=True)
    lat = json.loads(child.stdout)
    rate = lat["writes"] / lat["write_phase"]
    print(f"20 ms per write, concurrency 8: {lat['writes']} writes in {lat['write_phase']:.2f}s = {rate:.0f} writes/s "
          f"({100 * rate / 400:.0f}% of the 400 writes/s latency and concurrency allow)")


if __name__ == "__main__":
    main()
