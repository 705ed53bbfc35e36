"""wbTeamPro through the engine and the CLI: ticket links to WHMCS tickets, projects, tasks and time
entries round-tripping with another system, and the hold after a refused login."""

from __future__ import annotations

import pytest

from pathlib import Path

from hostsync.config import load_config
from hostsync.engine import Runtime, sync_job
from hostsync.plugins import load_plugins

PLUGINS_DIR = Path(__file__).parents[2] / "support" / "plugins"  # the in-memory vendor

TEAMPRO_WRITES = ("createProject", "updateProject", "deleteProject", "createAction", "updateAction", "deleteAction",
                  "createTimelog", "updateTimelog", "deleteTimelog", "createTicketXref", "updateTicketXref",
                  "deleteTicketXref")


def teampro_writes(sandbox) -> list[str]:
    return [e["operation"] for e in sandbox.log if e["operation"] in TEAMPRO_WRITES]


def sync(project, *args):
    result = project.cli("sync", *args, "--json")
    return result, (result.json() if result.stdout.startswith("[") else None)


@pytest.fixture
def hosted(project, sandbox, memory, options):
    """The WHMCS host (``billing``) with its wbTeamPro (``teampro``), and an in-memory ``pm`` system."""
    systems = sandbox.systems()
    project.systems["billing"] = dict(systems["billing"])
    project.systems["teampro"] = {**systems["teampro"], "members": dict(options["members"])}
    project.system("pm", plugin="memory", vendor="pm")
    return memory.vendor("pm")


# --- ticket links ------------------------------------------------------------------------------

def test_whmcs_tickets_are_tied_to_their_clients_project_once(project, sandbox, hosted):
    sandbox.state["projects"][5] = {**sandbox.state["projects"][1], "id": 5, "project_name": "Reseller setup",
                                    "client_userid": 2, "project_status": "Active"}
    project.systems["teampro"]["unassigned_project"] = 4
    project.job("ticket-links", kind="ticket", source="billing", targets=["teampro"])
    result, results = sync(project, "ticket-links")
    assert result.exit_code == 0, result.output
    assert (results[0]["counts"]["adopted"], results[0]["counts"]["created"]) == (3, 7)  # 3 were tied already
    tied = {x["ticket_id"]: x["project_id"] for x in sandbox.state["ticketxrefs"].values()}
    assert tied == {1: 1, 2: 3, 3: 5, 4: 2, 5: 4, 6: 4, 7: 4, 8: 4, 9: 4, 10: 4}
    sandbox.reset_calls()
    rerun, rerun_results = sync(project, "ticket-links")
    assert rerun.exit_code == 0 and rerun_results[0]["counts"]["unchanged"] == 10
    assert teampro_writes(sandbox) == [] and "GetTicket" not in sandbox.calls


def test_a_ticket_whose_client_has_no_project_fails_with_the_reason(project, sandbox, hosted):
    del project.systems["teampro"]["unassigned_project"]  # the sandbox names its internal project
    project.job("ticket-links", kind="ticket", source="billing", targets=["teampro"])
    result, results = sync(project, "ticket-links")
    assert result.exit_code == 1 and results[0]["counts"]["failed"] == 7
    (run,) = project.cli("runs", "ticket-links", "--limit", "1", "--events", "--json").json()
    reasons = {e["record_id"]: e["reason"] for e in run["events"] if e["outcome"] == "failed"}
    assert "client 2 has no active wbTeamPro project and unassigned_project is not set" in reasons["3"]
    assert len(sandbox.state["ticketxrefs"]) == 3


# --- projects, tasks and time entries ----------------------------------------------------------

def test_projects_tasks_and_time_entries_round_trip(project, sandbox, hosted):
    for kind, name in (("project", "projects"), ("task", "tasks"), ("time_entry", "time")):
        project.job(name, kind=kind, source="teampro", targets=["pm"], direction="two-way")
    result, results = sync(project, "--all")
    created = {r["job"]: r["counts"]["created"] for r in results}
    # the internal project, its two tasks and their time logs; the others wait for their client (see below)
    assert created == {"projects": 1, "tasks": 2, "time": 2}
    pm_projects = hosted.records("project")
    ((pm_project_id, pm_project),) = pm_projects.items()
    assert pm_project["fields"]["name"] == "Internal: server hardening" and pm_project["fields"]["status"] == "on_hold"
    # changes made on the other side come back into wbTeamPro
    hosted.edit("project", pm_project_id, name="Server hardening, phase 2", status="active")
    task_id = hosted.put("task", {"name": "Fail2ban rules", "status": "open", "due_on": "2025-04-30"},
                         {"project": pm_project_id})
    hosted.put("time_entry", {"member": "jane@example.net", "started_at": "2025-03-12T13:15:00Z", "minutes": 50,
                              "note": "Jails for Dovecot", "billable": False}, {"project": pm_project_id, "task": task_id})
    sandbox.state["actions"][9]["action_status"] = "Completed"  # and a change made in wbTeamPro goes out
    result, results = sync(project, "--all")
    assert {r["job"]: (r["counts"]["created"], r["counts"]["updated"]) for r in results} == {
        "projects": (0, 1), "tasks": (1, 1), "time": (1, 0)}
    assert sandbox.state["projects"][4]["project_name"] == "Server hardening, phase 2"
    assert sandbox.state["projects"][4]["project_status"] == "Active"
    action = next(a for a in sandbox.state["actions"].values() if a["action_name"] == "Fail2ban rules")
    assert (action["project_id"], action["action_status"], action["date_finish"]) == (4, "Open", "2025-04-30 00:00:00")
    log = next(t for t in sandbox.state["timelogs"].values() if t["timelog_note"] == "Jails for Dovecot")
    assert (log["action_id"], log["owner_adminid"], log["timelog_elapsed"], log["date_start"], log["billable"]) == (
        action["id"], 2, 3000, "2025-03-12 14:15:00", 0)
    assert next(t for t in hosted.records("task").values() if t["fields"]["name"] == "SSH hardening")[
        "fields"]["status"] == "done"
    written = hosted.write_count()
    sandbox.reset_calls()
    rerun, rerun_results = sync(project, "--all")
    assert all(r["counts"]["created"] == r["counts"]["updated"] == 0 for r in rerun_results)
    assert teampro_writes(sandbox) == [] and hosted.write_count() == written


