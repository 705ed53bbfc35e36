"""60 requests a minute: the engine's token bucket at the connector's default rate and the client's own
ceiling never exceed it in any minute, and use at least 95 % of it. Pure arithmetic on a fake clock."""

from __future__ import annotations

import random

import pytest

from hostsync.config import parse_rate
from hostsync.engine.calls import TokenBucket
from hostsync_webwork.connector import WebWorkConnector
from hostsync_webwork.pacing import Pacer, parse_limit

VENDOR = 60  # requests per minute per user


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


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
def test_the_client_ceiling_holds_for_any_mix_of_requests(seed: int) -> None:
    rng = random.Random(seed)
    clock = FakeClock()
    pacer = Pacer(parse_limit("60/min"), clock=clock)
    sent = []
    for _ in range(500):  # bursts of list pages and idle gaps
        if rng.random() < 0.05:
            clock.now += rng.uniform(0, 90)
        clock.now += pacer.reserve()
        sent.append(clock.now)
    assert most_in_any_window(sent, 60.0) <= VENDOR - 1
    # one second of arrival jitter at the server still keeps any minute at 60 or fewer
    arrived = [t + rng.uniform(0, 1.0) for t in sent]
    assert most_in_any_window(arrived, 60.0) <= VENDOR


def test_the_client_ceiling_uses_at_least_95_percent_of_the_limit() -> None:
    clock = FakeClock()
    pacer = Pacer(parse_limit("60/min"), clock=clock)
    sent = saturated(pacer.reserve, clock, 600)
    achieved = (len(sent) - 1) / (sent[-1] - sent[0]) * 60
    assert 0.95 * VENDOR <= achieved < VENDOR


def test_a_hold_delays_every_later_request() -> None:
    clock = FakeClock()
    pacer = Pacer(parse_limit("60/min"), clock=clock)
    pacer.hold(30)
    assert pacer.reserve() == pytest.approx(30)
    assert pacer.reserve() == pytest.approx(30)  # both wait for the window to reset, then go


def test_limits_parse_as_rate_limits_or_scaled_windows() -> None:
    assert (parse_limit("60/min").count, parse_limit("60/min").period) == (60, 60.0)
    assert (parse_limit("60/6s").count, parse_limit("60/6s").period) == (60, 6.0)
    for bad in ("1/min", "lots", "60/fortnight", "-5/min"):
        with pytest.raises(ValueError, match="bad request limit"):
            parse_limit(bad)
