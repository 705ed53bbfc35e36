"""The ProWorkflow classic API ("v3") wire protocol: authentication, envelopes, errors, paging, rate limit.

``https://api.proworkflow.net/{resource}[/{id}[/{verb}]]`` with JSON bodies (FACTS.md §4). Every
request carries **both** the account's API key (``apikey`` header) and HTTP Basic with the user's
name or e-mail and password. Answers:

* a list: ``{"count": N, "totalcount": M, "status": "Success", "<resource>": [...]}``; one record:
  ``{"count": 1, "status": "Success", "<singular>": {...}}``; a create: 201 ``{"details": [{"id": ..}],
  "message": .., "status": "Success"}``;
* errors: 401 with an empty body (the login), 403/400/404/5xx ``{"status": "Error", "details": ...}``
  (``details`` a list or a bare string, sometimes with HTML), an HTML 404 page for an unknown path,
  429 past the rate limit.

Lists are paged with ``pagenumber`` and ``pagesize``, always sent together (one alone is a 400).

The rate limit (500 requests per 30 s per API key) is announced on every reply in
``x-ratelimit-limit``/``-remaining``/``-reset``. When a good reply says the requests left in the
window are no more than those this client still has in flight, the client tells the core
(``on_pause``, the connector's ``pause``), which then holds every request to the account until the
window resets: every request passes the core's gate (``fetch``: a request of a listing is a call of
its own; any other is part of an operation the core called, whose further requests it paces). No
message carries the API key, the password (masked by the core's redactor, also where the vendor
echoes them) or an unreadable vendor body.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Iterator, Mapping

import httpx

from hostsync.errors import AuthError, NotFound, ProtocolError, RateLimited, Rejected, Transient
from hostsync.http import (build_client, check_status, describe_body, json_body, paged, retry_after, transport_errors,
                           vendor_text)

log = logging.getLogger("hostsync.proworkflow")

DEFAULT_URL = "https://api.proworkflow.net"
#: Rows per list page (the vendor returns at most 5,000 rows per call; it advises pages of 500-1,000).
PAGE_SIZE = 500
#: Safety stop for a server that never ends a list.
MAX_PAGES = 100_000


class ProWorkflowClient:
    """One ProWorkflow account as one API user. Thread-safe (one shared ``httpx.Client``)."""

    page_size = PAGE_SIZE

    def __init__(self, options: Mapping[str, Any], on_pause: Callable[[float], None] | None = None,
                 fetch: Callable[..., Any] | None = None) -> None:
        """:param options: the system's settings (``url``, ``apikey``, ``username``, ``password``; and the
            core's ``timeout``, ``verify_tls``, ``concurrency``, a test ``http_transport``).
        :param on_pause: told the seconds to hold every call when the rate limit is nearly spent.
        :param fetch: runs each request (the connector's ``fetch``: in a listing the core's gate
            admits it and retries it in place); default: a plain call."""
        base = str(options.get("url") or DEFAULT_URL).rstrip("/")
        self.http = build_client(options, base_url=base + "/",
                                 auth=httpx.BasicAuth(str(options["username"]), str(options["password"])),
                                 headers={"apikey": str(options["apikey"]), "Accept": "application/json"})
        self.on_pause = on_pause
        self.fetch = fetch or (lambda function, *args: function(*args))
        self._lock = threading.Lock()
        self._in_flight = 0

    def close(self) -> None:
        self.http.close()

    # -- calls ----------------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, what: str = "") -> dict[str, Any]:
        return self.call("GET", path, params=params, what=what)

    def post(self, path: str, body: Any, *, what: str = "") -> dict[str, Any]:
        return self.call("POST", path, body=body, what=what)

    def put(self, path: str, body: Any | None = None, *, what: str = "") -> dict[str, Any]:
        return self.call("PUT", path, body={} if body is None else body, what=what)

    def delete(self, path: str, *, what: str = "") -> dict[str, Any]:
        return self.call("DELETE", path, what=what)

    def call(self, verb: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None,
             what: str = "") -> dict[str, Any]:
        """Send one request; return the JSON answer (a ``status: Success`` object) or raise the
        taxonomy error.

        :param what: what the caller is doing, for messages (e.g. ``"update project 12"``).
        """
        call = f"ProWorkflow {verb} /{path}"
        what = f"{what}: {call}" if what else call
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        return self.fetch(self._send, verb, path, query, body, what)

    def _send(self, verb: str, path: str, query: Mapping[str, str], body: Any, what: str) -> dict[str, Any]:
        write = verb != "GET"
        with self._lock:
            self._in_flight += 1
        try:
            with transport_errors(what, write=write):
                response = self.http.request(verb, path, params=query, json=body)
        finally:
            with self._lock:
                self._in_flight -= 1
        return self._answer(response, what, write)

    def _answer(self, response: httpx.Response, what: str, write: bool) -> dict[str, Any]:
        status = response.status_code
        if status != 429:
            self._note_limit(response)
        if 200 <= status < 300:
            body = json_body(response, what)
            if not isinstance(body, dict):
                raise ProtocolError(f"{what}: expected a JSON object, got {type(body).__name__}")
            if str(body.get("status", "")).lower() == "error":  # an error dressed as success
                raise Rejected(f"{what}: refused: {self.details(body)}")
            if str(body.get("status", "")).lower() != "success":
                raise ProtocolError(f"{what}: the answer has no status 'Success' ({describe_body(response)})")
            return body
        if status == 429:
            wait = retry_after(response)
            if wait is None:
                wait = _number(response.headers.get("x-ratelimit-reset"))
            raise RateLimited(f"{what}: rate limit reached (HTTP 429)", wait)
        if 300 <= status < 400:
            raise ProtocolError(f"{what}: redirected (HTTP {status}); url must be the API root, "
                                f"{DEFAULT_URL} (https)")
        body = _error_body(response)
        if status == 401:
            raise AuthError(f"{what}: login refused (HTTP 401): check username and password "
                            "(ProWorkflow does not say more; a wrong API key may also be the cause)")
        if status == 403:
            detail = self.details(body) if body else "access denied"
            if "api" in detail.lower() and "key" in detail.lower():
                raise AuthError(f"{what}: the API key was refused ({detail}): check apikey")
            raise AuthError(f"{what}: permission denied ({detail}): the API user needs a staff login with "
                            "access to companies, projects, tasks, time and invoices")
        if status == 404:
            if body is None:
                raise ProtocolError(f"{what}: no such API path ({describe_body(response)}); is url the API root "
                                    f"({DEFAULT_URL})?")
            raise NotFound(f"{what}: {self.details(body)}")
        if status >= 500:
            detail = f": {self.details(body)}" if body else ""
            check_status(response, what, write=write)  # 502/503/504, empty 500
            raise Transient(f"{what}: ProWorkflow failed (HTTP {status}{detail})", may_have_applied=write)
        if body is not None and 400 <= status < 500:
            raise Rejected(f"{what}: refused (HTTP {status}): {self.details(body)}")
        raise ProtocolError(f"{what}: unexpected answer {describe_body(response)}")

    def details(self, body: Mapping[str, Any]) -> str:
        """The error ``details`` (a list or a bare string, maybe HTML) as one line of plain text,
        secrets masked before it is cut."""
        raw = body.get("details", body.get("message", ""))
        parts = []
        for item in raw if isinstance(raw, list) else [raw]:
            if isinstance(item, Mapping):
                item = item.get("message") or item.get("details") or ", ".join(f"{k}: {v}" for k, v in item.items())
            text = vendor_text(item, 500)
            if text:
                parts.append(text)
        return "; ".join(parts)[:500] or "no details given"

    # -- rate limit -----------------------------------------------------------------------------

    def _note_limit(self, response: httpx.Response) -> None:
        """Have the core pause until the window resets when the requests left are no more than those
        in flight (any answer but a 429 says how many are left)."""
        remaining = _number(response.headers.get("x-ratelimit-remaining"))
        reset = _number(response.headers.get("x-ratelimit-reset"))
        if remaining is None or reset is None:
            return
        with self._lock:
            others = self._in_flight  # this one is answered: the requests still out
            if remaining > others:
                return
        log.debug("rate limit: %d request(s) left in the window; pausing %.1fs", remaining, reset)
        if self.on_pause is not None:
            self.on_pause(reset)

    # -- lists ----------------------------------------------------------------------------------

    def pages(self, path: str, key: str, params: Mapping[str, Any], *, what: str = "") -> Iterator[dict[str, Any]]:
        """Every row of a paged list (``key`` is the answer's payload key), page 1 upwards.

        Ends on a page shorter than ``pagesize`` or once ``totalcount`` rows are read; a server
        that ignores paging (a first page longer than asked for) has sent everything at once.
        """
        size = self.page_size
        call = f"{what + ': ' if what else ''}ProWorkflow GET /{path}"
        read = 0

        def page(number: int) -> tuple[list[dict[str, Any]], bool]:
            nonlocal read
            body = self.get(path, {**params, "pagenumber": number, "pagesize": size}, what=what)
            rows = rows_of(body, key, call)
            read += len(rows)
            total = _number(body.get("totalcount"))
            return rows, len(rows) != size or (total is not None and read >= total)

        return paged(page, call, max_pages=MAX_PAGES)


def rows_of(body: Mapping[str, Any], key: str, what: str) -> list[dict[str, Any]]:
    """The list under ``key``; an answer without it is empty only when it counts no rows."""
    rows = body.get(key)
    if rows is None:
        if _number(body.get("count")) in (0, None) and _number(body.get("totalcount")) in (0, None) \
                and "count" in body:
            return []
        raise ProtocolError(f"{what}: the answer has no '{key}' list (keys: {', '.join(sorted(body)) or 'none'})")
    if not isinstance(rows, list) or not all(isinstance(row, dict) and "id" in row for row in rows):
        raise ProtocolError(f"{what}: '{key}' is not a list of records with ids")
    return rows


def one(body: Mapping[str, Any], key: str, what: str) -> dict[str, Any]:
    """The single record under ``key`` (``GET /projects/12`` answers ``{"project": {...}}``)."""
    row = body.get(key)
    if isinstance(row, list) and len(row) == 1:  # some calls answer a one-row list
        row = row[0]
    if not isinstance(row, dict) or "id" not in row:
        raise ProtocolError(f"{what}: the answer has no '{key}' record")
    return row


def created_id(body: Mapping[str, Any], what: str) -> str:
    """The new record's id from a 201 ``{"details": [{"id": ...}]}``."""
    details = body.get("details")
    first = details[0] if isinstance(details, list) and details else None
    ident = first.get("id") if isinstance(first, dict) else None
    if ident in (None, "") or not str(ident).isdigit():
        raise ProtocolError(f"{what}: the answer names no new id (expected details[0].id)")
    return str(ident)


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, set)):
        return ",".join(str(v) for v in value)
    return str(value)


def _number(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def _error_body(response: httpx.Response) -> dict[str, Any] | None:
    """ProWorkflow's ``{"status": "Error", "details": ...}``, or None for anything else (HTML, empty)."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) and ("details" in body or "status" in body) else None
