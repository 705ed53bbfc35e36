"""Fixtures for the WebWork plugin tests: a seeded sandbox on loopback and connectors pointing at it.

``workspace`` is the sandbox holding the sample workspace, ``empty_workspace`` the same sandbox with
the workspaces and members only. The sandbox enforces WebWork's 60 requests a minute; tests that are
not about the limit raise it (its ``systems()`` then tells hostsync the raised limit), the pacing
tests scale it down.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from hostsync_webwork.connector import WebWorkConnector
from hostsync_webwork.sandbox import WebWorkSandbox

SAMPLE = WebWorkSandbox(seed=3).dump()
RAISED = (6000, 60.0)


@pytest.fixture(scope="session")
def _server() -> Iterator[WebWorkSandbox]:
    """One loopback server for the session; each test gets fresh state."""
    with WebWorkSandbox() as box:
        yield box


def _fresh(box: WebWorkSandbox, data: dict[str, Any]) -> WebWorkSandbox:
    box.load(data)
    box.set_limit(*RAISED)
    box.clear_faults()
    box.reset_calls()
    return box


@pytest.fixture
def workspace(_server: WebWorkSandbox) -> WebWorkSandbox:
    """The sandbox with the sample workspace (three weeks of time up to today)."""
    return _fresh(_server, SAMPLE)


@pytest.fixture
def empty_workspace(_server: WebWorkSandbox) -> WebWorkSandbox:
    """The workspaces and their members only, as after `hostsync sandbox webwork --empty`."""
    _server.reset()
    return _fresh(_server, _server.dump())


@pytest.fixture
def connect() -> Iterator[Callable[..., WebWorkConnector]]:
    """``connect(box, **overrides)``: a connector for the sandbox with short timeouts."""
    made: list[WebWorkConnector] = []

    def make(box: WebWorkSandbox, **overrides: Any) -> WebWorkConnector:
        options = {**box.systems()["webwork"], "timeout": 2.0, **overrides}
        connector = WebWorkConnector("webwork", {k: v for k, v in options.items() if v is not None})
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


@pytest.fixture
def webwork(workspace: WebWorkSandbox, connect: Callable[..., WebWorkConnector]) -> WebWorkConnector:
    return connect(workspace)


def calls(box: WebWorkSandbox) -> dict[str, int]:
    return dict(box.calls)


def writes(box: WebWorkSandbox) -> list[str]:
    return [entry["operation"] for entry in box.log if entry.get("write")]
