"""Printing tables, JSON and run counts for the commands, and the redaction of everything printed."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence, TextIO

import click

from ..redact import redactor


class _Redacting:
    """A text stream that passes what is written through the redactor (everything else: the stream's)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError("a text stream takes str")  # so click sees a text stream, not a binary one
        return self._stream.write(redactor(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def redacted_output() -> Iterator[None]:
    """While a command runs, whatever it prints (and whatever is logged) passes through the redactor."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Redacting(sys.stdout), _Redacting(sys.stderr)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def plural(count: int, word: str) -> str:
    """``1 job``, ``2 jobs``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False))


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain aligned text table (no borders, so it pastes into tickets and greps well)."""
    body = [["" if cell is None else str(cell) for cell in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in body]
    return "\n".join(lines)


def summary_line(counts: dict[str, int]) -> str:
    """A run's counts in one line, every counter in its usual order."""
    from ..engine.actions import COUNTERS  # the engine loads only for commands that run it

    return ", ".join(f"{counts.get(name, 0)} {name}" for name in COUNTERS)


def echo_table(rows: Iterable[Sequence[Any]], headers: Sequence[str], empty: str = "(none)") -> None:
    rows = list(rows)
    click.echo(table(rows, headers) if rows else empty)
