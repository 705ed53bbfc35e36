"""``hostsync drift``: whether a job's systems agree now, record by record. Reads; writes nothing.

For each job and target, every record of the job's kind is read from both systems (their whole
listings), and paired by the links hostsync keeps, else by the job's ``match`` fields. Then:

* **orphans**: target records with no counterpart in the source (not linked and matching none, or
  linked to a source record that is gone): a panel client nobody bills;
* **missing**: source records with none in the target;
* **differ**: pairs whose values differ now in the fields the job writes, compared as the target
  keeps them (the source record through ``Connector.stored``, its references as the target's ids
  through the links of their kind);
* **mismatches**, the differences that cost money: a client active in the source but inactive or
  closed in the target (``client_suspended``), closed or inactive in the source but active in the
  target (``client_active``), a domain owned by another client (``domain_owner``), an invoice paid on
  one side and unpaid on the other (``invoice_paid``).

The state is only read (a plan's read-only view), the vendors only listed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..config import JobConfig
from ..errors import ConnectorError, HostsyncError
from ..model import KINDS, Record, changed_fields, project
from .calls import SystemHeld
from .context import RunContext
from .plan import Planner
from .read import Reader
from .readback import listed
from .refs import RefTranslator
from .runtime import Runtime

FINDINGS = ("orphans", "missing", "differ", "mismatches")


@dataclass
class Comparison:
    """How one job's source and one of its targets agree."""

    job: str
    kind: str
    source: str
    target: str
    orphans: list[dict[str, Any]] = field(default_factory=list)
    missing: list[dict[str, Any]] = field(default_factory=list)
    differ: list[dict[str, Any]] = field(default_factory=list)
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    #: what could not be read (a record, or a whole system)
    errors: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in FINDINGS}

    @property
    def agree(self) -> bool:
        return not any(self.counts.values()) and not self.errors

    def json(self) -> dict[str, Any]:
        return {"job": self.job, "kind": self.kind, "source": self.source, "target": self.target,
                "counts": self.counts, **{name: getattr(self, name) for name in FINDINGS}, "errors": self.errors}


def compare_job(rt: Runtime, job: JobConfig) -> list[Comparison]:
    """Compare ``job``'s source with each of its targets."""
    ctx = RunContext(rt, job, dry_run=True)
    errors: list[str] = []

    def unreadable(system: str):  # type: ignore[no-untyped-def]
        return lambda record_id, exc: errors.append(f"cannot read {job.kind} {record_id} from {system}: {exc}")

    source = job.source
    reader = Reader(ctx, report=lambda outcome: errors.append(outcome.reason or "unreadable"))
    out = [Comparison(job.name, job.kind, source, target) for target in job.targets]
    try:
        ctx.require(source)
        records = {}
        for chunk in listed(rt, source, job.kind, unreadable(source)):
            for raw in chunk:
                record = reader.prepare(raw, source)  # the job's transforms
                if record is not None:
                    records[record.id or ""] = record
    except (ConnectorError, HostsyncError) as exc:
        for comparison in out:
            comparison.errors.append(f"cannot read {job.kind} records from {source}: {_why(exc)}")
        return out
    planner = Planner(ctx, RefTranslator(ctx, lambda *args: None))
    for comparison in out:
        comparison.errors.extend(errors)
        _Pairing(rt, job, planner, comparison, records).run()
    return out


