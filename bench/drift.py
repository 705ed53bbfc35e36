"""What checking targets costs: the drift check per plugin, and `hostsync drift` over WHMCS and ISPConfig.

    python bench/drift.py                  # both parts, 1,000 records
    python bench/drift.py --records 200    # quicker
    python bench/drift.py --part report

1. **Calls added by the drift check** of a full scan, per plugin as the target of a one-way job, for
   N linked records: the in-memory vendor is the source, the plugin's sandbox the target; after the
   first sync links N records, the requests the target answers during a `sync --full` that finds
   nothing to do are the drift check's (a one-way job reads its target for nothing else), and an
   incremental `sync` with nothing changed is shown beside it (it must stay at 0).
2. **`hostsync drift`** over N WHMCS clients and N domains mirrored into ISPConfig (both sandboxes,
   in this process): its wall time, the requests each system answered, and that it found them in
   agreement; then again with one mismatch of each kind.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hostsync.plugins import _import_file, load_plugins  # noqa: E402
from hostsync.sandbox import Sandbox  # noqa: E402
from hostsync.testing import HostsyncProject  # noqa: E402

PLUGINS = ROOT / "tests" / "support" / "plugins"


def client(n: int) -> dict[str, Any]:
    return {"email": f"client{n}@bench.example", "first_name": f"First{n}", "last_name": f"Last{n}",
            "company": f"Company {n}", "phone": f"+49 30 {n:07d}", "address1": f"Street {n}", "city": "Berlin",
            "postcode": "10115", "country": "DE", "status": "active"}


def domain(n: int) -> dict[str, Any]:
    return {"name": f"domain{n}.bench.example", "status": "active", "registered_on": "2025-01-01",
            "expires_on": "2027-01-01"}


def project(n: int) -> dict[str, Any]:
    return {"name": f"Project {n}", "status": "active", "start_on": "2026-01-01", "due_on": "2026-12-31",
            "description": f"Bench project {n}"}


def ticket(n: int) -> dict[str, Any]:
    return {"subject": f"Ticket {n}", "status": "open", "priority": "medium", "department": "Technical Support",
            "messages": [{"author": "client0@bench.example", "body": f"Help with {n}",
                          "created_at": "2026-03-01T09:00:00Z"}], "created_at": "2026-03-01T09:00:00Z"}


#: (plugin, target system name, kind, record maker, whether the kind refers to a client)
TARGETS: list[tuple[str, str, str, Callable[[int], dict[str, Any]], bool]] = [
    ("ispconfig", "panel", "client", client, False),
    ("ispconfig", "panel", "domain", domain, True),
    ("whmcs", "billing", "client", client, False),
    ("whmcs", "billing", "domain", domain, True),
    ("blesta", "blesta", "client", client, False),
    ("blesta", "blesta", "domain", domain, True),
    ("blesta", "blesta", "ticket", ticket, True),
    ("proworkflow", "proworkflow", "project", project, True),
    ("webwork", "webwork", "project", project, False),
    ("wbteampro", "teampro", "project", project, False),
]


def start(plugins: Any, name: str) -> Sandbox:
    box = plugins.sandbox_for(name)(seed=None)
    if name == "webwork":
        box.set_limit(1_000_000, 60.0)  # the cost in requests is what is measured here, not the pacing
    return box.start()


def drift_check_costs(records: int) -> None:
    print(f"1. Requests the drift check of a full scan adds, for {records:,} linked records in the target\n")
    print(f"{'target':<12} {'kind':<8} {'full scan, no change':<40} {'incremental, no change':>22}")
    plugins = load_plugins()
    memory = _import_file(PLUGINS / "memory.py")
    for plugin, system, kind, make, refers in TARGETS:
        memory.reset()
        box = start(plugins, plugin)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                hp = HostsyncProject(Path(tmp), plugins_dir=PLUGINS)
                table = {k: v for k, v in box.systems()[system].items() if k != "shares_ids_with"}
                if plugin == "webwork":
                    table = {**table, "rate_limit": "100000/min"}
                hp.systems[system] = {**table, "concurrency": 8}
                hp.system("source", plugin="memory", vendor="source")
                source = memory.vendor("source")
                if refers:  # one client owns them all (clients come first)
                    owner = source.put("client", client(0))
                    hp.job("clients", kind="client", source="source", targets=[system])
                for n in range(records):
                    source.put(kind, make(n), {"client": owner} if refers and kind != "project" else None)
                hp.job("job", kind=kind, source="source", targets=[system])
                first = hp.cli("sync", *(["clients"] if refers else []), "job", "--json")
                created = first.json()[-1]["counts"]["created"] if first.exit_code in (0, 1) else first.output
                if created != records:
                    print(f"{plugin:<12} {kind:<8} first sync created {created} of {records}: {first.output[-300:]}")
                    continue
                box.reset_calls()
                full = hp.cli("sync", "job", "--full", "--json").json()[0]
                calls = Counter(box.calls)
                box.reset_calls()
                hp.cli("sync", "job")
                incremental = sum(box.calls.values())
                shown = ", ".join(f"{n} {op}" for op, n in sorted(calls.items(), key=lambda kv: -kv[1]))
                print(f"{plugin:<12} {kind:<8} {sum(calls.values()):>5} ({shown[:60]}){'':<2} {incremental:>8}"
                      f"   drift found: {full['counts']['drift']}")
        finally:
            box.stop()
    print()


def report_time(records: int) -> None:
    print(f"2. hostsync drift over {records:,} WHMCS clients and {records:,} domains mirrored into ISPConfig\n")
    plugins = load_plugins()
    whmcs, ispconfig = start(plugins, "whmcs"), start(plugins, "ispconfig")
    tmp = Path(tempfile.mkdtemp())
    try:
        with whmcs.lock:
            for n in range(records):
                answer = whmcs._api_addclient({"firstname": f"First{n}", "lastname": f"Last{n}",  # type: ignore[attr-defined]
                                               "email": f"client{n}@bench.example", "companyname": f"Company {n}",
                                               "city": "Berlin", "country": "DE", "skipvalidation": True})
                domain_id = whmcs.new_id("domains")  # type: ignore[attr-defined]
                whmcs.state["domains"][domain_id] = {  # type: ignore[attr-defined]
                    "id": domain_id, "userid": int(answer["clientid"]), "orderid": 0, "regtype": "Register",
                    "domainname": f"domain{n}.bench.example", "registrar": "", "regperiod": "1",
                    "firstpaymentamount": "10.00", "recurringamount": "10.00", "paymentmethod": "banktransfer",
                    "paymentmethodname": "Bank Transfer", "regdate": "2025-01-01", "expirydate": "2027-01-01",
                    "nextduedate": "2027-01-01", "status": "Active", "subscriptionid": "", "promoid": "0",
                    "dnsmanagement": "0", "emailforwarding": "0", "idprotection": "0", "donotrenew": "0", "notes": ""}
        hp = HostsyncProject(tmp)
        hp.systems.update({"billing": whmcs.systems()["billing"], "panel": {**ispconfig.systems()["panel"],
                                                                           "concurrency": 8}})
        hp.job("clients", kind="client", source="billing", targets=["panel"])
        hp.job("domains", kind="domain", source="billing", targets=["panel"])
        started = time.perf_counter()
        synced = hp.cli("sync", "clients", "domains", "--json")
        print(f"first sync: {[(r['job'], r['status'], r['counts']['created']) for r in synced.json()]} "
              f"in {time.perf_counter() - started:.1f} s")
        for label in ("in agreement", "one mismatch of each kind"):
            if label != "in agreement":
                panel_clients = sorted(int(r["client_id"]) for r in ispconfig.dump()["tables"]["client"])
                ispconfig.edit("client", str(panel_clients[0]), status="inactive")
                whmcs.edit("client", "2", status="closed")
                first_domain = ispconfig.dump()["tables"]["domain"][0]["domain_id"]
                ispconfig.edit("domain", first_domain, client=str(panel_clients[-1]))
            whmcs.reset_calls()
            ispconfig.reset_calls()
            started = time.perf_counter()
            result = hp.cli("drift", "--json")
            seconds = time.perf_counter() - started
            counts = {r["job"]: r["counts"] for r in result.json()["jobs"]}
            print(f"hostsync drift, {label}: {seconds:.2f} s, exit {result.exit_code}; requests: WHMCS "
                  f"{sum(whmcs.calls.values())} ({dict(whmcs.calls.most_common(3))}), ISPConfig "
                  f"{sum(ispconfig.calls.values())} ({dict(ispconfig.calls.most_common(3))}); found {counts}")
    finally:
        whmcs.stop()
        ispconfig.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--part", choices=("check", "report", "both"), default="both")
    args = parser.parse_args()
    if args.part in ("check", "both"):
        drift_check_costs(args.records)
    if args.part in ("report", "both"):
        report_time(args.records)


if __name__ == "__main__":
    main()
