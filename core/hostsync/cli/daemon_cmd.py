"""``hostsync daemon``: run the scheduled jobs in the foreground (systemd runs this)."""

from __future__ import annotations

import sys
from typing import Any

import click


def register(cli: click.Group) -> None:
    @cli.command("daemon")
    @click.pass_obj
    def daemon(app: Any) -> None:
        """Run every scheduled job on its schedule until stopped.

        Logs go to stderr (journald under systemd). SIGTERM finishes the record in hand and exits 0;
        SIGHUP reloads the configuration (an invalid one is logged and the running one kept). Under
        systemd (Type=notify) it reports READY, STATUS, WATCHDOG, RELOADING and STOPPING.
        """
        from ..daemon import Daemon  # the scheduler and metrics load only for the daemon

        runner = Daemon(app.config_path, app.plugins_dir_option, app.verbosity, app._entry_point_plugins)
        sys.exit(runner.run())
