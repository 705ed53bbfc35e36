"""Fixtures: a seeded WHMCS sandbox on loopback and a connector pointed at it."""

from __future__ import annotations

import pytest

from hostsync_whmcs.connector import WhmcsConnector
from hostsync_whmcs.sandbox import WhmcsSandbox


@pytest.fixture
def sandbox():
    with WhmcsSandbox(seed=1) as running:
        yield running


@pytest.fixture
def options(sandbox):
    """The sandbox's billing system settings, with short timeouts and small pages."""
    settings = {k: v for k, v in sandbox.systems()["billing"].items() if k != "plugin"}
    return {**settings, "timeout": 2.0, "page_size": 5}


@pytest.fixture
def connector(options):
    with WhmcsConnector("billing", options) as connected:
        yield connected
