"""Reading vendor values in a connector's mapping: the two conversions every vendor needs before the
canonical model normalises the rest (:func:`hostsync.model.normalise`)."""

from __future__ import annotations

from typing import Any


def text(value: Any) -> str | None:
    """A vendor's text without surrounding blanks; ``None`` for a missing or blank one."""
    if value is None:
        return None
    out = str(value).strip()
    return out or None


def ident(value: Any) -> str | None:
    """A vendor's id as text; ``None``, ``""``, ``0``, ``"0"`` and ``False`` name no record (vendors
    answer a missing reference as 0)."""
    out = None if value is False else text(value)
    return None if out == "0" else out
