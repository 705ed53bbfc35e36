"""Fixtures: the WHMCS sandbox (which serves the wbTeamPro API too) and a connector pointed at it."""

from __future__ import annotations

import pytest

from hostsync_wbteampro.connector import TeamProConnector
from hostsync_whmcs.sandbox import WhmcsSandbox

MEMBERS = {"1": "api@example.net", "2": "jane@example.net"}


@pytest.fixture(scope="session")
def running_sandbox():
    with WhmcsSandbox() as running:
        yield running


@pytest.fixture
def sandbox(running_sandbox):
    running_sandbox.reset()
    running_sandbox.load(running_sandbox.sample(1))
    running_sandbox.clear_faults()
    running_sandbox.reset_calls()
    return running_sandbox


@pytest.fixture
def options(sandbox):
    settings = {k: v for k, v in sandbox.systems()["teampro"].items() if k not in ("plugin", "shares_ids_with")}
    return {**settings, "timeout": 2.0, "page_size": 4, "members": MEMBERS}


@pytest.fixture
def connector(options):
    with TeamProConnector("teampro", options) as connected:
        yield connected
