"""Finding what a target already holds for a source record with no link: by origin marker, by a
``find`` per record, or in one scan of the target indexed by the job's match fields and the markers.

Which of the two a run uses is decided per target, once, when the first records needing a lookup
come: a scan costs the target's listing (its pages, and a request per record where reading one
whole takes one), a find per record costs what the connector declares (:class:`~hostsync.connector.Cost`)
for each record with no link. The scan is tried only where its cost, estimated from the records
hostsync knows the target holds, is within what the finds would cost, and it is abandoned (for the
finds) as soon as it exceeds that: an initial sync into an empty or small target costs its list
pages, and a scan never costs more than the finds it replaces. A record the scan could not read
ends it too: an index must never miss a record a find would have found.

Origin markers (``hs:<source system>:<source id>``, see :data:`hostsync.connector.ORIGIN`) are
written on create to targets that keep them, and give exact identity: a target record carrying the
marker is the record's own; one carrying the marker of another record of the same source (a copy
made by hand) is never adopted for this one. After a lost reply a create is looked up by its
marker (:mod:`.apply`); on adoption, by the index when the target was scanned, else with ``find``
where the connector says a find by marker is cheap (and among the records the match fields find
in any case).
"""

from __future__ import annotations

import hashlib
import logging
from collections import deque
from concurrent.futures import Future
from typing import Any, Iterable

from ..connector import ORIGIN
from ..errors import ConnectorError
from ..model import InvalidValue, Record, normalise
from .actions import Action
from .calls import SystemHeld
from .context import RunContext
from .read import CHUNK, fetch_whole, listed

log = logging.getLogger("hostsync.engine")

#: The longest origin marker (what vendors' custom fields and tags hold safely).
MARKER_MAX = 64


def marker(system: str, record_id: str) -> str:
    """The origin marker of record ``record_id`` of ``system``: ``hs:<system>:<id>``, printable
    ASCII of at most :data:`MARKER_MAX` characters (a digest of both where that would be longer)."""
    plain = f"hs:{system}:{record_id}"
    if len(plain) <= MARKER_MAX and plain.isascii() and plain.isprintable():
        return plain
    return "hs:~" + hashlib.blake2b(f"{system}\0{record_id}".encode(), digest_size=16).hexdigest()


def foreign(origin: str | None, system: str, own: str | None) -> bool:
    """Whether ``origin`` is the marker of another record of ``system`` than the one marked ``own``."""
    return bool(origin) and origin != own and origin.startswith(f"hs:{system}:")  # type: ignore[union-attr]


def key_value(record: Record, name: str) -> Any:
    """A lookup key's value in ``record``: a field, a reference, or its origin marker."""
    return record.origin if name == ORIGIN else record.value(name)


def carries(record: Record, key: dict[str, Any]) -> bool:
    """Whether ``record`` is what a create with lookup key ``key`` made: by its marker where the key
    has one (exact), else by every field of the key."""
    if ORIGIN in key:
        return record.origin == key[ORIGIN]
    return all(record.value(name) == value for name, value in key.items())


