"""The ``hostsync`` command line: the operator's tool. One module per command group.

Exit codes: see :mod:`.exits`.
"""

from __future__ import annotations

import os
import sys
from functools import cached_property
from pathlib import Path
from typing import Any

import click

from .. import __version__, logs
from ..config import Config, find_config, load_config, plugins_for
from ..errors import ConfigError, HostsyncError, PluginError, StateError, StateFull
from ..plugins import Plugins, load_plugins
from . import exits
from .exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE  # noqa: F401 - kept importable from here
from .output import redacted_output

_preloaded: dict[str, Plugins] = {}


class App:
    """What commands share: the options of the top-level group, plugins and config, loaded lazily."""

    def __init__(self, config_path: Path | None, plugins_dir: Path | None, verbosity: int,
                 plugins: Plugins | None = None) -> None:
        self.config_option = config_path
        self.plugins_dir_option = plugins_dir
        self.verbosity = verbosity
        self._entry_point_plugins = plugins
        logs.setup("info", verbosity)

    @cached_property
    def config_path(self) -> Path:
        return find_config(self.config_option, os.environ)

    @cached_property
    def plugins(self) -> Plugins:
        try:
            path: Path | None = self.config_path
        except ConfigError:  # `hostsync plugins` and `sandbox` need no config
            path = None
        return plugins_for(path, self.plugins_dir_option, self._entry_point_plugins)

    @cached_property
    def config(self) -> Config:
        config = load_config(self.config_path, self.plugins)
        logs.setup(config.log_level, self.verbosity, config.secret_values)
        return config


class HostsyncGroup(click.Group):
    """Turns hostsync's own errors into one clear line on stderr and the documented exit code; whatever
    a command prints passes through the redactor."""

    def invoke(self, ctx: click.Context) -> Any:
        with redacted_output():
            try:
                return super().invoke(ctx)
            except (ConfigError, PluginError, StateError) as exc:
                click.echo(f"error: {exc}", err=True)
                ctx.exit(EXIT_USAGE)
            except (HostsyncError, StateFull) as exc:
                click.echo(f"error: {exc}", err=True)
                ctx.exit(EXIT_FAILED)


@click.group(cls=HostsyncGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=exits.HELP)
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Config file. Default: $HOSTSYNC_CONFIG, else ./hostsync.toml, else /etc/hostsync/hostsync.toml.")
@click.option("--plugins-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Load extra plugins from the .py files in this directory.")
@click.option("-v", "--verbose", count=True, help="More log output (repeat for more).")
@click.option("-q", "--quiet", count=True, help="Less log output (repeat for less).")
@click.version_option(__version__, "-V", "--version", prog_name="hostsync")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, plugins_dir: Path | None, verbose: int, quiet: int) -> None:
    """Keep billing, control-panel and project systems in step.

    hostsync mirrors clients, domains, invoices, tickets, projects, tasks and time entries between
    the systems of a hosting business (WHMCS, Blesta, ISPConfig, wbTeamPro, ...), planning every
    change before it applies it, remembering what it linked, and never creating a record twice.

    Start with `hostsync demo`, then see `hostsync COMMAND -h`.

    \b
    Shell completion of commands, job and system names (bash; zsh_source, fish_source likewise):
      eval "$(_HOSTSYNC_COMPLETE=bash_source hostsync)"
    """
    ctx.obj = App(config_path, plugins_dir, verbose - quiet, _preloaded.get("plugins"))


def _register_builtin_commands() -> None:
    from . import (config_cmd, daemon_cmd, drift_cmd, holds_cmd, metrics_cmd, plugin_cmd, plugins_cmd, sandbox_cmd,
                   state_cmd, sync_cmd)

    for module in (plugins_cmd, plugin_cmd, config_cmd, sync_cmd, drift_cmd, state_cmd, holds_cmd, metrics_cmd,
                   daemon_cmd, sandbox_cmd):
        module.register(cli)


_register_builtin_commands()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: load installed plugins (they may add commands), then run the CLI."""
    try:
        plugins = load_plugins()
        plugins.register_commands(cli)
    except PluginError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    _preloaded["plugins"] = plugins
    cli.main(args=argv, prog_name="hostsync")
