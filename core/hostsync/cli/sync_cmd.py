"""``hostsync jobs``, ``plan``, ``sync`` and ``check``: looking at jobs, planning and running them.

Ctrl-C (SIGINT) or SIGTERM stops ``plan``, ``sync`` and ``check``: no new call starts, calls in
flight end within their deadline, the run is recorded as ``interrupted`` with its counts, and the
command exits 130 (SIGINT) or 143 (SIGTERM). A second signal exits at once: the intents stored
before each create make that safe (the next run reconciles them).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any, Iterator

import click

from . import progress as live
from .exits import EXIT_FAILED, EXIT_OK, for_signal, for_statuses
from .names import complete_jobs, complete_systems, require_job, require_systems
from .output import echo_json, echo_table, plural

if TYPE_CHECKING:  # the engine (and the state, httpx) load when a command runs it, not for --help
    from ..engine import JobResult, Runtime
    from ..engine.actions import Action


class Interrupt:
    """While a command runs: the first SIGINT/SIGTERM sets ``stop``; a second exits at once."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.signum: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> "Interrupt":
        if threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.signal(s, self._on) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def _on(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:  # asked twice: leave now; intents make that safe
            click.echo("\nstopped at once", err=True)
            sys.stderr.flush()
            os._exit(for_signal(signum))
        self.signum = signum
        self.stop.set()
        click.echo(f"\n{signal.Signals(signum).name}: stopping (calls in flight finish; "
                   "Ctrl-C again to stop at once)", err=True)

    def exit(self, code: int) -> None:
        """Exit with the code of the signal if one stopped the command (130, 143), else ``code``."""
        sys.exit(for_signal(self.signum) if self.signum is not None else code)


@contextmanager
def runtime(app: Any, dry_run: bool, interrupt: Interrupt, progress: bool = True,
            allow_mass_change: bool = False) -> Iterator[Runtime]:
    """The runtime of a command, with its progress shown on a terminal (unless not ``progress``) and
    to systemd; the line is gone when the block ends, so what the command prints next stands alone."""
    from ..engine import Runtime
    from ..state import State

    config = app.config
    state = State.open_for_plan(config.state_path) if dry_run else State.open(config.state_path)
    shown, line = live.for_command(state.count_links, terminal=progress)
    try:
        with Runtime(config, app.plugins, state=state, progress=shown, close_state=True, stop=interrupt.stop,
                     allow_mass_change=allow_mass_change) as rt:
            rt.line = line  # type: ignore[attr-defined]
            yield rt
    finally:
        live.stop(line)


def _value(value: Any) -> str:
    text = repr(value) if not isinstance(value, list) else f"[{len(value)} items]"
    return text if len(text) <= 40 else text[:37] + "..."


def describe_action(action: Action) -> str:
    from ..engine.actions import shown_key

    where = f"{action.target}" + (f" #{action.target_id}" if action.target_id else "")
    line = f"{action.op:<9} {action.kind} {action.source}#{action.source_id} -> {where}"
    if action.op in ("create", "lookup") and action.record is not None:
        line += ": " + ", ".join(f"{name}={_value(value)}" for name, value in shown_key(action.record).items())
    if action.changes:
        line += ": " + ", ".join(f"{name} {_value(old)} -> {_value(new)}" for name, (old, new) in action.changes.items())
    if action.reason:
        line += f" ({action.reason})"
    return line


def print_results(results: list[JobResult]) -> None:
    from ..engine import COUNTERS as SUMMARY_ORDER

    rows = [[r.job, r.status, *(r.counts.get(name, 0) for name in SUMMARY_ORDER), f"{r.seconds:.1f}s"]
            for r in results]
    echo_table(rows, ["job", "status", *SUMMARY_ORDER, "time"])
    for result in results:
        if result.error:
            click.echo(f"{result.job}: {result.error}", err=True)


def resolve_names(app: Any, names: tuple[str, ...], all_jobs: bool) -> list[str]:
    config = app.config
    if all_jobs and names:
        raise click.UsageError("give job names or --all, not both")
    if not all_jobs and not names:
        raise click.UsageError("name at least one job, or pass --all")
    for name in names:
        require_job(app, name)
    from ..engine import order_jobs

    return order_jobs(config, config.jobs if all_jobs else names)


def register(cli: click.Group) -> None:
    @cli.command("jobs")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.pass_obj
    def jobs(app: Any, as_json: bool) -> None:
        """List configured jobs with their schedule and last run."""
        config = app.config
        from .state_cmd import read_state

        last: dict[str, dict[str, Any]] = {}
        state = read_state(app)
        if state is not None:
            with state:
                for name in config.jobs:
                    runs = state.runs(name, limit=1)
                    if runs:
                        last[name] = runs[0]
        out = []
        from ..engine import order_jobs

        for name in order_jobs(config, config.jobs):
            job = config.jobs[name]
            run = last.get(name)
            out.append({"name": name, "kind": job.kind, "source": job.source, "targets": list(job.targets),
                        "direction": job.direction, "schedule": job.schedule, "deletes": job.deletes,
                        "last_status": run["status"] if run else None,
                        "last_run": run["finished_at"] or run["started_at"] if run else None})
        if as_json:
            echo_json(out)
            return
        arrow = {"one-way": "->", "two-way": "<->"}
        echo_table([[j["name"], j["kind"], f"{j['source']} {arrow[j['direction']]} {', '.join(j['targets'])}",
                     j["schedule"], j["deletes"], j["last_status"] or "never run", j["last_run"] or ""] for j in out],
                   ["job", "kind", "systems", "schedule", "deletes", "last run", "at"], empty="(no jobs configured)")

    @cli.command("plan")
    @click.argument("job", shell_complete=complete_jobs)
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.option("--full", is_flag=True, help="Scan everything instead of reading changes since the last run.")
    @click.option("--limit", default=50, show_default=True, help="Actions to list (0: all).")
    @click.pass_obj
    def plan(app: Any, job: str, as_json: bool, full: bool, limit: int) -> None:
        """Show what `sync JOB` would do now, writing nothing anywhere.

        Lists creates (with their key fields), updates (with the fields that change), deletes,
        adoptions of records the target already has, records that would fail (with the reason: a
        setting, a reference, a rule of the target), deferrals and conflicts, sorted by what they do
        and by key; then a `Plan:` line and what cannot be known before the sync. Reads the
        systems, never writes to them, to links or to cursors.
        """
        [name] = resolve_names(app, (job,), False)
        from ..engine import sync_job
        from . import plan_view

        with Interrupt() as interrupt, runtime(app, dry_run=True, interrupt=interrupt, progress=not as_json) as rt:
            result = sync_job(rt, name, dry_run=True, full=full)
        if as_json:
            echo_json(plan_view.as_json(name, result))
        else:
            cfg = app.config.jobs[name]
            click.echo(f"Plan for {name} ({cfg.kind}: {cfg.source} -> {', '.join(cfg.targets)}):")
            actions = plan_view.ordered(result.actions)
            shown = actions if limit <= 0 else actions[:limit]
            for action in shown:
                click.echo("  " + describe_action(action))
            if len(shown) < len(actions):
                click.echo(f"  ... and {len(actions) - len(shown)} more (--limit 0 lists all)")
            unchanged = result.counts.get("unchanged", 0)
            click.echo(plan_view.closing_line(plan_view.tally(actions)) +
                       (f" {unchanged} unchanged." if unchanged else ""))
            for note in plan_view.unknowable(actions):
                click.echo(f"Not known before the sync: {note}.")
            if result.error:
                click.echo(f"error: {result.error}", err=True)
        interrupt.exit(EXIT_OK if result.status == "ok" else EXIT_FAILED)

    @cli.command("sync")
    @click.argument("jobs", nargs=-1, shell_complete=complete_jobs)
    @click.option("--all", "all_jobs", is_flag=True, help="Run every configured job (in dependency order).")
    @click.option("--dry-run", is_flag=True, help="Plan only: show the counts, write nothing.")
    @click.option("--full", is_flag=True, help="Scan everything instead of reading changes since the last run.")
    @click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
    @click.option("--allow-mass-change", is_flag=True,
                  help="Let a run delete or update more records in a target than its job's max_deletes/max_changes.")
    @click.pass_obj
    def sync(app: Any, jobs: tuple[str, ...], all_jobs: bool, dry_run: bool, full: bool, as_json: bool,
             allow_mass_change: bool) -> None:
        """Run jobs now and print a summary per job.

        Exit status 0 when every job succeeded, 1 when a record or a job failed (details in
        `hostsync runs` and the log) or conflicts of a two-way job wait for an operator, 2 on a usage or configuration error, 130/143 when stopped by
        Ctrl-C/SIGTERM (the run is recorded as interrupted; Ctrl-C twice stops at once). A job that
        is already running (here or in the daemon) is not started twice: exit status 75 when that
        was all. A run that would delete or update more records in one target than its job allows
        (max_deletes, max_changes) writes none of them, says so (status refused, exit status 1);
        --allow-mass-change lets it.
        """
        names = resolve_names(app, jobs, all_jobs)
        results = []
        from ..engine import sync_job

        with Interrupt() as interrupt, \
                runtime(app, dry_run=dry_run, interrupt=interrupt, progress=not as_json,
                        allow_mass_change=allow_mass_change) as rt:
            for name in names:
                if rt.stop.is_set():
                    break  # jobs not started are not runs
                results.append(sync_job(rt, name, dry_run=dry_run, full=full))
        if as_json:
            echo_json([{"job": r.job, "status": r.status, "run_id": r.run_id, "counts": r.counts, "error": r.error,
                        "seconds": round(r.seconds, 3), "writes": r.writes, "open_conflicts": r.open_conflicts}
                       for r in results])
        else:
            print_results(results)
        code = for_statuses(r.status for r in results)
        for result in results:
            if result.open_conflicts:  # nothing failed, but nothing moves for those records until someone decides
                click.echo(f"{result.job}: {plural(result.open_conflicts, 'conflict')} wait for an operator: "
                           f"see `hostsync conflicts {result.job}`, then `hostsync resolve ID --use source|target`",
                           err=True)
                code = EXIT_FAILED
        interrupt.exit(code)

    @cli.command("check")
    @click.argument("systems", nargs=-1, shell_complete=complete_systems)
    @click.option("--force", is_flag=True, help="Check a held system even though its configuration is unchanged.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.pass_obj
    def check(app: Any, systems: tuple[str, ...], force: bool, as_json: bool) -> None:
        """Log in to each system (default: all) and prove what its jobs need; a pass releases a hold.

        Beyond the login, plugins check what the configured jobs will ask of each system (WHMCS: every
        API action, listing those the credentials' API role refuses; Blesta: where tickets go).
        """
        config = app.config
        require_systems(app, systems)
        from ..engine import check_systems

        results = []
        with Interrupt() as interrupt, runtime(app, dry_run=False, interrupt=interrupt, progress=not as_json) as rt:
            for name in systems or tuple(config.systems):  # one at a time, saying which
                if rt.line is not None:  # type: ignore[attr-defined]
                    rt.line.say(f"checking {name} ({config.systems[name].plugin})...")  # type: ignore[attr-defined]
                results += check_systems(rt, [name], force=force)
        if as_json:
            echo_json([{"system": r.system, "ok": r.ok, "message": r.message} for r in results])
        else:
            echo_table([[r.system, config.systems[r.system].plugin, "ok" if r.ok else "FAILED", r.message]
                        for r in results], ["system", "plugin", "status", "detail"])
        interrupt.exit(EXIT_OK if all(r.ok for r in results) else EXIT_FAILED)


