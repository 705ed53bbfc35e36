"""Building httpx clients for connectors, and mapping transport failures to the error taxonomy.

Every HTTP connector builds its client here, so timeouts, TLS verification, pool limits and the
User-Agent are the same everywhere, and tests can pass an ``httpx`` transport through the options
(``options["http_transport"]``, e.g. ``httpx.MockTransport``) without touching the connector.
"""

from __future__ import annotations

import email.utils
import time
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

import httpx

from . import __version__
from .errors import AuthError, ProtocolError, RateLimited, Transient

USER_AGENT = f"hostsync/{__version__}"
DEFAULT_TIMEOUT = 30.0


def build_client(options: Mapping[str, Any], *, base_url: str = "", concurrency: int | None = None,
                 auth: httpx.Auth | tuple[str, str] | None = None,
                 headers: Mapping[str, str] | None = None) -> httpx.Client:
    """An ``httpx.Client`` for one configured system.

    Reads ``timeout`` (seconds, default 30), ``verify_tls`` (default true), ``concurrency`` (the
    system's parallel calls, which size the connection pool) and an optional test ``http_transport``
    from ``options``. Redirects are not followed: an API that redirects is misconfigured (usually
    http -> https or a login page) and should say so.
    """
    timeout = float(options.get("timeout") or DEFAULT_TIMEOUT)
    concurrency = concurrency or int(options.get("concurrency") or 4)
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        verify=bool(options.get("verify_tls", True)),
        limits=httpx.Limits(max_connections=max(concurrency, 1) + 2, max_keepalive_connections=max(concurrency, 1)),
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        auth=auth,
        transport=options.get("http_transport"),
        follow_redirects=False,
    )


@contextmanager
def transport_errors(what: str, *, write: bool = False) -> Iterator[None]:
    """Turn httpx transport failures inside the block into :class:`Transient` naming ``what``.

    :param write: the request changes something, so a timeout or dropped connection after it was
        sent may have applied it (``may_have_applied``).
    """
    try:
        yield
    except httpx.ConnectTimeout as exc:
        raise Transient(f"{what}: connection timed out") from exc
    except httpx.ConnectError as exc:
        raise Transient(f"{what}: cannot connect ({_reason(exc)})") from exc
    except httpx.TimeoutException as exc:
        raise Transient(f"{what}: no answer in time", may_have_applied=write) from exc
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        raise Transient(f"{what}: connection lost before the answer ({_reason(exc)})",
                        may_have_applied=write) from exc
    except httpx.TransportError as exc:
        raise Transient(f"{what}: {type(exc).__name__}: {_reason(exc)}", may_have_applied=write) from exc


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), if any."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):  # garbage: as if there were no header
        return None
    return max(0.0, moment.timestamp() - time.time())


def check_status(response: httpx.Response, what: str, *, write: bool = False) -> None:
    """Raise the taxonomy error for the statuses every vendor means the same by.

    401 -> AuthError, 429 -> RateLimited (with Retry-After), 502/503/504 and an empty 500 ->
    Transient. Other statuses are left to the vendor client, which knows its error bodies.
    """
    status = response.status_code
    if status == 401:
        raise AuthError(f"{what}: authentication refused (HTTP 401)")
    if status == 429:
        raise RateLimited(f"{what}: rate limited (HTTP 429)", retry_after(response))
    if status in (502, 503, 504) or (status == 500 and not response.content.strip()):
        raise Transient(f"{what}: HTTP {status} from the server", may_have_applied=write and status != 503)


def json_body(response: httpx.Response, what: str) -> Any:
    """The JSON body, or a :class:`ProtocolError` that says what came instead."""
    try:
        return response.json()
    except ValueError:
        raise ProtocolError(f"{what}: expected JSON, got {describe_body(response)}") from None


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object, or ``{}`` (for reading an error answer that may be anything)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def describe_body(response: httpx.Response) -> str:
    """A short, secret-free description of an unreadable body (content type and size, not content)."""
    kind = response.headers.get("Content-Type", "no content type").split(";")[0]
    size = len(response.content)
    if not size:
        return f"an empty body (HTTP {response.status_code})"
    text = response.content[:200].lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html")):
        return f"an HTML page (HTTP {response.status_code}, {size} bytes)"
    return f"{size} bytes of {kind} (HTTP {response.status_code})"
