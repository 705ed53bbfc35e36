"""Calling a connector: bounded concurrency and a rate limit per system, retries, credentials, holds.

Every vendor call the engine makes goes through :meth:`Caller.call` (a listing's pages through
:meth:`Caller.request`), so the policy for each error type lives in one place:

* credentials are proven once per system and process: until a call to the system has been
  accepted (kept on its :class:`Gate`, which the daemon keeps across runs), one call at a time is
  in flight, so wrong credentials are refused once, not once per worker;
* ``AuthError``: the system is held at once (in memory here; the run persists it) and no further
  call is made to it; :class:`SystemHeld` is raised for every later call;
* ``Transient``/``RateLimited``: retried with exponential backoff and full jitter, honouring
  ``Retry-After``, up to :attr:`RetryPolicy.attempts`;
* the rate limit and vendor pauses count requests, not calls: a call waits its turn before it
  starts, and each further HTTP request it makes (an update that reads first, a find that pages)
  waits for a token and any pause too (:class:`hostsync.http.pacing`);
* a write whose outcome is unknown is *not* retried here: a ``Transient`` the plugin marks
  ``may_have_applied``, or any failure after an HTTP exchange the vendor may have acted on (a lost
  or cut-off reply, a 5xx other than 503, see :func:`hostsync.http.exchanges`), is raised as
  ``Transient(may_have_applied=True)`` unless the plugin proved it was refused (``Rejected``,
  ``AuthError``);
* anything else propagates to the caller, which fails that record only.

A call that waits before it is sent (its rate-limit token, a pause or ``Retry-After`` the vendor
asked for) is reported as a ``system.waited`` event (see :mod:`hostsync.events`).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

from ..config import RateLimit
from ..errors import AuthError, ConnectorError, RateLimited, Rejected, Transient
from ..events import Event
from ..http import VendorCall, calling, exchanges, pacing
from ..model import Record

T = TypeVar("T")
log = logging.getLogger("hostsync.engine")
#: Waits at least this long (seconds) are logged, besides being shown on a progress display.
LONG_WAIT = 5.0


class SystemHeld(ConnectorError):
    """A call was refused because the system is held after an authentication failure."""

    cause = "held"  # what hostsync.events.failure_cause calls it

    def __init__(self, system: str, reason: str) -> None:
        super().__init__(f"system {system!r} is held: {reason} (fix it, then run `hostsync check {system}`)")
        self.system = system
        self.reason = reason


class Later(Record):
    """A listed record whose own read (``Connector.detail``) the engine makes later, in the
    system's workers: a stub standing for ``read()``, whose result replaces it."""

    __slots__ = ("read",)

    def __init__(self, kind: str, id: str, read: Callable[[], Record | None]) -> None:
        super().__init__(kind, id, {}, partial=True)
        self.read = read


class Stopped(Exception):
    """The run was asked to stop (SIGTERM) while waiting to call or retry."""


class TokenBucket:
    """A thread-safe token bucket: ``rate`` tokens per second, bursts of up to ``burst``."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = limit.per_second
        self.burst = max(1.0, min(float(limit.count), self.rate))
        self.tokens = self.burst
        self.clock = clock
        self.updated = clock()
        self.lock = threading.Lock()

    def reserve(self) -> float:
        """Take a token; return how long to wait before using it."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            self.tokens -= 1.0
            return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class Gate:
    """Per-system admission: at most ``concurrency`` calls at once, at most the rate limit, and one
    at a time until the system's credentials are proven."""

    def __init__(self, concurrency: int, rate_limit: RateLimit | None) -> None:
        self.concurrency = concurrency
        self.slots = threading.BoundedSemaphore(concurrency)
        self.bucket = TokenBucket(rate_limit) if rate_limit else None
        self.held: str | None = None
        self.auth_failures = 0
        #: a call to the system has been accepted in this process: calls may now run in parallel
        self.proven = False
        self.probe = threading.Lock()
        #: the configuration the proof holds for (kept in memory only: it holds secrets)
        self.system: Any = None
        #: monotonic time before which no call starts (the vendor asked for a pause)
        self.paused_until = 0.0

    def configured(self, system: Any) -> None:
        """Calls go with ``system``'s configuration: changed credentials must be proven again."""
        if system != self.system:
            self.system, self.proven = system, False

    def pause(self, seconds: float) -> None:
        """Start no call before ``seconds`` from now (the longest pause asked for wins)."""
        self.paused_until = max(self.paused_until, time.monotonic() + max(0.0, seconds))

    def pause_left(self) -> float:
        return max(0.0, self.paused_until - time.monotonic())


