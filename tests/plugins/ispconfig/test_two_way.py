"""Two-way jobs through `hostsync sync`: the in-memory vendor <-> the ISPConfig sandbox over SOAP.

ISPConfig keeps some values differently from how they were sent (``php = "no"`` reads back as no PHP,
a site without status, TLS flag or quota gets the add's defaults, a client without status is
active). :meth:`IspconfigConnector.stored` says so, so the second run writes nothing, nothing comes
back to the vendor, and the vendor keeps its own values.
"""

from __future__ import annotations

import pytest

from .test_engine import WRITES

JOBS = ("clients", "domains", "sites")


@pytest.fixture
def pair(project, memory, sandbox):
    """billing (in memory) <-> panel (the ISPConfig sandbox over SOAP), two-way for every kind."""
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", **dict(sandbox.systems()["panel"], timeout=5))
    for job, kind in zip(JOBS, ("client", "domain", "site")):
        project.job(job, kind=kind, source="billing", targets=["panel"], direction="two-way")
    return project, memory.vendor("billing"), sandbox


def sync(project) -> dict[str, dict]:
    result = project.cli("sync", *JOBS, "--json")
    assert result.exit_code == 0, result.output
    return {entry["job"]: entry["counts"] for entry in result.json()}


def panel_writes(sandbox) -> dict[str, int]:
    return {name: sandbox.calls[name] for name in WRITES if sandbox.calls[name]}


def lossy_billing(billing) -> dict[str, str]:
    """Records whose values ISPConfig keeps differently, beside ordinary ones."""
    owner = billing.put("client", {"email": "nostatus@billing.example", "first_name": "Ingrid", "last_name": "Ødegård",
                                   "company": None, "phone": None, "address1": "Storgata 1", "address2": None,
                                   "city": "Tromsø", "state": None, "postcode": "9008", "country": "NO",
                                   "status": None})
    closed = billing.put("client", {"email": "closed@billing.example", "first_name": "Kai", "last_name": "Lindqvist",
                                    "company": "Lindqvist Oy", "country": "FI", "status": "closed"})
    billing.put("domain", {"name": "ødegård.example", "status": "active", "registered_on": "2024-03-01",
                           "expires_on": "2027-03-01"}, refs={"client": owner})
    bare = billing.put("site", {"domain": "ødegård.example", "status": None, "php": "no", "ssl": None,
                                "quota_mb": None}, refs={"client": owner})
    full = billing.put("site", {"domain": "lindqvist.example", "status": "inactive", "php": "fast-cgi", "ssl": True,
                                "quota_mb": -1}, refs={"client": closed})
    return {"owner": owner, "closed": closed, "bare": bare, "full": full}


def test_second_run_writes_nothing_and_nothing_bounces_or_degrades(pair):
    project, billing, sandbox = pair
    ids = lossy_billing(billing)
    before = {kind: billing.records(kind) for kind in ("client", "domain", "site")}
    sandbox_sites = len(sandbox.dump()["tables"]["web_domain"])

    first = sync(project)
    assert all(first[job]["failed"] == first[job]["conflicts"] == first[job]["updated"] == 0 for job in JOBS), first
    site = next(r for r in sandbox.dump()["tables"]["web_domain"] if r["domain"] == "xn--degrd-ora3k.example")
    assert (site["php"], site["active"], site["ssl"], site["hd_quota"]) == ("no", "y", "n", "100")
    assert len(sandbox.dump()["tables"]["web_domain"]) == sandbox_sites + 2
    # Both sides now hold both sides' records.
    tables = sandbox.dump()["tables"]
    assert sorted(r["fields"]["email"] for r in billing.records("client").values()) == \
        sorted(r["email"] for r in tables["client"])
    assert sorted(r["fields"]["domain"].encode("idna").decode() for r in billing.records("site").values()) == \
        sorted(r["domain"] for r in tables["web_domain"] if r["type"] == "vhost")
    vendor_writes = billing.write_count()
    sandbox.reset_calls()

    second = sync(project)
    assert all(second[job]["created"] == second[job]["updated"] == second[job]["conflicts"] == 0 for job in JOBS), second
    assert panel_writes(sandbox) == {} and billing.write_count() == vendor_writes
    for kind, records in before.items():  # the vendor keeps its own values, not ISPConfig's readings
        for rid, record in records.items():
            assert billing.records(kind)[rid]["fields"] == record["fields"], (kind, rid)

    # A real change in ISPConfig still flows back, and only it.
    [row] = [r for r in sandbox.panel.tables["web_domain"].values() if r["domain"] == "xn--degrd-ora3k.example"]
    row["hd_quota"] = "750"
    sandbox.reset_calls()
    third = sync(project)
    assert third["sites"]["updated"] == 1 and panel_writes(sandbox) == {}
    bare = billing.records("site")[ids["bare"]]["fields"]
    assert bare == {**before["site"][ids["bare"]]["fields"], "quota_mb": 750}
    vendor_writes = billing.write_count()
    fourth = sync(project)
    assert all(fourth[job]["updated"] == fourth[job]["created"] == 0 for job in JOBS), fourth
    assert panel_writes(sandbox) == {} and billing.write_count() == vendor_writes
