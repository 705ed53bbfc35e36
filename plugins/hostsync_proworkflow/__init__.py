"""hostsync plugin for ProWorkflow (classic API): client companies, projects, tasks, time records and
invoices, plus a sandbox.

Registered through the ``hostsync`` entry-point group exactly as an external plugin would be.
"""

from hostsync import hookimpl


@hookimpl
def hostsync_register_connectors(register):
    from .connector import ProWorkflowConnector

    register(ProWorkflowConnector)


@hookimpl
def hostsync_register_sandboxes(register):
    from .sandbox import ProWorkflowSandbox

    register(ProWorkflowSandbox)
