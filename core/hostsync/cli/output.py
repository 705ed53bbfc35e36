"""Printing tables and JSON for the listing commands."""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

import click


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


def echo_table(rows: Iterable[Sequence[Any]], headers: Sequence[str], empty: str = "(none)") -> None:
    rows = list(rows)
    click.echo(table(rows, headers) if rows else empty)
