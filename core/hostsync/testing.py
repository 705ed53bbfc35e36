"""pytest fixtures for hostsync and for plugin authors (registered through the ``pytest11`` entry point).

``hostsync_project``: a throw-away installation in a temporary folder: declare systems and jobs,
then drive it through the real CLI (in-process) and inspect its state::

    def test_mirror(hostsync_project, start_sandbox):
        box = start_sandbox("whmcs", seed=1)
        project = hostsync_project
        project.systems.update(box.systems())
        project.job("clients", kind="client", source="billing", targets=["panel"])
        assert project.cli("sync", "clients").exit_code == 0

``start_sandbox(name, seed=None)``: a registered sandbox (by its name or a plugin it serves) served on
loopback, stopped after the test.

``shared_sandbox(name, data=None)``: the session's one running sandbox for ``name``, made fresh for
this test (its state replaced by ``data``, a ``dump()``, or emptied; no fault, no call counted):
starting a server per test costs a tenth of a second. ``connect(box, system=None, **overrides)``: a
connector for a running sandbox, configured by the sandbox's own ``systems()`` table, closed after
the test::

    SAMPLE = AcmeSandbox(seed=1).dump()

    def test_update(shared_sandbox, connect):
        box = shared_sandbox("acme", SAMPLE)
        acme = connect(box, page_size=2)

``ContractSuite``: the connector contract suite (:mod:`hostsync.contract`); subclass it as a
``Test...`` class to run every check against a connector and its sandbox. ``--contract-strictness
low|high`` overrides the strictness of every suite in a run.

Every test starts with no secret registered for redaction (the redactor is one per process, as in the
daemon, so one test's passwords would otherwise be masked in the next test's messages).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import pytest
from click.testing import CliRunner

from .cli import cli
from .cli.config_cmd import to_toml
from .connector import Connector
from .contract import ContractSuite
from .plugins import load_plugins
from .redact import redactor
from .sandbox import Sandbox
from .state import State

__all__ = ["CliResult", "ContractSuite", "HostsyncProject", "hostsync_project", "start_sandbox", "shared_sandbox",
           "connect"]


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


class HostsyncProject:
    """A hostsync installation in a folder: ``hostsync.toml``, its state and the CLI."""

    def __init__(self, path: Path, plugins_dir: Path | None = None) -> None:
        self.path = path
        self.path.mkdir(parents=True, exist_ok=True)
        self.settings: dict[str, Any] = {"state": "hostsync.db"}
        if plugins_dir:
            self.settings["plugins_dir"] = str(plugins_dir)
        self.systems: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.env: dict[str, str] = {}

    @property
    def config_path(self) -> Path:
        return self.path / "hostsync.toml"

    @property
    def state_path(self) -> Path:
        return self.path / self.settings["state"]

    def system(self, name: str, **settings: Any) -> None:
        self.systems[name] = settings

    def job(self, name: str, **settings: Any) -> None:
        self.jobs[name] = settings

    def write(self) -> Path:
        data = {"hostsync": self.settings, "systems": self.systems, "jobs": self.jobs}
        self.config_path.write_text(to_toml(data), encoding="utf-8")
        return self.config_path

    def cli(self, *args: str, env: Mapping[str, str] | None = None, write: bool = True) -> CliResult:
        """Run ``hostsync --config <this project> ARGS`` in-process."""
        if write:
            self.write()
        runner = CliRunner()
        result = runner.invoke(cli, ["--config", str(self.config_path), *args],
                               env={**self.env, **(env or {})}, catch_exceptions=False)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    def state(self) -> State:
        """The state store, read-only (close it, or use it as a context manager)."""
        return State.open_readonly(self.state_path)


@pytest.fixture(autouse=True)
def _fresh_redactor() -> Iterator[None]:
    redactor.clear()
    yield
    redactor.clear()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--contract-strictness", choices=("low", "high"), default=None,
                     help="hostsync contract suites: fail (high) or skip (low) the checks a suite cannot set up")


@pytest.fixture
def hostsync_project(tmp_path: Path) -> Iterator[HostsyncProject]:
    """A fresh hostsync installation in a temporary folder."""
    yield HostsyncProject(tmp_path / "project")


@pytest.fixture
def start_sandbox() -> Iterator[Callable[..., Sandbox]]:
    """Start a registered sandbox by vendor name on loopback; stopped after the test."""
    started: list[Sandbox] = []
    plugins = load_plugins()

    def start(name: str, seed: int | None = None) -> Sandbox:
        """``name``: a sandbox, or a plugin a sandbox serves (``wbteampro``: the WHMCS sandbox)."""
        box = _sandbox_class(plugins, name)(seed=seed)
        box.start()
        started.append(box)
        return box

    yield start
    for box in started:
        box.stop()


def _sandbox_class(plugins: Any, name: str) -> type[Sandbox]:
    cls = plugins.sandbox_for(name)
    if cls is None:
        raise LookupError(f"no sandbox {name!r} registered (known: {', '.join(sorted(plugins.sandboxes))})")
    return cls


@pytest.fixture(scope="session")
def _shared_sandboxes() -> Iterator[dict[str, Sandbox]]:
    servers: dict[str, Sandbox] = {}
    yield servers
    for box in servers.values():
        box.stop()


@pytest.fixture
def shared_sandbox(_shared_sandboxes: dict[str, Sandbox]) -> Callable[..., Sandbox]:
    """The session's running sandbox for a vendor, made fresh for this test."""
    plugins = load_plugins()

    def fresh(name: str, data: Mapping[str, Any] | None = None, *, keep: bool = False) -> Sandbox:
        """``name``: a sandbox or a plugin it serves; ``data``: the state to load (``None``: empty);
        ``keep``: leave the state as it is (for what needs only the server, such as its URL)."""
        cls = _sandbox_class(plugins, name)
        box = _shared_sandboxes.get(cls.name)
        if box is None:
            box = _shared_sandboxes[cls.name] = cls().start()
        if keep:
            return box
        with box.lock:
            if data is None:
                box.reset()
            else:
                box.load(data)
            box.clear_faults()
            box.reset_calls()
        return box

    return fresh


@pytest.fixture
def connect() -> Iterator[Callable[..., Connector]]:
    """``connect(box, system=None, **overrides)``: a connector for the running sandbox ``box``."""
    plugins = load_plugins()
    made: list[Connector] = []

    def make(box: Sandbox, system: str | None = None, **overrides: Any) -> Connector:
        """``system``: which of ``box.systems()`` (default: the first whose plugin ``box`` serves);
        a 2 s timeout unless ``overrides`` say otherwise (a value ``None`` removes a setting)."""
        tables = box.systems()
        name = system or next((n for n, t in tables.items() if t.get("plugin") in box.plugins), next(iter(tables)))
        options = {**tables[name], "timeout": 2.0, **overrides}
        connector = plugins.connectors[str(options["plugin"])](name, {k: v for k, v in options.items() if v is not None})
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()
