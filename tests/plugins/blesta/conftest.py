"""Fixtures for the Blesta plugin tests: a seeded sandbox on loopback and connectors pointing at it."""

from __future__ import annotations

import os
import shutil
from typing import Any, Callable, Iterator

import pytest

from hostsync_blesta.connector import BlestaConnector
from hostsync_blesta.sandbox import BlestaSandbox


@pytest.fixture
def sandbox() -> Iterator[BlestaSandbox]:
    with BlestaSandbox(seed=7) as box:
        yield box


@pytest.fixture
def empty_sandbox() -> Iterator[BlestaSandbox]:
    box = BlestaSandbox(seed=7)
    data = box.dump()
    for table in ("clients", "contacts", "numbers", "users", "invoices", "transactions", "services", "tickets",
                  "replies"):
        data[table] = []
    box.load(data)
    with box:
        yield box


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
