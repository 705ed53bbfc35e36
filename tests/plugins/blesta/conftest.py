"""Fixtures for the Blesta plugin tests: a seeded sandbox on loopback and connectors pointing at it."""

from __future__ import annotations

import os
import shutil
from typing import Any, Callable, Iterator

import pytest

from hostsync_blesta.connector import BlestaConnector
from hostsync_blesta.emulator import Blesta
from hostsync_blesta.sandbox import BlestaSandbox


SAMPLE = BlestaSandbox(seed=7).dump()


@pytest.fixture(scope="session")
def _server() -> Iterator[BlestaSandbox]:
    """One loopback server for the session (stopping one costs 0.1 s); each test gets fresh state."""
    with BlestaSandbox() as box:
        yield box


def _fresh(box: BlestaSandbox, data: dict[str, Any]) -> BlestaSandbox:
    box.blesta = Blesta()
    box.load(data)
    box.clear_faults()
    box.reset_calls()
    return box


@pytest.fixture
def sandbox(_server: BlestaSandbox) -> BlestaSandbox:
    return _fresh(_server, SAMPLE)


@pytest.fixture
def empty_sandbox(_server: BlestaSandbox) -> BlestaSandbox:
    data = {k: v for k, v in SAMPLE.items()}
    for table in ("clients", "contacts", "numbers", "users", "invoices", "transactions", "services", "tickets",
                  "replies"):
        data[table] = []
    return _fresh(_server, data)


@pytest.fixture
def connect() -> Iterator[Callable[..., BlestaConnector]]:
    """``connect(box, **overrides)``: a connector for the sandbox with short timeouts."""
    made: list[BlestaConnector] = []

    def make(box: BlestaSandbox, **overrides: Any) -> BlestaConnector:
        options = {**box.systems()["blesta"], "timeout": 2.0, **overrides}
        options = {k: v for k, v in options.items() if v is not None}
        connector = BlestaConnector("blesta", options)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


@pytest.fixture
def blesta(sandbox: BlestaSandbox, connect: Callable[..., BlestaConnector]) -> BlestaConnector:
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
