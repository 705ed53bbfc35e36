"""Step 4, two-way jobs and conflicts: each side's changes go to the other; changed on both is a conflict.

A two-way run reads side a, sends a's new records at once and holds its changes; reads side b and
pairs b's changes with a's (the same change is no conflict; different ones go by the job's policy
or wait for an operator); then sends the changes only a made. Only what really changed on a side
since the last sync is sent, so what hostsync wrote never bounces back.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import ConnectorError
from ..model import KINDS, Record, changed_fields, content_hash, project
from .actions import Action
from .guard import Guard
from .context import RunContext
from .plan import Planner
from .read import Reader


class TwoWay:
    """Runs a two-way job, and settles its conflicts when an operator resolves them."""

    def __init__(self, ctx: RunContext, reader: Reader, planner: Planner, applier: Guard) -> None:
        """:param applier: sends the writes (through the blast-radius guard)."""
        self.ctx = ctx
        self.rt = ctx.rt
        self.kind = ctx.kind
        self.reader = reader
        self.planner = planner
        self.applier = applier

    def run(self) -> None:
        ctx, planner, applier = self.ctx, self.planner, self.applier
        a, b = ctx.job.source, ctx.job.targets[0]
        ctx.require(a)
        ctx.require(b)
        fields = planner.fields(a, b)
        stashed: dict[str, Action] = {}
        # Phase 1: a's side. New records go out at once; changes wait until b's side is known.
        for chunk in self.reader.chunks(a, [b]):
            actions = planner.plan(chunk, a, b, fields)
            for action in actions:
                if action.op == "update":
                    stashed[action.source_id or ""] = action
            applier.dispatch([x for x in actions if x.op != "update"])
        applier.drain(everything=True)
        # Phase 2: b's side, now that a's new records are linked (so they do not come back as new).
        for chunk in self.reader.chunks(b, [a]):
            actions = planner.plan(chunk, b, a, fields)
            out = []
            unsettled_b = {pair[1] for pair in ctx.unsettled}
            for action in actions:
                if action.source_id in unsettled_b:
                    continue  # settled below, with both sides in hand
                if action.op == "update" and action.link and action.link.peer_id in stashed:
                    out.extend(self._both_changed(stashed.pop(action.link.peer_id), action))
                else:
                    out.append(self._narrow(action, fields))
            applier.dispatch(out)
        # Phase 3: changes only a made.
        unsettled_a = {pair[0] for pair in ctx.unsettled}
        applier.dispatch([self._narrow(x, fields) for x in stashed.values() if x.source_id not in unsettled_a])
        applier.drain(everything=True)
        self._settle_pairs(fields)

    def resolve(self, conflict: dict[str, Any], use: str) -> None:
        """Write the chosen side of a two-way conflict to the other side, then close the conflict."""
        ctx = self.ctx
        a, b = ctx.job.source, ctx.job.targets[0]
        link = ctx.state.link(self.kind, a, conflict["record_id"], b)
        if link is None:
            raise ConnectorError(f"the records of conflict #{conflict['id']} are no longer linked")
        winner, loser, winner_id = (a, b, link.id) if use == "source" else (b, a, link.peer_id)
        for system in (winner, loser):
            ctx.require(system)
        raw = self.rt.caller.call(winner, self.rt.connector(winner).get, self.kind, winner_id)
        record = self.reader.prepare(raw, winner) if raw else None
        if record is None:
            raise ConnectorError(f"{self.kind} {winner_id} is gone from {winner}")
        self.planner.conflicts = {}
        actions = self.planner.plan([record], winner, loser, self.planner.fields(winner, loser), force=True)
        for action in actions:
            action.conflict_id = conflict["id"]
        self.applier.dispatch(actions)
        self.applier.drain(everything=True)

    def _narrow(self, action: Action, fields: frozenset[str]) -> Action:
        """In a two-way job, send only what really changed on this side since the last sync.

        "Really" is measured against how this side stores the values last synced, so a value it
        keeps lossily (a status it has no word for) is not sent back over the other side's better one.
        """
        link = action.link
        if action.op != "update" or link is None or not link.snapshot or action.record is None:
            return action
        refs = KINDS[self.kind].refs
        snapshot = link.values() or {}

        def as_record(values: dict[str, Any]) -> Record:
            return Record(self.kind, action.source_id, {k: v for k, v in values.items() if k not in refs},
                          {k: v for k, v in values.items() if k in refs})

        expected = project(self.planner.stored(action.source, as_record(snapshot)), fields)
        real = changed_fields(expected, action.values or {})
        if not real:  # only the echo of a lossy store: remember its hash, send nothing
            return replace(action, op="relink", peer_hash=link.peer_hash, values=snapshot)
        merged = {**snapshot, **{name: action.values[name] for name in real}}  # type: ignore[index]
        record = action.record
        send = Record(self.kind, record.id, {k: v for k, v in record.fields.items() if k in real},
                      {k: v for k, v in record.refs.items() if k in real}, record.updated_at, record.version)
        stored = self.planner.stored(action.target, as_record(merged))
        return replace(action, record=send, changes=real, values=merged,
                       peer_hash=content_hash(project(stored, fields)))

    def _settle_pairs(self, fields: frozenset[str]) -> None:
        """Pairs met for the first time with different values: read both and apply the conflict policy."""
        ctx = self.ctx
        a, b = ctx.job.source, ctx.job.targets[0]
        while ctx.unsettled and not ctx.stopping:
            pairs = list(ctx.unsettled)
            ctx.unsettled.clear()
            for a_id, b_id in pairs:
                sides = []
                for system, record_id in ((a, a_id), (b, b_id)):
                    raw = self.rt.caller.call(system, self.rt.connector(system).get, self.kind, record_id)
                    record = self.reader.prepare(raw, system) if raw else None
                    planned = self.planner.plan([record], system, b if system == a else a, fields) if record else []
                    sides.append(planned[0] if planned and planned[0].op == "update" else None)
                if sides[0] and sides[1]:
                    self.applier.dispatch(self._both_changed(sides[0], sides[1]))
            self.applier.drain(everything=True)

    def _both_changed(self, ours: Action, theirs: Action) -> list[Action]:
        """Both sides changed since the last sync (or meet for the first time): the same values, as
        each side would store the other's, are no conflict; else the policy."""
        differing = self.differing(ours, theirs)
        if ours.hash == theirs.hash or not differing:
            return [replace(ours, op="relink", target_id=ours.link.peer_id if ours.link else None,
                            peer_hash=theirs.hash)]
        base = (ours.link.values() if ours.link else None) or {}  # a pair linked at a first meeting has none
        first = not base
        policy = self.ctx.job.conflicts
        if policy == "newest-wins":
            a_at = ours.record.updated_at if ours.record else None
            b_at = theirs.record.updated_at if theirs.record else None
            if a_at and b_at and a_at != b_at:
                policy = "source-wins" if a_at > b_at else "target-wins"
            else:
                policy = "manual"
        if policy == "source-wins":
            return [ours]
        if policy == "target-wins":
            return [theirs]
        why = ("differs in both systems at their first meeting (no last sync)" if first
               else "changed in both systems since the last sync")
        fields = ", ".join(sorted(differing))
        return [replace(ours, op="conflict", theirs=theirs.values, theirs_hash=theirs.hash,
                        changes={name: (base.get(name), (ours.values or {}).get(name)) for name in differing},
                        reason=f"{why}: {fields}" +
                        ("" if self.ctx.job.conflicts == "manual" else "; the newer one cannot be told"))]

    def differing(self, ours: Action, theirs: Action) -> set[str]:
        """Fields whose values differ for real: neither side would store the other's value as its own
        (``Connector.stored``), so ``TX`` against ``Texas``, or ``closed`` against ``inactive``
        where one side keeps a closed client as inactive, is the same fact."""
        a_values, b_values = ours.values or {}, theirs.values or {}
        names = {n for n in set(a_values) | set(b_values) if a_values.get(n) != b_values.get(n)}
        if not names or ours.record is None or theirs.record is None:
            return names
        a_in_b = self.planner.stored(theirs.source, ours.record).fields
        b_in_a = self.planner.stored(ours.source, theirs.record).fields
        return {n for n in names if "." in n or n in KINDS[self.kind].refs
                or (a_in_b.get(n, a_values.get(n)) != b_values.get(n) and b_in_a.get(n, b_values.get(n)) != a_values.get(n))}
