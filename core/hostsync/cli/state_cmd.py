"""``hostsync runs``, ``links``, ``conflicts``, ``resolve`` and ``state check|backup``: what the state
store remembers, and looking after its file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..config import format_size
from ..errors import HostsyncError
from .exits import EXIT_USAGE, for_statuses
from .names import require_job, complete_jobs
from .output import echo_json, echo_table, summary_line

if TYPE_CHECKING:  # the state and the engine load with the commands that use them
    from ..state import State


def read_state(app: Any) -> State | None:
    """The state for the listing commands, or None when nothing has run yet."""
    from ..state import State

    path = app.config.state_path
    if not path.exists():
        return None
    state = State.open_readonly(path)
    if not state.initialised:
        state.close()
        return None
    return state


def existing_state(app: Any) -> State:
    """The state file read-only, for commands that need one to exist (migrated or not)."""
    from ..state import State

    path = app.config.state_path
    if not path.exists():
        raise HostsyncError(f"no state file at {path} yet: the first `hostsync sync` or `hostsync check` creates it")
    return State.open_readonly(path)


def _size(path: Path) -> str:
    size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    return format_size(size) if size >= 1024 else f"{size} B"


def register_state_group(cli: click.Group) -> None:
    @cli.group("state")
    def state_group() -> None:
        """Check the state file and back it up."""

    @state_group.command("check")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.pass_obj
    def check(app: Any, as_json: bool) -> None:
        """Check the state file: SQLite's integrity check, its schema version, and how many links,
        intents, retries, open conflicts and held systems it holds.

        Exit status 0 when it is sound, 1 when the integrity check finds damage, 2 when it cannot be
        used at all (damaged beyond opening, another program's, written by a newer hostsync).
        """
        with existing_state(app) as state:
            report = state.check()
        report["size"] = _size(Path(report["path"]))
        if as_json:
            echo_json(report)
        else:
            behind = report["schema_version"] < report["schema_version_supported"]
            integrity = report["integrity"]
            held = report["held_systems"]
            for label, value in (
                ("state file", f"{report['path']} ({report['size']})"),
                ("integrity", integrity if integrity == "ok" else "DAMAGED: " + "; ".join(integrity[:5])),
                ("schema", f"version {report['schema_version']}" + (
                    f" (this hostsync writes {report['schema_version_supported']}; the next sync migrates it)"
                    if behind else "")),
                ("links", report["links"]), ("intents", report["intents"]), ("retries", report["pending"]),
                ("conflicts", f"{report['conflicts']} open"),
                ("holds", f"{report['holds']}" + (f" ({', '.join(held)})" if held else "")),
                ("runs", report["runs"]),
            ):
                click.echo(f"{label + ':':<12}{value}")
        if report["integrity"] != "ok":
            click.echo("the state file is damaged: restore it from a backup (see `hostsync state backup`)", err=True)
        sys.exit(0 if report["integrity"] == "ok" else 1)

    @state_group.command("backup")
    @click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
    @click.pass_obj
    def backup(app: Any, target: Path) -> None:
        """Copy the state file to TARGET with SQLite's online backup.

        Safe while the daemon runs. The copy is private (mode 0600), checked, and appears complete or
        not at all. TARGET must not exist yet (e.g. hostsync-$(date +%F).db).
        """
        if target.exists():
            raise click.BadParameter(f"{target} exists; give the name of a new file", param_hint="TARGET")
        with existing_state(app) as state:
            state.backup(target)
            version = len(state.applied_migrations())
        click.echo(f"backed up {app.config.state_path} to {target} ({_size(target)}, schema version {version})")


def register(cli: click.Group) -> None:
    register_state_group(cli)

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
            base, ours, theirs = row["base"], row["ours"] or {}, row["theirs"] or {}
            if base is None:
                click.echo("    first meeting: never synced, so there is no last synced value")
            for name in sorted(set(ours) | set(theirs)):
                if ours.get(name) != theirs.get(name):
                    was = "" if base is None else f"was {base.get(name)!r}; "
                    click.echo(f"    {name}: {was}source {ours.get(name)!r}; target {theirs.get(name)!r}")
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
        from ..engine import Runtime, resolve_conflict

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
