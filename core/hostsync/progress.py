"""How far a run is: the numbers a terminal shows while ``sync`` runs and systemd's ``STATUS=`` carries.

The engine reports each job's counts as they change (:meth:`Progress.update`, from the engine
thread) and what a call waits for (:meth:`Progress.waiting`, from any thread); a :class:`Progress`
keeps one :class:`JobProgress` per job and passes it, throttled, to its displays: a line on a
terminal (see :mod:`hostsync.cli.progress`) and :class:`SystemdStatus`. No terminal library is
imported here: the daemon and a piped ``sync`` never pay for one.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from .systemd import Notifier


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


@dataclass
class JobProgress:
    """One job's run so far."""

    job: str
    started: float = field(default_factory=time.monotonic)
    read: int = 0
    #: records the listing will yield, where the vendor says (``None``: not known)
    total: int | None = None
    #: a guess at ``total`` when the vendor gives none (the records linked by earlier runs)
    estimate: int | None = None
    planned: int = 0
    written: int = 0
    failed: int = 0
    #: what a call waits for now (a rate limit, ``Retry-After``), or ``None``
    waiting: str | None = None

    def rate(self, now: float) -> float:
        """Records read per second so far."""
        elapsed = now - self.started
        return self.read / elapsed if elapsed > 0 else 0.0

    def eta(self, now: float) -> float | None:
        """Seconds until the listing is read, at the rate so far (``None``: no total, or no rate yet)."""
        total = self.total if self.total is not None else self.estimate
        rate = self.rate(now)
        if not total or rate <= 0 or self.read >= total:
            return None
        return (total - self.read) / rate

    def text(self, now: float | None = None) -> str:
        """``clients: read 1200/1512, planned 300, written 250, failed 2, 45/s, ETA 0:07``."""
        now = time.monotonic() if now is None else now
        if self.total is not None:
            read = f"read {self.read}/{self.total}"
        elif self.estimate:
            read = f"read {self.read}/~{self.estimate}"
        else:
            read = f"read {self.read}"
        parts = [read, f"planned {self.planned}", f"written {self.written}", f"failed {self.failed}",
                 f"{self.rate(now):.0f}/s"]
        eta = self.eta(now)
        if eta is not None:
            parts.append(f"ETA {_duration(eta)}")
        text = f"{self.job}: " + ", ".join(parts)
        return text + (f"; waiting: {self.waiting}" if self.waiting else "")


class Display(Protocol):
    def show(self, job: JobProgress) -> None: ...
    def done(self, job: JobProgress) -> None: ...


class SystemdStatus:
    """``STATUS=`` with the same numbers, at most once per ``interval`` seconds (a no-op off systemd)."""

    def __init__(self, notifier: Notifier, interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.notifier = notifier
        self.interval = interval
        self.clock = clock
        self.last = float("-inf")

    def show(self, job: JobProgress) -> None:
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            self.notifier.status(job.text(now))

    def done(self, job: JobProgress) -> None:
        self.last = float("-inf")  # the next job's first numbers go out at once


class Progress:
    """The engine's progress callback: keeps each job's numbers and shows them on ``displays``."""

    def __init__(self, displays: list[Display], estimate: Callable[[str], int | None] | None = None) -> None:
        self.displays = displays
        self.estimate = estimate
        self.jobs: dict[str, JobProgress] = {}
        self.current: JobProgress | None = None
        self._lock = threading.Lock()

    def update(self, job: str, read: int, planned: int, written: int, failed: int,
               total: int | None = None) -> None:
        """The numbers of ``job`` now (from the engine thread)."""
        with self._lock:
            entry = self.jobs.get(job)
            if entry is None:
                entry = self.jobs[job] = JobProgress(job, estimate=self.estimate(job) if self.estimate else None)
            entry.read, entry.planned, entry.written, entry.failed = read, planned, written, failed
            entry.total = total if total is not None else entry.total
            self.current = entry
        self._show(entry)

    def waiting(self, why: str | None) -> None:
        """What the running job's calls wait for now (``None``: nothing), from any thread."""
        with self._lock:
            entry = self.current
            if entry is None or entry.waiting == why:
                return
            entry.waiting = why
        self._show(entry)

    def finish(self, job: str) -> None:
        """``job`` is done: its display goes."""
        with self._lock:
            entry = self.jobs.get(job)
            if self.current is entry:
                self.current = None
        if entry is not None:
            for display in self.displays:
                display.done(entry)

    def _show(self, entry: JobProgress) -> None:
        for display in self.displays:
            display.show(entry)
