"""Drift: a linked target record changed since hostsync wrote it (by hand in the panel, by another tool).

To sync, a one-way job never needs to read its targets. A full scan also checks them: ``sync
--full``, the daily full scan of a job that mirrors deletes, and, once a day, the full scans of a
source that cannot be read incrementally. It reads the target records the job links, and compares
each with what hostsync last wrote there *as the target keeps it*: the link's snapshot through
``Connector.stored``, in the fields the job writes (those the snapshot has). A difference is drift.
With ``drift = "repair"`` (the default) the source record is read again and written to the target
(an update, through the blast-radius guard), which puts it back; with ``"report"`` it is only
reported. A linked record gone from the target is drift too: repaired by creating it again. Every
drift is counted (``drift``), stored as an event with each field's value found and expected, and
emitted as ``record.drift``.

Only links synced before this run whose source record this scan read are checked (a record written
or planned in this run is not drift, nor one gone from the source). The target is read by listing it
when that takes fewer requests than reading the linked records one by one: when the listing's
cost (``Cost.scan`` of ``n``, the records of the kind hostsync links in the target) is less than the
number of links to check; a connector that declares no page size (``Cost.page``) is read with
``get``. A linked record missing from a listing is looked up with ``get``
before it counts as gone. A run that is not a full scan reads nothing more than before.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any, Callable, Iterable

from ..model import KINDS, Record, changed_fields, content_hash, project
from ..state import Link
from .actions import Action
from .context import RunContext, log
from .plan import Planner
from .read import CHUNK, Reader
from .readback import fetched, listed
from .settle import Settler

#: How often the full scans of a source that is always read whole check the targets for drift.
DRIFT_INTERVAL = timedelta(hours=24)


class DriftCheck:
    """Checks the targets of one one-way run for drift, after its scan."""

    def __init__(self, ctx: RunContext, reader: Reader, planner: Planner, settler: Settler) -> None:
        self.ctx = ctx
        self.rt = ctx.rt
        self.kind = ctx.kind
        self.reader = reader
        self.planner = planner
        self.settler = settler

    def due(self, target: str) -> bool:
        """Whether this run checks ``target``: a complete full scan of the source, asked for
        (``--full``) or the first in :data:`DRIFT_INTERVAL`."""
        ctx, progress = self.ctx, self.reader.progress
        source = ctx.job.source
        if ctx.job.two_way or source not in progress.scanned_full or not progress.complete.get(source):
            return False
        if ctx.full:
            return True
        last = ctx.state.cursor(ctx.job.name, f"{target}#drift")
        return last is None or ctx.clock() - last >= DRIFT_INTERVAL

    def run(self, targets: Iterable[str], skip: Callable[[str], set[str]]) -> list[Action]:
        """Check each due target; return the actions that repair what drifted.

        :param skip: target -> source ids with an update already planned in this run (not checked).
        """
        actions: list[Action] = []
        for target in targets:
            if self.ctx.stopping or not self.ctx.usable(target, quiet=True) or not self.due(target):
                continue
            actions.extend(self.check(target, skip(target)))
            if not self.ctx.dry_run and not self.ctx.stopping:
                self.ctx.state.set_cursor(self.ctx.job.name, f"{target}#drift", self.ctx.clock())
        return actions

    def check(self, target: str, skip: set[str]) -> list[Action]:
        """Compare the records linked in ``target`` with what hostsync wrote; report every drift and
        return the repairs."""
        ctx, source = self.ctx, self.ctx.job.source
        candidates = self._candidates(target, skip)  # target id -> source id
        if not candidates:
            return []
        ops = self.rt.ops(target, self.kind)
        fields = self.planner.fields(source, target)
        drifted: list[tuple[Action, Link]] = []

        def compare(records: dict[str, Record | None]) -> None:
            links = ctx.state.links(self.kind, target, list(records), source)  # from the target's side
            for target_id, record in records.items():
                link = links.get(target_id)
                if link is not None:
                    found = self._drift(link, record, fields, target)
                    if found is not None:
                        drifted.append((found, link))

        if "list" in ops and (self._listing_is_cheaper(target, len(candidates)) or "get" not in ops):
            seen: set[str] = set()
            for chunk in listed(self.rt, target, self.kind, self._unreadable(target)):
                mine = {r.id: r for r in chunk if r.id in candidates and r.id not in seen}
                seen.update(mine)
                compare(mine)  # type: ignore[arg-type]
            absent = [i for i in candidates if i not in seen]
            if absent and "get" in ops:  # a listing may leave records out: gone only if get says so
                for start in range(0, len(absent), CHUNK):
                    compare(dict(fetched(self.rt, target, self.kind, absent[start:start + CHUNK],
                                         self._unreadable(target))))
            elif absent:
                compare(dict.fromkeys(absent))
        elif "get" in ops:
            ids = list(candidates)
            for start in range(0, len(ids), CHUNK):
                if ctx.stopping:
                    break
                compare(fetched(self.rt, target, self.kind, ids[start:start + CHUNK], self._unreadable(target)))
        else:
            log.warning("job %s: cannot check %s for drift: it can neither list nor get %s records",
                        ctx.job.name, target, self.kind)
            return []
        return self._settle(drifted, target, fields)

    def _candidates(self, target: str, skip: set[str]) -> dict[str, str]:
        """Target id -> source id of the links to check: synced before this run, with a source
        record this scan read, and no update planned for it in this run."""
        ctx, source = self.ctx, self.ctx.job.source
        pairs = [(link.peer_id, link.id) for link in ctx.state.iter_links(self.kind, source, target,
                                                                          synced_before=ctx.started)
                 if link.id not in skip]
        out: dict[str, str] = {}
        for start in range(0, len(pairs), CHUNK):
            chunk = pairs[start:start + CHUNK]
            read = self.reader.seen_among(source, [source_id for _, source_id in chunk])
            out.update((target_id, source_id) for target_id, source_id in chunk if source_id in read)
        return out

    def _listing_is_cheaper(self, target: str, checks: int) -> bool:
        requests = self.rt.ops(target, self.kind).cost.scan(self.ctx.state.count_links_in(self.kind, target))
        return requests is not None and requests < checks

    def _drift(self, link: Link, record: Record | None, fields: frozenset[str], target: str) -> Action | None:
        """The drift of one linked pair (``link`` from the target's side), or ``None``."""
        source = self.ctx.job.source
        action = Action("drift", self.kind, source, link.peer_id, target, link.id, link=link)
        if record is None:
            action.reason = f"deleted from {target} since hostsync wrote it"
            return action
        if content_hash(project(record, fields)) == link.hash:  # as hostsync left it
            return None
        snapshot = link.values()
        names = frozenset(name for name in fields if name.split(".", 1)[0] in snapshot)
        expected = project(self.planner.stored(target, as_record(self.kind, link.peer_id, snapshot)), names)
        found = project(record, names)
        changes = changed_fields(found, expected)  # name -> (found, expected)
        if not changes:  # the hash differs, the values do not (a link stored by an older hostsync)
            return None
        action.changes = changes
        action.reason = f"changed in {target} since hostsync wrote it: {', '.join(changes)}"
        return action

    def _settle(self, drifted: list[tuple[Action, Link]], target: str, fields: frozenset[str]) -> list[Action]:
        """Report each drift; return what puts the target back (``drift = "repair"``)."""
        ctx, source = self.ctx, self.ctx.job.source
        repair = ctx.job.drift == "repair" and "get" in self.rt.ops(source, self.kind)
        for action, _ in drifted:
            action.reason = f"{action.reason}; " + ("put back" if repair else 'reported only (drift = "report")')
            self.settler.drift(action, repaired=repair)
        if not repair or not drifted:
            return []
        by_source = {action.source_id or "": (action, link) for action, link in drifted}
        records = fetched(self.rt, source, self.kind, list(by_source), self._unreadable(source))
        prepared = [r for r in (self.reader.prepare(raw, source) for raw in records.values() if raw) if r]
        gone = [r for r in prepared if by_source[r.id or ""][0].changes == {}]
        changed = [r for r in prepared if by_source[r.id or ""][0].changes != {}]
        out = []
        for planned in self.planner.plan(changed, source, target, fields, force=True):
            drift = by_source[planned.source_id or ""][0]
            if planned.op == "update":
                planned = replace(planned, changes=drift.changes, reason=f"drift: {drift.reason}")
            out.append(planned)
        if gone:
            out.extend(self._recreate(gone, by_source, target, fields))
        return out

    def _recreate(self, records: list[Record], by_source: dict[str, tuple[Action, Link]], target: str,
                  fields: frozenset[str]) -> list[Action]:
        """Records deleted from the target: their links go, and they are planned afresh (created)."""
        ctx, source = self.ctx, self.ctx.job.source
        if ctx.dry_run:  # the links stay: say what a sync would do
            return [replace(a, op="create", target_id=None, link=None, changes={}, reason=f"drift: gone from {target}")
                    if a.op == "update" else a for a in self.planner.plan(records, source, target, fields, force=True)]
        with ctx.state.atomic():
            for record in records:
                link = by_source[record.id or ""][1]
                ctx.state.delete_link(link)
        return self.planner.plan(records, source, target, fields)

    def _unreadable(self, system: str) -> Callable[[str | None, Exception], None]:
        def unreadable(record_id: str | None, exc: Exception) -> None:
            log.warning("job %s: drift check: cannot read %s %s from %s: %s", self.ctx.job.name, self.kind,
                        record_id, system, exc)
        return unreadable


def as_record(kind: str, record_id: str | None, values: dict[str, Any]) -> Record:
    """Projected values (a link's snapshot) as a record: references apart from fields."""
    refs = KINDS[kind].refs
    return Record(kind, record_id, {k: v for k, v in values.items() if k not in refs},
                  {k: v for k, v in values.items() if k in refs})
