"""Logging to stderr (journald adds timestamps and the unit under systemd), with secrets redacted.

Connectors must never put secrets in messages; redaction is the second line of defence: every log
record made in the process, whoever logs it (hostsync, a plugin, httpx, zeep), is formatted and passed
through :mod:`hostsync.redact` when it is made, so no handler ever sees a registered secret.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Iterable

from .redact import redactor, register_secret

LEVELS = ["debug", "info", "warning", "error"]
#: Libraries that log request URLs or bodies: quiet unless asked for with -vvv.
NOISY = ("httpx", "httpcore", "zeep", "urllib3", "apscheduler")
#: One line per HTTP request to a vendor (see :mod:`hostsync.http`): shown one step past debug (-vv).
VENDOR = "hostsync.vendor"

_base_factory = logging.getLogRecordFactory()


def _redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Make a record whose message, traceback and stack are already redacted."""
    record = _base_factory(*args, **kwargs)
    if not redactor:
        return record
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it when the record is emitted
        return record
    record.msg, record.args = redactor(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redactor(record.exc_text)
    if record.stack_info:
        record.stack_info = redactor(record.stack_info)
    return record


#: A live line on the terminal (a progress display) that log lines must not garble, if any.
_live: Any = None


def live(line: Any) -> None:
    """While ``line`` is shown (an object with ``clear()`` and ``redraw()``), each log line clears it
    first and draws it again after; ``None`` when it is gone."""
    global _live
    _live = line


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (test runners swap it), above any live line."""

    _hostsync = True

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        line = _live
        if line is None:
            super().emit(record)
            return
        line.clear()
        super().emit(record)
        line.redraw()

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201 - logging's own attribute
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001
        pass


def setup(level: str = "info", verbosity: int = 0, secrets: Iterable[str] = ()) -> None:
    """Configure logging once per process; later calls adjust the level (and register ``secrets``).

    Each ``-v`` goes one step further than ``level``: at the default ``info``, ``-v`` adds each
    record's action (debug), ``-vv`` a line per vendor request, ``-vvv`` the libraries' own debug
    output (httpx, zeep, ...). ``-q`` goes the other way.
    """
    depth = LEVELS.index(level) - verbosity  # below 0: past debug
    index = min(max(depth, 0), len(LEVELS) - 1)
    for secret in secrets:
        register_secret(secret)
    if logging.getLogRecordFactory() is not _redacted_record:
        logging.setLogRecordFactory(_redacted_record)
    root = logging.getLogger()
    root.setLevel(LEVELS[index].upper())
    logging.getLogger("hostsync").setLevel(LEVELS[index].upper())
    if not any(getattr(h, "_hostsync", False) for h in root.handlers):
        handler = _Stderr()
        under_journald = bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))
        handler.setFormatter(logging.Formatter(
            "%(levelname)s %(name)s: %(message)s" if under_journald
            else "%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
        root.addHandler(handler)
    logging.getLogger(VENDOR).setLevel("DEBUG" if depth <= -1 else max(LEVELS[index], "info", key=LEVELS.index).upper())
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel("DEBUG" if depth <= -2 else "WARNING")


def redact(text: str) -> str:
    """Redact known secrets from text printed outside logging (CLI error messages)."""
    return redactor(text)
