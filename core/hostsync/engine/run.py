"""One run of one job, top-down: read, plan (references translated), two-way, apply, settle.

The engine thread reads the source in chunks, plans each chunk against the state (links, intents,
conflicts) and hands writes to per-system worker pools; it alone touches the state, committing
outcomes as they arrive. Crash safety rests on three rules:

* an *intent* is committed before a create is sent, and removed in the same transaction that stores
  the link; a leftover intent is resolved with ``find`` before anything is created again;
* a create whose outcome is unknown (a lost reply, a 5xx, a crash) is never sent again until a
  lookup made after the target's settle delay finds nothing, and never in the run that sent it;
* a cursor advances only after every record it covers is settled (written, or queued for retry),
  and never past a record that could not be read.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from ..config import JobConfig
from .actions import Action, Tally
from .apply import Applier
from .context import RunContext
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
        self.two_way = TwoWay(ctx, self.reader, self.planner, self.applier)

    @property
    def tally(self) -> Tally:
        return self.ctx.tally

    def run(self) -> Tally:
        """Read, plan and apply the whole job."""
        ctx = self.ctx
        if ctx.job.deletes == "mirror":
            ctx.state.seen_reset()
        self._recover()                      # creates earlier runs left unknown, once they had time to land
        if ctx.job.two_way:
            self.two_way.run()               # read, plan and apply both sides; conflicts by policy
        else:
            self._one_way()                  # read, plan (references translated) and apply, chunk by chunk
        self.drain()
        if not ctx.stopping:                 # what a full scan no longer saw
            self.applier.dispatch(self.planner.deletes(self.reader.progress))
            self.drain()
        self.applier.finish()                # this run's creates of unknown outcome, if they settle soon
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
                    self.applier.dispatch(planner.plan(chunk, source, target, fields[target]))

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
