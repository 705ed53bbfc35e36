"""Step 5, applying: sending planned actions to the targets' workers and turning replies into outcomes.

The engine thread stores an intent before each create, hands writes to per-system worker pools
(:meth:`Applier.execute` runs in a worker and only calls vendors), and settles finished ones as
they come back. Where a worker found candidates (a lookup before a create, or after a lost reply)
the engine thread chooses among them, so two workers never adopt the same record.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, wait
from collections import defaultdict
from dataclasses import replace

from ..errors import AuthError, ConnectorError, NotFound, ProtocolError, Rejected, Transient
from ..model import Record
from ..state import Intent, now
from .actions import WRITES, Action, Outcome
from .calls import Stopped, SystemHeld
from .context import RunContext, log
from .plan import Planner, show
from .read import CHUNK
from .settle import Settler


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

    # -- the engine thread --------------------------------------------------------------------

    def dispatch(self, actions: list[Action]) -> None:
        """Store intents for creates, send writes to the workers, settle the rest at once."""
        ctx = self.ctx
        if ctx.dry_run:
            for action in actions:
                self.settler.planned(action)
            return
        intents = [Intent(self.kind, a.source, a.source_id or "", a.target, ctx.job.name, a.key or {}, now())
                   for a in actions if a.op in ("create", "lookup")]
        if intents:
            with ctx.state.atomic():
                ctx.state.add_intents(intents, ctx.run_id)
        for action in actions:
            if action.op in WRITES:
                if ctx.stopping:
                    continue  # never sent; the next run reads the record again
                self._submit(action)
            else:
                self.settler.now(self._offline(action))
            if len(self.inflight) >= self.window:
                self.drain()
        self.drain(block=False)

    def _submit(self, action: Action, delay: float = 0.0) -> None:
        """Send an action to its target's workers. Creates that a lookup could confuse (same identity
        key, same target) go one at a time, so a lookup after a lost reply never meets a record
        another create of this run is still making."""
        if action.op in ("create", "reconcile", "lookup") and action.key:
            slot = (action.target, show(action.key))
            if slot in self.creating and self.creating[slot] != action.source_id:
                self.waiting[slot].append(action)
                return
            self.creating[slot] = action.source_id
        self._send(action, delay)

    def _send(self, action: Action, delay: float = 0.0) -> None:
        self.inflight.add(self.rt.pool(action.target).submit(self.execute, action, delay))

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

    def _settle(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:  # records made or taken here are no one else's to adopt
            if outcome.result in ("created", "adopted") and outcome.target_id:
                self.ctx.claimed[outcome.action.target].add(outcome.target_id)
        final = []
        for outcome in outcomes:
            if outcome.result == "lookup":
                outcome = self._after_lookup(outcome)
            elif outcome.result == "found":
                outcome = self._after_found(outcome)
            if outcome is not None and outcome.result != "stopped":
                final.append(outcome)
            if outcome is not None and outcome.action.key:
                self._release(outcome.action)
        self.settler.record(final)
        self.rt.persist_holds()

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
        """Adopt the one unlinked record found, or send the create (again) after a pause."""
        action = outcome.action
        chosen = self.planner.choose(outcome.candidates, action.key or {}, action.target, action.source)
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
        attempt = action.attempt + 1
        if self.ctx.stopping:
            return None
        if outcome.error is not None:
            delay = self.rt.caller.policy.delay(attempt, outcome.error, self.rt.caller.rng)
            if delay is None:
                return Outcome(action, "failed", reason=reason(outcome.error), error=outcome.error)
        else:
            delay = 0.0
        self._send(replace(action, op="create", attempt=attempt), delay)
        return None  # its key stays taken until the retry settles

    # -- the workers --------------------------------------------------------------------------

    def execute(self, action: Action, delay: float = 0.0) -> Outcome:
        """Apply one action (in a worker thread: vendor calls only, no state)."""
        caller, connector = self.rt.caller, self.rt.connector(action.target)
        target, kind = action.target, self.kind
        try:
            caller.wait(delay)
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
                try:
                    new_id = caller.call(target, connector.create, kind, action.record, write=True, retry_applied=False)
                except Transient as exc:
                    if not exc.may_have_applied:
                        return Outcome(action, "failed", reason=reason(exc), error=exc, created_nothing=True)
                    try:
                        return self._lookup(action, exc)
                    except (ConnectorError, SystemHeld) as lookup:
                        return Outcome(action, "failed", error=exc, reason=f"{reason(exc)}; looking for what "
                                       f"may have been created failed too: {reason(lookup)}")
                except (Rejected, AuthError, SystemHeld) as exc:  # refused: nothing was made
                    return Outcome(action, "failed", reason=reason(exc), error=exc, created_nothing=True)
                return Outcome(action, "created", str(new_id))
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
        except Stopped:
            return Outcome(action, "stopped")
        except SystemHeld as exc:
            return Outcome(action, "failed", reason=str(exc), error=exc)
        except (AuthError, Rejected, Transient, ProtocolError) as exc:
            return Outcome(action, "failed", reason=reason(exc), error=exc)
        except Exception as exc:  # a plugin bug fails this record, not the run
            log.exception("job %s: plugin error on %s %s", self.ctx.job.name, kind, action.source_id)
            return Outcome(action, "failed", reason=f"plugin error: {type(exc).__name__}: {exc}", error=exc)

    def _lookup(self, action: Action, exc: Exception | None = None) -> Outcome:
        """After a lost reply or a crash: find what may have been created (the engine thread decides)."""
        connector = self.rt.connector(action.target)
        if self.rt.shares_ids(action.source, action.target) and "get" in self.rt.ops(action.target, self.kind):
            found = self.rt.caller.call(action.target, connector.get, self.kind, action.source_id)
            return Outcome(action, "lookup", error=exc, candidates=[found] if found else [])
        if not action.key:
            why = (f"an earlier create of {self.kind} {action.source_id} in {action.target} may have "
                   "succeeded and no identifying fields can tell; not creating it again")
            return Outcome(action, "failed", reason=why, error=exc)
        found = self.rt.caller.call(action.target, connector.find, self.kind, action.key)
        return Outcome(action, "lookup", error=exc, candidates=list(found or []))


def reason(exc: BaseException) -> str:
    """A one-line reason for an error, with the fields a vendor refused."""
    text = str(exc) or type(exc).__name__
    fields = getattr(exc, "fields", None)
    if fields:
        text += " (" + "; ".join(f"{k}: {v}" for k, v in fields.items()) + ")"
    return text
