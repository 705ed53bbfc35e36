"""The built-in ``metrics`` plugin's hook: every event reaches the metrics exporters of this process.

Exporters exist only once :mod:`hostsync.metrics` is loaded (the daemon, ``hostsync metrics``);
until then there is nothing to count, so a command that exports no metrics never loads
prometheus_client, the scheduler or the state for them.
"""

from __future__ import annotations

import sys

from .events import Event
from .hookspecs import hookimpl


@hookimpl
def hostsync_event(event: Event) -> None:
    """Count the event in every exporter of this process (none: nothing to do)."""
    metrics = sys.modules.get("hostsync.metrics")
    if metrics is not None:
        metrics.observe(event)
