"""hostsync plugin for WHMCS: the billing system's clients, tickets, invoices and domains.

Registers the ``whmcs`` connector and the ``whmcs`` sandbox, which emulates a whole WHMCS host:
the External API and the wbTeamPro addon's API (the ``hostsync_wbteampro`` plugin's vendor).
"""

from hostsync import hookimpl


@hookimpl
def hostsync_register_connectors(register):
    from .connector import WhmcsConnector

    register(WhmcsConnector)


@hookimpl
def hostsync_register_sandboxes(register):
    from .sandbox import WhmcsSandbox

    register(WhmcsSandbox)
