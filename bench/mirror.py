"""Mirror benchmark: WHMCS -> Blesta clients against the real sandboxes over loopback, with a delay
injected into every request (the round trip to a vendor), compared with what the vendors allow.

    python bench/mirror.py                                   # 1,000 and 10,000 clients, concurrency 1, 4, 8
    python bench/mirror.py --sizes 1000 --concurrency 8 --repeat 3
    python bench/mirror.py --latency 0.02 --json before.json  # also keep the rows as JSON

Both sandboxes run in a child process of their own (so their CPU is not hostsync's), each answering
every API request ``--latency`` seconds late (``Sandbox.delay``). hostsync runs in this process,
one ``Runtime`` per run as a CLI invocation would, against a fresh state per size and concurrency:

* ``initial``: N clients in WHMCS (with an activity log, as a real install has), an empty Blesta;
* ``no-op``: the same again, nothing changed (incremental: WHMCS's activity log since the cursor);
* ``1%``: one client in a hundred had its city changed in WHMCS by an admin.

For each run it prints the wall time, the calls per vendor action, the *bound* (calls x latency /
concurrency: the least time those calls can take), the *minimum* calls the vendors allow for the
scenario and the bound at that minimum, and the ratios: ``calls/min`` (1.00 is no wasted call) and
``bound/wall`` at the minimum calls (1.00 is as fast as the network allows). Each system has its own
``concurrency`` workers, so the two vendors' calls can overlap and ``bound/wall`` can pass 1.00; the
last column, ``per system``, is the stricter bound: the busier system's minimum calls x latency /
concurrency, over the wall time. With ``--repeat`` each
scenario runs that many times from scratch and the fastest run is shown (the machine is shared).

Minimum calls (WHMCS page size 100, Blesta's fixed 20):

* initial: ``GetClients`` pages + one ``GetClientsDetails`` per client; one ``clients/create`` per
  client, one ``clients/getListCount`` that shows Blesta is empty, and one ``states/getList`` per
  country whose states are written (Blesta takes subdivision codes);
* no-op: one ``GetActivityLog`` page;
* 1 %: the ``GetActivityLog`` pages since the cursor + one ``GetClientsDetails`` per changed client;
  in Blesta a ``clients/get`` (the primary contact's id) and a ``contacts/edit`` per changed client.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

#: (country, states as the WHMCS client holds them); a client's state is picked by its number.
COUNTRIES = [("US", ["California", "New York", "Texas", "Washington"]), ("DE", ["Bayern", "Berlin", "Hessen"]),
             ("GB", ["England", "Scotland"]), ("NL", ["Utrecht", "Noord-Holland"]), ("FR", [""]), ("AT", [""])]
PAGE = {"whmcs": 100, "blesta": 20}


# -- the sandboxes' process -------------------------------------------------------------------------

def whmcs_clients(count: int) -> dict[str, list[dict[str, Any]]]:
    """``count`` WHMCS clients, each with the activity-log entry WHMCS wrote when it was created
    (one an hour, the newest a day ago)."""
    newest = datetime.now() - timedelta(days=1)
    clients, activity = [], []
    for n in range(1, count + 1):
        country, states = COUNTRIES[n % len(COUNTRIES)]
        created = (newest - timedelta(hours=count - n)).strftime("%Y-%m-%d %H:%M:%S")
        clients.append({"id": n, "uuid": f"5a3b1c00-0000-4000-8000-{n:012d}", "firstname": f"First{n}",
                        "lastname": f"Last{n}", "companyname": f"Company {n} Ltd" if n % 3 else "",
                        "email": f"client{n}@example.org", "address1": f"{n} Main Street",
                        "address2": "Suite 5" if n % 7 == 0 else "", "city": f"City {n % 97}",
                        "state": states[n % len(states)], "postcode": f"{10000 + n % 89999}", "country": country,
                        "phonenumber": f"+49.30{n:07d}" if n % 5 else "", "status": "Active",
                        "datecreated": created[:10], "groupid": 0, "currency": 1, "notes": "", "language": "",
                        "tax_id": "", "password_set": True})
        activity.append({"id": n, "clientId": n, "userId": 0, "adminId": 2, "date": created,
                         "description": f"Created Client First{n} Last{n} - User ID: {n}", "username": "jdoe",
                         "ipaddress": "10.0.0.8"})
    return {"clients": clients, "activity": activity}


def serve() -> None:
    """Serve both sandboxes; take commands as JSON lines on stdin, answer on stdout."""
    from hostsync_blesta.sandbox import BlestaSandbox
    from hostsync_whmcs.sandbox import WhmcsSandbox

    whmcs, blesta = WhmcsSandbox().start(), BlestaSandbox().start()
    boxes = {"whmcs": whmcs, "blesta": blesta}
    answer({"systems": {"billing": whmcs.systems()["billing"], "blesta": blesta.systems()["blesta"]}})
    for line in sys.stdin:
        command = json.loads(line)
        if command["do"] == "setup":  # a fresh pair: N clients in WHMCS, an empty Blesta
            whmcs.reset()
            whmcs.load({**whmcs._empty(), **whmcs_clients(command["clients"])})
            blesta.reset()
            for box in boxes.values():
                box.delay = command["latency"]
                box.reset_calls()
            answer({"ok": True})
        elif command["do"] == "change":  # an admin edits one client in a hundred
            changed = range(1, command["clients"] + 1, 100)
            for n in changed:
                whmcs.edit("client", str(n), city=f"Moved {n} {command['round']}")
            answer({"changed": len(changed)})
        elif command["do"] == "calls":  # the calls since the last time asked
            out = {name: dict(box.calls) for name, box in boxes.items()}
            for box in boxes.values():
                box.reset_calls()
            answer(out)
        elif command["do"] == "blesta":  # what Blesta holds
            with blesta.lock:
                clients = blesta.blesta.t["clients"]
                answer({"clients": len(clients)})
    for box in boxes.values():
        box.stop()


def answer(obj: Any) -> None:
    print(json.dumps(obj), flush=True)


class Sandboxes:
    """The child process serving both sandboxes."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        self.systems = self._read()["systems"]

    def ask(self, **command: Any) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read()

    def _read(self) -> Any:
        assert self.process.stdout is not None
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


