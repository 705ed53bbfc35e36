"""Which member-days to read for time entries, and what the tracked-hours report says about them.

WebWork lists time entries only for one member on one date, so a sync walks the days of a window
for every member. The window runs from the day of ``since`` (the job's cursor minus its overlap)
-- or, without one, ``lookback_days`` back -- to today, in the workspace's time zone. The
tracked-hours report (minutes per day and member, at most 31 days a call) says which member-days
have anything, so empty ones cost no call.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Iterator, Mapping

from hostsync.errors import ProtocolError

#: The longest range the tracked-hours report is asked for at once (its limit with ``user_id``).
REPORT_DAYS = 31


def window(since: datetime | None, today: date, tz: tzinfo, lookback_days: int) -> tuple[date, date]:
    """First and last day to read (inclusive)."""
    if since is None:
        first = today - timedelta(days=max(lookback_days, 1) - 1)
    else:
        first = min(since.astimezone(tz).date(), today)
    return first, today


def days(first: date, last: date) -> Iterator[date]:
    for n in range((last - first).days + 1):
        yield first + timedelta(days=n)


def chunks(first: date, last: date, size: int = REPORT_DAYS) -> Iterator[tuple[date, date]]:
    """The window in report-sized ranges."""
    start = first
    while start <= last:
        end = min(last, start + timedelta(days=size - 1))
        yield start, end
        start = end + timedelta(days=1)


def busy_days(data: Any, what: str) -> set[tuple[str, str]]:
    """(user id, ISO date) pairs the tracked-hours report shows minutes for.

    The report groups by date (the date as key) with a ``users`` list inside each; the key that
    holds the dates is taken from ``days`` or ``data``, else the reply's own date keys.
    """
    if not isinstance(data, Mapping):
        raise ProtocolError(f"{what}: expected an object in 'data', got {type(data).__name__}")
    by_date = data.get("days", data.get("data", data))
    if isinstance(by_date, list):  # a PHP array of no dates comes back as []
        if by_date:
            raise ProtocolError(f"{what}: expected the days keyed by date, got a list")
        by_date = {}
    if not isinstance(by_date, Mapping):
        raise ProtocolError(f"{what}: expected the days keyed by date, got {type(by_date).__name__}")
    out: set[tuple[str, str]] = set()
    for key, entry in by_date.items():
        try:
            on = date.fromisoformat(str(key)).isoformat()
        except ValueError:
            continue  # report_type, start_date, total ...
        users = entry.get("users") if isinstance(entry, Mapping) else entry
        if not isinstance(users, list):
            raise ProtocolError(f"{what}: day {on} has no 'users' list")
        for user in users:
            if not isinstance(user, Mapping) or user.get("user_id") is None:
                raise ProtocolError(f"{what}: day {on} lists a user without user_id")
            if _minutes(user.get("total_minutes"), what) > 0:
                out.add((str(user["user_id"]), on))
    return out


def _minutes(value: Any, what: str) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        raise ProtocolError(f"{what}: total_minutes is not a number") from None
