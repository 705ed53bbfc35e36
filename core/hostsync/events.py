"""Events the engine emits to ``hostsync_event`` observers.

Types: ``run.started``, ``run.finished``, ``record.<action>`` (``created``, ``updated``, ``deleted``,
``adopted``, ``deferred``, ``conflict``, ``unknown``, ``failed``) and ``system.held`` / ``system.released``.
Events carry ids and field names, never field values or secrets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


@dataclass(frozen=True)
class Event:
    type: str
    job: str | None = None
    run_id: int | None = None
    system: str | None = None
    kind: str | None = None
    record_id: str | None = None
    target_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
