"""The WebWork connector against the sandbox on loopback."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any

import pytest

from hostsync import ORIGIN, Record
from hostsync.errors import AuthError, NotFound, Rejected, Transient
from hostsync.model import normalise
from hostsync.sandbox import Fault
from hostsync_webwork import walk
from hostsync_webwork.sandbox import WebWorkSandbox

from .conftest import writes

WS = WebWorkSandbox.WORKSPACE


def project(name: str = "Mail migration", **fields: Any) -> Record:
    return Record("project", "pm-7", {"name": name, "start_on": "2026-02-01", "due_on": "2026-03-31",
                                     "description": "340 mailboxes", **fields})


# -- check ------------------------------------------------------------------------------------

def test_check_proves_the_token_and_the_owner_or_executive_manager_rights(workspace, connect) -> None:
    connect(workspace).check()
    with pytest.raises(AuthError) as viewer:
        connect(workspace, token=WebWorkSandbox.VIEWER_TOKEN).check()
    assert str(viewer.value) == ("check webwork: the token's user is a 'Project viewer' in workspace 4711; the "
                                 "WebWork API needs an Owner or Executive manager")
    with pytest.raises(AuthError, match=r"workspace 5150 is not one of this token's workspaces \(it sees: 4711 "
                                        r"\(Hosting Ops\)\)"):
        connect(workspace, workspace_id=5150).check()
    with pytest.raises(AuthError, match="token was refused"):
        connect(workspace, token="expired-token").check()
    assert "expired-token" not in str(viewer.value)


# -- projects and tasks -------------------------------------------------------------------------

def test_lists_read_the_workspace_page_by_page_and_skip_what_is_archived(workspace, webwork) -> None:
    projects = list(webwork.list("project"))
    assert [p.id for p in projects] == ["1", "2", "3", "4", "5"]  # 6 is archived, 50 another workspace's
    tasks = list(webwork.list("task"))
    live = [t for t in workspace.webwork.t["tasks"].values() if t["project_id"] in range(1, 6)]
    assert len(tasks) == len(live) == 17
    assert workspace.calls == {"GET /projects": 2, "GET /tasks": 5}  # tasks are listed per project
    custom = next(t for t in tasks if t.id == "4")  # "In review", custom code 11
    assert custom.fields["status"] == "in_progress"


def test_create_get_update_and_archive_a_project(workspace, webwork) -> None:
    new = webwork.create("project", project())
    row = workspace.webwork.t["projects"][int(new)]
    assert (row["name"], row["start_date"], row["deadline"], row["notes"]) == (
        "Mail migration", "2026-02-01", "2026-03-31", "340 mailboxes")
    assert normalise(webwork.get("project", new)).fields["description"] == "340 mailboxes"
    workspace.reset_calls()
    webwork.update("project", new, project(due_on="2026-04-30"))
    assert writes(workspace) == ["PUT /projects/{id}"] and row["deadline"] == "2026-04-30"
    assert workspace.log[-1]["operation"] == "PUT /projects/{id}"
    workspace.reset_calls()
    webwork.update("project", new, project(due_on="2026-04-30"))  # nothing differs: nothing sent
    assert writes(workspace) == []
    webwork.delete("project", new)
    assert row["deleted_at"] and webwork.get("project", new) is None
    with pytest.raises(NotFound):
        webwork.update("project", new, project())


def test_a_deadline_before_the_start_fails_that_record_with_a_readable_reason(workspace, webwork) -> None:
    with pytest.raises(Rejected, match="deadline 2026-01-01 is before start_date 2026-02-01"):
        webwork.create("project", project(due_on="2026-01-01"))
    existing = webwork.create("project", project())
    workspace.reset_calls()
    with pytest.raises(Rejected, match="deadline 2026-01-15 is before start_date 2026-02-01"):
        webwork.update("project", existing, Record("project", "pm-7", {"due_on": "2026-01-15"}))
    assert writes(workspace) == []
    task = workspace.webwork.t["tasks"][2]  # starts with its project
    with pytest.raises(Rejected, match=f"end_date 2020-01-01 is before start_date {task['start_date']}"):
        webwork.update("task", "2", Record("task", "t", {"due_on": "2020-01-01"}))


def test_task_updates_keep_a_custom_status_that_already_means_the_same(workspace, webwork) -> None:
    in_review = workspace.webwork.t["tasks"][4]
    assert in_review["status"] == 11
    webwork.update("task", "4", Record("task", "t4", {"name": "Translations review (fr)", "status": "in_progress"},
                                       {"project": "1"}))
    assert (in_review["title"], in_review["status"]) == ("Translations review (fr)", 11)
    webwork.update("task", "4", Record("task", "t4", {"status": "cancelled"}))
    assert in_review["status"] == 30
    assert webwork.stored("task", Record("task", "t4", {"status": "cancelled"})).fields["status"] == "done"
    assert normalise(webwork.get("task", "4")).fields["status"] == "done"
    webwork.delete("task", "4")
    assert webwork.get("task", "4") is None


def test_task_priorities_are_written_read_and_an_undocumented_code_is_kept(workspace, webwork) -> None:
    made = webwork.create("task", Record("task", "t9", {"name": "Renew certificates", "status": "open",
                                                        "priority": "urgent"}, {"project": "1"}))
    row = workspace.webwork.t["tasks"][int(made)]
    assert row["priority"] == 10 and webwork.get("task", made).fields["priority"] == "urgent"
    row["priority"] = 15  # a code the API reference does not list: read as urgent, kept while it means that
    workspace.reset_calls()
    webwork.update("task", made, Record("task", "t9", {"name": "Renew certificates", "priority": "urgent"},
                                        {"project": "1"}))
    assert row["priority"] == 15 and "PUT /tasks/{id}" not in workspace.calls
    webwork.update("task", made, Record("task", "t9", {"priority": "low"}))
    assert row["priority"] == 40
    webwork.update("task", made, Record("task", "t9", {"priority": None}))
    assert row["priority"] is None and webwork.get("task", made).fields["priority"] is None
    workspace.webwork.config["status_format"] = "label"  # answers with labels: read as well
    row["priority"] = 30
    assert webwork.get("task", made).fields["priority"] == "medium"


def test_tasks_are_found_within_their_project(workspace, webwork) -> None:
    workspace.reset_calls()
    found = webwork.find("task", {"project": "1", "name": "Content migration"})
    assert [t.id for t in found] == ["3"] and workspace.calls == {"GET /tasks": 1}
    assert webwork.find("project", {"name": "SSL renewals"})[0].id == "4"


# -- the origin marker --------------------------------------------------------------------------

def test_the_origin_marker_is_written_read_and_found(workspace, webwork) -> None:
    marked = Record("project", "12", {"name": "Hosting support (retainer)", "description": "Second contract"},
                    origin="hs:teampro:12")
    new = webwork.create("project", marked)
    assert workspace.webwork.t["projects"][int(new)]["notes"] == "Second contract\n\nhostsync-origin: hs:teampro:12"
    assert webwork.get("project", new).origin == "hs:teampro:12"
    assert webwork.get("project", new).fields["description"] == "Second contract"
    # same name as project 3: by name both match, by the marker only ours
    assert {p.id for p in webwork.find("project", {"name": "Hosting support (retainer)"})} == {"3", new}
    assert [p.id for p in webwork.find("project", {ORIGIN: "hs:teampro:12"})] == [new]
    assert webwork.find("project", {ORIGIN: "hs:teampro:99"}) == []
    # an update of the description keeps the marker
    webwork.update("project", new, Record("project", "12", {"description": "Renewed"}))
    assert workspace.webwork.t["projects"][int(new)]["notes"] == "Renewed\n\nhostsync-origin: hs:teampro:12"


def test_a_lost_create_reply_next_to_a_same_named_record_is_found_exactly_by_its_marker(workspace, connect) -> None:
    webwork = connect(workspace)
    workspace.inject(Fault("lost_reply", match="POST /tasks"))
    twin = Record("task", "31", {"name": "Content migration", "status": "open"}, {"project": "1"},
                  origin="hs:teampro:31")
    with pytest.raises(Transient) as lost:
        webwork.create("task", twin)
    assert lost.value.may_have_applied
    by_name = webwork.find("task", {"project": "1", "name": "Content migration"})
    assert len(by_name) == 2  # the task that was there, and the one the lost reply made
    later = connect(workspace)  # a new run: no memory of which project the create went to
    workspace.reset_calls()
    (found,) = later.find("task", {ORIGIN: "hs:teampro:31"})
    assert found.id not in ("3",) and found.origin == "hs:teampro:31"
    assert workspace.calls["GET /tasks"] == 5  # every project's tasks were searched
    workspace.reset_calls()
    assert [t.id for t in webwork.find("task", {ORIGIN: "hs:teampro:31"})] == [found.id]
    assert workspace.calls["GET /tasks"] == 1  # this run knows the project it sent the create to


# -- time entries -------------------------------------------------------------------------------

def busy_user_days(box: WebWorkSandbox, first: str, last: str) -> set[tuple[int, str]]:
    return {(e["user_id"], e["date"]) for e in box.webwork.t["time_entries"].values()
            if e["workspace_id"] == WS and first <= e["date"] <= last}


def test_time_entries_cost_one_call_per_member_day_with_time(workspace, webwork, connect) -> None:
    entries = list(webwork.list("time_entry"))
    today = workspace.webwork.today(WS)
    first = today - timedelta(days=30)
    busy = busy_user_days(workspace, first.isoformat(), today.isoformat())
    assert workspace.calls == {"GET /members": 1, "GET /reports/tracked-hours": 1, "GET /time-entries": len(busy)}
    finished = [e for e in workspace.webwork.t["time_entries"].values() if e["end_time"]]
    assert len(entries) == len(finished)  # every finished entry; the running tracker waits
    kim = [e for e in entries if e.fields["member"] == "kim@example.net"]
    assert len(kim) == 1  # an archived member's time still counts
    assert len({e.id for e in entries}) == len(entries)
    del workspace.webwork.t["members"][(WS, 12)]  # Kim's membership gone altogether: named, not numbered
    (gone,) = [e for e in connect(workspace).list("time_entry") if e.id.startswith("12/")]
    assert gone.fields["member"] == "webwork-user-12"
    assert {e.id for e in webwork.list("time_entry")} == {e.id for e in entries}  # ids stable across reads


def test_without_the_report_every_member_day_costs_a_call(workspace, connect) -> None:
    webwork = connect(workspace, tracked_hours_report=False, time_lookback_days=7)
    entries = list(webwork.list("time_entry"))
    members = len(workspace.webwork.api_members(WS, {}))
    assert workspace.calls == {"GET /members": 1, "GET /time-entries": members * 7}
    today = workspace.webwork.today(WS)
    assert {e.id.split("/")[1] for e in entries} <= {(today - timedelta(days=n)).isoformat() for n in range(7)}


def test_an_incremental_read_walks_from_the_day_of_since(workspace, webwork) -> None:
    today = workspace.webwork.today(WS)
    three_days_ago = today - timedelta(days=3)
    since = datetime.combine(three_days_ago, time(12, 0), webwork.tz).astimezone(timezone.utc)
    entries = list(webwork.list("time_entry", since=since))
    busy = busy_user_days(workspace, three_days_ago.isoformat(), today.isoformat())
    assert workspace.calls["GET /time-entries"] == len(busy)
    assert {e.id.split("/")[1] for e in entries} <= {(three_days_ago + timedelta(days=n)).isoformat() for n in range(4)}
    assert walk.window(since, today, webwork.tz, 31) == (three_days_ago, today)


def test_a_time_entry_is_read_again_by_its_id(workspace, webwork) -> None:
    entry = next(iter(webwork.list("time_entry")))
    workspace.reset_calls()
    assert webwork.get("time_entry", entry.id) == entry and workspace.calls == {"GET /time-entries": 1}
    assert webwork.get("time_entry", "not-an-id") is None
    assert webwork.get("time_entry", entry.id.rsplit("/", 1)[0] + "/23:59:59") is None
    with pytest.raises(Rejected, match="read here, not written"):
        webwork.create("time_entry", entry)
