"""Drift: a full scan reads the target records a one-way job links and repairs (or reports) what was
changed there since hostsync wrote it; runs that are not full scans read nothing more. Through the CLI
against in-memory vendors (the sandboxes: tests/end_to_end/test_drift.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hostsync.state import State

from .test_engine_one_way import client


@pytest.fixture
def systems(project, memory):
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memory", vendor="panel")
    project.job("clients", kind="client", source="billing", targets=["panel"])
    billing, panel = memory.vendor("billing"), memory.vendor("panel")
    for n in range(3):
        billing.put("client", client(n))
    assert project.cli("sync", "clients").exit_code == 0
    return billing, panel


def panel_id(panel, email: str) -> str:
    return next(i for i, r in panel.records("client").items() if r["fields"]["email"] == email)


def last_events(project) -> list[dict]:
    return project.cli("runs", "clients", "--limit", "1", "--events", "--json").json()[0]["events"]


def test_a_hand_edit_in_the_target_is_repaired_by_the_next_full_scan(project, systems):
    billing, panel = systems
    edited = panel_id(panel, "c1@example.org")
    panel.edit("client", edited, company="Typo Ltd", city="Bonn")

    incremental = project.cli("sync", "clients", "--json").json()[0]
    assert incremental["counts"]["drift"] == 0 and incremental["writes"] == 0  # not a full scan: not looked at

    plan = project.cli("plan", "clients", "--full", "--json").json()
    [action] = plan["actions"]
    assert action["op"] == "update" and action["target_id"] == edited
    assert action["changes"] == {"company": {"old": "Typo Ltd", "new": "Acme GmbH"},
                                 "city": {"old": "Bonn", "new": "Berlin"}}
    assert action["reason"].startswith("drift: changed in panel since hostsync wrote it: ")
    assert plan["counts"]["drift"] == 1 and plan["counts"]["updated"] == 1
    assert panel.records("client")[edited]["fields"]["company"] == "Typo Ltd"  # a plan writes nothing

    result = project.cli("sync", "clients", "--full", "--json").json()[0]
    assert result["status"] == "ok" and result["counts"]["drift"] == 1 and result["counts"]["updated"] == 1
    assert result["writes"] == 1
    assert panel.records("client")[edited]["fields"]["company"] == "Acme GmbH"
    assert panel.records("client")[edited]["fields"]["city"] == "Berlin"
    drift, update = last_events(project)
    assert (drift["action"], drift["outcome"], drift["target_id"]) == ("drift", "repaired", edited)
    assert drift["fields"] == ["city", "company"]
    assert drift["detail"] == {"changes": {"company": {"found": "Typo Ltd", "expected": "Acme GmbH"},
                                           "city": {"found": "Bonn", "expected": "Berlin"}}}
    assert (update["action"], update["outcome"]) == ("update", "updated")

    again = project.cli("sync", "clients", "--full", "--json").json()[0]
    assert again["counts"]["drift"] == 0 and again["writes"] == 0


def test_drift_report_only_reports(project, systems):
    billing, panel = systems
    project.jobs["clients"]["drift"] = "report"
    edited = panel_id(panel, "c2@example.org")
    panel.edit("client", edited, phone="+1 555 0100")
    plan = project.cli("plan", "clients", "--full", "--json").json()
    [action] = plan["actions"]
    assert action["op"] == "drift" and action["changes"] == {"phone": {"old": "+1 555 0100", "new": "+49 30 1234"}}
    assert plan["counts"]["drift"] == 1 and plan["counts"]["updated"] == 0

    result = project.cli("sync", "clients", "--full", "--json").json()[0]
    assert result["status"] == "ok" and result["counts"]["drift"] == 1 and result["writes"] == 0
    assert panel.records("client")[edited]["fields"]["phone"] == "+1 555 0100"
    [event] = last_events(project)
    assert (event["action"], event["outcome"]) == ("drift", "reported")
    assert event["reason"] == 'changed in panel since hostsync wrote it: phone; reported only (drift = "report")'
    assert event["detail"] == {"changes": {"phone": {"found": "+1 555 0100", "expected": "+49 30 1234"}}}


def test_a_record_deleted_from_the_target_is_created_again(project, systems):
    billing, panel = systems
    gone = panel_id(panel, "c0@example.org")
    panel.remove("client", gone)
    result = project.cli("sync", "clients", "--full", "--json").json()[0]
    assert result["counts"]["drift"] == 1 and result["counts"]["created"] == 1
    assert sorted(r["fields"]["email"] for r in panel.records("client").values()) == \
        ["c0@example.org", "c1@example.org", "c2@example.org"]
    drift = next(e for e in last_events(project) if e["action"] == "drift")
    assert drift["detail"] == {"gone": True} and drift["reason"].startswith("deleted from panel")
    assert project.cli("sync", "clients", "--full", "--json").json()[0]["counts"]["drift"] == 0


def test_an_unchanged_full_scan_lists_the_target_once_when_that_is_cheaper(project, systems):
    billing, panel = systems
    project.systems["panel"]["page_size"] = 100  # a listing's cost is known: one page (+ its end) < 3 gets
    panel.calls.clear()
    assert project.cli("sync", "clients", "--full", "--json").json()[0]["counts"]["drift"] == 0
    assert panel.calls == {"list": 1}
    panel.calls.clear()
    assert project.cli("sync", "clients").exit_code == 0  # incremental: the target is not read
    assert panel.calls == {}


def test_a_target_that_lists_record_by_record_is_read_with_get(project, systems):
    billing, panel = systems
    project.systems["panel"]["page_size"] = 100
    project.systems["panel"]["details"] = True  # its listing reads every record on its own: 2 + 3 requests
    panel.calls.clear()
    assert project.cli("sync", "clients", "--full").exit_code == 0
    assert panel.calls == {"get": 3}


def test_the_daily_full_scan_of_a_mirroring_job_checks_drift_once_a_day(project, systems):
    billing, panel = systems
    project.jobs["clients"]["deletes"] = "mirror"
    assert project.cli("sync", "clients").exit_code == 0  # the first full scan (the drift check is a day away)
    edited = panel_id(panel, "c1@example.org")
    panel.edit("client", edited, company="Typo Ltd")
    panel.calls.clear()
    later = project.cli("sync", "clients", "--json").json()[0]  # incremental: the target is not read
    assert later["counts"]["drift"] == 0 and panel.calls == {}
    with State.open(project.state_path) as state:  # a day later
        for system in ("billing#full", "panel#drift"):
            state.set_cursor("clients", system, state.cursor("clients", system) - timedelta(hours=25))
    daily = project.cli("sync", "clients", "--json").json()[0]
    assert daily["counts"]["drift"] == 1 and daily["counts"]["updated"] == 1
    assert panel.records("client")[edited]["fields"]["company"] == "Acme GmbH"
    assert project.cli("sync", "clients", "--json").json()[0]["counts"]["drift"] == 0
