"""One run of a job at a time, across processes: an advisory ``flock`` per job beside the state file.

The daemon and a ``hostsync sync`` from a shell take the same lock. The kernel releases it when
the holder exits, however it exits (SIGKILL included), so a crash never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class JobLocked(Exception):
    """Another process (or thread) is running the job."""

    def __init__(self, job: str, holder: str) -> None:
        super().__init__(f"job {job!r} is already running ({holder})")
        self.job = job


class JobLock:
    """``with JobLock(state_path, job):`` runs the block holding the job's lock, or raises JobLocked."""

    def __init__(self, state_path: Path, job: str) -> None:
        self.job = job
        self.path = Path(f"{state_path}.locks") / f"{job}.lock"
        self.fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            os.close(fd)
            raise JobLocked(self.job, f"pid {holder}" if holder else "another process") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "JobLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
