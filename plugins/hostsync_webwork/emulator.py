"""The sandbox's WebWork: workspaces, members, projects, tasks, contracts, time entries and the
tracked-hours report, with the API's validation. The HTTP side (auth, roles, envelope, paging, the
rate limit) is in :mod:`.sandbox`.

Each public ``api_*`` method answers one endpoint for a caller already known to be an owner or
executive manager of ``ws`` (a workspace id): it returns the ``data`` (and, for lists, all rows:
the sandbox pages them) or raises :class:`ApiError`. Behaviour kept on purpose (FACTS.md §5 and the
API reference): DELETE of a project archives it (soft delete; gone from lists and reads); tasks
take base status codes on create and the workspace's custom codes too on update; ``deadline`` and
``end_date`` must not be before the start; ``budget`` goes in, ``budget_estimation`` comes out; time
entries are listed for one member and one date only; their ids are "encrypted UUIDs" whose text
changes with every answer; the tracked-hours report groups minutes by date and member, at most 31
days when filtered by ``user_id``.
"""

from __future__ import annotations

import base64
import copy
import re
import secrets
import uuid
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

BASE_STATUSES = {0: ("Open", "Incomplete"), 10: ("In Progress", "Doing"), 20: ("Done", "Done"),
                 30: ("Closed", "Completed")}
PRIORITIES = {10: "Urgent", 20: "High", 30: "Normal", 40: "Low"}
ROLES = ("Owner", "Executive manager", "Team manager", "Project manager", "Project viewer", "Regular User")
TABLES = ("users", "workspaces", "members", "projects", "tasks", "contracts", "time_entries")
STAMP = "%Y-%m-%dT%H:%M:%SZ"


class ApiError(Exception):
    """An error answer: HTTP ``status`` with ``message`` and, for 422, Laravel's ``errors`` map."""

    def __init__(self, status: int, message: str, errors: Mapping[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = dict(errors or {})


def invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "The given data was invalid.", {field: [message]})


def _date(value: Any, field: str) -> str | None:
    if value in (None, ""):
        return None
    label = field.replace("_", " ")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)):
        raise invalid(field, f"The {label} does not match the format Y-m-d.")
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise invalid(field, f"The {label} is not a valid date.") from None


