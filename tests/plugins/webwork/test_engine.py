"""WebWork through the engine and the real CLI, with wbTeamPro on the other side (both sandboxes on
loopback): projects and tasks planned in wbTeamPro reach WebWork (tasks' status both ways), and the
time staff track in WebWork reaches wbTeamPro under the member names the operator maps."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hostsync import Record
from hostsync_whmcs.sandbox import WhmcsSandbox
from hostsync_webwork.mapping import split_origin
from hostsync_webwork.sandbox import WebWorkSandbox

# wbTeamPro lives on a WHMCS host: the WHMCS sandbox serves its API (``sandbox``, sample data of seed 1)
from ..whmcs.conftest import running_sandbox, sandbox  # noqa: F401
from .conftest import writes

MEMBERS = {"1": "api@example.net", "2": "jane@example.net"}  # WHMCS admin id -> member name
TEAMPRO_WRITES = ("createProject", "updateProject", "createAction", "updateAction", "createTimelog", "updateTimelog")


@pytest.fixture
def whmcs(sandbox: WhmcsSandbox) -> WhmcsSandbox:  # noqa: F811
    return sandbox


@pytest.fixture
def systems(hostsync_project: Any, whmcs: WhmcsSandbox, empty_workspace: WebWorkSandbox) -> WebWorkSandbox:
    """billing and teampro (the WHMCS sandbox) and webwork (an empty workspace) in one project."""
    tables = whmcs.systems()
    hostsync_project.system("billing", **tables["billing"])
    hostsync_project.system("teampro", **tables["teampro"], members=MEMBERS)
    hostsync_project.system("webwork", **empty_workspace.systems()["webwork"], timeout=2.0)
    return empty_workspace


def sync(project: Any, *args: str) -> dict[str, dict[str, int]]:
    result = project.cli("sync", *args, "--json")
    assert result.exit_code in (0, 1), result.output
    return {r["job"]: r["counts"] for r in result.json()}


def teampro_writes(box: WhmcsSandbox) -> list[str]:
    return [e["operation"] for e in box.log if e["operation"] in TEAMPRO_WRITES]


def mirror_plans(project: Any) -> None:
    project.job("projects", kind="project", source="teampro", targets=["webwork"])
    project.job("tasks", kind="task", source="teampro", targets=["webwork"], direction="two-way")


def tasks_by_title(box: WebWorkSandbox) -> dict[str, dict[str, Any]]:
    return {t["title"]: t for t in box.webwork.t["tasks"].values() if not t["deleted_at"]}


def test_projects_and_tasks_reach_webwork_and_a_second_run_writes_nothing(hostsync_project, whmcs, systems):
    mirror_plans(hostsync_project)
    planned = hostsync_project.cli("plan", "projects", "--json")
    assert planned.exit_code == 0 and planned.json()["counts"]["created"] == 4 and not systems.webwork.t["projects"]
    counts = sync(hostsync_project, "--all")
    assert (counts["projects"]["created"], counts["tasks"]["created"]) == (4, 10)
    projects = {p["name"]: p for p in systems.webwork.t["projects"].values()}
    assert (projects["Website redesign"]["start_date"], projects["Website redesign"]["deadline"]) == (
        "2025-02-18", "2025-04-19")
    tasks = tasks_by_title(systems)
    assert {t: tasks[t]["status"] for t in ("Wireframes", "Design mock-ups", "Build theme", "Kernel live patching")} \
        == {"Wireframes": 20, "Design mock-ups": 10, "Build theme": 0, "Kernel live patching": 30}
    assert tasks["Build theme"]["project_id"] == projects["Website redesign"]["id"]
    assert tasks["Build theme"]["end_date"] == "2025-04-09"
    systems.reset_calls()
    whmcs.reset_calls()
    again = sync(hostsync_project, "--all")
    assert again == {"projects": {**again["projects"], "unchanged": 4}, "tasks": {**again["tasks"], "unchanged": 10}}
    assert writes(systems) == [] and teampro_writes(whmcs) == []  # the cancelled task does not bounce back
    assert systems.calls == {"GET /projects": 1, "GET /tasks": 4}  # a no-op costs the list pages only


def test_a_lost_create_reply_next_to_a_same_named_project_converges_by_its_origin_marker(hostsync_project, whmcs,
                                                                                         systems):
    """Issue 12: a WebWork project has no key of its own but its name, so a create whose reply was
    lost, next to a project of the same name made by someone else, used to fail on every run ("2
    records ... match name=..."). The marker hostsync wrote in the notes says which one is its own."""
    from hostsync.sandbox import Fault
    from hostsync_webwork.connector import WebWorkConnector

    table = systems.systems()["webwork"]
    with WebWorkConnector("webwork", {k: v for k, v in table.items() if k != "plugin"}) as webwork:
        theirs = webwork.create("project", Record("project", None, {"name": "Website redesign"}))
    hostsync_project.systems["webwork"]["settle_delay"] = 1.0  # looked up at the end of the run
    hostsync_project.job("projects", kind="project", source="teampro", targets=["webwork"])
    systems.inject(Fault("lost_reply", match="POST /projects", about="Website redesign"))
    first = hostsync_project.cli("sync", "projects", "--json")
    assert first.exit_code == 0, first.output
    assert first.json()[0]["counts"]["created"] == 4 and "match name=" not in first.output
    again = sync(hostsync_project, "projects")
    assert again["projects"]["unchanged"] == 4 and again["projects"]["failed"] == 0
    named = [p for p in systems.webwork.t["projects"].values() if p["name"] == "Website redesign"]
    assert len(named) == 2  # theirs, and the one the lost reply made: not a third
    with hostsync_project.state() as state:
        ours = state.link("project", "teampro", "1", "webwork")
    assert ours is not None and ours.peer_id != theirs
    assert {str(p["id"]) for p in named} == {theirs, ours.peer_id}
    assert "hostsync-origin: hs:teampro:1" in systems.webwork.t["projects"][int(ours.peer_id)]["notes"]


def test_a_project_due_before_it_starts_fails_alone_with_the_reason(hostsync_project, whmcs, systems):
    whmcs.state["projects"][2]["date_finish"] = "2025-01-31 00:00:00"  # starts 2025-02-28
    hostsync_project.job("projects", kind="project", source="teampro", targets=["webwork"])
    result = hostsync_project.cli("sync", "projects", "--json")
    assert result.exit_code == 1
    assert {k: v for k, v in result.json()[0]["counts"].items() if v} == {"created": 3, "failed": 1}
    (run,) = hostsync_project.cli("runs", "projects", "--limit", "1", "--events", "--json").json()
    (failed,) = [e for e in run["events"] if e["outcome"] == "failed"]
    assert failed["record_id"] == "2" and "deadline 2025-01-31 is before start_date 2025-02-28" in failed["reason"]
    assert "Shop migration to WooCommerce" not in {p["name"] for p in systems.webwork.t["projects"].values()}


def test_tasks_status_travels_both_ways_and_a_custom_code_is_kept(hostsync_project, whmcs, systems):
    mirror_plans(hostsync_project)
    sync(hostsync_project, "--all")
    tasks = tasks_by_title(systems)
    tasks["Build theme"]["status"] = 20  # staff finish it in WebWork
    tasks["Redirects from old URLs"]["status"] = 11  # the workspace's custom "In review"
    whmcs.state["actions"][2]["action_status"] = "Completed"  # and Design mock-ups is done in wbTeamPro
    counts = sync(hostsync_project, "tasks")
    assert counts["tasks"]["updated"] == 3, counts
    actions = {a["action_name"]: a["action_status"] for a in whmcs.state["actions"].values()}
    assert (actions["Build theme"], actions["Redirects from old URLs"]) == ("Completed", "In Progress")
    assert tasks["Design mock-ups"]["status"] == 20 and tasks["Redirects from old URLs"]["status"] == 11
    systems.reset_calls()
    whmcs.reset_calls()
    assert sync(hostsync_project, "tasks")["tasks"]["unchanged"] == 10
    assert writes(systems) == [] and teampro_writes(whmcs) == []


def test_a_priority_set_in_webwork_is_never_cleared_by_wbteampro_which_has_none(hostsync_project, whmcs, systems):
    """wbTeamPro does not carry a task's priority, so the two-way job compares and writes only the
    fields both carry: a priority set in WebWork is no change to copy, and a change made in wbTeamPro
    reaches WebWork without touching it."""
    mirror_plans(hostsync_project)
    sync(hostsync_project, "--all")
    task = tasks_by_title(systems)["Build theme"]
    task["priority"] = 10  # staff mark it urgent in WebWork
    systems.reset_calls()
    whmcs.reset_calls()
    assert sync(hostsync_project, "tasks")["tasks"]["unchanged"] == 10
    assert writes(systems) == [] and teampro_writes(whmcs) == []
    action = next(a for a in whmcs.state["actions"].values() if a["action_name"] == "Build theme")
    action["action_detail"] = "Child theme of Storefront"
    assert sync(hostsync_project, "tasks")["tasks"]["updated"] == 1
    description, marker = split_origin(task["description"])  # the marker line stays (hs:teampro:<id>)
    assert (description, task["priority"]) == ("Child theme of Storefront", 10) and marker.startswith("hs:teampro:")
    assert writes(systems) == ["PUT /tasks/{id}"] and teampro_writes(whmcs) == []


def test_time_tracked_in_webwork_reaches_wbteampro_under_the_mapped_member(hostsync_project, whmcs, systems):
    mirror_plans(hostsync_project)
    hostsync_project.job("time", kind="time_entry", source="webwork", targets=["teampro"])
    sync(hostsync_project, "--all")
    tasks = tasks_by_title(systems)
    theme, redirects = tasks["Build theme"], tasks["Redirects from old URLs"]
    today = systems.webwork.today(WebWorkSandbox.WORKSPACE)
    yesterday = (today - timedelta(days=1)).isoformat()
    systems.track("jane@example.net", theme["project_id"], yesterday, "09:00", "10:30", task_id=theme["id"],
                  notes="Header and footer")
    systems.track("jane@example.net", redirects["project_id"], yesterday, "11:00", "11:45", task_id=redirects["id"])
    systems.track("api@example.net", theme["project_id"], yesterday, "14:00", "14:20")  # no task
    gone = systems.webwork.api_create_task(WebWorkSandbox.WORKSPACE, 1, {"project_id": theme["project_id"],
                                                                         "title": "Spike (deleted)"})
    systems.track("api@example.net", theme["project_id"], yesterday, "15:00", "15:30", task_id=gone["id"])
    systems.webwork.api_delete_task(WebWorkSandbox.WORKSPACE, str(gone["id"]))  # the task is gone since
    systems.track("viewer@example.net", theme["project_id"], yesterday, "16:00", "16:10")  # not in `members`
    systems.track("jane@example.net", theme["project_id"], today.isoformat(), "08:00", None)  # still running
    result = hostsync_project.cli("sync", "time", "--json")
    (counts,) = [r["counts"] for r in result.json()]
    assert (counts["created"], counts["deferred"], counts["failed"]) == (3, 1, 1), result.output
    logs = {t["timelog_note"]: t for t in whmcs.state["timelogs"].values() if t["id"] > 12}
    header = logs["Header and footer"]
    theme_action = next(a for a in whmcs.state["actions"].values() if a["action_name"] == "Build theme")
    assert (header["owner_adminid"], header["action_id"], header["project_id"], header["timelog_elapsed"]) == (
        2, theme_action["id"], theme_action["project_id"], 90 * 60)
    assert header["date_start"] == f"{yesterday} 09:00:00"  # both sandboxes keep Europe/Berlin wall time
    (run,) = hostsync_project.cli("runs", "time", "--limit", "1", "--events", "--json").json()
    reasons = {e["record_id"]: e["reason"] for e in run["events"] if e["outcome"] in ("failed", "deferred")}
    assert any("is not linked to teampro" in r and f"task {gone['id']}" in r for r in reasons.values()), reasons
    assert any("member 'viewer@example.net' has no wbTeamPro admin id" in r for r in reasons.values()), reasons
    whmcs.reset_calls()
    systems.reset_calls()
    again = hostsync_project.cli("sync", "time", "--json").json()[0]["counts"]
    # the cursor is the newest entry's modification (yesterday, when the last tracker stopped): the run
    # walks yesterday and today, finds the three again unchanged, and reads the two that failed again
    assert (again["created"], again["updated"], again["unchanged"], again["deferred"], again["failed"]) == (
        0, 0, 3, 1, 1)
    assert teampro_writes(whmcs) == []


def test_time_tracked_in_webwork_reaches_proworkflow_on_the_tasks_planned_there(hostsync_project, empty_workspace,
                                                                               start_sandbox):
    """An agency that plans in ProWorkflow: its projects and tasks go to WebWork, which links each
    WebWork task to its ProWorkflow task; the time staff track in WebWork then comes back as
    ProWorkflow time records on those tasks (a reference translates only through a link between the
    two systems of the job), each member named as the operator maps them."""
    webwork = empty_workspace
    pwf = start_sandbox("proworkflow")  # the agency's staff, no customers yet
    with pwf.lock:
        staff = pwf.account.t["contacts"][1]
        company = pwf.account.post_companies({"name": "Kiwi Coffee Roasters Ltd", "type": "client"})["details"][0]["id"]
        site = pwf.account.post_projects({"title": "Website redesign", "companyid": company}, staff)["details"][0]["id"]
        care = pwf.account.post_projects({"title": "Care plan"}, staff)["details"][0]["id"]
        pwf.account.post_tasks([{"projectid": site, "name": "Design mock-ups", "priority": 1},
                                {"projectid": site, "name": "Build theme", "priority": 5}])
        pwf.account.post_tasks([{"projectid": care, "name": "Monthly updates"}])
    hostsync_project.system("pwf", **pwf.systems()["proworkflow"], timeout=5.0)
    # WebWork user 1 tracks as Aroha (her ProWorkflow login); Jane has one e-mail in both
    hostsync_project.system("webwork", **webwork.systems()["webwork"], timeout=5.0,
                            members={"1": "aroha@harbourpine.example"})
    hostsync_project.job("projects", kind="project", source="pwf", targets=["webwork"])
    hostsync_project.job("tasks", kind="task", source="pwf", targets=["webwork"])
    hostsync_project.job("time", kind="time_entry", source="webwork", targets=["pwf"])
    planned = sync(hostsync_project, "projects", "tasks")
    assert (planned["projects"]["created"], planned["tasks"]["created"]) == (2, 3)
    tasks = tasks_by_title(webwork)
    assert {name: t["priority"] for name, t in tasks.items()} == {"Design mock-ups": 10, "Build theme": 40,
                                                                  "Monthly updates": 30}
    mockups, updates = tasks["Design mock-ups"], tasks["Monthly updates"]
    on = (webwork.webwork.today(WebWorkSandbox.WORKSPACE) - timedelta(days=2)).isoformat()
    webwork.track("jane@example.net", mockups["project_id"], on, "09:00", "10:30", task_id=mockups["id"],
                  notes="Hero banner")
    webwork.track("api@example.net", updates["project_id"], on, "14:00", "14:45", task_id=updates["id"])
    webwork.track("jane@example.net", mockups["project_id"], on, "11:00", "11:20")  # no task: ProWorkflow needs one
    spike = webwork.webwork.api_create_task(WebWorkSandbox.WORKSPACE, 1, {"project_id": mockups["project_id"],
                                                                          "title": "Spike (WebWork only)"})
    webwork.track("jane@example.net", mockups["project_id"], on, "15:00", "15:30", task_id=spike["id"])
    result = hostsync_project.cli("sync", "time", "--json")
    (counts,) = [r["counts"] for r in result.json()]
    assert (counts["created"], counts["deferred"], counts["failed"]) == (2, 1, 1), result.output
    pwf_tasks = {t["name"]: t["id"] for t in pwf.account.t["tasks"].values()}
    records = {r["taskid"]: r for r in pwf.account.t["time"].values()}
    auckland = {start: datetime.combine(date.fromisoformat(on), time.fromisoformat(start), ZoneInfo("Europe/Berlin"))
                .astimezone(ZoneInfo("Pacific/Auckland")) for start in ("09:00", "14:00")}
    hero, monthly = records[pwf_tasks["Design mock-ups"]], records[pwf_tasks["Monthly updates"]]
    assert (hero["contactid"], hero["timetracked"], hero["notes"], hero["date"], hero["starttime"]) == (
        3, 90, "Hero banner", auckland["09:00"].date().isoformat(), auckland["09:00"].strftime("%H:%M"))
    assert (monthly["contactid"], monthly["timetracked"], monthly["date"], monthly["starttime"]) == (
        2, 45, auckland["14:00"].date().isoformat(), auckland["14:00"].strftime("%H:%M"))
    (run,) = hostsync_project.cli("runs", "time", "--limit", "1", "--events", "--json").json()
    reasons = [e["reason"] for e in run["events"] if e["outcome"] in ("failed", "deferred")]
    assert any(f"task {spike['id']} in webwork is not linked to pwf" in r for r in reasons), reasons
    assert any("a ProWorkflow time record needs a task" in r for r in reasons), reasons
    pwf.reset_calls()
    again = hostsync_project.cli("sync", "time", "--json").json()[0]["counts"]
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    assert [e["operation"] for e in pwf.log if not e["operation"].startswith("GET ")] == []


def test_a_wrong_token_holds_webwork_after_one_refused_call(hostsync_project, whmcs, systems):
    hostsync_project.systems["webwork"].update(token="revoked-token-1234", concurrency=1)
    mirror_plans(hostsync_project)
    first = hostsync_project.cli("sync", "projects", "--json")
    assert first.exit_code == 1 and sum(systems.calls.values()) == 1
    again = hostsync_project.cli("sync", "projects", "--json")
    assert again.exit_code == 1 and sum(systems.calls.values()) == 1 and "held" in again.output
    assert "revoked-token-1234" not in first.output + again.output


def test_check_says_when_the_token_lacks_owner_rights(hostsync_project, systems):
    hostsync_project.systems["webwork"]["token"] = WebWorkSandbox.VIEWER_TOKEN
    result = hostsync_project.cli("check", "webwork")
    assert result.exit_code == 1
    assert "'Project viewer' in workspace 4711; the WebWork API needs an Owner or Executive manager" in result.output


def test_under_the_real_limit_scaled_down_nothing_is_refused(hostsync_project, whmcs, systems):
    """60 requests per 2 s instead of per minute (the same arithmetic, 30 times faster): a backlog of
    creates and list pages together never earns a 429."""
    systems.set_limit(60, 2.0)
    hostsync_project.system("webwork", **systems.systems()["webwork"], timeout=2.0)
    assert hostsync_project.systems["webwork"]["request_limit"] == "60/2s"
    for n in range(80):
        whmcs.state["actions"][100 + n] = {**whmcs.state["actions"][3], "id": 100 + n, "action_name": f"Step {n}"}
    mirror_plans(hostsync_project)
    counts = sync(hostsync_project, "--all")
    assert (counts["projects"]["created"], counts["tasks"]["created"]) == (4, 90)
    statuses = [e.get("status") for e in systems.log]
    assert 429 not in statuses and len(statuses) > 90  # a window and a half, none refused
