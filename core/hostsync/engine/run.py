"""One run of one job, top-down: read, plan (references translated), two-way, drift, guard, apply, settle.

The engine thread reads the source in chunks, plans each chunk against the state (links, intents,
conflicts) and hands writes to per-system worker pools; it alone touches the state, committing
outcomes as they arrive. Crash safety rests on three rules:

* an *intent* is committed before a create is sent, and removed in the same transaction that stores
  the link; a leftover intent is resolved with ``find`` before anything is created again;
* a create whose outcome is unknown (a lost reply, a 5xx, a crash) is never sent again until a
  lookup made after the target's settle delay finds nothing, and never in the run that sent it;
* a cursor advances only after every record it covers is settled (written, or queued for retry),
  and never past a record that could not be read, nor when the guard refused writes.

Updates and deletes go through the blast-radius guard (:mod:`.guard`), which holds them until the
run has planned them all; deletes go children first (:mod:`.cascade`); a full scan of a one-way job
checks its targets for drift (:mod:`.drift`).
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from ..config import JobConfig
from .actions import Action, Tally
from .apply import Applier
from .cascade import Cascade
from .context import RunContext
from .drift import DriftCheck
from .guard import Guard
from .plan import Planner
from .read import Reader
from .refs import RefTranslator
from .runtime import Runtime
from .settle import Settler
from .twoway import TwoWay

log = logging.getLogger("hostsync.engine")


class JobRun:
    """Runs (or, with ``dry_run``, plans) one job. Create one per run; not reusable."""

    def __init__(self, rt: Runtime, job: JobConfig, *, dry_run: bool = False, full: bool = False,
                 run_id: int | None = None, depth: int = 0,
                 on_action: Callable[[Action], None] | None = None) -> None:
        self.ctx = ctx = RunContext(rt, job, dry_run, full, run_id, depth, on_action)
        self.settler = Settler(ctx)
        self.planner = Planner(ctx, RefTranslator(ctx, self._sync_dependency))
        self.applier = Applier(ctx, self.planner, self.settler)
        self.reader = Reader(ctx, report=self.settler.now)
        self.cascade = Cascade(ctx, self.applier.dispatch, self.settler, self._child_run)
        self.guard = Guard(ctx, self.applier, self.settler, send_deletes=self.cascade.send)
        self.two_way = TwoWay(ctx, self.reader, self.planner, self.guard)
        self.drift = DriftCheck(ctx, self.reader, self.planner, self.settler)

    @property
    def tally(self) -> Tally:
        return self.ctx.tally

    @property
    def refusals(self) -> list[str]:
        """Why the guard kept this run (or a run of a child job it started) from writing."""
        return self.guard.reasons + self.cascade.refusals

    def run(self) -> Tally:
        """Read, plan and apply the whole job."""
        ctx = self.ctx
        if ctx.job.deletes == "mirror":
            ctx.state.seen_reset()
        self._recover()                      # creates earlier runs left unknown, once they had time to land
        with self.guard:                     # updates and deletes held until all are planned, within limits
            if ctx.job.two_way:
                self.two_way.run()           # read, plan and apply both sides; conflicts by policy
            else:
                self._one_way()              # read, plan (references translated) and apply, chunk by chunk
            self.drain()
            if not ctx.stopping and not ctx.job.two_way:  # what the targets hold now (unless refused already)
                targets = [t for t in ctx.job.targets if t not in self.guard.refused]
                self.guard.dispatch(self.drift.run(targets, self.guard.held_updates))
            if not ctx.stopping:             # what a full scan no longer saw
                self.guard.dispatch(self._deletes())
        self.drain()
        self.applier.finish()                # this run's creates of unknown outcome, if they settle soon
        if not self.refusals:                # refused writes are planned again by the next run
            self.settler.cursors(self.reader.progress)
        return ctx.tally

    def _one_way(self) -> None:
        ctx, planner = self.ctx, self.planner
        source = ctx.job.source
        ctx.require(source)
        targets = [t for t in ctx.job.targets if ctx.usable(t)]
        fields = {t: planner.fields(source, t) for t in targets}
        for chunk in self.reader.chunks(source, targets):
            for target in targets:
                if ctx.usable(target, quiet=True):
                    self.guard.dispatch(planner.plan(chunk, source, target, fields[target]))

    def _deletes(self) -> list[Action]:
        """Deletes of what a complete full scan no longer saw; none from a source that listed nothing."""
        ctx = self.ctx
        actions = self.planner.deletes(self.reader.progress)
        for system, peer in ctx.pairs():
            if any(a.source == system and a.target == peer for a in actions) and \
                    not ctx.state.count_seen(ctx.kind, system):
                self.guard.empty_source(system, peer)
        return actions

    def delete(self, actions: list[Action]) -> list[str]:
        """Delete these linked records now (children of records another job deletes), children
        first and within this job's limits; return why it refused, if it did."""
        with self.guard:
            self.guard.dispatch(actions)
        self.drain()
        return self.refusals

    def _child_run(self, job: JobConfig) -> "JobRun":
        """A run of ``job`` (a child kind's) within this one: same run id, tally merged."""
        ctx = self.ctx
        sub = JobRun(ctx.rt, job, dry_run=ctx.dry_run, run_id=ctx.run_id, depth=ctx.depth + 1,
                     on_action=ctx.on_action)
        sub.ctx.tally = ctx.tally
        return sub

    def _recover(self) -> None:
        """Settle creates earlier runs left unconfirmed (their outcome was unknown, or the run died
        between sending and recording them) before reading anything, once they have had time to
        land, so their records are known as linked when the scan meets them. Those that may still
        land wait: the scan plans them as such."""
        ctx = self.ctx
        now = ctx.clock()
        for system, peer in ctx.pairs():
            intents = ctx.state.intents(ctx.kind, system, peer)
            linked = ctx.state.links(ctx.kind, system, sorted(intents), peer)
            if linked and not ctx.dry_run:  # recorded after all; the intent is stale
                ctx.state.delete_intents(ctx.kind, system, peer, linked)
            ids = sorted(i for i, intent in intents.items()
                         if i not in linked and ctx.settled_at(intent.since, peer) <= now)
            if not ids or ctx.rt.held(system) or ctx.rt.held(peer) or "get" not in ctx.rt.ops(system, ctx.kind):
                continue
            log.log(logging.DEBUG if ctx.dry_run else logging.INFO, "job %s: reconciling %d unconfirmed create(s) "
                    "from %s in %s", ctx.job.name, len(ids), system, peer)
            self.reader.seen(system, ids)  # the scan need not plan them again
            self.sync_ids(system, ids, peer)

    def sync_ids(self, system: str, ids: list[str], peer: str) -> None:
        """Sync just these records of ``system`` into ``peer`` now (a dependency of another job)."""
        ctx = self.ctx
        fields = self.planner.fields(system, peer)
        connector = ctx.rt.connector(system)
        records = []
        for record_id in ids:
            raw = ctx.rt.caller.call(system, connector.get, ctx.kind, record_id)
            record = self.reader.prepare(raw, system) if raw else None
            if record:
                records.append(record)
            elif raw is None and not ctx.dry_run:  # gone from the source: nothing left to create
                ctx.state.delete_intents(ctx.kind, system, peer, [record_id])
        if records:
            self.applier.dispatch(self.planner.plan(records, system, peer, fields))
        self.drain()

    def _sync_dependency(self, job: JobConfig, source: str, ids: list[str], target: str) -> None:
        """A referenced record is synced first, by a run of its own job."""
        ctx = self.ctx
        sub = JobRun(ctx.rt, job, run_id=ctx.run_id, depth=ctx.depth + 1)
        sub.sync_ids(source, ids, target)
        sub.settler.report.flush()
        ctx.tally.merge(sub.tally)

    def resolve(self, conflict: dict[str, Any], use: str) -> None:
        """Write the chosen side of a two-way conflict to the other side, then close the conflict."""
        self.two_way.resolve(conflict, use)

    def drain(self) -> None:
        """Wait for every write in flight and settle it."""
        self.applier.drain(everything=True)
