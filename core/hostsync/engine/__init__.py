"""The reconciliation engine: plan, then apply. Entry points for the CLI and the daemon.

``sync_job`` runs a job (or, with ``dry_run``, plans it) and records the run; ``resolve_conflict``
settles a two-way conflict by an operator's choice; ``check_systems`` proves credentials and
releases held systems. See :mod:`hostsync.engine.run` for how one run works.
"""

from __future__ import annotations

import inspect
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from ..config import Config
from ..connector import Connector
from ..errors import AuthError, ConfigError, ConnectorError, HostsyncError
from ..events import Event
from ..locks import JobLocked
from ..model import KIND_ORDER
from .actions import COUNTERS, Action
from .calls import RetryPolicy, Stopped, SystemHeld
from .run import JobRun
from .runtime import Runtime, make_gates

__all__ = ["Runtime", "JobResult", "sync_job", "order_jobs", "resolve_conflict", "check_systems", "CheckResult",
           "RetryPolicy", "make_gates", "COUNTERS"]

log = logging.getLogger("hostsync.engine")


@dataclass
class JobResult:
    """The outcome of one job run (or plan). ``status``: ``ok``, ``failed``, ``refused`` (the
    blast-radius guard kept it from writing, see :mod:`.guard`), ``interrupted`` or ``locked``."""

    job: str
    status: str
    counts: dict[str, int]
    run_id: int | None = None
    error: str | None = None
    seconds: float = 0.0
    writes: int = 0
    actions: list[Action] = field(default_factory=list)
    #: conflicts of this (two-way) job waiting for an operator after the run
    open_conflicts: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def order_jobs(config: Config, names: Iterable[str]) -> list[str]:
    """Jobs in dependency order: referenced kinds (clients) before the kinds that refer to them."""
    return sorted(names, key=lambda name: (KIND_ORDER.index(config.jobs[name].kind), name))


def sync_job(rt: Runtime, name: str, *, dry_run: bool = False, full: bool = False,
             on_action: Callable[[Action], None] | None = None) -> JobResult:
    """Run job ``name`` now (``dry_run``: plan it, writing nothing anywhere)."""
    job = rt.config.jobs[name]
    started = time.monotonic()
    writes_before = rt.caller.writes()
    run_id = None
    if not dry_run:
        try:
            rt.lock(name)
        except JobLocked as exc:
            return JobResult(name, "locked", dict.fromkeys(COUNTERS, 0), error=str(exc))
        rt.state.mark_interrupted_runs()
        run_id = rt.state.start_run(name)
    rt.emit(Event("run.started", job=name, run_id=run_id))
    actions: list[Action] = []

    def collect(action: Action) -> None:
        actions.append(action)
        if on_action:
            on_action(action)

    run = JobRun(rt, job, dry_run=dry_run, full=full, run_id=run_id, on_action=collect if dry_run else on_action)
    status, error = "ok", None
    try:
        run.run()
    except Stopped:
        status = "interrupted"
    except SystemHeld as exc:
        status, error = "failed", str(exc)
    except (ConnectorError, ConfigError) as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # an engine or plugin bug: record it, keep the daemon alive
        log.exception("job %s failed", name)
        status, error = "failed", f"internal error: {type(exc).__name__}: {exc}"
    finally:
        try:
            run.drain()
        except Exception:  # settling after a failure is best effort; the next run reconciles
            log.exception("job %s: settling in-flight writes failed", name)
        rt.persist_holds()
        run.settler.report.flush()
    if status == "ok" and rt.stop.is_set():
        status = "interrupted"
    held = sorted(s for s in {job.source, *job.targets} if rt.gates[s].held)
    if status == "ok" and held:
        status, error = "failed", "; ".join(f"system {s!r} is held: {rt.gates[s].held}" for s in held)
    if status == "ok" and run.refusals:  # the guard kept it from writing: say what, and how to allow it
        status, error = "refused", "; ".join(run.refusals)
    if status == "ok" and run.tally.failed and not dry_run:  # a plan's failures are predictions: it was made
        status = "failed"
    counts = run.tally.counts
    if not dry_run and run_id is not None:
        rt.state.finish_run(run_id, status, counts, error)
        rt.unlock(name)
    waiting = len(rt.state.open_conflicts(name)) if job.two_way and not dry_run else 0
    result = JobResult(name, status, counts, run_id, error, time.monotonic() - started,
                       rt.caller.writes() - writes_before, actions, waiting)
    if rt.progress is not None:
        run.ctx.tell(force=True)
        rt.progress.finish(name)
    rt.emit(Event("run.finished", job=name, run_id=run_id, detail={"status": status, "counts": counts, "error": error}))
    told = ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "nothing to do"
    if dry_run:  # a plan's counts are predictions, printed by the plan itself: nothing was written
        log.debug("plan of job %s made (%s): would be %s", name, status, told)
    elif error:
        log.warning("job %s %s: %s; %s", name, status, told, error)
    else:
        log.info("job %s %s: %s", name, status, told)
    if waiting:
        log.warning("job %s: %d conflict(s) wait for an operator: see `hostsync conflicts %s`", name, waiting, name)
    return result