# -- the minimum calls ------------------------------------------------------------------------------

def minimum(scenario: str, clients: int, changed: int = 0) -> dict[str, int]:
    """Calls per vendor the scenario cannot do without (see the module docstring)."""
    if scenario == "initial":
        countries = sum(1 for _, states in COUNTRIES if any(states))
        return {"whmcs": math.ceil(clients / PAGE["whmcs"]) + clients, "blesta": 1 + clients + countries}
    if scenario == "no-op":
        return {"whmcs": 1, "blesta": 0}
    return {"whmcs": math.ceil((changed + 1) / PAGE["whmcs"]) + changed, "blesta": 2 * changed}


# -- one run ----------------------------------------------------------------------------------------

def config(folder: Path, systems: dict[str, dict[str, Any]], concurrency: int) -> Path:
    from hostsync.cli.config_cmd import to_toml

    data = {"hostsync": {"state": "state.db", "log_level": "error"},
            "systems": {name: {**system, "concurrency": concurrency, "timeout": 30} for name, system in systems.items()},
            "jobs": {"clients": {"kind": "client", "source": "billing", "targets": ["blesta"]}}}
    path = folder / "hostsync.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    return path


def sync(path: Path, plugins: Any, profile: Path | None = None) -> tuple[float, dict[str, int]]:
    """One run of the job, timed (and profiled into ``profile`` when given)."""
    import cProfile

    from hostsync.config import load_config
    from hostsync.engine import Runtime, sync_job

    cfg = load_config(path, plugins)
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    with Runtime(cfg, plugins) as rt:
        result = sync_job(rt, "clients")
    seconds = time.perf_counter() - started
    if profiler and profile:
        profiler.disable()
        profiler.dump_stats(profile)
    if result.status != "ok":
        raise SystemExit(f"the run failed: {result.status} {result.error} {result.counts}")
    return seconds, {k: v for k, v in result.counts.items() if v}


