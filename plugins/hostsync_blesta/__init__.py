"""hostsync plugin for Blesta: clients, invoices, domains and Support Manager tickets, plus a sandbox.

Registered through the ``hostsync`` entry-point group exactly as an external plugin would be.
"""

from hostsync import hookimpl


@hookimpl
def hostsync_register_connectors(register):
    from .connector import BlestaConnector

    register(BlestaConnector)


@hookimpl
def hostsync_register_sandboxes(register):
    from .sandbox import BlestaSandbox

    register(BlestaSandbox)