def resolve_conflict(rt: Runtime, conflict_id: int, use: str) -> JobResult:
    """Settle conflict ``conflict_id`` by writing the chosen side (``source`` or ``target``) to the other."""
    conflict = rt.state.conflict(conflict_id)
    if conflict is None:
        raise HostsyncError(f"no conflict #{conflict_id} (see `hostsync conflicts`)")
    if conflict["status"] == "applied":
        raise HostsyncError(f"conflict #{conflict_id} is already resolved")
    job = rt.config.jobs.get(conflict["job"])
    if job is None:
        raise HostsyncError(f"conflict #{conflict_id} belongs to job {conflict['job']!r}, which is no longer configured")
    try:
        rt.lock(job.name)
    except JobLocked as exc:
        return JobResult(job.name, "locked", dict.fromkeys(COUNTERS, 0), error=str(exc))
    rt.state.resolve_conflict(conflict_id, use)
    run_id = rt.state.start_run(job.name)
    run = JobRun(rt, job, run_id=run_id)
    status, error = "ok", None
    try:
        run.resolve(conflict, use)
    except (ConnectorError, HostsyncError) as exc:
        status, error = "failed", str(exc)
    rt.persist_holds()
    if run.tally.failed:
        status = "failed"
    rt.state.finish_run(run_id, status, run.tally.counts, error)
    rt.unlock(job.name)
    return JobResult(job.name, status, run.tally.counts, run_id, error)


@dataclass
class CheckResult:
    system: str
    ok: bool
    message: str


def check_systems(rt: Runtime, names: Iterable[str], force: bool = False) -> list[CheckResult]:
    """Call each system's ``check()`` once (with the operations its jobs use); a pass releases a
    hold, an auth failure takes one. A passing check's remark, if any, is the result's message.

    A held system whose configuration has not changed is not checked without ``force``: with the
    same credentials the check would only repeat the failed login (wbTeamPro bans an IP after 3).
    """
    results = []
    for name in names:
        reason = rt.held(name)
        if reason and not force:
            results.append(CheckResult(name, False, f"held: {reason}. Its configuration has not changed since, so "
                                       "checking again would repeat the refused login; fix the credentials, or "
                                       "pass --force to check anyway"))
            continue
        if rt.stop.is_set():
            break
        rt.gates[name].held = None  # checked on purpose: its one call may go (the stored hold stays until it passes)
        try:
            # through the gate, which proves the credentials (or holds the system)
            note = rt.caller.call(name, _check, rt.connector(name), operations_used(rt.config, name), retry=False)
        except AuthError as exc:
            rt.persist_holds()  # the gate took the hold
            results.append(CheckResult(name, False, f"{exc} (system held)"))
            continue
        except Stopped:
            break
        except (ConnectorError, ConfigError) as exc:
            results.append(CheckResult(name, False, f"{type(exc).__name__}: {exc}"))
            continue
        except Exception as exc:  # a plugin bug; say so plainly
            results.append(CheckResult(name, False, f"plugin error: {type(exc).__name__}: {exc}"))
            continue
        note = note if isinstance(note, str) else ""
        if reason:
            rt.release(name)
            results.append(CheckResult(name, True, "; ".join(filter(None, ("hold released", note)))))
        else:
            if rt.state.health(name) is None or rt.state.health(name)["status"] != "ok":
                rt.state.release(name)
            results.append(CheckResult(name, True, note))
    return results


def operations_used(config: Config, system: str) -> dict[str, frozenset[str]]:
    """Kind -> the operations the configured jobs may ask of ``system`` (what its check should prove)."""
    found: dict[str, set[str]] = {}
    for job in config.jobs.values():
        ops: set[str] = set()
        if system == job.source or (job.two_way and system in job.targets):
            ops |= {"list", "get", "since"}
        if system in job.targets or (job.two_way and system == job.source):
            ops |= {"list", "get", "find", "create", "update"} | ({"delete"} if job.deletes == "mirror" else set())
        if ops:
            found.setdefault(job.kind, set()).update(ops)
    return {kind: frozenset(ops) for kind, ops in found.items()}


def _check(connector: Connector, kinds: dict[str, frozenset[str]]) -> object:
    """``connector.check(kinds=...)``, or ``check()`` for a plugin written before it took ``kinds``."""
    try:
        takes_kinds = "kinds" in inspect.signature(connector.check).parameters
    except (TypeError, ValueError):
        takes_kinds = False
    return connector.check(kinds=kinds) if takes_kinds else connector.check()

