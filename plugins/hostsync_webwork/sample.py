"""Data for the WebWork sandbox (the shape :meth:`WebWork.load` takes).

``reset_data``: two workspaces as configured, with their people and no work yet -- "Hosting Ops"
(4711), where the sandbox token belongs to the owner, with Jane (a regular user who tracks time)
and a project viewer, and another company's workspace the token cannot see.

``sample_data``: Hosting Ops at work -- eight more members (one archived since), projects (one
archived), tasks in every status including the workspace's custom codes, contracts, and three weeks
of time tracked on weekdays up to today, with one tracker still running. Deterministic for a seed
and a day: the time is always the three weeks before ``now``, so a sync's look-back finds it.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

OWNER_TOKEN = "wwk-sandbox-owner-3f9c1e"
VIEWER_TOKEN = "wwk-sandbox-viewer-77ab20"
OTHER_TOKEN = "wwk-sandbox-other-0c5d41"
WORKSPACE = 4711
OTHER_WORKSPACE = 5150
ZONE = "Europe/Berlin"
CREATED = "2024-09-02T08:00:00Z"
CUSTOM_STATUSES = {"1": "Blocked", "11": "In review", "21": "Approved"}

STAFF = [  # (first name, last name, e-mail, role)
    ("Olusegun", "Adeyemi", "olu@example.net", "Executive manager"),
    ("Priya", "Raman", "priya@example.net", "Team manager"),
    ("Tomás", "Ferreira", "tomas@example.net", "Regular User"),
    ("Wei", "Zhang", "wei@example.net", "Regular User"),
    ("Fatima", "El Idrissi", "fatima@example.net", "Regular User"),
    ("Lukas", "Bauer", "lukas@example.net", "Regular User"),
    ("Aylin", "Demir", "aylin@example.net", "Project manager"),
    ("Mateo", "García", "mateo@example.net", "Regular User"),
]
PROJECTS = [  # (name, started days ago, deadline in days, notes, budget, archived)
    ("Website relaunch — Atelier Dubois", 40, 30, "New theme, multilingual (fr/en).", 4800, False),
    ("Mail migration to the new cluster", 25, 10, "Dovecot + Postfix, 340 mailboxes.", 2500, False),
    ("Hosting support (retainer)", 400, None, None, None, False),
    ("SSL renewals", 60, 5, "Wildcards first; DV for the rest.", 300, False),
    ("Internal: monitoring & alerting", 15, 45, "Prometheus exporters on every node.", None, False),
    ("Legacy CMS clean-up", 300, -120, "Done and archived.", 900, True),
]
TASKS = [  # (project index, title, status, priority, due in days or None)
    (0, "Wireframes", 20, 30, -20), (0, "Theme implementation", 10, 20, 5), (0, "Content migration", 0, 30, 20),
    (0, "Translations review", 11, 40, 25), (0, "Go-live checklist", 0, 10, 30),
    (1, "Inventory of mailboxes", 30, 30, -15), (1, "Sync script dry run", 21, 20, -3),
    (1, "Cut-over weekend", 0, 10, 10), (1, "Customer notification", 1, 30, 2),
    (2, "Ticket triage", 10, 30, None), (2, "Monthly patching", 0, 20, None), (2, "Backup restore tests", 20, 40, None),
    (3, "*.example.org wildcard", 20, 10, -2), (3, "DV certificates batch", 10, 20, 5),
    (4, "Node exporter rollout", 10, 30, 10), (4, "Alert routing", 0, 30, 30), (4, "Dashboards", 0, 40, 45),
    (5, "Export old pages", 30, 30, -150), (5, "Decommission server", 30, 20, -120),
]
NOTES = ["Implementation", "Call with the client", "Review — round 2", "Fehlersuche im Checkout", "Deployment",
         "Documentation", None]


def _users() -> list[dict[str, Any]]:
    return [
        {"id": 1, "email": "api@example.net", "firstname": "Api", "lastname": "Admin", "token": OWNER_TOKEN,
         "timezone": ZONE},
        {"id": 2, "email": "jane@example.net", "firstname": "Jane", "lastname": "Doe", "token": None, "timezone": ZONE},
        {"id": 3, "email": "viewer@example.net", "firstname": "Victor", "lastname": "Viewer", "token": VIEWER_TOKEN,
         "timezone": ZONE},
        {"id": 20, "email": "owner@other-agency.example", "firstname": "Olga", "lastname": "Other",
         "token": OTHER_TOKEN, "timezone": "America/New_York"},
    ]


def reset_data() -> dict[str, Any]:
    """The configured workspaces and members, without projects, tasks or time."""
    member = lambda ws, user, role: {"workspace_id": ws, "user_id": user, "role": role, "status": "active",  # noqa: E731
                                     "created_at": CREATED}
    return {
        "config": {"custom_statuses": dict(CUSTOM_STATUSES), "status_format": "code",
                   "rate_limit": {"count": 60, "window": 60.0}, "pagination_meta": True},
        "users": _users(),
        "workspaces": [{"id": WORKSPACE, "name": "Hosting Ops", "owner_id": 1, "timezone": ZONE, "created_at": CREATED},
                       {"id": OTHER_WORKSPACE, "name": "Other Agency", "owner_id": 20, "timezone": "America/New_York",
                        "created_at": CREATED}],
        "members": [member(WORKSPACE, 1, "Owner"), member(WORKSPACE, 2, "Regular User"),
                    member(WORKSPACE, 3, "Project viewer"), member(OTHER_WORKSPACE, 20, "Owner")],
        "projects": [], "tasks": [], "contracts": [], "time_entries": [],
    }


def sample_data(seed: int, now: datetime | None = None) -> dict[str, Any]:
    rng = random.Random(seed)
    now = (now or datetime.now(timezone.utc)).astimezone(ZoneInfo(ZONE))
    today = now.date()
    data = reset_data()
    stamp = lambda moment: moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    for n, (first, last, email, role) in enumerate(STAFF, start=4):
        data["users"].append({"id": n, "email": email, "firstname": first, "lastname": last, "token": None,
                              "timezone": ZONE})
        data["members"].append({"workspace_id": WORKSPACE, "user_id": n, "role": role, "status": "active",
                                "created_at": CREATED})
    data["users"].append({"id": 12, "email": "kim@example.net", "firstname": "Kim", "lastname": "Larsen",
                          "token": None, "timezone": ZONE})
    data["members"].append({"workspace_id": WORKSPACE, "user_id": 12, "role": "Regular User", "status": "archived",
                            "created_at": CREATED})

    for n, (name, started, due, notes, budget, archived) in enumerate(PROJECTS, start=1):
        created = stamp(now - timedelta(days=started + 1))
        data["projects"].append({
            "id": n, "workspace_id": WORKSPACE, "name": name, "owner_id": 1,
            "start_date": (today - timedelta(days=started)).isoformat(),
            "deadline": None if due is None else (today + timedelta(days=due)).isoformat(),
            "estimation": None if budget is None else budget // 60, "budget": budget, "notes": notes, "icon": None,
            "is_billable": budget is not None, "rate": 0, "weekly_hours_limit": 168, "screenshots": "blur",
            "tags": [], "status": 1, "created_at": created, "updated_at": created,
            "deleted_at": stamp(now - timedelta(days=100)) if archived else None})
    data["projects"].append({"id": 50, "workspace_id": OTHER_WORKSPACE, "name": "Other Agency: rebrand", "owner_id": 20,
                             "start_date": None, "deadline": None, "estimation": None, "budget": None,
                             "notes": "Not yours.", "icon": None, "is_billable": False, "rate": 0,
                             "weekly_hours_limit": 168, "screenshots": "off", "tags": [], "status": 1,
                             "created_at": CREATED, "updated_at": CREATED, "deleted_at": None})

    staff = [1, 2, *range(4, 12)]
    for n, (project, title, status, priority, due) in enumerate(TASKS, start=1):
        owner = data["projects"][project]
        data["tasks"].append({
            "id": n, "workspace_id": WORKSPACE, "title": title, "description": None if n % 3 else f"{title}: see ticket.",
            "project_id": owner["id"], "owner_id": 1, "creator_id": 1, "status": status, "priority": priority,
            "start_date": owner["start_date"], "end_date": None if due is None else (today + timedelta(days=due)).isoformat(),
            "completed_at": owner["created_at"] if status >= 20 else None, "assignees": rng.sample(staff, 2),
            "has_details": n % 3 == 0, "created_at": owner["created_at"], "updated_at": owner["created_at"],
            "deleted_at": None})

    active = [p["id"] for p in data["projects"][:5]]
    contract_id = 0
    contracts: dict[int, list[int]] = {}
    for user in [2, *range(4, 12), 12]:
        for project in rng.sample(active, 2):
            contract_id += 1
            contracts.setdefault(user, []).append(contract_id)
            data["contracts"].append({"id": contract_id, "workspace_id": WORKSPACE, "project_id": project,
                                      "user_id": user, "rate": 0, "weekly_hours_limit": 168, "screenshots": "blur",
                                      "created_at": CREATED})
    by_id = {c["id"]: c for c in data["contracts"]}
    tasks_of: dict[int, list[int]] = {}
    for task in data["tasks"]:
        tasks_of.setdefault(task["project_id"], []).append(task["id"])

    entries = data["time_entries"]

    def entry(user: int, contract: int, on: Any, start: time, minutes: int | None, method: str = "desktop") -> None:
        project = by_id[contract]["project_id"]
        begin = datetime.combine(on, start, now.tzinfo)
        end = None if minutes is None else begin + timedelta(minutes=minutes)
        task = rng.choice(tasks_of[project]) if rng.random() < 0.8 else None
        entries.append({
            "uuid": f"00000000-0000-4000-8000-{len(entries) + 1:012d}", "workspace_id": WORKSPACE, "user_id": user,
            "project_id": project, "contract_id": contract, "task_id": task, "date": on.isoformat(),
            "start_time": start.strftime("%H:%M:%S"), "end_time": None if end is None else end.strftime("%H:%M:%S"),
            "notes": rng.choice(NOTES) if method == "manual" else None,
            "activity_description": rng.choice(NOTES), "tracking_method": method,
            "created_at": stamp(begin), "updated_at": stamp(end or begin)})

    for back in range(21, 0, -1):
        on = today - timedelta(days=back)
        if on.weekday() >= 5:
            continue
        for user in [2, *range(4, 12)]:
            if rng.random() < 0.2:
                continue  # a day off
            clock = datetime.combine(on, time(8, 30) if user % 2 else time(9, 0))
            for _ in range(rng.randint(1, 3)):
                minutes = rng.choice((25, 45, 60, 90, 120, 150))
                entry(user, rng.choice(contracts[user]), on, clock.time(), minutes, rng.choice(("desktop", "manual")))
                clock += timedelta(minutes=minutes + rng.choice((0, 15, 30)))
    entry(12, contracts[12][0], today - timedelta(days=12), time(10, 0), 95)  # Kim, archived since
    entry(5, contracts[5][0], today, time(8, 30), None)  # Priya's tracker is running
    return data
