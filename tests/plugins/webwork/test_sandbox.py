"""The WebWork sandbox on the wire: what it answers is what the API reference says WebWork answers."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx

from hostsync.sandbox import Fault
from hostsync_webwork.sandbox import WebWorkSandbox

from .conftest import RAISED

WS = WebWorkSandbox.WORKSPACE


def api(box: WebWorkSandbox, method: str, path: str, token: str | None = WebWorkSandbox.TOKEN,
        **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{box.url}/api/v2/{path}", headers=headers, timeout=5, **kwargs)


def ok(response: httpx.Response) -> Any:
    body = response.json()
    assert response.status_code in (200, 201) and body["success"] is True, response.text
    assert body["meta"]["api_version"] == "2.0.0" and body["meta"]["timestamp"]
    return body["data"]


def test_every_answer_is_the_envelope_with_paging_meta(workspace: WebWorkSandbox) -> None:
    first = api(workspace, "GET", "tasks", params={"workspace_id": WS, "project_id": 1, "per_page": 2})
    body = first.json()
    assert set(body) == {"success", "data", "meta"} and len(body["data"]) == 2
    assert body["meta"]["pagination"] == {"current_page": 1, "per_page": 2, "total": 5, "last_page": 3}
    last = api(workspace, "GET", "tasks", params={"workspace_id": WS, "project_id": 1, "per_page": 2, "page": 3})
    assert [t["title"] for t in ok(last)] == ["Go-live checklist"]
    too_many = api(workspace, "GET", "projects", params={"workspace_id": WS, "per_page": 101})
    assert too_many.status_code == 422 and too_many.json()["success"] is False
    assert "per_page" in too_many.json()["errors"]
    default = api(workspace, "GET", "members", params={"workspace_id": WS})
    assert default.json()["meta"]["pagination"]["per_page"] == 20


def test_authentication_workspace_scoping_and_roles(workspace: WebWorkSandbox) -> None:
    assert api(workspace, "GET", "projects", token=None, params={"workspace_id": WS}).status_code == 401
    unknown = api(workspace, "GET", "projects", token="nope", params={"workspace_id": WS}).json()
    assert (unknown["success"], unknown["message"], unknown["data"]) == (False, "Unauthenticated.", None)
    missing = api(workspace, "GET", "projects")
    assert missing.status_code == 422 and "workspace_id" in missing.json()["errors"]
    other = api(workspace, "GET", "projects", params={"workspace_id": 5150})
    assert other.status_code == 403 and other.json()["message"] == "You do not have access to this workspace."
    assert api(workspace, "GET", "projects/50", params={"workspace_id": WS}).status_code == 404  # 5150's project
    viewer = WebWorkSandbox.VIEWER_TOKEN
    refused = api(workspace, "GET", "projects", token=viewer, params={"workspace_id": WS})
    assert refused.status_code == 403 and "owners and executive managers" in refused.json()["message"]
    (mine,) = ok(api(workspace, "GET", "workspaces", token=viewer))
    assert (mine["id"], mine["role"]) == (WS, "Project viewer")
    assert {w["id"] for w in ok(api(workspace, "GET", "workspaces"))} == {WS}


def test_workspace_id_where_the_api_reads_it(workspace: WebWorkSandbox) -> None:
    in_query = api(workspace, "POST", "tasks", params={"workspace_id": WS}, json={"project_id": 1, "title": "x"})
    assert in_query.status_code == 422 and "workspace_id" in in_query.json()["errors"]
    created = ok(api(workspace, "POST", "tasks", json={"workspace_id": WS, "project_id": 1, "title": "x"}))
    assert created["status"] == 0 and created["project_id"] == 1
    in_body = api(workspace, "POST", "projects", json={"workspace_id": WS, "name": "P"})
    assert in_body.status_code == 422  # projects take it in the query
    assert ok(api(workspace, "POST", "projects", params={"workspace_id": WS}, json={"name": "P"}))["name"] == "P"


def test_projects_budget_dates_and_archive_on_delete(workspace: WebWorkSandbox) -> None:
    created = api(workspace, "POST", "projects", params={"workspace_id": WS},
                  json={"name": "Q1", "start_date": "2025-01-15", "deadline": "2025-03-31", "budget": 5000})
    assert created.status_code == 201 and created.json()["message"] == "Project created successfully"
    project = created.json()["data"]
    assert project["budget_estimation"] == 5000 and "budget" not in project and project["status"] == 1
    late = api(workspace, "PUT", f"projects/{project['id']}", params={"workspace_id": WS},
               json={"deadline": "2025-01-01"})
    assert late.status_code == 422
    assert late.json()["errors"] == {"deadline": ["The deadline must be a date after or equal to start date."]}
    assert ok(api(workspace, "DELETE", f"projects/{project['id']}", params={"workspace_id": WS})) is None
    assert api(workspace, "GET", f"projects/{project['id']}", params={"workspace_id": WS}).status_code == 404
    assert project["id"] not in [p["id"] for p in ok(api(workspace, "GET", "projects", params={"workspace_id": WS}))]
    assert workspace.webwork.t["projects"][project["id"]]["deleted_at"]  # archived, not erased


def test_task_status_and_priority_codes(workspace: WebWorkSandbox) -> None:
    custom = api(workspace, "POST", "tasks", json={"workspace_id": WS, "project_id": 1, "title": "x", "status": 11})
    assert custom.status_code == 422  # only base codes on create
    bad_priority = api(workspace, "POST", "tasks", json={"workspace_id": WS, "project_id": 1, "title": "x",
                                                       "priority": 50})
    assert bad_priority.status_code == 422 and "priority" in bad_priority.json()["errors"]
    task = ok(api(workspace, "POST", "tasks", json={"workspace_id": WS, "project_id": 1, "title": "x", "status": 10,
                                                  "priority": 10}))
    updated = ok(api(workspace, "PUT", f"tasks/{task['id']}", params={"workspace_id": WS}, json={"status": 11}))
    assert updated["status"] == 11  # the workspace's custom "In review"
    assert api(workspace, "PUT", f"tasks/{task['id']}", params={"workspace_id": WS}, json={"status": 12}).status_code == 422
    workspace.webwork.config["status_format"] = "legacy"
    assert ok(api(workspace, "GET", "tasks/1", params={"workspace_id": WS}))["status"] == "Done"
    assert ok(api(workspace, "GET", "tasks/6", params={"workspace_id": WS}))["status"] == "Completed"
    workspace.webwork.config["status_format"] = "label"
    assert ok(api(workspace, "GET", "tasks/6", params={"workspace_id": WS}))["status"] == "Closed"


def test_time_entries_only_per_member_and_date(workspace: WebWorkSandbox) -> None:
    without = api(workspace, "GET", "time-entries", params={"workspace_id": WS, "user_id": 2})
    assert without.status_code == 422 and without.json()["errors"] == {"date": ["The date field is required."]}
    entry = next(e for e in workspace.webwork.t["time_entries"].values() if e["user_id"] == 2)
    query = {"workspace_id": WS, "user_id": 2, "date": entry["date"]}
    once, again = ok(api(workspace, "GET", "time-entries", params=query)), ok(api(workspace, "GET", "time-entries", params=query))
    assert [e["start_time"] for e in once] == [e["start_time"] for e in again] and once
    assert once[0]["id"] != again[0]["id"]  # "encrypted UUIDs": a fresh text every time
    gone = api(workspace, "DELETE", f"time-entries/{once[0]['id']}", json={"workspace_id": WS})
    assert gone.status_code == 200 and len(ok(api(workspace, "GET", "time-entries", params=query))) == len(once) - 1


def test_tracked_hours_report_groups_minutes_by_day_and_member(workspace: WebWorkSandbox) -> None:
    entries = [e for e in workspace.webwork.t["time_entries"].values() if e["user_id"] == 4 and e["end_time"]]
    on = entries[0]["date"]
    report = ok(api(workspace, "GET", "reports/tracked-hours", params={"workspace_id": WS, "start_date": on,
                                                                     "end_date": on}))
    (user,) = [u for u in report["days"][on]["users"] if u["user_id"] == 4]
    assert user["total_minutes"] == sum(workspace.webwork._minutes(e, WS) for e in entries if e["date"] == on)
    start = date.fromisoformat(on)
    too_long = api(workspace, "GET", "reports/tracked-hours", params={
        "workspace_id": WS, "user_id": 4, "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=31)).isoformat()})
    assert too_long.status_code == 422


def test_sixty_a_minute_then_429_with_retry_after(workspace: WebWorkSandbox) -> None:
    workspace.set_limit(5, 60)
    answers = [api(workspace, "GET", "members", params={"workspace_id": WS}) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["4", "3", "2", "1", "0", "0"]
    refused = answers[-1]
    assert refused.json()["message"] == "Too Many Attempts." and 1 <= int(refused.headers["Retry-After"]) <= 60
    assert int(refused.headers["X-RateLimit-Reset"]) > 1_700_000_000
    other = api(workspace, "GET", "workspaces", token=WebWorkSandbox.VIEWER_TOKEN)
    assert other.status_code == 200  # per user
    workspace.set_limit(*RAISED)
    assert "rate_limit" in workspace.systems()["webwork"] and workspace.systems()["webwork"]["request_limit"] == "6000/60s"


def test_faults_are_injected_by_operation(workspace: WebWorkSandbox) -> None:
    workspace.inject(Fault("error", match="POST /projects", status=500, body='{"success":false,"message":"x"}',
                         content_type="application/json"))
    failed = api(workspace, "POST", "projects", params={"workspace_id": WS}, json={"name": "P"})
    assert failed.status_code == 500
    assert ok(api(workspace, "POST", "projects", params={"workspace_id": WS}, json={"name": "P"}))["name"] == "P"
    assert workspace.calls["POST /projects"] == 2 and workspace.calls["GET /projects/{id}"] == 0


def test_empty_sandbox_is_the_configured_workspace_and_the_sample_is_three_weeks_of_work() -> None:
    empty = WebWorkSandbox().dump()
    assert {u["email"] for u in empty["users"]} >= {"api@example.net", "jane@example.net"}
    assert not empty["projects"] and not empty["time_entries"]
    moment = datetime(2026, 3, 4, 15, 0, tzinfo=timezone.utc)
    sample = WebWorkSandbox(seed=5, now=lambda: moment)
    data = sample.dump()
    assert data == WebWorkSandbox(seed=5, now=lambda: moment).dump()  # deterministic for a seed and a day
    days = {e["date"] for e in data["time_entries"]}
    today = sample.webwork.today(WS)
    assert min(days) >= (today - timedelta(days=21)).isoformat() and today.isoformat() in days
    assert any(e["end_time"] is None for e in data["time_entries"])  # a tracker still running
    assert {t["status"] for t in data["tasks"]} >= {0, 1, 10, 11, 20, 21, 30}
    assert any(p["deleted_at"] for p in data["projects"])


def test_an_echo_fault_echoes_the_bearer_token_in_the_envelope(workspace: WebWorkSandbox) -> None:
    workspace.inject(Fault("echo", match="POST /projects", status=422, content_type="application/json",
                           body='{"success": false, "message": "{request}", "data": null}'))
    answer = api(workspace, "POST", "projects", params={"workspace_id": WS}, json={"name": "Echoed"})
    assert answer.status_code == 422 and answer.json()["success"] is False
    assert f"Authorization: Bearer {WebWorkSandbox.TOKEN}" in answer.json()["message"]
    assert not any(p["name"] == "Echoed" for p in workspace.webwork.t["projects"].values())  # not applied
