"""Built-in field transforms, registered exactly as a plugin registers its own.

A job applies them with ``[jobs.NAME.transforms]``: ``company = "upper"`` or ``phone = ["digits"]``.
They run on the source record after normalisation and before hashing, so they must be deterministic.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from .hookspecs import hookimpl


def _text(function: Callable[[str], Any]) -> Callable[[Any], Any]:
    def apply(value: Any) -> Any:
        return function(value) if isinstance(value, str) else value
    apply.__name__ = function.__name__
    apply.__doc__ = function.__doc__
    return apply


@_text
def lower(value: str) -> str:
    """Lower-case text."""
    return value.lower()


@_text
def upper(value: str) -> str:
    """Upper-case text."""
    return value.upper()


@_text
def title(value: str) -> str:
    """Capitalise each word."""
    return value.title()


@_text
def digits(value: str) -> str:
    """Keep digits and a leading +, for systems that store phone numbers bare."""
    return ("+" if value.lstrip().startswith("+") else "") + re.sub(r"\D", "", value)


def blank(value: Any) -> Any:
    """Drop the value (None; empty list for list fields): keeps a field out of the target."""
    return [] if isinstance(value, list) else None


@hookimpl(trylast=True)
def hostsync_register_transforms(register: Callable[[str, Callable[[Any], Any]], None]) -> None:
    for function in (lower, upper, title, digits, blank):
        register(function.__name__, function)
