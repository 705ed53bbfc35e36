"""How ``hostsync plan`` shows a plan: like ``terraform plan``, what would change, sorted, with each
create's key fields, the records that would fail and why, a closing ``Plan:`` line, and what the
plan cannot know until the sync runs."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..engine import JobResult
from ..engine.actions import Action, shown_key
from ..model import KINDS

#: The order of a plan's actions, and what the closing line calls each (``None``: not counted there).
ORDER = ("create", "lookup", "reconcile", "adopt", "update", "delete", "fail", "defer", "conflict", "wait", "relink",
         "settle")
PHRASES = (("create", "to create"), ("update", "to update"), ("delete", "to delete"), ("fail", "would fail"))
EXTRAS = (("adopt", "to adopt"), ("defer", "deferred"), ("conflict", "in conflict"), ("wait", "waiting"))
#: Ops counted as the closing line's names: a lookup creates when it finds nothing; a reconcile
#: looks for an earlier create first (see ``unknowable``); a settle adopts.
AS = {"lookup": "create", "reconcile": "create", "settle": "adopt", "relink": None}
#: Kinds in the order a sync writes them: parents before the kinds that refer to them.
_KIND_ORDER = {kind: n for n, kind in enumerate(KINDS)}


def tally(actions: list[Action]) -> dict[str, int]:
    """Actions per closing-line name (create, update, delete, fail, adopt, defer, conflict, wait)."""
    counts: Counter[str] = Counter()
    for action in actions:
        name = AS.get(action.op, action.op)
        if name:
            counts[name] += 1
    return {name: counts.get(name, 0) for name, _ in (*PHRASES, *EXTRAS)}


def closing_line(counts: dict[str, int]) -> str:
    """``Plan: 12 to create, 3 to update, 0 to delete, 2 would fail`` (and what else there is)."""
    line = "Plan: " + ", ".join(f"{counts[name]} {phrase}" for name, phrase in PHRASES)
    extras = [f"{counts[name]} {phrase}" for name, phrase in EXTRAS if counts[name]]
    return line + (f" ({', '.join(extras)})" if extras else "") + "."


def unknowable(actions: list[Action]) -> list[str]:
    """What the plan cannot know until the sync runs, said plainly (only what applies)."""
    notes = []
    after = [a for a in actions if a.reason and a.reason.startswith("after ") and a.op != "fail"]
    if after:
        notes.append(f"{len(after)} record(s) refer to records another job creates first; they are written once "
                     "those exist")
    settling = [a for a in actions if a.op in ("reconcile", "wait")]
    if settling:
        notes.append(f"{len(settling)} earlier create(s) of unknown outcome are looked for first; each is created "
                     "only if it is not found")
    if any(a.op in ("create", "lookup", "reconcile", "update", "adopt") for a in actions):
        notes.append("the plan checks the rules hostsync knows (settings, references, each plugin's validate); "
                     "a vendor may still refuse a record for a reason only it checks")
    return notes


def _sort_key(action: Action) -> tuple[Any, ...]:
    """What it does, then the kind in the order the sync writes it (a client before its domains;
    deletes the other way round), then key."""
    key = shown_key(action.record) if action.record is not None else {}
    rank = _KIND_ORDER.get(action.kind, len(_KIND_ORDER))
    return (ORDER.index(action.op) if action.op in ORDER else len(ORDER), -rank if action.op == "delete" else rank,
            action.kind, [str(v) for v in key.values()], action.target, str(action.source_id))



def ordered(actions: list[Action]) -> list[Action]:
    """Actions by what they do, then kind (in write order), then key fields (as ``terraform plan`` lists
    resources)."""
    return sorted(actions, key=_sort_key)


def as_json(name: str, result: JobResult) -> dict[str, Any]:
    actions = ordered(result.actions)
    return {"job": name, "status": result.status, "error": result.error, "counts": result.counts,
            "plan": tally(actions), "unknowable": unknowable(actions), "actions": [a.describe() for a in actions]}