class _Pairing:
    """Pairs one source's records with one target's, and notes each finding."""

    def __init__(self, rt: Runtime, job: JobConfig, planner: Planner, out: Comparison,
                 sources: dict[str, Record]) -> None:
        self.rt, self.job, self.planner, self.out, self.sources = rt, job, planner, out, sources
        self.kind, self.source, self.target = job.kind, job.source, out.target
        self.fields = planner.fields(self.source, self.target)
        self.refs = {name: kind for name, kind in KINDS[self.kind].refs.items() if name in self.fields}
        self.ids: dict[str, dict[str, str]] = {}

    def run(self) -> None:
        rt, out = self.rt, self.out
        try:
            self.planner.ctx.require(self.target)
            targets: dict[str, Record] = {}
            for chunk in listed(rt, self.target, self.kind, lambda record_id, exc: out.errors.append(
                    f"cannot read {self.kind} {record_id} from {self.target}: {exc}")):
                targets.update((r.id or "", r) for r in chunk)
        except (ConnectorError, HostsyncError) as exc:
            out.errors.append(f"cannot read {self.kind} records from {self.target}: {_why(exc)}")
            return
        state = rt.state
        links = {link.id: link.peer_id for link in state.iter_links(self.kind, self.source, self.target)}
        paired_targets: set[str] = set()
        unlinked = []
        for source_id, record in self.sources.items():
            target_id = links.get(source_id)
            if target_id is None:
                unlinked.append(record)
            elif target_id in targets:
                paired_targets.add(target_id)
                self.pair(record, targets[target_id], linked=True)
            else:
                self.note("missing", record, None, linked=True,
                          note=f"linked to {self.target} {self.kind} {target_id}, which is gone")
        for source_id, target_id in links.items():
            if source_id not in self.sources and target_id in targets:
                paired_targets.add(target_id)
                self.note("orphans", None, targets[target_id], linked=True,
                          note=f"linked to {self.source} {self.kind} {source_id}, which is gone")
        free = {i: r for i, r in targets.items() if i not in paired_targets and i not in set(links.values())}
        index: dict[tuple[Any, ...], list[str]] = defaultdict(list)
        for target_id, record in free.items():
            key = self.key(record)
            if key:
                index[key].append(target_id)
        for record in unlinked:
            key = self.key(self.translated(record))
            candidates = [i for i in index.get(key, ()) if i in free] if key else []
            if len(candidates) == 1:
                self.pair(record, free.pop(candidates[0]), linked=False)
            else:
                note = f"{len(candidates)} {self.target} records match it" if candidates else None
                self.note("missing", record, None, linked=False, note=note)
        for record in free.values():
            self.note("orphans", None, record, linked=False)

    def key(self, record: Record) -> tuple[Any, ...] | None:
        """The job's match values (``None`` when all are empty: nothing to match by)."""
        values = tuple(record.value(name) for name in self.job.match)
        return values if any(v is not None for v in values) else None

    def translated(self, record: Record) -> Record:
        """``record`` with its references as the target's ids (through the links of their kind)."""
        refs = {}
        for name, value in record.refs.items():
            if name not in self.refs or value is None or self.rt.shares_ids(self.source, self.target):
                refs[name] = value
                continue
            ids = self.ids.get(name)
            if ids is None:
                ids = self.ids[name] = {link.id: link.peer_id for link in
                                        self.rt.state.iter_links(self.refs[name], self.source, self.target)}
            refs[name] = ids.get(value, f"{self.source} {self.refs[name]} {value}, not linked")
        return Record(record.kind, record.id, dict(record.fields), refs, record.updated_at)

    def pair(self, source: Record, target: Record, linked: bool) -> None:
        written = {name.split(".", 1)[0] for name in self.fields}
        out = self.translated(source)
        out = Record(self.kind, out.id, {k: v for k, v in out.fields.items() if k in written}, out.refs)
        expected = project(self.planner.stored(self.target, out), self.fields)
        found = project(target, self.fields)
        changes = changed_fields(expected, found)  # name -> (source, as the target keeps it; target)
        if not changes:
            return
        entry = self.entry(source, target, linked)
        self.out.differ.append({**entry, "fields": {name: {"source": a, "target": b} for name, (a, b) in changes.items()}})
        for kind, text in self.mismatches(source, changes):
            self.out.mismatches.append({"type": kind, **entry, "text": text})

    def mismatches(self, source: Record, changes: dict[str, tuple[Any, Any]]) -> list[tuple[str, str]]:
        """The differences that cost money."""
        s, t = self.source, self.target
        out = []
        status = changes.get("status")
        if self.kind == "client" and status:
            said = source.fields.get("status")
            if status[0] == "active" and status[1] in ("inactive", "closed"):
                out.append(("client_suspended", f"active in {s} but {status[1]} in {t}"))
            elif status[0] in ("inactive", "closed") and status[1] == "active":
                out.append(("client_active", f"{said} in {s} but active in {t}"))
        if self.kind == "invoice" and status and {status[0], status[1]} == {"paid", "unpaid"}:
            out.append(("invoice_paid", f"{status[0]} in {s} but {status[1]} in {t}"))
        owner = changes.get("client")
        if self.kind == "domain" and owner:
            out.append(("domain_owner", f"owned by {s} client {source.refs.get('client')} ({t} client {owner[0]}) "
                        f"in {s} but by {t} client {owner[1]} in {t}"))
        return out

    def entry(self, source: Record | None, target: Record | None, linked: bool) -> dict[str, Any]:
        shown = source or target
        assert shown is not None
        natural = KINDS[self.kind].natural_key
        return {"source_id": source.id if source else None, "target_id": target.id if target else None,
                "key": {name: shown.value(name) for name in natural}, "linked": linked}

    def note(self, finding: str, source: Record | None, target: Record | None, linked: bool,
             note: str | None = None) -> None:
        getattr(self.out, finding).append({**self.entry(source, target, linked), "note": note})


def _why(exc: BaseException) -> str:
    if isinstance(exc, SystemHeld):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
