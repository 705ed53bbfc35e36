"""What a run tells the log: one line per cause, with a count and the first record ids, not one per record.

A systemic failure (a vendor down, a held system, a setting missing) fails every record for the
same reason; the log says so once per run, with how many and which (the first few; all of them at
``-v``, and always in ``hostsync runs --events``). Outcomes are grouped by what happened (failed,
deferred, unknown), where (the target), the failure's cause (:func:`hostsync.events.failure_cause`)
and the shape of the reason with its ids, numbers and quoted values masked, so "client 3: HTTP 500"
and "client 4: HTTP 500" are one cause. ``-v`` also logs each record's action as it settles.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from ..events import failure_cause
from .actions import Outcome

#: Record ids shown in a cause's line (at ``-v``: all of them).
SHOWN = 5
#: Outcomes told as causes, and the level of their lines.
LEVELS = {"failed": logging.WARNING, "unknown": logging.WARNING, "deferred": logging.INFO}
_MASKS = (re.compile(r"'[^']*'|\"[^\"]*\""), re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), re.compile(r"\d+"))


def shape(reason: str) -> str:
    """``reason`` with quoted values, e-mail addresses and numbers masked: what records failing
    for the same cause share."""
    for mask in _MASKS:
        reason = mask.sub("…", reason)
    return reason


@dataclass
class Cause:
    result: str
    op: str
    target: str
    cause: str
    #: the first record's reason, as an example
    reason: str
    ids: list[str] = field(default_factory=list)


class RunReport:
    """Collects one run's outcomes by cause and logs them once at its end."""

    def __init__(self, job: str, kind: str, log: logging.Logger) -> None:
        self.job = job
        self.kind = kind
        self.log = log
        self.causes: dict[tuple[str, str, str, str, str], Cause] = {}

    def add(self, outcome: Outcome) -> None:
        """Note an outcome (and, at ``-v``, log the record's action now)."""
        action, result = outcome.action, outcome.result
        if self.log.isEnabledFor(logging.DEBUG):
            where = action.target + (f"#{outcome.target_id or action.target_id}"
                                     if outcome.target_id or action.target_id else "")
            self.log.debug("job %s: %s %s %s#%s -> %s: %s%s", self.job, action.op, self.kind, action.source,
                           action.source_id, where, result, f" ({outcome.reason})" if outcome.reason else "")
        if result not in LEVELS:
            return
        reason = outcome.reason or result
        cause = failure_cause(outcome.error) if outcome.error is not None else ""
        key = (result, action.op if action.op == "read" else "write", action.target, cause, shape(reason))
        entry = self.causes.get(key)
        if entry is None:
            entry = self.causes[key] = Cause(result, key[1], action.target, cause, reason)
        entry.ids.append(str(action.source_id))

    def flush(self) -> None:
        """Log one line per cause (most records first), then forget them."""
        every = self.log.isEnabledFor(logging.DEBUG)
        for entry in sorted(self.causes.values(), key=lambda c: (-len(c.ids), c.result, c.target)):
            self.log.log(LEVELS[entry.result], "%s", self.line(entry, every))
        self.causes.clear()

    def line(self, entry: Cause, every: bool = False) -> str:
        n = len(entry.ids)
        records = f"{n} {self.kind} record{'s' if n != 1 else ''}"
        what = {("failed", "read"): f"could not be read from {entry.target}",
                ("failed", "write"): f"failed in {entry.target}",
                ("deferred", "write"): f"deferred for {entry.target}",
                ("unknown", "write"): f"with a create in {entry.target} of unknown outcome"}.get(
            (entry.result, entry.op), f"{entry.result} in {entry.target}")
        shown = entry.ids if every else entry.ids[:SHOWN]
        ids = ", ".join(shown) + (f" and {n - len(shown)} more (all: -v, or `hostsync runs --events`)"
                                  if n > len(shown) else "")
        cause = f" [{entry.cause}]" if entry.cause and entry.cause != "unknown" else ""
        return f"job {self.job}: {records} {what}{cause}: {entry.reason} (ids: {ids})"
