"""Keeping every request under WebWork's per-user limit (60 a minute), list pages included.

The engine paces record operations with its token bucket (``rate_limit``, 58/min by default), but
list pages do not pass through it, and one record operation may take two requests (an update reads
first). So the client also keeps its own ceiling over everything it sends: at most ``limit - 1``
requests in any ``period * 61/60`` (59 in any 61 s for 60/min, 58.0/min at most). One request of
headroom and one second of slack absorb the jitter between our clock and the server's, so the
server's window never sees a 61st request from us; ``X-RateLimit-Remaining: 0`` on a good reply
then means someone else spends the same user's budget, and :meth:`Pacer.hold` waits it out.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable

from hostsync.config import RateLimit, parse_duration, parse_rate

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


class Pacer:
    """A sliding-window ceiling over the requests one client sends (thread-safe).

    ``acquire()`` reserves the next send time and sleeps until it; reservations are spaced so that
    no interval of :attr:`window` seconds holds more than :attr:`budget` of them.
    """

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        self.budget = max(1, limit.count - 1)
        self.window = limit.period * 61 / 60
        self.clock = clock
        self.sleep = sleep
        self.sent: deque[float] = deque(maxlen=self.budget)
        self.not_before = 0.0
        self.lock = threading.Lock()

    def reserve(self) -> float:
        """Take the next send slot; return how long to wait before sending."""
        with self.lock:
            now = self.clock()
            at = max(now, self.not_before)
            if len(self.sent) == self.budget:
                at = max(at, self.sent[0] + self.window)
            self.sent.append(at)
            return at - now

    def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            self.sleep(wait)

    def hold(self, seconds: float) -> None:
        """Send nothing for ``seconds`` from now (the server asked; the longest hold wins)."""
        with self.lock:
            self.not_before = max(self.not_before, self.clock() + max(0.0, seconds))
