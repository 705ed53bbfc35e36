"""Deletes in dependency order, through the CLI against in-memory vendors: a client's domains go before
the client, across jobs; a delete that would strand records hostsync does not manage is refused with
the reason. (Against ISPConfig, whose client_delete strands domains and sites: tests/plugins/ispconfig.)"""

from __future__ import annotations

import pytest

from .test_engine_one_way import client


def domain(name: str) -> dict:
    return {"name": name, "status": "active", "registered_on": "2025-01-01", "expires_on": "2027-01-01"}


@pytest.fixture
def hosting(project, memory):
    """billing -> panel: clients and domains, deletes mirrored; client 1 owns two domains."""
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memory", vendor="panel", strands=["domain"])
    project.job("clients", kind="client", source="billing", targets=["panel"], deletes="mirror")
    project.job("domains", kind="domain", source="billing", targets=["panel"], deletes="mirror")
    billing, panel = memory.vendor("billing"), memory.vendor("panel")
    keep = billing.put("client", client(0))
    gone = billing.put("client", client(1))
    domains = [billing.put("domain", domain(f"site{n}.example"), {"client": gone}) for n in range(2)]
    billing.put("domain", domain("kept.example"), {"client": keep})
    assert project.cli("sync", "--all").exit_code == 0
    return billing, panel, gone, domains


def panel_client(panel, email: str) -> str | None:
    return next((i for i, r in panel.records("client").items() if r["fields"]["email"] == email), None)


def test_a_clients_domains_are_deleted_before_the_client_across_jobs(project, hosting):
    billing, panel, gone, domains = hosting
    for record_id in [*domains, gone]:
        billing.remove("domain" if record_id in domains else "client", record_id)
    before = len(panel.writes)
    plan = project.cli("plan", "clients", "--full", "--json").json()
    assert [(a["op"], a["kind"]) for a in plan["actions"]] == [("delete", "domain"), ("delete", "domain"),
                                                              ("delete", "client")]
    results = project.cli("sync", "--all", "--full", "--json").json()
    assert [(r["job"], r["status"], r["counts"]["deleted"]) for r in results] == [("clients", "ok", 3),
                                                                                 ("domains", "ok", 0)]
    assert [(op, kind) for op, kind, _ in panel.writes[before:]] == [("delete", "domain"), ("delete", "domain"),
                                                                    ("delete", "client")]
    assert [r["fields"]["name"] for r in panel.records("domain").values()] == ["kept.example"]
    events = project.cli("runs", "clients", "--limit", "1", "--events", "--json").json()[0]["events"]
    assert [(e["kind"], e["outcome"]) for e in events] == [("domain", "deleted"), ("domain", "deleted"),
                                                          ("client", "deleted")]


def test_a_delete_that_would_strand_a_domain_hostsync_does_not_manage_is_refused(project, hosting):
    billing, panel, gone, domains = hosting
    owner = panel_client(panel, "c1@example.org")
    panel.put("domain", domain("handmade.example"), {"client": owner})  # made in the panel, not by hostsync
    for record_id in [*domains, gone]:
        billing.remove("domain" if record_id in domains else "client", record_id)
    result = project.cli("sync", "clients", "--full", "--json")
    assert result.exit_code == 1
    [run] = result.json()
    assert run["status"] == "failed" and run["counts"]["deleted"] == 0 and run["counts"]["failed"] == 1
    assert panel_client(panel, "c1@example.org") == owner
    [event] = project.cli("runs", "clients", "--limit", "1", "--events", "--json").json()[0]["events"]
    assert (event["action"], event["outcome"]) == ("delete", "failed")
    assert event["reason"] == (f"not deleting client {owner} in panel: it would leave 1 domain hostsync does not "
                               "manage (handmade.example) pointing at a client that no longer exists there; delete "
                               "or move them in panel first")
    # the domains hostsync manages still go, by their own job
    assert project.cli("sync", "domains", "--full", "--json").json()[0]["counts"]["deleted"] == 2


def test_a_delete_waits_while_a_linked_child_is_still_in_the_source(project, hosting):
    billing, panel, gone, domains = hosting
    billing.remove("client", gone)  # its domains stay in billing (moving to another client, say)
    run = project.cli("sync", "clients", "--full", "--json").json()[0]
    assert run["status"] == "ok" and run["counts"]["deferred"] == 1 and run["counts"]["deleted"] == 0
    [event] = project.cli("runs", "clients", "--limit", "1", "--events", "--json").json()[0]["events"]
    assert event["outcome"] == "deferred" and "its domain site0.example is still in billing" in event["reason"]


def test_a_target_that_strands_nothing_only_orders_the_deletes(project, hosting):
    billing, panel, gone, domains = hosting
    project.systems["panel"]["strands"] = []
    panel.put("domain", domain("handmade.example"), {"client": panel_client(panel, "c1@example.org")})
    billing.remove("client", gone)
    billing.remove("domain", domains[0])
    run = project.cli("sync", "clients", "--full", "--json").json()[0]
    assert run["status"] == "ok" and run["counts"]["deleted"] == 2  # domain 0, then the client
    assert sorted(r["fields"]["name"] for r in panel.records("domain").values()) == \
        ["handmade.example", "kept.example", "site1.example"]
