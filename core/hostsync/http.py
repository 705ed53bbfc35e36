"""Building httpx clients for connectors, and mapping transport failures to the error taxonomy.

Every HTTP connector builds its client here, so timeouts, TLS verification, pool limits and the
User-Agent are the same everywhere, and tests can pass an ``httpx`` transport through the options
(``options["http_transport"]``, e.g. ``httpx.MockTransport``) without touching the connector.

Every request of such a client also keeps three promises, whatever the plugin does with it:

* a total **deadline** (``deadline``, seconds): connecting, sending and reading the whole reply. The
  ``timeout`` is only the idle time between two reads, which a reply dripped byte by byte never
  trips; the deadline does (:class:`DeadlineExceeded`).
* a maximum **reply size** (``max_reply_size``, bytes): a longer reply is refused while it streams
  in, never buffered whole (:class:`ReplyTooLarge`).
* a note of what became of it (:func:`exchanges`): whether it may have reached the vendor, its
  status, whether its reply was cut off. The engine reads it to tell a write whose outcome is
  unknown (lost reply, 5xx) from one the vendor certainly did not carry out.
* a turn under the system's rate limit (:class:`pacing`): the engine has every request a call
  makes beyond its first wait for the rate limit and any pause the vendor asked for, so an
  operation that takes several requests (an update that reads first) is counted as that many.
* a report when it ends (:class:`VendorCall`): one DEBUG line on the ``hostsync.vendor`` logger
  (shown by ``-vv``: method, action or path, status, milliseconds, bytes; never a body or a header,
  and through the redactor like every log line), and, inside the engine (:class:`calling`), the
  ``vendor.call`` event.
"""

from __future__ import annotations

import email.utils
import functools
import html
import logging
import re
import ssl
import threading
import time
import urllib.parse
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import httpcore
import httpx

from . import __version__
from .config import DEFAULT_DEADLINE, DEFAULT_MAX_REPLY_SIZE, DEFAULT_TIMEOUT
from .errors import AuthError, ProtocolError, RateLimited, Transient
from .redact import redact

__all__ = ["DEFAULT_TIMEOUT", "DEFAULT_DEADLINE", "DEFAULT_MAX_REPLY_SIZE", "build_client", "transport_errors",
           "check_status", "json_body", "describe_body", "vendor_text", "paged", "retry_after", "exchanges",
           "Exchange", "pacing", "DeadlineExceeded", "ReplyTooLarge", "VendorCall", "calling", "ACTION"]

USER_AGENT = f"hostsync/{__version__}"
#: A request extension naming the vendor action a request runs, for the ``-vv`` line and the
#: ``vendor.call`` event, where the path does not say it (``extensions={ACTION: "GET projects"}``).
#: Without it: the SOAP action, else a form's ``action`` field, else the path.
ACTION = "hostsync_action"

vendor_log = logging.getLogger("hostsync.vendor")


class DeadlineExceeded(httpx.TimeoutException):
    """The whole exchange took longer than the system's ``deadline``."""


class ReplyTooLarge(httpx.TransportError):
    """The reply is longer than the system's ``max_reply_size`` (refused while streaming in)."""


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing a reply sets."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _StatelessClient(httpx.Client):
    """An ``httpx.Client`` that neither keeps nor sends cookies (see :func:`build_client`)."""

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES


_NO_COOKIES = _NoCookies()


def build_client(options: Mapping[str, Any], *, base_url: str = "", concurrency: int | None = None,
                 auth: httpx.Auth | tuple[str, str] | None = None,
                 headers: Mapping[str, str] | None = None, cookies: bool = False) -> httpx.Client:
    """An ``httpx.Client`` for one configured system.

    Reads ``timeout`` (idle seconds, default 30), ``deadline`` (total seconds per request, default
    60), ``max_reply_size`` (bytes, default 32 MiB), ``verify_tls`` (default true), ``concurrency``
    (the system's parallel calls, which size the connection pool) and an optional test
    ``http_transport`` from ``options``. Redirects are not followed: an API that redirects is
    misconfigured (usually http -> https or a login page) and should say so.

    :param cookies: keep the cookies replies set and send them back (an API with a cookie
        session). Off by default: the vendor APIs hostsync speaks authenticate every request, and a
        cookie one of a system's workers got would otherwise ride along on all the others' requests
        (one server-side session for all, which PHP serialises) and cost every reply a parse.
    """
    timeout = float(options.get("timeout") or DEFAULT_TIMEOUT)
    deadline = max(float(options.get("deadline") or DEFAULT_DEADLINE), timeout)
    max_size = int(options.get("max_reply_size") or DEFAULT_MAX_REPLY_SIZE)
    concurrency = concurrency or int(options.get("concurrency") or 4)
    verify = bool(options.get("verify_tls", True))
    limits = httpx.Limits(max_connections=max(concurrency, 1) + 2, max_keepalive_connections=max(concurrency, 1))
    inner = options.get("http_transport")
    mounts: dict[str, httpx.BaseTransport | None] = {}
    if inner is None:
        inner = _network_transport(verify, limits)
        # proxies from the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY) as httpx reads
        # them, each behind the same guard: httpx would otherwise mount its own, unguarded, transports
        mounts = {pattern: None if url is None else _Guard(_network_transport(verify, limits, url), deadline, max_size)
                  for pattern, url in _environment_proxies().items()}
        if mounts:  # loopback (a sandbox, a vendor on this host) is never sent to a proxy
            mounts.update({"all://127.0.0.1": None, "all://localhost": None})
    return (httpx.Client if cookies else _StatelessClient)(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        verify=_tls(verify),
        limits=limits,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        auth=auth,
        transport=_Guard(inner, deadline, max_size),
        mounts=mounts,
        follow_redirects=False,
    )


