"""The README's two set-up commands work on a fresh machine: a clean copy of the repository (the files
git tracks, nothing built or installed), a new virtualenv, `pip install -e .` then the demo, and
`pip install -e '.[test]'` bringing everything pytest needs (a subset of the suite runs inside it).

Offline wheels come from pip's own configuration (``PIP_FIND_LINKS`` on this machine), as for an
operator."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
pytestmark = pytest.mark.slow


def clean_copy(target: Path) -> Path:
    """The files git tracks, copied to ``target`` (no .venv, no egg-info, no caches)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout[-3000:]}\n" \
                                   f"{result.stderr[-3000:]}"
    return result


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_the_readme_commands_work_in_a_fresh_virtualenv_from_a_clean_copy(tmp_path):
    repo = clean_copy(tmp_path / "hostsync")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # the environment of a fresh shell with the venv activated: no hostsync of ours on the path
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOSTSYNC_", "PYTEST", "VIRTUAL_ENV"))
           and k != "PYTHONPATH"}
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    python = str(venv / "bin" / "python3")

    run([python, "-m", "pip", "install", "-q", "-e", "."], repo, env)
    demo = run([python, "-m", "hostsync", "demo", "--dir", str(tmp_path / "demo")], repo, env)
    assert "Done in" in demo.stdout

    run([python, "-m", "pip", "install", "-q", "-e", ".[test]"], repo, env)
    tests = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/core/test_systemd_unit.py",
                 "tests/docs/test_docs.py"], repo, env)
    assert " passed" in tests.stdout and " failed" not in tests.stdout
