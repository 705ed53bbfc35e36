"""A WebWork Tracker REST API v2 emulator on loopback: the HTTP side around :mod:`.emulator`'s state.

What it does at the edge (FACTS.md §5; [U] where the vendor documents no detail and Laravel, which
the API is built on, decides): everything lives under ``/api/v2/``; ``Authorization: Bearer`` with
a token of a known user, else 401 ``Unauthenticated.``; 60 requests a minute per user (per IP
before authentication) in Laravel's fixed window, which opens at the first request: every answer
carries ``X-RateLimit-Limit``/``-Remaining``, a refused one is 429 with ``Retry-After`` and
``X-RateLimit-Reset`` [U]; ``workspace_id`` where the API reads it (the query for GET/PUT/DELETE
and for creating projects, the JSON body for creating tasks, time entries and contracts and for
deleting time entries), 422 without it, 403 for a workspace the caller is not an active member of
or is not its owner or executive manager in (``GET /workspaces`` answers anyone, with the
caller's role in each [U]); ``page``/``per_page`` (default 20, at most 100, else 422) with
``meta.pagination {current_page, per_page, total, last_page}`` [U key names]; every answer in the
``{success, message, data, meta}`` envelope, errors with ``success: false`` and, for 422, Laravel's
``errors`` map [U]. Fault injection comes from :class:`hostsync.sandbox.Sandbox`.

Flags (``load``'s ``config``): ``rate_limit`` (``{"count", "window"}``), ``status_format``
(``code``; ``label`` or ``legacy`` answer task statuses as the newer or older label spelling, and
priorities as their label),
``custom_statuses`` (code -> label, accepted on task updates), ``pagination_meta`` (false: lists
carry no pagination, as the API reference's project and task examples show).
"""

from __future__ import annotations

import json
import math
import re
import time
from datetime import datetime, timezone
from typing import Any, Callable, ClassVar, Mapping

from hostsync.sandbox import Request, Response, Sandbox

from .emulator import ApiError, WebWork, invalid
from .sample import OWNER_TOKEN, VIEWER_TOKEN, WORKSPACE, reset_data, sample_data

PREFIX = "/api/v2/"
API_ROLES = ("Owner", "Executive manager")
DEFAULT_LIMIT = (60, 60.0)

#: (method, path pattern, where workspace_id is read: "query", "body" or None, handler, list?)
ROUTES: tuple[tuple[str, str, str | None, str, bool], ...] = (
    ("GET", "workspaces", None, "workspaces", True),
    ("GET", "members", "query", "members", True),
    ("GET", "members/{id}", "query", "member", False),
    ("GET", "projects", "query", "projects", True),
    ("POST", "projects", "query", "create_project", False),
    ("GET", "projects/{id}", "query", "project", False),
    ("PUT", "projects/{id}", "query", "update_project", False),
    ("DELETE", "projects/{id}", "query", "delete_project", False),
    ("GET", "tasks", "query", "tasks", True),
    ("POST", "tasks", "body", "create_task", False),
    ("GET", "tasks/{id}", "query", "task", False),
    ("PUT", "tasks/{id}", "query", "update_task", False),
    ("DELETE", "tasks/{id}", "query", "delete_task", False),
    ("GET", "contracts", "query", "contracts", True),
    ("POST", "contracts", "body", "create_contract", False),
    ("GET", "time-entries", "query", "time_entries", True),
    ("POST", "time-entries", "body", "create_time_entry", False),
    ("DELETE", "time-entries/{id}", "body", "delete_time_entry", False),
    ("GET", "reports/tracked-hours", "query", "tracked_hours", False),
)
_PATTERNS = [(method, re.compile("^" + path.replace("{id}", "([^/]+)") + "$"), path, ws, handler, listed)
             for method, path, ws, handler, listed in ROUTES]
MESSAGES = {"create_project": "Project created successfully", "update_project": "Project updated successfully",
            "delete_project": "Project deleted successfully", "create_task": "Task created successfully",
            "update_task": "Task updated successfully", "delete_task": "Task deleted successfully",
            "create_contract": "Contract created successfully", "create_time_entry": "Time entry created successfully",
            "delete_time_entry": "Time entry deleted successfully"}


def rate_under(count: int, window: float) -> str:
    """A ``rate_limit`` whose token bucket never sends more than ``count - 1`` requests in any
    ``window`` seconds plus a sixtieth (the clocks' jitter). Under one a second, as WebWork's own 60 a
    minute, the bucket's burst is one: 58 per 60 of the window. Faster (a scaled-down or raised
    limit), the burst is a second's worth, which the window must hold too."""
    per_second = count / window
    if per_second <= 1:
        return f"{max(1, math.floor(count * 60 / window * 58 / 60))}/min"
    return f"{max(1, math.floor((count - 1) / (1 + window * 61 / 60)))}/s"


