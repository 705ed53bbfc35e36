"""Translating references (an invoice's client) from one system's ids to another's through links.

A reference that is not linked yet is synced first when a job mirrors that kind between the same
two systems (taking that job's lock, so two runs never create the same client), else the record is
deferred with a reason naming what is missing, and retried on the next run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..config import JobConfig
from ..model import KINDS, Record
from .context import RunContext

MAX_DEPTH = 4

#: Syncs records ``ids`` of ``source`` into ``target`` through ``job`` (a run of that job's own).
SyncDependency = Callable[[JobConfig, str, list[str], str], None]


@dataclass
class Translated:
    refs: dict[str, str | None]
    #: why the record cannot be written yet (a required reference is not linked), or None
    missing: str | None = None
    #: in a plan: references that the named job would sync first
    after: list[str] | None = None
    #: in a plan: those references by name, with their source ids (stand-ins for the ids to come)
    pending: dict[str, str] | None = None


class RefTranslator:
    def __init__(self, ctx: RunContext, sync_dependency: SyncDependency) -> None:
        self.ctx = ctx
        self.rt = ctx.rt
        self.sync_dependency = sync_dependency
        self.memo: dict[tuple[str, str, str, str], str] = {}

    def translate(self, records: list[Record], system: str, peer: str, required: frozenset[str]) -> dict[str, Translated]:
        """References of ``records`` (ids in ``system``) as ids in ``peer``.

        :param required: reference names the target carries: a missing one defers the record.
            Others are translated where a link exists and left ``None`` otherwise.
        """
        kind_refs = KINDS[self.ctx.kind].refs
        shared = self.rt.shares_ids(system, peer)
        wanted: dict[str, set[str]] = {}
        for record in records:
            for name, ref_id in record.refs.items():
                if ref_id is not None and not shared:
                    wanted.setdefault(kind_refs[name], set()).add(ref_id)
        for ref_kind, ids in wanted.items():
            todo = [i for i in ids if (ref_kind, system, i, peer) not in self.memo]
            for src, dst in self._spaces(system, peer):
                for ref_id, link in self.rt.state.links(ref_kind, src, todo, dst).items():
                    self.memo[(ref_kind, system, ref_id, peer)] = link.peer_id
                todo = [i for i in todo if (ref_kind, system, i, peer) not in self.memo]
        out: dict[str, Translated] = {}
        for record in records:
            refs: dict[str, str | None] = {}
            missing: list[str] = []
            after: list[str] = []
            pending: dict[str, str] = {}
            for name, ref_id in record.refs.items():
                if ref_id is None or shared:
                    refs[name] = ref_id
                    continue
                ref_kind = kind_refs[name]
                peer_id = self.memo.get((ref_kind, system, ref_id, peer))
                if peer_id is None and name in required:
                    peer_id, problem, later = self._sync_dependency(ref_kind, system, ref_id, peer)
                    if problem:
                        missing.append(problem)
                    if later:
                        after.append(later)
                        pending[name] = ref_id
                refs[name] = peer_id
            out[record.id or ""] = Translated(refs, "; ".join(missing) or None, after or None, pending or None)
        return out

    def _spaces(self, system: str, peer: str) -> list[tuple[str, str]]:
        """Pairs of systems whose links translate ids from ``system`` to ``peer``: the systems
        themselves, then the hosts whose ids an addon shares (a wbTeamPro client is a WHMCS client)."""
        def space(name: str) -> list[str]:
            host = self.rt.system(name).shares_ids_with
            return [name, host] if host else [name]
        return [(s, p) for s in space(system) for p in space(peer) if s != p]

    def _sync_dependency(self, ref_kind: str, system: str, ref_id: str,
                         peer: str) -> tuple[str | None, str | None, str | None]:
        """Sync the referenced record first if a job covers it.

        Returns (peer id, why it is missing, what a plan would sync first).
        """
        what = f"{ref_kind} {ref_id} in {system} is not linked to {peer} yet"
        found = next(((job, src, dst) for src, dst in self._spaces(system, peer)
                      if (job := self.rt.covering_job(ref_kind, src, dst))), None)
        if found is None:
            return None, f"{what} (no job mirrors {ref_kind} from {system} to {peer})", None
        job, src, dst = found
        if self.ctx.dry_run:
            return None, None, f"{ref_kind} {ref_id} (job {job.name})"
        if self.ctx.depth >= MAX_DEPTH:
            return None, f"{what} (references nest too deep to sync in one go)", None
        if job.name != self.ctx.job.name and not self.rt.try_lock(job.name):
            return None, f"{what}; job {job.name} is running elsewhere, retrying next run", None
        self.sync_dependency(job, src, [ref_id], dst)
        link = self.rt.state.link(ref_kind, src, ref_id, dst)
        if link is None:
            return None, f"{what}; syncing it through job {job.name} did not succeed", None
        self.memo[(ref_kind, system, ref_id, peer)] = link.peer_id
        return link.peer_id, None, None
