"""``hostsync plugins``: what is installed and what each plugin provides."""

from __future__ import annotations

from typing import Any

import click

from ..connector import OPERATIONS, Connector
from ..model import KINDS
from ..plugins import PluginInfo
from .output import echo_json


def describe(info: PluginInfo, fields: bool = False) -> dict[str, Any]:
    return {
        "name": info.name, "module": info.module, "version": info.version, "source": info.source,
        "hooks": info.hooks,
        "connectors": [_connector(c, fields) for c in info.connectors],
        "sandboxes": [s.name for s in info.sandboxes],
        "transforms": info.transforms,
    }


def _connector(cls: type[Connector], fields: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": cls.name, "description": cls.description,
        "kinds": {kind: [op for op in OPERATIONS if op in ops] for kind, ops in cls.kinds.items()},
        "settings": [{"name": s.name, "type": s.type, "required": s.required, "secret": s.secret}
                     for s in cls.settings],
    }
    if fields:
        out["fields"] = {kind: {"carried": _ordered(kind, ops.carried(kind)),
                                "read_only": _ordered(kind, ops.carried(kind) - ops.writable(kind)),
                                "origin": ops.origin}
                         for kind, ops in cls.kinds.items()}
    return out


def _ordered(kind: str, names: frozenset[str]) -> list[str]:
    """Field names in the kind's own order (list items after their list)."""
    order = {name: i for i, name in enumerate(KINDS[kind].names)}
    return sorted(names, key=lambda name: (order.get(name.split(".")[0], len(order)), name))


def register(cli: click.Group) -> None:
    @cli.command("plugins")
    @click.option("--fields", is_flag=True, help="Also show each kind's carried and read-only fields.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.pass_obj
    def plugins(app: Any, fields: bool, as_json: bool) -> None:
        """List plugins with their hooks and the connectors they provide.

        Plugins come from installed packages (entry-point group `hostsync`; restrict them with
        HOSTSYNC_LOAD_PLUGINS=a,b) and from --plugins-dir / plugins_dir. With --fields, each kind's
        canonical fields the connector carries, those it only reads, and whether it keeps an
        origin marker: the most it does (some connectors do less under some settings).
        """
        infos = [describe(info, fields) for info in app.plugins.infos.values()]
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
                    if fields:
                        detail = connector["fields"][kind]
                        click.echo(f"      carries:   {', '.join(detail['carried'])}")
                        if detail["read_only"]:
                            click.echo(f"      read-only: {', '.join(detail['read_only'])}")
                        if detail["origin"]:
                            click.echo("      keeps an origin marker")
            if info["sandboxes"]:
                click.echo(f"  sandboxes: {', '.join(info['sandboxes'])}")
            if info["transforms"]:
                click.echo(f"  transforms: {', '.join(info['transforms'])}")
