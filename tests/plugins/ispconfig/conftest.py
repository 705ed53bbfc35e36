"""Fixtures: the Python sandbox and a real PHP SoapServer, each over SOAP and JSON, behind one face.

The PHP server (``php/remote.php`` under ``php -S``) needs Debian's php-cli and php-soap. Without
them its tests are skipped, unless ``HOSTSYNC_REQUIRE_PHP=1`` (as in ``.ci/run``), which makes them fail.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from hostsync_ispconfig.connector import IspconfigConnector
from hostsync_ispconfig.sandbox import IspconfigSandbox

from .support import Backend, PhpBackend, PhpServer, PythonBackend, require_php, sample_data


@pytest.fixture(scope="session")
def php_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PhpServer]:
    require_php()
    server = PhpServer(tmp_path_factory.mktemp("php-ispconfig"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _running_sandbox() -> Iterator[IspconfigSandbox]:
    with IspconfigSandbox() as running:
        yield running


@pytest.fixture
def sandbox(_running_sandbox: IspconfigSandbox) -> IspconfigSandbox:
    """The running sandbox, reset to the sample data: no faults, flags, calls, sessions or clock offset."""
    running = _running_sandbox
    with running.lock:
        running.clear_faults()
        running.reset_calls()
        running.offset = 0.0
        running.orphan_on_failed_add = False
        running.reset()
        running.load(sample_data())
    return running


@pytest.fixture(params=["python-soap", "python-json", "php-soap", "php-json"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each ISPConfig implementation and transport, loaded with the same sample data."""
    implementation, transport = request.param.split("-")
    if implementation == "php":
        chosen: Backend = PhpBackend(request.getfixturevalue("php_server"), transport)
        chosen.load(sample_data())
    else:
        chosen = PythonBackend(request.getfixturevalue("sandbox"), transport)
    return chosen


@pytest.fixture(params=["soap", "json"])
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def connect(request: pytest.FixtureRequest) -> Any:
    """``connect(backend_or_options, **overrides)`` -> a connector closed after the test."""
    made: list[IspconfigConnector] = []

    def factory(target: Backend | dict[str, Any], clock: Any = None, **overrides: Any) -> IspconfigConnector:
        options = target.options(**overrides) if isinstance(target, Backend) else {**target, **overrides}
        connector = IspconfigConnector(options.pop("name", "panel"), options, clock=clock)
        made.append(connector)
        return connector

    yield factory
    for connector in made:
        connector.close()
