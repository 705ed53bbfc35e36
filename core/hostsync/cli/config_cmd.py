"""``hostsync config validate|show``."""

from __future__ import annotations

import sys
from typing import Any

import click

from .. import logs
from ..errors import ConfigError, PluginError
from .exits import EXIT_USAGE
from .output import echo_json, plural


def to_toml(data: dict[str, Any]) -> str:
    """TOML for the shapes ``Config.redacted()`` produces (tables of scalars, lists and sub-tables)."""
    lines: list[str] = []

    def scalar(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return repr(value)
        if isinstance(value, list):
            return "[" + ", ".join(scalar(v) for v in value) + "]"
        if isinstance(value, dict):
            return "{ " + ", ".join(f"{_key(k)} = {scalar(v)}" for k, v in value.items()) + " }"
        text = str(value).replace("\\", "\\\\").replace('"', '\\"')
        return f'"{text}"'

    def section(path: str, table: dict[str, Any]) -> None:
        simple = {k: v for k, v in table.items() if not isinstance(v, dict)}
        nested = {k: v for k, v in table.items() if isinstance(v, dict)}
        if simple or not nested:
            lines.append(f"[{path}]")
            lines.extend(f"{_key(k)} = {scalar(v)}" for k, v in simple.items())
            lines.append("")
        for key, value in nested.items():
            section(f"{path}.{_key(key)}", value)

    for name, table in data.items():
        if table:
            section(name, table)
    return "\n".join(lines).rstrip() + "\n"


def _key(key: str) -> str:
    return key if key.replace("-", "").replace("_", "").isalnum() else f'"{key}"'


def register(cli: click.Group) -> None:
    @cli.group("config")
    def config() -> None:
        """Check and show the configuration."""

    @config.command("validate")
    @click.option("--json", "as_json", is_flag=True, help='Print {"valid": ..., "error": ...} as JSON.')
    @click.pass_obj
    def validate(app: Any, as_json: bool) -> None:
        """Load the config and report the first problem (exit 2), or say it is valid."""
        if not as_json:
            cfg = app.config
            click.echo(f"{cfg.path}: valid ({plural(len(cfg.systems), 'system')}, {plural(len(cfg.jobs), 'job')})")
            return
        try:
            cfg = app.config
        except (ConfigError, PluginError) as exc:
            echo_json({"valid": False, "error": logs.redact(str(exc))})
            sys.exit(EXIT_USAGE)
        echo_json({"valid": True, "path": str(cfg.path), "systems": sorted(cfg.systems), "jobs": sorted(cfg.jobs)})

    @config.command("show")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML.")
    @click.pass_obj
    def show(app: Any, as_json: bool) -> None:
        """Print the configuration as hostsync understood it: defaults filled in, secrets as ***."""
        data = app.config.redacted()
        if as_json:
            echo_json(data)
        else:
            click.echo(to_toml(data), nl=False)
