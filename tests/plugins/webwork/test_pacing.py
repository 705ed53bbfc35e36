"""60 requests a minute: the engine's token bucket at the connector's default rate, counting every
request (a call's own and each further one it makes), never exceeds it in any minute and uses at
least 95 % of it. Pure arithmetic on a fake clock, through the core's Caller."""

from __future__ import annotations

import random
import threading

import httpx
import pytest

from hostsync.config import parse_rate
from hostsync.engine.calls import Caller, Gate, TokenBucket
from hostsync.http import build_client
from hostsync_webwork.client import parse_limit
from hostsync_webwork.connector import WebWorkConnector

VENDOR = 60  # requests per minute per user


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


def most_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def saturated(reserve, clock: FakeClock, calls: int, jitter: random.Random | None = None) -> list[float]:
    """Send times of ``calls`` callers that always want to go now (waits included)."""
    sent = []
    for _ in range(calls):
        clock.now += jitter.uniform(0, 0.3) if jitter else 0.0  # work between calls
        clock.now += reserve()
        sent.append(clock.now)
    return sent


def bucket_sends(rate: str, calls: int = 600) -> list[float]:
    clock = FakeClock()
    bucket = TokenBucket(parse_rate(rate), clock=clock)
    return saturated(bucket.reserve, clock, calls)


def test_the_default_rate_limit_never_exceeds_sixty_a_minute_and_uses_95_percent() -> None:
    sent = bucket_sends(WebWorkConnector.default_rate_limit)
    assert most_in_any_window(sent, 60.0) <= VENDOR - 1
    rng = random.Random(1)  # up to a second between our clock and the server's, either way
    for _ in range(20):
        assert most_in_any_window([t + rng.uniform(-0.5, 0.5) for t in sent], 60.0) <= VENDOR
    achieved = (len(sent) - 1) / (sent[-1] - sent[0]) * 60
    assert achieved >= 0.95 * VENDOR


def test_the_property_catches_a_rate_that_would_break_the_limit() -> None:
    """Not vacuous: at 60/min (a burst of one, then one a second) a little jitter makes 61 in a minute."""
    sent = bucket_sends("60/min")
    rng = random.Random(1)
    assert any(most_in_any_window([t + rng.uniform(-0.5, 0.5) for t in sent], 60.0) > VENDOR for _ in range(20))


@pytest.mark.parametrize("seed", range(5))
def test_every_request_counts_for_any_mix_of_operations(seed: int) -> None:
    """List pages (a call each), updates that read first (two requests in one call) and idle gaps:
    every request WebWork sees took a token of the default rate limit, so no minute holds more than
    59, and one second of arrival jitter at the server still keeps any minute at 60 or fewer."""
    rng = random.Random(seed)
    clock = FakeClock()
    gate = Gate(1, parse_rate(WebWorkConnector.default_rate_limit))
    gate.bucket = TokenBucket(parse_rate(WebWorkConnector.default_rate_limit), clock=clock)
    caller = Caller({"webwork": gate}, threading.Event(), sleep=clock.sleep)
    sent: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(clock.now)
        return httpx.Response(200, json={})

    http = build_client({"http_transport": httpx.MockTransport(answer)}, base_url="https://webwork.test")
    for _ in range(300):
        if rng.random() < 0.05:
            clock.now += rng.uniform(0, 90)
        requests = rng.choice((1, 1, 2, 3))  # a page; an update reading first; a find over two pages
        caller.call("webwork", lambda: [http.get("/") for _ in range(requests)])
    assert len(sent) > 500
    assert most_in_any_window(sent, 60.0) <= VENDOR - 1
    arrived = [t + rng.uniform(0, 1.0) for t in sent]
    assert most_in_any_window(arrived, 60.0) <= VENDOR


def test_limits_parse_as_rate_limits_or_scaled_windows() -> None:
    assert (parse_limit("60/min").count, parse_limit("60/min").period) == (60, 60.0)
    assert (parse_limit("60/6s").count, parse_limit("60/6s").period) == (60, 6.0)
    for bad in ("1/min", "lots", "60/fortnight", "-5/min"):
        with pytest.raises(ValueError, match="bad request limit"):
            parse_limit(bad)
