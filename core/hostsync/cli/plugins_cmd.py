"""``hostsync plugins``: what is installed and what each plugin provides."""

from __future__ import annotations

from typing import Any

import click

from ..connector import OPERATIONS
from ..plugins import PluginInfo
from .output import echo_json


def describe(info: PluginInfo) -> dict[str, Any]:
    return {
        "name": info.name, "module": info.module, "version": info.version, "source": info.source,
        "hooks": info.hooks,
        "connectors": [{"name": c.name, "description": c.description,
                        "kinds": {kind: [op for op in OPERATIONS if op in ops] for kind, ops in c.kinds.items()},
                        "settings": [{"name": s.name, "type": s.type, "required": s.required, "secret": s.secret}
                                     for s in c.settings]}
                       for c in info.connectors],
        "sandboxes": [s.name for s in info.sandboxes],
        "transforms": info.transforms,
    }


def register(cli: click.Group) -> None:
    @cli.command("plugins")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.pass_obj
    def plugins(app: Any, as_json: bool) -> None:
        """List plugins with their hooks and the connectors they provide.

        Plugins come from installed packages (entry-point group `hostsync`; restrict them with
        HOSTSYNC_LOAD_PLUGINS=a,b) and from --plugins-dir / plugins_dir.
        """
        infos = [describe(info) for info in app.plugins.infos.values()]
        if as_json:
            echo_json(infos)
            return
        for info in infos:
            version = f" {info['version']}" if info["version"] else ""
            click.echo(f"{info['name']}{version}  ({info['module']}, {info['source']})")
            click.echo(f"  hooks: {', '.join(info['hooks']) or '-'}")
            for connector in info["connectors"]:
                click.echo(f"  connector {connector['name']}" +
                           (f": {connector['description']}" if connector["description"] else ""))
                for kind, ops in connector["kinds"].items():
                    click.echo(f"    {kind:<11} {' '.join(ops)}")
            if info["sandboxes"]:
                click.echo(f"  sandboxes: {', '.join(info['sandboxes'])}")
            if info["transforms"]:
                click.echo(f"  transforms: {', '.join(info['transforms'])}")