class Index:
    """A target's records of one kind by the values of the match fields, and by origin marker (ids
    only: a record found in it is read whole with ``get`` before it is adopted)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.by_key: dict[tuple[Any, ...], list[str]] = {}
        self.by_origin: dict[str, list[str]] = {}
        self.origins: dict[str, str] = {}
        self.size = 0

    def add(self, record: Record) -> None:
        try:
            normal = normalise(record)
        except InvalidValue:  # a find would not adopt it either (see Planner.choose)
            return
        if normal.id is None:
            return
        self.size += 1
        if self.names:
            self.by_key.setdefault(tuple(normal.value(n) for n in self.names), []).append(normal.id)
        if normal.origin:
            self.by_origin.setdefault(normal.origin, []).append(normal.id)
            self.origins[normal.id] = normal.origin

    def candidates(self, match: dict[str, Any] | None, own: str | None, system: str) -> list[str]:
        """Ids of the records carrying marker ``own``, and of those equal to ``match`` that carry
        no marker of another record of ``system``."""
        ids = list(self.by_origin.get(own, ())) if own else []
        if match:
            for record_id in self.by_key.get(tuple(match.get(n) for n in self.names), ()):
                if record_id not in ids and not foreign(self.origins.get(record_id), system, own):
                    ids.append(record_id)
        return ids


class Adoption:
    """How one run looks for the records of ``system`` with no link in ``peer``: a find each, or
    the index of one scan (decided once, see the module docstring)."""

    def __init__(self, ctx: RunContext, system: str, peer: str, names: tuple[str, ...]) -> None:
        self.ctx = ctx
        self.rt = ctx.rt
        self.system, self.peer = system, peer
        self.names = names
        self.ops = self.rt.ops(peer, ctx.kind)
        self.index: Index | None = None
        self.decided = False

    def prepare(self, lookups: list[Action], more: bool) -> None:
        """Choose for each action without a link between a lookup (``find``, or ``get`` of the
        index's candidates) and a create at once (nothing there)."""
        searching = [a for a in lookups if a.match or a.marker]
        if not searching:
            return
        if not self.decided:
            self.decided = True
            self.index = self._scan(searching, more)
        cheap_origin = self.ops.cost.find_origin is not None
        linked = self._linked(searching) if self.index is not None else set()
        claimed = self.ctx.claimed[self.peer]
        for action in searching:
            if self.index is not None:
                ids = [i for i in self.index.candidates(action.match, action.marker, self.system)
                       if i not in linked and i not in claimed]
                action.candidate_ids = ids
                action.op = "lookup" if ids else "create"
            elif not action.match and not cheap_origin:  # only a marker, which only a scan would find
                action.op = "create"

    def _linked(self, actions: list[Action]) -> set[str]:
        """Candidate ids already linked to another record of the source: no one else's to adopt."""
        assert self.index is not None
        ids = {i for a in actions for i in self.index.candidates(a.match, a.marker, self.system)}
        return set(self.ctx.state.links(self.ctx.kind, self.peer, sorted(ids), self.system))

    def _scan(self, lookups: list[Action], more: bool) -> Index | None:
        """The index of the target, if a scan costs no more than the finds ``lookups`` need (twice
        that when more records are to come), else ``None``."""
        cost = self.ops.cost
        if cost.page is None or not {"list", "get"} <= self.ops.ops:
            return None
        known = self.ctx.state.count_records(self.ctx.kind, self.peer)
        estimate = cost.scan(known) or 0
        each = cost.find if cost.find is not None else estimate  # a find that reads the whole listing
        budget = sum(max(1, each) * bool(a.match) + (cost.find_origin or 0) * bool(a.marker) for a in lookups)
        budget *= 2 if more else 1
        if estimate > budget:
            log.info("job %s: looking up %d new %s records in %s one by one (a scan of its ~%d records would "
                     "cost more)", self.ctx.job.name, len(lookups), self.ctx.kind, self.peer, known)
            return None
        index = scan(self.ctx, self.peer, self.names, budget)
        if index is not None:
            log.info("job %s: looking up new %s records in %s in one scan of it (%d records)", self.ctx.job.name,
                     self.ctx.kind, self.peer, index.size)
        return index


def scan(ctx: RunContext, system: str, names: tuple[str, ...], budget: int) -> Index | None:
    """An index of every ``ctx.kind`` record of ``system`` by ``names`` and origin marker; ``None``
    when the listing would cost more than ``budget`` requests, or a page or a record of it cannot be
    read (an index must not miss a record a find would find)."""
    rt, kind = ctx.rt, ctx.kind
    cost = rt.ops(system, kind).cost
    index = Index(names)
    pool = rt.pool(system)
    window: deque[tuple[Record, Future[Record | None] | None]] = deque()
    listing = listed(rt, system, kind, rt.connector(system).list(kind))
    try:
        for count, raw in enumerate(listing, start=1):
            if ctx.stopping or (cost.scan(count) or 0) > budget:
                _abandon(ctx, system, window, "it would cost more than looking records up one by one")
                return None
            window.append((raw, pool.submit(fetch_whole, rt, system, raw) if raw.partial else None))
            while window and (len(window) > CHUNK or window[0][1] is None or window[0][1].done()):
                _index(index, *window.popleft())
        while window:
            _index(index, *window.popleft())
    except (ConnectorError, SystemHeld) as exc:
        _abandon(ctx, system, window, f"reading it failed: {exc}")
        return None
    finally:
        listing.close()  # type: ignore[attr-defined]
    return index


def _index(index: Index, raw: Record, future: Future[Record | None] | None) -> None:
    record = future.result() if future is not None else raw
    if record is not None:
        index.add(record)


def _abandon(ctx: RunContext, system: str, window: Iterable[tuple[Record, Future[Record | None] | None]],
             why: str) -> None:
    for _, future in window:
        if future is not None:
            future.cancel()
    log.info("job %s: not scanning %s for existing %s records (%s); looking them up one by one", ctx.job.name,
             system, ctx.kind, why)
