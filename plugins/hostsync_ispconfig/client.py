"""ISPConfig remote API client: one session per run over either transport, faults -> typed errors.

Both transports (``soap.py``, ``jsonapi.py``) carry positional calls and raise :class:`RemoteFault`
for the vendor's faults; this module logs in lazily under a lock (calls come from several threads),
logs in again when the session is 1800 s old (ISPConfig does not extend sessions by use) or once
when the server says it is gone, and maps every fault to :mod:`hostsync.errors`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any, Callable, Mapping, Protocol, Sequence

from hostsync.errors import AuthError, ConnectorError, NotFound, ProtocolError, Rejected, Transient
from hostsync.redact import redact as core_redact

from .functions import FUNCTIONS, Default, is_write

log = logging.getLogger(__name__)

#: ISPConfig sessions last 1800 s from login, whatever is done with them.
SESSION_LIFETIME = 1800.0
#: Log in again this long before the server would expire the session.
SESSION_MARGIN = 60.0


class RemoteFault(Exception):
    """A fault the vendor answered. ``code`` is the SOAP fault code or the JSON ``code`` (for
    ``remote_fault`` the JSON endpoint keeps only the message, so ``code`` is ``None``)."""

    def __init__(self, code: str | None, message: str, *, standard: bool = False) -> None:
        super().__init__(code or "remote_fault")
        self.code = code
        self.message = message
        self.standard = standard


class Transport(Protocol):
    """What ``soap.py`` and ``jsonapi.py`` provide."""

    def call(self, function: str, args: Sequence[Any], *, what: str, write: bool) -> Any:
        """Call ``function`` with positional ``args``; return the decoded value or raise
        :class:`RemoteFault` / a :mod:`hostsync.errors` type for HTTP-level failures."""

    def close(self) -> None:
        """Release the HTTP connections."""


def make_transport(options: Mapping[str, Any]) -> Transport:
    """The transport the options choose (``transport = "soap"`` or ``"json"``).

    The options go to :func:`hostsync.http.build_client` as they are: it sizes the pool from
    ``concurrency`` and takes a test transport from ``http_transport``.
    """
    url = str(options["url"])
    if not url.endswith("/"):
        url += "/"
    if options.get("transport", "soap") == "json":
        from .jsonapi import JsonTransport

        return JsonTransport(url, options)
    from .soap import SoapTransport  # the only module that imports zeep; JSON users never load it

    return SoapTransport(url, options)


# --- faults -----------------------------------------------------------------------------------

_AUTH_CODES = {"login_failed", "login_username_empty", "login_password_empty", "permission_denied",
               "login_not_allowed"}
_SESSION_CODES = {"session_does_not_exist", "session_id_empty"}
_REJECT_CODES = {"data_processing_error", "invalid_data", "no_client_found", "no_domain_found",
                 "client_id_error", "record_not_found"}
# The JSON endpoint keeps only the SoapFault's text: classify that text (FACTS.md sections 6, 9).
_MESSAGES = (
    (re.compile(r"login failed|login is not allowed|username is empty|password is empty", re.I), "auth"),
    (re.compile(r"do not have the permissions", re.I), "auth"),
    (re.compile(r"session is expired or does not exist|sessionid is empty", re.I), "session"),
    (re.compile(r"the id has to be > 0 or -1", re.I), "invalid_id"),
    (re.compile(r"maintenance", re.I), "transient"),
    (re.compile(r"cannot use object of type|too few arguments|function '\w+' doesn't exist|method \w+ does not exist",
                re.I), "protocol"),
)


def classify(fault: RemoteFault) -> str:
    """One of ``auth session invalid_id transient protocol rejected`` for a fault."""
    code = fault.code or ""
    if code in _AUTH_CODES:
        return "auth"
    if code in _SESSION_CODES:
        return "session"
    if code == "invalid_id":
        return "invalid_id"
    if code in ("invalid_method", "invalid_class"):
        return "protocol"
    if code in _REJECT_CODES:
        return "rejected"
    if "maintenance" in code:
        return "transient"
    for pattern, kind in _MESSAGES:
        if pattern.search(fault.message):
            return kind
    if fault.standard:  # SOAP-ENV:Server / Client: PHP itself failed on what we sent
        return "protocol"
    return "rejected"


_FIELD_ERROR = re.compile(r"\b([a-z][a-z0-9_]*?)_error_([a-z0-9_]+)\b")


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text


def clean_message(text: str, secrets: Sequence[str] = ()) -> str:
    """The vendor's message made fit for a log line: secrets redacted, HTML breaks out, short."""
    text = re.sub(r"<br\s*/?>", "; ", core_redact(redact(text or "", secrets)), flags=re.I)  # before it is cut
    text = re.sub(r"<[^>]{0,200}>", "", text)
    text = "; ".join(part.strip() for part in re.split(r"[\r\n;]+", text) if part.strip())
    return text[:300] + ("..." if len(text) > 300 else "") if text else "no message given"