# -- what became of each request ----------------------------------------------------------------

@dataclass
class Exchange:
    """One request, as far as this end can tell."""

    #: the request may have reached the vendor (it was not refused before being sent)
    sent: bool = False
    #: the reply's status, once its head arrived
    status: int | None = None
    #: the reply broke off, or was refused, before its end
    cut: bool = False

    @property
    def unsure(self) -> str | None:
        """Why the vendor may have acted on this request without our knowing the result, or ``None``.

        A request never sent, a complete reply, or a 503 (the vendor refusing before it processes
        anything) are sure; a lost or cut-off reply and any other 5xx, whatever its body, are not.
        """
        if not self.sent:
            return None
        if self.status is None:
            return "no reply"
        if self.cut:
            return f"the reply (HTTP {self.status}) broke off"
        if self.status >= 500 and self.status != 503:
            return f"HTTP {self.status}"
        return None


_local = threading.local()


class exchanges:  # noqa: N801 - used like a function: ``with exchanges() as seen``
    """The requests this thread makes through :func:`build_client` clients inside the block.

    (A class rather than a generator: the engine enters one around every write.)
    """

    def __enter__(self) -> list[Exchange]:
        self.outer = getattr(_local, "ledger", None)
        _local.ledger = self.ledger = []
        return self.ledger

    def __exit__(self, *exc: object) -> None:
        _local.ledger = self.outer
        if self.outer is not None:
            self.outer.extend(self.ledger)


class _scoped:  # noqa: N801 - used like a function; a class: it is entered around every request
    """Inside the block, this thread's ``_local.<name>`` is ``value``; the outer value after it."""

    __slots__ = ("name", "value", "outer")

    def __init__(self, name: str, value: Any) -> None:
        self.name, self.value = name, value

    def __enter__(self) -> None:
        self.outer = getattr(_local, self.name, None)
        setattr(_local, self.name, self.value)

    def __exit__(self, *exc: object) -> None:
        setattr(_local, self.name, self.outer)


def pacing(before: Callable[[], None]) -> _scoped:
    """Inside the block, ``before()`` runs before each request this thread sends through a
    :func:`build_client` client (the engine: wait for the system's rate limit)."""
    return _scoped("before", before)


@dataclass
class VendorCall:
    """One request to a vendor, as reported when it ended (no body, no header, no query values)."""

    #: the configured system (the URL's host outside the engine)
    system: str
    #: the connector operation it served (``list``, ``get``, ``create``, ...; ``None`` outside the engine)
    operation: str | None
    method: str
    action: str
    #: the reply's status (``None``: no reply)
    status: int | None
    seconds: float
    #: bytes of the reply's body received
    size: int
    #: ``ok``, or the failure cause its status or error means (as :func:`hostsync.events.failure_cause`)
    outcome: str
    #: the transport error, when there was no complete reply
    error: str | None = None

    def line(self) -> str:
        """The ``-vv`` log line."""
        answer = f"HTTP {self.status}" if self.status is not None else "no reply"
        text = f"{self.system}: {self.method} {self.action} -> {answer} in {self.seconds * 1000:.0f} ms, {self.size} bytes"
        if self.error:
            text += f" ({self.error})"
        return text + (f" [{self.operation}]" if self.operation else "")


def calling(system: str, operation: str | None, report: Callable[[VendorCall], None] | None) -> _scoped:
    """Inside the block, the requests this thread sends through :func:`build_client` clients serve
    ``operation`` on ``system``, and ``report(call)`` is told of each when it ends (in this thread:
    it must be quick and must not raise; a failure is logged and ignored)."""
    return _scoped("call", (system, operation, report))


