"""Step 1, reading the source: records waiting for a retry, the listing, stubs, normalising.

The reader yields normalised records in chunks. A record that cannot be read or normalised fails
alone (reported through ``report``, by id, and queued for retry): a connector hands the engine a
stub where its own read of a record failed (``Connector.detail``), and the engine fetches it with
``get``, retried, in the source's workers. A listing page is retried in place by the connector
(``Connector.fetch``); a listing that fails anyway ends the read, and the cursor stays. What the
cursors may advance to is collected here as :class:`Progress`; :mod:`.settle` stores it once the
run is done.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import Callable, Iterable, Iterator

from ..errors import AuthError, NotFound, ProtocolError, Rejected, Transient
from ..model import InvalidValue, Record, normalise
from .actions import Action, Outcome
from .calls import Later, SystemHeld
from .context import RunContext
from .runtime import Runtime

log = logging.getLogger("hostsync.engine")

CHUNK = 500
#: The first chunk of a listing; the next ones double up to CHUNK, so writes start early.
FIRST_CHUNK = 50
FULL_SCAN_INTERVAL = timedelta(hours=24)


@dataclass
class Progress:
    """What the reads of a run covered, per system: the inputs of its cursors."""

    #: system -> whether its listing ran to the end
    complete: dict[str, bool] = field(default_factory=dict)
    #: system -> the newest ``updated_at`` read
    max_updated: dict[str, datetime] = field(default_factory=dict)
    #: systems read by a full scan (not since a cursor)
    scanned_full: set[str] = field(default_factory=set)
    #: system -> records that could not be read or normalised
    failed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    #: system -> when each record that could not be read (fetched) was last changed, where known
    #: (``None``: unknown): the cursor must not pass them
    unread: dict[str, list[datetime | None]] = field(default_factory=lambda: defaultdict(list))
    #: records listed so far (for the progress line)
    read: int = 0


class Reader:
    """Reads one system's records of the job's kind for a run."""

    def __init__(self, ctx: RunContext, report: Callable[[Outcome], None]) -> None:
        """:param report: records an outcome at once (a record that cannot be read)."""
        self.ctx = ctx
        self.rt = ctx.rt
        self.kind = ctx.kind
        self.report = report
        self.progress = Progress()
        self.seen_ids: dict[str, set[str]] = defaultdict(set)
        self.transforms = [(name, [ctx.rt.plugins.transforms[t] for t in names])
                           for name, names in ctx.job.transforms.items()]

    def chunks(self, system: str, peers: list[str]) -> Iterator[list[Record]]:
        """Normalised records of ``system`` in chunks, in the order listed. The records' own reads
        (placeholders of ``Connector.detail``, and stubs whose version changed) are made in the
        system's workers while the listing goes on, one chunk ahead: memory holds two chunks."""
        ahead: deque[list[tuple[Record, Future[Record | None] | None]]] = deque()
        for raw in batched(listed(self.rt, system, self.kind, self._read(system)), CHUNK, FIRST_CHUNK):
            ahead.append(self._submit(raw, system, peers))
            if len(ahead) > 1:
                yield self._collect(ahead.popleft(), system)
        while ahead:
            yield self._collect(ahead.popleft(), system)

    def _read(self, system: str) -> Iterator[Record]:
        ctx, progress = self.ctx, self.progress
        connector = self.rt.connector(system)
        ops = self.rt.ops(system, self.kind)
        since = None
        if "since" in ops and not ctx.full and not self._full_scan_due(system):
            cursor = ctx.state.cursor(ctx.job.name, system)
            since = cursor - timedelta(seconds=ctx.job.overlap) if cursor else None
        progress.complete[system] = False
        if since is None:
            progress.scanned_full.add(system)
        if "get" in ops:
            waiting = ctx.state.pending(ctx.job.name, system)
            ctx.retrying[system].update(waiting)
            for record_id in waiting:
                if ctx.stopping:
                    return
                try:
                    record = self.rt.caller.call(system, connector.get, self.kind, record_id)
                except (Rejected, ProtocolError, Transient) as exc:
                    self.failed(system, record_id, exc, unread=True)
                    continue
                if record is None:  # gone meanwhile: nothing left to retry
                    if not ctx.dry_run:
                        ctx.state.clear_pending(ctx.job.name, system, [record_id])
                    continue
                yield record
        before = ctx.read
        connector.counter = lambda kind, count: setattr(ctx, "total", before + count) if kind == self.kind else None
        try:
            for record in connector.list(self.kind, since=since):
                if ctx.stopping:
                    return
                progress.read += 1
                ctx.read += 1
                ctx.tell()  # the display throttles itself
                self._newest(system, record)
                yield record
        except AuthError as exc:  # a connector that reads without fetch(): hold the system all the same
            self.rt.caller.note_auth_failure(system, exc)
            raise
        finally:
            connector.counter = None
        ctx.tell(force=True)
        progress.complete[system] = True

    def _newest(self, system: str, record: Record) -> None:
        """Note the newest change read, for the cursor."""
        newest = self.progress.max_updated.get(system)
        if record.updated_at and (newest is None or record.updated_at > newest):
            self.progress.max_updated[system] = record.updated_at

    def seen(self, system: str, ids: list[str]) -> set[str]:
        """Note ids read in this run; return those not read before in it (a vendor's paging can
        repeat a record, and a record waiting for retry is listed too). With mirrored deletes the
        state keeps them, for finding what is gone; otherwise a set of ids is enough."""
        if self.ctx.job.deletes == "mirror":
            return self.ctx.state.seen_add(self.kind, system, ids)
        seen = self.seen_ids[system]
        fresh = {i for i in ids if i not in seen}
        seen.update(fresh)
        return fresh

    def seen_among(self, system: str, ids: list[str]) -> set[str]:
        """Which of ``ids`` of ``system`` this run has read."""
        if self.ctx.job.deletes == "mirror":
            return self.ctx.state.seen_among(self.kind, system, ids)
        return {i for i in ids if i in self.seen_ids[system]}

    def _full_scan_due(self, system: str) -> bool:
        """With mirrored deletes, an incremental source is still scanned fully once a day to see deletes."""
        if self.ctx.job.deletes != "mirror":
            return False
        last = self.ctx.state.cursor(self.ctx.job.name, f"{system}#full")
        return last is None or datetime.now(timezone.utc) - last > FULL_SCAN_INTERVAL

    def prepare(self, raw: Record, system: str) -> Record | None:
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
            self.failed(system, raw.id, exc)
            return None

    def failed(self, system: str, record_id: str | None, exc: Exception, *, unread: bool = False,
               updated_at: datetime | None = None) -> None:
        """Report a record of ``system`` that could not be read (it is retried next run).

        :param unread: it could not be fetched at all (not just normalised): the cursor stays
            before ``updated_at``, or where it is when that is unknown, unless the record was
            already queued for a retry by an earlier run (the queue brings it back whatever the
            cursor, and one record that keeps failing must not hold the cursor for ever).
        """
        reason = f"cannot read {self.kind} {record_id} from {system}: {exc}"
        self.progress.failed[system] += 1
        if unread and record_id not in self.ctx.retrying[system]:
            self.progress.unread[system].append(updated_at)
        action = Action("read", self.kind, system, record_id, system, reason=reason)
        self.report(Outcome(action, "failed", reason=reason, error=exc))

    def _submit(self, chunk: list[Record], system: str,
                peers: list[str]) -> list[tuple[Record, Future[Record | None] | None]]:
        """A chunk with the reads it needs sent to the workers: placeholders, and stubs whose version
        token changed (a stub whose token is what was last synced is unchanged: not fetched)."""
        state = self.ctx.state
        fresh = self.seen(system, [r.id for r in chunk if r.id is not None])
        unique: dict[str, Record] = {}
        for record in chunk:
            if record.id is None or (record.id in fresh and record.id not in unique):
                unique[record.id or f"#{len(unique)}"] = record
        stubs = [r for r in unique.values() if r.partial and not isinstance(r, Later)]
        links = {peer: state.links(self.kind, system, [r.id for r in stubs if r.id], peer) for peer in peers} \
            if stubs else {}
        pool = self.rt.pool(system)
        out: list[tuple[Record, Future[Record | None] | None]] = []
        for record in unique.values():
            if not record.partial:
                out.append((record, None))
            elif not isinstance(record, Later) and record.version is not None and all(
                    (link := links[p].get(record.id or "")) and link.version == record.version for p in peers):
                self.ctx.unchanged(system, record.id)
            else:  # a stub without a version token is always fetched
                out.append((record, pool.submit(fetch_whole, self.rt, system, record)))
        return out

    def _collect(self, chunk: list[tuple[Record, Future[Record | None] | None]], system: str) -> list[Record]:
        """The chunk's records, whole and prepared, in order, once the reads sent for it are done."""
        out = []
        for raw, future in chunk:
            record: Record | None = raw
            if future is not None:
                try:
                    record = future.result()
                except (Rejected, ProtocolError, Transient, SystemHeld, AuthError) as exc:
                    self.failed(system, raw.id, exc, unread=True, updated_at=raw.updated_at)
                    continue
                if record is not None:
                    record.version = record.version or raw.version
                    record.updated_at = record.updated_at or raw.updated_at
                    self._newest(system, record)
            prepared = self.prepare(record, system) if record else None
            if prepared:
                out.append(prepared)
        return out


