"""Fixtures: the WHMCS sandbox (which serves the wbTeamPro API too) and a connector pointed at it."""

from __future__ import annotations

import pytest

from hostsync_wbteampro.connector import TeamProConnector

# wbTeamPro lives on a WHMCS host: the WHMCS sandbox serves its API, with the same fixtures
from ..whmcs.conftest import running_sandbox, sandbox  # noqa: F401

MEMBERS = {"1": "api@example.net", "2": "jane@example.net"}


@pytest.fixture
def options(sandbox):
    settings = {k: v for k, v in sandbox.systems()["teampro"].items() if k not in ("plugin", "shares_ids_with")}
    return {**settings, "timeout": 2.0, "page_size": 4, "members": MEMBERS}


@pytest.fixture
def connector(options):
    with TeamProConnector("teampro", options) as connected:
        yield connected
