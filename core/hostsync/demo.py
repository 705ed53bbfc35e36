"""``hostsync demo``: the real engine running real jobs between the built-in sandboxes, on loopback.

It starts every registered sandbox, writes a config and a state file into a fresh folder, plans and
applies the jobs, changes a few records in WHMCS through its API as staff would, and syncs again to
show that only those changes travel. Nothing here is special-cased: the same config works with
``hostsync sync`` while the sandboxes run (``hostsync sandbox --from FOLDER``).
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable

import click

from . import logs
from .cli.config_cmd import to_toml
from .cli.output import summary_line
from .cli.sync_cmd import describe_action, print_results
from .config import load_config
from .engine import Runtime, order_jobs, sync_job
from .model import Record
from .plugins import Plugins
from .sandbox import Sandbox

SEED = 7
#: (job, kind, source, targets) for the vendors the demo knows; jobs whose systems are missing are left out.
JOBS = (
    ("clients", "client", "billing", ["panel", "blesta"]),
    ("domains", "domain", "billing", ["panel"]),
    ("invoices", "invoice", "billing", ["blesta"]),
    ("tickets", "ticket", "billing", ["blesta"]),
    ("ticket-links", "ticket", "billing", ["teampro"]),
    ("pwf-clients", "client", "billing", ["proworkflow"]),
    ("pwf-projects", "project", "teampro", ["proworkflow"]),
    ("webwork-projects", "project", "teampro", ["webwork"]),
    ("webwork-tasks", "task", "teampro", ["webwork"]),
)
#: Settings beyond kind, source and targets for the jobs that need them.
JOB_SETTINGS = {"pwf-projects": {"direction": "two-way"}}
#: Jobs with nothing to do until the demo's staff act: the time tracked in WebWork (step 3) against
#: the tasks the first sync put there.
FOLLOW_UP_JOBS = (("webwork-time", "time_entry", "webwork", ["teampro"]),)
#: The systems the demo uses from the built-in sandboxes' tables (ISPConfig also offers a JSON one);
#: a third-party sandbox's systems are all included.
SYSTEMS = {"billing", "teampro", "panel", "blesta", "proworkflow", "webwork"}
BUILT_IN = {"whmcs", "ispconfig", "blesta", "proworkflow", "webwork"}
#: WebWork allows 60 requests a minute per user; the demo raises its sandbox's limit (and tells hostsync).
WEBWORK_DEMO_LIMIT = (6000, 60.0)
SNAPSHOT = "sandboxes.json"


def _say(text: str = "", **style: Any) -> None:
    click.secho(text, **style)


def _heading(text: str) -> None:
    _say(f"\n== {text}", bold=True)


def start_sandboxes(plugins: Plugins, saved: dict[str, Any] | None = None) -> dict[str, Sandbox]:
    """Every registered sandbox on loopback: WHMCS with sample data, the targets empty (or as saved)."""
    boxes: dict[str, Sandbox] = {}
    for name, cls in sorted(plugins.sandboxes.items()):
        if saved:
            if name not in saved:
                continue
            box = cls(seed=None)
            box.load(saved[name]["state"])
            box.start(port=saved[name]["port"])
        else:
            box = cls(seed=SEED if name == "whmcs" else None)
            if name == "webwork":
                box.set_limit(*WEBWORK_DEMO_LIMIT)  # type: ignore[attr-defined]
            box.start()
        boxes[name] = box
    return boxes


def demo_config(boxes: dict[str, Sandbox]) -> dict[str, Any]:
    systems: dict[str, dict[str, Any]] = {}
    for box in boxes.values():
        systems.update({n: s for n, s in box.systems().items() if n in SYSTEMS or box.name not in BUILT_IN})
    jobs = {name: {"kind": kind, "source": source, "targets": [t for t in targets if t in systems], "every": "5m",
                   **JOB_SETTINGS.get(name, {})}
            for name, kind, source, targets in JOBS + FOLLOW_UP_JOBS
            if source in systems and any(t in systems for t in targets)}
    if "webwork" in systems and "teampro" in systems and "whmcs" in boxes:
        # time entries name WebWork members by e-mail: map the WHMCS admins who log time in wbTeamPro
        admins = boxes["whmcs"].state["admins"]  # type: ignore[attr-defined]
        systems["teampro"].setdefault("members", {str(a["id"]): a["email"] for a in admins})
    return {"hostsync": {"state": "hostsync.db", "log_level": "warning"}, "systems": systems, "jobs": jobs}


def write_config(path: Path, data: dict[str, Any], plugins: Plugins) -> Path:
    """Write the demo config; where wbTeamPro runs, first make it a project for tickets whose client
    has none (through its API, as staff would), so every WHMCS ticket can be tied to one."""
    path.write_text(to_toml(data))
    if "teampro" in data["systems"] and "unassigned_project" not in data["systems"]["teampro"]:
        with Runtime(load_config(path, plugins), plugins) as rt:
            queue = rt.connector("teampro").create("project", Record(
                "project", None, {"name": "Support queue", "status": "active",
                                  "description": "Tickets of clients without a project of their own."}))
        data["systems"]["teampro"]["unassigned_project"] = int(queue)
    path.write_text("# Written by `hostsync demo` for the sandboxes it started on loopback.\n" + to_toml(data))
    return path


def save_sandboxes(folder: Path, boxes: dict[str, Sandbox]) -> None:
    """What ``hostsync sandbox --from FOLDER`` needs to serve the same data on the same ports."""
    data = {name: {"port": int(box.url.rsplit(":", 1)[1]), "state": box.dump()} for name, box in boxes.items()}
    (folder / SNAPSHOT).write_text(json.dumps(data, default=str))


def load_snapshot(folder: Path) -> dict[str, Any]:
    return json.loads((folder / SNAPSHOT).read_text())


def _sync_all(rt: Runtime, names: list[str], boxes: dict[str, Sandbox]) -> tuple[list[Any], list[str]]:
    """Run every job, print the summary; return the results and the calls each sandbox answered."""
    for box in boxes.values():
        box.reset_calls()
    results = [sync_job(rt, name) for name in names]
    print_results(results)
    return results, _calls(boxes)


def _changes(rt: Runtime) -> list[str]:
    """What staff change in WHMCS between two runs, made through the WHMCS API like any other change."""
    whmcs = rt.connector("billing")
    done = []
    clients = [r for r in whmcs.list("client") if r.fields.get("status") == "active"][:2]
    for record in clients:
        full = whmcs.get("client", record.id) if record.partial else record
        assert full is not None
        full.fields["phone"] = "+49 30 5550100"
        full.fields["city"] = "Leipzig"
        whmcs.update("client", full.id, Record("client", full.id, full.fields, full.refs))
        done.append(f"client #{full.id} ({full.fields.get('email')}) moved to Leipzig, new phone")
    new = Record("client", None, {"email": "neu.kunde@example.de", "first_name": "Jürgen", "last_name": "Weiß",
                                  "company": "Weiß & Söhne KG", "phone": "+49 341 123456", "address1": "Karl-Liebknecht-Str. 1",
                                  "city": "Leipzig", "postcode": "04107", "state": "Sachsen", "country": "DE",
                                  "status": "active"})
    done.append(f"client #{whmcs.create('client', new)} (neu.kunde@example.de) signed up")
    for stub in whmcs.list("invoice"):
        invoice = whmcs.get("invoice", stub.id) if stub.partial else stub
        if invoice and invoice.fields.get("status") == "unpaid":
            invoice.fields["status"] = "paid"
            invoice.fields["paid_on"] = time.strftime("%Y-%m-%d")
            whmcs.update("invoice", invoice.id, invoice)
            done.append(f"invoice #{invoice.id} ({invoice.fields.get('number')}) paid")
            break
    for stub in whmcs.list("ticket"):
        ticket = whmcs.get("ticket", stub.id) if stub.partial else stub
        if ticket and ticket.fields.get("status") != "closed":
            messages = list(ticket.fields.get("messages") or [])
            messages.append({"author": "support@example.net", "body": "We have restarted the mail service; "
                             "please try again.", "created_at": None})
            ticket.fields["messages"] = messages
            ticket.fields["status"] = "answered"
            whmcs.update("ticket", ticket.id, ticket)
            done.append(f"ticket #{ticket.id} answered by staff")
            break
    return done


def _tracked_time(rt: Runtime, boxes: dict[str, Sandbox]) -> list[str]:
    """Jane tracks time in WebWork's desktop app against two tasks the first sync put there."""
    if "webwork" not in boxes or "webwork" not in rt.config.systems:
        return []
    box = boxes["webwork"]
    tasks = [t for t in rt.connector("webwork").list("task")][:2]
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    done = []
    for task, (start, end) in zip(tasks, (("09:00", "10:30"), ("11:00", "11:45"))):
        box.track("jane@example.net", int(task.refs["project"] or 0), yesterday, start, end,  # type: ignore[attr-defined]
                  task_id=int(task.id or 0), notes=f"Worked on {task.fields['name']}")
        done.append(f"jane@example.net tracked {start}-{end} in WebWork on task #{task.id} ({task.fields['name']})")
    return done


