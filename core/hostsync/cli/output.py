"""Printing tables, JSON and run counts for the commands."""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

import click

from ..engine.actions import COUNTERS


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
    return ", ".join(f"{counts.get(name, 0)} {name}" for name in COUNTERS)


def echo_table(rows: Iterable[Sequence[Any]], headers: Sequence[str], empty: str = "(none)") -> None:
    rows = list(rows)
    click.echo(table(rows, headers) if rows else empty)
