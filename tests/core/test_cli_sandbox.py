"""`hostsync sandbox` prints complete, working [systems.*] tables: pasted into a config as they are,
they pass `check` and run the demo's jobs without a failure (no setting left for the operator to
find out about from a failed record)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from hostsync.demo import JOB_SETTINGS, JOBS
from hostsync.plugins import load_plugins

SANDBOXES = sorted(load_plugins().sandboxes)


@pytest.mark.parametrize("name", SANDBOXES)
def test_every_sandboxs_tables_pass_check(hostsync_project, start_sandbox, name):
    box = start_sandbox(name, seed=1)
    hostsync_project.systems.update(box.systems())
    result = hostsync_project.cli("check", "--json")
    assert result.exit_code == 0, result.output
    assert {r["system"] for r in result.json() if r["ok"]} == set(box.systems())


def read_json_document(stream) -> dict:
    """The first JSON document of a stream that stays open (the sandbox keeps serving)."""
    lines = []
    for line in stream:
        lines.append(line)
        if line.rstrip("\n") == "}":
            return json.loads("".join(lines))
    raise AssertionError(f"no JSON document in {''.join(lines)!r}")


@pytest.mark.slow
def test_the_printed_tables_run_the_demo_jobs_without_a_failure(hostsync_project):
    process = subprocess.Popen([sys.executable, "-m", "hostsync", "sandbox", *SANDBOXES, "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        printed = read_json_document(process.stdout)
        hostsync_project.systems.update(printed["systems"])
        for name, kind, source, targets in JOBS:
            hostsync_project.job(name, kind=kind, source=source, targets=targets, **JOB_SETTINGS.get(name, {}))
        result = hostsync_project.cli("sync", "--all", "--json")
        assert result.exit_code == 0, result.output
        assert {r["job"]: r["counts"]["failed"] for r in result.json()} == dict.fromkeys(
            [name for name, *_ in JOBS], 0)
        assert all(r["counts"]["created"] for r in result.json())  # each job did something real
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
