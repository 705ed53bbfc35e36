"""ProWorkflow through the engine and the real CLI against the sandboxes on loopback: the flows people
want (WHMCS or Blesta clients -> ProWorkflow companies; wbTeamPro projects and tasks <-> ProWorkflow;
ProWorkflow time -> wbTeamPro; ProWorkflow invoices -> WHMCS), second runs that write nothing, lossy
values that never bounce, records that fail alone, and the guarded project delete."""

from __future__ import annotations

from typing import Any

import pytest

from hostsync.model import normalise
from hostsync_proworkflow.sandbox import ProWorkflowSandbox
from hostsync_whmcs.connector import WhmcsConnector
from hostsync_whmcs.sandbox import WhmcsSandbox

TEAMPRO_WRITES = ("createProject", "updateProject", "deleteProject", "createAction", "updateAction", "deleteAction",
                  "createTimelog", "updateTimelog", "deleteTimelog")
WHMCS_WRITES = ("AddClient", "UpdateClient", "CreateInvoice", "UpdateInvoice", "AddInvoicePayment")
MEMBERS = {"1": "api@example.net", "2": "jane@example.net"}


WHMCS_SAMPLE = WhmcsSandbox(seed=1).dump()


@pytest.fixture
def whmcs(shared_sandbox: Any) -> WhmcsSandbox:
    """WHMCS (and its wbTeamPro) with the sample hosting business."""
    return shared_sandbox("whmcs", WHMCS_SAMPLE)


@pytest.fixture
def pwf(empty_sandbox: ProWorkflowSandbox) -> ProWorkflowSandbox:
    return empty_sandbox


@pytest.fixture
def project(hostsync_project: Any, whmcs: WhmcsSandbox, pwf: ProWorkflowSandbox) -> Any:
    systems = whmcs.systems()
    hostsync_project.systems["billing"] = {**systems["billing"], "timeout": 5.0}
    hostsync_project.systems["teampro"] = {**systems["teampro"], "timeout": 5.0, "members": dict(MEMBERS)}
    hostsync_project.systems["pwf"] = {**pwf.systems()["proworkflow"], "timeout": 5.0}
    return hostsync_project


def sync(project: Any, *args: str) -> dict[str, dict[str, int]]:
    result = project.cli("sync", *args, "--json")
    assert result.exit_code in (0, 1), result.output
    body = result.json()
    return {job["job"]: job["counts"] for job in (body if isinstance(body, list) else [body])}


def pwf_writes(box: ProWorkflowSandbox) -> list[str]:
    return [e["operation"] for e in box.log if not e["operation"].startswith("GET ")]


def teampro_writes(box: WhmcsSandbox) -> list[str]:
    return [e["operation"] for e in box.log if e["operation"] in TEAMPRO_WRITES]


def whmcs_writes(box: WhmcsSandbox) -> list[str]:
    return [e["operation"] for e in box.log if e["operation"] in WHMCS_WRITES]


def companies(box: ProWorkflowSandbox) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in box.account.t["companies"].values() if c["type"] == "client"}


def add_company(box: ProWorkflowSandbox, name: str, email: str = "", contact: tuple[str, str, str] | None = None) -> int:
    """A company someone made in ProWorkflow's web app."""
    with box.lock:
        company = box.account.post_companies({"name": name, "type": "client", "email": email})["details"][0]["id"]
        if contact:
            box.account.post_contacts({"firstname": contact[0], "lastname": contact[1], "email": contact[2]},
                                      company=str(company))
    return company


def failures(project: Any, job: str) -> dict[str, str]:
    (run,) = project.cli("runs", job, "--limit", "1", "--events", "--json").json()
    return {e["record_id"]: e["reason"] for e in run["events"] if e["outcome"] == "failed"}


# -- clients --------------------------------------------------------------------------------

def test_whmcs_clients_become_companies_adopting_one_by_an_email_on_its_contact(project, whmcs, pwf):
    existing = add_company(pwf, "Nordlys", contact=("Zoë", "Ångström", "Zoe@Nordlys.se"))
    project.job("clients", kind="client", source="billing", targets=["pwf"])
    counts = sync(project, "clients")["clients"]
    assert (counts["created"], counts["adopted"], counts["failed"]) == (11, 1, 0)
    held = companies(pwf)
    assert len(held) == 12 and held["Nordlys AB"]["id"] == existing  # adopted, then renamed as WHMCS has it
    assert held["Łukasz Wójcik"]["email"] == "lukasz.wojcik@example.pl"  # no company: named after the person
    assert (held["Nordlys AB"]["country"], held["Nordlys AB"]["city"]) == ("SE", "Stockholm")
    pwf.reset_calls()
    again = sync(project, "clients", "--full")["clients"]
    assert again["unchanged"] == 12 and pwf_writes(pwf) == []
    whmcs.edit_client(3, city="Gdańsk")
    changed = sync(project, "clients")["clients"]
    assert changed["updated"] == 1 and pwf_writes(pwf) == ["PUT /companies/{id}"]
    assert companies(pwf)["Łukasz Wójcik"]["city"] == "Gdańsk"


