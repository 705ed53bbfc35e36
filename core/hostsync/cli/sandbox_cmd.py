"""``hostsync sandbox`` and ``hostsync demo``: vendor emulators on loopback, and the embedded default."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import click

from .config_cmd import to_toml
from .output import echo_json


def register(cli: click.Group) -> None:
    @cli.command("sandbox")
    @click.argument("vendors", nargs=-1)
    @click.option("--port", type=int, default=0, help="Port of the first sandbox (the next ones follow); default: free ports.")
    @click.option("--seed", type=int, default=1, show_default=True, help="Seed of the sample data.")
    @click.option("--empty", is_flag=True, help="Start without sample data.")
    @click.option("--from", "from_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
                  help="Serve the sandboxes a `hostsync demo` folder saved, with their data, on their ports.")
    @click.option("--json", "as_json", is_flag=True, help="Print the URLs and config tables as JSON.")
    @click.pass_obj
    def sandbox(app: Any, vendors: tuple[str, ...], port: int, seed: int, empty: bool, from_dir: Path | None,
                as_json: bool) -> None:
        """Serve vendor API emulators on 127.0.0.1 until Ctrl-C or SIGTERM.

        Prints each base URL and the [systems.*] tables that point hostsync at it. Each sandbox also
        answers /_sandbox/dump, /_sandbox/calls and /_sandbox/faults for inspecting it.
        Known vendors: see `hostsync plugins`.
        """
        registry = app.plugins.sandboxes
        if from_dir is not None:
            from ..demo import load_snapshot, start_sandboxes

            if vendors:
                raise click.UsageError("give VENDOR names or --from, not both")
            try:
                started = list(start_sandboxes(app.plugins, load_snapshot(from_dir)).values())
            except OSError as exc:
                raise click.ClickException(f"cannot serve the saved sandboxes again: {exc}") from None
        else:
            if not vendors:
                raise click.UsageError(f"name at least one VENDOR (known: {', '.join(sorted(registry)) or 'none'})")
            unknown = [v for v in vendors if v not in registry]
            if unknown:
                raise click.BadParameter(f"unknown sandbox {', '.join(unknown)} (known: {', '.join(sorted(registry)) or 'none'})",
                                         param_hint="VENDOR")
            started = []
            for i, vendor in enumerate(vendors):
                box = registry[vendor](seed=None if empty else seed)
                box.start(port=port + i if port else 0)
                started.append(box)
        try:
            systems = {}
            for box in started:
                systems.update(box.systems())
            done = threading.Event()  # SIGTERM is handled before "Serving" says it may be sent
            previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
            try:
                if as_json:
                    echo_json({"sandboxes": {box.name: box.url for box in started}, "systems": systems})
                else:
                    for box in started:
                        click.echo(f"{box.name}: {box.url}")
                    click.echo("\n# hostsync.toml tables for these sandboxes:\n")
                    click.echo(to_toml({"systems": systems}))
                    click.echo("Serving; press Ctrl-C to stop.", err=True)
                while not done.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
            finally:
                signal.signal(signal.SIGTERM, previous)
        finally:
            for box in started:
                box.stop()
        click.echo("sandboxes stopped", err=True)

    @cli.command("demo")
    @click.option("--dir", "folder", type=click.Path(file_okay=False), default=None,
                  help="Folder for the demo's config and state (default: a new temporary folder).")
    @click.pass_obj
    def demo(app: Any, folder: str | None) -> None:
        """Run hostsync's real job end to end against built-in sandboxes, with nothing to set up.

        Starts every vendor sandbox on loopback, writes a demo config and state into a fresh folder,
        shows the plan, applies it, changes a few records and syncs again to show that only those
        are sent, then prints the commands to explore the result.
        """
        from ..demo import run_demo

        raise SystemExit(run_demo(app.plugins, folder))