def _calls(boxes: dict[str, Sandbox]) -> list[str]:
    """Calls each sandbox answered (the WHMCS one serves billing and wbTeamPro), busiest operations first."""
    lines = []
    for box in boxes.values():
        top = ", ".join(f"{op} {n}" for op, n in box.calls.most_common(5))
        more = ", ..." if len(box.calls) > 5 else ""
        lines.append(f"{box.name} ({', '.join(box.plugins)}): {sum(box.calls.values())} calls ({top}{more})")
    return lines


def run_demo(plugins: Plugins, folder: str | None = None, echo: Callable[..., None] = _say) -> int:
    """Run the demo; return the exit code (0 when every job succeeded)."""
    started = time.monotonic()
    home = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="hostsync-demo-"))
    home.mkdir(parents=True, exist_ok=True)
    if (home / "hostsync.db").exists():
        raise click.UsageError(f"{home} already holds a demo; give a new folder with --dir")
    boxes = start_sandboxes(plugins)
    try:
        config_path = write_config(home / "hostsync.toml", demo_config(boxes), plugins)
        config = load_config(config_path, plugins)
        logs.setup(config.log_level, 0, config.secret_values)
        names = order_jobs(config, config.jobs)
        echo(f"hostsync demo in {home}", bold=True)
        for box in boxes.values():
            echo(f"  sandbox {box.name:<10} {box.url}")
        if "webwork" in boxes:
            echo(f"  (the WebWork sandbox allows {WEBWORK_DEMO_LIMIT[0]} requests a minute here, not 60, so the "
                 "demo takes seconds; hostsync is told the raised limit)")
        for name in names:
            job = config.jobs[name]
            echo(f"  job {name:<13} {job.kind:<7} {job.source} -> {', '.join(job.targets)}")

        with Runtime(config, plugins) as rt:
            _heading("1. Plan (nothing is written anywhere)")
            for name in names:
                plan = sync_job(rt, name, dry_run=True)
                echo(f"  {name}: {summary_line(plan.counts)}")
                for action in plan.actions[:2]:
                    echo(f"      {describe_action(action)}")
                if len(plan.actions) > 2:
                    echo(f"      ... and {len(plan.actions) - 2} more")

            _heading("2. Sync")
            first, first_calls = _sync_all(rt, names, boxes)

            _heading("3. Staff change a few records in WHMCS")
            for line in _changes(rt) + _tracked_time(rt, boxes):
                echo(f"  {line}")

            _heading("4. Sync again: only the changes travel")
            second, second_calls = _sync_all(rt, names, boxes)

        _heading("Calls to each system")
        echo("  first sync:")
        for line in first_calls:
            echo(f"    {line}")
        echo("  second sync:")
        for line in second_calls:
            echo(f"    {line}")
        save_sandboxes(home, boxes)
        ok = all(r.ok for r in first + second)
        _heading(f"Done in {time.monotonic() - started:.1f}s" + ("" if ok else " (with failures: see the table)"))
        cmd = f"hostsync --config {config_path}"
        echo("Explore the result:")
        echo(f"  {cmd} runs --events     # every run and what it did to each record")
        echo(f"  {cmd} links             # which record is which in each system")
        echo(f"  {cmd} jobs")
        echo("Bring the sandboxes back (same data, same ports) and keep going:")
        echo(f"  hostsync sandbox --from {home}        # in another terminal")
        echo(f"  {cmd} plan clients")
        echo(f"  {cmd} sync --all")
        return 0 if ok else 1
    finally:
        for box in boxes.values():
            box.stop()
