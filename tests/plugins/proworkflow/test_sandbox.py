"""The ProWorkflow sandbox over real HTTP: the vendor behaviours FACTS.md §4 and §7 list, each one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import httpx
import pytest

from hostsync.sandbox import Fault
from hostsync_proworkflow.sandbox import ProWorkflowSandbox

from .conftest import SAMPLE

USER, PASSWORD, KEY = ProWorkflowSandbox.USERNAME, ProWorkflowSandbox.PASSWORD, ProWorkflowSandbox.APIKEY


# -- authentication ---------------------------------------------------------------------------

def test_both_the_key_and_the_login_are_needed(sandbox):
    with httpx.Client(base_url=sandbox.url, timeout=5) as raw:
        no_login = raw.get("/projects", headers={"apikey": KEY})
        wrong_password = raw.get("/projects", headers={"apikey": KEY}, auth=(USER, "nope"))
        no_key = raw.get("/projects", auth=(USER, PASSWORD))
        wrong_key = raw.get("/projects", headers={"apikey": "0000-1111"}, auth=(USER, PASSWORD))
        by_email = raw.get("/projects", headers={"apikey": KEY}, auth=("API@example.net", PASSWORD))
        key_in_query = raw.get("/projects", params={"apikey": KEY}, auth=(USER, PASSWORD))
    assert (no_login.status_code, no_login.content) == (401, b"")
    assert (wrong_password.status_code, wrong_password.content) == (401, b"")
    assert no_key.status_code == wrong_key.status_code == 403
    assert wrong_key.json() == {"status": "Error", "details": ["Invalid API Key"]}
    assert by_email.status_code == key_in_query.status_code == 200


def test_the_login_call_needs_basic_only_and_returns_the_key(sandbox):
    with httpx.Client(base_url=sandbox.url, timeout=5) as raw:
        answer = raw.get("/login", params={"url": "https://example.proworkflow.net"}, auth=(USER, PASSWORD))
    assert answer.status_code == 200 and answer.json()["account"]["apikey"] == KEY


# -- shapes and errors ------------------------------------------------------------------------

def test_an_unknown_path_is_an_html_page_and_an_unknown_record_is_json(sandbox, http):
    page = http.get("/projectz")
    assert page.status_code == 404 and page.text.lower().startswith("<!doctype html")
    missing = http.get("/projects/99999")
    assert missing.status_code == 404 and missing.json() == {"status": "Error", "details": ["Invalid Project ID"]}


def test_creates_answer_201_with_the_new_ids(empty_sandbox, http):
    one = http.post("/companies", json={"name": "ABC Ltd", "type": "client"})
    assert one.status_code == 201
    body = one.json()
    assert body["status"] == "Success" and body["message"] == "Company Added"
    assert body["details"][0]["id"] in empty_sandbox.account.t["companies"]
    several = http.post("/companies", json=[{"name": "DEF Co", "type": "client"}, {"name": "GHI", "type": "other"}])
    assert several.status_code == 201 and len(several.json()["details"]) == 2
    refused = http.post("/companies", json={"name": "JKL"})
    assert refused.status_code == 400 and refused.json() == {"status": "Error", "details": ["'type' is a required field"]}


def test_contact_lists_are_comma_separated_strings_and_an_array_is_a_500(sandbox, http):
    company = next(c["id"] for c in sandbox.account.t["companies"].values() if c["type"] == "client")
    fine = http.post("/projects", json={"title": "Intranet", "companyid": company, "staff": "2,3"})
    assert fine.status_code == 201
    project = fine.json()["details"][0]["id"]
    assert sandbox.account.t["projects"][project]["staff"] == "2,3"
    array = http.post("/projects", json={"title": "Intranet", "staff": [2, 3]})
    assert array.status_code == 500
    assert isinstance(array.json()["details"], str) and "<b>" in array.json()["details"]
    assert http.post("/tasks", json={"projectid": project, "name": "Kick-off", "contacts": [2]}).status_code == 500
    assert http.post("/tasks", json={"projectid": project, "name": "Kick-off", "contacts": "2"}).status_code == 201


# -- lists ------------------------------------------------------------------------------------

def test_paging_needs_both_parameters(sandbox, http):
    for params in ({"pagenumber": 1}, {"pagesize": 10}):
        answer = http.get("/companies", params=params)
        assert answer.status_code == 400
        assert "pagesize and pagenumber must both be provided" in answer.json()["details"][0]
    first = http.get("/companies", params={"pagenumber": 1, "pagesize": 10, "sortby": "id"}).json()
    second = http.get("/companies", params={"pagenumber": 2, "pagesize": 10, "sortby": "id"}).json()
    everything = http.get("/companies", params={"sortby": "id"}).json()
    assert first["count"] == 10 and first["totalcount"] == everything["count"] == len(SAMPLE["companies"])
    assert [c["id"] for c in first["companies"] + second["companies"]] == [c["id"] for c in everything["companies"]][:20]
    assert set(first["companies"][0]) == {"id", "code", "name", "type"}  # the default fields


def test_projects_tasks_and_invoices_default_to_active_and_unpaid(sandbox, http):
    projects = sandbox.account.t["projects"].values()
    default = http.get("/projects").json()
    everything = http.get("/projects", params={"status": "all"}).json()
    assert default["count"] == sum(p["status"] == "active" for p in projects) < everything["count"] == len(projects)
    tasks = sandbox.account.t["tasks"].values()
    assert http.get("/tasks").json()["count"] == sum(t["status"] == "active" for t in tasks)
    invoices = sandbox.account.t["invoices"].values()
    assert http.get("/invoices").json()["count"] == sum(i["status"] == "unpaid" for i in invoices)
    assert http.get("/invoices", params={"status": "all"}).json()["count"] == len(invoices)


def test_time_defaults_to_the_last_six_days_and_to_totals_only(sandbox, http):
    task = min(sandbox.account.t["tasks"])
    today = sandbox.account.today()
    recent = http.post("/time", json={"taskid": task, "contactid": 3, "date": today.isoformat(), "timetracked": 30})
    assert recent.status_code == 201
    totals = http.get("/time").json()
    assert "timerecords" not in totals and totals["totals"]["timetracked"] == 30
    listed = http.get("/time", params={"fields": "task,timetracked"}).json()
    assert [r["id"] for r in listed["timerecords"]] == [recent.json()["details"][0]["id"]]  # old records not in -6d
    old = http.get("/time", params={"fields": "task,timetracked,dates", "trackedfrom": "2000-01-01",
                                    "trackedto": "+1y"}).json()
    assert old["count"] == len(sandbox.account.t["time"]) > 1


def test_lastmodified_comes_in_the_account_zone_and_in_utc(sandbox, http):
    project = min(sandbox.account.t["projects"])
    sandbox.edit("projects", project, title="Renamed")
    row = http.get("/projects", params={"status": "all", "fields": "title,lastmodified", "id": project}).json()
    stamp = row["projects"][0]
    utc = datetime.fromisoformat(stamp["lastmodifiedutc"]).replace(tzinfo=timezone.utc)
    local = datetime.fromisoformat(stamp["lastmodified"]).replace(tzinfo=ZoneInfo("Pacific/Auckland"))
    assert utc == local and abs(datetime.now(timezone.utc) - utc) < timedelta(minutes=1)
    minute = utc.strftime("%Y-%m-%dT%H:%M")
    later = (utc + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    local_minute = utc.astimezone(ZoneInfo("Pacific/Auckland")).strftime("%Y-%m-%dT%H:%M")
    assert [p["id"] for p in http.get("/projects", params={"status": "all", "lastmodifiedutcfrom": minute}).json()[
        "projects"]] == [project]
    assert http.get("/projects", params={"status": "all", "lastmodifiedutcfrom": later}).json()["count"] == 0
    assert http.get("/projects", params={"status": "all", "lastmodifiedfrom": local_minute}).json()["count"] == 1
    assert http.get("/projects", params={"status": "all", "lastmodifiedutcfrom": "2025-13-01"}).status_code == 400


def test_api_field_filters_match_values_that_contain_the_string(sandbox, http):
    company = next(c for c in sandbox.account.t["companies"].values() if c["type"] == "client")
    http.put(f"/companies/{company['id']}", json={"apifields": [{"id": 1, "value": "hs:billing:12"}]})
    for value in ("hs:billing:12", "hs:billing:1"):
        found = http.get("/companies", params={"apifields": f"1,{value}", "fields": "name,apifields"}).json()
        assert [c["id"] for c in found["companies"]] == [company["id"]]
    assert http.put(f"/companies/{company['id']}", json={"apifields": [{"id": 99, "value": "x"}]}).status_code == 400


# -- writes with side effects -----------------------------------------------------------------

def test_an_invoice_put_with_lines_replaces_every_line(sandbox, http):
    invoice = next(i for i in sandbox.account.t["invoices"].values() if len(i["lines"]) > 2)
    before = http.get(f"/invoices/{invoice['id']}").json()["invoice"]
    assert http.put(f"/invoices/{invoice['id']}", json={"title": "Renamed"}).status_code == 200
    assert http.get(f"/invoices/{invoice['id']}").json()["invoice"]["lines"] == before["lines"]
    http.put(f"/invoices/{invoice['id']}", json={"lines": [{"type": "lineitem", "name": "Only", "quantity": 2,
                                                            "rate": "10.00", "taxable": False}]})
    after = http.get(f"/invoices/{invoice['id']}").json()["invoice"]
    assert [(line["name"], line["total"]) for line in after["lines"]] == [("Only", "20.00")]
    assert after["grandtotal"] == "20.00"


def test_deleting_a_project_deletes_its_tasks_and_their_time(sandbox, http):
    project = next(p for p in sandbox.account.t["projects"].values()
                   if any(t["projectid"] == p["id"] for t in sandbox.account.t["tasks"].values()))
    tasks = [t["id"] for t in sandbox.account.t["tasks"].values() if t["projectid"] == project["id"]]
    assert http.delete(f"/projects/{project['id']}").json() == {"status": "Success", "message": "Project Deleted"}
    assert not set(tasks) & set(sandbox.account.t["tasks"])
    assert not any(r["taskid"] in tasks for r in sandbox.account.t["time"].values())


# -- rate limit and faults --------------------------------------------------------------------

def test_the_rate_limit_is_counted_per_key_and_announced(shared_sandbox, http):
    shared_sandbox("proworkflow", {**SAMPLE, "config": {**SAMPLE["config"], "rate_limit": 3, "window": 30}})
    answers = [http.get("/me") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert all(a.headers["x-ratelimit-limit"] == "3" and 1 <= int(a.headers["x-ratelimit-reset"]) <= 30
               for a in answers)
    assert answers[3].json()["status"] == "Error"


def test_the_window_resets(shared_sandbox, http):
    shared_sandbox("proworkflow", {**SAMPLE, "config": {**SAMPLE["config"], "rate_limit": 1, "window": 0.3}})
    assert http.get("/me").status_code == 200 and http.get("/me").status_code == 429
    import time
    time.sleep(0.35)
    assert http.get("/me").status_code == 200


@pytest.mark.parametrize("fault", [Fault("error", match="POST /projects", status=503),
                                   Fault("lost_reply", match="POST /projects")], ids=["503", "lost_reply"])
def test_the_common_faults_apply_by_operation(sandbox, http, fault):
    sandbox.inject(fault)
    before = len(sandbox.account.t["projects"])
    try:
        answer = http.post("/projects", json={"title": "Faulty"})
        assert answer.status_code == 503
    except httpx.RemoteProtocolError:
        assert fault.kind == "lost_reply"
    assert len(sandbox.account.t["projects"]) == before + (1 if fault.kind == "lost_reply" else 0)
    assert sandbox.calls["POST /projects"] == 1


def test_an_echo_fault_echoes_both_credentials_in_the_error_shape(sandbox, http):
    sandbox.inject(Fault("echo", match="POST /projects", status=400, content_type="application/json",
                         body='{"status": "Error", "details": ["Invalid: {request}"]}'))
    answer = http.post("/projects", json={"title": "Echoed"})
    assert answer.status_code == 400 and answer.json()["status"] == "Error"
    echoed = answer.json()["details"][0]
    assert f"apikey: {KEY}" in echoed and "Authorization: Basic " in echoed and '{"title":"Echoed"}' in echoed
    assert not any(p["title"] == "Echoed" for p in sandbox.account.t["projects"].values())  # not applied
