"""What the steps of one run share: the job, the runtime, the tally, and what the run has claimed.

One :class:`RunContext` is made per run (and per dependency run, see :mod:`.refs`); every step
module (read, plan, apply, settle, two-way) takes it instead of reaching into the others.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from ..config import JobConfig
from ..state import State, now
from .actions import Action, Tally
from .calls import SystemHeld
from .runtime import Runtime

log = logging.getLogger("hostsync.engine")


@dataclass
class RunContext:
    rt: Runtime
    job: JobConfig
    dry_run: bool = False
    full: bool = False
    run_id: int | None = None
    #: how deep in dependency syncs this run is (0: the job the operator asked for)
    depth: int = 0
    #: called with every action of a plan (and of a sync, for the CLI's progress)
    on_action: Callable[[Action], None] | None = None
    tally: Tally = field(default_factory=Tally)
    #: when the run started (links synced before it whose record a full scan did not see are gone)
    started: str = field(default_factory=now)
    #: target -> ids of records made or adopted in this run: no one else's to adopt
    claimed: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    #: two-way pairs linked without a common past, to settle once both sides are read: (a id, b id)
    unsettled: list[tuple[str, str]] = field(default_factory=list)
    #: system -> ids of records queued for a retry (``pending``) that this run has not settled yet
    retrying: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    #: for the progress display: records listed, how many the listings announced, actions planned
    read: int = 0
    total: int | None = None
    planned: int = 0
    told: float = float("-inf")

    @property
    def state(self) -> State:
        return self.rt.state

    @property
    def kind(self) -> str:
        return self.job.kind

    @property
    def stopping(self) -> bool:
        return self.rt.stop.is_set()

    def clock(self) -> datetime:
        """The time now (the runtime's clock, which tests move along)."""
        return self.rt.clock()

    def settled_at(self, since: str, target: str) -> datetime:
        """When a create sent to ``target`` whose outcome is unknown since ``since`` (ISO time) has
        had time to land: from then on a lookup that finds nothing means it did not."""
        return datetime.fromisoformat(since) + timedelta(seconds=self.rt.system(target).settle_seconds)

    def pairs(self) -> list[tuple[str, str]]:
        """(system, peer) pairs the job writes in: source to each target, and back when two-way."""
        pairs = [(self.job.source, t) for t in self.job.targets]
        if self.job.two_way:
            pairs.append((self.job.targets[0], self.job.source))
        return pairs

    def unchanged(self, system: str, record_id: str | None) -> None:
        """Count an unchanged pair once (in a two-way job, from the source's side only); a record
        queued for a retry that now reads as in step leaves the queue."""
        if not self.job.two_way or system == self.job.source:
            self.tally.add("unchanged")
        if record_id in self.retrying[system]:
            self.retrying[system].discard(record_id)
            if not self.dry_run:
                self.state.clear_pending(self.job.name, system, [record_id])

    def tell(self, force: bool = False) -> None:
        """Report this run's numbers to the progress display, if there is one (the engine thread), at
        most 20 times a second unless ``force``: called for every record read, it must cost nothing."""
        progress = self.rt.progress
        if progress is None or self.depth:
            return
        now = time.monotonic()
        if not force and now - self.told < 0.05:
            return
        self.told = now
        counts = self.tally.counts
        progress.update(self.job.name, self.read, self.planned,
                        sum(counts.get(k, 0) for k in ("created", "updated", "deleted", "adopted")),
                        counts.get("failed", 0), self.total)

    def require(self, system: str) -> None:
        """Raise :class:`SystemHeld` if ``system`` is held."""
        reason = self.rt.held(system)
        if reason:
            raise SystemHeld(system, reason)

    def usable(self, system: str, quiet: bool = False) -> bool:
        """Whether ``system`` is not held (logging it once, unless ``quiet``)."""
        reason = self.rt.held(system)
        if reason and not quiet:
            log.error("job %s: skipping target %s, which is held: %s", self.job.name, system, reason)
        return reason is None
