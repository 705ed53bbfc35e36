"""Events the engine emits to ``hostsync_event`` observers.

Events carry ids, names and numbers, never field values or secrets. Observers get one event at a
time (:meth:`hostsync.plugins.Plugins.emit` holds a lock), in the thread that emits it: the engine
thread (the thread running the job) for run and record events, a worker for the events of a vendor
call. So an observer need not be thread-safe, but must be quick.

* ``run.started`` / ``run.finished`` (``job``, ``run_id``; finished: ``detail`` ``status``, ``counts``,
  ``error``).
* ``run.refused`` (``job``, ``run_id``, ``kind``; ``detail`` ``target``, ``action`` (``delete`` or
  ``update``), ``count``, ``limit``, ``reason``): the blast-radius guard kept the run from writing to
  a target (see :mod:`hostsync.engine.guard`).
* ``record.<result>`` (``job``, ``run_id``, ``system`` = the source, ``kind``, ``record_id``, ``target_id``;
  ``detail`` ``target``, ``action``, ``reason``, ``fields``) for ``created``, ``updated``, ``deleted``,
  ``adopted``, ``deferred``, ``conflicts``, ``unknown`` (a write whose outcome is unknown: it may still
  land, and is looked up later, see docs/engine.md) and ``failed``; ``record.failed`` also carries
  ``cause``, :func:`failure_cause` of the error.
* ``record.drift`` (as ``record.*``; ``detail`` ``target``, ``fields``: the names of the fields that
  differ (empty: the record is gone from the target), ``repaired``: bool): a full scan found a linked
  target record changed since hostsync wrote it. The values found and expected are in the state's
  events table (``hostsync runs --events``), not in the event.
* ``system.held`` (``system``; ``detail`` ``reason``) / ``system.released`` (``system``).

Emitted from the worker thread that made the call (:meth:`hostsync.plugins.Plugins.emit` delivers
every event, from any thread, to one observer at a time):

* ``vendor.call`` (``system``; ``detail`` ``operation``: the connector method the request served
  (``list``, ``get``, ``find``, ``create``, ``update``, ``delete``, ``check``), ``seconds``: how long it
  took, ``outcome``: ``ok`` or the failure cause its HTTP status means (401 ``auth``, 404 ``not_found``,
  429 ``rate_limited``, other 4xx ``rejected``, 5xx and no reply ``transient``, a reply over the size
  limit ``protocol``), ``method``, ``action`` (see :data:`hostsync.http.ACTION`), ``status``,
  ``bytes``): one per HTTP request, reported by :mod:`hostsync.http` where every request passes, so
  a retried call, or one of several requests, is several. Connectors that make no HTTP requests
  (the in-memory vendor) report none.
* ``system.waited`` (``system``; ``detail`` ``seconds``, ``why``: ``rate_limit`` (the system's own
  ``rate_limit``) or ``vendor`` (the vendor asked: ``Retry-After``, a pause)): a call waited that long
  before it was sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .errors import AuthError, ConnectorError, NotFound, ProtocolError, RateLimited, Rejected, Transient
from .model import InvalidValue

#: What :func:`failure_cause` answers, most specific first.
_CAUSES: tuple[tuple[type[BaseException], str], ...] = (
    (AuthError, "auth"), (RateLimited, "rate_limited"), (Transient, "transient"), (NotFound, "not_found"),
    (Rejected, "rejected"), (ProtocolError, "protocol"), (InvalidValue, "invalid"),
)


@dataclass(frozen=True)
class Event:
    type: str
    job: str | None = None
    run_id: int | None = None
    system: str | None = None
    kind: str | None = None
    record_id: str | None = None
    target_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


def failure_cause(error: BaseException | None) -> str:
    """The cause a failure is counted under: ``auth``, ``rate_limited``, ``transient``, ``not_found``,
    ``rejected``, ``protocol``, ``invalid`` (a value that cannot be read as its canonical type), a
    connector error's own ``cause`` attribute (``held``: the system is held), ``connector``, ``plugin``
    (any other exception: a bug in a plugin) or ``unknown`` (no error: the engine decided)."""
    if error is None:
        return "unknown"
    for cls, name in _CAUSES:
        if isinstance(error, cls):
            return name
    if isinstance(error, ConnectorError):
        return str(getattr(error, "cause", None) or "connector")
    return "plugin"
