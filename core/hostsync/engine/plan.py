"""Step 2, planning: what to do in a peer for each record read, from the links, intents and conflicts.

A linked record that changed becomes an ``update``; one with no link is adopted (an existing record
of the peer matching the job's ``match`` fields, or sharing its id) or created; a record whose
earlier create may have landed is reconciled; records gone from a full scan become deletes when the
job mirrors them. References are translated through :mod:`.refs` (step 3). Nothing here writes to
a vendor; a plan (``dry_run``) also looks up adoptions at once, through the peer's workers.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable

from ..connector import ORIGIN
from ..errors import ConnectorError, Rejected
from ..model import KINDS, InvalidValue, Record, changed_fields, content_hash, normalise, normalise_fields, project
from ..state import Link
from .actions import Action
from .adopt import Adoption, carries, foreign, marker
from .calls import SystemHeld
from .context import RunContext, log
from .read import CHUNK, Progress
from .refs import RefTranslator
from .runtime import Runtime


def common_fields(rt: Runtime, kind: str, a: str, b: str, two_way: bool) -> frozenset[str]:
    """The fields a job compares and writes: carried by both, writable where written."""
    ops_a, ops_b = rt.ops(a, kind), rt.ops(b, kind)
    fields = ops_a.carried(kind) & ops_b.writable(kind)
    if two_way:
        fields &= ops_a.writable(kind)
    return fields


class Planner:
    """Plans one run's actions, chunk by chunk."""

    def __init__(self, ctx: RunContext, refs: RefTranslator) -> None:
        self.ctx = ctx
        self.rt = ctx.rt
        self.kind = ctx.kind
        self.refs = refs
        spec = KINDS[self.kind]
        self.identity, self.natural = spec.identity, ctx.job.match
        self.stored_failed: set[str] = set()
        self.validate_failed: set[str] = set()
        self.key_fields: dict[tuple[str, str, bool], frozenset[str]] = {}
        #: (system, peer) -> how this run looks for records of system in peer (see :mod:`.adopt`)
        self.adoptions: dict[tuple[str, str], Adoption] = {}
        #: open conflicts of a two-way job, by (system, record id) of either side
        self.conflicts: dict[tuple[str, str], dict[str, Any]] = {}
        if ctx.job.two_way:
            for conflict in ctx.state.open_conflicts(ctx.job.name):
                self.conflicts[(conflict["system"], conflict["record_id"])] = conflict
                self.conflicts[(conflict["peer_system"], conflict["peer_id"])] = conflict

    def fields(self, system: str, peer: str) -> frozenset[str]:
        job = self.ctx.job
        if job.two_way:
            return common_fields(self.rt, self.kind, job.source, job.targets[0], True)
        return common_fields(self.rt, self.kind, system, peer, False)

    def _hash_space(self, system: str, peer: str) -> str:
        """References are hashed as ids of the job's target, so both sides of a link hash alike."""
        return self.ctx.job.targets[0] if self.ctx.job.two_way else peer

    def plan(self, records: list[Record], system: str, peer: str, fields: frozenset[str],
             force: bool = False) -> list[Action]:
        """Actions that make ``peer`` match ``records`` (``force``: update linked records even if unchanged)."""
        ctx, state = self.ctx, self.ctx.state
        ids = [r.id for r in records if r.id]
        links = state.links(self.kind, system, ids, peer)
        intents = state.intents(self.kind, system, peer, ids)
        ref_names = frozenset(KINDS[self.kind].refs) & fields
        written = {name.split(".", 1)[0] for name in fields}  # list fields travel whole
        translated = self.refs.translate(records, system, peer, ref_names)
        hash_in_peer = self._hash_space(system, peer) == peer
        sent_here = self._sent_here(system, peer)
        marks = self.rt.ops(peer, self.kind).origin  # the peer keeps origin markers: every record carries its own
        actions: list[Action] = []
        lookups: list[Action] = []
        touched: list[Link] = []
        for record in records:
            rid = record.id or ""
            if ctx.job.two_way and self._conflict_pending(record, system, links.get(rid), actions):
                continue
            refs = translated[rid]
            out = Record(self.kind, rid, {k: v for k, v in record.fields.items() if k in written},
                         refs.refs, record.updated_at, record.version, origin=marker(system, rid) if marks else None)
            values = project(out if hash_in_peer else record, fields)
            digest = content_hash(values)
            link = links.get(rid)
            if link is not None and link.hash == digest and not force and not refs.missing:
                ctx.unchanged(system, rid)
                if link.version != record.version and not ctx.dry_run:
                    link.version = record.version
                    touched.append(link)
                continue
            base = Action("update", self.kind, system, rid, peer, record=out, values=values, fields=fields,
                          hash=digest, version=record.version)
            if refs.missing:
                actions.append(replace(base, op="defer", reason=refs.missing))
                continue
            if refs.after:
                base.reason = "after " + ", ".join(refs.after)
                base.stand_ins = refs.pending
            base.peer_hash = self._stored_hash(out, record if not hash_in_peer else out, peer, fields, digest)
            if link is not None:
                base.link, base.target_id = link, link.peer_id
                base.changes = changed_fields(link.values(), values)
                if link.snapshot and base.changes and not force and not ctx.job.two_way:
                    base.record = only(out, base.changes)  # what changed since it was synced: no more to write
                actions.append(base)
            elif rid in intents:  # an earlier create's outcome is unknown: never sent again blindly
                intent = intents[rid]
                due = ctx.settled_at(intent.since, peer)
                if ctx.clock() >= due:
                    actions.append(replace(base, op="reconcile", key=intent.key,
                                           reason="an earlier create may have reached the target"))
                else:
                    actions.append(replace(base, op="wait", key=intent.key, unknown_at=intent.since,
                                           reason=f"the outcome of an earlier create is unknown; it is looked "
                                           f"for in {peer} from {due.isoformat(timespec='seconds')}"))
            elif any(carries(record, key) for key in sent_here):
                actions.append(replace(base, op="defer", reason=f"it may be hostsync's own copy of a {peer} "
                                       f"{self.kind} whose create's outcome is unknown; decided once that is known"))
            else:
                lookups.append(base)
        if touched:
            state.save_links(touched)  # new version tokens of unchanged records
        actions.extend(self._adopt_or_create(lookups, system, peer, fields, more=len(records) >= CHUNK))
        return actions

    def _sent_here(self, system: str, peer: str) -> list[dict[str, Any]]:
        """In a two-way job, the identity keys of ``peer`` records whose create in ``system`` has an
        unknown outcome: a new record of ``system`` matching one may be that create's work, and is
        not copied back (an empty key matches every record)."""
        if not self.ctx.job.two_way:
            return []
        return [intent.key for intent in self.ctx.state.intents(self.kind, peer, system).values()]

    def _stored_hash(self, out: Record, hashed: Record, peer: str, fields: frozenset[str], digest: str) -> str:
        """The hash ``peer`` will show for ``out`` once written (its references as hashed); ``digest``
        is the hash of ``hashed`` itself, which it is when the vendor keeps everything as given."""
        stored = self.stored(peer, out)
        if stored is out:
            return digest
        return content_hash(project(Record(self.kind, out.id, stored.fields, hashed.refs), fields))

    def stored(self, system: str, record: Record) -> Record:
        """``record`` as ``system`` keeps it (``Connector.stored``), in canonical form.

        A plugin's ``stored`` that fails is logged once and treated as storing values as given: at
        worst a lossy value looks changed once more, which is safer than failing the job.
        """
        try:
            stored = self.rt.connector(system).stored(self.kind, record)
            if stored is record:
                return record
            return Record(self.kind, record.id, {**record.fields, **normalise_fields(self.kind, stored.fields)},
                          record.refs)
        except Exception as exc:  # a plugin bug must not stop the job
            if system not in self.stored_failed:
                self.stored_failed.add(system)
                log.warning("job %s: %s.stored() failed (%s: %s); comparing %s values as sent", self.ctx.job.name,
                            self.rt.system(system).plugin, type(exc).__name__, exc, self.kind)
            return record

    def refusal(self, action: Action, op: str) -> str | None:
        """Why ``action.target`` will certainly refuse to ``op`` (create, update, delete) the action's
        record, known without asking it: an operation its settings do not allow, or a rule of its
        ``Connector.validate``. Asked before every write of a sync and by a plan, so they agree."""
        target = action.target
        if op not in self.rt.ops(target, self.kind):
            return (f"{target} ({self.rt.system(target).plugin}) cannot {op} {self.kind} records with its "
                    f"settings (see `hostsync plugins --fields`)")
        if op == "delete" or action.record is None:
            return None
        record = action.record
        if action.stand_ins:
            record = replace(record, refs={**record.refs, **action.stand_ins})
        try:
            problems = self.rt.connector(target).validate(self.kind, record, op)
        except Exception as exc:  # a plugin bug: the write itself will tell
            if target not in self.validate_failed:
                self.validate_failed.add(target)
                log.warning("job %s: %s.validate() failed (%s: %s); not checking %s records before writing them",
                            self.ctx.job.name, self.rt.system(target).plugin, type(exc).__name__, exc, self.kind)
            return None
        return "; ".join(str(p) for p in problems) if problems else None

    def predicted(self, action: Action) -> Action:
        """In a plan: ``action``, or a ``fail`` when the target will certainly refuse its write."""
        op = {"create": "create", "update": "update", "delete": "delete"}.get(action.op)
        if action.op == "adopt" and action.changes:
            op = "update"
        problem = self.refusal(action, op) if op else None
        return replace(action, op="fail", reason=f"{op} refused: {problem}") if problem else action

    def _conflict_pending(self, record: Record, system: str, link: Link | None, actions: list[Action]) -> bool:
        """A pair with an open conflict is left alone until an operator resolves it."""
        conflict = self.conflicts.get((system, record.id or ""))
        if link is None or conflict is None or conflict["status"] != "open":
            return False
        if system == self.ctx.job.source:  # count it once, from the source's side
            actions.append(Action("conflict", self.kind, system, record.id, link.peer_system, link.peer_id,
                                  reason=f"unresolved conflict #{conflict['id']}", conflict_id=conflict["id"]))
        return True

    # -- adopting or creating -----------------------------------------------------------------

    def _key(self, record: Record, names: Iterable[str], system: str, peer: str, settable: bool = False) -> dict[str, Any]:
        """Values of ``names`` that both systems carry (references as ``peer`` ids); {} if all are empty.

        :param settable: only fields ``peer`` sets as given, and that the record has (looking for a
            record we created, whose read-only fields, such as a total the vendor computes, may
            differ from ours, and whose fields we left empty it may fill in; an empty reference is
            kept: it is what we wrote).
        """
        carried = self._key_fields(system, peer, settable)
        refs = KINDS[self.kind].refs
        key = {name: record.value(name) for name in names if name in carried
               and not (settable and record.value(name) is None and name not in refs)}
        return key if any(v is not None for v in key.values()) else {}

    def _key_fields(self, system: str, peer: str, settable: bool) -> frozenset[str]:
        """Fields a lookup in ``peer`` may use (worked out once per pair and run)."""
        cache_key = (system, peer, settable)
        if cache_key not in self.key_fields:
            ops = self.rt.ops(peer, self.kind)
            self.key_fields[cache_key] = (ops.writable(self.kind) if settable else ops.carried(self.kind)) & \
                self.rt.ops(system, self.kind).carried(self.kind)
        return self.key_fields[cache_key]

    def _adopt_or_create(self, lookups: list[Action], system: str, peer: str, fields: frozenset[str],
                         more: bool = False) -> list[Action]:
        """Adopt records the target already has (by shared id, by origin marker, or by the job's
        match fields), else create.

        In a sync each becomes one ``lookup`` task: the worker looks (``find``, or ``get`` of what
        the run's scan of the target found, see :mod:`.adopt`), creates at once when nothing is
        there, and hands any candidates to the engine thread to choose from. A plan looks now.
        ``more``: more records of the run are to come (the scan may cost what their finds would).
        """
        shared = self.rt.shares_ids(system, peer) and "get" in self.rt.ops(peer, self.kind)
        can_find = "find" in self.rt.ops(peer, self.kind)
        for action in lookups:
            assert action.record is not None
            # looked up by what the target will show once written (a total it computes, say)
            action.key = self._key(self.stored(peer, action.record), self.identity, system, peer, settable=True) or \
                self._key(action.record, self.natural, system, peer)
            action.marker = action.record.origin
            if action.marker:  # exact identity first; the fields in case the connector cannot search by it
                action.key = {ORIGIN: action.marker, **action.key}
            match = self._key(action.record, self.natural, system, peer)
            action.match = {"id": action.source_id} if shared else match if can_find else None
            action.op = "lookup" if action.match or (action.marker and can_find) else "create"
        if can_find and not shared:
            self._adoption(system, peer).prepare([a for a in lookups if a.op == "lookup"], more)
        if not self.ctx.dry_run:
            return lookups
        futures = {i: self.rt.pool(peer).submit(self.look, a) for i, a in enumerate(lookups) if a.op == "lookup"}
        out: list[Action] = []
        for i, action in enumerate(lookups):
            if i not in futures:
                out.append(action)
                continue
            try:
                found = futures[i].result()
            except (ConnectorError, SystemHeld) as exc:
                out.append(replace(action, op="fail", reason=f"cannot look for an existing {self.kind} in {peer}: {exc}"))
                continue
            out.append(self.decide(action, found, fields))
        return out

    def _adoption(self, system: str, peer: str) -> Adoption:
        if (system, peer) not in self.adoptions:
            carried = self._key_fields(system, peer, False)
            self.adoptions[(system, peer)] = Adoption(self.ctx, system, peer,
                                                      tuple(n for n in self.natural if n in carried))
        return self.adoptions[(system, peer)]

    def look(self, action: Action) -> list[Record]:
        """Records in the target that may be ``action``'s record (in a worker): those a scan of it
        found, else those carrying its origin marker (where a find by marker is cheap), else those
        a find by its match fields gives."""
        caller, target = self.rt.caller, action.target
        connector = self.rt.connector(target)
        if action.match == {"id": action.source_id} and self.rt.shares_ids(action.source, target):
            found = caller.call(target, connector.get, self.kind, action.source_id)
            return [found] if found is not None else []
        if action.candidate_ids is not None:
            return [r for r in (caller.call(target, connector.get, self.kind, i) for i in action.candidate_ids) if r]
        if action.marker and self.rt.ops(target, self.kind).cost.find_origin is not None:
            try:
                found = list(caller.call(target, connector.find, self.kind, {ORIGIN: action.marker}) or [])
            except Rejected:  # this connector cannot search by marker after all: the fields must do
                found = []
            if any(r.origin == action.marker for r in found):
                return found
        if not action.match:
            return []
        return list(caller.call(target, connector.find, self.kind, action.match) or [])

    def decide(self, action: Action, candidates: list[Record], fields: frozenset[str]) -> Action:
        """Adopt the one free candidate, create when there is none, defer when several match."""
        shared = action.match == {"id": action.source_id} and self.rt.shares_ids(action.source, action.target)
        chosen = self.choose(candidates, action.match or {}, action.target, action.source, exact=not shared,
                             marker=action.marker)
        if isinstance(chosen, str):
            return replace(action, op="defer", reason=chosen)
        if chosen is None:
            return replace(action, op="create")
        return self.adoption(action, chosen, fields, action.target)

    def choose(self, candidates: list[Record], key: dict[str, Any], peer: str, system: str,
               exact: bool = True, marker: str | None = None) -> Record | str | None:
        """The one unlinked candidate matching ``key`` exactly; None if none; a reason if several.

        Origin markers decide first: candidates carrying the record's own (``marker``, or the
        key's :data:`ORIGIN`) are the ones; a candidate carrying the marker of another record of
        ``system`` is never one. A key with a marker (a lookup after a lost reply) counts only
        the candidates carrying it.
        """
        own = key.get(ORIGIN, marker)
        values = {name: value for name, value in key.items() if name != ORIGIN}
        ours, matching = [], []
        for candidate in candidates:
            try:
                normal = normalise(candidate)
            except InvalidValue:
                continue
            if own and normal.origin == own:
                ours.append(normal)
            elif ORIGIN in key or foreign(normal.origin, system, own):
                continue
            elif not exact or all(normal.value(name) == value for name, value in values.items()):
                matching.append(normal)
        matching = ours or matching
        if not matching:
            return None
        claimed = self.ctx.claimed[peer]
        linked = self.ctx.state.links(self.kind, peer, [c.id for c in matching if c.id], system)
        free = [c for c in matching if c.id not in linked and c.id not in claimed]
        if len(free) == 1:
            claimed.add(free[0].id or "")
            return free[0]
        if not free:  # each is another record's: this one is not there yet
            return None
        if ours:
            return (f"{len(free)} records in {peer} carry the origin marker {own} (copied by hand?); not adopting "
                    "or creating any (merge them first)")
        return f"{len(free)} records in {peer} match {show(values)}; not adopting or creating any (merge them first)"

    def adoption(self, action: Action, found: Record, fields: frozenset[str], peer: str) -> Action:
        """Link to a record the target already has; update it if it differs.

        In a two-way job neither side is the master of a record met for the first time: the pair is
        linked as never synced, and settled once both sides are read (by the conflict policy).
        """
        values = project(found, fields)
        changes = changed_fields(values, action.values or {})
        if changes and self.ctx.job.two_way:
            return replace(action, op="settle", target_id=found.id, changes=changes, hash="", peer_hash="",
                           values=None, reason="differs on both sides; settled by the conflict policy")
        return replace(action, op="adopt", target_id=found.id, changes=changes, record=only(action.record, changes),
                       reason=None if not changes else "adopted, then updated")

    # -- deleting -----------------------------------------------------------------------------

    def deletes(self, progress: Progress) -> list[Action]:
        """With ``deletes = "mirror"``: records gone from a complete full scan are deleted on the other side."""
        ctx = self.ctx
        if ctx.job.deletes != "mirror" or ctx.stopping:
            return []
        actions = []
        for system, peer in ctx.pairs():
            if not progress.complete.get(system) or system not in progress.scanned_full:
                continue
            if self.rt.held(peer):
                continue
            actions.extend(Action("delete", self.kind, system, link.id, peer, link.peer_id, link=link,
                                  reason=f"gone from {system}") for link in self._unseen(system, peer))
        return actions

    def _unseen(self, system: str, peer: str) -> list[Link]:
        return [link for link in self.ctx.state.unseen_links(self.kind, system, peer)
                if (link.synced_at or "") < self.ctx.started]


def only(record: Record | None, changes: dict[str, Any]) -> Record | None:
    """``record`` with just the fields in ``changes`` (and every reference): an update writes what
    differs, and a connector leaves the fields it is not given alone."""
    if record is None:
        return None
    return Record(record.kind, record.id, {k: v for k, v in record.fields.items() if k in changes}, record.refs,
                  record.updated_at, record.version, origin=record.origin)


def show(key: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in key.items())
