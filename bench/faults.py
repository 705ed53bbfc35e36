"""The engine's promises under real faults, measured against the sandboxes on loopback.

    python bench/faults.py                      # everything (a few minutes)
    python bench/faults.py credentials sigint   # some of: credentials convergence sigint rss
    python bench/faults.py --quick              # concurrency 16 only, 50 records instead of 200

* credentials: requests a wrong credential gets refused across `hostsync check`, `sync JOB`,
  `sync --all` and three daemon runs, in two orders, per plugin and concurrency (must be 1).
* convergence: duplicates, lost records and runs until converged, with 10 % of every call to both
  sandboxes failing in mixed ways (503, empty 500, 5xx after applying, lost replies, writes applied
  after the client gave up, stalls, 429), for WHMCS -> Blesta clients+invoices and WHMCS -> ISPConfig
  clients+domains.
* sigint: seconds from SIGINT (and SIGTERM) to the exit of a rate-limited `hostsync sync`, its exit
  code and the run's recorded status.
* rss: peak RSS of `hostsync sync` when WHMCS answers a listing with a 200 MB reply.

The scenario functions are also used by tests/end_to_end/test_faults.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from hostsync.cli.config_cmd import to_toml
from hostsync.config import load_config
from hostsync.daemon import Daemon
from hostsync.demo import demo_config
from hostsync.engine import RetryPolicy, Runtime, order_jobs, sync_job
from hostsync.model import KINDS, Record, normalise
from hostsync.plugins import _import_file, load_plugins
from hostsync.sandbox import Fault, Sandbox
from hostsync.testing import HostsyncProject

ROOT = Path(__file__).resolve().parent.parent
PLUGINS_DIR = ROOT / "tests" / "support" / "plugins"
#: plugin -> (sandbox, system table, the setting that holds its credential, a kind it writes)
CREDENTIALS = {
    "whmcs": ("whmcs", "billing", "secret", "client"),
    "wbteampro": ("whmcs", "teampro", "password", "project"),
    "blesta": ("blesta", "blesta", "key", "client"),
    "ispconfig soap": ("ispconfig", "panel", "password", "client"),
    "ispconfig json": ("ispconfig", "panel-json", "password", "client"),
    "proworkflow": ("proworkflow", "proworkflow", "password", "client"),
    "webwork": ("webwork", "webwork", "token", "project"),
}
ORDERS = (("check", "sync", "sync --all", "daemon", "daemon", "daemon"),
          ("daemon", "daemon", "daemon", "sync --all", "sync", "check"))
#: (name, WHMCS source kinds, target system) of the convergence scenarios
CONVERGENCE = (("WHMCS -> Blesta clients+invoices", ("client", "invoice"), "blesta"),
               ("WHMCS -> ISPConfig clients+domains", ("client", "domain"), "panel"))
TIMEOUT = 0.5  # a stalled call is given up quickly; the settle delay is twice that


@contextmanager
def sandbox(name: str, seed: int | None = 1) -> Iterator[Sandbox]:
    box = load_plugins().sandboxes[name](seed=seed)
    with box:
        yield box


def memory_vendor(name: str) -> Any:
    """The test vendor ``name`` of the memory plugin, as the plugin loader sees it."""
    return _import_file(PLUGINS_DIR / "memory.py").vendor(name)


# -- credentials ----------------------------------------------------------------------------------

def refused(plugin: str, concurrency: int, order: tuple[str, ...] = ORDERS[0], records: int = 40) -> int:
    """Requests refused to a wrong credential of ``plugin`` over the steps of ``order``."""
    vendor, table, secret, kind = CREDENTIALS[plugin]
    with sandbox(vendor) as box, tempfile.TemporaryDirectory() as folder:
        project = HostsyncProject(Path(folder), plugins_dir=PLUGINS_DIR)
        crm = f"crm-{plugin.replace(' ', '-')}-{concurrency}-{os.getpid()}-{time.monotonic_ns()}"
        source = memory_vendor(crm)
        for n in range(records):
            source.put(kind, {"email": f"p{n}@example.org", "first_name": f"P{n}", "last_name": "Q", "country": "DE",
                              "status": "active"} if kind == "client" else {"name": f"Project {n}", "status": "active"})
        target = {k: v for k, v in box.systems()[table].items() if k != "shares_ids_with"}
        project.systems = {"crm": {"plugin": "memory", "vendor": crm},
                           "target": {**target, secret: "not-the-credential", "concurrency": concurrency,
                                      "timeout": 5}}
        project.job("records", kind=kind, source="crm", targets=["target"])
        project.write()
        box.reset_calls()
        daemon = None
        for step in order:
            if step == "daemon":  # one daemon, its runs sharing its gates, as the scheduler runs them
                daemon = daemon or Daemon(project.config_path, None, -2)
                daemon._run_job("records")
            else:
                project.cli(*step.split(), write=False)
        return len(box.log)  # only this system calls the sandbox, and every call carries the wrong credential


def bench_credentials(concurrencies: tuple[int, ...]) -> None:
    print("\nRequests refused per wrong credential (check, sync, sync --all, 3 daemon runs; two orders)")
    print(f"{'plugin':16}" + "".join(f"{'concurrency ' + str(c):>17}" for c in concurrencies))
    for plugin in CREDENTIALS:
        cells = [max(refused(plugin, c, order) for order in ORDERS) for c in concurrencies]
        print(f"{plugin:16}" + "".join(f"{n:>17}" for n in cells))


# -- convergence under mixed faults ---------------------------------------------------------------

def mixed_faults(rate: float) -> list[Fault]:
    """Faults on ``rate`` of all calls, split evenly among seven ways a vendor misbehaves."""
    p = rate / 7
    json_error = '{"result": "error", "message": "Internal Server Error"}'
    return [Fault("error", status=503, body="maintenance", probability=p, times=None),
            Fault("error", status=500, body="", probability=p, times=None),
            Fault("applied_error", status=500, body=json_error, content_type="application/json",
                  probability=p, times=None),
            Fault("lost_reply", probability=p, times=None),
            Fault("applied_late", delay=TIMEOUT * 1.5, probability=p, times=None),
            Fault("timeout", delay=TIMEOUT * 1.5, probability=p, times=None),
            Fault("rate_limit", retry_after=0.2, probability=p, times=None)]


def grow(rt: Runtime, kinds: tuple[str, ...], records: int) -> None:
    """Add clients (and an invoice or a domain each) to WHMCS through its API, up to ``records``."""
    whmcs = rt.connector("billing")
    have = sum(1 for _ in whmcs.list("client"))
    for n in range(have, records):
        cid = whmcs.create("client", Record("client", None, {
            "email": f"bench{n}@example.org", "first_name": f"Bench{n}", "last_name": "Client", "address1": f"Ring {n}",
            "city": "Köln", "postcode": "50667", "country": "DE", "phone": f"+49 221 {n:04d}", "status": "active"}))
        if "invoice" in kinds:
            whmcs.create("invoice", Record("invoice", None, {
                "issued_on": "2026-03-01", "due_on": "2026-03-15", "status": "unpaid", "currency": "EUR",
                "lines": [{"description": f"Hosting {n}", "quantity": "1", "unit_price": "9.90", "taxed": False}]},
                {"client": cid}))
        if "domain" in kinds:
            whmcs.create("domain", Record("domain", None, {"name": f"bench{n}.example", "status": "active"},
                                          {"client": cid}))


def census(rt: Runtime, kinds: tuple[str, ...], target: str) -> tuple[int, int, int]:
    """(WHMCS records, duplicates, lost): target records beyond one per WHMCS record, and WHMCS records
    with no copy."""
    total = dupes = lost = 0
    for kind in kinds:
        key = KINDS[kind].natural_key[0] if KINDS[kind].natural_key else None
        links = {link.id: link.peer_id for link in rt.state.iter_links(kind, "billing", target)}
        theirs = {r.id: normalise(r) for r in rt.connector(target).list(kind)}
        ours = [r.id for r in rt.connector("billing").list(kind)]
        total += len(ours)
        lost += sum(1 for rid in ours if links.get(rid) not in theirs)
        if key:  # a natural key tells copies apart; else every unlinked record in the target is one too many
            values = [r.value(key) for r in theirs.values()]
            dupes += len(values) - len(set(values))
        else:
            dupes += len(set(theirs) - set(links.values()))
    return total, dupes, lost


def converge(kinds: tuple[str, ...], target: str, rate: float = 0.10, records: int = 200,
             max_runs: int = 15) -> dict[str, Any]:
    """Sync WHMCS into ``target`` under ``rate`` mixed faults until every record has exactly one copy."""
    plugins = load_plugins()
    boxes: dict[str, Sandbox] = {}
    with tempfile.TemporaryDirectory() as folder:
        try:
            for name in ("whmcs", "blesta", "ispconfig"):
                boxes[name] = load_plugins().sandboxes[name](seed=7 if name == "whmcs" else None).start()
            data = demo_config(boxes)
            systems = {name: {**data["systems"][name], "timeout": TIMEOUT} for name in ("billing", target)}
            jobs = {f"{kind}s": {"kind": kind, "source": "billing", "targets": [target]} for kind in kinds}
            path = Path(folder) / "hostsync.toml"
            path.write_text(to_toml({"hostsync": {"state": "hostsync.db", "log_level": "error"},
                                     "systems": systems, "jobs": jobs}))
            config = load_config(path, plugins)
            names = order_jobs(config, config.jobs)
            with Runtime(config, plugins) as rt:
                grow(rt, kinds, records)
            for box in boxes.values():
                for fault in mixed_faults(rate):
                    box.inject(fault)
            policy = RetryPolicy(attempts=4, base=0.05, cap=0.5)
            runs, worst = 0, 0
            while runs < max_runs:
                runs += 1
                with Runtime(config, plugins, policy=policy) as rt:
                    results = [sync_job(rt, name) for name in names]
                saved = {name: list(box.faults) for name, box in boxes.items()}
                for box in boxes.values():
                    box.clear_faults()  # the census reads without faults
                with Runtime(config, plugins) as rt:
                    total, dupes, lost = census(rt, kinds, target)
                    pending = rt.state.count_intents()
                for name, box in boxes.items():
                    box.faults.extend(saved[name])
                worst = max(worst, dupes)
                if not lost and not pending and all(r.counts["failed"] == r.counts["unknown"] == 0 for r in results):
                    break
            injected = sum(1 for box in boxes.values() for call in box.log if call["fault"])
            return {"duplicates": worst, "lost": lost, "runs": runs, "faults": injected, "records": total}
        finally:
            for box in boxes.values():
                box.stop()


def bench_convergence(records: int) -> None:
    print(f"\nConvergence with 10 % mixed faults on every call ({records} WHMCS clients, one more record each)")
    print(f"{'scenario':36}{'records':>9}{'faults':>8}{'duplicates':>12}{'lost':>6}{'runs':>6}")
    for name, kinds, target in CONVERGENCE:
        r = converge(kinds, target, records=records)
        print(f"{name:36}{r['records']:>9}{r['faults']:>8}{r['duplicates']:>12}{r['lost']:>6}{r['runs']:>6}")


# -- stopping, and a huge reply -------------------------------------------------------------------

@contextmanager
def whmcs_to_blesta(folder: Path, records: int, **target: Any) -> Iterator[tuple[Path, dict[str, Sandbox]]]:
    """A config syncing WHMCS clients into Blesta (with ``target`` settings), the sandboxes running."""
    plugins = load_plugins()
    boxes = {"whmcs": plugins.sandboxes["whmcs"](seed=7).start(), "blesta": plugins.sandboxes["blesta"]().start()}
    try:
        data = demo_config(boxes)
        path = folder / "hostsync.toml"
        path.write_text(to_toml({"hostsync": {"state": "hostsync.db", "log_level": "warning"},
                                 "systems": {"billing": data["systems"]["billing"],
                                             "blesta": {**data["systems"]["blesta"], **target}},
                                 "jobs": {"clients": {"kind": "client", "source": "billing", "targets": ["blesta"]}}}))
        with Runtime(load_config(path, plugins), plugins) as rt:
            grow(rt, ("client",), records)
        yield path, boxes
    finally:
        for box in boxes.values():
            box.stop()


def hostsync(path: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTSYNC_")}
    return subprocess.Popen([sys.executable, "-m", "hostsync", "--config", str(path), *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop_time(signals: tuple[int, ...], records: int = 200, writes: int = 5, stall: float = 0.0) -> dict[str, Any]:
    """Seconds from the first of ``signals`` (sent 0.1 s apart) to the exit of a rate-limited sync;
    with ``stall``, the creates in flight then take that long to be answered."""
    with tempfile.TemporaryDirectory() as folder, \
            whmcs_to_blesta(Path(folder), records, rate_limit="4/s", concurrency=4) as (path, boxes):
        process = hostsync(path, "sync", "clients")
        while process.poll() is None and boxes["blesta"].calls["clients/create"] < writes:
            time.sleep(0.01)
        if stall:
            boxes["blesta"].inject(Fault("timeout", match="clients/create", delay=stall, times=None))
            while process.poll() is None and boxes["blesta"].calls["clients/create"] < writes + 1:
                time.sleep(0.01)
        started = time.monotonic()
        for i, signum in enumerate(signals):
            if i:
                time.sleep(0.1)
            process.send_signal(signum)
        process.wait(timeout=120)
        seconds = time.monotonic() - started
        runs = subprocess.run([sys.executable, "-m", "hostsync", "--config", str(path), "runs", "--json"],
                              capture_output=True, text=True).stdout
        status = json.loads(runs)[0]["status"] if runs.startswith("[") else "?"
        return {"seconds": seconds, "code": process.returncode, "status": status}


def bench_sigint() -> None:
    print("\nStopping a rate-limited sync (4 writes/s to Blesta) after its 5th write")
    print(f"{'signal':40}{'seconds to exit':>16}{'exit code':>11}  run recorded as")
    for label, signals, stall in (("SIGINT", (signal.SIGINT,), 0.0), ("SIGTERM", (signal.SIGTERM,), 0.0),
                                  ("SIGINT, a create in flight takes 5 s", (signal.SIGINT,), 5.0),
                                  ("SIGINT twice, a create in flight takes 5 s", (signal.SIGINT, signal.SIGINT), 5.0)):
        r = stop_time(signals, stall=stall)
        print(f"{label:40}{r['seconds']:>16.2f}{r['code']:>11}  {r['status']}")


def peak_rss(reply: int) -> dict[str, Any]:
    """Peak RSS (MiB) of a `hostsync sync` whose first WHMCS listing page is a ``reply``-byte reply."""
    with tempfile.TemporaryDirectory() as folder, whmcs_to_blesta(Path(folder), 0) as (path, boxes):
        if reply:
            boxes["whmcs"].inject(Fault("oversized", match="GetClients", size=reply, times=None))
        # a wrapper process runs the sync and reports its child's peak RSS alone
        wrapper = ("import resource, subprocess, sys; "
                   "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
                   "'max_reply_size' in p.stderr)")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTSYNC_")}
        out = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "hostsync", "--config", str(path),
                              "sync", "clients"], env=env, capture_output=True, text=True, timeout=300).stdout
        code, rss, refused = out.split()
        return {"rss": int(rss) / 1024, "code": int(code), "refused": refused == "True"}


def bench_rss() -> None:
    print("\nPeak RSS of `hostsync sync` (max_reply_size 32 MiB, the default)")
    print(f"{'WHMCS GetClients reply':24}{'peak RSS MiB':>14}{'exit code':>11}  refused")
    for label, size in (("normal (12 clients)", 0), ("200 MB", 200 * 1000 ** 2)):
        r = peak_rss(size)
        print(f"{label:24}{r['rss']:>14.0f}{r['code']:>11}  {'yes' if r['refused'] else 'no'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parts", nargs="*", default=["credentials", "convergence", "sigint", "rss"])
    parser.add_argument("--quick", action="store_true", help="concurrency 16 only, 50 records")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # the runs' own messages (faults, holds, lossy values) would drown the table
    if "credentials" in args.parts:
        bench_credentials((16,) if args.quick else (1, 4, 16))
    if "convergence" in args.parts:
        bench_convergence(50 if args.quick else 200)
    if "sigint" in args.parts:
        bench_sigint()
    if "rss" in args.parts:
        bench_rss()


if __name__ == "__main__":
    main()
