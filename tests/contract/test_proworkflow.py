"""ProWorkflow passes the contract suite."""

from __future__ import annotations

from typing import Any

from hostsync.contract import ContractSuite
from hostsync_proworkflow.client import ProWorkflowClient
from hostsync_proworkflow.connector import ProWorkflowConnector
from hostsync_proworkflow.sandbox import ProWorkflowSandbox

from .samples import CLIENT, EDITS, INVOICE, PROJECT, TASK, TIME_ENTRY


class TestProWorkflowContract(ContractSuite):
    connector = ProWorkflowConnector
    sandbox = ProWorkflowSandbox
    #: ProWorkflow invoices belong to a project of their client: one of the sample's clients that has projects
    samples = {"client": CLIENT, "project": PROJECT, "task": TASK, "time_entry": TIME_ENTRY,
               "invoice": {**INVOICE, "client": "2"}}
    edits = EDITS

    def small_pages(self, vendor: Any, options: dict[str, Any]) -> dict[str, Any]:
        ProWorkflowClient.page_size = self.page_size
        return options

    def restore_pages(self, vendor: Any) -> None:
        ProWorkflowClient.page_size = 500
