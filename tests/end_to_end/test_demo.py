"""`hostsync demo` runs to completion and leaves every system consistent with the others."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

from hostsync.cli import cli
from hostsync.config import load_config
from hostsync.demo import load_snapshot, start_sandboxes
from hostsync.engine import Runtime, order_jobs, sync_job
from hostsync.plugins import load_plugins

from .support import counts, duplicates, emails, inventory, mismatches

pytestmark = pytest.mark.slow


def test_the_demo_runs_and_every_system_ends_as_expected(tmp_path):
    folder = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--dir", str(folder)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "4. Sync again: only the changes travel" in result.stdout and "Done in" in result.stdout
    assert f"hostsync --config {folder / 'hostsync.toml'} runs --events" in result.stdout

    plugins = load_plugins()
    boxes = start_sandboxes(plugins, load_snapshot(folder))  # the sandboxes as the demo left them
    try:
        config = load_config(folder / "hostsync.toml", plugins)
        with Runtime(config, plugins) as rt:
            # WHMCS's 12 sample clients plus the one who signed up mid-demo, everywhere; every domain,
            # invoice and ticket where its job sends it; every WHMCS ticket tied to a project
            assert counts(rt, [("billing", "client"), ("panel", "client"), ("blesta", "client"),
                               ("billing", "domain"), ("panel", "domain"), ("billing", "invoice"),
                               ("blesta", "invoice"), ("billing", "ticket"), ("blesta", "ticket"),
                               ("teampro", "ticket")]) == {
                ("billing", "client"): 13, ("panel", "client"): 13, ("blesta", "client"): 13,
                ("billing", "domain"): 10, ("panel", "domain"): 10, ("billing", "invoice"): 15,
                ("blesta", "invoice"): 15, ("billing", "ticket"): 10, ("blesta", "ticket"): 10,
                ("teampro", "ticket"): 10}
            billing = emails(inventory(rt, "billing", "client"))
            assert emails(inventory(rt, "panel", "client")) == emails(inventory(rt, "blesta", "client")) == billing
            assert not duplicates(billing)
            # fields equal after each system's canonical mapping, references at the right records
            for name in config.jobs:
                assert mismatches(rt, name) == []
            # and nothing left to do
            for name in order_jobs(config, config.jobs):
                again = sync_job(rt, name)
                assert again.ok and again.writes == 0, (name, again.counts)
    finally:
        for box in boxes.values():
            box.stop()


def test_the_demo_sandboxes_come_back_for_the_commands_the_demo_prints(tmp_path):
    folder = tmp_path / "demo"
    assert CliRunner().invoke(cli, ["demo", "--dir", str(folder)]).exit_code == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTSYNC_")}
    served = subprocess.Popen([sys.executable, "-m", "hostsync", "sandbox", "--from", str(folder)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert served.stderr.readline() == "Serving; press Ctrl-C to stop.\n"
        plan = subprocess.run([sys.executable, "-m", "hostsync", "--config", str(folder / "hostsync.toml"),
                               "plan", "clients", "--json"], env=env, capture_output=True, text=True, timeout=60)
        assert plan.returncode == 0, plan.stderr
        counts = json.loads(plan.stdout)["counts"]
        assert counts["unchanged"] > 0 and counts["created"] == counts["updated"] == counts["failed"] == 0
    finally:
        served.send_signal(signal.SIGTERM)
        served.communicate(timeout=20)
    assert served.returncode == 0
