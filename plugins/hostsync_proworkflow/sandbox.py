"""A ProWorkflow classic API emulator on loopback: HTTP, both authentication schemes, the rate limit
and the error shapes around :mod:`.account`'s calls.

What the HTTP side does (FACTS.md §4, the vendor doc's introduction):

* every call needs the account's API key (``apikey`` header, or an ``apikey`` query/body parameter)
  **and** HTTP Basic with a login contact's user name or e-mail and password. A missing or refused
  Basic login answers **401 with an empty body**; a good login with a missing or unknown key answers
  403 ``{"status": "Error", "details": ["Invalid API Key"]}`` (how the real API words the key refusal is
  not published: [U], kept in :data:`KEY_REFUSED`). ``GET /login`` needs Basic only and returns the key;
* an unknown path is an HTML 404 page; an unknown record a 404 ``{"status": "Error", "details": [...]}``;
* the rate limit: ``rate_limit`` requests per ``window`` seconds per API key (500 per 30 s, set
  through ``load({"config": {"rate_limit": N, "window": S}})`` to scale it down), counted in fixed
  windows from the first request; every answer carries ``x-ratelimit-limit``, ``-remaining`` and
  ``-reset`` (whole seconds until the window ends); past the limit the answer is 429.

Test helper: :meth:`ProWorkflowSandbox.edit` changes a record the way a user of the web app would.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from typing import Any, ClassVar, Mapping

from hostsync.sandbox import Request, Response, Sandbox

from .account import Account, ApiError
from .sample import account_setup, sample_data

KEY_REFUSED = ["Invalid API Key"]
NOT_FOUND_PAGE = ("<!DOCTYPE html><html><head><title>404 - File or directory not found.</title></head>"
                  "<body><h2>404 - File or directory not found.</h2><p>The resource you are looking for might "
                  "have been removed, had its name changed, or is temporarily unavailable.</p></body></html>")
_ID = re.compile(r"^\d+$")
SUBTYPES = ("client", "contractor", "staff", "other")


class ProWorkflowSandbox(Sandbox):
    """Stateful ProWorkflow account: companies, contacts, projects, tasks, time records and invoices."""

    name = "proworkflow"
    plugins = ("proworkflow",)
    description = "ProWorkflow classic API emulator (companies, contacts, projects, tasks, time, invoices)"
    APIKEY: ClassVar[str] = "PWF-sbx-7c1e-44a2-9b0d-31f5"
    USERNAME: ClassVar[str] = "hostsync"
    PASSWORD: ClassVar[str] = "pwf-sandbox-pw-5e81"
    #: an ``echo`` fault echoes both credentials: HTTP Basic and the API key
    echoed_headers = ("Authorization", "apikey")

    def __init__(self, seed: int | None = None) -> None:
        self.account = Account()
        self._windows: dict[str, tuple[float, int]] = {}
        super().__init__(seed)

    # -- Sandbox --------------------------------------------------------------------------------

    def reset(self) -> None:
        """A set-up account (the agency's staff, the API user, the hostsync API fields), no customers."""
        self.load(account_setup())

    def sample(self, seed: int) -> dict[str, Any]:
        return sample_data(seed)

    def load(self, data: Mapping[str, Any]) -> None:
        with self.lock:
            self.account.load(data)
            config = self.account.config
            self.apikeys = list(config.get("apikeys") or [self.APIKEY])
            self.rate_limit = int(config.get("rate_limit") or 500)
            self.window = float(config.get("window") or 30)
            self._windows = {}

    def dump(self) -> dict[str, Any]:
        with self.lock:
            data = self.account.dump()
            data["config"].update(apikeys=list(self.apikeys), rate_limit=self.rate_limit, window=self.window)
            return data

    def systems(self) -> dict[str, dict[str, Any]]:
        return {"proworkflow": {"plugin": "proworkflow", "url": self.url, "apikey": self.apikeys[0],
                                "username": self.USERNAME, "password": self.PASSWORD,
                                "timezone": self.account.config["timezone"]}}

    def operation(self, request: Request) -> str:
        parts = [("{id}" if _ID.match(p) else p) for p in request.path.strip("/").split("/") if p]
        return f"{request.method} /{'/'.join(parts)}"

    # -- test helpers ---------------------------------------------------------------------------

    def edit(self, table: str, ident: int, **changes: Any) -> None:
        """Change a record as a user of the web app would (its modification time moves on)."""
        with self.lock:
            row = self.account.t[table][int(ident)]
            row.update(changes)
            self.account._touch(row)

    # -- HTTP -----------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        params = {k: v[-1] for k, v in request.query.items() if k != "apikey"}
        body: Any = None
        if request.body:
            try:
                body = json.loads(request.body)
            except ValueError:
                return _error(400, ["The request body is not valid JSON"])
        key = request.headers.get("apikey") or (request.query.get("apikey") or [""])[-1] or \
            (body.get("apikey") if isinstance(body, dict) else "") or ""
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k != "apikey"}
        limit = self._count(str(key)) if key else None
        if limit is not None and limit[0] < 0:
            return self._with_limit(_error(429, "API rate limit exceeded, please wait before trying again"), limit)
        response = self._answer(request, params, body, str(key))
        return self._with_limit(response, limit) if limit is not None else response

    def _answer(self, request: Request, params: dict[str, str], body: Any, key: str) -> Response:
        user = self._basic(request)
        if user is None:
            return Response(401, b"", {})
        parts = [p for p in request.path.strip("/").split("/") if p]
        if parts == ["login"] and request.method == "GET":
            return Response.json(self.account.get_login(user, self.apikeys[0]))
        if key not in self.apikeys:
            return _error(403, KEY_REFUSED)
        route = self._route(request.method, parts, params, body, user)
        if route is None:
            return Response.text(NOT_FOUND_PAGE, 404)
        try:
            answer = route()
        except ApiError as exc:
            return _error(exc.status, exc.details)
        status = 201 if request.method == "POST" else 200
        return Response.json(answer, status)

    def _route(self, verb: str, parts: list[str], params: dict[str, str], body: Any,
               user: Mapping[str, Any]) -> Any:
        """The account call for a path, or None for a path ProWorkflow does not have."""
        a = self.account
        n = len(parts)
        if not parts:
            return None
        head = parts[0]
        ident = parts[1] if n > 1 and _ID.match(parts[1]) else None
        sub = parts[2] if n > 2 else None
        routes: dict[tuple[str, ...], Any] = {}
        if parts == ["me"]:
            routes = {("GET",): lambda: a.get_me(user)}
        elif parts == ["settings", "apifields"]:
            routes = {("GET",): lambda: a.get_apifields(params)}
        elif head in ("companies", "contacts") and n == 2 and parts[1] in SUBTYPES:
            lister = a.get_companies if head == "companies" else a.get_contacts
            routes = {("GET",): lambda: lister({**params, "type": parts[1]})}
        elif head == "companies":
            routes = _rest(n, ident, sub, list_=lambda: a.get_companies(params), add=lambda: a.post_companies(body),
                           one=lambda: a.get_company(ident), put=lambda: a.put_company(ident, body),
                           drop=lambda: a.delete_company(ident, params), subs={
                               ("GET", "contacts"): lambda: a.get_contacts(params, company=ident),
                               ("POST", "contacts"): lambda: a.post_contacts(body, company=ident),
                               ("GET", "projects"): lambda: a.get_projects(params, company=ident),
                               ("GET", "invoices"): lambda: a.get_invoices(params, company=ident)})
        elif head == "contacts":
            routes = _rest(n, ident, sub, list_=lambda: a.get_contacts(params), add=lambda: a.post_contacts(body),
                           one=lambda: a.get_contact(ident), put=lambda: a.put_contact(ident, body),
                           drop=lambda: a.delete_contact(ident))
        elif head == "projects":
            routes = _rest(n, ident, sub, list_=lambda: a.get_projects(params), add=lambda: a.post_projects(body, user),
                           one=lambda: a.get_project(ident), put=lambda: a.put_project(ident, body),
                           drop=lambda: a.delete_project(ident), subs={
                               ("PUT", "complete"): lambda: a.put_state("projects", ident, True),
                               ("PUT", "reactivate"): lambda: a.put_state("projects", ident, False),
                               ("GET", "tasks"): lambda: a.get_tasks(params, project=ident)})
        elif head == "tasks":
            routes = _rest(n, ident, sub, list_=lambda: a.get_tasks(params), add=lambda: a.post_tasks(body),
                           one=lambda: a.get_task(ident), put=lambda: a.put_task(ident, body),
                           drop=lambda: a.delete_task(ident), subs={
                               ("PUT", "complete"): lambda: a.put_state("tasks", ident, True),
                               ("PUT", "reactivate"): lambda: a.put_state("tasks", ident, False),
                               ("GET", "time"): lambda: a.get_time(params, task=ident)})
        elif head == "time":
            routes = _rest(n, ident, sub, list_=lambda: a.get_time(params), add=lambda: a.post_time(body, user),
                           one=lambda: a.get_timerecord(ident), put=lambda: a.put_timerecord(ident, body, user),
                           drop=lambda: a.delete_timerecord(ident))
        elif head == "invoices":
            routes = _rest(n, ident, sub, list_=lambda: a.get_invoices(params), add=lambda: a.post_invoices(body),
                           one=lambda: a.get_invoice(ident), put=lambda: a.put_invoice(ident, body),
                           drop=lambda: a.delete_invoice(ident),
                           subs={("GET", "lines"): lambda: a.get_invoice_lines(ident)})
        if not routes:
            return None
        for verbs, call in routes.items():
            if verb in verbs:
                return call
        return _not_allowed

    def _basic(self, request: Request) -> dict[str, Any] | None:
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return self.account.login(user, password)

    # -- rate limit -----------------------------------------------------------------------------

    def _count(self, key: str) -> tuple[int, float]:
        """Count a request for ``key``: (requests left in the window, -1 when over; seconds to its end)."""
        now = time.monotonic()
        start, used = self._windows.get(key, (now, 0))
        if now >= start + self.window:
            start, used = now, 0
        used += 1
        self._windows[key] = (start, used)
        left = self.rate_limit - used
        return (left if left >= 0 else -1), start + self.window - now

    def _with_limit(self, response: Response, limit: tuple[int, float]) -> Response:
        left, reset = limit
        response.headers.update({"x-ratelimit-limit": str(self.rate_limit), "x-ratelimit-remaining": str(max(left, 0)),
                                 "x-ratelimit-reset": str(max(1, math.ceil(reset)))})
        return response


def _rest(n: int, ident: str | None, sub: str | None, *, list_: Any, add: Any, one: Any, put: Any, drop: Any,
          subs: Mapping[tuple[str, str], Any] | None = None) -> dict[tuple[str, ...], Any]:
    """The routes of ``/{resource}``, ``/{resource}/{id}`` and ``/{resource}/{id}/{sub}``."""
    if n == 1:
        return {("GET",): list_, ("POST",): add}
    if ident is None or n > 3:
        return {}
    if n == 2:
        return {("GET",): one, ("PUT",): put, ("DELETE",): drop}
    found = {(verb,): call for (verb, name), call in (subs or {}).items() if name == sub}
    return found


def _not_allowed() -> Any:
    raise ApiError(405, ["The requested method is not allowed on this resource"])


def _error(status: int, details: Any) -> Response:
    return Response.json({"status": "Error", "details": details}, status)
