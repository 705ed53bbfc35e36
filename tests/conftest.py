"""Shared fixtures: the in-memory test vendor (a plugins-directory plugin) and projects using it."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Iterator

import pytest

from hostsync.plugins import _import_file
from hostsync.testing import HostsyncProject

SUPPORT = Path(__file__).parent / "support"
PLUGINS_DIR = SUPPORT / "plugins"


@pytest.fixture
def memory() -> Iterator[ModuleType]:
    """The in-memory vendor plugin module, exactly as the plugin loader imports it; vendors reset."""
    module = _import_file(PLUGINS_DIR / "memory.py")
    module.reset()
    yield module
    module.reset()


@pytest.fixture
def project(tmp_path: Path, memory: ModuleType) -> HostsyncProject:
    """A project whose plugins directory holds the in-memory vendor."""
    return HostsyncProject(tmp_path / "project", plugins_dir=PLUGINS_DIR)