def fault_error(fault: RemoteFault, what: str, *, write: bool, secrets: Sequence[str] = ()) -> ConnectorError:
    """The typed error for a fault that was not handled by logging in again."""
    kind = classify(fault)
    message = clean_message(fault.message, secrets)
    if kind in ("auth", "session"):
        return AuthError(f"{what}: refused by ISPConfig: {message}")
    if kind == "invalid_id":
        return NotFound(f"{what}: ISPConfig says: {message}")
    if kind == "transient":
        return Transient(f"{what}: ISPConfig is unavailable: {message}", may_have_applied=False)
    if kind == "protocol":
        return ProtocolError(f"{what}: ISPConfig could not process the call: {message}")
    fields = {match.group(1): f"{match.group(1)}_error_{match.group(2)}"
              for match in _FIELD_ERROR.finditer(redact(fault.message or "", secrets))}
    return Rejected(f"{what}: ISPConfig refused it: {message}", fields)


def login_error(fault: RemoteFault, what: str, secrets: Sequence[str]) -> ConnectorError:
    """The typed error for a fault answering ``login``. Only the faults that mean the credentials (or
    the remote user's rights) are refused hold the system; any other fault (``server_error``,
    maintenance, a database error) may pass, and PHP failing on what we sent is a protocol error."""
    kind = classify(fault)
    message = clean_message(fault.message, secrets)
    if kind == "auth":
        return AuthError(f"{what}: {message}")
    if kind == "protocol":
        return ProtocolError(f"{what}: ISPConfig could not process the login: {message}")
    return Transient(f"{what}: ISPConfig failed ({fault.code or 'remote_fault'}): {message}")


# --- the session ------------------------------------------------------------------------------

class Session:
    """Calls with a session id, logging in lazily and again when the session expires.

    :param clock: a monotonic clock in seconds (tests replace it to age the session).
    """

    def __init__(self, transport: Transport, username: str, password: str, *, system: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.transport = transport
        self.system = system
        self.clock = clock
        self._username = username
        self._password = password
        self._lock = threading.Lock()
        self._id: str | None = None
        self._since = 0.0
        self.logins = 0

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self._password,)

    def _login(self) -> str:
        what = f"{self.system}: login as {self._username!r}"
        try:
            session_id = self.transport.call("login", (self._username, self._password, Default(False)),
                                             what=what, write=False)
        except RemoteFault as fault:
            raise login_error(fault, what, self.secrets) from None
        if not isinstance(session_id, str) or not re.fullmatch(r"[0-9A-Za-z]{8,128}", session_id):
            raise ProtocolError(f"{what}: the answer is not a session id")
        self.logins += 1
        log.debug("%s: logged in to ISPConfig (login %d)", self.system, self.logins)
        return session_id

    def _current(self) -> str:
        with self._lock:
            if self._id is None or self.clock() - self._since >= SESSION_LIFETIME - SESSION_MARGIN:
                self._id = self._login()
                self._since = self.clock()
            return self._id

    def _forget(self, session_id: str) -> None:
        with self._lock:
            if self._id == session_id:
                self._id = None

    def call(self, function: str, *args: Any, what: str, hide: Sequence[str] = ()) -> Any:
        """``function(session_id, *args)``; a session the server no longer knows is renewed once.

        :param hide: further secrets sent in this call (a new client's password), redacted from
            any vendor message that might echo them.
        """
        assert function in FUNCTIONS, function
        write = is_write(function)
        for attempt in (1, 2):
            session_id = self._current()
            try:
                return self.transport.call(function, (session_id, *args), what=what, write=write)
            except RemoteFault as fault:
                if classify(fault) == "session" and attempt == 1:
                    log.info("%s: ISPConfig session ended early; logging in again", self.system)
                    self._forget(session_id)
                    continue
                if classify(fault) == "session":
                    # A brand-new session refused at once: the server is not keeping sessions.
                    raise Transient(f"{what}: ISPConfig refused a session it had just opened") from None
                raise fault_error(fault, what, write=write, secrets=(*self.secrets, *hide)) from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Log out (best effort) and close the transport."""
        with self._lock:
            session_id, self._id = self._id, None
        try:
            if session_id is not None:
                self.transport.call("logout", (session_id,), what=f"{self.system}: logout", write=False)
        except (RemoteFault, ConnectorError) as exc:
            log.warning("%s: ISPConfig logout failed (%s); the session expires by itself",
                        self.system, type(exc).__name__)
        finally:
            self.transport.close()
