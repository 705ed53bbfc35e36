"""Checks shared by the end-to-end tests: what each system holds, and whether linked records agree."""

from __future__ import annotations

from typing import Any

from hostsync.engine import Runtime
from hostsync.engine.plan import common_fields
from hostsync.model import KINDS, Record, normalise, normalise_fields, project


def inventory(rt: Runtime, system: str, kind: str) -> dict[str, Record]:
    """Every ``kind`` record of ``system``, whole and canonical (stubs fetched)."""
    connector = rt.connector(system)
    out = {}
    for record in connector.list(kind):
        if record.partial:
            record = connector.get(kind, record.id)
        out[record.id] = normalise(record)
    return out


def mismatches(rt: Runtime, job_name: str) -> list[str]:
    """Linked pairs of a one-way job whose common fields or references disagree (after the target's
    own way of storing values), and linked records missing on either side."""
    job = rt.config.jobs[job_name]
    problems = []
    source = inventory(rt, job.source, job.kind)
    for target in job.targets:
        fields = common_fields(rt, job.kind, job.source, target, job.two_way)
        theirs = inventory(rt, target, job.kind)
        connector = rt.connector(target)
        for link in rt.state.iter_links(job.kind, job.source, target):
            ours, other = source.get(link.id), theirs.get(link.peer_id)
            if ours is None or other is None:
                problems.append(f"{job_name}: {job.kind} {job.source}#{link.id} <-> {target}#{link.peer_id} missing")
                continue
            refs = {name: _peer_ref(rt, KINDS[job.kind].refs[name], job.source, ref, target)
                    for name, ref in ours.refs.items()}
            sent = Record(job.kind, ours.id, ours.fields, refs)
            stored = connector.stored(job.kind, sent)
            expected = Record(job.kind, ours.id, {**ours.fields, **normalise_fields(job.kind, stored.fields)}, refs)
            want, got = project(expected, fields), project(other, fields)
            if want != got:
                diff = {k: (want[k], got.get(k)) for k in want if want[k] != got.get(k)}
                problems.append(f"{job_name}: {job.kind} {job.source}#{link.id} -> {target}#{link.peer_id}: {diff}")
    return problems


def _peer_ref(rt: Runtime, kind: str, system: str, ref: str | None, peer: str) -> str | None:
    if ref is None:
        return None
    if rt.shares_ids(system, peer):
        return ref
    # as the engine translates: through the system's own links, or its host's (a wbTeamPro client is WHMCS's)
    for src in dict.fromkeys([system, rt.system(system).shares_ids_with]):
        link = rt.state.link(kind, src, ref, peer) if src else None
        if link:
            return link.peer_id
    return f"(unlinked {ref})"


def counts(rt: Runtime, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    return {pair: len(inventory(rt, *pair)) for pair in pairs}


def emails(records: dict[str, Record]) -> list[str]:
    return sorted(str(r.fields["email"]) for r in records.values())


def duplicates(values: list[Any]) -> list[Any]:
    return sorted({v for v in values if values.count(v) > 1}, key=str)
