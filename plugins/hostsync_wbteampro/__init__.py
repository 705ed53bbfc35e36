"""hostsync plugin for wbTeamPro, the WHMCS project-management addon: projects, tasks, time
entries and the ties between WHMCS tickets and projects.

Registers the ``wbteampro`` connector. Its sandbox is the ``whmcs`` one (``hostsync sandbox
whmcs``): wbTeamPro runs inside WHMCS and shares its database, so one emulator serves both APIs.
"""

from hostsync import hookimpl


@hookimpl
def hostsync_register_connectors(register):
    from .connector import TeamProConnector

    register(TeamProConnector)
