"""The README cannot drift: every `hostsync` command it shows runs here, against the sandboxes, and
succeeds; its first two commands are the demo and the test command `.ci/run` runs."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hostsync.config import load_config
from hostsync.demo import demo_config, start_sandboxes, write_config
from hostsync.engine import Runtime, sync_job
from hostsync.model import Record
from hostsync.plugins import load_plugins

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()
pytestmark = pytest.mark.slow


def console_commands() -> list[str]:
    """`$ hostsync ...` lines of the README's console blocks, in order."""
    blocks = re.findall(r"```console\n(.*?)```", README, re.S)
    return [line[2:].strip() for block in blocks for line in block.splitlines() if line.startswith("$ hostsync")]


def test_the_first_two_commands_are_the_demo_and_the_test_command_ci_runs():
    first_block = re.search(r"```sh\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["python3 -m pip install -e . && python3 -m hostsync demo",
                        "python3 -m pip install -e '.[test]' && python3 -m pytest"]
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


def test_the_readme_shows_the_operator_commands():
    shown = {shlex.split(c)[1] for c in console_commands()}
    assert {"sandbox", "config", "check", "plan", "sync", "runs", "links", "jobs", "conflicts", "resolve",
            "state"} <= shown


def test_every_hostsync_command_in_the_readme_works(tmp_path):
    plugins = load_plugins()
    boxes = start_sandboxes(plugins)
    try:
        data = demo_config(boxes)
        data["jobs"]["clients-both-ways"] = {"kind": "client", "source": "billing", "targets": ["blesta"],
                                             "direction": "two-way"}
        config_path = write_config(tmp_path / "hostsync.toml", data, plugins)
        conflict_id = make_conflict(config_path, plugins)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTSYNC_")}
        env["HOSTSYNC_CONFIG"] = str(config_path)
        values = {"JOB": "clients", "SYSTEM": "panel", "ID": str(conflict_id)}
        for line in console_commands():
            argv = [values.get(word, word) for word in shlex.split(line)]
            command = [sys.executable, "-m", "hostsync", *argv[1:]]
            if argv[1] == "sandbox":  # serves until stopped
                process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE, text=True)
                assert process.stderr.readline() == "Serving; press Ctrl-C to stop.\n"  # up and serving
                process.send_signal(signal.SIGTERM)
                out, _ = process.communicate(timeout=30)
                assert process.returncode == 0 and "[systems.billing]" in out, line
                continue
            result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
            if argv[1:3] == ["sync", "--all"] and "conflict wait for an operator" in result.stderr:
                assert result.returncode == 1, result.stderr  # the conflict made above waits: said, and exit 1
                continue
            assert result.returncode == 0, f"`{line}` exited {result.returncode}: {result.stderr}"
        assert "no conflicts" in subprocess.run([sys.executable, "-m", "hostsync", "conflicts"], env=env, cwd=tmp_path,
                                                capture_output=True, text=True).stdout
    finally:
        for box in boxes.values():
            box.stop()


def make_conflict(config_path: Path, plugins) -> int:
    """Sync the two-way job, then change one client on both sides, so `conflicts`/`resolve` have work."""
    config = load_config(config_path, plugins)
    with Runtime(config, plugins) as rt:
        assert sync_job(rt, "clients-both-ways").ok
        link = next(rt.state.iter_links("client", "billing", "blesta"))
        for system, record_id, city in (("billing", link.id, "Bremen"), ("blesta", link.peer_id, "Bergen")):
            connector = rt.connector(system)
            record = connector.get("client", record_id)
            connector.update("client", record_id, Record("client", record_id, {**record.fields, "city": city},
                                                         record.refs))
        result = sync_job(rt, "clients-both-ways")
        assert result.counts["conflicts"] == 1, result.counts
        return rt.state.open_conflicts()[0]["id"]
