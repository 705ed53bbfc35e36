"""Job and system names on the command line: an unknown one is a usage error (exit 2) wherever it is
given, and the shell completes them.

Completion runs on every <TAB>, before hostsync has loaded anything: it reads only the table names
of the config file (plain TOML, no plugins, no validation) and, whatever goes wrong, offers nothing
rather than printing an error into the operator's command line.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any, Iterable

import click
from click.shell_completion import CompletionItem

from ..config import find_config


def unknown(what: str, name: str, known: Iterable[str], hint: str) -> click.BadParameter:
    """``unknown job 'clents' (did you mean 'clients'? known: clients, domains)``."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return click.BadParameter(f"unknown {what} {name!r} ({guess}known: {', '.join(known) or 'none'})",
                              param_hint=hint)


def require_job(app: Any, name: str | None, *, history: bool = False) -> None:
    """Raise a usage error unless ``name`` (if given) is a configured job; with ``history``, a job
    the state still has runs or links of (removed from the config since) is accepted too."""
    if name is None or name in app.config.jobs:
        return
    if history:
        from .state_cmd import read_state  # state_cmd uses this module

        state = read_state(app)
        if state is not None:
            with state:
                if state.runs(name, limit=1) or state.list_links(name, 1):
                    return
    raise unknown("job", name, app.config.jobs, "JOB")


def require_systems(app: Any, names: Iterable[str]) -> None:
    for name in names:
        if name not in app.config.systems:
            raise unknown("system", name, app.config.systems, "SYSTEM")


def _tables(ctx: click.Context, section: str) -> dict[str, Any]:
    try:
        path = find_config(ctx.find_root().params.get("config_path"), os.environ)
        with Path(path).open("rb") as file:
            tables = tomllib.load(file).get(section)
        return {str(name): value for name, value in tables.items()} if isinstance(tables, dict) else {}
    except Exception:  # noqa: BLE001 - completion never fails: it offers nothing
        return {}


def _items(tables: dict[str, Any], incomplete: str, describe: Any) -> list[CompletionItem]:
    out = []
    for name, table in sorted(tables.items()):
        if name.startswith(incomplete):
            try:
                text = describe(table) if isinstance(table, dict) else None
            except Exception:  # noqa: BLE001 - a half-written table still completes its name
                text = None
            out.append(CompletionItem(name, help=text))
    return out


def complete_jobs(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Job names from the config, described as ``client: billing -> panel, blesta``."""
    return _items(_tables(ctx, "jobs"), incomplete,
                  lambda job: f"{job['kind']}: {job['source']} -> {', '.join(job['targets'])}")


def complete_systems(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """System names from the config, described by their plugin."""
    return _items(_tables(ctx, "systems"), incomplete, lambda system: str(system["plugin"]))
