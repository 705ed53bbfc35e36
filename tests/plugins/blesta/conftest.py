"""Fixtures for the Blesta plugin tests: the session's sandbox made fresh per test (hostsync's
``shared_sandbox``) and connectors pointing at it (hostsync's ``connect``)."""

from __future__ import annotations

import os
import shutil
from typing import Any, Callable

import pytest

from hostsync.connector import Connector
from hostsync_blesta.sandbox import BlestaSandbox


SAMPLE = BlestaSandbox(seed=7).dump()
#: the sample company without its customers
EMPTY = {**SAMPLE, **{table: [] for table in ("clients", "contacts", "numbers", "users", "invoices", "transactions",
                                               "services", "tickets", "replies")}}


@pytest.fixture
def sandbox(shared_sandbox: Callable[..., Any]) -> BlestaSandbox:
    return shared_sandbox("blesta", SAMPLE)


@pytest.fixture
def empty_sandbox(shared_sandbox: Callable[..., Any]) -> BlestaSandbox:
    return shared_sandbox("blesta", EMPTY)


@pytest.fixture
def blesta(sandbox: BlestaSandbox, connect: Callable[..., Connector]) -> Connector:
    return connect(sandbox)


@pytest.fixture(scope="session")
def php() -> str:
    """The php-cli binary. Missing: skip, unless HOSTSYNC_REQUIRE_PHP=1 says it must be there (CI)."""
    found = shutil.which("php")
    if found:
        return found
    if os.environ.get("HOSTSYNC_REQUIRE_PHP") == "1":
        pytest.fail("php-cli is required (HOSTSYNC_REQUIRE_PHP=1) but not on PATH")
    pytest.skip("php-cli not installed (set HOSTSYNC_REQUIRE_PHP=1 to make this a failure)")
