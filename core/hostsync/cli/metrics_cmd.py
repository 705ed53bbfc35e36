"""``hostsync metrics``: the daemon's Prometheus metrics, printed once from the state file."""

from __future__ import annotations

from typing import Any

import click


def register(cli: click.Group) -> None:
    @cli.command("metrics")
    @click.pass_obj
    def metrics(app: Any) -> None:
        """Print the metrics in the Prometheus text format, once.

        Read from the state file, so this works whether or not the daemon runs. Families the daemon
        counts from its own calls (vendor calls and latency, rate-limit waits, failures by cause,
        drift) are printed empty here: only the daemon's textfile and HTTP endpoint carry them.
        """
        from ..metrics import render  # prometheus_client loads only here and in the daemon

        click.echo(render(app.config), nl=False)
