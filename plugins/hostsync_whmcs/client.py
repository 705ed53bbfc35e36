"""The WHMCS External API wire protocol: one form-encoded POST per action to ``/includes/api.php``.

Every request carries ``action``, ``responsetype=json`` and the credentials: API credentials as
``identifier``/``secret``, or an admin ``username`` with the md5 of the password (the legacy form
the API expects; the operator configures the plain password), plus ``accesskey`` when set (it lets
the call past the IP allow-list). Answers are ``{"result": "success"|"error", ...}``; this module
turns every failure into the core's typed errors and never lets a credential into a message or a
log line. (That wrong credentials are refused once, not once per worker, is the core's doing: it
proves a system's credentials with one call before it sends others, and holds the system after
the first ``AuthError``.)
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Callable, Iterator, Mapping, Sequence
from urllib.parse import urlencode

import httpx

from hostsync.errors import AuthError, NotFound, ProtocolError, Rejected, Transient
from hostsync.http import build_client, check_status, describe_body, json_body, transport_errors
from hostsync.redact import redact

from .mapping import integer, nested, unflatten

log = logging.getLogger(__name__)

ENDPOINT = "/includes/api.php"

#: ``result=error`` messages that mean the credentials, the IP or the API role were refused.
AUTH_MESSAGES = ("authentication failed", "invalid ip", "invalid access key", "access denied", "api access")
#: Where an administrator allows API actions for a credential (WHMCS 7.4+ API roles).
API_ROLES = "Setup > Staff Management > Manage API Roles"


class ActionRefused(Rejected):
    """WHMCS refused one API action, not the credentials: the credential's API role does not allow
    it (``Invalid Permissions``), or this WHMCS does not have it (``Command Not Found``). Every
    other action still works, so the system is not held; what needs this action fails."""

Params = Mapping[str, Any] | Sequence[tuple[str, Any]]


class WhmcsClient:
    """A thread-safe WHMCS API client for one configured system (its connection pool is sized by
    the core's ``concurrency`` option)."""

    def __init__(self, options: Mapping[str, Any], fetch: Callable[..., Any] | None = None) -> None:
        """:param fetch: runs each page request of :meth:`pages` (the connector's ``fetch``, so the
            core retries a failed page in place); default: a plain call."""
        self.fetch = fetch or (lambda function, *args: function(*args))
        if options.get("identifier"):
            self._auth = {"identifier": options["identifier"], "secret": options["secret"]}
        else:
            digest = hashlib.md5(str(options["password"]).encode("utf-8")).hexdigest()
            self._auth = {"username": options["username"], "password": digest}
        if options.get("accesskey"):
            self._auth["accesskey"] = options["accesskey"]
        secret_values = [options.get(k) for k in ("secret", "password", "accesskey")] + [self._auth.get("password")]
        self._secrets = sorted({str(v) for v in secret_values if v}, key=len, reverse=True)
        self.http = build_client(options, base_url=str(options["url"]).rstrip("/"))
        self.endpoint = self.http.base_url.join(ENDPOINT)  # absolute: not joined again for every call

    def close(self) -> None:
        self.http.close()

    # -- calls --------------------------------------------------------------------------------

    def call(self, action: str, params: Params = (), *, write: bool = False, about: str = "") -> dict[str, Any]:
        """Run one action; return the decoded success answer.

        :param write: the action changes something (a lost reply may have applied it).
        :param about: the record the call is about, for messages (e.g. ``"client 5"``).
        """
        what = f"WHMCS {action}" + (f" ({about})" if about else "")
        pairs = list(params.items() if isinstance(params, Mapping) else params)
        body = urlencode([("action", action), ("responsetype", "json"), *self._auth.items(),
                          *((k, _form(v)) for k, v in pairs)])
        with transport_errors(what, write=write):
            response = self.http.post(self.endpoint, content=body,
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
        return self._answer(response, what, write)

    def pages(self, action: str, list_key: str, row_key: str, params: Mapping[str, Any] | None = None,
              *, limit: int = 100, announce: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]:
        """Every row of a paged list action, ``limitstart``/``limitnum`` to the end.

        Stops at an empty page or once ``totalresults`` rows were read (WHMCS sometimes sends it
        as a string, and GetActivityLog sends no ``numreturned``).

        :param announce: given ``totalresults`` once, from the first page that has it (progress).
        """
        start = 0
        while True:
            data = self.fetch(self.call, action, {**(params or {}), "limitstart": start, "limitnum": limit})
            rows = nested(data.get(list_key), row_key)
            total = integer(data.get("totalresults"), -1)
            if announce is not None and total >= 0:
                announce(total)
                announce = None
            yield from rows
            start += len(rows)
            if not rows or 0 <= total <= start:
                return

    # -- answers ------------------------------------------------------------------------------

    def _answer(self, response: httpx.Response, what: str, write: bool) -> dict[str, Any]:
        check_status(response, what, write=write)
        status = response.status_code
        if 300 <= status < 400:
            raise ProtocolError(f"{what}: redirected (HTTP {status}); check the url setting (http or https, path)")
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            if status == 403:
                raise AuthError(f"{what}: access refused (HTTP 403); check the credentials and the IP allow-list")
            if status >= 500:
                raise Transient(f"{what}: HTTP {status} from the server ({describe_body(response)})",
                                may_have_applied=write)
            if data is None:
                json_body(response, what)  # raises ProtocolError describing the body
            raise ProtocolError(f"{what}: expected a JSON object, got {type(data).__name__}")
        if any("[" in key for key in data):
            data = unflatten(data)
        result = str(data.get("result", "")).lower()
        if result == "success" and status < 400:
            return data
        if result == "error" or status >= 400:
            self._raise(str(data.get("message") or f"HTTP {status}"), what, status)
        raise ProtocolError(f"{what}: unknown result {self._scrub(repr(data.get('result')))[:60]} (HTTP {status})")

    def _raise(self, message: str, what: str, status: int) -> None:
        message = self._scrub(message)
        lower = message.lower()
        if lower.startswith("invalid permissions"):  # one action, not the login
            raise ActionRefused(f"{what}: not allowed for these credentials ({message}); allow it in "
                                f"their API role ({API_ROLES})")
        if lower == "command not found":
            raise ActionRefused(f"{what}: this WHMCS does not know the action (Command Not Found)")
        if status in (401, 403) or lower.startswith(AUTH_MESSAGES):
            raise AuthError(f"{what}: {message}")
        if status >= 500:
            raise Transient(f"{what}: HTTP {status}: {message}")
        if "not found" in lower:
            raise NotFound(f"{what}: {message}")
        raise Rejected(f"{what}: {message}")

    def _scrub(self, message: str) -> str:
        """A vendor message, short and with any credential blanked out."""
        for secret in self._secrets:
            message = message.replace(secret, "***")
        return _short(redact(message), 200)  # redacted before it is cut


def _form(value: Any) -> str:
    """A form value as PHP's ``http_build_query`` writes it: booleans as ``1``/``0`` (PHP reads the
    string ``"false"`` as true)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return "" if value is None else str(value)


def _short(value: Any, limit: int = 60) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
