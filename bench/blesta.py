"""Prints what reading each kind costs against the sandbox, and invoice listing throughput on loopback.

Run: ``python bench/blesta.py [EXTRA_INVOICES]``.
"""

from __future__ import annotations

import sys
import time

from hostsync_blesta.connector import BlestaConnector
from hostsync_blesta.sandbox import BlestaSandbox


def main(extra: int = 1000) -> None:
    with BlestaSandbox(seed=7) as box:
        blesta = BlestaConnector("blesta", {**box.systems()["blesta"], "timeout": 5})
        for kind in ("client", "invoice", "domain", "ticket"):
            box.reset_calls()
            n = sum(1 for _ in blesta.list(kind))
            print(f"{kind:8} {n:5} records {sum(box.calls.values()):6} calls  {dict(box.calls)}")
        for i in range(extra):
            box.blesta.invoices_add({"client_id": str(i % 12 + 1), "date_billed": "2025-01-01Z",
                                     "date_due": "2025-01-15Z", "currency": "USD",
                                     "lines": [{"description": f"line {i}", "amount": "9.99"}]})
        box.reset_calls()
        start = time.perf_counter()
        n = sum(1 for _ in blesta.list("invoice"))
        took = time.perf_counter() - start
        print(f"invoices: {n} listed in {took:.2f} s ({n / took:.0f}/s) with {sum(box.calls.values())} calls")
        blesta.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