def _outcome(status: int | None, error: BaseException | None) -> str:
    """What a reply's status (or a failure to get one) means, in the causes of the error taxonomy."""
    if error is not None or status is None:
        return "protocol" if isinstance(error, ReplyTooLarge) else "transient"
    if status < 400:
        return "ok"
    return {401: "auth", 404: "not_found", 429: "rate_limited"}.get(status, "transient" if status >= 500 else "rejected")


#: A form's ``action`` field (WHMCS's API names the call there), found without decoding the whole form.
_FORM_ACTION = re.compile(rb"(?:^|&)action=([^&]*)")


def _action(request: httpx.Request) -> str:
    """What a request runs, from its :data:`ACTION` extension, SOAP action, form ``action`` or path."""
    hint = request.extensions.get(ACTION)
    if hint:
        return str(hint)
    soap = request.headers.get("SOAPAction", "").strip('"')
    if soap:
        return soap.rsplit("#", 1)[-1].rsplit("/", 1)[-1] or soap
    if request.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        try:
            body = request.content
        except httpx.RequestNotRead:
            body = b""
        found = _FORM_ACTION.search(body, 0, 65536)
        if found and found.group(1):
            return urllib.parse.unquote_plus(found.group(1).decode("utf-8", "replace"))
    path = request.url.path
    query = request.url.query.decode("ascii", "replace")
    return f"{path}?{query}" if query and "=" not in query and "&" not in query else path  # json.php?client_get


class _Report:
    """Reports one request once, when it ends however it ends."""

    def __init__(self, request: httpx.Request) -> None:
        self.request = request
        self.started = time.monotonic()
        self.status: int | None = None
        self.size = 0
        self.done = False

    def end(self, error: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        system, operation, report = getattr(_local, "call", None) or (None, None, None)
        call = VendorCall(system or self.request.url.host, operation, self.request.method, _action(self.request),
                          self.status, time.monotonic() - self.started, self.size, _outcome(self.status, error),
                          _reason(error) if error is not None else None)
        if vendor_log.isEnabledFor(logging.DEBUG):
            vendor_log.debug("%s", call.line())
        if report is not None:
            try:
                report(call)
            except Exception as exc:  # reporting must never break the request
                vendor_log.warning("reporting a call to %s failed: %s: %s", call.system, type(exc).__name__, exc)


def _noted() -> Exchange:
    exchange = Exchange()
    ledger = getattr(_local, "ledger", None)
    if ledger is not None:
        ledger.append(exchange)
    return exchange


def _deadline(until: float) -> _scoped:
    """Socket operations of this thread inside the block end by monotonic time ``until``."""
    return _scoped("until", until)


class _Guard(httpx.BaseTransport):
    """Wraps a system's transport: deadline, reply size and a note of every exchange."""

    def __init__(self, inner: httpx.BaseTransport, deadline: float, max_size: int) -> None:
        self.inner = inner
        self.deadline = deadline
        self.max_size = max_size

    def expired(self) -> DeadlineExceeded:
        return DeadlineExceeded(f"no complete answer within the deadline ({self.deadline:g} s)")

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        before = getattr(_local, "before", None)
        if before is not None:
            before()
        exchange = _noted()
        report = _Report(request)
        until = time.monotonic() + self.deadline
        try:
            try:
                with _deadline(until):
                    response = self.inner.handle_request(request)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout):
                raise  # never sent
            except httpx.TimeoutException as exc:
                exchange.sent = True
                if time.monotonic() >= until:
                    raise self.expired() from exc
                raise
            except BaseException:
                exchange.sent = True
                raise
            exchange.sent, exchange.status = True, response.status_code
            report.status = response.status_code
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > self.max_size:
                response.close()
                exchange.cut = True
                raise ReplyTooLarge(f"the reply is {_size(int(length))}, more than max_reply_size ({_size(self.max_size)})")
        except BaseException as exc:
            report.end(exc)
            raise
        assert isinstance(response.stream, Iterable)
        return httpx.Response(response.status_code, headers=response.headers, extensions=response.extensions,
                              stream=_GuardedStream(response.stream, until, self, exchange, report))

    def close(self) -> None:
        self.inner.close()


