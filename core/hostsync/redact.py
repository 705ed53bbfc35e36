"""One redactor for the whole process: secrets never reach a log, an error message, an event or the state.

Every configured secret is registered when the config loads, and a connector registers each secret it
makes up (a password for a new client account) with :meth:`hostsync.Connector.secret` before sending
it. Text then passes through :func:`redact` at the core's chokepoints: every log record (a record
factory), every hostsync error's message, every event given to observers, every value a statement
writes to the state file, and what the CLI prints. A vendor that echoes a request back in an error
reply echoes it encoded, so each secret is also looked for URL-encoded (``%20`` and ``+``, upper- and
lower-case hex), JSON- and XML-escaped, and inside base64 text (``user:secret`` in HTTP Basic auth).

Values shorter than :data:`MIN_LENGTH` are not registered: they would redact ordinary words.
Configured secrets stay registered for the life of the process; generated ones are kept while they can
still be in flight (the last :data:`RECENT` of them), so that a busy daemon's redactor stays small and
quick (``python bench/engine.py --secrets N`` measures what checking every state write costs).
"""

from __future__ import annotations

import base64
import html
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Iterator
from urllib.parse import quote, quote_plus

MIN_LENGTH = 4
RECENT = 64
MASK = "***"
_HEX = re.compile(r"%[0-9A-F]{2}")
_RUN = re.compile(r"[A-Za-z0-9]+")


def forms(secret: str, base64: bool = True) -> set[str]:
    """``secret`` as it may appear in text: raw and in each encoding a request or an echo may use
    (``base64``: also inside base64 text, where credentials go in HTTP Basic auth)."""
    encoded = {quote(secret, safe=""), quote(secret), quote_plus(secret, safe="")}
    encoded |= {text.replace("~", "%7E") for text in encoded}  # PHP's urlencode() encodes ~ too
    encoded |= {_HEX.sub(lambda m: m.group(0).lower(), text) for text in encoded}
    escaped = {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    escaped |= {text.replace("/", "\\/") for text in escaped}  # PHP's json_encode() escapes slashes
    escaped |= {html.escape(secret, quote=False), html.escape(secret), html.escape(secret).replace("&#x27;", "&apos;")}
    cores = base64_cores(secret) if base64 else set()
    return {text for text in {secret} | encoded | escaped | cores if len(text) >= MIN_LENGTH}


def base64_cores(secret: str) -> set[str]:
    """What the base64 of any text holding ``secret`` (``user:secret`` in an HTTP Basic header, a whole
    request body) must contain: for each of the three alignments, the characters that only the secret's
    bytes decide (standard and URL-safe alphabets)."""
    data = secret.encode("utf-8")
    out = set()
    for shift in range(3):
        text = base64.b64encode(b"\0" * shift + data).decode()
        core = text[-(-8 * shift // 6):8 * (shift + len(data)) // 6]
        out |= {core, core.replace("+", "-").replace("/", "_")}
    return out


class _Secret:
    """The forms of one secret, and the cheap substring tests that say whether any may be present."""

    __slots__ = ("forms", "keys")

    def __init__(self, secret: str, base64: bool) -> None:
        self.forms = forms(secret, base64)
        # Letters and digits survive every text encoding unchanged, so the longest run of them is in
        # every non-base64 form: one substring test rules the secret out. Base64 forms are their own keys.
        run = max(_RUN.findall(secret), key=len, default="")
        if len(run) >= MIN_LENGTH:
            self.keys = {run} | {text for text in self.forms if run not in text}
        else:
            self.keys = set(self.forms)

    def present(self, text: str) -> bool:
        return any(key in text for key in self.keys)


class Redactor:
    """Replaces registered secrets (in all their forms) by ``***``. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[str, _Secret] = {}
        self._recent: OrderedDict[str, _Secret] = OrderedDict()
        self._all: tuple[_Secret, ...] = ()
        #: every entry's keys in one tuple: the common case (no secret in a text) is one loop over it
        self._keys: tuple[str, ...] = ()

    def add(self, secret: Any, *, keep: bool = True) -> None:
        """Register ``secret``: for the life of the process (``keep``: configured secrets and what is
        derived from them), else among the :data:`RECENT` ones (secrets made up for one record)."""
        if not isinstance(secret, str) or len(secret) < MIN_LENGTH:
            return
        with self._lock:
            entry = self._kept.get(secret) or self._recent.get(secret)
            if entry is None or (keep and secret not in self._kept):
                entry = _Secret(secret, base64=keep)  # a made-up password never goes in an auth header
            if keep:
                self._kept[secret] = entry
                self._recent.pop(secret, None)
            elif secret not in self._kept:
                self._recent[secret] = entry
                self._recent.move_to_end(secret)
                while len(self._recent) > RECENT:
                    self._recent.popitem(last=False)
            entries = (*self._kept.values(), *self._recent.values())
            # keys first: a reader that sees the new entries sees their keys too (no lock to read)
            self._keys = tuple({key for entry in entries for key in entry.keys})
            self._all = entries

    def clear(self) -> None:
        """Forget every secret (tests)."""
        with self._lock:
            self._kept.clear()
            self._recent.clear()
            self._all = ()
            self._keys = ()

    def _maybe(self, text: str) -> bool:
        """Whether any secret may be in ``text`` (false: certainly none)."""
        for key in self._keys:
            if key in text:
                return True
        return False

    def __bool__(self) -> bool:
        return bool(self._all)

    def __call__(self, text: str) -> str:
        """``text`` with every registered secret replaced by ``***``."""
        entries = self._all
        if not entries or not text or not self._maybe(text):
            return text
        found = [entry for entry in entries if entry.present(text)]
        if not found:
            return text
        for form in sorted({form for entry in found for form in entry.forms}, key=len, reverse=True):
            if form in text:
                text = text.replace(form, MASK)
        return text

    def value(self, value: Any) -> Any:
        """A value with secrets redacted inside strings, lists, tuples and mappings (others as given).

        The common case, no secret anywhere, costs one substring test per secret key over all the
        value's strings at once.
        """
        if isinstance(value, str):
            return self(value)
        entries = self._all
        if not entries or not isinstance(value, (Mapping, list, tuple)):
            return value
        if not self._maybe("\0".join(_strings(value))):
            return value
        return self._everywhere(value)

    def _everywhere(self, value: Any) -> Any:
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {key: self._everywhere(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self._everywhere(item) for item in value)
        return value


def _strings(value: Any) -> Iterator[str]:
    kind = type(value)
    if kind is str:
        yield value
    elif kind is tuple or kind is list:  # rows of a statement: strings, numbers, None
        for item in value:
            if type(item) is str:
                yield item
            elif item is not None and not isinstance(item, (int, float)):
                yield from _strings(item)
    elif kind is dict or isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


#: The process's redactor.
redactor = Redactor()


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    return redactor(text)


def register_secret(secret: str, *, keep: bool = True) -> str:
    """Register ``secret`` with the process's redactor and return it (see :meth:`Redactor.add`)."""
    redactor.add(secret, keep=keep)
    return secret
