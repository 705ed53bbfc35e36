"""WHMCS and wbTeamPro (one emulated WHMCS host) pass the contract suite."""

from __future__ import annotations

from hostsync import Record
from hostsync.contract import ContractSuite
from hostsync_wbteampro.connector import TeamProConnector
from hostsync_whmcs.connector import WhmcsConnector
from hostsync_whmcs.sandbox import WhmcsSandbox

from .samples import CLIENT, DOMAIN, EDITS, INVOICE, PROJECT, TASK, TICKET, TIME_ENTRY


class TestWhmcsContract(ContractSuite):
    connector = WhmcsConnector
    sandbox = WhmcsSandbox
    # the ticket is client 1's (zoe@nordlys.se in the sample data): WHMCS shows the client as the author
    samples = {"client": CLIENT, "domain": DOMAIN, "invoice": INVOICE,
               "ticket": {**TICKET, "client": "1", "messages": [{**TICKET["messages"][0], "author": "zoe@nordlys.se"}]}}
    edits = EDITS
    deleted = {"client": {"status": "closed"}}


class TestTeamProContract(ContractSuite):
    connector = TeamProConnector
    sandbox = WhmcsSandbox
    options = {"members": {"1": "api@example.net", "2": "jane@example.net"}}
    samples = {"project": {**PROJECT, "client": "1"}, "task": TASK, "time_entry": TIME_ENTRY}
    edits = {"ticket": {"project": "2"}}

    def sample(self, kind: str, n: int) -> Record | None:
        """wbTeamPro's ticket is a WHMCS ticket tied to a project: open one in WHMCS to tie."""
        if kind != "ticket":
            return super().sample(kind, n)
        options = {k: v for k, v in self.vendor.systems()["billing"].items() if k != "plugin"}
        with WhmcsConnector("billing", options) as whmcs:
            ticket = whmcs.create("ticket", Record("ticket", None, {
                "subject": f"Contract ticket {n}", "department": "Technical Support",
                "messages": [{"author": "zoe@nordlys.se", "body": "Please look at this."}]}, {"client": "1"}))
        return Record("ticket", ticket, {}, {"project": "1"})