def test_clients_adopt_companies_by_name(project, whmcs, pwf):
    existing = add_company(pwf, "Müller Bäckerei GmbH")
    project.job("clients", kind="client", source="billing", targets=["pwf"], match=["company"])
    counts = sync(project, "clients")["clients"]
    assert (counts["created"], counts["adopted"]) == (11, 1)
    adopted = pwf.account.t["companies"][existing]
    assert adopted["email"] == "juergen@mueller-baeckerei.de"
    assert [(c["firstname"], c["lastname"]) for c in pwf.account.t["contacts"].values()
            if c["companyid"] == existing] == [("Jürgen", "Müller")]
    pwf.reset_calls()
    assert sync(project, "clients", "--full")["clients"]["unchanged"] == 12 and pwf_writes(pwf) == []


def test_blesta_clients_become_companies(project, pwf, start_sandbox):
    blesta = start_sandbox("blesta", seed=7)
    project.systems["blesta"] = {**blesta.systems()["blesta"], "timeout": 5.0}
    project.job("clients", kind="client", source="blesta", targets=["pwf"])
    counts = sync(project, "clients")["clients"]
    expected = len(blesta.blesta.t["clients"])
    assert (counts["created"], counts["failed"]) == (expected, 0) and len(companies(pwf)) == expected
    pwf.reset_calls()
    assert sync(project, "clients")["clients"]["unchanged"] == expected and pwf_writes(pwf) == []


# -- projects and tasks, both ways ------------------------------------------------------------

def jobs_for_work(project: Any, **extra: Any) -> None:
    project.job("clients", kind="client", source="billing", targets=["pwf"])
    project.job("projects", kind="project", source="teampro", targets=["pwf"], direction="two-way", **extra)
    project.job("tasks", kind="task", source="teampro", targets=["pwf"], direction="two-way", **extra)


def pwf_tasks_by_project(box: ProWorkflowSandbox) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for task in box.account.t["tasks"].values():
        out.setdefault(box.account.t["projects"][task["projectid"]]["title"], set()).add(task["name"])
    return out


def teampro_tasks_by_project(box: WhmcsSandbox) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for action in box.state["actions"].values():
        out.setdefault(box.state["projects"][action["project_id"]]["project_name"], set()).add(action["action_name"])
    return out


def test_projects_and_tasks_go_both_ways_with_their_project_intact(project, whmcs, pwf):
    jobs_for_work(project)
    first = sync(project, "--all")
    assert (first["projects"]["created"], first["tasks"]["created"]) == (4, 10)
    assert pwf_tasks_by_project(pwf) == teampro_tasks_by_project(whmcs)
    pwf_projects = {p["title"]: p for p in pwf.account.t["projects"].values()}
    assert pwf.account.t["companies"][pwf_projects["Website redesign"]["companyid"]]["name"] == "Boulangerie Dubois"
    assert pwf_projects["Internal: server hardening"]["status"] == "active"  # On Hold: ProWorkflow has no word
    assert not pwf_projects["Internal: server hardening"].get("companyid")
    # work added and changed in ProWorkflow's web app, and a change in wbTeamPro
    with pwf.lock:
        dubois = next(c["id"] for c in pwf.account.t["companies"].values() if c["name"] == "Boulangerie Dubois")
        new = pwf.account.post_projects({"title": "Loyalty app", "companyid": dubois, "startdate": "2025-05-01"},
                                        pwf.account.t["contacts"][1])["details"][0]["id"]
        pwf.account.post_tasks([{"projectid": new, "name": "Prototype"}, {"projectid": new, "name": "App store"}])
    wireframes = next(t["id"] for t in pwf.account.t["tasks"].values() if t["name"] == "Build theme")
    pwf.edit("tasks", wireframes, name="Build theme (v2)")
    whmcs.state["projects"][2]["project_name"] = "Shop migration (phase 1)"
    second = sync(project, "--all")
    assert (second["projects"]["created"], second["projects"]["updated"]) == (1, 1)
    assert (second["tasks"]["created"], second["tasks"]["updated"]) == (2, 1)
    assert pwf_tasks_by_project(pwf) == teampro_tasks_by_project(whmcs)
    loyalty = next(p for p in whmcs.state["projects"].values() if p["project_name"] == "Loyalty app")
    assert loyalty["client_userid"] == 4 and loyalty["date_start"] == "2025-05-01 00:00:00"  # Chloé Dubois in WHMCS
    assert any(p["title"] == "Shop migration (phase 1)" for p in pwf.account.t["projects"].values())
    # nothing new on either side: no writes anywhere, and what ProWorkflow keeps lossily stayed put
    for _ in range(2):
        pwf.reset_calls()
        whmcs.reset_calls()
        again = sync(project, "--all")
        assert all(c["created"] == c["updated"] == c["conflicts"] == c["failed"] == 0 for c in again.values())
        assert pwf_writes(pwf) == [] and teampro_writes(whmcs) == []
    assert whmcs.state["projects"][4]["project_status"] == "On Hold"
    assert {a["action_name"]: a["action_status"] for a in whmcs.state["actions"].values()}[
        "Kernel live patching"] == "Cancelled"


