"""`hostsync plan` like `terraform plan`: creates with their key fields, sorted; records that will
certainly fail predicted with the reason; a closing `Plan:` line; nothing on stderr that reads as a
write; and what the plan predicts is what `sync` then does, record by record."""

from __future__ import annotations

import re

import pytest

from hostsync.engine.settle import PLANNED

from .test_engine_one_way import client


@pytest.fixture
def vendors(project, memory):
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memory", vendor="panel", required=["phone"])
    project.job("clients", kind="client", source="billing", targets=["panel"])
    billing = memory.vendor("billing")
    first = billing.put("client", client(1, phone="+49 1"))
    assert project.cli("sync", "clients").exit_code == 0
    billing.edit("client", first, city="Leipzig")                     # an update in panel
    billing.put("client", client(7, first_name="Zoe", phone="+49 7"))  # creates, sorted by key
    billing.put("client", client(3, first_name="Ann", phone="+49 3"))
    billing.put("client", client(5, phone=None))                        # panel refuses: no phone
    return billing


def test_a_plan_lists_creates_by_key_predicts_failures_and_closes_with_a_plan_line(project, vendors):
    result = project.cli("plan", "clients")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    creates = [line for line in lines if line.strip().startswith("create") and "-> panel" in line]
    assert [re.search(r"email='([^']+)'", line).group(1) for line in creates] == \
        ["c3@example.org", "c7@example.org"]
    assert "first_name='Ann'" in creates[0]
    failing = [line for line in lines if line.strip().startswith("fail")]
    assert any("billing#" in line and "-> panel" in line and "panel needs phone to create a client" in line
               for line in failing), result.stdout
    assert "Plan: 2 to create, 1 to update, 0 to delete, 1 would fail." in result.stdout
    assert any(line.startswith("Not known before the sync:") for line in lines)
    # nothing on stderr reads as a write
    assert not re.search(r"created|updated|ok:", result.stderr), result.stderr


def test_what_a_plan_predicts_is_what_the_sync_does_record_by_record(project, vendors):
    plan = project.cli("plan", "clients", "--json").json()
    assert plan["plan"] == {"create": 2, "update": 1, "delete": 0, "fail": 1, "adopt": 0, "defer": 0,
                            "conflict": 0, "wait": 0}
    predicted = {(a["source_id"], a["target"]): PLANNED[a["op"]] for a in plan["actions"]}
    sync = project.cli("sync", "clients", "--json")
    assert sync.exit_code == 1
    run = project.cli("runs", "clients", "--events", "--json").json()[0]
    done = {(e["record_id"], e["target"]): e["outcome"] for e in run["events"]}
    assert done == predicted
    assert run["counts"]["failed"] == plan["counts"]["failed"] == 1


def test_a_refused_create_is_never_sent(project, vendors, memory):
    panel = memory.vendor("panel")
    before = panel.calls.get("create", 0)
    project.cli("sync", "clients")
    assert panel.calls.get("create", 0) - before == 2  # the two it accepts; never the one without a phone
