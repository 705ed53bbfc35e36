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
    @click.option("--latency", type=click.FloatRange(min=0), default=0.0, show_default=True,
                  help="Scale of the vendor latencies the sandboxes model (1: as slow as real systems, e.g. "
                       "ISPConfig's 0.6 s per new client), to try concurrency settings.")
    @click.option("--from", "from_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
                  help="Serve the sandboxes a `hostsync demo` folder saved, with their data, on their ports.")
    @click.option("--json", "as_json", is_flag=True, help="Print the URLs and config tables as JSON.")
    @click.pass_obj
    def sandbox(app: Any, vendors: tuple[str, ...], port: int, seed: int, empty: bool, latency: float,
                from_dir: Path | None, as_json: bool) -> None:
        """Serve vendor API emulators on 127.0.0.1 until Ctrl-C or SIGTERM.

        VENDORS are sandbox names or the plugins they serve (wbteampro is served by the whmcs
        sandbox). Prints each base URL and the [systems.*] tables that point hostsync at it. Each
        sandbox also answers /_sandbox/dump, /_sandbox/calls and /_sandbox/faults for inspecting it;
        `hostsync sandbox-edit` changes its records as a user of the vendor would.
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
            chosen = {vendor: app.plugins.sandbox_for(vendor) for vendor in vendors}
            unknown = [vendor for vendor, box in chosen.items() if box is None]
            if unknown:
                served = sorted({p for box in registry.values() for p in box.plugins} | set(registry))
                raise click.BadParameter(f"unknown sandbox {', '.join(unknown)} (known: {', '.join(served) or 'none'})",
                                         param_hint="VENDOR")
            started = []
            for i, cls in enumerate(dict.fromkeys(chosen.values())):  # one whmcs sandbox for whmcs and wbteampro
                assert cls is not None
                box = cls(seed=None if empty else seed)
                box.latency = latency
                box.start(port=port + i if port else 0)
                started.append(box)
        done = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: done.set())  # before "Serving": a prompt TERM stops cleanly
        try:
            systems = {}
            for box in started:
                systems.update(box.systems())
            if as_json:
                echo_json({"sandboxes": {box.name: box.url for box in started}, "systems": systems})
            else:
                for box in started:
                    click.echo(f"{box.name}: {box.url}")
                click.echo("\n# hostsync.toml tables for these sandboxes:\n")
                click.echo(to_toml({"systems": systems}))
                click.echo("Serving; press Ctrl-C to stop.", err=True)
            try:
                while not done.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            for box in started:
                box.stop()
        click.echo("sandboxes stopped", err=True)

    @cli.command("sandbox-edit")
    @click.argument("url")
    @click.argument("kind")
    @click.argument("id")
    @click.argument("changes", nargs=-1, required=True, metavar="FIELD=VALUE...")
    def sandbox_edit(url: str, kind: str, id: str, changes: tuple[str, ...]) -> None:
        """Change a record in a running sandbox as a user of the vendor would (not through its API).

        URL is the sandbox's base URL (as `hostsync sandbox` prints it); KIND and the FIELD names are
        canonical (client city=Leipzig status=inactive); an empty VALUE clears the field. The next
        sync sees the change as one made in the vendor.
        """
        fields: dict[str, Any] = {}
        for change in changes:
            name, sep, value = change.partition("=")
            if not sep or not name:
                raise click.BadParameter(f"{change!r} is not FIELD=VALUE", param_hint="FIELD=VALUE")
            fields[name] = value or None
        import httpx

        from ..http import build_client

        try:
            with build_client({"timeout": 10}) as client:
                response = client.post(f"{url.rstrip('/')}/_sandbox/edit",
                                       json={"kind": kind, "id": id, "fields": fields})
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach a sandbox at {url}: {exc}") from None
        answer = response.json() if "json" in response.headers.get("Content-Type", "") else {}
        if response.status_code != 200:
            raise click.ClickException(str(answer.get("error") or f"the sandbox answered HTTP {response.status_code}"))
        click.echo(f"{kind} {id}: {', '.join(sorted(fields))} changed")

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