def test_a_priority_set_in_proworkflow_is_never_cleared_by_wbteampro_which_has_none(project, whmcs, pwf):
    """wbTeamPro does not carry a task's priority: the two-way job leaves ProWorkflow's alone, both when
    it changes there (no change to copy) and when the task changes in wbTeamPro (a PUT without it)."""
    jobs_for_work(project)
    sync(project, "--all")
    task = next(t for t in pwf.account.t["tasks"].values() if t["name"] == "Build theme")
    assert task["priority"] == 3  # what a new task gets
    pwf.edit("tasks", task["id"], priority=1)  # Very High, set in the web app
    pwf.reset_calls()
    whmcs.reset_calls()
    assert sync(project, "tasks")["tasks"]["unchanged"] == 10 and pwf_writes(pwf) == [] and teampro_writes(whmcs) == []
    action = next(a for a in whmcs.state["actions"].values() if a["action_name"] == "Build theme")
    action["action_detail"] = "Child theme of Storefront"
    assert sync(project, "tasks")["tasks"]["updated"] == 1 and pwf_writes(pwf) == ["PUT /tasks/{id}"]
    assert (task["description"], task["priority"]) == ("Child theme of Storefront", 1)


def test_an_unknown_status_fails_that_project_alone(project, whmcs, pwf):
    jobs_for_work(project)
    sync(project, "--all")
    odd = next(p["id"] for p in pwf.account.t["projects"].values() if p["title"] == "Website redesign")
    pwf.edit("projects", odd, status="archived", description="Changed while archived")
    other = next(p["id"] for p in pwf.account.t["projects"].values() if p["title"] == "E-mail migration")
    pwf.edit("projects", other, description="Moved to the new tenant")
    counts = sync(project, "projects")["projects"]
    assert (counts["failed"], counts["updated"]) == (1, 1)
    reasons = failures(project, "projects")
    assert "status: 'archived' is not one of planned, active, on_hold, completed, cancelled" in reasons[str(odd)]
    assert whmcs.state["projects"][3]["project_details"] == "Moved to the new tenant"


def test_a_mirrored_project_delete_goes_after_its_tasks(project, whmcs, pwf):
    jobs_for_work(project, deletes="mirror")
    sync(project, "--all")
    gone = next(p["id"] for p in pwf.account.t["projects"].values() if p["title"] == "Website redesign")
    with whmcs.lock:  # deleted in wbTeamPro: the addon deletes the project's actions too
        whmcs.state["actions"] = {k: a for k, a in whmcs.state["actions"].items() if a["project_id"] != 1}
        del whmcs.state["projects"][1]
    tasks = {t["id"] for t in pwf.account.t["tasks"].values() if t["projectid"] == gone}
    kept = {t["id"] for t in pwf.account.t["tasks"].values()} - tasks
    # its tasks first, by the tasks job (within the projects run), so ProWorkflow deletes no task with it
    assert sync(project, "projects")["projects"]["deleted"] == 4
    assert gone not in pwf.account.t["projects"] and set(pwf.account.t["tasks"]) == kept
    assert sync(project, "tasks")["tasks"]["deleted"] == 0


def test_a_project_delete_that_would_take_tasks_hostsync_keeps_is_refused(project, whmcs, pwf):
    jobs_for_work(project)
    project.jobs["projects"]["deletes"] = "mirror"  # tasks are not mirrored: ProWorkflow would delete them
    sync(project, "--all")
    gone = next(p["id"] for p in pwf.account.t["projects"].values() if p["title"] == "Website redesign")
    tasks = {t["id"] for t in pwf.account.t["tasks"].values() if t["projectid"] == gone}
    with whmcs.lock:
        del whmcs.state["projects"][1]
    assert sync(project, "projects")["projects"]["failed"] == 1
    assert "would delete its 3 task(s) with it" in failures(project, "projects")["1"]
    assert gone in pwf.account.t["projects"] and tasks <= set(pwf.account.t["tasks"])


# -- time and invoices out of ProWorkflow ---------------------------------------------------

