"""The runtime of one sync (or plan) invocation: config, plugins, state, connectors, gates, pools."""

from __future__ import annotations

import functools
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Callable

from ..config import Config, JobConfig, SystemConfig
from ..connector import Connector, Operations
from ..errors import ConfigError, ConnectorError
from ..events import Event
from ..http import VendorCall
from ..locks import JobLock, JobLocked
from ..plugins import Plugins
from ..progress import Progress
from ..state import State
from . import holds
from .calls import Caller, Gate, RetryPolicy

log = logging.getLogger("hostsync.engine")



def make_gates(config: Config) -> dict[str, Gate]:
    """One gate per configured system (the daemon keeps them across runs and reloads)."""
    return {name: Gate(system.concurrency, system.rate_limit) for name, system in config.systems.items()}


class Runtime:
    """Shared by the job runs of one invocation. Use from one thread, the *engine thread* (workers
    only call vendors, and emit the events of those calls)."""

    def __init__(self, config: Config, plugins: Plugins, *, state: State | None = None,
                 gates: dict[str, Gate] | None = None, stop: threading.Event | None = None,
                 policy: RetryPolicy | None = None, progress: Progress | None = None,
                 close_state: bool = False, sleep: Callable[[float], object] | None = None,
                 clock: Callable[[], datetime] | None = None, allow_mass_change: bool = False) -> None:
        """:param state: an open state (default: open the config's); closed with the runtime when
        the runtime opened it or ``close_state`` is set.
        :param sleep: waits (retries, pauses, settle delays) go through it (tests record them).
        :param clock: the time now, aware (tests move it along with ``sleep``).
        :param allow_mass_change: runs may delete or change more than their jobs' limits
        (``sync --allow-mass-change``, see :mod:`.guard`)."""
        self.config = config
        self.plugins = plugins
        self.state = state or State.open(config.state_path)
        self._owns_state = state is None or close_state
        self.stop = stop or threading.Event()
        self.gates = gates if gates is not None else make_gates(config)
        for name, system in config.systems.items():  # systems added by a reload
            self.gates.setdefault(name, Gate(system.concurrency, system.rate_limit)).configured(system)
        self.caller = Caller(self.gates, self.stop, policy, sleep=sleep, emit=self.emit, on_request=self._vendor_call)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        #: where each job's numbers go as they change (a terminal line, systemd's STATUS), if anywhere
        self.progress = progress
        self.allow_mass_change = allow_mass_change
        if progress is not None:
            self.caller.on_wait = lambda system, seconds, why: progress.waiting(f"{system} for {seconds:.0f} s: {why}")
        self._connectors: dict[str, Connector] = {}
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._locks: dict[str, JobLock] = {}
        self._holds_loaded: set[str] = set()

    # -- systems ------------------------------------------------------------------------------

    def system(self, name: str) -> SystemConfig:
        return self.config.systems[name]

    def connector(self, name: str) -> Connector:
        if name not in self._connectors:
            system = self.system(name)
            cls = self.plugins.connectors[system.plugin]
            try:
                connector = cls(name, system.connector_options())
            except (ConfigError, ConnectorError):
                raise
            except Exception as exc:
                raise ConfigError(f"plugin {system.plugin!r} could not start: {type(exc).__name__}: {exc}",
                                  file=str(self.config.path), key=f"systems.{name}") from exc
            connector.pacer = self.gates[name].pause
            connector.requester = functools.partial(self.caller.request, name)
            connector.deferrer = functools.partial(self.caller.defer, name)
            self._connectors[name] = connector
        return self._connectors[name]

    def ops(self, system: str, kind: str) -> Operations:
        """What ``system`` can do with ``kind`` under its settings."""
        config = self.system(system)
        return self.plugins.connectors[config.plugin].operations(config.options)[kind]

    def pool(self, system: str) -> ThreadPoolExecutor:
        if system not in self._pools:
            self._pools[system] = ThreadPoolExecutor(self.gates[system].concurrency, thread_name_prefix=system)
        return self._pools[system]

    def shares_ids(self, a: str, b: str) -> bool:
        """Whether two systems share one id space (an addon living in its host's database)."""
        return self.system(a).shares_ids_with == b or self.system(b).shares_ids_with == a

    # -- holds --------------------------------------------------------------------------------

    def held(self, system: str) -> str | None:
        """Why ``system`` is held (after loading its persisted hold once per run), or ``None``."""
        if system not in self._holds_loaded:
            self._holds_loaded.add(system)
            self.gates[system].held = holds.held_reason(self.state, self.system(system))
        return self.gates[system].held

    def persist_holds(self) -> None:
        """Store holds taken by calls during the run (called from the engine thread). A read-only
        state (a plan, a report) keeps them in memory: no further call goes to the system here."""
        while self.caller.new_holds:
            system, reason = self.caller.new_holds.pop(0)
            if self.state.read_only:
                log.error("system %s refused the login: %s; no further calls to it (check its credentials, then "
                          "run `hostsync check %s`)", system, reason, system)
                continue
            holds.hold(self.state, self.system(system), reason)
            self.emit(Event("system.held", system=system, detail={"reason": reason}))

    def release(self, system: str) -> None:
        self.state.release(system)
        self.gates[system].held = None
        self._holds_loaded.add(system)
        self.emit(Event("system.released", system=system))

    # -- jobs and locks -----------------------------------------------------------------------

    def covering_job(self, kind: str, source: str, target: str) -> JobConfig | None:
        """A configured job that mirrors ``kind`` from ``source`` to ``target`` (either way if two-way)."""
        for job in self.config.jobs.values():
            if job.kind != kind:
                continue
            if job.source == source and target in job.targets:
                return job
            if job.two_way and job.source == target and job.targets == (source,):
                return job
        return None

    def lock(self, job: str) -> None:
        """Take ``job``'s cross-process lock for the rest of this invocation (raises JobLocked)."""
        if job not in self._locks:
            lock = JobLock(self.config.state_path, job)
            lock.acquire()
            self._locks[job] = lock

    def try_lock(self, job: str) -> bool:
        try:
            self.lock(job)
        except JobLocked:
            return False
        return True

    def unlock(self, job: str) -> None:
        lock = self._locks.pop(job, None)
        if lock:
            lock.release()

    # -- events -------------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Deliver ``event`` to the observers, from any thread (see :meth:`Plugins.emit`)."""
        if self.plugins.has_observers:
            self.plugins.emit(event)

    def _vendor_call(self, call: VendorCall) -> None:
        """Every HTTP request a connector made in a call of this runtime (in a worker thread)."""
        self.emit(Event("vendor.call", system=call.system, detail={
            "operation": call.operation, "seconds": round(call.seconds, 6), "outcome": call.outcome,
            "method": call.method, "action": call.action, "status": call.status, "bytes": call.size}))

    # -- lifetime -----------------------------------------------------------------------------

    def close_connectors(self) -> None:
        for name, connector in list(self._connectors.items()):
            try:
                connector.close()
            except Exception as exc:  # closing must not hide the run's own outcome
                log.warning("closing system %s failed: %s: %s", name, type(exc).__name__, exc)
        self._connectors.clear()

    def close(self) -> None:
        self.close_connectors()
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        self._pools.clear()
        for job in list(self._locks):
            self.unlock(job)
        if self._owns_state:
            self.state.close()

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
