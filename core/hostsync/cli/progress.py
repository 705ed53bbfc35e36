"""The live progress line of ``sync``, ``plan`` and ``check`` on a terminal (stderr).

One line for the job running now (read / planned / written / failed, the total where the vendor
gives one, rate and ETA, and what a call waits for), redrawn at most ten times a second, cleared
when the job ends, so the summary table is all that stays. Log lines go above it: the line is
cleared before each and drawn again after (see :func:`hostsync.logs.live`). A one-line display
needs nothing but a carriage return and "erase to end of line", so no terminal library is loaded.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from typing import Any, Callable

from .. import logs
from ..progress import JobProgress, Progress, SystemdStatus
from ..systemd import Notifier

ERASE = "\r\033[K"


class TerminalLine:
    """Draws one line on ``stream`` (a terminal), throttled; clears it on :meth:`done`."""

    def __init__(self, stream: Any = None, interval: float = 0.1, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self.interval = interval
        self.clock = clock
        self.text = ""
        self.last = float("-inf")
        self._lock = threading.RLock()

    @property
    def stream(self) -> Any:
        return self._stream if self._stream is not None else sys.stderr

    def show(self, job: JobProgress) -> None:
        now = self.clock()
        with self._lock:
            if now - self.last < self.interval and job.waiting is None:
                return
            self.last = now
            self.say(job.text(now))

    def say(self, text: str) -> None:
        """Show ``text`` as the line now (cut to the terminal's width)."""
        width = shutil.get_terminal_size((100, 20)).columns - 1
        with self._lock:
            self.text = text if len(text) <= width else text[:width - 1] + "…"
            self.redraw()

    def done(self, job: JobProgress | None = None) -> None:
        with self._lock:
            self.clear()
            self.text = ""
            self.last = float("-inf")

    def clear(self) -> None:
        with self._lock:
            if self.text:
                self.stream.write(ERASE)
                self.stream.flush()

    def redraw(self) -> None:
        with self._lock:
            if self.text:
                self.stream.write(ERASE + self.text)
                self.stream.flush()


def for_command(estimate: Callable[[str], int | None] | None = None, terminal: bool = True
                ) -> tuple[Progress | None, TerminalLine | None]:
    """The progress of a command: a line when stderr is a terminal (and ``terminal``), ``STATUS=``
    when systemd runs it (``NOTIFY_SOCKET``); ``None`` when neither."""
    line = TerminalLine() if terminal and sys.stderr.isatty() else None
    notifier = Notifier()
    displays: list[Any] = [d for d in (line, SystemdStatus(notifier) if notifier.enabled else None) if d]
    if not displays:
        return None, None
    if line is not None:
        logs.live(line)
    return Progress(displays, estimate), line


def stop(line: TerminalLine | None) -> None:
    """The command is done with its line: clear it, and let log lines go straight to stderr again."""
    if line is not None:
        line.done()
        logs.live(None)
