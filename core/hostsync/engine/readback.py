"""Reading what a system holds now: its whole listing, or some records by id.

A one-way job never reads its targets to sync them; the drift check of a full scan (:mod:`.drift`)
and ``hostsync drift`` (:mod:`.compare`) do. Records come back normalised. A stub (a summary row) is
fetched whole with ``get`` in the system's workers. A record that cannot be read is handed to
``unreadable`` and left out; the others go on.
"""

from __future__ import annotations

from typing import Callable, Iterator

from ..errors import AuthError, ConnectorError
from ..model import InvalidValue, Record, normalise
from .calls import SystemHeld
from .read import CHUNK
from .runtime import Runtime

#: Told about a record that could not be read: (its id, why).
Unreadable = Callable[[str | None, Exception], None]


def listed(rt: Runtime, system: str, kind: str, unreadable: Unreadable) -> Iterator[list[Record]]:
    """Every record of ``kind`` in ``system``, normalised, in chunks (its listing, stubs fetched whole).
    A listing that fails raises (after its pages' retries, see ``Connector.fetch``)."""
    connector = rt.connector(system)
    chunk: list[Record] = []
    try:
        for raw in connector.list(kind):
            if rt.stop.is_set():
                return
            chunk.append(raw)
            if len(chunk) >= CHUNK:
                yield _whole(rt, system, kind, chunk, unreadable)
                chunk = []
    except AuthError as exc:  # a connector that lists without fetch(): hold the system all the same
        rt.caller.note_auth_failure(system, exc)
        raise
    if chunk:
        yield _whole(rt, system, kind, chunk, unreadable)


def fetched(rt: Runtime, system: str, kind: str, ids: list[str], unreadable: Unreadable) -> dict[str, Record | None]:
    """Records ``ids`` of ``system`` read one by one (``get``, in its workers): id -> record, or
    ``None`` when the vendor no longer has it. Ids that could not be read are left out."""
    connector = rt.connector(system)
    futures = {i: rt.pool(system).submit(rt.caller.call, system, connector.get, kind, i) for i in ids}
    out: dict[str, Record | None] = {}
    for record_id, future in futures.items():
        try:
            raw = future.result()
        except (ConnectorError, SystemHeld) as exc:
            unreadable(record_id, exc)
            continue
        except Exception as exc:  # a plugin bug fails this record, not the read
            unreadable(record_id, exc)
            continue
        if raw is None:
            out[record_id] = None
            continue
        record = _normalised(raw, unreadable)
        if record is not None:
            out[record_id] = record
    return out


def _whole(rt: Runtime, system: str, kind: str, chunk: list[Record], unreadable: Unreadable) -> list[Record]:
    stubs = [r.id for r in chunk if r.partial and r.id]
    whole = fetched(rt, system, kind, stubs, unreadable) if stubs else {}
    out = []
    for raw in chunk:
        if raw.partial:
            record = whole.get(raw.id or "")
        else:
            record = _normalised(raw, unreadable)
        if record is not None:
            out.append(record)
    return out


def _normalised(raw: Record, unreadable: Unreadable) -> Record | None:
    try:
        record = normalise(raw)
    except InvalidValue as exc:
        unreadable(raw.id, exc)
        return None
    if record.id is None:
        unreadable(None, InvalidValue("the record has no id"))
        return None
    return record
