"""Fixtures for the WebWork plugin tests: the session's sandbox made fresh per test (hostsync's
``shared_sandbox``) and connectors pointing at it (hostsync's ``connect``).

``workspace`` is the sandbox holding the sample workspace, ``empty_workspace`` the same sandbox with
the workspaces and members only. The sandbox enforces WebWork's 60 requests a minute; tests that are
not about the limit raise it (its ``systems()`` then tells hostsync the raised limit), the pacing
tests scale it down.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from hostsync.connector import Connector
from hostsync_webwork.sandbox import WebWorkSandbox

SAMPLE = WebWorkSandbox(seed=3).dump()
RAISED = (6000, 60.0)


def _raised(box: Any) -> WebWorkSandbox:
    box.set_limit(*RAISED)
    return box


@pytest.fixture
def workspace(shared_sandbox: Callable[..., Any]) -> WebWorkSandbox:
    """The sandbox with the sample workspace (three weeks of time up to today)."""
    return _raised(shared_sandbox("webwork", SAMPLE))


@pytest.fixture
def empty_workspace(shared_sandbox: Callable[..., Any]) -> WebWorkSandbox:
    """The workspaces and their members only, as after `hostsync sandbox webwork --empty`."""
    return _raised(shared_sandbox("webwork"))


@pytest.fixture
def webwork(workspace: WebWorkSandbox, connect: Callable[..., Connector]) -> Connector:
    return connect(workspace)


def calls(box: WebWorkSandbox) -> dict[str, int]:
    return dict(box.calls)


def writes(box: WebWorkSandbox) -> list[str]:
    return [entry["operation"] for entry in box.log if entry.get("write")]
