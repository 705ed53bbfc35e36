"""The ``hostsync`` command line: the operator's tool. One module per command group.

Exit codes: 0 all good, 1 something failed, 2 usage or configuration error.
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
from ..errors import ConfigError, HostsyncError, PluginError
from ..plugins import Plugins, load_plugins

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
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
    """Turns hostsync's own errors into one clear line on stderr and the documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ConfigError, PluginError) as exc:
            click.echo(f"error: {logs.redact(str(exc))}", err=True)
            ctx.exit(EXIT_USAGE)
        except HostsyncError as exc:
            click.echo(f"error: {logs.redact(str(exc))}", err=True)
            ctx.exit(EXIT_FAILED)


@click.group(cls=HostsyncGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
    """
    ctx.obj = App(config_path, plugins_dir, verbose - quiet, _preloaded.get("plugins"))


def _register_builtin_commands() -> None:
    from . import config_cmd, daemon_cmd, plugin_cmd, plugins_cmd, sandbox_cmd, state_cmd, sync_cmd

    for module in (plugins_cmd, plugin_cmd, config_cmd, sync_cmd, state_cmd, daemon_cmd, sandbox_cmd):
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
