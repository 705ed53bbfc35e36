"""The command line reads well: every command has help, -h works, exit codes follow the convention."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from hostsync.cli import cli


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


COMMANDS = list(all_commands(cli))


def test_every_command_of_the_issue_exists():
    names = {" ".join(c) for c in COMMANDS}
    assert {"plugins", "check", "jobs", "plan", "sync", "runs", "links", "conflicts", "resolve", "daemon",
            "sandbox", "demo", "config validate", "config show", "holds", "holds release"} <= names


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_every_command_has_help_with_a_summary(command):
    result = CliRunner().invoke(cli, [*command, "-h"])
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: cli {' '.join(command)}")
    summary = result.stdout.split("\n\n")[1].strip()
    assert len(summary) > 20 and summary[0].isupper() and summary.endswith(".")


def test_top_level_help_lists_commands_with_untruncated_summaries():
    result = CliRunner().invoke(cli, ["-h"], terminal_width=120)
    assert result.exit_code == 0
    listing = result.stdout.split("Commands:")[1].split("Exit codes:")[0].strip().splitlines()
    assert len(listing) == len(cli.commands)
    assert not [line for line in listing if line.rstrip().endswith("...")]


def test_a_usage_error_exits_2():
    assert CliRunner().invoke(cli, ["sync", "--bogus"]).exit_code == 2
    assert CliRunner().invoke(cli, ["no-such-command"]).exit_code == 2


def test_help_loads_none_of_what_only_running_needs():
    """`hostsync --help` (and completion, which starts the same way) imports neither the engine nor
    the libraries only running jobs, the daemon or the connectors need."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "hostsync", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "Usage: hostsync" in result.stdout
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "hostsync.cli" in imported
    heavy = {"hostsync.engine", "hostsync.state", "hostsync.http", "hostsync.daemon", "hostsync.metrics",
             "hostsync.scheduler", "hostsync.sandbox", "httpx", "sqlite_utils", "apscheduler", "prometheus_client",
             "zeep", "hostsync_whmcs.connector", "hostsync_blesta.connector", "hostsync_ispconfig.connector"}
    assert heavy.isdisjoint(imported), sorted(heavy & imported)
