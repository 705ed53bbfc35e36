"""``hostsync daemon``: the scheduler in the foreground, speaking to systemd.

SIGTERM (and SIGINT) stop cleanly: running jobs finish the record in hand and start nothing new,
then the process exits 0. SIGHUP reloads the configuration; whatever goes wrong while reloading (an
invalid file, a plugin that fails to load, a state file that cannot be used) is logged in one line
and the running configuration kept: the daemon never dies of its configuration. Before the first
job starts, the state file is opened once and migrated. READY, WATCHDOG (at half of
``WATCHDOG_USEC``), STATUS (a running job's progress, once a second; then the last run), RELOADING
and STOPPING go to ``NOTIFY_SOCKET`` when
systemd provides one. Metrics (see :mod:`hostsync.metrics`) go to ``metrics_textfile`` after every
run and are served on ``metrics_listen``.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import Callable

from . import logs
from .config import Config, load_config, plugins_for
from .engine import Runtime, make_gates, sync_job
from .engine.calls import Gate
from .errors import HostsyncError, StateFull
from .metrics import Exporter
from .plugins import Plugins
from .progress import Progress, SystemdStatus
from .scheduler import Scheduler
from .state import State
from .systemd import Notifier, watchdog_interval

log = logging.getLogger("hostsync.daemon")


class Daemon:
    def __init__(self, config_path: Path, plugins_dir: Path | None, verbosity: int,
                 plugins: Plugins | None = None) -> None:
        self.config_path = config_path
        self.plugins_dir_option = plugins_dir
        self.verbosity = verbosity
        self._entry_point_plugins = plugins
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.reload_requested = False
        self.notifier = Notifier()
        self.lock = threading.Lock()
        self.gates: dict[str, Gate] = {}
        self.last_status = "no run yet"
        self.plugins, self.config = self._load()
        logs.setup(self.config.log_level, self.verbosity)
        self.metrics = Exporter(self.config)
        self.scheduler = Scheduler(self._run_job)

    def _load(self) -> tuple[Plugins, Config]:
        """Plugins and config from the file, with the state file open and migrated (raises on any problem)."""
        plugins = plugins_for(self.config_path, self.plugins_dir_option, self._entry_point_plugins)
        config = load_config(self.config_path, plugins)
        State.open(config.state_path).close()  # migrations run here, once, before any job starts
        return plugins, config

    # -- runs ---------------------------------------------------------------------------------

    def _run_job(self, name: str) -> None:
        if self.stop.is_set():
            return
        with self.lock:
            config, plugins = self.config, self.plugins
            if name not in config.jobs:
                return
            for system_name, system in config.systems.items():
                gate = self.gates.get(system_name)
                if gate is None or gate.concurrency != system.concurrency:
                    self.gates[system_name] = Gate(system.concurrency, system.rate_limit)
        # while it runs, STATUS= carries its numbers (read, planned, written, failed, rate, ETA), once a second
        progress = Progress([SystemdStatus(self.notifier)]) if self.notifier.enabled else None
        try:
            with Runtime(config, plugins, gates=self.gates, stop=self.stop, progress=progress) as rt:
                result = sync_job(rt, name)
        except (HostsyncError, StateFull) as exc:  # says what is wrong (a full disk, a state file gone bad)
            log.error("job %s could not run: %s", name, exc)
            return
        except Exception:  # a bug; never let one run take the daemon down
            log.exception("job %s could not run", name)
            return
        finally:
            self.metrics.write()
        if result.status == "locked":
            log.info("job %s skipped: %s", name, result.error)
            return
        counts = ", ".join(f"{k} {v}" for k, v in result.counts.items() if v) or "nothing to do"
        self.last_status = f"{name}: {result.status} ({counts}) at {time.strftime('%H:%M:%S')}"
        self.notifier.status(f"last run {self.last_status}")

    # -- signals ------------------------------------------------------------------------------

    def _on_term(self, signum: int, frame: object) -> None:
        self.stop.set()
        self.wake.set()

    def _on_hup(self, signum: int, frame: object) -> None:
        self.reload_requested = True
        self.wake.set()

    def reload(self) -> bool:
        """Take the configuration file as it is now, or keep the running one and say why."""
        self.notifier.reloading()
        try:
            plugins, config = self._load()
            triggers = self.scheduler.triggers(config)
        except Exception as exc:
            if isinstance(exc, HostsyncError):
                log.error("reload failed, keeping the running configuration: %s", exc)
            else:  # a bug in hostsync or a plugin: say so with its traceback, and carry on
                log.exception("reload failed, keeping the running configuration: %s: %s", type(exc).__name__, exc)
            self.notifier.ready(f"reload failed; running the previous configuration. {self.last_status}")
            return False
        with self.lock:
            self.plugins, self.config = plugins, config
            self.gates = {name: gate for name, gate in self.gates.items() if name in config.systems}
            self.metrics.reconfigure(config)
        logs.setup(config.log_level, self.verbosity)
        self.scheduler.apply(config, triggers)
        log.log(logging.INFO if self._scheduled() else logging.WARNING, "configuration reloaded from %s: %s",
                self.config_path, self._schedule_summary())
        self.notifier.ready(f"reloaded; {self._schedule_summary()}. {self.last_status}")
        return True

    def _scheduled(self) -> list[str]:
        return [name for name, job in self.config.jobs.items() if job.schedule != "manual"]

    def _schedule_summary(self) -> str:
        """What runs when, or plainly why nothing will (a daemon with nothing to do looks healthy)."""
        scheduled, total = len(self._scheduled()), len(self.config.jobs)
        if not total:
            return "nothing is scheduled: the config has no [jobs.*] tables"
        if not scheduled:
            return (f"nothing is scheduled: none of its {total} job{'s' if total > 1 else ''} has `every` or "
                    f"`cron` (such jobs run only by `hostsync sync`)")
        manual = f", {total - scheduled} run only by `hostsync sync`" if scheduled < total else ""
        return f"{scheduled} scheduled job{'s' if scheduled > 1 else ''}{manual}"

    # -- main loop ----------------------------------------------------------------------------

    def run(self) -> int:
        previous: dict[int, Callable[..., object] | int | None] = {}
        for signum, handler in ((signal.SIGTERM, self._on_term), (signal.SIGINT, self._on_term),
                                (signal.SIGHUP, self._on_hup)):
            previous[signum] = signal.signal(signum, handler)
        watchdog = watchdog_interval()
        try:
            self.metrics.start()
            self.metrics.write()
            self.gates = make_gates(self.config)
            self.scheduler.apply(self.config)
            self.scheduler.start()
            log.log(logging.INFO if self._scheduled() else logging.WARNING, "daemon started: %s (config %s)",
                    self._schedule_summary(), self.config_path)
            self.notifier.ready(f"running; {self._schedule_summary()}")
            next_ping = time.monotonic()
            while not self.stop.is_set():
                if watchdog and time.monotonic() >= next_ping:
                    self.notifier.watchdog()
                    next_ping = time.monotonic() + watchdog
                timeout = max(0.05, next_ping - time.monotonic()) if watchdog else 1.0
                self.wake.wait(timeout)
                self.wake.clear()
                if self.reload_requested and not self.stop.is_set():
                    self.reload_requested = False
                    self.reload()
            log.info("stopping: letting running jobs finish the record in hand")
            self.notifier.stopping()
            self.scheduler.shutdown(wait=True)
            log.info("stopped")
            return 0
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)  # type: ignore[arg-type]
            self.metrics.close()
            self.notifier.close()