#: Entered instead of a gate's probe once its credentials are proven (until then, one call at a time).
_PROVEN = contextlib.nullcontext()


@dataclass
class RetryPolicy:
    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 300.0

    def delay(self, attempt: int, error: Exception, rng: random.Random) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or ``None`` to give up."""
        if attempt >= self.attempts:
            return None
        if isinstance(error, RateLimited) and error.retry_after is not None:
            if error.retry_after > self.max_retry_after:
                return None
            return error.retry_after + rng.uniform(0, min(1.0, self.base))
        return rng.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))


class Caller:
    """Makes connector calls on behalf of a run (thread-safe)."""

    def __init__(self, gates: dict[str, Gate], stop: threading.Event, policy: RetryPolicy | None = None,
                 sleep: Callable[[float], Any] | None = None, seed: int | None = None,
                 emit: Callable[[Event], None] | None = None,
                 on_request: Callable[[VendorCall], None] | None = None) -> None:
        """:param emit: takes the ``system.waited`` events (in the thread that waits).
        :param on_request: told of every HTTP request a call makes, when it ends (in the thread
            that made it; see :class:`hostsync.http.calling`)."""
        self.gates = gates
        self.emit = emit
        self.on_request = on_request
        self.stop = stop
        self.policy = policy or RetryPolicy()
        self.rng = random.Random(seed)
        self._sleep = sleep or (lambda seconds: self.stop.wait(seconds))
        #: told what a call is about to wait for: (system, seconds, why), from the waiting thread
        self.on_wait: Callable[[str, float, str], None] | None = None
        self._told: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        #: (system, reason) of holds taken during this run, for the run to persist.
        self.new_holds: list[tuple[str, str]] = []

    def wait(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds)
        if self.stop.is_set():
            raise Stopped()

    def held(self, system: str) -> str | None:
        return self.gates[system].held

    def call(self, system: str, function: Callable[..., T], *args: Any, write: bool = False,
             retry_applied: bool = True, retry: bool = True, operation: str | None = None) -> T:
        """Call ``function(*args)`` against ``system`` under its gate, with the retry policy.

        :param write: the call changes the vendor (counted as a write; its outcome may be unknown).
        :param retry_applied: retry even when the write may have been applied (true for idempotent
            writes such as updates; false for creates, whose unknown outcome the engine settles).
        :param retry: retry transient failures at all (false: one attempt).
        :param operation: the connector operation it is (default: the function's name, a
            connector method's), for the ``-vv`` lines and ``vendor.call`` events of its requests.
        """
        gate = self.gates[system]
        operation = operation or getattr(function, "__name__", "call").lstrip("_")
        attempt = 0
        while True:
            attempt += 1
            if gate.held:
                raise SystemHeld(system, gate.held)
            try:
                with gate.slots, (_PROVEN if gate.proven else gate.probe):
                    self._turn(system, gate, self.wait)
                    if gate.held:
                        raise SystemHeld(system, gate.held)
                    self._count(system, write)
                    with calling(system, operation, self.on_request):
                        result = self._inside(system, gate, function, args, write)
                gate.proven = True
                return result
            except AuthError as exc:
                self.note_auth_failure(system, exc)
                raise
            except Rejected:
                gate.proven = True  # refused for what it is: the credentials were accepted
                raise
            except Transient as exc:
                if exc.may_have_applied and not retry_applied:
                    raise
                delay = self.policy.delay(attempt, exc, self.rng) if retry else None
                if delay is None:
                    raise
                self._waiting(system, delay, "vendor" if isinstance(exc, RateLimited) else "retry",
                              f"retrying after: {exc}")
                self.wait(delay)

    def request(self, system: str, function: Callable[..., T], *args: Any, retry: bool = True,
                on_error: Callable[[ConnectorError], T] | None = None) -> T:
        """One read request a connector makes on its own (a page of a listing, see
        :meth:`hostsync.connector.Connector.fetch`): through the gate and retried in place, unless
        this thread is already inside a call to a vendor (which the gate has admitted: then a plain
        call, whose errors are that call's).

        :param on_error: outside any other call, what a failure of this request becomes instead
            (a listed record's own read becomes a stub, see ``Connector.detail``); it may re-raise.
        """
        if getattr(self._local, "inside", False):
            return function(*args)
        if on_error is None:
            return self.call(system, function, *args, retry=retry, operation="list")
        try:
            return self.call(system, function, *args, retry=retry, operation="list")
        except SystemHeld:
            raise
        except ConnectorError as exc:
            return on_error(exc)

    @contextlib.contextmanager
    def deferring(self, system: str, kind: str) -> Iterator[None]:
        """While this thread lists ``system``'s ``kind`` records: their own reads become
        :class:`Later` placeholders (see :meth:`defer`)."""
        previous = getattr(self._local, "deferring", None)
        self._local.deferring = (system, kind)
        try:
            yield
        finally:
            self._local.deferring = previous

    def defer(self, system: str, kind: str, id: str, read: Callable[[], Record | None]) -> Later | None:
        """A placeholder for a listed record's own read, if this thread is listing ``system``'s
        ``kind`` records for the engine (else ``None``: the read is made now)."""
        if getattr(self._local, "inside", False) or getattr(self._local, "deferring", None) != (system, kind):
            return None
        return Later(kind, id, read)

    def _inside(self, system: str, gate: Gate, function: Callable[..., T], args: tuple[Any, ...], write: bool) -> T:
        """Run the call, marked as inside one, each request after its first paced; a failed write
        after an exchange the vendor may have acted on is an unknown outcome, whatever the plugin
        made of the reply."""
        self._local.inside = True
        first = [True]  # the call's own turn pays for its first request

        def before() -> None:
            if first[0]:
                first[0] = False
            else:
                self._pace(system, gate)

        try:
            if not write:
                with pacing(before):
                    return function(*args)
            with pacing(before), exchanges() as seen:
                return function(*args)
        except (AuthError, Rejected):
            raise  # the vendor refused it: nothing was applied
        except Exception as exc:
            unsure = next((e.unsure for e in seen if e.unsure), None) if write else None
            if unsure is None or (isinstance(exc, Transient) and exc.may_have_applied):
                raise
            raise Transient(f"{exc} (after {unsure}: the vendor may have applied it)", may_have_applied=True) from exc
        finally:
            self._local.inside = False

    def _turn(self, system: str, gate: Gate, wait: Callable[[float], Any]) -> None:
        """Wait for any pause, a token of the rate limit, then any pause asked for meanwhile (a
        reply of another worker that spent the vendor's window); say what is waited for, and why."""
        paused = gate.pause_left()
        self._waiting(system, paused, "vendor")
        wait(paused)
        if gate.bucket:
            limited = gate.bucket.reserve()
            self._waiting(system, limited, "rate_limit")
            wait(limited)
            again = gate.pause_left()
            self._waiting(system, again, "vendor")
            wait(again)

    def _pace(self, system: str, gate: Gate) -> None:
        """A further request of a call under way waits its turn too; never :class:`Stopped`: the
        operation is under way (a stop cuts the wait short)."""
        self._turn(system, gate, lambda seconds: self._sleep(seconds) if seconds > 0 else None)

    def _waiting(self, system: str, seconds: float, why: str, text: str | None = None) -> None:
        """A call to ``system`` is about to wait ``seconds`` (``why``: ``rate_limit``, ``vendor`` or
        ``retry``): a ``system.waited`` event for the first two, ``on_wait`` (a progress display)
        for a wait of a second or more, the log for a long one (once per system while it lasts)."""
        if seconds <= 0:
            return
        if why != "retry" and self.emit is not None:
            self.emit(Event("system.waited", system=system, detail={"seconds": seconds, "why": why}))
        if seconds < 1.0:
            return
        if text is None:
            gate = self.gates[system]
            text = (f"its rate_limit ({gate.bucket.rate * 60:g}/min)" if why == "rate_limit" and gate.bucket
                    else "the vendor asked for a pause (Retry-After)")
        if self.on_wait is not None:
            self.on_wait(system, seconds, text)
        now = time.monotonic()
        if seconds >= LONG_WAIT and self._told.get(system, 0.0) <= now:
            self._told[system] = now + seconds
            log.info("waiting %.0f s before calling %s again: %s", seconds, system, text)

    def note_auth_failure(self, system: str, error: AuthError) -> None:
        """Hold ``system`` now: no call after this one, from any thread."""
        gate = self.gates[system]
        with self._lock:
            gate.auth_failures += 1
            if not gate.held:
                gate.held = str(error)
                self.new_holds.append((system, str(error)))

    def _count(self, system: str, write: bool) -> None:
        key = f"{system}:{'write' if write else 'read'}"
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + 1

    def writes(self, system: str | None = None) -> int:
        return sum(n for key, n in self.counts.items()
                   if key.endswith(":write") and (system is None or key.startswith(f"{system}:")))
