"""The wbTeamPro remote API wire protocol (FACTS.md §2).

Every call is one request to ``{url}/modules/addons/wbteampro/api.php`` naming a resource chain
(``action=v1.projects.100.json``), an operation (``method=get|post|put|delete``) and ``params`` (a
JSON string), with the admin ``username`` and the md5 of the password. This client always POSTs
a form body with the ``method`` override, so credentials never appear in a URL or an access log.

wbTeamPro bans the caller's IP after three failed logins (in WHMCS's banned-IP table, which locks
the host out of WHMCS too), and every request carries the credentials. The core keeps that from
happening: until a system's credentials have been accepted it sends one call at a time, and the
first :class:`AuthError` holds the system (no further call, in this run or later ones) until
``hostsync check`` passes with corrected credentials.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Callable, Iterator, Mapping

import httpx

from hostsync.errors import AuthError, NotFound, ProtocolError, RateLimited, Rejected, Transient
from hostsync.http import ACTION, build_client, check_status, describe_body, json_body, retry_after, transport_errors
from hostsync.redact import redact

log = logging.getLogger(__name__)

ENDPOINT = "/modules/addons/wbteampro/api.php"


class TeamProClient:
    """A thread-safe wbTeamPro API client for one configured system (its connection pool is sized
    by the core's ``concurrency`` option)."""

    def __init__(self, options: Mapping[str, Any], fetch: Callable[..., Any] | None = None) -> None:
        """:param fetch: runs each page request of :meth:`pages` (the connector's ``fetch``, so the
            core retries a failed page in place); default: a plain call."""
        self.fetch = fetch or (lambda function, *args: function(*args))
        self._username = str(options["username"])
        self._password = hashlib.md5(str(options["password"]).encode("utf-8")).hexdigest()
        self._secrets = sorted({str(options["password"]), self._password}, key=len, reverse=True)
        self.http = build_client(options, base_url=str(options["url"]).rstrip("/"))

    def close(self) -> None:
        self.http.close()

    def call(self, chain: str, method: str = "get", params: Mapping[str, Any] | None = None, *,
             about: str = "") -> dict[str, Any]:
        """Run one operation on a resource chain (``"projects.100"``); return ``response``."""
        write = method != "get"
        what = f"wbTeamPro {method.upper()} {chain}" + (f" ({about})" if about else "")
        form = {"action": f"v1.{chain}.json", "method": method, "username": self._username,
                "password": self._password, "params": json.dumps(dict(params or {}), ensure_ascii=False)}
        with transport_errors(what, write=write):
            response = self.http.post(ENDPOINT, data=form, extensions={ACTION: f"{chain} ({method})"})
        return self._answer(response, what, write)

    def pages(self, resource: str, params: Mapping[str, Any] | None = None, *, limit: int = 50,
              key: str | None = None) -> Iterator[dict[str, Any]]:
        """Every row of a list, page by page. ``data.pages`` is not trusted (the vendor's own example
        shows ``pages: 0`` with one row): reading stops at an empty page or at ``data.total``."""
        page, seen = 1, 0
        while True:
            answer = self.fetch(self.call, resource, "get", {**(params or {}), "limit": limit, "page": page})
            rows = answer.get(key or resource.rsplit(".", 1)[-1]) or []
            if not isinstance(rows, list):
                raise ProtocolError(f"wbTeamPro GET {resource}: expected a list of rows, got {type(rows).__name__}")
            yield from (row for row in rows if isinstance(row, dict))
            seen += len(rows)
            total = (answer.get("data") or {}).get("total")
            if not rows or (isinstance(total, int) and seen >= total):
                return
            page += 1

    def _answer(self, response: httpx.Response, what: str, write: bool) -> dict[str, Any]:
        status = response.status_code
        if status == 403 and not _is_json(response):
            raise AuthError(f"{what}: access refused (HTTP 403; the IP may be banned after failed logins)")
        if status in (401, 404, 400) and _is_json(response):
            pass  # the envelope says more than the status line
        else:
            check_status(response, what, write=write)
        if status >= 500 and not _is_json(response):  # PHP's or a proxy's error page, not the API's answer
            raise Transient(f"{what}: HTTP {status}: {describe_body(response)}", may_have_applied=write)
        body = json_body(response, what)
        request = body.get("request") if isinstance(body, dict) else None
        if not isinstance(request, dict) or "code" not in request:
            raise ProtocolError(f"{what}: the answer has no request/response envelope (HTTP {status})")
        try:
            code = int(request["code"])
        except (TypeError, ValueError):
            raise ProtocolError(f"{what}: unreadable request.code") from None
        message = self._scrub(str(request.get("message") or ""))
        if code == 200 and status < 400:
            result = body.get("response")
            if not isinstance(result, dict):
                raise ProtocolError(f"{what}: the answer has no response object")
            return result
        if code in (401, 403):
            raise AuthError(f"{what}: {message or 'login refused'} ({code})")
        if code == 404:
            raise NotFound(f"{what}: {message or 'Record Not Found'}")
        if code == 429:
            raise RateLimited(f"{what}: {message} ({code})", retry_after(response))
        if code >= 500:
            raise Transient(f"{what}: {message} ({code})", may_have_applied=write)
        if 400 <= code < 500:
            raise Rejected(f"{what}: {message}")
        raise ProtocolError(f"{what}: unknown request.code {code}")

    def _scrub(self, message: str) -> str:
        for secret in self._secrets:
            message = message.replace(secret, "***")
        message = " ".join(redact(message).split())  # redacted before it is cut
        return message if len(message) <= 200 else message[:199] + "…"


def _is_json(response: httpx.Response) -> bool:
    return "json" in response.headers.get("Content-Type", "")
