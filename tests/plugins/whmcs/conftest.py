"""Fixtures: a seeded WHMCS sandbox on loopback and a connector pointed at it."""

from __future__ import annotations

import pytest

from hostsync_whmcs.connector import WhmcsConnector
from hostsync_whmcs.sandbox import WhmcsSandbox


@pytest.fixture(scope="session")
def running_sandbox():
    with WhmcsSandbox() as running:
        yield running


@pytest.fixture
def sandbox(running_sandbox):
    """The sandbox with fresh sample data, no faults, no flags and no calls counted."""
    running_sandbox.reset()
    running_sandbox.load(running_sandbox.sample(1))
    running_sandbox.clear_faults()
    running_sandbox.reset_calls()
    return running_sandbox


@pytest.fixture
def options(sandbox):
    """The sandbox's billing system settings, with short timeouts and small pages."""
    settings = {k: v for k, v in sandbox.systems()["billing"].items() if k != "plugin"}
    return {**settings, "timeout": 2.0, "page_size": 5}


@pytest.fixture
def connector(options):
    with WhmcsConnector("billing", options) as connected:
        yield connected
