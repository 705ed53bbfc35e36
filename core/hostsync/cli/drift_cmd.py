"""``hostsync drift``: where a job's systems disagree now, read from both; writes nothing anywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .exits import EXIT_FAILED, EXIT_OK
from .names import complete_jobs, require_job
from .output import echo_json
from .sync_cmd import Interrupt, runtime
from .sync_cmd import _value as short

if TYPE_CHECKING:  # the engine loads when the command runs, not for --help
    from ..engine.compare import Comparison

#: Findings as the table shows them: most costly first, each with its one-line tag and its count's words.
_ORDER = ("mismatches", "differ", "missing", "orphans")
_SHOWN = {"mismatches": "MISMATCH", "differ": "differs", "missing": "missing", "orphans": "orphan"}
_LABELS = {"mismatches": ("mismatch", "mismatches"), "differ": ("pair differs", "pairs differ"),
           "missing": ("missing from the target", "missing from the target"), "orphans": ("orphan", "orphans")}


def register(cli: click.Group) -> None:
    @cli.command("drift")
    @click.argument("jobs", nargs=-1, shell_complete=complete_jobs)
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.option("--limit", default=20, show_default=True, help="Findings to list per job and kind (0: all).")
    @click.pass_obj
    def drift(app: Any, jobs: tuple[str, ...], as_json: bool, limit: int) -> None:
        """Report where each job's systems disagree now (default: every job), reading both.

        Per job and target: orphans (target records with no counterpart in the source: a panel
        client nobody bills), source records missing from the target, linked pairs that differ,
        and the mismatches that cost money: a client active in billing but locked or closed in the
        panel, closed in billing but active in the panel, a domain with another owner, an invoice
        paid on one side and unpaid on the other. Reads every record of both systems; writes
        nothing anywhere (not to the vendors, not to the state). Exit status 0 when they agree, 1
        when anything was found or could not be read.
        """
        from ..engine import order_jobs
        from ..engine.compare import compare_job

        config = app.config
        for name in jobs:
            require_job(app, name)
        names = order_jobs(config, jobs or config.jobs)
        results: list[Comparison] = []
        # the state read-only (or empty, in memory), progress on a terminal as for plan
        with Interrupt() as interrupt, runtime(app, dry_run=True, interrupt=interrupt, progress=not as_json) as rt:
            for name in names:
                if rt.stop.is_set():
                    break
                results.extend(compare_job(rt, config.jobs[name]))
        agree = all(r.agree for r in results)
        if as_json:
            echo_json({"agree": agree, "jobs": [r.json() for r in results]})
        else:
            for result in results:
                _print(result, limit)
        interrupt.exit(EXIT_OK if agree else EXIT_FAILED)


def _print(result: Comparison, limit: int) -> None:
    head = f"{result.job} ({result.kind}: {result.source} -> {result.target})"
    if result.agree:
        click.echo(f"{head}: in agreement")
        return
    counts = result.counts
    found = [f"{counts[name]} {_LABELS[name][counts[name] != 1]}" for name in _ORDER if counts[name]]
    click.echo(f"{head}: {', '.join(found) or 'could not be compared'}")
    for name in _ORDER:
        entries = getattr(result, name)
        shown = entries if limit <= 0 else entries[:limit]
        for entry in shown:
            click.echo(f"  {_SHOWN[name]:<9} {_line(result, name, entry)}")
        if len(shown) < len(entries):
            click.echo(f"  ... and {len(entries) - len(shown)} more (--limit 0 lists all)")
    for error in result.errors:
        click.echo(f"  error: {error}", err=True)


def _line(result: Comparison, finding: str, entry: dict[str, Any]) -> str:
    key = ", ".join(f"{k}={v}" for k, v in entry["key"].items() if v is not None)
    where = (f"{result.source}#{entry['source_id']}" if entry["source_id"] else "") + \
        (" = " if entry["source_id"] and entry["target_id"] else "") + \
        (f"{result.target}#{entry['target_id']}" if entry["target_id"] else "")
    line = f"{result.kind} {where}" + (f" ({key})" if key else "")
    if finding == "mismatches":
        return f"{line}: {entry['text']}"
    if finding == "differ":
        return f"{line}: " + "; ".join(f"{name} {short(v['source'])} in {result.source}, {short(v['target'])} in "
                                       f"{result.target}" for name, v in entry["fields"].items())
    what = f"not in {result.target}" if finding == "missing" else f"no counterpart in {result.source}"
    return f"{line}: {what}" + (f" ({entry['note']})" if entry.get("note") else "")
