"""The shipped systemd unit: valid for systemd, hardened, and consistent with how the daemon behaves."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).parents[2] / "systemd" / "hostsync.service"

needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")


def directives(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


INSTALLED = "/usr/local/bin/hostsync"  # where the README's install steps link the command


@needs_analyze
def test_systemd_analyze_verify_passes(tmp_path):
    """The unit as shipped, with its command pointed at the script this test run installed (systemd
    checks that the file exists; a test machine need not have the production link)."""
    script = Path(sys.executable).parent / "hostsync"
    assert script.exists(), f"the hostsync script is not installed beside {sys.executable}"
    text = UNIT.read_text()
    assert f"ExecStart={INSTALLED} " in text
    unit = tmp_path / "hostsync.service"
    unit.write_text(text.replace(INSTALLED, str(script)))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@needs_analyze
def test_the_security_exposure_is_at_most_two():
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", str(UNIT)], capture_output=True, text=True)
    match = re.search(r"Overall exposure level for hostsync.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.0


def test_the_unit_matches_the_daemon():
    unit = directives(UNIT.read_text())
    assert unit["Type"] == ["notify"]
    assert unit["ExecStart"][0].endswith(" daemon")
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert unit["Restart"] == ["on-failure"]
    assert unit["WatchdogSec"] and unit["StateDirectory"] == ["hostsync"]
    assert unit["ConfigurationDirectory"] == ["hostsync"]
    assert unit["WorkingDirectory"] == ["/var/lib/hostsync"]  # so state = "hostsync.db" lands in the state directory
    assert any(line.startswith("whmcs-secret:") for line in unit["LoadCredential"])
