"""Logging to stderr (journald adds timestamps and the unit under systemd), with secrets redacted.

Connectors must never put secrets in messages; the redaction filter is the second line of
defence: every configured secret value is replaced by ``***`` in every record, whoever logs it.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Iterable

LEVELS = ["debug", "info", "warning", "error"]


class RedactSecrets(logging.Filter):
    """Replaces each known secret value in a record's message and arguments by ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        # longest first, so a secret containing another is replaced whole; very short values would
        # redact ordinary words, so they are left to the connectors' own care
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.msg, record.args = self.redact(message), None
            if record.exc_text:
                record.exc_text = self.redact(record.exc_text)
        return True


_filter = RedactSecrets()


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (test runners swap it)."""

    _hostsync = True

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201 - logging's own attribute
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001
        pass


def setup(level: str = "info", verbosity: int = 0, secrets: Iterable[str] = ()) -> None:
    """Configure the ``hostsync`` logger once per process; later calls adjust level and secrets."""
    index = min(max(LEVELS.index(level) - verbosity, 0), len(LEVELS) - 1)
    logger = logging.getLogger("hostsync")
    logger.setLevel(LEVELS[index].upper())
    _filter.update(secrets)
    handler = next((h for h in logger.handlers if getattr(h, "_hostsync", False)), None)
    if handler is None:
        handler = _Stderr()
        under_journald = bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))
        handler.setFormatter(logging.Formatter(
            "%(levelname)s %(name)s: %(message)s" if under_journald
            else "%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
        handler.addFilter(_filter)
        logger.addHandler(handler)
    # libraries that log request URLs or bodies stay quiet unless asked for; what they do log
    # (APScheduler's misfires and skipped runs, say) goes through the same handler and format
    for noisy in ("httpx", "httpcore", "zeep", "urllib3", "apscheduler"):
        library = logging.getLogger(noisy)
        library.setLevel("DEBUG" if index == 0 and verbosity >= 2 else "WARNING")
        if not any(f is _filter for f in library.filters):
            library.addFilter(_filter)
        if handler not in library.handlers:
            library.addHandler(handler)


def redact(text: str) -> str:
    """Redact known secrets from text printed outside logging (CLI error messages)."""
    return _filter.redact(text)
