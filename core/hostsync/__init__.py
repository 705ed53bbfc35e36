"""hostsync keeps a hosting business's billing, control-panel and project systems in step.

What a plugin author needs is importable from here::

    from hostsync import hookimpl, Connector, Operations, Cost, Setting, Record, ORIGIN, matching, canonical
    from hostsync import AuthError, RateLimited, Transient, Rejected, NotFound, ProtocolError, ConfigError
"""

__version__ = "0.1.0"

from .connector import ORIGIN, Connector, Cost, Operations, Setting, canonical, matches, matching  # noqa: E402
from .errors import (  # noqa: E402
    AuthError,
    ConfigError,
    ConnectorError,
    NotFound,
    ProtocolError,
    RateLimited,
    Rejected,
    Transient,
)
from .hookspecs import hookimpl  # noqa: E402
from .model import KINDS, Record  # noqa: E402

__all__ = [
    "__version__", "hookimpl", "Connector", "Cost", "Operations", "Setting", "Record", "KINDS", "ORIGIN",
    "matches", "matching", "canonical",
    "AuthError", "ConfigError", "ConnectorError", "NotFound", "ProtocolError", "RateLimited",
    "Rejected", "Transient",
]