def test_time_tracked_in_proworkflow_lands_in_wbteampro(project, whmcs, pwf):
    jobs_for_work(project)
    project.job("time", kind="time_entry", source="pwf", targets=["teampro"])
    sync(project, "clients", "projects", "tasks")
    task = next(t for t in pwf.account.t["tasks"].values() if t["name"] == "Design mock-ups")
    with pwf.lock:
        pwf.account.post_time({"taskid": task["id"], "contactid": 3, "date": "2025-03-12", "starttime": "09:15",
                               "timetracked": 50, "notes": "Hero banner", "billable": False}, {"id": 1})
        pwf.account.post_time({"taskid": task["id"], "contactid": 4, "date": "2025-03-12", "starttime": "10:00",
                               "timetracked": 20, "notes": "Review"}, {"id": 1})  # Tomás: no wbTeamPro admin
    counts = sync(project, "time")["time"]
    assert (counts["created"], counts["failed"]) == (1, 1)
    log = next(t for t in whmcs.state["timelogs"].values() if t["timelog_note"] == "Hero banner")
    action = next(a for a in whmcs.state["actions"].values() if a["action_name"] == "Design mock-ups")
    # 09:15 in Auckland (UTC+13) is 20:15 UTC the day before, 21:15 in Amsterdam
    assert (log["action_id"], log["project_id"], log["owner_adminid"], log["timelog_elapsed"], log["date_start"],
            log["billable"]) == (action["id"], action["project_id"], 2, 3000, "2025-03-11 21:15:00", 0)
    assert "'tomas@harbourpine.example' has no wbTeamPro admin id" in " ".join(failures(project, "time").values())
    whmcs.reset_calls()
    assert sync(project, "time")["time"]["created"] == 0 and teampro_writes(whmcs) == []


def test_a_wbteampro_time_log_without_a_task_is_refused_by_proworkflow_alone(project, whmcs, pwf):
    jobs_for_work(project)
    project.job("time-in", kind="time_entry", source="teampro", targets=["pwf"])
    sync(project, "clients", "projects", "tasks")
    whmcs.state["timelogs"][1]["action_id"] = 0
    counts = sync(project, "time-in")["time-in"]
    assert counts["failed"] == 1 and counts["created"] == len(whmcs.state["timelogs"]) - 1
    assert "a ProWorkflow time record needs a task" in failures(project, "time-in")["1"]


def test_invoices_made_in_proworkflow_are_billed_in_whmcs_to_the_same_client(project, whmcs, pwf):
    jobs_for_work(project)
    project.job("invoices", kind="invoice", source="pwf", targets=["billing"])
    sync(project, "clients", "projects")
    dubois = next(c for c in pwf.account.t["companies"].values() if c["name"] == "Boulangerie Dubois")
    contact = next(c["id"] for c in pwf.account.t["contacts"].values() if c["companyid"] == dubois["id"])
    redesign = next(p["id"] for p in pwf.account.t["projects"].values() if p["companyid"] == dubois["id"])
    lines = [{"type": "heading", "name": "Website"},
             {"type": "lineitem", "name": "Design", "quantity": 2, "rate": "150.00", "taxable": True},
             {"type": "taskrate", "name": "Development", "time": 90, "rate": "120.00", "taxable": True},
             {"type": "expense", "name": "Stock photos", "quantity": 3, "rate": "15.00", "taxable": False}]
    with pwf.lock:
        made = pwf.account.post_invoices({"companyid": dubois["id"], "contactid": contact, "projectid": redesign,
                                          "title": "Stage 1", "invoiceddate": "2025-03-01", "lines": lines})
        invoice = pwf.account.t["invoices"][made["details"][0]["id"]]
        total = pwf.account._totals(invoice)["grandtotal"]
    assert total == "597.00"  # 300 + 180 taxed at 15 %, 45 untaxed
    before = set(whmcs.state["invoices"])
    counts = sync(project, "invoices")["invoices"]
    assert (counts["created"], counts["failed"]) == (1, 0)
    (new,) = set(whmcs.state["invoices"]) - before
    with WhmcsConnector("billing", {**project.systems["billing"], "timeout": 5.0}) as billing:
        billed = normalise(billing.get("invoice", str(new)))
    assert billed.refs["client"] == "4" and billed.fields["total"] == total  # Chloé Dubois
    assert [(x["description"], x["quantity"], x["unit_price"], x["taxed"]) for x in billed.fields["lines"]] == [
        ("Design", "2", "150.00", True), ("Development", "1.5", "120.00", True), ("Stock photos", "3", "15.00", False)]
    whmcs.reset_calls()
    assert sync(project, "invoices")["invoices"]["unchanged"] == 1 and whmcs_writes(whmcs) == []
    pwf.edit("invoices", invoice["id"], status="paid", paiddate="2025-03-10")
    assert sync(project, "invoices")["invoices"]["updated"] == 1
    assert whmcs.state["invoices"][new]["status"] == "Paid"
