"""Blesta passes the contract suite."""

from __future__ import annotations

from typing import Any

from hostsync.contract import ContractSuite
from hostsync_blesta.connector import BlestaConnector
from hostsync_blesta.sandbox import BlestaSandbox

from .samples import CLIENT, DOMAIN, EDITS, INVOICE, TICKET


class TestBlestaContract(ContractSuite):
    connector = BlestaConnector
    sandbox = BlestaSandbox
    samples = {"client": {**CLIENT, "state": "NH"}, "domain": DOMAIN, "invoice": INVOICE,
               "ticket": {**TICKET, "messages": [{"body": TICKET["messages"][0]["body"]}]}}
    edits = EDITS
    deleted = {"client": {"status": "inactive"}, "invoice": {"status": "cancelled"}}

    def small_pages(self, vendor: BlestaSandbox, options: dict[str, Any]) -> dict[str, Any]:
        """Blesta's page size is the server's (Blesta.results_per_page), not a request argument."""
        vendor.page_size = self.page_size
        return options

    def restore_pages(self, vendor: BlestaSandbox) -> None:
        vendor.page_size = 20