class _GuardedStream(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes], until: float, guard: _Guard, exchange: Exchange,
                 report: _Report) -> None:
        self.inner = inner
        self.until = until
        self.guard = guard
        self.exchange = exchange
        self.report = report

    def __iter__(self) -> Iterator[bytes]:
        size = 0
        chunks = iter(self.inner)
        try:
            while True:
                try:
                    with _deadline(self.until):
                        chunk = next(chunks)
                except StopIteration:
                    self.report.end()
                    return
                except httpx.TimeoutException as exc:
                    if time.monotonic() >= self.until:
                        raise self.guard.expired() from exc
                    raise
                if time.monotonic() >= self.until:
                    raise self.guard.expired()
                size += len(chunk)
                self.report.size = size
                if size > self.guard.max_size:
                    raise ReplyTooLarge(f"the reply is longer than max_reply_size ({_size(self.guard.max_size)})")
                yield chunk
        except GeneratorExit:  # the reader stopped early: no failure of the vendor's
            self.exchange.cut = True
            self.report.end()
            raise
        except BaseException as exc:
            self.exchange.cut = True
            self.report.end(exc)
            raise

    def close(self) -> None:
        self.report.end()  # a reply closed unread (a redirect, an error answer not read) ends here
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 ** 2:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 ** 2:.1f} MiB"


# -- sockets that keep the deadline -------------------------------------------------------------

def _left(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` cut to what is left of this thread's deadline; ``error`` when nothing is."""
    until = getattr(_local, "until", None)
    if until is None:
        return timeout
    left = until - time.monotonic()
    if left <= 0:
        raise error("the deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self.inner.start_tls(ssl_context, server_hostname,
                                                    _left(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self.inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self.inner.connect_tcp(host, port, _left(timeout, httpcore.ConnectTimeout),
                                                      local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self.inner.connect_unix_socket(path, _left(timeout, httpcore.ConnectTimeout),
                                                              socket_options))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


@functools.lru_cache(maxsize=None)
def _tls(verify: bool) -> ssl.SSLContext:
    """One TLS context per process and ``verify_tls`` (loading the CA bundle takes ~50 ms, twice per
    client otherwise, on every run); a context is safe to share between clients and threads."""
    return httpx.create_ssl_context(verify=verify)


def _network_transport(verify: bool, limits: httpx.Limits, proxy: str | None = None) -> httpx.HTTPTransport:
    """httpx's own transport (through ``proxy``, if given), its connection pool on sockets that keep
    the deadline.

    httpx takes no network backend, so its (private) pool is given one; ``tests/core/test_http.py``
    fails if a new httpx stops honouring that.
    """
    transport = httpx.HTTPTransport(verify=_tls(verify), limits=limits, proxy=proxy)
    transport._pool._network_backend = _DeadlineBackend()  # noqa: SLF001 - see the docstring
    return transport


def _environment_proxies() -> dict[str, str | None]:
    """URL pattern -> proxy URL (``None``: none, for a NO_PROXY host), read from the environment
    exactly as httpx reads it for a client that trusts the environment (its own, private, reader)."""
    from httpx._utils import get_environment_proxies  # noqa: PLC0415 - private: tests/core/test_http.py

    return get_environment_proxies()


@contextmanager
def transport_errors(what: str, *, write: bool = False) -> Iterator[None]:
    """Turn httpx transport failures inside the block into :class:`Transient` naming ``what``.

    :param write: the request changes something, so a timeout or dropped connection after it was
        sent may have applied it (``may_have_applied``).
    """
    try:
        yield
    except DeadlineExceeded as exc:
        raise Transient(f"{what}: {exc}", may_have_applied=write) from exc
    except ReplyTooLarge as exc:
        raise ProtocolError(f"{what}: {exc}; refused") from exc
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


_TAG = re.compile(r"<[^>]*>")


def vendor_text(value: Any, limit: int = 200) -> str:
    """What a vendor's error reply says, fit for a message: one line of plain text (HTML tags and
    entities out, whitespace folded), at most ``limit`` characters, every registered secret masked
    *before* it is cut (a secret cut in two is no longer recognised: half of it would show)."""
    if value is None:
        return ""
    text = redact(str(value))  # a secret whose characters look like a tag is masked before tags go
    text = redact(" ".join(html.unescape(_TAG.sub(" ", text)).split()))
    return text[:limit]


def paged(read: Callable[[int], tuple[Sequence[Mapping[str, Any]], bool]], what: str, *, key: str = "id",
          max_pages: int = 100_000) -> Iterator[Any]:
    """Every row of a paged list: ``read(n)`` gives page ``n`` (1 upwards) and whether it is the last.

    Rows already seen (by ``key``; a row without one is always new) are skipped, so rows shifting
    between pages while they are read never come out twice; a page holding nothing new means the
    server ignores the paging parameters, a ``ProtocolError`` naming ``what`` rather than a loop.
    """
    seen: set[Any] = set()
    for number in range(1, max_pages + 1):
        rows, last = read(number)
        fresh = 0
        for row in rows:
            ident = row.get(key)
            if ident is not None:
                if ident in seen:
                    continue
                seen.add(ident)
            fresh += 1
            yield row
        if last:
            return
        if not fresh:
            raise ProtocolError(f"{what} answered page {number} with the same rows again (does it ignore paging?)")
    raise ProtocolError(f"{what}: more than {max_pages} pages")