class WebWorkSandbox(Sandbox):
    """Stateful WebWork Tracker API emulator: workspaces, members, projects, tasks, contracts,
    time entries and the tracked-hours report, with the per-user rate limit."""

    name = "webwork"
    plugins = ("webwork",)
    description = "WebWork Tracker REST API v2 emulator (projects, tasks, time entries; 60 requests/min)"
    TOKEN: ClassVar[str] = OWNER_TOKEN
    VIEWER_TOKEN: ClassVar[str] = VIEWER_TOKEN
    WORKSPACE: ClassVar[int] = WORKSPACE

    def __init__(self, seed: int | None = None, now: Callable[[], datetime] | None = None) -> None:
        self.webwork = WebWork(now)
        self._hits: dict[str, list[float]] = {}
        super().__init__(seed)

    # -- Sandbox --------------------------------------------------------------------------------

    def reset(self) -> None:
        """The workspaces and their members as configured, no projects, tasks or time."""
        with self.lock:
            self.webwork.load(reset_data())

    def sample(self, seed: int) -> dict[str, Any]:
        return sample_data(seed, self.webwork.now())

    def load(self, data: Mapping[str, Any]) -> None:
        with self.lock:
            self.webwork.load(data)

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return self.webwork.dump()

    def systems(self) -> dict[str, dict[str, Any]]:
        workspace = self.webwork.t["workspaces"][self.WORKSPACE]
        system: dict[str, Any] = {"plugin": "webwork", "url": f"{self.url}/api/v2", "token": self.TOKEN,
                                  "workspace_id": self.WORKSPACE, "timezone": workspace.get("timezone") or "UTC"}
        count, window = self.limit
        if (count, window) != DEFAULT_LIMIT:  # tell hostsync the limit this sandbox enforces
            system["request_limit"] = f"{count}/{window:g}s"
            system["rate_limit"] = rate_under(count, window)
        return {"webwork": system}

    def operation(self, request: Request) -> str:
        route = self._route(request)
        return f"{request.method} /{route[1]}" if route else f"{request.method} {request.path}"

    # -- the rate limit -------------------------------------------------------------------------

    @property
    def limit(self) -> tuple[int, float]:
        value = self.webwork.config.get("rate_limit") or {}
        return int(value.get("count", DEFAULT_LIMIT[0])), float(value.get("window", DEFAULT_LIMIT[1]))

    def set_limit(self, count: int, window: float = 60.0) -> None:
        """Enforce ``count`` requests per ``window`` seconds per user (tests scale it; the demo raises it)."""
        with self.lock:
            self.webwork.config["rate_limit"] = {"count": int(count), "window": float(window)}
            self._hits.clear()

    def _throttle(self, key: str) -> tuple[bool, dict[str, str]]:
        """Count one request in ``key``'s window (Laravel's: it opens at the first request)."""
        count, window = self.limit
        now = time.monotonic()
        hit = self._hits.get(key)
        if hit is None or now >= hit[0] + window:
            hit = self._hits[key] = [now, 0]
        headers = {"X-RateLimit-Limit": str(count)}
        if hit[1] >= count:
            left = hit[0] + window - now
            headers.update({"X-RateLimit-Remaining": "0", "Retry-After": str(max(1, math.ceil(left))),
                            "X-RateLimit-Reset": str(math.ceil(time.time() + left))})
            return False, headers
        hit[1] += 1
        headers["X-RateLimit-Remaining"] = str(count - hit[1])
        return True, headers

    # -- helpers for tests and the demo ---------------------------------------------------------

    def user_id(self, email: str) -> int:
        return next(u["id"] for u in self.webwork.t["users"].values() if u["email"].lower() == email.lower())

    def track(self, member: str | int, project_id: int, on: str, start: str, end: str | None, *,
              task_id: int | None = None, notes: str | None = None) -> dict[str, Any]:
        """Time tracked in the desktop app by ``member`` (an e-mail or user id) in the sandbox workspace."""
        with self.lock:
            user = member if isinstance(member, int) else self.user_id(member)
            return self.webwork.track(self.WORKSPACE, user, project_id, on, start, end, task_id=task_id, notes=notes)

    # -- the API --------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        token = _bearer(request)
        user = self.webwork.user_by_token(token) if token else None
        allowed, limit_headers = self._throttle(f"user:{user['id']}" if user else f"ip:{request.client}")
        if not allowed:
            return self._error(ApiError(429, "Too Many Attempts."), limit_headers)
        if user is None:
            return self._error(ApiError(401, "Unauthenticated."), limit_headers)
        route = self._route(request)
        if route is None:
            return self._error(ApiError(404, "The route could not be found."), limit_headers)
        _, _, _, ws_source, handler, listed = route[0]
        ident = route[2]
        entry = self.log[-1] if self.log else {}
        entry["at"] = time.monotonic()  # when it arrived, for measuring rates
        try:
            query = {k: v[-1] for k, v in request.query.items()}
            body = self._body(request)
            entry["write"] = request.method != "GET"
            ws = self._workspace(user, query if ws_source == "query" else body) if ws_source else None
            data = self._call(handler, ws, user["id"], ident, query, body)
            if listed:
                data, pagination = self._page(data, query)
            else:
                pagination = None
        except ApiError as exc:
            return self._error(exc, limit_headers)
        meta = self._meta()
        if pagination is not None and self.webwork.config.get("pagination_meta", True):
            meta["pagination"] = pagination
        body_out: dict[str, Any] = {"success": True, "data": data, "meta": meta}
        if handler in MESSAGES:
            body_out["message"] = MESSAGES[handler]
        status = 201 if request.method == "POST" else 200
        return Response.json(body_out, status, limit_headers)

    def _route(self, request: Request) -> tuple[tuple[str, Any, str, str | None, str, bool], str, str | None] | None:
        if not request.path.startswith(PREFIX):
            return None
        rest = request.path[len(PREFIX):].strip("/")
        for spec in _PATTERNS:
            match = spec[1].match(rest)
            if spec[0] == request.method and match:
                return spec, spec[2], match.group(1) if match.groups() else None
        return None

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        if not request.body:
            return {}
        kind = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise ApiError(415, "Send JSON (Content-Type: application/json).")
        try:
            body = json.loads(request.body)
        except ValueError:
            raise ApiError(400, "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return body

    def _workspace(self, user: Mapping[str, Any], source: Mapping[str, Any]) -> int:
        value = source.get("workspace_id")
        if value in (None, ""):
            raise invalid("workspace_id", "The workspace id field is required.")
        if not re.fullmatch(r"\d+", str(value)):
            raise invalid("workspace_id", "The workspace id must be an integer.")
        ws = int(value)
        member = self.webwork.membership(ws, user["id"])
        if ws not in self.webwork.t["workspaces"] or member is None or member.get("status", "active") != "active":
            raise ApiError(403, "You do not have access to this workspace.")
        if member["role"] not in API_ROLES:
            raise ApiError(403, "Access is restricted to workspace owners and executive managers.")
        return ws

    def _call(self, handler: str, ws: int | None, user_id: int, ident: str | None, query: dict[str, str],
              body: dict[str, Any]) -> Any:
        w = self.webwork
        if handler == "workspaces":
            return w.api_workspaces(user_id)
        assert ws is not None
        if handler in ("members", "projects", "tasks", "contracts", "time_entries", "tracked_hours"):
            return getattr(w, f"api_{handler}")(ws, query)
        if handler in ("member", "project", "task", "delete_project", "delete_task", "delete_time_entry"):
            return getattr(w, f"api_{handler}")(ws, ident)
        if handler in ("update_project", "update_task"):
            return getattr(w, f"api_{handler}")(ws, ident, body)
        if handler in ("create_project", "create_task"):
            return getattr(w, f"api_{handler}")(ws, user_id, body)
        return getattr(w, f"api_{handler}")(ws, body)  # create_contract, create_time_entry

    @staticmethod
    def _page(rows: list[Any], query: Mapping[str, str]) -> tuple[list[Any], dict[str, int]]:
        page, per_page = query.get("page", "1"), query.get("per_page", "20")
        if not re.fullmatch(r"\d+", page) or int(page) < 1:
            raise invalid("page", "The page must be at least 1.")
        if not re.fullmatch(r"\d+", per_page) or not 1 <= int(per_page) <= 100:
            raise invalid("per_page", "The per page must be between 1 and 100.")
        number, size = int(page), int(per_page)
        last = max(1, math.ceil(len(rows) / size))
        return rows[(number - 1) * size:number * size], {"current_page": number, "per_page": size,
                                                          "total": len(rows), "last_page": last}

    def _meta(self) -> dict[str, Any]:
        return {"api_version": "2.0.0", "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}

    def _error(self, exc: ApiError, headers: Mapping[str, str]) -> Response:
        body: dict[str, Any] = {"success": False, "message": exc.message, "data": None, "meta": self._meta()}
        if exc.errors:
            body["errors"] = exc.errors
        return Response.json(body, exc.status, headers)


def _bearer(request: Request) -> str | None:
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
