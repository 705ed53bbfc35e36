"""The ISPConfig remote functions hostsync calls, with their PHP parameter names in order.

ISPConfig's SOAP server binds arguments by position and its JSON endpoint by these names (a missing
name arrives as null), so the packaged WSDL, both transports and the sandbox all follow this one
table (FACTS.md section 9, parameter order from ISPConfig's ``remote.d`` sources).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FUNCTIONS: dict[str, tuple[str, ...]] = {
    "login": ("username", "password", "client_login"),
    "logout": ("session_id",),
    "client_get": ("session_id", "client_id"),
    "client_add": ("session_id", "reseller_id", "params"),
    "client_update": ("session_id", "client_id", "reseller_id", "params"),
    "client_delete": ("session_id", "client_id"),
    "client_get_id": ("session_id", "sys_userid"),
    "domains_domain_get": ("session_id", "primary_id"),
    "domains_domain_add": ("session_id", "client_id", "params"),
    "domains_domain_update": ("session_id", "client_id", "primary_id", "params"),
    "domains_domain_delete": ("session_id", "primary_id"),
    "sites_web_domain_get": ("session_id", "primary_id"),
    "sites_web_domain_add": ("session_id", "client_id", "params", "readonly"),
    "sites_web_domain_update": ("session_id", "client_id", "primary_id", "params"),
    "sites_web_domain_delete": ("session_id", "primary_id"),
}


@dataclass(frozen=True)
class Default:
    """A trailing parameter left to the server's PHP default.

    SOAP leaves it off (zeep's ``SkipValue``); JSON cannot leave anything off (a missing name is
    null), so it sends ``value``, the PHP default itself.
    """

    value: Any


def is_write(function: str) -> bool:
    """Whether a call changes something (so a lost reply may have applied it)."""
    return function.endswith(("_add", "_update", "_delete"))
