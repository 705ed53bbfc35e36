"""Against a real sandbox: a plan predicts the records a sync fails, with the reason, record by record
(WebWork refuses a project whose deadline is before its start), and the sync never sends them."""

from __future__ import annotations

import pytest

from hostsync.engine.settle import PLANNED

pytestmark = pytest.mark.slow


def test_a_plan_predicts_each_project_webwork_will_refuse(project, memory, start_sandbox):
    webwork = start_sandbox("webwork", seed=5)
    project.system("pm", plugin="memory", vendor="pm")
    project.systems["webwork"] = webwork.systems()["webwork"]
    project.job("projects", kind="project", source="pm", targets=["webwork"], match=["name"])
    pm = memory.vendor("pm")
    pm.put("project", {"name": "Good one", "status": "active", "start_on": "2026-05-01", "due_on": "2026-06-01"})
    bad = pm.put("project", {"name": "Backwards", "status": "active", "start_on": "2026-06-01",
                             "due_on": "2026-05-01"})
    plan = project.cli("plan", "projects", "--json")
    assert plan.exit_code == 0, plan.output
    body = plan.json()
    assert (body["plan"]["create"], body["plan"]["fail"]) == (1, 1)
    [failing] = [a for a in body["actions"] if a["op"] == "fail"]
    assert failing["source_id"] == bad and "deadline 2026-05-01 is before start_date 2026-06-01" in failing["reason"]
    text = project.cli("plan", "projects").stdout
    assert "Plan: 1 to create, 0 to update, 0 to delete, 1 would fail." in text
    webwork.reset_calls()
    assert project.cli("sync", "projects").exit_code == 1
    run = project.cli("runs", "projects", "--events", "--json").json()[0]
    assert {(e["record_id"], e["target"]): e["outcome"] for e in run["events"]} == \
        {(a["source_id"], a["target"]): PLANNED[a["op"]] for a in body["actions"]}
    assert sum(n for op, n in webwork.calls.items() if op.startswith("POST")) == 1  # only the good one
