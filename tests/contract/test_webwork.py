"""WebWork passes the contract suite."""

from __future__ import annotations

from typing import Any

from hostsync.contract import ContractSuite
from hostsync_webwork import client as webwork_client
from hostsync_webwork.connector import WebWorkConnector
from hostsync_webwork.sandbox import WebWorkSandbox

from .samples import PROJECT, TASK, TIME_ENTRY


class TestWebWorkContract(ContractSuite):
    connector = WebWorkConnector
    sandbox = WebWorkSandbox
    #: a time entry is read only: its sample is for stored()
    samples = {"project": {k: v for k, v in PROJECT.items() if k != "client"}, "task": TASK, "time_entry": TIME_ENTRY}

    @classmethod
    def reset_vendor(cls, vendor: WebWorkSandbox) -> None:
        """Its 60 requests a minute raised: the suite is not about the limit (tests/plugins/webwork is)."""
        super().reset_vendor(vendor)
        vendor.set_limit(6000, 60.0)

    def small_pages(self, vendor: Any, options: dict[str, Any]) -> dict[str, Any]:
        webwork_client.PER_PAGE = self.page_size
        return options

    def restore_pages(self, vendor: Any) -> None:
        webwork_client.PER_PAGE = 100
