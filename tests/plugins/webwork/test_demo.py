"""`hostsync demo` includes WebWork: wbTeamPro's projects and tasks go in, the time Jane tracks there
comes back to wbTeamPro, with the sandbox's limit raised (and said so) so the demo takes seconds."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from hostsync.cli import cli
from hostsync.demo import load_snapshot

pytestmark = pytest.mark.slow


def test_the_demo_mirrors_plans_into_webwork_and_brings_the_time_back(tmp_path):
    folder = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--dir", str(folder)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "the WebWork sandbox allows 6000 requests a minute here, not 60" in result.stdout
    assert re.search(r"jane@example.net tracked 09:00-10:30 in WebWork on task #\d+ \(", result.stdout)
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("webwork-")]
    first = {r[0]: int(r[2]) for r in rows[:3]}  # created by the first sync
    second = {r[0]: (int(r[2]), int(r[3])) for r in rows[3:]}  # created, updated by the second
    assert first["webwork-projects"] >= 4 and first["webwork-tasks"] == 10 and first["webwork-time"] == 0
    assert second == {"webwork-projects": (0, 0), "webwork-tasks": (0, 0), "webwork-time": (2, 0)}
    saved = load_snapshot(folder)
    assert saved["webwork"]["state"]["config"]["rate_limit"] == {"count": 6000, "window": 60.0}
    jane = [t for t in saved["whmcs"]["state"]["timelogs"] if t["owner_adminid"] == 2 and
            str(t["timelog_note"]).startswith("Worked on")]
    assert sorted(t["timelog_elapsed"] for t in jane) == [45 * 60, 90 * 60]
