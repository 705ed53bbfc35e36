"""PHP bracket-notation form encoding, both ways: what Blesta's API reads with ``$_GET``, ``$_POST``
and ``parse_str(php://input)``.

Blesta binds request parameters to PHP method arguments by name, and nested arguments (``vars``,
``filters``) arrive as PHP arrays built from bracketed keys: ``vars[lines][0][amount]=5.99``. The
official SDK builds them with ``http_build_query``; :func:`encode` produces the same bytes, with
these documented choices for values PHP forms cannot carry as such:

* ``True``/``False`` go out as ``"1"``/``"0"`` (``http_build_query`` does the same); PHP reads
  ``"0"`` as false. Blesta arguments documented as the *strings* ``'true'``/``'false'`` (``use_module``,
  ``send_registration_email``) must be given as those strings by the caller.
* ``None`` goes out as an empty value (``key=``): PHP receives ``""``, which Blesta's loose
  ``== null`` checks treat as null. To let a PHP default apply, leave the key out instead.
* An empty list or dict sends nothing (PHP forms cannot express an empty array); the PHP default
  applies, so only leave an array argument empty where it has one.
* Numbers go out as ``str(value)`` (``Decimal`` keeps its digits); text as UTF-8.

Keys PHP would silently rename or split are refused with :class:`FormError` rather than sent wrong:
``[``/``]`` or NUL anywhere, a space or dot in a top-level name, empty keys, a nested key that is a
single whitespace character (PHP skips it and reads ``[ ]`` as ``[]``). PHP also drops every
variable past ``max_input_vars`` (1000 by default) with only a warning, so more pairs are refused too.

:func:`decode` is the inverse, a faithful port of PHP's ``parse_str`` (used by the sandbox); lists
come back as lists where PHP's own ``json_encode`` would print a JSON list (keys ``0..n-1`` in order).
"""

from __future__ import annotations

import re
from decimal import Decimal
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote_plus

MAX_INPUT_VARS = 1000
MAX_NESTING = 64
_C_SPACE = frozenset(" \t\n\v\f\r")  # C isspace(): PHP skips one before looking for ']' 


class FormError(ValueError):
    """A value that PHP's form parsing would not read back as given."""


def encode(params: Mapping[str, Any]) -> str:
    """``params`` as an ``application/x-www-form-urlencoded`` string in PHP bracket notation."""
    return "&".join(f"{_quote(key)}={_quote(value)}" for key, value in pairs(params))


#: PHP's ``urlencode`` of each byte: letters, digits and ``-_.`` as they are, a space as ``+``, the rest
#: as ``%XX`` (``~`` too, unlike ``quote_plus``).
_BYTES = tuple(chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "-_.") else "+" if b == 0x20
               else f"%{b:02X}" for b in range(256))
_PLAIN = re.compile(r"[A-Za-z0-9_.\-]*")


def _quote(text: str) -> str:
    """PHP's ``urlencode`` (byte-equal to PHP); most keys and values need no escaping at all."""
    if _PLAIN.fullmatch(text):
        return text
    return "".join(map(_BYTES.__getitem__, text.encode("utf-8")))


