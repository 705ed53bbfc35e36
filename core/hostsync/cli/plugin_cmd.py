"""``hostsync plugin new NAME``: start a new vendor plugin from the scaffold."""

from __future__ import annotations

from pathlib import Path

import click

from ..scaffold import ScaffoldError, names, new_plugin


def register(cli: click.Group) -> None:
    @cli.group("plugin")
    def plugin() -> None:
        """Write new plugins (`hostsync plugins` lists the installed ones)."""

    @plugin.command("new")
    @click.argument("name")
    @click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="Where to write it (default: ./hostsync-NAME).")
    def new(name: str, folder: Path | None) -> None:
        """Write a plugin package for vendor NAME that installs and passes its tests as generated.

        It holds the entry point, a client for a small REST API, the mapping, a connector for one
        kind (client), a sandbox emulating that API, tests that run hostsync's contract suite, a
        README and a CI workflow. Replace the API with your vendor's, kind by kind, and keep the
        contract suite green. The guide: docs/plugins.md in hostsync.
        """
        try:
            folder = folder or Path(names(name)["dist"])
            written = new_plugin(name, folder)
        except ScaffoldError as exc:
            raise click.UsageError(str(exc)) from None
        for path in written:
            click.echo(f"  {path}")
        click.echo(f"\nwrote plugin {name!r} in {folder}. Next:\n"
                   f"  cd {folder} && python -m pip install -e '.[test]' && python -m pytest\n"
                   f"  hostsync sandbox {name}")
