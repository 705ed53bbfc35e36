"""The last step, settling: what the outcomes of a run leave in the state, and what a plan reports.

Each outcome is counted and stored in one transaction per batch: the link (with the hashes and
values now synced) and the removal of its intent and retry entry; a deleted link; a new conflict;
a record queued for retry; an event per change. Cursors advance only once the run is done and every
record they cover is settled (written, or queued for retry).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

from ..events import Event, failure_cause
from ..state import Link, State, now
from .actions import Action, Outcome
from .context import RunContext, log
from .read import Progress
from .report import RunReport

#: The counter a planned action shows as in a plan.
PLANNED = {"create": "created", "update": "updated", "delete": "deleted", "adopt": "adopted",
           "reconcile": "created", "defer": "deferred", "conflict": "conflicts", "relink": "unchanged",
           "read": "failed", "fail": "failed", "settle": "adopted", "lookup": "created", "wait": "unknown",
           "drift": "drift"}


class Settler:
    """Records the outcomes of one run."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.kind = ctx.kind
        #: what the log is told at the end of the run: one line per cause (see :mod:`.report`)
        self.report = RunReport(ctx.job.name, ctx.kind, log)

    def planned(self, action: Action) -> None:
        """Count (and report) what a plan would do."""
        self.ctx.tally.add(PLANNED[action.op])
        if self.ctx.on_action:
            self.ctx.on_action(action)

    def now(self, outcome: Outcome) -> None:
        """Record one outcome at once (in a plan: report its action)."""
        if self.ctx.dry_run:
            self.planned(outcome.action)
            return
        self.record([outcome])

    def record(self, outcomes: list[Outcome]) -> None:
        """Store ``outcomes`` in one transaction."""
        if not outcomes:
            return
        batch = _Batch()
        with self.ctx.state.atomic():
            for outcome in outcomes:
                self._record(outcome, batch)
            batch.flush(self.ctx.state, self.ctx.job.name, self.kind)
        self.ctx.tell()

    def _link(self, action: Action, target_id: str | None) -> Link:
        previous = action.link
        return Link(self.kind, action.source, action.source_id or "", action.target, target_id or "",
                    action.hash or "", json.dumps(action.values, sort_keys=True, default=str),
                    action.version, previous.peer_version if previous else None, self.ctx.job.name, now(),
                    action.peer_hash if action.peer_hash is not None else action.hash)

    def _record(self, outcome: Outcome, batch: "_Batch") -> None:
        """Store one outcome (inside the caller's transaction, bulk writes through ``batch``) and count it."""
        ctx = self.ctx
        action, result = outcome.action, outcome.result
        state = ctx.state
        if result == "stopped":  # never sent, nothing to count (a create's intent goes: nothing was made)
            if outcome.created_nothing:
                batch.dropped.append((action.source, action.target, action.source_id or ""))
            return
        if not action.resend:  # a create of this run looked up again: counted as unknown when it was sent
            ctx.tally.add("unknown", -1)
        ctx.tally.add(result)
        if result in ("created", "updated", "adopted") or (result == "unchanged" and action.op == "relink"):
            batch.links.append(self._link(action, outcome.target_id))
            if action.op == "settle":
                a_side = action.source == ctx.job.source
                pair = (action.source_id, outcome.target_id) if a_side else (outcome.target_id, action.source_id)
                ctx.unsettled.append(pair)  # type: ignore[arg-type]
            batch.done.append((action.source, action.target, action.source_id or ""))
            if action.conflict_id:
                state.close_conflict(action.conflict_id)
        elif result == "deleted":
            if action.link:
                state.delete_link(action.link)
        elif result == "conflicts" and action.theirs_hash and action.link:
            differing = action.changes or action.values or {}  # only the fields that differ for real
            conflict_id = state.add_conflict(ctx.job.name, self.kind, action.link,
                                             {k: v for k, v in (action.values or {}).items() if k in differing},
                                             {k: v for k, v in (action.theirs or {}).items() if k in differing},
                                             action.hash or "", action.theirs_hash)
            outcome.reason = f"{outcome.reason} (conflict #{conflict_id})"
        elif result == "unknown":  # its intent stays: looked up once the create had time to land
            if action.op in ("create", "lookup"):  # just sent: the settle delay counts from now
                batch.unknown.append((action.source, action.target, action.source_id or "", action.unknown_at or ""))
        elif result in ("failed", "deferred"):
            if outcome.link is False and action.link:
                state.delete_link(action.link)
            if outcome.created_nothing:  # the vendor refused the create: nothing to reconcile later
                batch.dropped.append((action.source, action.target, action.source_id or ""))
            if action.source_id and action.op != "delete":
                state.add_pending(ctx.job.name, action.source, action.source_id, outcome.reason or result)
        if result != "unchanged":
            batch.events.append({
                "run_id": ctx.run_id, "job": ctx.job.name, "kind": self.kind, "system": action.source,
                "record_id": action.source_id, "target": action.target, "target_id": outcome.target_id or action.target_id,
                "action": action.op, "outcome": result, "reason": outcome.reason,
                "fields": sorted(action.changes) if action.changes else None})
            self.report.add(outcome)
            detail = {"target": action.target, "action": action.op, "reason": outcome.reason,
                      "fields": sorted(action.changes)}
            if result == "failed":
                detail["cause"] = failure_cause(outcome.error)
            ctx.rt.emit(Event(f"record.{result}", job=ctx.job.name, run_id=ctx.run_id, system=action.source,
                              kind=self.kind, record_id=action.source_id, target_id=outcome.target_id, detail=detail))

    def drift(self, action: Action, repaired: bool) -> None:
        """Count and record a drift found by a full scan: ``action`` (op ``drift``) names the pair, its
        ``changes`` each field that differs as (found in the target, expected: what hostsync wrote, as
        the target keeps it), or ``{}`` when the record is gone from the target. In a plan, a drift
        only reported is shown as its action (one repaired shows as the update that puts it back)."""
        ctx = self.ctx
        ctx.tally.add("drift")
        if ctx.dry_run:
            if not repaired and ctx.on_action:
                ctx.on_action(action)
            return
        changes = {name: {"found": found, "expected": expected} for name, (found, expected) in action.changes.items()}
        with ctx.state.atomic():
            ctx.state.add_events([{
                "run_id": ctx.run_id, "job": ctx.job.name, "kind": self.kind, "system": action.source,
                "record_id": action.source_id, "target": action.target, "target_id": action.target_id,
                "action": "drift", "outcome": "repaired" if repaired else "reported", "reason": action.reason,
                "fields": sorted(changes) or None, "detail": {"changes": changes} if changes else {"gone": True}}])
        ctx.rt.emit(Event("record.drift", job=ctx.job.name, run_id=ctx.run_id, system=action.source, kind=self.kind,
                          record_id=action.source_id, target_id=action.target_id,
                          detail={"target": action.target, "fields": sorted(changes), "repaired": repaired}))

    def refused(self, target: str, op: str, reason: str, detail: dict[str, Any]) -> None:
        """Record that the run refused to ``op`` records in ``target`` (see :mod:`.guard`)."""
        ctx = self.ctx
        log.error("job %s: %s", ctx.job.name, reason)
        if ctx.dry_run:
            return
        with ctx.state.atomic():
            ctx.state.add_events([{"run_id": ctx.run_id, "job": ctx.job.name, "kind": self.kind,
                                   "system": ctx.job.source, "target": target, "action": op, "outcome": "refused",
                                   "reason": reason, "detail": detail}])
        ctx.rt.emit(Event("run.refused", job=ctx.job.name, run_id=ctx.run_id, kind=self.kind,
                          detail={"target": target, "action": op, "reason": reason, **detail}))

    def cursors(self, progress: Progress) -> None:
        """Advance the cursors of the systems read to the end (after everything is settled)."""
        ctx = self.ctx
        if ctx.dry_run or ctx.stopping:
            return
        for system, complete in progress.complete.items():
            if not complete:
                continue
            if system in progress.scanned_full and ctx.job.deletes == "mirror":
                ctx.state.set_cursor(ctx.job.name, f"{system}#full", datetime.now(timezone.utc))
            if "since" not in ctx.rt.ops(system, self.kind) or system not in progress.max_updated:
                continue
            if (progress.failed[system] or ctx.tally.counts.get("unknown")) and "get" not in ctx.rt.ops(system, self.kind):
                log.warning("job %s: not advancing the %s cursor: records are not settled and %s cannot fetch "
                            "them one by one", ctx.job.name, system, system)
                continue
            unread = progress.unread.get(system, [])
            if None in unread:  # a record that could not be read, changed who knows when
                log.warning("job %s: not advancing the %s cursor: %d record(s) could not be read",
                            ctx.job.name, system, len(unread))
                continue
            # never past a record that could not be read: the next run lists it again
            ctx.state.set_cursor(ctx.job.name, system, min([progress.max_updated[system], *unread]))  # type: ignore[type-var]


class _Batch:
    """Writes of one settle, sent to the state in bulk inside its transaction."""

    def __init__(self) -> None:
        self.links: list[Link] = []
        self.done: list[tuple[str, str, str]] = []  # (source, target, source id) now linked
        self.dropped: list[tuple[str, str, str]] = []  # creates that certainly did not happen
        self.unknown: list[tuple[str, str, str, str]] = []  # creates of unknown outcome, and since when
        self.events: list[dict[str, Any]] = []

    def flush(self, state: State, job: str, kind: str) -> None:
        state.save_links(self.links)
        for (source, target), group in _grouped(self.done).items():
            state.delete_intents(kind, source, target, group)
            state.clear_pending(job, source, group)
        for (source, target), group in _grouped(self.dropped).items():
            state.delete_intents(kind, source, target, group)
        for source, target, record_id, at in self.unknown:
            state.mark_unknown(kind, source, target, [record_id], at)
        state.add_events(self.events)


def _grouped(done: list[tuple[str, str, str]]) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    for source, target, record_id in done:
        out[(source, target)].append(record_id)
    return out
