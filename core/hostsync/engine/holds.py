"""Held systems: after an authentication failure a system gets no further calls until fixed.

A hold ends when ``hostsync check SYSTEM`` passes or when the system's configuration changes (new
credentials, say). To notice a change without storing secrets, the state keeps a salted scrypt
digest of the configuration (secrets included), computed only when a hold is taken or checked.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from ..config import SystemConfig
from ..state import State

log = logging.getLogger(__name__)


def fingerprint(system: SystemConfig, salt: str) -> str:
    return hashlib.scrypt(system.material(), salt=bytes.fromhex(salt), n=2 ** 14, r=8, p=1, dklen=32).hex()


def hold(state: State, system: SystemConfig, reason: str) -> None:
    salt = secrets.token_hex(16)
    state.hold(system.name, reason, salt, fingerprint(system, salt))
    log.error("holding system %s after an authentication failure: %s; no further calls until "
              "`hostsync check %s` passes or its configuration changes", system.name, reason, system.name)


def held_reason(state: State, system: SystemConfig) -> str | None:
    """Why ``system`` is held, or ``None``. A hold whose configuration has since changed is released."""
    row = state.health(system.name)
    if not row or row["status"] != "held":
        return None
    if not row["salt"] or hmac.compare_digest(fingerprint(system, row["salt"]), row["fingerprint"] or ""):
        return row["reason"]
    if state.read_only:  # a plan or a report: the next run that may write releases it
        return None
    state.release(system.name)
    log.info("configuration of system %s changed since it was held; releasing the hold", system.name)
    return None
