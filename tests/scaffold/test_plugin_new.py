"""``hostsync plugin new``: the package it writes installs in a fresh virtualenv and passes its own
tests, the contract suite included, as generated."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostsync.cli import cli

ROOT = Path(__file__).resolve().parents[2]


def test_the_scaffold_writes_a_whole_package_and_refuses_to_overwrite(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["plugin", "new", "acme_cloud", "--dir", str(tmp_path / "acme")])
    assert result.exit_code == 0, result.output
    written = {str(p.relative_to(tmp_path / "acme")) for p in (tmp_path / "acme").rglob("*") if p.is_file()}
    assert written == {"pyproject.toml", "README.md", ".github/workflows/test.yml", "tests/conftest.py",
                       "tests/test_contract.py", "tests/test_connector.py",
                       *(f"src/hostsync_acme_cloud/{m}.py" for m in ("__init__", "client", "mapping", "connector",
                                                                     "sandbox"))}
    pyproject = (tmp_path / "acme" / "pyproject.toml").read_text()
    assert 'name = "hostsync-acme-cloud"' in pyproject and 'acme_cloud = "hostsync_acme_cloud"' in pyproject
    assert "class AcmeCloudConnector(Connector):" in (tmp_path / "acme/src/hostsync_acme_cloud/connector.py").read_text()
    assert "{{" not in "".join((tmp_path / "acme" / name).read_text() for name in written)
    again = runner.invoke(cli, ["plugin", "new", "acme_cloud", "--dir", str(tmp_path / "acme")])
    assert again.exit_code == 2 and "already exists and is not empty" in again.output
    bad = runner.invoke(cli, ["plugin", "new", "Acme-Cloud"])
    assert bad.exit_code == 2 and "plugin name 'Acme-Cloud': use lower-case letters" in bad.output


@pytest.mark.slow
def test_the_generated_plugin_installs_and_passes_its_tests_in_a_fresh_virtualenv(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HOSTSYNC_", "PYTEST"))}

    def pip_install(*what: str) -> None:
        # offline: pip finds every dependency where the machine's pip configuration says (see .ci/run)
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", *what], capture_output=True, text=True,
                              env=env)
        assert done.returncode == 0, done.stdout + done.stderr

    pip_install(str(ROOT))  # hostsync as a user installs it (not editable: its templates are package data)
    folder = tmp_path / "hostsync-acme"
    made = subprocess.run([str(venv / "bin" / "hostsync"), "plugin", "new", "acme", "--dir", str(folder)],
                          capture_output=True, text=True, env=env)
    assert made.returncode == 0, made.stderr
    pip_install(f"{folder}[test]")
    listed = subprocess.run([str(venv / "bin" / "hostsync"), "plugins"], capture_output=True, text=True, env=env)
    assert "acme 0.1.0  (hostsync_acme, entry point)" in listed.stdout and "connector acme" in listed.stdout
    tests = subprocess.run([str(python), "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"], cwd=folder,
                           capture_output=True, text=True, env=env)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    summary = tests.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"2[0-9] passed, 2 skipped in .*", summary), summary  # the contract suite ran, strictly
    skipped = sorted(line.split(": ", 1)[1] for line in tests.stdout.splitlines() if line.startswith("SKIPPED"))
    assert skipped == ["find_by_origin[client]: client keeps no origin marker",
                       "list_since[client]: client does not declare since"]
