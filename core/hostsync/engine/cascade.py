"""Deletes in dependency order: a record's children before the record, across jobs.

With ``deletes = "mirror"`` a record gone from a complete full scan is deleted in the target. Where
records of other kinds in the target refer to it (a client's domains and sites), those go first:
each child linked by a job that mirrors deletes between the same two systems, and gone from the
source too (looked up there with ``get``), is deleted by a run of that job (within its limits, see
:mod:`.guard`) before its parent; a parent whose children could not all be deleted waits for the
next run. So ``sync --all`` deletes domains and sites before their client, although it syncs clients
first.

A delete that would leave records pointing at nothing is refused, with the reason. A connector
declares which child kinds a delete *strands* (``Operations.strands``: ISPConfig's ``client_delete``
leaves the client's domains and sites pointing at a login and group that no longer exist). For those
kinds the target is asked for the record's children (``find`` by the reference), and the delete
fails if any would stay: one hostsync does not link (or links to another system), one linked by a
job that does not mirror deletes; it is deferred while a linked child is still in the source (it
may be moving to another client). Kinds a target does not declare it strands (WHMCS closes a client
and keeps its invoices) are only put in order.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Protocol

from ..config import JobConfig
from ..errors import ConnectorError
from ..model import KINDS, InvalidValue, Record, normalise
from ..state import Link
from .actions import Action, Outcome
from .calls import SystemHeld
from .context import RunContext, log
from .readback import fetched
from .settle import Settler


class ChildRun(Protocol):
    """A run of a child kind's job that deletes some of its linked records (see ``JobRun.delete``)."""

    def delete(self, actions: list[Action]) -> list[str]:
        """Delete them (children first); return why the run refused, if it did."""


@dataclass
class _Plan:
    """What must happen before one delete may go."""

    #: child job name -> the deletes that go first
    first: dict[str, list[Action]] = field(default_factory=lambda: defaultdict(list))
    #: children that would be stranded: the delete fails
    stranded: list[str] = field(default_factory=list)
    #: children that may still move away: the delete waits
    waiting: list[str] = field(default_factory=list)


def children_of(kind: str) -> list[tuple[str, str]]:
    """(child kind, reference name) for every kind whose records refer to a record of ``kind``."""
    return [(name, ref) for name, spec in KINDS.items() for ref, target in spec.refs.items() if target == kind]


