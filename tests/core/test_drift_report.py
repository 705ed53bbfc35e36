"""`hostsync drift`, through the CLI against in-memory vendors: each kind of finding, exit 1 when any and
0 when the systems agree, and nothing written anywhere. (Against the sandboxes: tests/end_to_end/test_drift.py.)"""

from __future__ import annotations

import hashlib

import pytest

from .test_engine_one_way import client, invoice


def domain(name: str) -> dict:
    return {"name": name, "status": "active", "registered_on": "2025-01-01", "expires_on": "2027-01-01"}


@pytest.fixture
def agreed(project, memory):
    """billing -> panel: 3 clients, 2 domains, 1 invoice, all synced."""
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memory", vendor="panel")
    for kind in ("client", "domain", "invoice"):
        project.job(f"{kind}s", kind=kind, source="billing", targets=["panel"])
    billing, panel = memory.vendor("billing"), memory.vendor("panel")
    ids = [billing.put("client", client(n)) for n in range(3)]
    billing.put("domain", domain("a.example"), {"client": ids[0]})
    billing.put("domain", domain("b.example"), {"client": ids[1]})
    billing.put("invoice", invoice("INV-1"), {"client": ids[0]})
    assert project.cli("sync", "--all").exit_code == 0
    return billing, panel, ids


def in_panel(panel, kind: str, **match) -> str:
    return next(i for i, r in panel.records(kind).items() if all(r["fields"].get(k) == v for k, v in match.items()))


def test_systems_that_agree_exit_0(project, agreed):
    result = project.cli("drift")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["clients (client: billing -> panel): in agreement",
                                          "domains (domain: billing -> panel): in agreement",
                                          "invoices (invoice: billing -> panel): in agreement"]
    assert project.cli("drift", "--json").json()["agree"] is True


def test_each_kind_of_finding_is_reported_and_nothing_is_written(project, agreed):
    billing, panel, ids = agreed
    panel.edit("client", in_panel(panel, "client", email="c0@example.org"), status="inactive")
    billing.edit("client", ids[1], status="closed")
    billing.edit("client", ids[2], city="Hamburg")
    panel.put("client", client(7, email="nobody-bills@example.org"))
    billing.put("client", client(8))
    a = in_panel(panel, "domain", name="a.example")
    panel.data["domain"][a]["refs"]["client"] = in_panel(panel, "client", email="c1@example.org")
    billing.edit("invoice", next(iter(billing.records("invoice"))), status="paid", paid_on="2026-03-10")
    state = project.state_path.read_bytes()
    writes = (billing.write_count(), panel.write_count())

    result = project.cli("drift", "--json")
    assert result.exit_code == 1, result.output
    report = result.json()
    assert report["agree"] is False
    jobs = {entry["job"]: entry for entry in report["jobs"]}
    clients = jobs["clients"]
    assert clients["counts"] == {"orphans": 1, "missing": 1, "differ": 3, "mismatches": 2}
    assert [m["type"] for m in clients["mismatches"]] == ["client_suspended", "client_active"]
    assert clients["mismatches"][0]["text"] == "active in billing but inactive in panel"
    assert clients["mismatches"][1]["text"] == "closed in billing but active in panel"
    assert clients["orphans"][0]["key"] == {"email": "nobody-bills@example.org"}
    assert clients["missing"][0]["key"] == {"email": "c8@example.org"} and not clients["missing"][0]["linked"]
    city = next(d for d in clients["differ"] if d["source_id"] == ids[2])
    assert city["fields"] == {"city": {"source": "Hamburg", "target": "Berlin"}} and city["linked"]
    [owner] = jobs["domains"]["mismatches"]
    assert owner["type"] == "domain_owner" and owner["key"] == {"name": "a.example"}
    [paid] = jobs["invoices"]["mismatches"]
    assert (paid["type"], paid["text"]) == ("invoice_paid", "paid in billing but unpaid in panel")

    table = project.cli("drift", "clients")
    assert table.exit_code == 1
    assert "clients (client: billing -> panel): 2 mismatches, 3 pairs differ, 1 missing from the target, 1 orphan" \
        in table.stdout
    assert "  MISMATCH  client billing#1 = panel#" in table.stdout
    assert "(email=nobody-bills@example.org): no counterpart in billing" in table.stdout

    assert project.state_path.read_bytes() == state  # nothing written anywhere
    assert (billing.write_count(), panel.write_count()) == writes


def test_an_unlinked_pair_is_matched_and_compared(project, memory):
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memory", vendor="panel")
    project.job("clients", kind="client", source="billing", targets=["panel"])
    billing, panel = memory.vendor("billing"), memory.vendor("panel")
    billing.put("client", client(1))
    panel.put("client", client(1, status="closed"))
    result = project.cli("drift", "--json")
    assert result.exit_code == 1
    assert not project.state_path.exists()  # without a state file, none is made
    [entry] = result.json()["jobs"]
    assert entry["counts"] == {"orphans": 0, "missing": 0, "differ": 1, "mismatches": 1}
    assert entry["differ"][0]["linked"] is False and entry["mismatches"][0]["type"] == "client_suspended"


def test_a_held_system_is_reported_as_an_error(project, agreed):
    project.systems["panel"]["password"] = "wrong"
    result = project.cli("drift", "clients", "--json")
    assert result.exit_code == 1
    [entry] = result.json()["jobs"]
    assert entry["errors"] and "login refused" in entry["errors"][0]
    digest = hashlib.sha256(project.state_path.read_bytes()).hexdigest()
    project.cli("drift", "clients")
    assert hashlib.sha256(project.state_path.read_bytes()).hexdigest() == digest


def test_a_report_after_the_credentials_were_fixed_neither_releases_the_hold_nor_fails(project, agreed):
    """A held system whose configuration changed is released by the next run that may write; a report
    (or a plan), which opens the state read-only, reads it all the same and leaves the hold stored."""
    project.systems["panel"]["password"] = "wrong"
    assert project.cli("check", "panel").exit_code == 1  # the refused login holds panel
    project.systems["panel"]["password"] = "right"
    digest = hashlib.sha256(project.state_path.read_bytes()).hexdigest()
    for command in (("drift", "clients"), ("plan", "clients")):
        result = project.cli(*command)
        assert result.exit_code == 0, result.output
    assert hashlib.sha256(project.state_path.read_bytes()).hexdigest() == digest
    with project.state() as state:
        assert state.health("panel")["status"] == "held"
    assert project.cli("sync", "clients").exit_code == 0
    with project.state() as state:
        assert state.health("panel")["status"] == "ok"
