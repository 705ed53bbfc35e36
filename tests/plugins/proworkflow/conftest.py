"""Fixtures for the ProWorkflow plugin tests: a sandbox on loopback (one server for the session, fresh
state per test) and connectors pointing at it."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import httpx
import pytest

from hostsync_proworkflow.connector import ProWorkflowConnector
from hostsync_proworkflow.sample import account_setup
from hostsync_proworkflow.sandbox import ProWorkflowSandbox

SAMPLE = ProWorkflowSandbox(seed=7).dump()
EMPTY = {**account_setup(), "config": SAMPLE["config"]}


@pytest.fixture(scope="session")
def _server() -> Iterator[ProWorkflowSandbox]:
    with ProWorkflowSandbox() as box:
        yield box


def fresh(box: ProWorkflowSandbox, data: dict[str, Any]) -> ProWorkflowSandbox:
    box.load(data)
    box.clear_faults()
    box.reset_calls()
    return box


@pytest.fixture
def sandbox(_server: ProWorkflowSandbox) -> ProWorkflowSandbox:
    """The sample agency."""
    return fresh(_server, SAMPLE)


@pytest.fixture
def empty_sandbox(_server: ProWorkflowSandbox) -> ProWorkflowSandbox:
    """A set-up account with no customers (the agency's staff and the API fields only)."""
    return fresh(_server, EMPTY)


@pytest.fixture
def connect() -> Iterator[Callable[..., ProWorkflowConnector]]:
    """``connect(box, **overrides)``: a connector for the sandbox with short timeouts."""
    made: list[ProWorkflowConnector] = []

    def make(box: ProWorkflowSandbox, **overrides: Any) -> ProWorkflowConnector:
        options = {**box.systems()["proworkflow"], "timeout": 2.0, **overrides}
        connector = ProWorkflowConnector("pwf", {k: v for k, v in options.items() if v is not None})
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


@pytest.fixture
def pwf(sandbox: ProWorkflowSandbox, connect: Callable[..., ProWorkflowConnector]) -> ProWorkflowConnector:
    return connect(sandbox)


@pytest.fixture
def http(_server: ProWorkflowSandbox) -> Iterator[httpx.Client]:
    """A plain HTTP client for the sandbox, authenticated both ways."""
    with httpx.Client(base_url=_server.url, auth=(ProWorkflowSandbox.USERNAME, ProWorkflowSandbox.PASSWORD),
                      headers={"apikey": ProWorkflowSandbox.APIKEY}, timeout=5) as client:
        yield client
