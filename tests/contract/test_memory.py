"""The shipped in-memory vendor passes the contract suite (its transport faults do not apply: it has no wire)."""

from __future__ import annotations

from typing import Any

from hostsync import memory_vendor
from hostsync.contract import ContractSuite

from .samples import ALL, EDITS

PASSWORD = "memory-contract-secret-5e1d"


class TestMemoryContract(ContractSuite):
    connector = memory_vendor.MemoryConnector
    samples = ALL
    edits = EDITS

    @classmethod
    def start_vendor(cls) -> memory_vendor.MemoryVendor:
        vendor = memory_vendor.MemoryVendor("contract", password=PASSWORD)
        memory_vendor.VENDORS["contract"] = vendor
        return vendor

    @classmethod
    def stop_vendor(cls, vendor: memory_vendor.MemoryVendor) -> None:
        memory_vendor.VENDORS.pop("contract", None)

    @classmethod
    def reset_vendor(cls, vendor: memory_vendor.MemoryVendor) -> None:
        with vendor.lock:
            vendor.data = {kind: {} for kind in vendor.data}
            vendor.calls.clear()
            vendor.faults.clear()
            vendor.late.clear()

    def connector_options(self, vendor: Any) -> dict[str, Any]:
        return {"vendor": "contract", "password": PASSWORD, "origin": True}

    def requests(self, vendor: memory_vendor.MemoryVendor) -> int:
        return sum(vendor.calls.values())

    def can_inject(self, vendor: Any) -> bool:
        return False
