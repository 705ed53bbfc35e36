"""hostsync plugin for ISPConfig 3: clients, domains and sites over the remote API (SOAP or JSON).

Registered through the ``hostsync`` entry-point group exactly as an external plugin would be.
"""

from hostsync import hookimpl


@hookimpl
def hostsync_register_connectors(register):
    from .connector import IspconfigConnector

    register(IspconfigConnector)


@hookimpl
def hostsync_register_sandboxes(register):
    from .sandbox import IspconfigSandbox

    register(IspconfigSandbox)