class Cascade:
    """Sends one run's deletes, each record's children first."""

    def __init__(self, ctx: RunContext, dispatch: Callable[[list[Action]], None], settler: Settler,
                 child_run: Callable[[JobConfig], ChildRun]) -> None:
        """:param dispatch: sends deletes that may go (the applier's).
        :param child_run: a run of another job, for its records that go first."""
        self.ctx = ctx
        self.rt = ctx.rt
        self.dispatch = dispatch
        self.settler = settler
        self.child_run = child_run
        #: why runs of child jobs refused (their deletes, so their parents' too)
        self.refusals: list[str] = []

    def send(self, deletes: list[Action]) -> None:
        """Send ``deletes``: children first; a delete that would strand children fails, one whose
        children may still move away waits."""
        ready: list[tuple[Action, _Plan]] = []
        first: dict[str, list[Action]] = defaultdict(list)
        for action in deletes:
            if self.ctx.stopping:
                return
            plan = self._plan(action)
            if plan.stranded:
                self._hold(action, "failed", f"not deleting {action.kind} {action.target_id} in {action.target}: it "
                           f"would leave {'; '.join(plan.stranded)} pointing at a {action.kind} that no longer "
                           f"exists there; delete or move them in {action.target} first")
            elif plan.waiting:
                self._hold(action, "deferred", f"not deleting {action.kind} {action.target_id} in {action.target} "
                           f"yet: {'; '.join(plan.waiting)}")
            else:
                ready.append((action, plan))
                for job, actions in plan.first.items():
                    first[job].extend(actions)
        for job, actions in first.items():
            refused = self.child_run(self.rt.config.jobs[job]).delete(actions)
            self.refusals.extend(refused)
        out = []
        for action, plan in ready:
            left = self._left(plan)
            if left:
                self._hold(action, "deferred", f"not deleting {action.kind} {action.target_id} in {action.target} "
                           f"yet: {left} of its children there were not deleted first (see the jobs that mirror them)")
            else:
                out.append(action)
        self.dispatch(out)

    def _hold(self, action: Action, result: str, why: str) -> None:
        if self.ctx.dry_run:
            action = replace(action, op="fail" if result == "failed" else "defer", reason=why)
        log.warning("job %s: %s", self.ctx.job.name, why)
        self.settler.now(Outcome(replace(action, reason=why), result, action.target_id, reason=why))

    def _left(self, plan: _Plan) -> int:
        """How many of the children that went first are still linked (not deleted)."""
        if self.ctx.dry_run:
            return 0
        state = self.ctx.state
        return sum(1 for actions in plan.first.values() for a in actions
                   if state.link(a.kind, a.source, a.source_id or "", a.target) is not None)

    def _plan(self, action: Action) -> _Plan:
        plan = _Plan()
        source, target = action.source, action.target
        strands = self.rt.ops(target, action.kind).strands
        for kind, ref in children_of(action.kind):
            try:
                ops = self.rt.ops(target, kind)
            except KeyError:  # the target has no such records
                continue
            job = self.rt.covering_job(kind, source, target)
            linked = self._linked(kind, ref, action, job)
            stranding = kind in strands
            mirrored = job is not None and job.deletes == "mirror"
            if linked and mirrored:
                assert job is not None
                self._gone_first(kind, linked, action, job, plan, stranding)
            elif linked and stranding:
                why = f"job {job.name} does not delete them (deletes = \"{job.deletes}\")" if job else "no job deletes them"
                plan.stranded.append(f"{_count(len(linked), kind)} hostsync links ({_labels(kind, linked)}): {why}")
            if stranding:
                self._unmanaged(kind, ref, action, {link.id for link in linked}, "find" in ops, plan)
        return plan

    def _linked(self, kind: str, ref: str, action: Action, job: JobConfig | None) -> list[Link]:
        """Linked children of ``action``'s record in its target (from the target's side). Their
        snapshots hold references as the job hashes them: the target's ids, or for a two-way job
        those of its target."""
        target_side = job is None or not job.two_way or job.targets[0] == action.target
        parent = action.target_id if target_side else action.source_id
        return self.ctx.state.links_referring(kind, action.target, action.source, ref, parent or "")

    def _gone_first(self, kind: str, linked: list[Link], action: Action, job: JobConfig, plan: _Plan,
                    stranding: bool) -> None:
        """Children gone from the source go first; one still there waits (it may be moving)."""
        source = action.source
        if "get" not in self.rt.ops(source, kind):
            if stranding:
                plan.waiting.append(f"cannot tell whether its {kind}s are gone from {source} ({source} cannot get "
                                    f"{kind} records)")
            return
        present = fetched(self.rt, source, kind, [link.peer_id for link in linked], self._unreadable)
        for link in linked:
            if link.peer_id not in present:
                plan.waiting.append(f"cannot read its {kind} {link.peer_id} from {source}")
            elif present[link.peer_id] is None:
                mine = self.ctx.state.link(kind, source, link.peer_id, action.target)
                plan.first[job.name].append(Action(
                    "delete", kind, source, link.peer_id, action.target, link.id, link=mine,
                    reason=f"gone from {source}; deleted before its {action.kind} {action.target_id}"))
            elif stranding:
                plan.waiting.append(f"its {kind} {_labels(kind, [link])} is still in {source}")

    def _unmanaged(self, kind: str, ref: str, action: Action, linked: set[str], can_find: bool, plan: _Plan) -> None:
        """Children in the target that hostsync does not link to this source: they would be stranded."""
        target = action.target
        if not can_find:
            plan.stranded.append(f"any {kind}s it owns ({target} cannot look them up by {ref}, so hostsync cannot "
                                 "tell that there are none)")
            return
        connector = self.rt.connector(target)
        try:
            found = self.rt.caller.call(target, connector.find, kind, {ref: action.target_id}) or []
        except (ConnectorError, SystemHeld) as exc:
            plan.stranded.append(f"any {kind}s it owns (looking for them in {target} failed: {exc})")
            return
        mine = []
        for raw in found:
            try:
                record = normalise(raw)
            except InvalidValue:
                continue
            if record.refs.get(ref) == action.target_id and record.id not in linked:
                mine.append(record)
        if mine:
            names = _labels(kind, mine)
            plan.stranded.append(f"{_count(len(mine), kind)} hostsync does not manage ({names})")

    def _unreadable(self, record_id: str | None, exc: Exception) -> None:
        log.warning("job %s: cannot read %s: %s", self.ctx.job.name, record_id, exc)


def _count(n: int, kind: str) -> str:
    return f"{n} {kind}{'' if n == 1 else 's'}"


def _labels(kind: str, items: Iterable[Link | Record], most: int = 5) -> str:
    """The children's natural keys (a domain's name) where known, else their ids in the target."""
    key = KINDS[kind].natural_key
    names = []
    for item in items:
        values: dict[str, Any] = item.values() if isinstance(item, Link) else item.fields
        label = ", ".join(str(values[name]) for name in key if values.get(name))
        names.append(label or f"#{item.id}")
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")