def pairs(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The flat ``(key, value)`` pairs :func:`encode` sends, in order."""
    out: list[tuple[str, str]] = []
    for name, value in params.items():
        _check_key(name, top=True)
        _flatten(name, value, out, 1)
    if len(out) > MAX_INPUT_VARS:
        raise FormError(f"{len(out)} form fields in one request; PHP reads only the first {MAX_INPUT_VARS} "
                        "(max_input_vars)")
    return out


def _check_key(key: Any, *, top: bool) -> None:
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise FormError(f"form key {key!r} must be a string or an integer")
    text = str(key)
    if text == "":
        raise FormError("empty form key (PHP drops it or reads it as an append)")
    if "[" in text or "]" in text or "\x00" in text:
        raise FormError(f"form key {text!r} contains '[', ']' or NUL, which PHP reads as structure")
    if not top and text in _C_SPACE:
        raise FormError(f"form key {text!r} is a lone whitespace character, which PHP reads as an append ([])")
    if top and (" " in text or "." in text or text[0].isspace()):
        raise FormError(f"top-level form key {text!r} contains a space or dot, which PHP turns into '_'")


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]], depth: int) -> None:
    if type(value) is dict or (not isinstance(value, (str, list, tuple)) and isinstance(value, Mapping)):
        items: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        out.append((prefix, _scalar(prefix, value)))
        return
    if depth >= MAX_NESTING:
        raise FormError(f"{prefix}: nested deeper than PHP's max_input_nesting_level ({MAX_NESTING})")
    for key, item in items:
        _check_key(key, top=False)
        _flatten(f"{prefix}[{key}]", item, out, depth + 1)


def _scalar(key: str, value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "1"
    if value is False:
        return "0"
    if isinstance(value, (str, int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    raise FormError(f"{key}: cannot send a {type(value).__name__} in a form")


# --- decoding: PHP's parse_str ---------------------------------------------------------------

_INDEX = re.compile(r"^(0|-?[1-9][0-9]*)$")


def decode(body: str | bytes) -> dict[str, Any]:
    """Parse a query string or form body exactly as PHP's ``parse_str`` does."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    result: dict[str, Any] = {}
    for part in body.split("&"):
        if not part:
            continue
        raw_key, _, raw_value = part.partition("=")
        _assign(result, unquote_plus(raw_key), unquote_plus(raw_value))
    return _top(result)


def decode_pairs(items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Like :func:`decode` for already-unquoted pairs."""
    result: dict[str, Any] = {}
    for key, value in items:
        _assign(result, key, value)
    return _top(result)


def _top(result: dict[str, Any]) -> dict[str, Any]:
    """The variables by name; only nested arrays become lists."""
    return {key: _listify(value) for key, value in result.items()}


def _split_key(key: str) -> list[str | None] | None:
    """The key's path as PHP's ``php_register_variable_ex`` reads it (``None`` = append)."""
    key = key.split("\x00", 1)[0].lstrip(" ")
    bracket = key.find("[")
    base = key if bracket < 0 else key[:bracket]
    rest = "" if bracket < 0 else key[bracket:]
    if not base:
        return None
    path: list[str | None] = []
    while rest.startswith("["):
        body = rest[1:]
        close = body.find("]", 1 if body[:1] in _C_SPACE else 0)
        if close < 0:
            if not path:  # an unclosed first bracket is no bracket: PHP turns it and ' ', '.', '[' into '_'
                base = base + "_" + re.sub(r"[ .\[]", "_", body)
            break
        index = body[:close]
        path.append(None if index == "" or index in _C_SPACE else index)
        rest = body[close + 1:]
        if rest and not rest.startswith("["):
            break
    base = base.replace(" ", "_").replace(".", "_")
    return [base, *path][: MAX_NESTING + 1]


def _assign(result: dict[str, Any], key: str, value: str) -> None:
    path = _split_key(key)
    if path is None:
        return
    target: dict[str, Any] = result
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        if part is None:
            part = str(_next_index(target))
        part = _php_key(part)
        if last:
            target[part] = value
            return
        child = target.get(part)
        if not isinstance(child, dict):
            child = {}
            target[part] = child
        target = child


def _php_key(key: str) -> str:
    """PHP turns decimal-integer string keys into integer keys; we keep them as canonical strings."""
    return str(int(key)) if _INDEX.match(key) else key


def _next_index(target: Mapping[str, Any]) -> int:
    indexes = [int(k) for k in target if _INDEX.match(k)]
    return max(max(indexes) + 1, 0) if indexes else 0  # PHP 8.2: never negative


def _listify(value: Any) -> Any:
    """Dicts keyed ``"0".."n-1"`` in order become lists, as ``json_encode`` prints them."""
    if not isinstance(value, dict):
        return value
    converted = {k: _listify(v) for k, v in value.items()}
    if converted and list(converted) == [str(i) for i in range(len(converted))]:
        return list(converted.values())
    return converted
