"""``hostsync holds``: the systems held after a refused login, and releasing one after a passing check."""

from __future__ import annotations

import sys
from typing import Any

import click

from .exits import EXIT_FAILED, EXIT_OK
from .names import complete_systems, require_systems
from .output import echo_json, echo_table
from .state_cmd import read_state


def held_systems(app: Any) -> list[dict[str, Any]]:
    """Each held system with its plugin, reason and since when. A hold whose system's configuration
    changed since is over (the next run releases it), so it is not listed."""
    state = read_state(app)
    if state is None:
        return []
    with state:
        rows = [row for row in state.all_health() if row["status"] == "held"]
    if not rows:
        return []
    out = []
    from ..engine import Runtime  # loaded by the commands that run it, not by `hostsync --help`

    with Runtime(app.config, app.plugins) as rt:
        for row in rows:
            system = app.config.systems.get(row["system"])
            if system is not None and not rt.held(row["system"]):
                continue  # its configuration changed: released just now
            out.append({"system": row["system"], "plugin": system.plugin if system else None,
                        "reason": row["reason"], "since": row["since"],
                        "configured": system is not None})
    return out


def register(cli: click.Group) -> None:
    @cli.group("holds", invoke_without_command=True)
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.pass_context
    def holds(ctx: click.Context, as_json: bool) -> None:
        """List systems held after a refused login (no call is made to them until released).

        A hold ends when the system's configuration changes (new credentials) or with
        `hostsync holds release SYSTEM`, which first checks the system with its current settings.
        """
        if ctx.invoked_subcommand is not None:
            return
        rows = held_systems(ctx.obj)
        if as_json:
            echo_json(rows)
            return
        echo_table([[r["system"], r["plugin"] or "(no longer configured)", r["since"], r["reason"]] for r in rows],
                   ["system", "plugin", "held since", "reason"], empty="(no held systems)")

    @holds.command("release")
    @click.argument("system", shell_complete=complete_systems)
    @click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
    @click.pass_obj
    def release(app: Any, system: str, as_json: bool) -> None:
        """Check a held SYSTEM (log in, prove what its jobs need) and release the hold if it passes.

        Fix the cause first (credentials, an IP allow-list, a permission): with the same refused
        credentials the check repeats a refused login, and wbTeamPro bans an IP after 3.
        """
        require_systems(app, [system])
        if not any(row["system"] == system for row in held_systems(app)):
            outcome = {"system": system, "held": False, "released": False, "message": "not held"}
        else:
            from ..engine import Runtime, check_systems

            with Runtime(app.config, app.plugins) as rt:
                [result] = check_systems(rt, [system], force=True)
            outcome = {"system": system, "held": not result.ok, "released": result.ok,
                       "message": result.message}
        if as_json:
            echo_json(outcome)
        elif not outcome["held"] and not outcome["released"]:
            click.echo(f"{system} is not held")
        elif outcome["released"]:
            note = outcome["message"].removeprefix("hold released").lstrip("; ")
            click.echo(f"{system}: check passed, hold released" + (f" ({note})" if note else ""))
        else:
            click.echo(f"{system}: check failed, still held: {outcome['message']}", err=True)
        sys.exit(EXIT_FAILED if outcome["held"] else EXIT_OK)
