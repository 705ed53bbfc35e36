"""One run of one job: read, normalise, plan against links, apply, settle.

The main thread reads the source in chunks, plans each chunk against the state (links, intents,
conflicts) and hands writes to per-system worker pools; it alone touches the state, committing
outcomes as they arrive. Crash safety rests on three rules:

* an *intent* is committed before a create is sent, and removed in the same transaction that stores
  the link; a leftover intent is resolved with ``find`` before anything is created again;
* a create whose reply was lost is looked up before it is retried;
* a cursor advances only after every record it covers is settled (written, or queued for retry).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator

from ..config import JobConfig
from ..errors import AuthError, ConnectorError, NotFound, ProtocolError, Rejected, Transient
from ..events import Event
from ..model import KINDS, InvalidValue, Record, changed_fields, content_hash, normalise, normalise_fields, project
from ..state import Intent, Link, now
from .actions import WRITES, Action, Outcome, Tally
from .calls import Stopped, SystemHeld
from .refs import RefTranslator
from .runtime import Runtime

log = logging.getLogger("hostsync.engine")

CHUNK = 500
FULL_SCAN_INTERVAL = timedelta(hours=24)


def common_fields(rt: Runtime, kind: str, a: str, b: str, two_way: bool) -> frozenset[str]:
    """The fields a job compares and writes: carried by both, writable where written."""
    ops_a, ops_b = rt.ops(a, kind), rt.ops(b, kind)
    fields = ops_a.carried(kind) & ops_b.writable(kind)
    if two_way:
        fields &= ops_a.writable(kind)
    return fields


class JobRun:
    """Runs (or, with ``dry_run``, plans) one job. Create one per run; not reusable."""

    def __init__(self, rt: Runtime, job: JobConfig, *, dry_run: bool = False, full: bool = False,
                 run_id: int | None = None, depth: int = 0,
                 on_action: Callable[[Action], None] | None = None) -> None:
        self.rt = rt
        self.state = rt.state
        self.job = job
        self.kind = job.kind
        self.dry_run = dry_run
        self.full = full
        self.run_id = run_id
        self.depth = depth
        self.on_action = on_action
        self.tally = Tally()
        self.refs = RefTranslator(self)
        self.inflight: set[Future[Outcome]] = set()
        self.claimed: dict[str, set[str]] = defaultdict(set)
        self.complete: dict[str, bool] = {}
        self.max_updated: dict[str, datetime] = {}
        self.scanned_full: set[str] = set()
        self.read = 0
        self.failed_reads: dict[str, int] = defaultdict(int)
        self.started = now()
        spec = KINDS[self.kind]
        self.identity, self.natural = spec.identity, job.match
        self.transforms = [(name, [rt.plugins.transforms[t] for t in names])
                           for name, names in job.transforms.items()]
        self.window = CHUNK * 2
        self.conflicts: dict[tuple[str, str], dict[str, Any]] = {}
        self.stored_failed: set[str] = set()
        self.seen_ids: dict[str, set[str]] = defaultdict(set)
        self.key_fields: dict[tuple[str, str, bool], frozenset[str]] = {}
        #: (target, identity key) -> the source id whose create holds it; creates waiting for it
        self.creating: dict[tuple[str, str], str | None] = {}
        self.waiting: dict[tuple[str, str], list[Action]] = defaultdict(list)
        #: two-way pairs linked without a common past, to settle once both sides are read: (a id, b id)
        self.unsettled: list[tuple[str, str]] = []
        if job.two_way:
            for conflict in self.state.open_conflicts(job.name):
                self.conflicts[(conflict["system"], conflict["record_id"])] = conflict
                self.conflicts[(conflict["peer_system"], conflict["peer_id"])] = conflict

    # == entry points ===========================================================================

    def run(self) -> Tally:
        """Read, plan and apply the whole job."""
        if self.job.deletes == "mirror":
            self.state.seen_reset()
        self._recover()
        if self.job.two_way:
            self._two_way()
        else:
            self._one_way()
        self._finish()
        return self.tally

    def _recover(self) -> None:
        """Settle creates an earlier run left unconfirmed (it died between sending and recording them)
        before reading anything, so their records are known as linked when the scan meets them."""
        pairs = [(self.job.source, t) for t in self.job.targets]
        if self.job.two_way:
            pairs.append((self.job.targets[0], self.job.source))
        for system, peer in pairs:
            ids = sorted(self.state.intents(self.kind, system, peer))
            linked = self.state.links(self.kind, system, ids, peer)
            if linked and not self.dry_run:  # recorded after all; the intent is stale
                self.state.delete_intents(self.kind, system, peer, linked)
            ids = [i for i in ids if i not in linked]
            if not ids or self.rt.held(system) or self.rt.held(peer) or "get" not in self.rt.ops(system, self.kind):
                continue
            log.info("job %s: reconciling %d unconfirmed create(s) from %s in %s", self.job.name, len(ids), system, peer)
            self._seen(system, ids)  # the scan need not plan them again
            self.sync_ids(system, ids, peer)

    def sync_ids(self, system: str, ids: list[str], peer: str) -> None:
        """Sync just these records of ``system`` into ``peer`` now (a dependency of another job)."""
        fields = self._fields(system, peer)
        connector = self.rt.connector(system)
        records = []
        for record_id in ids:
            raw = self.rt.caller.call(system, connector.get, self.kind, record_id)
            record = self._prepare(raw, system) if raw else None
            if record:
                records.append(record)
            elif raw is None and not self.dry_run:  # gone from the source: nothing left to create
                self.state.delete_intents(self.kind, system, peer, [record_id])
        if records:
            self._dispatch(self._plan_chunk(records, system, peer, fields))
        self._drain(everything=True)

    def resolve(self, conflict: dict[str, Any], use: str) -> None:
        """Write the chosen side of a two-way conflict to the other side, then close the conflict."""
        a, b = self.job.source, self.job.targets[0]
        link = self.state.link(self.kind, a, conflict["record_id"], b)
        if link is None:
            raise ConnectorError(f"the records of conflict #{conflict['id']} are no longer linked")
        winner, loser, winner_id = (a, b, link.id) if use == "source" else (b, a, link.peer_id)
        for system in (winner, loser):
            self._require(system)
        raw = self.rt.caller.call(winner, self.rt.connector(winner).get, self.kind, winner_id)
        record = self._prepare(raw, winner) if raw else None
        if record is None:
            raise ConnectorError(f"{self.kind} {winner_id} is gone from {winner}")
        self.conflicts = {}
        actions = self._plan_chunk([record], winner, loser, self._fields(winner, loser), force=True)
        for action in actions:
            action.conflict_id = conflict["id"]
        self._dispatch(actions)
        self._drain(everything=True)

    # == one-way and two-way ====================================================================

    def _one_way(self) -> None:
        source = self.job.source
        self._require(source)
        targets = [t for t in self.job.targets if self._usable(t)]
        fields = {t: self._fields(source, t) for t in targets}
        for chunk in self._chunks(source, targets):
            for target in targets:
                if self._usable(target, quiet=True):
                    self._dispatch(self._plan_chunk(chunk, source, target, fields[target]))
        self._drain(everything=True)

    def _two_way(self) -> None:
        a, b = self.job.source, self.job.targets[0]
        self._require(a)
        self._require(b)
        fields = self._fields(a, b)
        stashed: dict[str, Action] = {}
        # Phase 1: a's side. New records go out at once; changes wait until b's side is known.
        for chunk in self._chunks(a, [b]):
            actions = self._plan_chunk(chunk, a, b, fields)
            for action in actions:
                if action.op == "update":
                    stashed[action.source_id or ""] = action
            self._dispatch([x for x in actions if x.op != "update"])
        self._drain(everything=True)
        # Phase 2: b's side, now that a's new records are linked (so they do not come back as new).
        for chunk in self._chunks(b, [a]):
            actions = self._plan_chunk(chunk, b, a, fields)
            out = []
            unsettled_b = {pair[1] for pair in self.unsettled}
            for action in actions:
                if action.source_id in unsettled_b:
                    continue  # settled below, with both sides in hand
                if action.op == "update" and action.link and action.link.peer_id in stashed:
                    out.extend(self._both_changed(stashed.pop(action.link.peer_id), action))
                else:
                    out.append(self._narrow(action, fields))
            self._dispatch(out)
        # Phase 3: changes only a made.
        unsettled_a = {pair[0] for pair in self.unsettled}
        self._dispatch([self._narrow(x, fields) for x in stashed.values() if x.source_id not in unsettled_a])
        self._drain(everything=True)
        self._settle_pairs(fields)

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

        expected = project(self._stored(action.source, as_record(snapshot)), fields)
        real = changed_fields(expected, action.values or {})
        if not real:  # only the echo of a lossy store: remember its hash, send nothing
            return replace(action, op="relink", peer_hash=link.peer_hash, values=snapshot)
        merged = {**snapshot, **{name: action.values[name] for name in real}}  # type: ignore[index]
        record = action.record
        send = Record(self.kind, record.id, {k: v for k, v in record.fields.items() if k in real},
                      {k: v for k, v in record.refs.items() if k in real}, record.updated_at, record.version)
        stored = self._stored(action.target, as_record(merged))
        return replace(action, record=send, changes=real, values=merged,
                       peer_hash=content_hash(project(stored, fields)))

    def _stored(self, system: str, record: Record) -> Record:
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
                log.warning("job %s: %s.stored() failed (%s: %s); comparing %s values as sent", self.job.name,
                            self.rt.system(system).plugin, type(exc).__name__, exc, self.kind)
            return record

    def _settle_pairs(self, fields: frozenset[str]) -> None:
        """Pairs met for the first time with different values: read both and apply the conflict policy."""
        a, b = self.job.source, self.job.targets[0]
        while self.unsettled and not self.rt.stop.is_set():
            pairs, self.unsettled = self.unsettled, []
            for a_id, b_id in pairs:
                sides = []
                for system, record_id in ((a, a_id), (b, b_id)):
                    raw = self.rt.caller.call(system, self.rt.connector(system).get, self.kind, record_id)
                    record = self._prepare(raw, system) if raw else None
                    planned = self._plan_chunk([record], system, b if system == a else a, fields) if record else []
                    sides.append(planned[0] if planned and planned[0].op == "update" else None)
                if sides[0] and sides[1]:
                    self._dispatch(self._both_changed(sides[0], sides[1]))
            self._drain(everything=True)

    def _both_changed(self, ours: Action, theirs: Action) -> list[Action]:
        """Both sides changed since the last sync: the same change is no conflict; else the policy."""
        if ours.hash == theirs.hash:
            return [replace(ours, op="relink", target_id=ours.link.peer_id if ours.link else None,
                            peer_hash=theirs.hash)]
        policy = self.job.conflicts
        if policy == "newest-wins":
            a_at, b_at = ours.record.updated_at if ours.record else None, theirs.record.updated_at if theirs.record else None
            if a_at and b_at and a_at != b_at:
                policy = "source-wins" if a_at > b_at else "target-wins"
            else:
                policy = "manual"
        if policy == "source-wins":
            return [ours]
        if policy == "target-wins":
            return [theirs]
        return [replace(ours, op="conflict", theirs=theirs.values, theirs_hash=theirs.hash,
                        reason="changed in both systems since the last sync" +
                        ("" if self.job.conflicts == "manual" else " and the newer one cannot be told"))]

    # == reading ================================================================================

    def _require(self, system: str) -> None:
        reason = self.rt.held(system)
        if reason:
            raise SystemHeld(system, reason)

    def _usable(self, system: str, quiet: bool = False) -> bool:
        reason = self.rt.held(system)
        if reason and not quiet:
            log.error("job %s: skipping target %s, which is held: %s", self.job.name, system, reason)
        return reason is None

    def _fields(self, system: str, peer: str) -> frozenset[str]:
        if self.job.two_way:
            return common_fields(self.rt, self.kind, self.job.source, self.job.targets[0], True)
        return common_fields(self.rt, self.kind, system, peer, False)

    def _chunks(self, system: str, peers: list[str]) -> Iterator[list[Record]]:
        """Normalised records of ``system`` in chunks, stubs expanded only where their version changed."""
        chunk: list[Record] = []
        for raw in self._read(system):
            chunk.append(raw)
            if len(chunk) >= CHUNK:
                yield self._expand(chunk, system, peers)
                chunk = []
        if chunk:
            yield self._expand(chunk, system, peers)

    def _read(self, system: str) -> Iterator[Record]:
        connector = self.rt.connector(system)
        ops = self.rt.ops(system, self.kind)
        since = None
        if "since" in ops and not self.full and not self._full_scan_due(system):
            cursor = self.state.cursor(self.job.name, system)
            since = cursor - timedelta(seconds=self.job.overlap) if cursor else None
        self.complete[system] = False
        if since is None:
            self.scanned_full.add(system)
        if "get" in ops:
            for record_id in self.state.pending(self.job.name, system):
                if self.rt.stop.is_set():
                    return
                try:
                    record = self.rt.caller.call(system, connector.get, self.kind, record_id)
                except (Rejected, ProtocolError, Transient) as exc:
                    self._read_failed(system, record_id, exc)
                    continue
                if record is None:  # gone meanwhile: nothing left to retry
                    if not self.dry_run:
                        self.state.clear_pending(self.job.name, system, [record_id])
                    continue
                yield record
        attempt = 0
        while True:
            try:
                for record in connector.list(self.kind, since=since):
                    if self.rt.stop.is_set():
                        return
                    self.read += 1
                    if self.rt.progress and self.read % 100 == 0:
                        self.rt.progress(self.job.name, self.read)
                    if record.updated_at and (system not in self.max_updated or record.updated_at > self.max_updated[system]):
                        self.max_updated[system] = record.updated_at
                    yield record
                break
            except AuthError as exc:
                self.rt.caller.note_auth_failure(system, exc)
                raise
            except Transient as exc:
                # Restart the listing after a pause: links settle first, so records read twice are unchanged.
                attempt += 1
                delay = self.rt.caller.policy.delay(attempt, exc, self.rt.caller.rng)
                if delay is None:
                    raise
                log.warning("job %s: reading %s failed (%s); reading again in %.1fs", self.job.name, system, exc, delay)
                self._drain(everything=True)
                self.rt.caller.wait(delay)
        if self.rt.progress:
            self.rt.progress(self.job.name, self.read)
        self.complete[system] = True

    def _seen(self, system: str, ids: list[str]) -> set[str]:
        """Note ids read in this run; return those not read before in it (a vendor's paging can
        repeat a record, and a record waiting for retry is listed too). With mirrored deletes the
        state keeps them, for finding what is gone; otherwise a set of ids is enough."""
        if self.job.deletes == "mirror":
            return self.state.seen_add(self.kind, system, ids)
        seen = self.seen_ids[system]
        fresh = {i for i in ids if i not in seen}
        seen.update(fresh)
        return fresh

    def _full_scan_due(self, system: str) -> bool:
        """With mirrored deletes, an incremental source is still scanned fully once a day to see deletes."""
        if self.job.deletes != "mirror":
            return False
        last = self.state.cursor(self.job.name, f"{system}#full")
        return last is None or datetime.now(timezone.utc) - last > FULL_SCAN_INTERVAL

    def _prepare(self, raw: Record, system: str) -> Record | None:
        """Normalise and transform one record; a record that cannot be read fails alone."""
        try:
            record = normalise(raw)
            if record.id is None:
                raise InvalidValue("the record has no id")
            for name, functions in self.transforms:
                value = record.value(name)
                for function in functions:
                    value = function(value)
                if name in record.fields:
                    record.fields[name] = value
                else:
                    record.refs[name] = value
            return record
        except InvalidValue as exc:
            self._read_failed(system, raw.id, exc)
            return None

    def _read_failed(self, system: str, record_id: str | None, exc: Exception) -> None:
        reason = f"cannot read {self.kind} {record_id} from {system}: {exc}"
        self.failed_reads[system] += 1
        action = Action("read", self.kind, system, record_id, system, reason=reason)
        self._settle_now(Outcome(action, "failed", reason=reason))

    def _expand(self, chunk: list[Record], system: str, peers: list[str]) -> list[Record]:
        """Prepare a chunk; fetch whole records only for stubs whose version token changed."""
        fresh = self._seen(system, [r.id for r in chunk if r.id is not None])
        unique: dict[str, Record] = {}
        for record in chunk:
            if record.id is None or (record.id in fresh and record.id not in unique):
                unique[record.id or f"#{len(unique)}"] = record
        chunk = list(unique.values())
        stubs = [r for r in chunk if r.partial]
        fetch: list[Record] = []
        if stubs:
            links = {peer: self.state.links(self.kind, system, [r.id for r in stubs if r.id], peer) for peer in peers}
            for stub in stubs:
                same = all((link := links[p].get(stub.id or "")) and link.version == stub.version for p in peers)
                if same:
                    self._unchanged(system)
                else:
                    fetch.append(stub)
        full = {id(r): r for r in chunk if not r.partial}
        if fetch:
            connector = self.rt.connector(system)
            futures = {self.rt.pool(system).submit(self.rt.caller.call, system, connector.get, self.kind, s.id): s
                       for s in fetch}
            for future, stub in futures.items():
                try:
                    record = future.result()
                except (Rejected, ProtocolError, Transient, SystemHeld, AuthError) as exc:
                    self._read_failed(system, stub.id, exc)
                    continue
                if record is not None:
                    record.version = record.version or stub.version
                    full[id(stub)] = record
        out = []
        for raw in chunk:
            record = full.get(id(raw))
            prepared = self._prepare(record, system) if record else None
            if prepared:
                out.append(prepared)
        return out

    # == planning ===============================================================================

    def _hash_space(self, system: str, peer: str) -> str:
        """References are hashed as ids of the job's target, so both sides of a link hash alike."""
        return self.job.targets[0] if self.job.two_way else peer

    def _plan_chunk(self, records: list[Record], system: str, peer: str, fields: frozenset[str],
                    force: bool = False) -> list[Action]:
        """Actions that make ``peer`` match ``records`` (``force``: update linked records even if unchanged)."""
        ids = [r.id for r in records if r.id]
        links = self.state.links(self.kind, system, ids, peer)
        intents = self.state.intents(self.kind, system, peer, ids)
        ref_names = frozenset(KINDS[self.kind].refs) & fields
        written = {name.split(".", 1)[0] for name in fields}  # list fields travel whole
        translated = self.refs.translate(records, system, peer, ref_names)
        hash_in_peer = self._hash_space(system, peer) == peer
        actions: list[Action] = []
        lookups: list[Action] = []
        touched: list[Link] = []
        for record in records:
            rid = record.id or ""
            if self.job.two_way and self._conflict_pending(record, system, links.get(rid), actions):
                continue
            refs = translated[rid]
            out = Record(self.kind, rid, {k: v for k, v in record.fields.items() if k in written},
                         refs.refs, record.updated_at, record.version)
            values = project(out if hash_in_peer else record, fields)
            digest = content_hash(values)
            link = links.get(rid)
            if link is not None and link.hash == digest and not force and not refs.missing:
                self._unchanged(system)
                if link.version != record.version and not self.dry_run:
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
            base.peer_hash = self._stored_hash(out, record if not hash_in_peer else out, peer, fields, digest)
            if link is not None:
                base.link, base.target_id = link, link.peer_id
                base.changes = changed_fields(link.values(), values)
                actions.append(base)
            elif rid in intents:
                actions.append(replace(base, op="reconcile", key=intents[rid].key,
                                       reason="an earlier create may have reached the target"))
            else:
                lookups.append(base)
        if touched:
            self.state.save_links(touched)  # new version tokens of unchanged records
        actions.extend(self._adopt_or_create(lookups, system, peer, fields))
        return actions

    def _stored_hash(self, out: Record, hashed: Record, peer: str, fields: frozenset[str], digest: str) -> str:
        """The hash ``peer`` will show for ``out`` once written (its references as hashed); ``digest``
        is the hash of ``hashed`` itself, which it is when the vendor keeps everything as given."""
        stored = self._stored(peer, out)
        if stored is out:
            return digest
        return content_hash(project(Record(self.kind, out.id, stored.fields, hashed.refs), fields))

    def _unchanged(self, system: str) -> None:
        """Count an unchanged pair once: in a two-way job, from the source's side only."""
        if not self.job.two_way or system == self.job.source:
            self.tally.add("unchanged")

    def _conflict_pending(self, record: Record, system: str, link: Link | None, actions: list[Action]) -> bool:
        """A pair with an open conflict is left alone until an operator resolves it."""
        conflict = self.conflicts.get((system, record.id or ""))
        if link is None or conflict is None or conflict["status"] != "open":
            return False
        if system == self.job.source:  # count it once, from the source's side
            actions.append(Action("conflict", self.kind, system, record.id, link.peer_system, link.peer_id,
                                  reason=f"unresolved conflict #{conflict['id']}", conflict_id=conflict["id"]))
        return True

    def _key(self, record: Record, names: Iterable[str], system: str, peer: str, settable: bool = False) -> dict[str, Any]:
        """Values of ``names`` that both systems carry (references as ``peer`` ids); {} if all are empty.

        :param settable: only fields ``peer`` sets as given (looking for a record we created, whose
            read-only fields, such as a total the vendor computes, may differ from ours).
        """
        carried = self._key_fields(system, peer, settable)
        key = {name: record.value(name) for name in names if name in carried}
        return key if any(v is not None for v in key.values()) else {}

    def _key_fields(self, system: str, peer: str, settable: bool) -> frozenset[str]:
        """Fields a lookup in ``peer`` may use (worked out once per pair and run)."""
        cache_key = (system, peer, settable)
        if cache_key not in self.key_fields:
            ops = self.rt.ops(peer, self.kind)
            self.key_fields[cache_key] = (ops.writable(self.kind) if settable else ops.carried(self.kind)) & \
                self.rt.ops(system, self.kind).carried(self.kind)
        return self.key_fields[cache_key]

    def _adopt_or_create(self, lookups: list[Action], system: str, peer: str, fields: frozenset[str]) -> list[Action]:
        """Adopt records the target already has (by shared id, or by the job's match fields), else create.

        In a sync each becomes one ``lookup`` task: the worker looks, creates at once when nothing
        is there, and hands any candidates to the engine thread to choose from. A plan looks now.
        """
        shared = self.rt.shares_ids(system, peer) and "get" in self.rt.ops(peer, self.kind)
        can_find = "find" in self.rt.ops(peer, self.kind)
        for action in lookups:
            assert action.record is not None
            # looked up by what the target will show once written (a total it computes, say)
            action.key = self._key(self._stored(peer, action.record), self.identity, system, peer, settable=True) or \
                self._key(action.record, self.natural, system, peer)
            match = self._key(action.record, self.natural, system, peer)
            action.match = {"id": action.source_id} if shared else match if can_find else None
            action.op = "lookup" if action.match else "create"
        if not self.dry_run:
            return lookups
        futures = {i: self.rt.pool(peer).submit(self._look, a) for i, a in enumerate(lookups) if a.op == "lookup"}
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
            out.append(self._decide(action, found, fields))
        return out

    def _look(self, action: Action) -> list[Record]:
        """Records in the target that may be ``action``'s record (in a worker)."""
        connector = self.rt.connector(action.target)
        if action.match == {"id": action.source_id} and self.rt.shares_ids(action.source, action.target):
            found = self.rt.caller.call(action.target, connector.get, self.kind, action.source_id)
            return [found] if found is not None else []
        return list(self.rt.caller.call(action.target, connector.find, self.kind, action.match) or [])

    def _decide(self, action: Action, candidates: list[Record], fields: frozenset[str]) -> Action:
        """Adopt the one free candidate, create when there is none, defer when several match."""
        shared = action.match == {"id": action.source_id} and self.rt.shares_ids(action.source, action.target)
        chosen = self._choose(candidates, action.match or {}, action.target, action.source, exact=not shared)
        if isinstance(chosen, str):
            return replace(action, op="defer", reason=chosen)
        if chosen is None:
            return replace(action, op="create")
        return self._adoption(action, chosen, fields, action.target)

    def _choose(self, candidates: list[Record], key: dict[str, Any], peer: str, system: str,
                exact: bool = True) -> Record | str | None:
        """The one unlinked candidate matching ``key`` exactly; None if none; a reason if several."""
        matching = []
        for candidate in candidates:
            try:
                normal = normalise(candidate)
            except InvalidValue:
                continue
            if exact and any(normal.value(name) != value for name, value in key.items()):
                continue
            matching.append(normal)
        if not matching:
            return None
        linked = self.state.links(self.kind, peer, [c.id for c in matching if c.id], system)
        free = [c for c in matching if c.id not in linked and c.id not in self.claimed[peer]]
        if len(free) == 1:
            self.claimed[peer].add(free[0].id or "")
            return free[0]
        if not free:  # each is another record's: this one is not there yet
            return None
        return f"{len(free)} records in {peer} match {_show(key)}; not adopting or creating any (merge them first)"

    def _adoption(self, action: Action, found: Record, fields: frozenset[str], peer: str) -> Action:
        """Link to a record the target already has; update it if it differs.

        In a two-way job neither side is the master of a record met for the first time: the pair is
        linked as never synced, and settled once both sides are read (by the conflict policy).
        """
        values = project(found, fields)
        changes = changed_fields(values, action.values or {})
        if changes and self.job.two_way:
            return replace(action, op="settle", target_id=found.id, changes=changes, hash="", peer_hash="",
                           values=None, reason="differs on both sides; settled by the conflict policy")
        return replace(action, op="adopt", target_id=found.id, changes=changes,
                       reason=None if not changes else "adopted, then updated")

    # == applying ===============================================================================

    def _emit_plan(self, action: Action) -> None:
        counter = {"create": "created", "update": "updated", "delete": "deleted", "adopt": "adopted",
                   "reconcile": "created", "defer": "deferred", "conflict": "conflicts", "relink": "unchanged",
                   "read": "failed", "fail": "failed", "settle": "adopted", "lookup": "created"}[action.op]
        self.tally.add(counter)
        if self.on_action:
            self.on_action(action)

    def _dispatch(self, actions: list[Action]) -> None:
        if self.dry_run:
            for action in actions:
                self._emit_plan(action)
            return
        intents = [Intent(self.kind, a.source, a.source_id or "", a.target, self.job.name, a.key or {}, now())
                   for a in actions if a.op in ("create", "lookup")]
        if intents:
            with self.state.atomic():
                self.state.add_intents(intents, self.run_id)
        for action in actions:
            if action.op in WRITES:
                if self.rt.stop.is_set():
                    continue  # never sent; the next run reads the record again
                self._submit(action)
            else:
                self._settle_now(self._offline(action))
            if len(self.inflight) >= self.window:
                self._drain()
        self._drain(block=False)

    def _submit(self, action: Action, delay: float = 0.0) -> None:
        """Send an action to its target's workers. Creates that a lookup could confuse (same identity
        key, same target) go one at a time, so a lookup after a lost reply never meets a record
        another create of this run is still making."""
        if action.op in ("create", "reconcile", "lookup") and action.key:
            slot = (action.target, _show(action.key))
            if slot in self.creating and self.creating[slot] != action.source_id:
                self.waiting[slot].append(action)
                return
            self.creating[slot] = action.source_id
        self.inflight.add(self.rt.pool(action.target).submit(self._execute, action, delay))

    def _release(self, action: Action) -> None:
        """A create has settled for good: let the next one with its key go."""
        slot = (action.target, _show(action.key or {}))
        if self.creating.get(slot) != action.source_id:
            return
        del self.creating[slot]
        if self.waiting.get(slot):
            self._submit(self.waiting[slot].pop(0))

    def _offline(self, action: Action) -> Outcome:
        """Outcomes that need no vendor call: deferrals, conflicts, relinks."""
        if action.op == "defer":
            return Outcome(action, "deferred", reason=action.reason)
        if action.op == "fail":
            return Outcome(action, "failed", reason=action.reason)
        if action.op == "relink":
            return Outcome(action, "unchanged", action.target_id)
        if action.op == "settle":
            return Outcome(action, "created" if action.ours else "adopted", action.target_id)
        if action.op == "conflict":
            return Outcome(action, "conflicts", action.target_id, reason=action.reason)
        raise ValueError(action.op)

    def _execute(self, action: Action, delay: float = 0.0) -> Outcome:
        """Apply one action (in a worker thread: vendor calls only, no state)."""
        caller, connector = self.rt.caller, self.rt.connector(action.target)
        target, kind = action.target, self.kind
        try:
            caller.wait(delay)
            if action.op == "reconcile":
                return self._lookup(action)
            if action.op == "lookup":
                try:
                    candidates = self._look(action)
                except (ConnectorError, SystemHeld) as exc:
                    return Outcome(action, "failed", error=exc, created_nothing=True,
                                   reason=f"cannot look for an existing {kind} in {target}: {_reason(exc)}")
                if candidates:
                    return Outcome(action, "found", candidates=candidates)
                action = replace(action, op="create")  # nothing there: create it now, in this worker
            if action.op == "create":
                try:
                    new_id = caller.call(target, connector.create, kind, action.record, write=True, retry_applied=False)
                except Transient as exc:
                    if not exc.may_have_applied:
                        return Outcome(action, "failed", reason=_reason(exc), error=exc, created_nothing=True)
                    try:
                        return self._lookup(action, exc)
                    except (ConnectorError, SystemHeld) as lookup:
                        return Outcome(action, "failed", error=exc, reason=f"{_reason(exc)}; looking for what "
                                       f"may have been created failed too: {_reason(lookup)}")
                except (Rejected, AuthError, SystemHeld) as exc:  # refused: nothing was made
                    return Outcome(action, "failed", reason=_reason(exc), error=exc, created_nothing=True)
                return Outcome(action, "created", str(new_id))
            if action.op == "adopt":
                if action.changes:
                    caller.call(target, connector.update, kind, action.target_id, action.record, write=True)
                return Outcome(action, "created" if action.ours else "adopted", action.target_id)
            if action.op == "update":
                caller.call(target, connector.update, kind, action.target_id, action.record, write=True)
                return Outcome(action, "updated", action.target_id)
            if action.op == "delete":
                try:
                    caller.call(target, connector.delete, kind, action.target_id, write=True)
                except NotFound:
                    pass
                return Outcome(action, "deleted", action.target_id, link=False)
            raise ValueError(f"unknown action {action.op}")
        except NotFound as exc:
            return Outcome(action, "failed", reason=f"{kind} {action.target_id} no longer exists in {target}; "
                           "its link is removed and it will be created again on the next run", error=exc, link=False)
        except Stopped:
            return Outcome(action, "stopped")
        except SystemHeld as exc:
            return Outcome(action, "failed", reason=str(exc), error=exc)
        except (AuthError, Rejected, Transient, ProtocolError) as exc:
            return Outcome(action, "failed", reason=_reason(exc), error=exc)
        except Exception as exc:  # a plugin bug fails this record, not the run
            log.exception("job %s: plugin error on %s %s", self.job.name, kind, action.source_id)
            return Outcome(action, "failed", reason=f"plugin error: {type(exc).__name__}: {exc}", error=exc)

    def _lookup(self, action: Action, exc: Exception | None = None) -> Outcome:
        """After a lost reply or a crash: find what may have been created (the main thread decides)."""
        connector = self.rt.connector(action.target)
        if self.rt.shares_ids(action.source, action.target) and "get" in self.rt.ops(action.target, self.kind):
            found = self.rt.caller.call(action.target, connector.get, self.kind, action.source_id)
            return Outcome(action, "lookup", error=exc, candidates=[found] if found else [])
        if not action.key:
            reason = (f"an earlier create of {self.kind} {action.source_id} in {action.target} may have "
                      "succeeded and no identifying fields can tell; not creating it again")
            return Outcome(action, "failed", reason=reason, error=exc)
        found = self.rt.caller.call(action.target, connector.find, self.kind, action.key)
        return Outcome(action, "lookup", error=exc, candidates=list(found or []))

    def _drain(self, block: bool = True, everything: bool = False) -> None:
        """Settle finished actions; with ``block``, wait for at least one; ``everything``: for all."""
        while self.inflight:
            timeout = None if (block or everything) else 0
            done, _ = wait(self.inflight, timeout=timeout, return_when=FIRST_COMPLETED)
            if not done:
                return
            self.inflight -= done
            self._settle([f.result() for f in done])
            if not everything:
                return

    def _settle(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:  # records made or taken here are no one else's to adopt
            if outcome.result in ("created", "adopted") and outcome.target_id:
                self.claimed[outcome.action.target].add(outcome.target_id)
        final = []
        for outcome in outcomes:
            if outcome.result == "lookup":
                outcome = self._after_lookup(outcome)
            elif outcome.result == "found":
                outcome = self._after_found(outcome)
            if outcome is not None and outcome.result != "stopped":
                final.append(outcome)
            if outcome is not None and outcome.action.key:
                self._release(outcome.action)
        if final:
            batch = _Batch()
            with self.state.atomic():
                for outcome in final:
                    self._record(outcome, batch)
                batch.flush(self.state, self.job.name, self.kind)
        self.rt.persist_holds()

    def _after_found(self, outcome: Outcome) -> Outcome | None:
        """Candidates found for a record with no link: adopt one, or create after all (its key stays held)."""
        decided = self._decide(outcome.action, outcome.candidates, outcome.action.fields or frozenset())
        if decided.op in ("defer", "settle"):
            result = self._offline(decided)
            result.created_nothing = decided.op == "defer"
            return result
        if decided.op == "adopt" and not decided.changes:
            return Outcome(decided, "adopted", decided.target_id)
        self.inflight.add(self.rt.pool(decided.target).submit(self._execute, decided))
        return None

    def _after_lookup(self, outcome: Outcome) -> Outcome | None:
        """Adopt the one unlinked record found, or send the create (again) after a pause."""
        action = outcome.action
        chosen = self._choose(outcome.candidates, action.key or {}, action.target, action.source)
        if isinstance(chosen, Record):
            # found what an earlier attempt created; it may hold older values than the record now has
            adopted = replace(self._adoption(action, chosen, action.fields or frozenset(), action.target), ours=True)
            if adopted.op == "settle":
                return self._offline(adopted)
            if adopted.changes:
                self.inflight.add(self.rt.pool(action.target).submit(self._execute, adopted))
                return None  # its key stays taken until the update settles
            return Outcome(action, "created", chosen.id)
        if isinstance(chosen, str):
            return Outcome(action, "failed", reason=chosen)
        attempt = action.attempt + 1
        if self.rt.stop.is_set():
            return None
        if outcome.error is not None:
            delay = self.rt.caller.policy.delay(attempt, outcome.error, self.rt.caller.rng)
            if delay is None:
                return Outcome(action, "failed", reason=_reason(outcome.error), error=outcome.error)
        else:
            delay = 0.0
        retry = replace(action, op="create", attempt=attempt)
        self.inflight.add(self.rt.pool(action.target).submit(self._execute, retry, delay))
        return None  # its key stays taken until the retry settles

    def _settle_now(self, outcome: Outcome) -> None:
        if self.dry_run:
            self._emit_plan(outcome.action)
            return
        batch = _Batch()
        with self.state.atomic():
            self._record(outcome, batch)
            batch.flush(self.state, self.job.name, self.kind)

    def _link(self, action: Action, target_id: str | None) -> Link:
        previous = action.link
        return Link(self.kind, action.source, action.source_id or "", action.target, target_id or "",
                    action.hash or "", json.dumps(action.values, sort_keys=True, default=str),
                    action.version, previous.peer_version if previous else None, self.job.name, now(),
                    action.peer_hash if action.peer_hash is not None else action.hash)

    def _record(self, outcome: Outcome, batch: "_Batch") -> None:
        """Store one outcome (inside the caller's transaction, bulk writes through ``batch``) and count it."""
        action, result = outcome.action, outcome.result
        state = self.state
        self.tally.add(result)
        if result in ("created", "updated", "adopted") or (result == "unchanged" and action.op == "relink"):
            batch.links.append(self._link(action, outcome.target_id))
            if action.op == "settle":
                a_side = action.source == self.job.source
                pair = (action.source_id, outcome.target_id) if a_side else (outcome.target_id, action.source_id)
                self.unsettled.append(pair)  # type: ignore[arg-type]
            batch.done.append((action.source, action.target, action.source_id or ""))
            if action.conflict_id:
                state.close_conflict(action.conflict_id)
        elif result == "deleted":
            if action.link:
                state.delete_link(action.link)
        elif result == "conflicts" and action.theirs_hash and action.link:
            conflict_id = state.add_conflict(self.job.name, self.kind, action.link, action.values or {},
                                             action.theirs or {}, action.hash or "", action.theirs_hash)
            outcome.reason = f"{outcome.reason} (conflict #{conflict_id})"
        elif result in ("failed", "deferred"):
            if outcome.link is False and action.link:
                state.delete_link(action.link)
            if outcome.created_nothing:  # the vendor refused the create: nothing to reconcile later
                batch.dropped.append((action.source, action.target, action.source_id or ""))
            if action.source_id and action.op != "delete":
                state.add_pending(self.job.name, action.source, action.source_id, outcome.reason or result)
        if result != "unchanged":
            batch.events.append({
                "run_id": self.run_id, "job": self.job.name, "kind": self.kind, "system": action.source,
                "record_id": action.source_id, "target": action.target, "target_id": outcome.target_id or action.target_id,
                "action": action.op, "outcome": result, "reason": outcome.reason,
                "fields": sorted(action.changes) if action.changes else None})
            if result == "failed":
                log.warning("job %s: %s %s %s -> %s failed: %s", self.job.name, action.op, self.kind,
                            action.source_id, action.target, outcome.reason)
            self.rt.emit(Event(f"record.{result}", job=self.job.name, run_id=self.run_id, system=action.source,
                               kind=self.kind, record_id=action.source_id, target_id=outcome.target_id,
                               detail={"target": action.target, "action": action.op, "reason": outcome.reason,
                                       "fields": sorted(action.changes)}))

    # == finishing ==============================================================================

    def _finish(self) -> None:
        self._drain(everything=True)
        if self.rt.stop.is_set():
            return
        self._plan_deletes()
        self._drain(everything=True)
        if self.dry_run or self.rt.stop.is_set():
            return
        for system, complete in self.complete.items():
            if not complete:
                continue
            if system in self.scanned_full and self.job.deletes == "mirror":
                self.state.set_cursor(self.job.name, f"{system}#full", datetime.now(timezone.utc))
            if "since" not in self.rt.ops(system, self.kind) or system not in self.max_updated:
                continue
            if self.failed_reads[system] and "get" not in self.rt.ops(system, self.kind):
                log.warning("job %s: not advancing the %s cursor: records failed and %s cannot fetch them "
                            "one by one", self.job.name, system, system)
                continue
            self.state.set_cursor(self.job.name, system, self.max_updated[system])

    def _plan_deletes(self) -> None:
        """With ``deletes = "mirror"``: records gone from a complete full scan are deleted on the other side."""
        if self.job.deletes != "mirror" or self.rt.stop.is_set():
            return
        pairs = [(self.job.source, t) for t in self.job.targets]
        if self.job.two_way:
            pairs.append((self.job.targets[0], self.job.source))
        for system, peer in pairs:
            if not self.complete.get(system) or system not in self.scanned_full:
                continue
            if self.rt.held(peer):
                continue
            gone = self._unseen(system, peer)
            actions = [Action("delete", self.kind, system, link.id, peer, link.peer_id, link=link,
                              reason=f"gone from {system}") for link in gone]
            self._dispatch(actions)

    def _unseen(self, system: str, peer: str) -> list[Link]:
        return [link for link in self.state.unseen_links(self.kind, system, peer)
                if (link.synced_at or "") < self.started]


class _Batch:
    """Writes of one settle, sent to the state in bulk inside its transaction."""

    def __init__(self) -> None:
        self.links: list[Link] = []
        self.done: list[tuple[str, str, str]] = []  # (source, target, source id) now linked
        self.dropped: list[tuple[str, str, str]] = []  # creates that certainly did not happen
        self.events: list[dict[str, Any]] = []

    def flush(self, state: Any, job: str, kind: str) -> None:
        state.save_links(self.links)
        for (source, target), group in _grouped(self.done).items():
            state.delete_intents(kind, source, target, group)
            state.clear_pending(job, source, group)
        for (source, target), group in _grouped(self.dropped).items():
            state.delete_intents(kind, source, target, group)
        state.add_events(self.events)



def _grouped(done: list[tuple[str, str, str]]) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    for source, target, record_id in done:
        out[(source, target)].append(record_id)
    return out


def _show(key: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in key.items())


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    fields = getattr(exc, "fields", None)
    if fields:
        text += " (" + "; ".join(f"{k}: {v}" for k, v in fields.items()) + ")"
    return text