def scenarios(boxes: Sandboxes, plugins: Any, clients: int, concurrency: int, latency: float,
              profile: Path | None = None) -> list[dict[str, Any]]:
    """Initial, no-op and 1 % runs of ``clients`` clients at ``concurrency``, from a fresh state."""
    rows = []
    boxes.ask(do="setup", clients=clients, latency=latency)
    with tempfile.TemporaryDirectory() as folder:
        path = config(Path(folder), boxes.systems, concurrency)
        for scenario in ("initial", "no-op", "1%"):
            changed = boxes.ask(do="change", clients=clients, round=concurrency)["changed"] if scenario == "1%" else 0
            boxes.ask(do="calls")
            where = profile / f"{clients}-c{concurrency}-{scenario.strip('%')}.prof" if profile else None
            seconds, counts = sync(path, plugins, where)
            calls = boxes.ask(do="calls")
            rows.append({"clients": clients, "concurrency": concurrency, "scenario": scenario, "seconds": seconds,
                         "counts": counts, "calls": calls, "minimum": minimum(scenario, clients, changed),
                         "latency": latency})
        held = boxes.ask(do="blesta")["clients"]
        if held != clients:
            raise SystemExit(f"Blesta holds {held} clients, not {clients}")
    return rows


# -- the table --------------------------------------------------------------------------------------

def table(rows: list[dict[str, Any]]) -> None:
    print(f"{'clients':>7} {'conc':>4} {'run':<7} {'wall s':>7} {'calls':>13} {'min':>13} {'calls/min':>9} "
          f"{'bound s':>7} {'min bound s':>11} {'bound/wall':>10} {'per system':>10}")
    for row in rows:
        calls = {name: sum(c.values()) for name, c in row["calls"].items()}
        total, least = sum(calls.values()), sum(row["minimum"].values())
        per = row["latency"] / row["concurrency"]
        bound, least_bound = total * per, least * per
        # each system has its own workers: both vendors' calls may overlap, so the stricter bound is
        # the busier system's minimum calls alone
        system_bound = max(row["minimum"].values()) * per
        print(f"{row['clients']:>7} {row['concurrency']:>4} {row['scenario']:<7} {row['seconds']:>7.2f} "
              f"{calls['whmcs']:>6}+{calls['blesta']:<6} {row['minimum']['whmcs']:>6}+{row['minimum']['blesta']:<6} "
              f"{total / least if least else float(total + 1):>9.2f} {bound:>7.2f} {least_bound:>11.2f} "
              f"{least_bound / row['seconds']:>10.2f} {system_bound / row['seconds']:>10.2f}")
    print("\ncalls per vendor action (WHMCS | Blesta):")
    for row in rows:
        shown = " | ".join(", ".join(f"{action} {n}" for action, n in sorted(c.items())) or "-"
                           for c in row["calls"].values())
        print(f"  {row['clients']:>6} c{row['concurrency']} {row['scenario']:<7} {shown}   {row['counts']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="clients in WHMCS, comma-separated")
    parser.add_argument("--concurrency", default="1,4,8", help="concurrency of both systems, comma-separated")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to every request")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each size and concurrency; the fastest shown")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument("--profile", type=Path, help="write a cProfile of each run into this folder")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    from hostsync.plugins import load_plugins

    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    plugins = load_plugins(env={**os.environ, "HOSTSYNC_LOAD_PLUGINS": "whmcs,blesta"})
    boxes = Sandboxes()
    rows: list[dict[str, Any]] = []
    try:
        for clients in (int(s) for s in args.sizes.split(",")):
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                best: dict[str, dict[str, Any]] = {}
                for _ in range(args.repeat):
                    for row in scenarios(boxes, plugins, clients, concurrency, args.latency, args.profile):
                        if row["scenario"] not in best or row["seconds"] < best[row["scenario"]]["seconds"]:
                            best[row["scenario"]] = row
                rows.extend(best.values())
                print(f"  done: {clients} clients at concurrency {concurrency}", file=sys.stderr, flush=True)
    finally:
        boxes.close()
    print(f"WHMCS -> Blesta clients, {1000 * args.latency:g} ms per request, best of {args.repeat}; "
          f"bound = calls x latency / concurrency; min = the calls the vendors allow (see the docstring)\n")
    table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