def _required_text(body: Mapping[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise invalid(field, f"The {field} field is required.")
    if len(value) > 255:
        raise invalid(field, f"The {field} may not be greater than 255 characters.")
    return value


def _number(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise invalid(field, f"The {field} must be a number of at least 0.")
    return value


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise invalid(field, f"The {field.replace('_', ' ')} must be an integer.")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise invalid(field, f"The {field.replace('_', ' ')} must be an integer.")


def _seconds(clock: str) -> str:
    """``HH:MM`` as ``HH:MM:SS``."""
    return clock if clock.count(":") == 2 else f"{clock}:00"


class WebWork:
    """The state of the emulated WebWork and its endpoints."""

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.reset()

    # -- state ----------------------------------------------------------------------------------

    def reset(self) -> None:
        self.config: dict[str, Any] = {"custom_statuses": {}, "status_format": "code"}
        self.t: dict[str, dict[Any, dict[str, Any]]] = {name: {} for name in TABLES}

    def load(self, data: Mapping[str, Any]) -> None:
        self.reset()
        self.config.update(copy.deepcopy(dict(data.get("config") or {})))
        for name in TABLES:
            for row in data.get(name) or []:
                key = row["uuid"] if name == "time_entries" else (
                    (row["workspace_id"], row["user_id"]) if name == "members" else int(row["id"]))
                self.t[name][key] = copy.deepcopy(dict(row))

    def dump(self) -> dict[str, Any]:
        out: dict[str, Any] = {"config": copy.deepcopy(self.config)}
        for name in TABLES:
            out[name] = [copy.deepcopy(row) for row in self.t[name].values()]
        return out

    def stamp(self) -> str:
        return self.now().strftime(STAMP)

    def _new_id(self, table: str) -> int:
        return max((int(k) for k in self.t[table]), default=0) + 1

    def user_by_token(self, token: str) -> dict[str, Any] | None:
        return next((u for u in self.t["users"].values() if token and secrets.compare_digest(
            str(u.get("token") or ""), token)), None)

    def membership(self, ws: int, user_id: int) -> dict[str, Any] | None:
        return self.t["members"].get((ws, user_id))

    def workspace(self, ws: int) -> dict[str, Any]:
        found = self.t["workspaces"].get(ws)
        if found is None:
            raise ApiError(404, "Workspace not found.")
        return found

    def today(self, ws: int) -> date:
        return self.now().astimezone(ZoneInfo(self.workspace(ws).get("timezone") or "UTC")).date()

    # -- workspaces and members -----------------------------------------------------------------

    def api_workspaces(self, user_id: int) -> list[dict[str, Any]]:
        out = []
        for ws in self.t["workspaces"].values():
            member = self.membership(ws["id"], user_id)
            if member and member.get("status", "active") == "active":
                out.append({"id": ws["id"], "name": ws["name"], "owner_id": ws["owner_id"], "role": member["role"],
                            "timezone": ws.get("timezone"), "created_at": ws.get("created_at")})
        return out

    def _member_row(self, member: Mapping[str, Any]) -> dict[str, Any]:
        user = self.t["users"][member["user_id"]]
        return {"id": user["id"], "email": user["email"], "firstname": user["firstname"],
                "lastname": user["lastname"], "role": member["role"], "status": member.get("status", "active"),
                "timezone": user.get("timezone"), "created_at": member.get("created_at")}

    def api_members(self, ws: int, q: Mapping[str, str]) -> list[dict[str, Any]]:
        rows = [self._member_row(m) for (w, _), m in sorted(self.t["members"].items()) if w == ws]
        for key in ("email", "status", "role"):
            if q.get(key):
                rows = [r for r in rows if str(r[key]).lower() == q[key].lower()]
        return rows

    def api_member(self, ws: int, user_id: str) -> dict[str, Any]:
        member = self.membership(ws, int(user_id)) if user_id.isdigit() else None
        if member is None:
            raise ApiError(404, "Member not found.")
        return self._member_row(member)

    # -- projects -------------------------------------------------------------------------------

    def _project(self, ws: int, project_id: Any) -> dict[str, Any]:
        row = self.t["projects"].get(int(project_id)) if str(project_id).isdigit() else None
        if row is None or row["workspace_id"] != ws or row.get("deleted_at"):
            raise ApiError(404, "Project not found.")
        return row

    def _project_out(self, row: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in row.items() if k not in ("workspace_id", "budget")}
        out["budget_estimation"] = row.get("budget")
        out["contracts_count"] = sum(1 for c in self.t["contracts"].values() if c["project_id"] == row["id"])
        return out

    def api_projects(self, ws: int, q: Mapping[str, str]) -> list[dict[str, Any]]:
        rows = [r for r in self.t["projects"].values() if r["workspace_id"] == ws and not r.get("deleted_at")]
        if q.get("name"):
            rows = [r for r in rows if q["name"].lower() in r["name"].lower()]
        return [self._project_out(r) for r in sorted(rows, key=lambda r: r["id"])]

    def api_project(self, ws: int, project_id: str) -> dict[str, Any]:
        return self._project_out(self._project(ws, project_id))

    def _project_fields(self, body: Mapping[str, Any], row: Mapping[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "name" in body or row is None:
            out["name"] = _required_text(body, "name")
        for key in ("start_date", "deadline"):
            if key in body:
                out[key] = _date(body[key], key)
        for key, column in (("estimation", "estimation"), ("budget", "budget")):
            if key in body:
                out[column] = _number(body[key], key)
        for key in ("notes", "icon"):
            if key in body:
                value = body[key]
                if value is not None and not isinstance(value, str):
                    raise invalid(key, f"The {key} must be a string.")
                if key == "icon" and value and len(value) > 255:
                    raise invalid(key, "The icon may not be greater than 255 characters.")
                out[key] = value
        start = out.get("start_date", (row or {}).get("start_date"))
        deadline = out.get("deadline", (row or {}).get("deadline"))
        if start and deadline and deadline < start:
            raise invalid("deadline", "The deadline must be a date after or equal to start date.")
        return out

    def api_create_project(self, ws: int, user_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        fields = self._project_fields(body, None)
        stamp = self.stamp()
        row = {"id": self._new_id("projects"), "workspace_id": ws, "name": fields["name"], "owner_id": user_id,
               "start_date": None, "deadline": None, "estimation": None, "budget": None, "notes": None,
               "icon": None, "is_billable": True, "rate": 0, "weekly_hours_limit": 168, "screenshots": "blur",
               "tags": [], "status": 1, "created_at": stamp, "updated_at": stamp, "deleted_at": None}
        row.update(fields)
        self.t["projects"][row["id"]] = row
        return self._project_out(row)

    def api_update_project(self, ws: int, project_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        row = self._project(ws, project_id)
        row.update(self._project_fields(body, row))
        row["updated_at"] = self.stamp()
        return self._project_out(row)

    def api_delete_project(self, ws: int, project_id: str) -> None:
        row = self._project(ws, project_id)
        row["deleted_at"] = row["updated_at"] = self.stamp()

    # -- tasks ----------------------------------------------------------------------------------

    def _task(self, ws: int, task_id: Any) -> dict[str, Any]:
        row = self.t["tasks"].get(int(task_id)) if str(task_id).isdigit() else None
        if row is None or row["workspace_id"] != ws or row.get("deleted_at"):
            raise ApiError(404, "Task not found.")
        self._project(ws, row["project_id"])  # a task of an archived project is gone with it
        return row

    def status_label(self, code: int) -> str:
        custom = self.config.get("custom_statuses") or {}
        if str(code) in custom:
            return str(custom[str(code)])
        new, legacy = BASE_STATUSES.get(code, (str(code), str(code)))
        return legacy if self.config.get("status_format") == "legacy" else new

    def _task_out(self, row: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in row.items() if k != "workspace_id"}
        if self.config.get("status_format") in ("label", "legacy"):
            out["status"] = self.status_label(row["status"])
            if row.get("priority") is not None:
                out["priority"] = PRIORITIES.get(row["priority"], str(row["priority"]))
        return out

    def api_tasks(self, ws: int, q: Mapping[str, str]) -> list[dict[str, Any]]:
        if q.get("contract_id"):
            contract = self.t["contracts"].get(_int(q["contract_id"], "contract_id"))
            if contract is None or contract["workspace_id"] != ws:
                raise invalid("contract_id", "The selected contract id is invalid.")
            project = contract["project_id"]
        elif q.get("project_id"):
            project = _int(q["project_id"], "project_id")
        else:
            raise invalid("project_id", "The project id field is required when contract id is not present.")
        self._project(ws, project)
        rows = [r for r in self.t["tasks"].values() if r["project_id"] == project and not r.get("deleted_at")]
        for key in ("status", "priority"):
            if q.get(key):
                rows = [r for r in rows if r[key] == _int(q[key], key)]
        return [self._task_out(r) for r in sorted(rows, key=lambda r: r["id"])]

    def api_task(self, ws: int, task_id: str) -> dict[str, Any]:
        return self._task_out(self._task(ws, task_id))

    def _task_fields(self, ws: int, body: Mapping[str, Any], row: Mapping[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "project_id" in body or row is None:
            if body.get("project_id") in (None, ""):
                raise invalid("project_id", "The project id field is required.")
            try:
                out["project_id"] = self._project(ws, _int(body["project_id"], "project_id"))["id"]
            except ApiError as exc:
                if exc.status == 404:
                    raise invalid("project_id", "The selected project id is invalid.") from None
                raise
        if "title" in body or row is None:
            out["title"] = _required_text(body, "title")
        if "description" in body:
            if body["description"] is not None and not isinstance(body["description"], str):
                raise invalid("description", "The description must be a string.")
            out["description"] = body["description"]
        if "status" in body:
            status = _int(body["status"], "status")
            allowed = set(BASE_STATUSES) if row is None else \
                set(BASE_STATUSES) | {int(k) for k in self.config.get("custom_statuses") or {}}
            if status not in allowed:
                raise invalid("status", "The selected status is invalid." if row is not None else
                              "Only base status codes (0, 10, 20, 30) are accepted when creating a task.")
            out["status"] = status
        if "priority" in body:
            priority = body["priority"]
            if priority is not None and _int(priority, "priority") not in PRIORITIES:
                raise invalid("priority", "The selected priority is invalid.")
            out["priority"] = None if priority is None else int(priority)
        for key in ("start_date", "end_date"):
            if key in body:
                out[key] = _date(body[key], key)
        start = out.get("start_date", (row or {}).get("start_date"))
        end = out.get("end_date", (row or {}).get("end_date"))
        if start and end and end < start:
            raise invalid("end_date", "The end date must be a date after or equal to start date.")
        if "assignees" in body:
            assignees = body["assignees"] or []
            if not isinstance(assignees, list) or any(self.membership(ws, _int(a, "assignees")) is None
                                                      for a in assignees):
                raise invalid("assignees", "The selected assignees are invalid.")
            out["assignees"] = [int(a) for a in assignees]
        return out

    def api_create_task(self, ws: int, user_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        fields = self._task_fields(ws, body, None)
        stamp = self.stamp()
        row = {"id": self._new_id("tasks"), "workspace_id": ws, "title": "", "description": None, "project_id": None,
               "owner_id": self.workspace(ws)["owner_id"], "creator_id": user_id, "status": 0, "priority": None,
               "start_date": None, "end_date": None, "completed_at": None, "assignees": [], "has_details": False,
               "created_at": stamp, "updated_at": stamp, "deleted_at": None}
        row.update(fields)
        self._completed(row, stamp)
        self.t["tasks"][row["id"]] = row
        return self._task_out(row)

    def api_update_task(self, ws: int, task_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        row = self._task(ws, task_id)
        row.update(self._task_fields(ws, body, row))
        row["updated_at"] = self.stamp()
        self._completed(row, row["updated_at"])
        return self._task_out(row)

    @staticmethod
    def _completed(row: dict[str, Any], stamp: str) -> None:
        done = row["status"] >= 20
        row["completed_at"] = (row.get("completed_at") or stamp) if done else None
        row["has_details"] = bool(row.get("description"))

    def api_delete_task(self, ws: int, task_id: str) -> None:
        row = self._task(ws, task_id)
        row["deleted_at"] = row["updated_at"] = self.stamp()

    # -- contracts ------------------------------------------------------------------------------

    def api_contracts(self, ws: int, q: Mapping[str, str]) -> list[dict[str, Any]]:
        rows = [c for c in self.t["contracts"].values() if c["workspace_id"] == ws]
        for key in ("project_id", "user_id"):
            if q.get(key):
                rows = [c for c in rows if c[key] == _int(q[key], key)]
        return [{k: v for k, v in c.items() if k != "workspace_id"} for c in sorted(rows, key=lambda c: c["id"])]

    def api_create_contract(self, ws: int, body: Mapping[str, Any]) -> dict[str, Any]:
        project = self._project(ws, _int(body.get("project_id"), "project_id"))
        user = _int(body.get("user_id"), "user_id")
        if self.membership(ws, user) is None:
            raise invalid("user_id", "The selected user id is invalid.")
        for c in self.t["contracts"].values():
            if c["project_id"] == project["id"] and c["user_id"] == user:
                raise invalid("user_id", "The member already has a contract on this project.")
        row = {"id": self._new_id("contracts"), "workspace_id": ws, "project_id": project["id"], "user_id": user,
               "rate": 0, "weekly_hours_limit": 168, "screenshots": "blur", "created_at": self.stamp()}
        self.t["contracts"][row["id"]] = row
        return {k: v for k, v in row.items() if k != "workspace_id"}

    # -- time entries ---------------------------------------------------------------------------

    @staticmethod
    def encrypt(entry_uuid: str) -> str:
        """The entry id as the API shows it: encrypted with a fresh nonce each time."""
        return base64.urlsafe_b64encode(f"{secrets.token_hex(6)}:{entry_uuid}".encode()).decode().rstrip("=")

    def decrypt(self, value: str) -> str | None:
        try:
            plain = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        _, _, entry_uuid = plain.partition(":")
        return entry_uuid if entry_uuid in self.t["time_entries"] else None

    def _minutes(self, entry: Mapping[str, Any], ws: int) -> int:
        start = datetime.combine(date.fromisoformat(entry["date"]), time.fromisoformat(entry["start_time"]))
        if entry.get("end_time"):
            end = datetime.combine(date.fromisoformat(entry["date"]), time.fromisoformat(entry["end_time"]))
        else:  # still running: so far
            zone = ZoneInfo(self.workspace(ws).get("timezone") or "UTC")
            end = self.now().astimezone(zone).replace(tzinfo=None)
        if end < start:
            end += timedelta(days=1)
        return max(0, int((end - start).total_seconds() // 60))

    def _entry_out(self, entry: Mapping[str, Any], ws: int) -> dict[str, Any]:
        out = {k: v for k, v in entry.items() if k not in ("uuid", "workspace_id")}
        out["id"] = self.encrypt(entry["uuid"])
        out["duration"] = self._minutes(entry, ws)
        return out

    def api_time_entries(self, ws: int, q: Mapping[str, str]) -> list[dict[str, Any]]:
        if not q.get("user_id"):
            raise invalid("user_id", "The user id field is required.")
        if not q.get("date"):
            raise invalid("date", "The date field is required.")
        user, on = _int(q["user_id"], "user_id"), _date(q["date"], "date")
        rows = [e for e in self.t["time_entries"].values()
                if e["workspace_id"] == ws and e["user_id"] == user and e["date"] == on]
        for key in ("project_id", "task_id"):
            if q.get(key):
                rows = [e for e in rows if e.get(key) == _int(q[key], key)]
        return [self._entry_out(e, ws) for e in sorted(rows, key=lambda e: e["start_time"])]

    def api_create_time_entry(self, ws: int, body: Mapping[str, Any]) -> dict[str, Any]:
        """Manual time (the desktop tracker's entries arrive through :meth:`track`)."""
        contract = self.t["contracts"].get(_int(body.get("contract_id"), "contract_id"))
        if contract is None or contract["workspace_id"] != ws:
            raise invalid("contract_id", "The selected contract id is invalid.")
        user = _int(body.get("user_id"), "user_id")
        if contract["user_id"] != user:
            raise invalid("contract_id", "The contract does not belong to this member.")
        on = _date(body.get("date"), "date")
        if on is None:
            raise invalid("date", "The date field is required.")
        start, end = (self._clock(body.get(k), k) for k in ("start_time", "end_time"))
        if end <= start:
            raise invalid("end_time", "The end time must be a time after start time.")
        task = body.get("task_id")
        if task is not None:
            row = self._task(ws, _int(task, "task_id"))
            if row["project_id"] != contract["project_id"]:
                raise invalid("task_id", "The task does not belong to the contract's project.")
        entry = self.track(ws, user, contract["project_id"], on, start, end, task_id=None if task is None else int(task),
                           notes=body.get("notes"), method="manual", contract_id=contract["id"], stamp=self.stamp())
        return self._entry_out(entry, ws)

    @staticmethod
    def _clock(value: Any, field: str) -> str:
        if not isinstance(value, str) or not re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", value):
            raise invalid(field, f"The {field.replace('_', ' ')} does not match the format H:i.")
        return value if value.count(":") == 2 else f"{value}:00"

    def track(self, ws: int, user_id: int, project_id: int, on: str, start: str, end: str | None, *,
              task_id: int | None = None, notes: str | None = None, activity: str | None = None,
              method: str = "desktop", contract_id: int | None = None, stamp: str | None = None) -> dict[str, Any]:
        """Time as the desktop app records it (``end`` None: the tracker still runs): changed last
        when the tracker stopped (or started), unless ``stamp`` says when."""
        if contract_id is None:
            contract = next((c for c in self.t["contracts"].values()
                             if c["project_id"] == project_id and c["user_id"] == user_id), None)
            if contract is None:
                contract = self.api_create_contract(ws, {"project_id": project_id, "user_id": user_id})
            contract_id = contract["id"]
        start, end = _seconds(start), None if end is None else _seconds(end)
        if stamp is None:
            zone = ZoneInfo(self.workspace(ws).get("timezone") or "UTC")
            moment = datetime.combine(date.fromisoformat(on), time.fromisoformat(end or start), zone)
            if end is not None and end < start:
                moment += timedelta(days=1)
            stamp = moment.astimezone(timezone.utc).strftime(STAMP)
        entry = {"uuid": str(uuid.UUID(int=(len(self.t["time_entries"]) + 1) << 64 | secrets.randbits(64))),
                 "workspace_id": ws, "user_id": user_id, "project_id": project_id, "contract_id": contract_id,
                 "task_id": task_id, "date": on, "start_time": start, "end_time": end,
                 "notes": notes, "activity_description": activity, "tracking_method": method,
                 "created_at": stamp, "updated_at": stamp}
        self.t["time_entries"][entry["uuid"]] = entry
        return entry

    def api_delete_time_entry(self, ws: int, entry_id: str) -> None:
        entry_uuid = self.decrypt(entry_id)
        if entry_uuid is None or self.t["time_entries"][entry_uuid]["workspace_id"] != ws:
            raise ApiError(404, "Time entry not found.")
        del self.t["time_entries"][entry_uuid]

    # -- reports --------------------------------------------------------------------------------

    def api_tracked_hours(self, ws: int, q: Mapping[str, str]) -> dict[str, Any]:
        today = self.today(ws)
        monday = today - timedelta(days=today.weekday())
        start = _date(q.get("start_date"), "start_date") or monday.isoformat()
        end = _date(q.get("end_date"), "end_date") or (monday + timedelta(days=6)).isoformat()
        if end < start:
            raise invalid("end_date", "The end date must be a date after or equal to start date.")
        users: set[int] | None = None
        if q.get("user_id"):
            users = {_int(q["user_id"], "user_id")}
            if (date.fromisoformat(end) - date.fromisoformat(start)).days > 30:
                raise invalid("end_date", "The date range may not be longer than 31 days when user_id is given.")
        elif q.get("users"):
            users = {_int(u, "users") for u in re.split(r"[,\s]+", q["users"].strip("[]")) if u}
        days: dict[str, dict[str, Any]] = {}
        total = 0
        for entry in sorted(self.t["time_entries"].values(), key=lambda e: (e["date"], e["user_id"])):
            if entry["workspace_id"] != ws or not start <= entry["date"] <= end:
                continue
            if users is not None and entry["user_id"] not in users:
                continue
            minutes = self._minutes(entry, ws)
            day = days.setdefault(entry["date"], {"total_minutes": 0, "users": []})
            user = next((u for u in day["users"] if u["user_id"] == entry["user_id"]), None)
            if user is None:
                user = {"user_id": entry["user_id"], "total_minutes": 0, "projects": []}
                day["users"].append(user)
            project = next((p for p in user["projects"] if p["project_id"] == entry["project_id"]
                            and p["contract_id"] == entry["contract_id"]), None)
            if project is None:
                project = {"project_id": entry["project_id"], "contract_id": entry["contract_id"], "total_minutes": 0}
                user["projects"].append(project)
            for node in (day, user, project):
                node["total_minutes"] += minutes
            total += minutes
        return {"report_type": "tracked_hours", "start_date": start, "end_date": end,
                "total": {"total_minutes": total}, "days": days}
