"""Fixtures for the ProWorkflow plugin tests: the session's sandbox made fresh per test (hostsync's
``shared_sandbox``) and connectors pointing at it (hostsync's ``connect``)."""

from __future__ import annotations

from typing import Callable, Iterator

import httpx
import pytest

from hostsync.connector import Connector
from hostsync.sandbox import Sandbox
from hostsync_proworkflow.sample import account_setup
from hostsync_proworkflow.sandbox import ProWorkflowSandbox

SAMPLE = ProWorkflowSandbox(seed=7).dump()
EMPTY = {**account_setup(), "config": SAMPLE["config"]}


@pytest.fixture
def sandbox(shared_sandbox: Callable[..., Sandbox]) -> Sandbox:
    """The sample agency."""
    return shared_sandbox("proworkflow", SAMPLE)


@pytest.fixture
def empty_sandbox(shared_sandbox: Callable[..., Sandbox]) -> Sandbox:
    """A set-up account with no customers (the agency's staff and the API fields only)."""
    return shared_sandbox("proworkflow", EMPTY)


@pytest.fixture
def pwf(sandbox: Sandbox, connect: Callable[..., Connector]) -> Connector:
    return connect(sandbox)


@pytest.fixture
def http(shared_sandbox: Callable[..., Sandbox]) -> Iterator[httpx.Client]:
    """A plain HTTP client for the sandbox, authenticated both ways."""
    url = shared_sandbox("proworkflow", keep=True).url
    with httpx.Client(base_url=url, auth=(ProWorkflowSandbox.USERNAME, ProWorkflowSandbox.PASSWORD),
                      headers={"apikey": ProWorkflowSandbox.APIKEY}, timeout=5) as client:
        yield client