def test_projects_of_clients_wait_for_their_client_with_a_clear_reason(project, sandbox, hosted):
    project.job("projects", kind="project", source="teampro", targets=["pm"])
    result, results = sync(project, "projects")
    assert results[0]["counts"]["deferred"] == 3
    (run,) = project.cli("runs", "projects", "--limit", "1", "--events", "--json").json()
    reasons = {e["record_id"]: e["reason"] for e in run["events"] if e["outcome"] == "deferred"}
    assert "client 4 in teampro is not linked to pm yet" in reasons["1"]


def test_projects_of_clients_follow_the_clients_linked_through_whmcs(project, sandbox, hosted):
    project.job("clients", kind="client", source="billing", targets=["pm"])
    project.job("projects", kind="project", source="teampro", targets=["pm"])
    result, results = sync(project, "--all")
    assert {r["job"]: r["counts"]["created"] for r in results} == {"clients": 12, "projects": 4}


def test_two_way_what_wbteampro_keeps_lossily_neither_bounces_back_nor_degrades_pm(project, sandbox, hosted):
    project.systems["teampro"]["project_statuses"] = {"planned": "Active"}  # this install has no Pending
    for kind, name in (("project", "projects"), ("time_entry", "time")):
        project.job(name, kind=kind, source="teampro", targets=["pm"], direction="two-way")
    pm_project = hosted.put("project", {"name": "Mail migration", "status": "planned", "start_on": "2025-05-01"})
    hosted.put("time_entry", {"member": "Jane@Example.NET", "started_at": "2025-10-26T01:30:00Z", "minutes": 30,
                              "note": "Scoping", "billable": True}, {"project": pm_project})
    result, results = sync(project, "--all")
    assert {r["job"]: r["counts"]["created"] for r in results} == {"projects": 2, "time": 1}  # and the internal one
    migration = next(p for p in sandbox.state["projects"].values() if p["project_name"] == "Mail migration")
    scoping = next(t for t in sandbox.state["timelogs"].values() if t["timelog_note"] == "Scoping")
    assert (migration["project_status"], scoping["owner_adminid"], scoping["date_start"]) == (
        "Active", 2, "2025-10-26 02:30:00")  # 02:30 CET, the second pass of that hour, kept without a zone
    for _ in range(2):  # the next runs see nothing new on either side and write nothing anywhere
        sandbox.reset_calls()
        written = hosted.write_count()
        again, results = sync(project, "--all")
        assert all(r["counts"]["created"] == r["counts"]["updated"] == r["counts"]["conflicts"] == 0 for r in results)
        assert teampro_writes(sandbox) == [] and hosted.write_count() == written
    assert hosted.records("project")[pm_project]["fields"]["status"] == "planned"  # not degraded to active
    (entry,) = [e for e in hosted.records("time_entry").values() if e["fields"]["note"] == "Scoping"]
    assert (entry["fields"]["member"], entry["fields"]["started_at"]) == ("Jane@Example.NET", "2025-10-26T01:30:00Z")


# --- a wrong password --------------------------------------------------------------------------

def scheduled_run(project, job: str) -> str:
    """What the daemon does on each tick: a fresh runtime over the same state, then the job."""
    project.write()
    plugins = load_plugins(PLUGINS_DIR)
    with Runtime(load_config(project.config_path, plugins), plugins) as rt:
        return sync_job(rt, job).status


def test_a_wrong_password_makes_exactly_one_failed_login_until_fixed(project, sandbox, hosted):
    project.systems["teampro"]["password"] = "an-old-password"
    project.job("projects", kind="project", source="teampro", targets=["pm"], every="15m")
    project.job("time", kind="time_entry", source="teampro", targets=["pm"], every="15m")
    assert [scheduled_run(project, "projects") for _ in range(3)] == ["failed"] * 3
    result, results = sync(project, "--all")
    assert result.exit_code == 1 and all("held" in r["error"] for r in results)
    check = project.cli("check", "teampro")
    assert check.exit_code == 1 and "pass --force" in check.stdout
    assert sandbox.failed_logins == 1 and sandbox.state["banned_ips"] == []
    assert "an-old-password" not in result.output + check.output
    project.systems["teampro"]["password"] = sandbox.ADMIN_PASSWORD  # corrected
    fixed = project.cli("check", "teampro", "--json")
    assert fixed.exit_code == 0, fixed.output
    after, results = sync(project, "projects")
    assert results[0]["counts"]["created"] == 1 and sandbox.failed_logins == 1
