"""Backends the tests run against: the Python sandbox and a real PHP SoapServer (``php/remote.php``)."""

from __future__ import annotations

import copy
import fcntl
import functools
import json
import os
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import hostsync_ispconfig
from hostsync_ispconfig.sandbox import REMOTE_PASSWORD, REMOTE_USER, IspconfigSandbox

PHP_DIR = Path(__file__).with_name("php")
TABLES = Path(hostsync_ispconfig.__file__).with_name("tables.json")
SEED = 3


@functools.lru_cache(maxsize=1)
def _sample() -> dict[str, Any]:
    return IspconfigSandbox().sample(SEED)


def sample_data() -> dict[str, Any]:
    """The sample panel every backend starts from (a fresh copy)."""
    return copy.deepcopy(_sample())


class Backend:
    """One ISPConfig to test against: ``python`` or ``php``, over ``soap`` or ``json``."""

    name: str
    transport: str

    def options(self, **overrides: Any) -> dict[str, Any]:
        return {"plugin": "ispconfig", "url": f"{self.url}/remote/", "username": REMOTE_USER,
                "password": REMOTE_PASSWORD, "transport": self.transport, "timeout": 5, **overrides}

    @property
    def url(self) -> str:
        raise NotImplementedError

    def load(self, data: dict[str, Any]) -> None:
        raise NotImplementedError

    def dump(self) -> dict[str, Any]:
        raise NotImplementedError

    def advance(self, seconds: float) -> None:
        raise NotImplementedError

    def rows(self, table: str) -> list[dict[str, Any]]:
        return list(self.dump()["tables"].get(table, []))

    def sessions(self) -> int:
        raise NotImplementedError


class PythonBackend(Backend):
    def __init__(self, sandbox: IspconfigSandbox, transport: str) -> None:
        self.sandbox, self.transport, self.name = sandbox, transport, f"python-{transport}"

    @property
    def url(self) -> str:
        return self.sandbox.url

    def load(self, data: dict[str, Any]) -> None:
        self.sandbox.load(data)

    def dump(self) -> dict[str, Any]:
        return self.sandbox.dump()

    def advance(self, seconds: float) -> None:
        self.sandbox.advance(seconds)

    def sessions(self) -> int:
        return len(self.sandbox.panel.sessions)


class PhpServer:
    """``php -S`` serving ``php/remote.php`` with its state in a JSON file."""

    def __init__(self, workdir: Path) -> None:
        self.state = workdir / "state.json"
        self.write(sample_data())
        self.port = _free_port()
        env = {**os.environ, "HOSTSYNC_ISPCONFIG_STATE": str(self.state), "HOSTSYNC_ISPCONFIG_TABLES": str(TABLES)}
        self.log = (workdir / "php.log").open("w")
        self.process = subprocess.Popen(
            ["php", "-d", "display_errors=0", "-d", "log_errors=1", "-S", f"127.0.0.1:{self.port}", "remote.php"],
            cwd=PHP_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"php -S did not start: {(workdir / 'php.log').read_text()[-500:]}")
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the lock PHP holds for a whole request (it saves the state at the end of it)."""
        with (self.state.parent / f"{self.state.name}.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def write(self, data: dict[str, Any]) -> None:
        remote_users = data.get("remote_users") or IspconfigSandbox().dump()["remote_users"]
        with self.locked():
            self.state.write_text(json.dumps({**data, "remote_users": remote_users, "sessions": {}, "clock_offset": 0}))

    def read(self) -> dict[str, Any]:
        with self.locked():
            return json.loads(self.state.read_text())

    def advance(self, seconds: float) -> None:
        with self.locked():
            state = json.loads(self.state.read_text())
            state["clock_offset"] = state.get("clock_offset", 0) + seconds
            self.state.write_text(json.dumps(state))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


class PhpBackend(Backend):
    def __init__(self, server: PhpServer, transport: str) -> None:
        self.server, self.transport, self.name = server, transport, f"php-{transport}"

    @property
    def url(self) -> str:
        return self.server.url

    def load(self, data: dict[str, Any]) -> None:
        self.server.write(data)

    def dump(self) -> dict[str, Any]:
        return self.server.read()

    def advance(self, seconds: float) -> None:
        self.server.advance(seconds)

    def sessions(self) -> int:
        return len(self.server.read().get("sessions") or {})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def require_php(env: Any = os.environ) -> None:
    """Skip when PHP or its soap extension is missing, or fail with ``HOSTSYNC_REQUIRE_PHP=1`` (CI)."""
    import pytest

    reason = php_missing()
    if reason and env.get("HOSTSYNC_REQUIRE_PHP") == "1":
        pytest.fail(f"HOSTSYNC_REQUIRE_PHP=1 but {reason}")
    if reason:
        pytest.skip(reason)


def php_missing() -> str | None:
    """Why the PHP interop server cannot run here, or ``None``."""
    if shutil.which("php") is None:
        return "php (php-cli) is not installed"
    modules = subprocess.run(["php", "-m"], capture_output=True, text=True, timeout=30).stdout.split()
    return None if "soap" in modules else "PHP's soap extension (php-soap) is not installed"
