"""The rest of the operator's CLI: unknown names exit 2 everywhere, a locked job exits 75, `--json`
on every listing, `resolve` and `config validate`, `holds`, shell completion, wording, and the
daemon and APScheduler speaking in hostsync's log format."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostsync import Rejected, logs
from hostsync.cli import cli
from hostsync.cli.exits import HELP
from hostsync.locks import JobLock
from hostsync.scheduler import Scheduler

from .test_engine_one_way import client

README = Path(__file__).parents[2] / "README.md"


@pytest.fixture
def systems(project, memory):
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memory", vendor="panel")
    project.job("clients", kind="client", source="billing", targets=["panel"])
    project.job("domains", kind="domain", source="billing", targets=["panel"])
    billing = memory.vendor("billing")
    billing.put("client", client(1))
    return billing, memory.vendor("panel")


# --- names ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [("runs", "clents"), ("links", "clents"), ("conflicts", "clents"),
                                  ("plan", "clents"), ("sync", "clents"), ("sync", "clients", "clents"),
                                  ("runs", "clents", "--json")])
def test_an_unknown_job_name_is_a_usage_error_everywhere(project, systems, args):
    assert project.cli("sync", "clients").exit_code == 0  # so the state has runs to list
    result = project.cli(*args)
    assert result.exit_code == 2, result.output
    assert "unknown job 'clents' (did you mean 'clients'? known: clients, domains)" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("args", [("check", "panle"), ("check", "billing", "panle"), ("holds", "release", "panle")])
def test_an_unknown_system_name_is_a_usage_error_everywhere(project, systems, args):
    result = project.cli(*args)
    assert result.exit_code == 2
    assert "unknown system 'panle' (did you mean 'panel'? known: billing, panel)" in result.stderr


def test_a_job_removed_from_the_config_still_shows_its_history(project, systems):
    assert project.cli("sync", "--all").exit_code == 0
    del project.jobs["domains"]
    runs = project.cli("runs", "domains", "--json")
    assert runs.exit_code == 0 and [r["job"] for r in runs.json()] == ["domains"]


def test_resolving_an_unknown_conflict_is_a_usage_error(project, systems):
    result = project.cli("resolve", "42", "--use", "source")
    assert result.exit_code == 2 and "no conflict #42" in result.stderr


# --- exit codes -----------------------------------------------------------------------------------

def test_a_locked_job_exits_75_but_a_failure_outweighs_it(project, systems):
    billing, panel = systems
    with JobLock(project.state_path, "clients"):
        locked = project.cli("sync", "clients")
        both = project.cli("sync", "--all", "--json")
        billing.put("domain", {"name": "example.org", "status": "active"})
        panel.fail("create", lambda: (_ for _ in ()).throw(Rejected("no such TLD")))
        failed_too = project.cli("sync", "--all", "--json")
    assert locked.exit_code == 75 and "already running" in locked.stderr
    assert both.exit_code == 75  # domains ran fine, clients was locked: try again later
    assert [r["status"] for r in both.json()] == ["locked", "ok"]
    assert failed_too.exit_code == 1 and [r["status"] for r in failed_too.json()] == ["locked", "failed"]
    assert project.cli("sync", "clients").exit_code == 0


def test_the_exit_codes_are_documented_in_the_help_and_the_readme():
    shown = CliRunner().invoke(cli, ["-h"]).stdout
    readme = README.read_text()
    for code in (0, 1, 2, 75, 130, 143):
        assert re.search(rf"\b{code}\b", HELP.split("Exit codes:")[1])
        assert f"{code}" in shown.split("Exit codes:")[1]
        assert re.search(rf"^\| `{code}`", readme, re.M), f"exit code {code} is not in the README's table"


# --- --json ---------------------------------------------------------------------------------------

def test_config_validate_speaks_json_and_counts_in_good_english(project, systems):
    del project.jobs["domains"]
    text = project.cli("config", "validate")
    assert text.exit_code == 0 and text.stdout.endswith(": valid (2 systems, 1 job)\n")
    good = project.cli("config", "validate", "--json")
    assert good.exit_code == 0
    assert good.json() == {"valid": True, "path": str(project.config_path), "systems": ["billing", "panel"],
                           "jobs": ["clients"]}
    project.jobs["clients"]["targets"] = ["panle"]
    bad = project.cli("config", "validate", "--json")
    assert bad.exit_code == 2 and bad.json()["valid"] is False
    assert "jobs.clients.targets[0]: unknown system 'panle'" in bad.json()["error"]


def test_resolve_speaks_json(project, memory):
    project.system("whmcs", plugin="memory", vendor="whmcs")
    project.system("blesta", plugin="memory", vendor="blesta")
    project.job("clients", kind="client", source="whmcs", targets=["blesta"], direction="two-way")
    whmcs, blesta = memory.vendor("whmcs"), memory.vendor("blesta")
    wid = whmcs.put("client", client(1))
    project.cli("sync", "clients")
    [bid] = blesta.records("client")
    whmcs.edit("client", wid, city="Whmcs-City")
    blesta.edit("client", bid, city="Blesta-City")
    project.cli("sync", "clients")
    [conflict] = project.cli("conflicts", "clients", "--json").json()
    resolved = project.cli("resolve", str(conflict["id"]), "--use", "target", "--json")
    assert resolved.exit_code == 0, resolved.output
    body = resolved.json()
    assert (body["conflict"], body["use"], body["job"], body["status"]) == (conflict["id"], "target", "clients", "ok")
    assert body["counts"]["updated"] == 1 and isinstance(body["run_id"], int)
    whmcs.edit("client", wid, city="Again-W")
    blesta.edit("client", bid, city="Again-B")
    project.cli("sync", "clients")
    [conflict] = project.cli("conflicts", "--json").json()
    with JobLock(project.state_path, "clients"):
        locked = project.cli("resolve", str(conflict["id"]), "--use", "source", "--json")
    assert locked.exit_code == 75 and locked.json()["status"] == "locked"


@pytest.mark.parametrize("command", [("plugins",), ("jobs",), ("runs",), ("links",), ("conflicts",), ("check",),
                                     ("holds",), ("config", "show"), ("config", "validate"), ("plan", "clients"),
                                     ("sync", "clients")])
def test_every_listing_takes_json(project, systems, command):
    result = project.cli(*command, "--json")
    assert result.exit_code == 0, result.output
    result.json()


# --- holds ----------------------------------------------------------------------------------------

def test_holds_lists_held_systems_and_release_needs_a_passing_check(project, systems):
    billing, panel = systems
    assert project.cli("holds").stdout == "(no held systems)\n"
    panel.password = "rotated"  # the vendor's admin changed the API password
    assert project.cli("sync", "clients").exit_code == 1
    [held] = project.cli("holds", "--json").json()
    assert (held["system"], held["plugin"], held["reason"]) == ("panel", "memory", "panel: login refused")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT.*", held["since"])
    table = project.cli("holds").stdout.splitlines()
    assert table[0].split() == ["SYSTEM", "PLUGIN", "HELD", "SINCE", "REASON"]
    assert table[1].startswith("panel") and table[1].endswith("panel: login refused")

    failed = project.cli("holds", "release", "panel")
    assert failed.exit_code == 1 and "check failed, still held" in failed.stderr
    assert panel.auth_failures == 2  # the release checked once: one more refused login, no more
    panel.password = "right"  # fixed on the vendor's side, the config unchanged
    released = project.cli("holds", "release", "panel", "--json")
    assert released.exit_code == 0
    assert released.json() == {"system": "panel", "held": False, "released": True, "message": "hold released"}
    assert project.cli("holds", "--json").json() == []
    assert project.cli("sync", "clients").exit_code == 0
    again = project.cli("holds", "release", "panel")
    assert again.exit_code == 0 and again.stdout == "panel is not held\n"


def test_a_hold_whose_configuration_changed_is_no_longer_listed(project, systems):
    project.systems["panel"]["password"] = "typo"
    assert project.cli("sync", "clients").exit_code == 1
    assert [h["system"] for h in project.cli("holds", "--json").json()] == ["panel"]
    project.systems["panel"]["password"] = "right"
    assert project.cli("holds", "--json").json() == []


# --- wording --------------------------------------------------------------------------------------

def test_check_shows_no_detail_when_all_is_well(project, systems):
    result = project.cli("check")
    assert result.exit_code == 0
    assert [line.split() for line in result.stdout.splitlines()] == [
        ["SYSTEM", "PLUGIN", "STATUS", "DETAIL"], ["billing", "memory", "ok"], ["panel", "memory", "ok"]]
    assert project.cli("check", "--json").json() == [{"system": "billing", "ok": True, "message": ""},
                                                    {"system": "panel", "ok": True, "message": ""}]


# --- shell completion -----------------------------------------------------------------------------

def complete(project, words: str, env: dict[str, str] | None = None) -> list[str]:
    """What bash completion offers for the command line ``words`` (the last word being typed)."""
    parts = words.split(" ")
    result = CliRunner().invoke(cli, parts[1:], prog_name="hostsync", env={
        "_HOSTSYNC_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(len(parts) - 1),
        "HOSTSYNC_CONFIG": str(project.config_path), **(env or {})})
    assert result.exit_code == 0 and result.stderr == ""
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]


def test_completion_offers_commands_jobs_and_systems(project, systems):
    project.write()
    assert complete(project, "hostsync ho") == ["holds"]
    assert complete(project, "hostsync sync ") == ["clients", "domains"]
    assert complete(project, "hostsync plan cl") == ["clients"]
    assert complete(project, "hostsync runs d") == ["domains"]
    assert complete(project, "hostsync check ") == ["billing", "panel"]
    assert complete(project, "hostsync holds release p") == ["panel"]
    other = project.path / "other.toml"
    other.write_text('[systems.crm]\nplugin = "memory"\n[jobs.people]\nkind = "client"\n')
    assert complete(project, f"hostsync --config {other} sync ") == ["people"]  # the config named on the line


@pytest.mark.parametrize("text", ["[jobs.clients\nkind = ", "jobs = 3", "", "\x00\xff"])
def test_completion_never_fails_on_a_broken_or_missing_config(project, text):
    project.path.mkdir(parents=True, exist_ok=True)
    project.config_path.write_text(text, encoding="latin-1")
    assert complete(project, "hostsync sync ") == []
    project.config_path.unlink()
    assert complete(project, "hostsync check ") == []


def test_the_installed_command_prints_its_completion_script():
    script = subprocess.run([str(Path(sys.executable).parent / "hostsync")], env={"_HOSTSYNC_COMPLETE": "bash_source"},
                            capture_output=True, text=True, timeout=60)
    assert script.returncode == 0 and "complete -o nosort -F _hostsync_completion hostsync" in script.stdout
    assert "_HOSTSYNC_COMPLETE=bash_source hostsync" in README.read_text()


# --- daemon and scheduler logs --------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("jobs, expected", [
    ({}, "nothing is scheduled: the config has no [jobs.*] tables"),
    ({"clients": {"kind": "client", "source": "billing", "targets": ["panel"]}},
     "nothing is scheduled: none of its 1 job has `every` or `cron` (such jobs run only by `hostsync sync`)"),
])
def test_a_daemon_with_nothing_to_do_says_so_and_why(project, memory, tmp_path, jobs, expected):
    from .test_daemon import NotifySocket, start, stop

    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memory", vendor="panel")
    project.jobs.update(jobs)
    project.write()
    notify = NotifySocket(tmp_path / "notify.sock")
    try:
        process = start(project, notify, watchdog_usec=None)
        try:
            notify.wait_for("READY=1")
        finally:
            code, err = stop(process)
        assert code == 0, err
        assert f"WARNING hostsync.daemon: daemon started: {expected}" in err
        assert any(expected in message for message in notify.messages)
    finally:
        notify.close()


def test_apschedulers_own_lines_use_hostsyncs_format(capsys):
    logs.setup("info")

    def fail(name: str) -> None:
        raise RuntimeError(f"boom in {name}")

    scheduler = Scheduler(fail)
    scheduler.start()
    try:
        scheduler.scheduler.add_job(scheduler.run, args=["clients"], id="once")  # due now, once
        deadline = time.monotonic() + 30
        while scheduler.scheduler.get_job("once") is not None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        scheduler.shutdown(wait=True)
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if "raised an exception" in line)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ERROR apscheduler\.executors\.default: Job .*", line), line
    assert logging.getLogger("apscheduler").level == logging.WARNING  # its INFO chatter stays out