def batched(records: Iterable[Record], size: int, first: int | None = None) -> Iterator[list[Record]]:
    """``records`` in lists of ``size`` (the last one shorter); with ``first``, the lists start at
    that size and double up to ``size`` (the first writes go out while the listing is young)."""
    iterator = iter(records)
    step = min(first or size, size)
    while batch := list(islice(iterator, step)):
        yield batch
        step = min(step * 2, size)


def listed(rt: Runtime, system: str, kind: str, records: Iterable[Record]) -> Iterator[Record]:
    """``records`` (a listing of ``system``), with each record's own read deferred where the kind
    declares them (:attr:`hostsync.connector.Cost.details`): ``Connector.detail`` then gives a
    :class:`~.calls.Later` placeholder, which :func:`fetch_whole` reads in a worker."""
    if not rt.ops(system, kind).cost.details:
        yield from records
        return
    iterator = iter(records)
    while True:
        with rt.caller.deferring(system, kind):  # only while the listing itself runs
            try:
                record = next(iterator)
            except StopIteration:
                return
        yield record


def fetch_whole(rt: Runtime, system: str, stub: Record) -> Record | None:
    """In a worker: the whole record a stub stands for (``None``: gone). A placeholder's own read
    is tried once; when it fails the record is fetched with ``get``, with retries."""
    connector = rt.connector(system)
    if isinstance(stub, Later):
        try:
            return rt.caller.call(system, stub.read, retry=False)
        except NotFound:
            return None
        except (Transient, ProtocolError, Rejected) as exc:
            log.info("%s: reading %s %s failed (%s); it is fetched again on its own", system, stub.kind, stub.id, exc)
    return rt.caller.call(system, connector.get, stub.kind, stub.id)
