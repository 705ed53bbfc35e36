"""Two-way jobs: changes flow both ways, nothing bounces back, conflicts are settled by policy or by an
operator."""

from __future__ import annotations

import pytest

from .test_engine_one_way import client


@pytest.fixture
def pair(project, memory):
    project.system("whmcs", plugin="memory", vendor="whmcs")
    project.system("blesta", plugin="memory", vendor="blesta")
    project.job("clients", kind="client", source="whmcs", targets=["blesta"], direction="two-way")
    return memory.vendor("whmcs"), memory.vendor("blesta")


def emails(vendor) -> list[str]:
    return sorted(r["fields"]["email"] for r in vendor.records("client").values())


def counts(project, *args):
    result = project.cli("sync", "clients", *args, "--json")
    assert result.exit_code in (0, 1), result.output
    return result.json()[0]["counts"]


def test_new_records_flow_both_ways_and_nothing_bounces_back(project, pair):
    whmcs, blesta = pair
    whmcs.put("client", client(1))
    blesta.put("client", client(2))
    assert counts(project)["created"] == 2
    assert emails(whmcs) == emails(blesta) == ["c1@example.org", "c2@example.org"]
    writes = whmcs.write_count() + blesta.write_count()
    assert counts(project)["unchanged"] == 2
    assert whmcs.write_count() + blesta.write_count() == writes


def test_a_change_on_either_side_is_applied_once(project, pair):
    whmcs, blesta = pair
    wid = whmcs.put("client", client(1))
    counts(project)
    [bid] = blesta.records("client")
    blesta.edit("client", bid, city="Leipzig")
    assert counts(project)["updated"] == 1
    assert whmcs.records("client")[wid]["fields"]["city"] == "Leipzig"
    whmcs.edit("client", wid, phone="+49 341 1")
    assert counts(project)["updated"] == 1
    assert blesta.records("client")[bid]["fields"]["phone"] == "+49 341 1"
    writes = whmcs.write_count() + blesta.write_count()
    assert counts(project)["unchanged"] == 1
    assert whmcs.write_count() + blesta.write_count() == writes


def test_the_same_change_on_both_sides_is_no_conflict(project, pair):
    whmcs, blesta = pair
    wid = whmcs.put("client", client(1))
    counts(project)
    [bid] = blesta.records("client")
    whmcs.edit("client", wid, city="Dresden")
    blesta.edit("client", bid, city="Dresden")
    writes = whmcs.write_count() + blesta.write_count()
    result = counts(project)
    assert result["conflicts"] == 0
    assert whmcs.write_count() + blesta.write_count() == writes


def _conflict(project, pair):
    whmcs, blesta = pair
    wid = whmcs.put("client", client(1))
    counts(project)
    [bid] = blesta.records("client")
    whmcs.edit("client", wid, city="Whmcs-City")
    blesta.edit("client", bid, city="Blesta-City")
    return wid, bid


def test_a_conflict_waits_for_an_operator_then_resolve_applies_the_choice(project, pair):
    whmcs, blesta = pair
    wid, bid = _conflict(project, pair)
    writes = whmcs.write_count() + blesta.write_count()
    result = project.cli("sync", "clients", "--json")
    assert result.exit_code == 1 and result.json()[0]["counts"]["conflicts"] == 1  # nothing failed, but it waits
    assert result.json()[0]["status"] == "ok" and result.json()[0]["open_conflicts"] == 1
    assert "1 conflict wait for an operator: see `hostsync conflicts clients`" in result.stderr
    assert counts(project)["conflicts"] == 1  # still waiting, nothing written meanwhile
    assert whmcs.write_count() + blesta.write_count() == writes
    [conflict] = project.cli("conflicts", "--json").json()
    assert (conflict["system"], conflict["record_id"], conflict["peer_id"]) == ("whmcs", wid, bid)
    assert (conflict["base"]["city"], conflict["ours"]["city"], conflict["theirs"]["city"]) == \
        ("Berlin", "Whmcs-City", "Blesta-City")
    shown = project.cli("conflicts").stdout
    assert "city: was 'Berlin'; source 'Whmcs-City'; target 'Blesta-City'" in shown

    resolved = project.cli("resolve", str(conflict["id"]), "--use", "target")
    assert resolved.exit_code == 0, resolved.output
    assert whmcs.records("client")[wid]["fields"]["city"] == "Blesta-City"
    assert project.cli("conflicts", "--json").json() == []
    writes = whmcs.write_count() + blesta.write_count()
    assert counts(project)["unchanged"] == 1
    assert whmcs.write_count() + blesta.write_count() == writes
    again = project.cli("resolve", str(conflict["id"]), "--use", "source")
    assert again.exit_code == 1 and "already resolved" in again.stderr


@pytest.mark.parametrize("policy, winner", [("source-wins", "Whmcs-City"), ("target-wins", "Blesta-City"),
                                            ("newest-wins", "Blesta-City")])
