"""hostsync plugin for WebWork Tracker (REST API v2): projects and tasks both ways, time entries read,
plus a sandbox. Registered through the ``hostsync`` entry-point group exactly as an external plugin
would be. See README.md beside this file for what maps to what and what it costs in calls.
"""

from hostsync import hookimpl


@hookimpl
def hostsync_register_connectors(register):
    from .connector import WebWorkConnector

    register(WebWorkConnector)


@hookimpl
def hostsync_register_sandboxes(register):
    from .sandbox import WebWorkSandbox

    register(WebWorkSandbox)
