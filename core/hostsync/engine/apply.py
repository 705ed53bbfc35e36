"""Step 5, applying: sending planned actions to the targets' workers and turning replies into outcomes.

The engine thread stores an intent before each create, hands writes to per-system worker pools
(:meth:`Applier.execute` runs in a worker and only calls vendors), and settles finished ones as
they come back. Where a worker found candidates (a lookup before a create, or of a create whose
outcome was unknown) the engine thread chooses among them, so two workers never adopt the same
record, and it checks every id a create returns before it becomes a link.

A create whose outcome is unknown (its reply was lost, timed out or was a 5xx; see
:mod:`.calls`) is never sent again in the same run: its intent stays, marked with the time, and it
is looked up once the target's settle delay has passed, at the end of this run when that is soon
(:data:`SHORT_WAIT`), else by a later run, which creates it again only if the lookup finds nothing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import replace

from ..connector import ORIGIN
from ..errors import AuthError, ConnectorError, NotFound, ProtocolError, Rejected, Transient
from ..model import Record
from ..state import Intent
from .actions import WRITES, Action, Outcome
from .calls import Stopped, SystemHeld
from .context import RunContext, log
from .plan import Planner, show
from .read import CHUNK
from .settle import Settler

#: The longest the end of a run waits for creates of unknown outcome to have had time to land;
#: those that need longer are looked up by a later run.
SHORT_WAIT = 10.0
#: The longest id the engine stores as a link.
MAX_ID = 255


class Applier:
    """Applies one run's actions and settles their outcomes."""

    def __init__(self, ctx: RunContext, planner: Planner, settler: Settler) -> None:
        self.ctx = ctx
        self.rt = ctx.rt
        self.kind = ctx.kind
        self.planner = planner
        self.settler = settler
        self.inflight: set[Future[Outcome]] = set()
        self.window = 2 * CHUNK  # writes in flight before the engine thread waits for one
        #: (target, identity key) -> the source id whose create holds it; creates waiting for it
        self.creating: dict[tuple[str, str], str | None] = {}
        self.waiting: dict[tuple[str, str], list[Action]] = defaultdict(list)
        #: creates whose outcome is unknown, to look up at the end of the run if they settle soon
        self.unknown: list[Action] = []

    # -- the engine thread --------------------------------------------------------------------

    def dispatch(self, actions: list[Action]) -> None:
        """Store intents for creates, send writes to the workers, settle the rest at once."""
        ctx = self.ctx
        ctx.planned += len(actions)
        if ctx.dry_run:
            for action in actions:
                self.settler.planned(self.planner.predicted(action))
            ctx.tell()
            return
        at = ctx.clock().isoformat()
        intents = [Intent(self.kind, a.source, a.source_id or "", a.target, ctx.job.name, a.key or {}, at)
                   for a in actions if a.op in ("create", "lookup")]
        if intents:
            with ctx.state.atomic():
                ctx.state.add_intents(intents, ctx.run_id)
        unsent = []
        for action in actions:
            if action.op in WRITES:
                if ctx.stopping:  # never sent; the next run reads the record again
                    unsent.append(self._unsent(action, "stopped"))
                    continue
                self._submit(action)
            else:
                if action.op == "wait":  # its key stays taken: a lookup must not meet what it may make
                    self.unknown.append(action)
                    self._hold(action)
                self.settler.now(self._offline(action))
            if len(self.inflight) >= self.window:
                self.drain()
        self.settler.record(unsent)
        self.drain(block=False)

    @staticmethod
    def _unsent(action: Action, result: str, reason: str | None = None) -> Outcome:
        """An action never sent: a create's intent goes with it, a reconcile's stays."""
        return Outcome(action, result, reason=reason, created_nothing=action.op in ("create", "lookup"))

    def _submit(self, action: Action) -> None:
        """Send an action to its target's workers. Creates that a lookup could confuse (same identity
        key, same target) go one at a time, and one whose outcome is unknown keeps its key until it
        is found, so a lookup never meets a record another create of this run may have made."""
        if action.op in ("create", "reconcile", "lookup") and action.key and not self._hold(action):
            self.waiting[(action.target, show(action.key))].append(action)
            return
        self._send(action)

    def _hold(self, action: Action) -> bool:
        """Take the identity key of ``action`` (a create, or one that may still land); false if
        another record's create holds it."""
        if not action.key:
            return True
        slot = (action.target, show(action.key))
        return self.creating.setdefault(slot, action.source_id) == action.source_id

    def _send(self, action: Action) -> None:
        self.inflight.add(self.rt.pool(action.target).submit(self.execute, action))

    def _release(self, action: Action) -> None:
        """A create has settled for good: let the next one with its key go."""
        slot = (action.target, show(action.key or {}))
        if self.creating.get(slot) != action.source_id:
            return
        del self.creating[slot]
        if self.waiting.get(slot):
            self._submit(self.waiting[slot].pop(0))

    def _offline(self, action: Action) -> Outcome:
        """Outcomes that need no vendor call: deferrals, conflicts, relinks."""
        if action.op == "defer":
            return Outcome(action, "deferred", reason=action.reason)
        if action.op == "fail":
            return Outcome(action, "failed", reason=action.reason)
        if action.op == "relink":
            return Outcome(action, "unchanged", action.target_id)
        if action.op == "settle":
            return Outcome(action, "created" if action.ours else "adopted", action.target_id)
        if action.op == "conflict":
            return Outcome(action, "conflicts", action.target_id, reason=action.reason)
        if action.op == "wait":
            return Outcome(action, "unknown", reason=action.reason)
        raise ValueError(action.op)

    def drain(self, block: bool = True, everything: bool = False) -> None:
        """Settle finished actions; with ``block``, wait for at least one; ``everything``: for all."""
        while self.inflight:
            timeout = None if (block or everything) else 0
            done, _ = wait(self.inflight, timeout=timeout, return_when=FIRST_COMPLETED)
            if not done:
                return
            self.inflight -= done
            self._settle([f.result() for f in done])
            if not everything:
                return

    def finish(self) -> None:
        """The end of a run: look up its creates of unknown outcome once they have had time to land,
        if that is soon (found ones are linked; the others wait for a later run, never sent again
        here), which lets the creates waiting for their key go, and so on; then report the creates
        that still wait behind one and were never sent."""
        ctx = self.ctx
        if ctx.dry_run:
            return
        try:
            while self.unknown and not ctx.stopping:
                now = ctx.clock()
                due = [(ctx.settled_at(a.unknown_at or "", a.target) - now).total_seconds() for a in self.unknown]
                soon = [a for a, left in zip(self.unknown, due) if left <= SHORT_WAIT]
                self.unknown = []
                if not soon:
                    break
                self.rt.caller.wait(max(left for left in due if left <= SHORT_WAIT))
                for action in soon:
                    self._submit(replace(action, op="reconcile", resend=False,
                                         reason="its create's outcome was unknown"))
                self.drain(everything=True)  # found ones let creates with their key go; those may end unknown
        except Stopped:
            pass
        unsent = [a for group in self.waiting.values() for a in group]
        self.waiting.clear()
        self.settler.record([self._unsent(a, "stopped" if ctx.stopping else "deferred",
                                          f"waits for an earlier create in {a.target} with the same "
                                          f"{show(a.key or {})}, whose outcome is unknown") for a in unsent])

    def _settle(self, outcomes: list[Outcome]) -> None:
        checked = self._checked(outcomes)
        for outcome in checked:  # records made or taken here are no one else's to adopt
            if outcome.result in ("created", "adopted") and outcome.target_id:
                self.ctx.claimed[outcome.action.target].add(outcome.target_id)
        final = []
        for outcome in checked:
            if outcome.result == "lookup":
                outcome = self._after_lookup(outcome)
            elif outcome.result == "found":
                outcome = self._after_found(outcome)
            if outcome is None:
                continue
            if outcome.result == "unknown" and outcome.action.op in ("create", "lookup"):
                outcome.action.unknown_at = self.ctx.clock().isoformat()
                self.unknown.append(outcome.action)
            if outcome.result != "stopped" or outcome.created_nothing:
                final.append(outcome)
            if outcome.action.key and outcome.result != "unknown":  # an unknown create keeps its key
                self._release(outcome.action)
        self.settler.record(final)
        self.rt.persist_holds()

    def _checked(self, outcomes: list[Outcome]) -> list[Outcome]:
        """Outcomes with each new id a create returned checked: one linked to another record of the
        kind, or given to another record in this run, fails that record (its intent stays, so a
        later run looks for what was made)."""
        made: dict[tuple[str, str], list[str]] = defaultdict(list)
        for outcome in outcomes:
            if outcome.result == "created" and outcome.action.op == "create":
                made[(outcome.action.target, outcome.action.source)].append(outcome.target_id or "")
        if not made:
            return outcomes
        linked = {(target, source): self.ctx.state.links(self.kind, target, ids, source)
                  for (target, source), ids in made.items()}
        given: set[tuple[str, str]] = set()
        out = []
        for outcome in outcomes:
            action, new_id = outcome.action, outcome.target_id or ""
            if outcome.result == "created" and action.op == "create":
                link = linked[(action.target, action.source)].get(new_id)
                if link is not None and link.peer_id != action.source_id:
                    outcome = self._invalid_id(action, new_id, f"it is already linked to {self.kind} {link.peer_id} "
                                               f"of {action.source}")
                elif new_id in self.ctx.claimed[action.target] or (action.target, new_id) in given:
                    outcome = self._invalid_id(action, new_id, f"another {self.kind} of this run was given it")
                else:
                    given.add((action.target, new_id))
            out.append(outcome)
        return out

    def _after_found(self, outcome: Outcome) -> Outcome | None:
        """Candidates found for a record with no link: adopt one, or create after all (its key stays held)."""
        decided = self.planner.decide(outcome.action, outcome.candidates, outcome.action.fields or frozenset())
        if decided.op in ("defer", "settle"):
            result = self._offline(decided)
            result.created_nothing = decided.op == "defer"
            return result
        if decided.op == "adopt" and not decided.changes:
            return Outcome(decided, "adopted", decided.target_id)
        self._send(decided)
        return None

    def _after_lookup(self, outcome: Outcome) -> Outcome | None:
        """A create whose outcome was unknown, looked for after its settle delay: adopt the one
        unlinked record found; when there is none, create it again (in a later run than the one
        that sent it), or leave it for the next run (in the same one)."""
        action = outcome.action
        key = outcome.key if outcome.key is not None else action.key or {}
        chosen = self.planner.choose(outcome.candidates, key, action.target, action.source)
        if isinstance(chosen, Record):
            # found what an earlier attempt created; it may hold older values than the record now has
            adopted = replace(self.planner.adoption(action, chosen, action.fields or frozenset(), action.target),
                              ours=True)
            if adopted.op == "settle":
                return self._offline(adopted)
            if adopted.changes:
                self._send(adopted)
                return None  # its key stays taken until the update settles
            return Outcome(action, "created", chosen.id)
        if isinstance(chosen, str):
            return Outcome(action, "failed", reason=chosen)
        if not action.resend:
            return Outcome(action, "unknown", reason=f"its create's outcome is unknown and nothing was found in "
                           f"{action.target} after the settle delay; looked for again by the next run")
        if self.ctx.stopping:
            return None
        self._send(replace(action, op="create"))
        return None  # its key stays taken until the create settles

    # -- the workers --------------------------------------------------------------------------

    def execute(self, action: Action) -> Outcome:
        """Apply one action (in a worker thread: vendor calls only, no state)."""
        caller, connector = self.rt.caller, self.rt.connector(action.target)
        target, kind = action.target, self.kind
        try:
            if action.op == "reconcile":
                return self._lookup(action)
            if action.op == "lookup":
                try:
                    candidates = self.planner.look(action)
                except (ConnectorError, SystemHeld) as exc:
                    return Outcome(action, "failed", error=exc, created_nothing=True,
                                   reason=f"cannot look for an existing {kind} in {target}: {reason(exc)}")
                if candidates:
                    return Outcome(action, "found", candidates=candidates)
                action = replace(action, op="create")  # nothing there: create it now, in this worker
            if action.op == "create":
                return self._create(action)
            if action.op in ("adopt", "update", "delete"):
                refused = self._refused(action, "update" if action.op == "adopt" else action.op)
                if refused and (action.op != "adopt" or action.changes):
                    return refused
            if action.op == "adopt":
                if action.changes:
                    caller.call(target, connector.update, kind, action.target_id, action.record, write=True)
                return Outcome(action, "created" if action.ours else "adopted", action.target_id)
            if action.op == "update":
                caller.call(target, connector.update, kind, action.target_id, action.record, write=True)
                return Outcome(action, "updated", action.target_id)
            if action.op == "delete":
                try:
                    caller.call(target, connector.delete, kind, action.target_id, write=True)
                except NotFound:
                    pass
                return Outcome(action, "deleted", action.target_id, link=False)
            raise ValueError(f"unknown action {action.op}")
        except NotFound as exc:
            return Outcome(action, "failed", reason=f"{kind} {action.target_id} no longer exists in {target}; "
                           "its link is removed and it will be created again on the next run", error=exc, link=False)
        except Stopped:  # never sent (a create's intent goes; a reconcile's stays for the next run)
            return Outcome(action, "stopped", created_nothing=action.op in ("create", "lookup"))
        except SystemHeld as exc:
            return Outcome(action, "failed", reason=str(exc), error=exc)
        except (AuthError, Rejected, Transient, ProtocolError) as exc:
            return Outcome(action, "failed", reason=reason(exc), error=exc)
        except Exception as exc:  # a plugin bug fails this record, not the run
            log.exception("job %s: plugin error on %s %s", self.ctx.job.name, kind, action.source_id)
            return Outcome(action, "failed", reason=f"plugin error: {type(exc).__name__}: {exc}", error=exc)

    def _create(self, action: Action) -> Outcome:
        """Send a create. Its outcome is unknown unless the vendor proved it did nothing (refused
        it, or was never reached) or answered with an id that can be a link."""
        connector = self.rt.connector(action.target)
        refused = self._refused(action, "create")
        if refused:
            return refused
        try:
            new_id = self.rt.caller.call(action.target, connector.create, self.kind, action.record, write=True,
                                         retry_applied=False)
        except Transient as exc:
            if exc.may_have_applied:
                return Outcome(action, "unknown", reason=reason(exc), error=exc)
            return Outcome(action, "failed", reason=reason(exc), error=exc, created_nothing=True)
        except (Rejected, AuthError, SystemHeld) as exc:  # refused: nothing was made
            return Outcome(action, "failed", reason=reason(exc), error=exc, created_nothing=True)
        except Stopped:  # never sent
            return Outcome(action, "stopped", created_nothing=True)
        except Exception as exc:  # an unreadable answer, a plugin bug: it may have been made all the same
            if not isinstance(exc, ConnectorError):
                log.exception("job %s: plugin error creating %s %s", self.ctx.job.name, self.kind, action.source_id)
            return Outcome(action, "unknown", reason=f"{type(exc).__name__}: {reason(exc)}", error=exc)
        problem = self._id_problem(new_id, connector.id_pattern)
        if problem:
            return self._invalid_id(action, new_id, problem)
        return Outcome(action, "created", new_id)

    def _refused(self, action: Action, op: str) -> Outcome | None:
        """The failure of a write the target will certainly refuse (:meth:`Planner.refusal`), never sent."""
        problem = self.planner.refusal(action, op)
        if problem is None:
            return None
        return Outcome(action, "failed", reason=f"{op} refused: {problem}", error=Rejected(problem),
                       created_nothing=op == "create")

    def _invalid_id(self, action: Action, new_id: object, problem: str) -> Outcome:
        """The record fails and is not linked; its intent stays, so a later run looks for what was made."""
        shown = repr(new_id)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return Outcome(action, "failed", reason=f"plugin returned an invalid id {shown} for the new {self.kind} "
                       f"in {action.target}: {problem}; not linked")

    @staticmethod
    def _id_problem(new_id: object, pattern: str | None) -> str | None:
        """What makes ``new_id`` unfit to be a link, or ``None``."""
        if not isinstance(new_id, str):
            return f"expected a string, got {type(new_id).__name__}"
        if not new_id or not new_id.isprintable():
            return "an id is a non-empty string of printable characters"
        if len(new_id) > MAX_ID:
            return f"longer than {MAX_ID} characters"
        if pattern and not re.fullmatch(pattern, new_id):
            return f"the plugin's ids match {pattern}"
        return None

    def _lookup(self, action: Action) -> Outcome:
        """Find what a create whose outcome was unknown may have made (the engine thread decides)."""
        connector = self.rt.connector(action.target)
        if self.rt.shares_ids(action.source, action.target) and "get" in self.rt.ops(action.target, self.kind):
            found = self.rt.caller.call(action.target, connector.get, self.kind, action.source_id)
            return Outcome(action, "lookup", candidates=[found] if found else [])
        key = action.key or {}
        if ORIGIN in key:  # exact: what carries the marker the create was sent with
            try:
                found = self.rt.caller.call(action.target, connector.find, self.kind, {ORIGIN: key[ORIGIN]})
                return Outcome(action, "lookup", candidates=list(found or []))
            except Rejected as exc:  # the connector cannot search by marker after all: the fields must do
                log.warning("job %s: %s cannot look %s records up by origin marker (%s); looking by their fields",
                            self.ctx.job.name, action.target, self.kind, exc)
                key = {name: value for name, value in key.items() if name != ORIGIN}
        if not key:
            why = (f"an earlier create of {self.kind} {action.source_id} in {action.target} may have "
                   "succeeded and no identifying fields can tell; not creating it again")
            return Outcome(action, "failed", reason=why)
        found = self.rt.caller.call(action.target, connector.find, self.kind, key)
        return Outcome(action, "lookup", candidates=list(found or []), key=key)


def reason(exc: BaseException) -> str:
    """A one-line reason for an error, with the fields a vendor refused."""
    text = str(exc) or type(exc).__name__
    fields = getattr(exc, "fields", None)
    if fields:
        text += " (" + "; ".join(f"{k}: {v}" for k, v in fields.items()) + ")"
    return text
