"""The blast-radius guard, through the CLI against in-memory vendors: a run that would delete or update
more than its job allows in one target writes none of it, says what and how to allow it, and records
the refusal; an emptied source deletes nothing; `--allow-mass-change` lets it through."""

from __future__ import annotations

import pytest

from .test_engine_one_way import client


@pytest.fixture
def linked(project, memory):
    """40 billing clients mirrored into panel (deletes mirrored)."""
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memory", vendor="panel")
    project.job("clients", kind="client", source="billing", targets=["panel"], deletes="mirror")
    billing, panel = memory.vendor("billing"), memory.vendor("panel")
    ids = [billing.put("client", client(n)) for n in range(40)]
    assert project.cli("sync", "clients").exit_code == 0
    return billing, panel, ids


def refusals(project) -> list[dict]:
    runs = project.cli("runs", "clients", "--limit", "1", "--events", "--json").json()
    return [e for e in runs[0]["events"] if e["outcome"] == "refused"]


def test_an_emptied_source_deletes_nothing_and_says_why(project, linked):
    billing, panel, ids = linked
    for record_id in ids:
        billing.remove("client", record_id)
    writes = panel.write_count()
    result = project.cli("sync", "clients", "--full", "--json")
    assert result.exit_code == 1
    [run] = result.json()
    assert run["status"] == "refused" and run["counts"]["deleted"] == 0
    assert run["error"] == ("billing listed no client at all (emptied, or pointed at another system?): not deleting "
                            "the 40 clients linked in panel; no delete sent to panel, nor anything else once this "
                            "was known. If that is what you want: hostsync sync clients --allow-mass-change")
    assert panel.write_count() == writes and len(panel.records("client")) == 40
    [event] = refusals(project)
    assert (event["action"], event["target"], event["detail"]) == ("delete", "panel", {"count": 40, "limit": 10})
    assert project.cli("runs", "clients", "--json").json()[0]["status"] == "refused"


@pytest.mark.parametrize("gone", [1, 3])
def test_an_emptied_small_source_is_refused_whatever_the_count(project, memory, gone):
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memory", vendor="panel")
    project.job("clients", kind="client", source="billing", targets=["panel"], deletes="mirror")
    billing, panel = memory.vendor("billing"), memory.vendor("panel")
    ids = [billing.put("client", client(n)) for n in range(gone)]
    project.cli("sync", "clients")
    for record_id in ids:
        billing.remove("client", record_id)
    run = project.cli("sync", "clients", "--full", "--json").json()[0]
    assert run["status"] == "refused" and len(panel.records("client")) == gone


def test_more_deletes_than_the_limit_send_none_and_the_flag_allows_them(project, linked):
    billing, panel, ids = linked
    for record_id in ids[:11]:  # the limit: 10, or 5 % of 40
        billing.remove("client", record_id)
    plan = project.cli("plan", "clients", "--full", "--json").json()
    assert plan["status"] == "refused" and plan["counts"]["deleted"] == 11  # a plan still lists all it would do
    assert "would delete 11 clients in panel, more than the limit of 10 (10 or 5% of the 40 linked" in plan["error"]
    refused = project.cli("sync", "clients", "--full", "--json").json()[0]
    assert refused["status"] == "refused" and refused["counts"]["deleted"] == 0 and refused["writes"] == 0
    assert len(panel.records("client")) == 40
    allowed = project.cli("sync", "clients", "--full", "--allow-mass-change", "--json").json()[0]
    assert allowed["status"] == "ok" and allowed["counts"]["deleted"] == 11
    assert len(panel.records("client")) == 29


def test_deletes_within_the_limit_go(project, linked):
    billing, panel, ids = linked
    for record_id in ids[:10]:
        billing.remove("client", record_id)
    run = project.cli("sync", "clients", "--full", "--json").json()[0]
    assert run["status"] == "ok" and run["counts"]["deleted"] == 10


def test_mass_updates_are_held_until_counted_then_refused_and_planned_again(project, linked):
    billing, panel, ids = linked
    project.jobs["clients"]["max_changes"] = 3
    for record_id in ids[:4]:
        billing.edit("client", record_id, city="Hamburg")
    billing.put("client", client(99))  # planned after the updates, in the same chunk: held back too
    writes = panel.write_count()
    result = project.cli("sync", "clients", "--json")
    assert result.exit_code == 1
    run = result.json()[0]
    assert run["status"] == "refused" and run["counts"]["updated"] == 0 and run["counts"]["created"] == 0
    assert "would update 4 clients in panel, more than the limit of 3 (max_changes = 3)" in run["error"]
    assert panel.write_count() == writes
    assert not any(r["fields"]["city"] == "Hamburg" for r in panel.records("client").values())
    [event] = refusals(project)
    assert (event["action"], event["detail"]) == ("update", {"count": 4, "limit": 3})
    # the cursor stayed: the next (incremental) run sees the same changes, and the flag lets them through
    again = project.cli("sync", "clients", "--allow-mass-change", "--json").json()[0]
    assert again["status"] == "ok" and again["counts"]["updated"] == 4 and again["counts"]["created"] == 1


def test_updates_within_the_limit_go_after_the_read(project, linked):
    billing, panel, ids = linked
    project.jobs["clients"]["max_changes"] = 3
    for record_id in ids[:3]:
        billing.edit("client", record_id, city="Hamburg")
    run = project.cli("sync", "clients", "--json").json()[0]
    assert run["status"] == "ok" and run["counts"]["updated"] == 3
    assert sum(r["fields"]["city"] == "Hamburg" for r in panel.records("client").values()) == 3


def test_after_a_refusal_nothing_more_goes_to_that_target(project, memory, linked):
    billing, panel, ids = linked
    project.jobs["clients"]["max_changes"] = 0
    billing.edit("client", ids[0], city="Hamburg")  # the first record read: refused at once
    billing.put("client", client(100))
    run = project.cli("sync", "clients", "--json").json()[0]
    assert run["status"] == "refused" and run["counts"]["created"] == 0
    assert len(panel.records("client")) == 40


def test_a_source_pointed_at_another_system_is_refused(project, memory, linked):
    billing, panel, ids = linked
    other = memory.vendor("other")
    for n in range(40):  # another company's clients, under the same ids
        other.put("client", client(n, email=f"someone{n}@elsewhere.example", first_name="Other"), id=ids[n])
    project.systems["billing"]["vendor"] = "other"
    run = project.cli("sync", "clients", "--full", "--json").json()[0]
    assert run["status"] == "refused" and run["counts"]["updated"] == 0 and run["counts"]["created"] == 0
    assert sorted(r["fields"]["email"] for r in panel.records("client").values())[0] == "c0@example.org"
