"""The WebWork Tracker REST API v2 wire protocol: auth, workspace scoping, envelope, errors, paging, limits.

``{url}/{resource}`` with ``Authorization: Bearer <token>`` (an OAuth2 access token or a personal
access token). Every call names the workspace: ``workspace_id`` in the query, or in the JSON body
where the API wants it there (creating tasks, time entries and contracts). Every answer is the
envelope ``{"success", "message", "data", "meta"}``; lists page with ``page``/``per_page`` (always
100, the maximum) until ``meta.pagination.last_page`` (or a short page, where a list carries no
pagination). Failures map to :mod:`hostsync.errors`: 401/403 -> ``AuthError``, 404 -> ``NotFound``,
422 -> ``Rejected`` with the field messages, 429 -> ``RateLimited`` (``Retry-After``), 5xx ->
``Transient`` (``may_have_applied`` for writes), ``success: false`` -> ``Rejected``, a reply not in
that shape -> ``ProtocolError`` naming the call. Messages never carry the token or a body (what
WebWork says is masked by the core's redactor before it is cut, so an echoed token never shows).

Every request goes through ``fetch`` (the connector's): a request of a listing is a call of its own
under the core's gate (concurrency, ``rate_limit``, pauses; retried from that page when it fails),
and the further requests of an operation the core called are paced by it too, so each request
WebWork sees has taken one token of ``rate_limit``. ``X-RateLimit-Remaining: 0`` on a good reply, or
a 429, holds every request through ``on_pause`` (``Connector.pause``) until the window resets.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterator, Mapping

import httpx

from hostsync.config import RateLimit, parse_duration, parse_rate
from hostsync.errors import AuthError, NotFound, ProtocolError, RateLimited, Rejected, Transient
from hostsync.http import (build_client, describe_body, json_body, json_object, paged, retry_after, transport_errors,
                           vendor_text)


log = logging.getLogger("hostsync.webwork")

DEFAULT_URL = "https://api.webwork-tracker.com/api/v2"
PER_PAGE = 100
#: Safety stop for a server that ignores ``page``.
MAX_PAGES = 10_000
#: The limit WebWork documents: 60 requests per minute per authenticated user.
VENDOR_LIMIT = "60/min"


def parse_limit(text: str) -> RateLimit:
    """``"60/min"`` (any unit ``rate_limit`` takes) or ``"60/6s"`` (a duration, for scaled tests)."""
    try:
        limit = parse_rate(text)
    except ValueError:
        count, _, period = str(text).partition("/")
        try:
            limit = RateLimit(int(count), parse_duration(period.strip()), str(text)) if count.strip().isdigit() \
                else None
        except ValueError:
            limit = None
    if limit is None or limit.count < 2:
        raise ValueError(f"bad request limit {text!r} (use e.g. 60/min; at least 2 requests)")
    return limit


class WebWorkClient:
    """One configured workspace. Thread-safe (one shared ``httpx.Client``)."""

    def __init__(self, options: Mapping[str, Any], on_pause: Callable[[float], None] | None = None,
                 fetch: Callable[..., Any] | None = None) -> None:
        """:param options: the system's settings (``url``, ``token``, ``workspace_id``,
            ``request_limit``) plus the core's transport keys, read by ``build_client``.
        :param on_pause: told the seconds the server asked us to wait (``Connector.pause``).
        :param fetch: runs each request (``Connector.fetch``); default: a plain call."""
        base = str(options.get("url") or DEFAULT_URL).rstrip("/")
        self.workspace_id = int(options["workspace_id"])
        self.limit = parse_limit(str(options.get("request_limit") or VENDOR_LIMIT))
        self.on_pause = on_pause
        self.fetch = fetch or (lambda function, *args: function(*args))
        self.http = build_client(options, base_url=base + "/", headers={
            "Authorization": f"Bearer {options['token']}", "Accept": "application/json"})

    def close(self) -> None:
        self.http.close()

    # -- one call -----------------------------------------------------------------------------

    def call(self, method: str, path: str, query: Mapping[str, Any] | None = None,
             body: Mapping[str, Any] | None = None, *, workspace: str | None = "query",
             what: str = "") -> tuple[Any, dict[str, Any]]:
        """Send one request; return the envelope's ``data`` and ``meta``.

        :param workspace: where ``workspace_id`` goes: ``"query"``, ``"body"`` or ``None``.
        :param what: what the caller is doing, for messages (``"update task 12"``).
        """
        name = f"WebWork {method} /{path}"
        what = f"{what}: {name}" if what else name
        return self.fetch(self._send, method, path, query, body, workspace, what)

    def _send(self, method: str, path: str, query: Mapping[str, Any] | None, body: Mapping[str, Any] | None,
              workspace: str | None, what: str) -> tuple[Any, dict[str, Any]]:
        write = method != "GET"
        params = {k: v for k, v in (query or {}).items() if v is not None}
        payload = dict(body) if body is not None else None
        if workspace == "query":
            params["workspace_id"] = self.workspace_id
        elif workspace == "body":
            payload = {"workspace_id": self.workspace_id, **(payload or {})}
        request = self.http.build_request(method, path, params=params, json=payload)
        with transport_errors(what, write=write):
            response = self.http.send(request)
            response.read()
        return self._answer(response, what, write)

    def get(self, path: str, query: Mapping[str, Any] | None = None, *, what: str = "") -> Any:
        return self.call("GET", path, query, what=what)[0]

    def _answer(self, response: httpx.Response, what: str, write: bool) -> tuple[Any, dict[str, Any]]:
        status = response.status_code
        self._follow_limit(response)
        if 200 <= status < 300:
            body = json_body(response, what)
            if not isinstance(body, dict) or "success" not in body or "data" not in body:
                raise ProtocolError(f"{what}: expected the {{success, data, meta}} envelope, got "
                                    f"{_shape(body)}")
            if body["success"] is not True:
                raise Rejected(f"{what}: refused: {_message(body) or 'success: false'}", _field_errors(body))
            meta = body.get("meta")
            return body["data"], meta if isinstance(meta, dict) else {}
        body = json_object(response)
        message = _message(body)
        detail = f" ({message})" if message else ""
        if status == 401:
            raise AuthError(f"{what}: the token was refused (HTTP 401{': ' + message if message else ''}); "
                            "a personal access token lasts 6 months, an OAuth2 access token 15 days")
        if status == 403:
            raise AuthError(f"{what}: not allowed (HTTP 403){detail}; the API needs a workspace owner or "
                            f"executive manager, and workspace {self.workspace_id} must be theirs")
        if status == 404:
            raise NotFound(f"{what}: not found (HTTP 404){detail}")
        if status == 422:
            fields = _field_errors(body)
            text = "; ".join(f"{k}: {v}" for k, v in fields.items()) or message or "HTTP 422"
            raise Rejected(f"{what}: refused: {text}", fields)
        if status == 429:
            seconds = self._wait_hint(response)
            self._hold(seconds)
            raise RateLimited(f"{what}: rate limited (HTTP 429)", seconds)
        if 300 <= status < 400:
            raise ProtocolError(f"{what}: redirected (HTTP {status}); check url (https, ending in /api/v2)")
        if status >= 500:
            raise Transient(f"{what}: HTTP {status} from WebWork{detail}", may_have_applied=write and status != 503)
        if 400 <= status < 500:
            raise Rejected(f"{what}: refused (HTTP {status}){detail}", _field_errors(body))
        raise ProtocolError(f"{what}: unexpected answer {describe_body(response)}")

    # -- the rate limit -----------------------------------------------------------------------

    def _follow_limit(self, response: httpx.Response) -> None:
        """A good reply saying the budget is spent holds every call until the window resets."""
        remaining = response.headers.get("X-RateLimit-Remaining")
        if response.status_code == 429 or remaining is None:
            return
        try:
            left = int(remaining)
        except ValueError:
            return
        if left <= 0:
            self._hold(self._wait_hint(response))

    def _wait_hint(self, response: httpx.Response) -> float:
        """Seconds until the window resets: Retry-After, else X-RateLimit-Reset, else a whole window
        (``request_limit``'s period)."""
        seconds = retry_after(response)
        if seconds is not None:
            return seconds
        reset = response.headers.get("X-RateLimit-Reset")
        try:
            value = float(reset) if reset else None
        except ValueError:
            value = None
        if value is not None:
            return max(0.0, value - time.time()) if value > 1_000_000_000 else max(0.0, value)
        return self.limit.period

    def _hold(self, seconds: float) -> None:
        log.info("WebWork asked to wait %.1fs (rate limit)", seconds)
        if self.on_pause is not None:
            self.on_pause(seconds)

    # -- lists --------------------------------------------------------------------------------

    def pages(self, path: str, query: Mapping[str, Any] | None = None, *, workspace: str | None = "query",
              what: str = "") -> Iterator[dict[str, Any]]:
        """Every row of a paged list, 100 a page, until the last page.

        Each page is one request through ``fetch`` (in a run: retried from that page, a 429 after its
        wait).
        """
        call = f"{what + ': ' if what else ''}WebWork GET /{path}"

        def page(number: int) -> tuple[list[dict[str, Any]], bool]:
            data, meta = self.call("GET", path, {**(query or {}), "page": number, "per_page": PER_PAGE},
                                   workspace=workspace, what=what)
            if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
                raise ProtocolError(f"{call}: expected a list of objects in 'data', got {_shape(data)}")
            return data, _last_page(meta, number, len(data), path)

        return paged(page, call, max_pages=MAX_PAGES)


def _last_page(meta: Mapping[str, Any], page: int, rows: int, path: str) -> bool:
    pagination = meta.get("pagination")
    if isinstance(pagination, dict) and pagination.get("last_page") is not None:
        try:
            return page >= int(pagination["last_page"])
        except (TypeError, ValueError):
            raise ProtocolError(f"WebWork GET /{path}: meta.pagination.last_page is not a number") from None
    return rows < PER_PAGE  # a list without pagination meta: a short page is the last


def _shape(value: Any) -> str:
    if isinstance(value, dict):
        keys = ", ".join(sorted(map(str, value))[:6])
        return f"an object with {keys or 'no keys'}"
    return "null" if value is None else type(value).__name__


def _message(body: Mapping[str, Any]) -> str:
    message = body.get("message")
    return vendor_text(message) if isinstance(message, str) else ""


def _field_errors(body: Mapping[str, Any]) -> dict[str, str]:
    """Laravel's ``errors`` map ``{field: [message, ...]}`` as ``{field: "message; message"}``."""
    errors = body.get("errors")
    out: dict[str, str] = {}
    if not isinstance(errors, dict):
        return out
    for field, messages in errors.items():
        texts = messages if isinstance(messages, list) else [messages]
        out[str(field)] = vendor_text("; ".join(str(text) for text in texts), 500)
    return out
