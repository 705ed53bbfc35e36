"""The blast-radius guard: a run that would delete or change far more than usual in one target stops
before it does.

Per job and target, one run may delete at most ``max_deletes`` and update at most ``max_changes``
records; by default each is 10, or 5 % of the records of the job's kind linked between the two
systems, whichever is larger. An update is any write over a linked record (a change in the source,
a drift repair, a conflict's winner); creates are not counted: they add records and overwrite none.

Where planning must be complete before the first write: deletes are planned only after a complete
full scan, so every one is counted before any is sent. Updates are planned chunk by chunk while the
source is read, and sent as they are planned in an unguarded run; here the guard holds each target's
updates back until the read (and the drift check) is done, then sends them all if they are within
the limit, or none. Holding costs no memory beyond the limit: once a target passes it, its held
updates are dropped, later ones are only counted, and nothing more is sent to it in this run,
creates included (a source that suddenly looks very different is not to be trusted with anything).
Creates already sent stay. A refused target is reported with what the run would have done and how
to allow it, stored as an event (action ``update`` or ``delete``, outcome ``refused``), emitted as
``run.refused``, and the run's status is ``refused``; cursors stay, so the next run plans the same.

A source that lists nothing at all in a complete full scan while the job links records never
deletes them, whatever the count: an emptied or mis-pointed source looks exactly like that.

``sync --allow-mass-change`` lifts the limits (and the hold: updates go out as they are planned).
A plan counts the same way and says what a sync would refuse, listing every action.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Callable

from .actions import WRITES, Action
from .apply import Applier
from .context import RunContext
from .settle import Settler

#: The limits when a job sets none: this many records, or this share of those linked, whichever is larger.
DEFAULT_LIMIT = 10
DEFAULT_SHARE = 0.05
GUARDED = {"update": "max_changes", "delete": "max_deletes"}


class Guard:
    """Holds one run's updates and deletes per target until every one is planned, within limits."""

    def __init__(self, ctx: RunContext, applier: Applier, settler: Settler,
                 send_deletes: Callable[[list[Action]], None]) -> None:
        """:param send_deletes: sends deletes (children first, see :mod:`.cascade`)."""
        self.ctx = ctx
        self.applier = applier
        self.settler = settler
        self.send_deletes = send_deletes
        self.armed = False
        self.held: dict[str, list[Action]] = defaultdict(list)
        self.counts: dict[tuple[str, str], int] = defaultdict(int)
        self.limits: dict[tuple[str, str], tuple[int, str]] = {}
        #: target -> {op: why} for each refusal (why is filled in at the end of the run)
        self.refused: dict[str, dict[str, str]] = {}
        #: target -> the source that listed nothing
        self.empty: dict[str, str] = {}

    # -- the run ------------------------------------------------------------------------------

    def __enter__(self) -> "Guard":
        self.armed = not self.ctx.rt.allow_mass_change
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        """Send what was held and record the refusals. After an error or a stop only updates go
        (what was read is synced); a plan shows everything, refused or not."""
        self.armed = False
        complete = kind is None and not self.ctx.stopping
        for target, actions in list(self.held.items()):
            del self.held[target]
            if target in self.refused and not self.ctx.dry_run:
                continue
            if not self.ctx.stopping:
                self.applier.dispatch([a for a in actions if a.op != "delete"])
            deletes = [a for a in actions if a.op == "delete"]
            if deletes and complete:
                self.send_deletes(deletes)
        self._report()

    def dispatch(self, actions: list[Action]) -> None:
        """Send ``actions`` now, except guarded ones (held and counted) and writes to a refused target."""
        if not self.armed:
            self._send(actions)
            return
        now = []
        for action in actions:
            target = action.target
            if action.op in GUARDED:
                self.counts[(target, action.op)] += 1
                if self.counts[(target, action.op)] > self.limit(target, action.op)[0]:
                    self.refuse(target, action.op)
                if target not in self.refused or self.ctx.dry_run:
                    self.held[target].append(action)
            elif target in self.refused and action.op in WRITES and not self.ctx.dry_run:
                continue  # never sent; the next run plans it again
            else:
                now.append(action)
        self._send(now)

    def _send(self, actions: list[Action]) -> None:
        self.applier.dispatch([a for a in actions if a.op != "delete"])
        deletes = [a for a in actions if a.op == "delete"]
        if deletes:
            self.send_deletes(deletes)

    def drain(self, block: bool = True, everything: bool = False) -> None:
        self.applier.drain(block, everything)

    def held_updates(self, target: str) -> set[str]:
        """Source ids with an update held for ``target``."""
        return {a.source_id or "" for a in self.held.get(target, ()) if a.op == "update"}

    # -- limits and refusals ------------------------------------------------------------------

    def limit(self, target: str, op: str) -> tuple[int, str]:
        """How many ``op`` the run may make in ``target``, and where that number comes from."""
        key = (target, op)
        if key not in self.limits:
            job = self.ctx.job
            setting = GUARDED[op]
            configured = getattr(job, setting)
            if configured is not None:
                self.limits[key] = (configured, f"{setting} = {configured}")
            else:
                other = job.source if target != job.source else job.targets[0]
                linked = self.ctx.state.count_links_between(self.ctx.kind, other, target)
                self.limits[key] = (max(DEFAULT_LIMIT, math.floor(linked * DEFAULT_SHARE)),
                                    f"{DEFAULT_LIMIT} or {DEFAULT_SHARE:.0%} of the {linked} linked, whichever is "
                                    f"larger; set {setting} for job {job.name} to change it")
        return self.limits[key]

    def refuse(self, target: str, op: str) -> None:
        """Refuse ``target`` for the rest of the run (a plan keeps listing what it would do)."""
        self.refused.setdefault(target, {}).setdefault(op, "")
        if not self.ctx.dry_run:
            self.held.pop(target, None)

    def empty_source(self, source: str, target: str) -> None:
        """``source`` listed nothing at all while records of it are linked in ``target``: never delete them."""
        if not self.armed:
            return
        self.empty[target] = source
        self.refuse(target, "delete")

    @property
    def reasons(self) -> list[str]:
        """Why the run refused, one line per target and action."""
        return [why for refusals in self.refused.values() for why in refusals.values()]

    def _report(self) -> None:
        ctx, job = self.ctx, self.ctx.job
        for target, refusals in self.refused.items():
            for op, why in refusals.items():
                if why:
                    continue
                count = self.counts[(target, op)]
                limit, source = self.limit(target, op)
                noun = f"{ctx.kind}{'' if count == 1 else 's'}"
                if op == "delete" and target in self.empty:
                    what = (f"{self.empty[target]} listed no {ctx.kind} at all (emptied, or pointed at another "
                            f"system?): not deleting the {count} {noun} linked in {target}")
                else:
                    what = f"would {op} {count} {noun} in {target}, more than the limit of {limit} ({source})"
                done = "a sync would send" if ctx.dry_run else "sent"
                why = (f"{what}; no {op} {done} to {target}, nor anything else once this was known. If that is "
                       f"what you want: hostsync sync {job.name} --allow-mass-change")
                refusals[op] = why
                self.settler.refused(target, op, why, {"count": count, "limit": limit})