def test_conflict_policies_settle_automatically(project, pair, policy, winner):
    whmcs, blesta = pair
    project.jobs["clients"]["conflicts"] = policy
    wid, bid = _conflict(project, pair)  # blesta's edit is the later one on the vendors' clocks
    result = counts(project)
    assert result["conflicts"] == 0 and result["updated"] == 1
    assert whmcs.records("client")[wid]["fields"]["city"] == blesta.records("client")[bid]["fields"]["city"] == winner
    assert project.cli("conflicts", "--json").json() == []


def test_deletes_mirror_both_ways(project, pair):
    whmcs, blesta = pair
    project.jobs["clients"]["deletes"] = "mirror"
    wids = [whmcs.put("client", client(n)) for n in range(2)]
    bids = [blesta.put("client", client(n + 5)) for n in range(2)]
    counts(project)
    whmcs.remove("client", wids[0])
    blesta.remove("client", bids[0])
    # an incremental read cannot see what is gone; the next full scan (daily, or --full) does
    assert counts(project)["deleted"] == 0
    assert counts(project, "--full")["deleted"] == 2
    assert emails(whmcs) == emails(blesta) == ["c1@example.org", "c6@example.org"]


def test_a_value_a_vendor_stores_differently_never_bounces_back(project, memory):
    """memlite keeps a closed client as inactive; that is what hostsync wrote, not a change there."""
    project.system("whmcs", plugin="memory", vendor="whmcs")
    project.system("blesta", plugin="memlite", vendor="blesta")
    project.job("clients", kind="client", source="whmcs", targets=["blesta"], direction="two-way")
    whmcs, blesta = memory.vendor("whmcs"), memory.vendor("blesta")
    wid = whmcs.put("client", client(1, status="closed", address2=None, phone=None))
    assert counts(project)["created"] == 1
    [row] = blesta.records("client").values()
    assert row["fields"]["status"] == "inactive"
    writes = whmcs.write_count() + blesta.write_count()
    assert counts(project)["unchanged"] == 1
    assert whmcs.write_count() + blesta.write_count() == writes
    assert whmcs.records("client")[wid]["fields"]["status"] == "closed"
    [bid] = blesta.records("client")
    blesta.edit("client", bid, city="Erfurt")  # a real change there still flows back, and only it
    assert counts(project)["updated"] == 1
    assert whmcs.records("client")[wid]["fields"]["city"] == "Erfurt"
    assert whmcs.records("client")[wid]["fields"]["status"] == "closed"
    writes = whmcs.write_count() + blesta.write_count()
    assert counts(project)["unchanged"] == 1
    assert whmcs.write_count() + blesta.write_count() == writes


def test_a_first_meeting_compares_what_each_side_would_store(project, memory):
    """Records met for the first time (no last sync) that differ only in how each side keeps a value
    (memlite keeps a closed client as inactive) are linked, not a conflict; a real difference is a
    conflict that lists only the differing field, says there is no last synced value, and keeps
    `sync` exiting 1 until it is resolved."""
    project.system("whmcs", plugin="memory", vendor="whmcs")
    project.system("blesta", plugin="memlite", vendor="blesta")
    project.job("clients", kind="client", source="whmcs", targets=["blesta"], direction="two-way")
    whmcs, blesta = memory.vendor("whmcs"), memory.vendor("blesta")
    same = client(1, status="closed", address2=None, phone=None)
    whmcs.put("client", same)
    blesta.put("client", {**same, "status": "inactive"})
    whmcs.put("client", client(2, address2=None, phone=None))
    blesta.put("client", client(2, address2=None, phone=None, city="Hamburg"))
    result = project.cli("sync", "clients", "--json")
    assert result.exit_code == 1
    assert result.json()[0]["counts"]["conflicts"] == 1 and result.json()[0]["open_conflicts"] == 1
    [conflict] = project.cli("conflicts", "--json").json()
    assert set(conflict["ours"]) == set(conflict["theirs"]) == {"city"} and conflict["base"] is None
    shown = project.cli("conflicts").stdout
    assert "first meeting: never synced, so there is no last synced value" in shown
    assert "city: source 'Berlin'; target 'Hamburg'" in shown and "status" not in shown
    run = project.cli("runs", "clients", "--events", "--json").json()[0]
    [event] = [e for e in run["events"] if e["outcome"] == "conflicts"]
    assert "first meeting (no last sync): city" in event["reason"] and "since the last sync" not in event["reason"]
    again = project.cli("sync", "clients", "--json")
    assert again.exit_code == 1 and again.json()[0]["open_conflicts"] == 1  # still open: still says so
    writes = whmcs.write_count() + blesta.write_count()
    assert project.cli("resolve", str(conflict["id"]), "--use", "target").exit_code == 0
    final = project.cli("sync", "clients", "--json")
    assert final.exit_code == 0 and final.json()[0]["open_conflicts"] == 0
    assert whmcs.write_count() + blesta.write_count() == writes + 1  # the resolution, nothing else
