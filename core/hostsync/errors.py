"""The error taxonomy: every failure a connector reports is one of these, and each has one policy.

Plugins raise these, never bare exceptions (the engine treats anything else as a bug in the plugin and
fails the record with the exception's type name). Messages must never contain secrets: name the
setting, not its value.

=================  ==========================================================================
``AuthError``      Credentials or permissions refused. Never retried: the system is *held* (no
                   further calls from this run or later ones) until ``hostsync check SYSTEM``
                   passes or the system's configuration changes. Until a system's credentials
                   have been accepted, the core sends it one call at a time, so this comes once.
``RateLimited``    The vendor asked us to slow down; retried after ``retry_after`` seconds.
``Transient``      Network trouble, timeouts, 5xx: retried with exponential backoff and jitter.
                   ``may_have_applied`` says a write could have reached the vendor (a lost reply):
                   its outcome is *unknown*, and a create is never sent again until a lookup made
                   after the target's settle delay finds nothing. The core also treats a write as
                   unknown after any HTTP 5xx but 503, or a lost or cut-off reply, whatever error
                   the plugin raised, unless it raised one of the two below.
``Rejected``       The vendor refused this record (validation): proof that nothing was applied.
                   Others go on; retried next run. Only for replies that prove it.
``NotFound``       A ``Rejected`` for a record id the vendor does not know (deleted meanwhile).
``ProtocolError``  The vendor answered something we cannot read (HTML, truncated JSON, ...).
``ConfigError``    The configuration is wrong; names the file and key path. Exit code 2.
``StateError``     The state file cannot be used as it is; names it and what to do. Exit code 2.
``StateFull``      The disk holding the state is full; nothing half-written. Exit code 1.
=================  ==========================================================================
"""

from __future__ import annotations

from .redact import redactor


class HostsyncError(Exception):
    """Base of every error hostsync raises on purpose. Its message is redacted when it is made, so a
    secret a vendor echoed into it (or a plugin put there) never reaches a log, the state or a screen."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(redactor(arg) if isinstance(arg, str) else arg for arg in args))


class ConnectorError(HostsyncError):
    """Base of the errors a connector raises about a call to its vendor."""

    retryable = False


class AuthError(ConnectorError):
    """Credentials or permissions were refused. Holds the system; never retried."""


class Transient(ConnectorError):
    """A failure that may pass: network, timeout, 5xx, maintenance.

    :param may_have_applied: the request may have reached the vendor and changed something
        (timeout after sending, connection dropped before the reply, a 5xx after processing).
        The outcome is then unknown: a create is looked up with ``find`` once the target's settle
        delay has passed, and sent again only by a later run that finds nothing.
    """

    retryable = True

    def __init__(self, message: str, *, may_have_applied: bool = False) -> None:
        super().__init__(message)
        self.may_have_applied = may_have_applied


class RateLimited(Transient):
    """The vendor asked us to slow down; ``retry_after`` is in seconds when the vendor said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Rejected(ConnectorError):
    """The vendor refused this record. ``fields`` maps canonical or vendor field names to messages."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = redactor.value(dict(fields or {}))


class NotFound(Rejected):
    """The record id is unknown to the vendor (deleted meanwhile)."""


class ProtocolError(ConnectorError):
    """The vendor answered something that cannot be read (HTML, truncated JSON, unknown status)."""


class ConfigError(HostsyncError):
    """The configuration is wrong. ``str()`` names the file and the key path."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        self.detail = redactor(message)
        prefix = ": ".join(part for part in (file, key) if part)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class StateError(HostsyncError):
    """The state file cannot be used as it is (damaged, another program's, written by a newer hostsync,
    not creatable). Names the file and what to do. Exit code 2."""


class StateFull(BaseException):
    """A write to the state file failed for want of disk space; nothing of it was written. Exit code 1.

    Like ``KeyboardInterrupt`` it derives from ``BaseException``: with nothing more recordable (no
    intent before a create, no link after it) the whole invocation must stop, and no ``except
    Exception`` on the way may carry on. The CLI prints it as one line; the daemon logs it and tries
    again at the job's next scheduled run.
    """


class PluginError(HostsyncError):
    """A plugin could not be loaded or registered something invalid. Names the plugin."""
