"""What a run plans (:class:`Action`), what applying it gave (:class:`Outcome`) and the run's tally.

Outcome results are the :data:`COUNTERS`, plus internal ones: ``lookup`` (a worker looked for what
a create whose outcome is unknown may have made), ``found`` (a worker found records a new one may
be) — the engine thread decides — and ``stopped`` (never sent because the run was asked to stop;
the next run picks it up again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..model import Record
from ..state import Link

#: The counters every run reports, in the order they are shown.
#: ``unknown``: creates whose outcome is not known yet (looked up once they had time to land).
#: ``drift``: linked target records a full scan found changed since hostsync wrote them (those it
#: puts back are counted as ``updated`` too; see :mod:`.drift`).
COUNTERS = ("created", "updated", "deleted", "adopted", "unchanged", "deferred", "conflicts", "unknown", "drift",
            "failed")

#: Plan actions: create, update, delete, adopt (link to an existing record, then update if it
#: differs), reconcile (a create whose outcome is unknown and has had time to land: find it, else
#: create), lookup (look for an existing record, create when there is none), wait (a create whose
#: outcome is unknown and may still land), defer, conflict, drift (a drift only reported).
WRITES = ("create", "update", "delete", "adopt", "reconcile", "lookup")


#: The fields that tell a person which record a create makes (its key fields in a plan).
SHOWN = {"client": ("email", "first_name", "last_name", "company"), "domain": ("name",), "site": ("domain",),
         "invoice": ("number", "issued_on", "total", "currency"), "ticket": ("subject",), "project": ("name",),
         "task": ("name",), "time_entry": ("member", "started_at", "minutes")}


def shown_key(record: Record) -> dict[str, Any]:
    """``record``'s :data:`SHOWN` fields that have a value, as canonical (JSON-ready) values."""
    out = {}
    for name in SHOWN.get(record.kind, ()):
        value = record.fields.get(name)
        if value not in (None, ""):
            out[name] = value if isinstance(value, (str, int, float, bool)) else str(value)
    return out


@dataclass
class Action:
    """One thing a run will do (or, in a plan, would do) to one record in one target."""

    op: str
    kind: str
    source: str
    source_id: str | None
    target: str
    target_id: str | None = None
    record: Record | None = None
    values: dict[str, Any] | None = None
    #: the fields compared and written (see ``common_fields``)
    fields: frozenset[str] | None = None
    hash: str | None = None
    #: the target's hash once this is written (``Connector.stored``): what it will read back as
    peer_hash: str | None = None
    link: Link | None = None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    reason: str | None = None
    key: dict[str, Any] | None = None
    #: for a lookup: the fields a record already in the target is adopted by
    match: dict[str, Any] | None = None
    #: the origin marker the record carries in a target that keeps them (see :mod:`.adopt`)
    marker: str | None = None
    #: for a lookup in a scanned target: the ids of the records its index holds under the
    #: record's match fields or marker (read with ``get``; ``None``: look with ``find``)
    candidate_ids: list[str] | None = None
    version: str | None = None
    #: the conflict this action settles (closed when it succeeds)
    conflict_id: int | None = None
    #: for a conflict: the other side's values and hash
    theirs: dict[str, Any] | None = None
    theirs_hash: str | None = None
    #: an adopt of a record an earlier attempt of ours created (counted as created)
    ours: bool = False
    #: for a create whose outcome is unknown: since when (ISO time; the settle delay counts from it)
    unknown_at: str | None = None
    #: a reconcile that may create again when it finds nothing (false: this run sent the create, and
    #: counted it as unknown; so do the actions that follow from it)
    resend: bool = True
    #: in a plan: references a dependency would create first, by name, as source ids (see ``Connector.validate``)
    stand_ins: dict[str, str] | None = None

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description for ``plan --json`` and the events table (no field values)."""
        out: dict[str, Any] = {"op": self.op, "kind": self.kind, "source": self.source,
                               "source_id": self.source_id, "target": self.target, "target_id": self.target_id}
        if self.op in ("create", "lookup") and self.record is not None:
            out["key"] = shown_key(self.record)
        if self.changes:
            out["changes"] = {name: {"old": old, "new": new} for name, (old, new) in self.changes.items()}
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass
class Outcome:
    """What became of an applied action. ``result`` is a :data:`COUNTERS` name."""

    action: Action
    result: str
    target_id: str | None = None
    reason: str | None = None
    error: BaseException | None = None
    #: ``False``: delete the action's link (its target record is gone)
    link: bool | None = None
    #: for ``lookup`` outcomes: what ``find`` returned, for the engine thread to choose from
    candidates: list[Record] = field(default_factory=list)
    #: for ``lookup`` outcomes: the key they were found by, where not the action's own (its fields
    #: alone, when the target could not search by origin marker)
    key: dict[str, Any] | None = None
    #: a create the vendor certainly did not carry out (refused, or never reached it)
    created_nothing: bool = False


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def merge(self, other: "Tally") -> None:
        for name, n in other.counts.items():
            self.add(name, n)

    @property
    def failed(self) -> int:
        return self.counts.get("failed", 0)
