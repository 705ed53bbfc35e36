"""``hostsync runs``, ``links``, ``conflicts`` and ``resolve``: what the state store remembers."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..engine import Runtime, resolve_conflict
from ..state import State
from .exits import EXIT_USAGE, for_statuses
from .names import require_job, complete_jobs
from .output import echo_json, echo_table
from .sync_cmd import summary_line


def read_state(app: Any) -> State | None:
    """The state for the listing commands, or None when nothing has run yet."""
    path = app.config.state_path
    if not path.exists():
        return None
    state = State.open_readonly(path)
    if not state.initialised:
        state.close()
        return None
    return state


def register(cli: click.Group) -> None:
    @cli.command("runs")
    @click.argument("job", required=False, shell_complete=complete_jobs)
    @click.option("--limit", default=20, show_default=True, help="How many runs to list.")
    @click.option("--events", "with_events", is_flag=True, help="Include each run's per-record events.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.pass_obj
    def runs(app: Any, job: str | None, limit: int, with_events: bool, as_json: bool) -> None:
        """List recent runs (newest first), optionally of one JOB, with their counts."""
        require_job(app, job, history=True)
        state = read_state(app)
        rows = state.runs(job, limit) if state else []
        if with_events and state:
            for row in rows:
                row["events"] = state.events(row["id"])
        if state:
            state.close()
        if as_json:
            echo_json(rows)
            return
        echo_table([[r["id"], r["job"], r["status"] + (" (dry run)" if r["dry_run"] else ""), r["started_at"],
                     summary_line(r["counts"]) if r["counts"] else "", r["error"] or ""] for r in rows],
                   ["run", "job", "status", "started", "counts", "error"], empty="(no runs yet)")
        for row in rows if with_events else []:
            for event in row["events"]:
                click.echo(f"  run {row['id']}: {event['action']} {event['kind']} {event['system']}#{event['record_id']}"
                           f" -> {event['target']}#{event['target_id'] or '?'}: {event['outcome']}"
                           + (f" ({event['reason']})" if event["reason"] else ""))

    @cli.command("links")
    @click.argument("job", required=False, shell_complete=complete_jobs)
    @click.option("--limit", default=0, help="At most this many (0: all).")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.pass_obj
    def links(app: Any, job: str | None, limit: int, as_json: bool) -> None:
        """List linked records (which record in one system is which in the other)."""
        require_job(app, job, history=True)
        state = read_state(app)
        rows = state.list_links(job, limit or None) if state else []
        if state:
            state.close()
        if as_json:
            echo_json(rows)
            return
        echo_table([[r["job"], r["kind"], f"{r['a_system']}#{r['a_id']}", f"{r['b_system']}#{r['b_id']}", r["synced_at"]]
                    for r in rows], ["job", "kind", "record", "linked to", "synced"], empty="(no links yet)")

    @cli.command("conflicts")
    @click.argument("job", required=False, shell_complete=complete_jobs)
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.pass_obj
    def conflicts(app: Any, job: str | None, as_json: bool) -> None:
        """List two-way conflicts waiting for an operator (changed on both sides), optionally of one JOB."""
        require_job(app, job, history=True)
        state = read_state(app)
        rows = state.open_conflicts(job) if state else []
        if state:
            state.close()
        if as_json:
            echo_json(rows)
            return
        if not rows:
            click.echo("(no conflicts)")
            return
        for row in rows:
            click.echo(f"#{row['id']} {row['job']}: {row['kind']} {row['system']}#{row['record_id']} <-> "
                       f"{row['peer_system']}#{row['peer_id']} ({row['status']}, detected {row['detected_at']})")
            base, ours, theirs = row["base"] or {}, row["ours"] or {}, row["theirs"] or {}
            for name in sorted(set(ours) | set(theirs)):
                if ours.get(name) != base.get(name) or theirs.get(name) != base.get(name):
                    click.echo(f"    {name}: was {base.get(name)!r}; source {ours.get(name)!r}; "
                               f"target {theirs.get(name)!r}")
        click.echo("Settle one with: hostsync resolve ID --use source|target")

    @cli.command("resolve")
    @click.argument("conflict_id", type=int)
    @click.option("--use", type=click.Choice(["source", "target"]), required=True,
                  help="Which side's current version wins; it is written to the other side now.")
    @click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
    @click.pass_obj
    def resolve(app: Any, conflict_id: int, use: str, as_json: bool) -> None:
        """Settle a two-way conflict: write the chosen side's current record to the other side."""
        state = read_state(app)
        found = state.conflict(conflict_id) if state else None
        if state:
            state.close()
        if found is None:
            click.echo(f"error: no conflict #{conflict_id} (see `hostsync conflicts`)", err=True)
            sys.exit(EXIT_USAGE)
        with Runtime(app.config, app.plugins) as rt:
            result = resolve_conflict(rt, conflict_id, use)
        if as_json:
            echo_json({"conflict": conflict_id, "use": use, "job": result.job, "status": result.status,
                       "run_id": result.run_id, "counts": result.counts, "error": result.error})
        elif result.ok:
            click.echo(f"conflict #{conflict_id} resolved: {use} written ({summary_line(result.counts)})")
        else:
            click.echo(f"conflict #{conflict_id}: {result.status}: {result.error or 'see hostsync runs'}", err=True)
        sys.exit(for_statuses([result.status]))
