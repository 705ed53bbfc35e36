"""Configuration: every broken config names the file, the key path and the problem in one line (exit
code 2), through every command that loads it, with no traceback; valid ones resolve environment
variables and credential files and never show secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostsync.cli import cli

from ..conftest import PLUGINS_DIR

# Only the test plugins: the messages list known plugins, which must not depend on what is installed.
ENV = {"HOSTSYNC_LOAD_PLUGINS": ""}

BASE = """
[systems.billing]
plugin = "memory"
vendor = "b"
[systems.panel]
plugin = "memory"
vendor = "p"
"""
JOB = BASE + "[jobs.j]\nkind = 'client'\nsource = 'billing'\ntargets = ['panel']\n"
SYS = "[systems.x]\nplugin = 'memory'\nvendor = 'v'\n"
MEMORY_KEYS = ("concurrency, deadline, details, max_reply_size, origin, page_size, password, password_file, plugin, rate_limit, "
               "read_latency, reply_delay, required, settle_delay, shares_ids_with, store, strands, stubs, timeout, timezone, vendor, "
               "verify_tls, write_latency")
CLIENT_FIELDS = "email, first_name, last_name, company, phone, address1, address2, city, state, postcode, country, status"
ZONE_HINT = "(use an IANA name such as Europe/Berlin or UTC)"
DURATION_HINT = "(use e.g. 30s, 15m, 1h, 1h30m, 1d)"

# (config text, the message after "error: <file>: "). {dir} is the config's folder, which holds a
# directory "adir", a file "afile", a Latin-1 file "latin1" and an empty file "empty".
BROKEN = [
    # the file itself
    ("[hostsync\nstate = 1", "invalid TOML: Expected ']' at the end of a table declaration (at line 1, column 10)"),
    (b"[hostsync]\nstate = 'caf\xe9.db'\n", "not UTF-8 text (byte 0xe9 at offset 23)"),
    ("a = " + "[" * 3000 + "]" * 3000, "invalid TOML: nested too deeply"),
    ("[hostsyncc]\n", "hostsyncc: unknown key (known: hostsync, jobs, systems)"),
    ("hostsync = 'x'\n", "hostsync: expected a table, got a string"),
    ("jobs = [1]\n", "jobs: expected a table, got a list"),
    # [hostsync]
    ("[hostsync]\nstat = 'x.db'\n", "hostsync.stat: unknown key (known: log_level, metrics_listen, metrics_listen_public, metrics_textfile, plugins_dir, state)"),
    ("[hostsync]\nlog_level = 'verbose'\n",
     "hostsync.log_level: unknown value 'verbose' (known: debug, info, warning, error)"),
    ("[hostsync]\nlog_level = 3\n", "hostsync.log_level: expected a string, got a number"),
    ("[hostsync]\nstate = 5\n", "hostsync.state: expected a file path, got a number"),
    ("[hostsync]\nstate = ''\n", "hostsync.state: expected a file path, got ''"),
    ('[hostsync]\nstate = "a\\u0000b"\n', "hostsync.state: expected a file path, got 'a\\x00b'"),
    ("[hostsync]\nstate = 1979-05-27\n", "hostsync.state: expected a file path, got a date or time"),
    ("[hostsync]\nstate = '{dir}/adir'\n",
     "hostsync.state: {dir}/adir is a directory; give a file path such as {dir}/adir/hostsync.db"),
    ("[hostsync]\nstate = '/proc/hostsync/state.db'\n",
     "hostsync.state: cannot create /proc/hostsync/state.db: No such file or directory in /proc"),
    ("[hostsync]\nstate = '{dir}/afile/state.db'\n",
     "hostsync.state: cannot create {dir}/afile/state.db: {dir}/afile is not a directory"),
    ("[hostsync]\nplugins_dir = 'nope'\n", "hostsync.plugins_dir: directory {dir}/nope does not exist"),
    ("[hostsync]\nplugins_dir = 'afile'\n", "hostsync.plugins_dir: {dir}/afile is not a directory"),
    ("[hostsync]\nplugins_dir = 3\n", "hostsync.plugins_dir: expected a directory path, got a number"),
    # [systems.*]: the core's keys
    ("systems = 3\n", "systems: expected a table, got a number"),
    ("[systems]\nx = 3\n", "systems.x: expected a table, got a number"),
    ("[systems.billing]\nplugin = 'whmcss'\n",
     "systems.billing.plugin: unknown plugin 'whmcss' (known: memlite, memory, memro)"),
    ("[systems.billing]\nvendor = 'x'\n", "systems.billing.plugin: missing (known plugins: memlite, memory, memro)"),
    ("[systems.billing]\nplugin = ['memory']\n", "systems.billing.plugin: expected a string, got a list"),
    ("[systems.'my system']\nplugin = 'memory'\nvendor = 'v'\n",
     "systems.my system: system names may hold letters, digits, '_', '.' and '-'"),
    (SYS + "colour = 'red'\n", f"systems.x.colour: unknown key for plugin 'memory' (known: {MEMORY_KEYS})"),
    (SYS + "timeout = -5\n", "systems.x.timeout: expected a duration from 0.01s to 1h, got -5"),
    (SYS + "timeout = 'soon'\n", f"systems.x.timeout: bad duration 'soon' {DURATION_HINT}"),
    (SYS + "timeout = inf\n", "systems.x.timeout: expected a duration from 0.01s to 1h, got inf"),
    (SYS + "timeout = nan\n", "systems.x.timeout: expected a duration from 0.01s to 1h, got nan"),
    (SYS + "timeout = [30]\n", "systems.x.timeout: expected a duration such as 30s, 15m or 1h30m, got a list"),
    (SYS + "timeout = 30\ndeadline = 10\n", "systems.x.deadline: must be at least the timeout (30 s)"),
    (SYS + "deadline = '2d'\n", "systems.x.deadline: expected a duration from 0.01s to 1d, got '2d'"),
    (SYS + "max_reply_size = '12 parsecs'\n",
     "systems.x.max_reply_size: bad size '12 parsecs' (use bytes, or e.g. 512KiB, 32MiB, 1GiB)"),
    (SYS + "max_reply_size = 0\n", "systems.x.max_reply_size: expected a size from 1KiB to 16GiB, got 0"),
    (SYS + "max_reply_size = '99999999999999999999GiB'\n",
     "systems.x.max_reply_size: bad size '99999999999999999999GiB' (use bytes, or e.g. 512KiB, 32MiB, 1GiB)"),
    (SYS + "max_reply_size = 1.5\n", "systems.x.max_reply_size: expected a size such as 32MiB, got a number"),
    (SYS + "verify_tls = 'no'\n", "systems.x.verify_tls: expected true or false, got a string"),
    (SYS + "settle_delay = 'soon'\n", f"systems.x.settle_delay: bad duration 'soon' {DURATION_HINT}"),
    (SYS + "settle_delay = -1\n", "systems.x.settle_delay: expected a duration from 0s to 1d, got -1"),
    (SYS + "concurrency = 0\n", "systems.x.concurrency: expected a whole number from 1 to 64, got 0"),
    (SYS + "concurrency = 1.5\n", "systems.x.concurrency: expected a whole number from 1 to 64, got 1.5"),
    (SYS + "concurrency = '4'\n", "systems.x.concurrency: expected a whole number from 1 to 64, got a string"),
    (SYS + "concurrency = 99999999999999999999999\n",
     "systems.x.concurrency: expected a whole number from 1 to 64, got 99999999999999999999999"),
    (SYS + "rate_limit = '60 per minute'\n",
     "systems.x.rate_limit: bad rate limit '60 per minute' (use e.g. 60/min, 5/s, 1000/hour)"),
    (SYS + "rate_limit = 60\n", "systems.x.rate_limit: bad rate limit 60 (use e.g. 60/min, 5/s, 1000/hour)"),
    (SYS + "rate_limit = '0/s'\n", "systems.x.rate_limit: bad rate limit '0/s' (use e.g. 60/min, 5/s, 1000/hour)"),
    (SYS + "shares_ids_with = 'nobody'\n", "systems.x.shares_ids_with: unknown system 'nobody' (known: x)"),
    (SYS + "shares_ids_with = 'x'\n", "systems.x.shares_ids_with: expected the name of another system"),
    (SYS + "shares_ids_with = ['y']\n", "systems.x.shares_ids_with: expected a string, got a list"),
    # [systems.*]: the connector's settings
    ("[systems.x]\nplugin = 'memory'\n", "systems.x.vendor: missing required key"),
    ("[systems.x]\nplugin = 'memory'\nvendor = 3\n", "systems.x.vendor: expected a string, got a number"),
    ("[systems.x]\nplugin = 'memory'\nvendor = ['a', 'b']\n", "systems.x.vendor: expected a string, got a list"),
    (SYS + "write_latency = 'fast'\n", "systems.x.write_latency: expected a number, got a string"),
    (SYS + "stubs = 'yes'\n", "systems.x.stubs: expected true or false, got a string"),
    (SYS + "timezone = 'Mars/Olympus'\n", f"systems.x.timezone: unknown time zone 'Mars/Olympus' {ZONE_HINT}"),
    (SYS + "timezone = '../../etc/passwd'\n", f"systems.x.timezone: unknown time zone '../../etc/passwd' {ZONE_HINT}"),
    (SYS + "timezone = 2\n", "systems.x.timezone: expected a time zone name, got a number"),
    (SYS + "page_size = 0\n", "systems.x.page_size: expected a whole number from 1 to 1000, got 0"),
    (SYS + "page_size = 10000\n", "systems.x.page_size: expected a whole number from 1 to 1000, got 10000"),
    # secrets: never shown, from the environment or a file
    (SYS + "password = '${NOPE_SECRET}'\n", "systems.x.password: environment variable NOPE_SECRET is not set"),
    (SYS + "password = 12345678\n", "systems.x.password: expected a string, got a number"),
    (SYS + "password_file = '/nonexistent/pw'\n",
     "systems.x.password_file: cannot read /nonexistent/pw: No such file or directory"),
    (SYS + "password_file = 'latin1'\n", "systems.x.password_file: {dir}/latin1 is not UTF-8 text"),
    (SYS + "password_file = 'empty'\n", "systems.x.password_file: {dir}/empty is empty"),
    (SYS + "password_file = 'adir'\n", "systems.x.password_file: cannot read {dir}/adir: Is a directory"),
    (SYS + "password_file = 7\n", "systems.x.password_file: expected a file path"),
    (SYS + "password = 'a'\npassword_file = 'pw'\n", "systems.x.password: give either password or password_file, not both"),
    # [jobs.*]
    ("[jobs]\nj = 'x'\n", "jobs.j: expected a table, got a string"),
    ("[jobs.'a job']\nkind = 'client'\n", "jobs.a job: job names may hold letters, digits, '_', '.' and '-'"),
    (BASE + "[jobs.clients-to-panel]\nkind = 'client'\nsource = 'billing'\ntargets = ['panle']\n",
     "jobs.clients-to-panel.targets[0]: unknown system 'panle' (known: billing, panel)"),
    (BASE + "[jobs.j]\nkind = 'client'\nsource = 'bill'\ntargets = ['panel']\n",
     "jobs.j.source: unknown system 'bill' (known: billing, panel)"),
    (BASE + "[jobs.j]\nkind = 'client'\nsource = ['billing']\ntargets = ['panel']\n",
     "jobs.j.source: expected a string, got a list"),
    (BASE + "[jobs.j]\nkind = 'customer'\nsource = 'billing'\ntargets = ['panel']\n",
     "jobs.j.kind: unknown value 'customer' (known: client, domain, site, invoice, ticket, project, task, time_entry)"),
    (BASE + "[jobs.j]\nkind = ['client']\nsource = 'billing'\ntargets = ['panel']\n",
     "jobs.j.kind: expected a string, got a list"),
    (BASE + "[jobs.j]\nsource = 'billing'\ntargets = ['panel']\n", "jobs.j.kind: missing required key"),
    (BASE + "[jobs.j]\nkind = 'client'\nsource = 'billing'\n", "jobs.j.targets: missing required key"),
    (BASE + "[jobs.j]\nkind = 'client'\nsource = 'billing'\ntargets = 'panel'\n",
     "jobs.j.targets: expected a list, got a string"),
    (BASE + "[jobs.j]\nkind = 'client'\nsource = 'billing'\ntargets = []\n",
     "jobs.j.targets: expected a non-empty list of system names"),
    (BASE + "[jobs.j]\nkind = 'client'\nsource = 'billing'\ntargets = [['panel']]\n",
     "jobs.j.targets[0]: expected a string, got a list"),
    (BASE + "[jobs.j]\nkind = 'client'\nsource = 'billing'\ntargets = ['billing']\n",
     "jobs.j.targets[0]: 'billing' is the job's source"),
    (BASE + "[jobs.j]\nkind = 'client'\nsource = 'billing'\ntargets = ['panel', 'panel']\n",
     "jobs.j.targets[1]: 'panel' is listed twice"),
    (JOB + "every = '15 minutes'\n", f"jobs.j.every: bad duration '15 minutes' {DURATION_HINT}"),
    (JOB + "every = '99999999999d'\n", "jobs.j.every: expected a duration from 1s to 366d, got '99999999999d'"),
    (JOB + "every = '999999999999999999999999d'\n",
     f"jobs.j.every: bad duration '999999999999999999999999d' {DURATION_HINT}"),
    (JOB + "every = '0s'\n", "jobs.j.every: expected a duration from 1s to 366d, got '0s'"),
    (JOB + "every = 1e300\n", "jobs.j.every: expected a duration from 1s to 366d, got 1e+300"),
    (JOB + "every = true\n", "jobs.j.every: expected a duration such as 30s, 15m or 1h30m, got a boolean"),
    (JOB + "cron = '*/15 * * *'\n",
     "jobs.j.cron: bad cron expression '*/15 * * *': Wrong number of fields; got 4, expected 5"),
    (JOB + "cron = '61 * * * *'\n", "jobs.j.cron: bad cron expression '61 * * * *': Error validating expression "
     "'61': the last value (61) is higher than the maximum value (59)"),
    (JOB + "cron = 5\n", "jobs.j.cron: expected a crontab expression, got a number"),
    (JOB + "cron = '0 0 31 2 *'\n", "jobs.j.cron: cron expression '0 0 31 2 *' never fires"),
    (JOB + "every = '1m'\ncron = '* * * * *'\n", "jobs.j: give either every or cron, not both"),
    (JOB + "deletes = 'sync'\n", "jobs.j.deletes: unknown value 'sync' (known: ignore, mirror)"),
    (JOB + "direction = 'both'\n", "jobs.j.direction: unknown value 'both' (known: one-way, two-way)"),
    (JOB + "direction = 'two-way'\nconflicts = 'last-wins'\n",
     "jobs.j.conflicts: unknown value 'last-wins' (known: manual, source-wins, target-wins, newest-wins)"),
    (JOB + "conflicts = 'source-wins'\n", "jobs.j.conflicts: conflicts only apply to two-way jobs"),
    (BASE + "[systems.c]\nplugin = 'memory'\nvendor = 'c'\n[jobs.j]\nkind = 'client'\nsource = 'billing'\n"
     "targets = ['panel', 'c']\ndirection = 'two-way'\n", "jobs.j.targets: a two-way job has exactly one target"),
    (JOB + "match = ['mail']\n", f"jobs.j.match[0]: client has no field 'mail' (known: {CLIENT_FIELDS})"),
    (JOB + "match = 'email'\n", "jobs.j.match: expected a list, got a string"),
    (JOB + "match = [1]\n", "jobs.j.match[0]: expected a string, got a number"),
    (JOB + "schedule = 'hourly'\n", "jobs.j.schedule: unknown key (known: conflicts, cron, deletes, direction, drift, "
     "every, kind, match, max_changes, max_deletes, overlap, source, targets, transforms)"),
    (JOB + "drift = 'fix'\n", "jobs.j.drift: unknown value 'fix' (known: repair, report)"),
    (JOB + "direction = 'two-way'\ndrift = 'report'\n", "jobs.j.drift: drift applies to one-way jobs (a two-way job "
     "reads both sides: a change in either is synced, or a conflict)"),
    (JOB + "max_deletes = -1\n", "jobs.j.max_deletes: expected a whole number of at least 0, got -1"),
    (JOB + "max_changes = '5%'\n", "jobs.j.max_changes: expected a whole number of at least 0, got a string"),
    (JOB + "transforms = { company = 'shout' }\n",
     "jobs.j.transforms.company: unknown transform 'shout' (known: blank, digits, lower, title, upper)"),
    (JOB + "transforms = 'upper'\n", "jobs.j.transforms: expected a table, got a string"),
    (JOB + "transforms = { colour = 'upper' }\n", f"jobs.j.transforms.colour: no such field (known: {CLIENT_FIELDS})"),
    (JOB + "transforms = { company = 3 }\n", "jobs.j.transforms.company: expected a transform name or a list of them"),
    (JOB + "overlap = '99d'\n", "jobs.j.overlap: expected a duration from 0s to 30d, got '99d'"),
    (JOB + "overlap = 'soon'\n", f"jobs.j.overlap: bad duration 'soon' {DURATION_HINT}"),
]


def folder(tmp_path: Path) -> Path:
    """A config folder with the files the table refers to."""
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    (tmp_path / "latin1").write_bytes(b"caf\xe9\n")
    (tmp_path / "empty").write_text("")
    return tmp_path


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "hostsync.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text.replace("{dir}", str(tmp_path)))
    return path


def run(path: Path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["--config", str(path), "--plugins-dir", str(PLUGINS_DIR), *args],
                              env={**ENV, **(env or {})})


def validate(path: Path, env: dict[str, str] | None = None):
    return run(path, "config", "validate", env=env)


@pytest.mark.parametrize("text, message", BROKEN, ids=[m.split(":")[0] for _, m in BROKEN])
def test_a_broken_config_names_file_key_and_problem_in_every_command(tmp_path, text, message):
    path = write(folder(tmp_path), text)
    expected = f"error: {path}: {message.replace('{dir}', str(tmp_path))}\n"
    for args in (("config", "validate"), ("sync", "--all"), ("jobs",)):
        result = run(path, *args)
        assert (result.exit_code, result.stderr) == (2, expected), args
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert "Traceback" not in result.output
    assert not (tmp_path / "hostsync.db").exists()  # nothing ran


def test_there_are_at_least_sixty_broken_configs():
    assert len(BROKEN) >= 60
    assert len({text for text, _ in BROKEN}) == len(BROKEN)


IN_A_PROCESS = ["not UTF-8", "invalid TOML: nested", "hostsync.state: cannot create /proc",
                "systems.x.timeout: expected a duration from 0.01s to 1h, got inf", "systems.x.password_file: {dir}/latin1",
                "jobs.j.kind: expected a string", "jobs.j.every: expected a duration from 1s to 366d, got '99999999999d'"]


@pytest.mark.slow
@pytest.mark.parametrize("start", IN_A_PROCESS)
def test_broken_configs_in_a_real_process(tmp_path, start):
    """The same one line from the installed command, for validate and for the daemon's start."""
    [(text, message)] = [(text, message) for text, message in BROKEN if message.startswith(start)]
    path = write(folder(tmp_path), text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTSYNC_")} | ENV
    for args in (("config", "validate"), ("daemon",)):
        result = subprocess.run([sys.executable, "-m", "hostsync", "--config", str(path), "--plugins-dir",
                                 str(PLUGINS_DIR), *args], env=env, capture_output=True, text=True, timeout=60)
        assert (result.returncode, result.stderr) == (2, f"error: {path}: {message.replace('{dir}', str(tmp_path))}\n")
        assert result.stdout == ""


INSTALLED = [
    # the built-in plugins declare typed settings, so they get the same checks
    ("plugin = 'whmcs'\nurl = 'https://b.example'\nidentifier = 'i'\nsecret = 'sssss'\ntimezone = 'Mars/Olympus'\n",
     f"systems.x.timezone: unknown time zone 'Mars/Olympus' {ZONE_HINT}"),
    ("plugin = 'whmcs'\nurl = 'https://b.example'\nidentifier = 'i'\nsecret = 'sssss'\npage_size = 0\n",
     "systems.x.page_size: expected a whole number from 1 to 10000, got 0"),
    ("plugin = 'whmcs'\nurl = 'https://b.example'\nidentifier = 'i'\n", "systems.x.secret: identifier and secret go together"),
    ("plugin = 'whmcs'\nurl = 'https://b.example'\n",
     "systems.x: set either identifier and secret (API credentials) or username and password"),
    ("plugin = 'whmcs'\nurl = 'ftp://b.example'\nidentifier = 'i'\nsecret = 'sssss'\n",
     "systems.x.url: expected an http:// or https:// URL, got 'ftp://b.example'"),
    ("plugin = 'wbteampro'\nurl = 'https://b.example'\nusername = 'u'\npassword = 'ppppp'\ntimezone = 'Europe/Mars'\n",
     f"systems.x.timezone: unknown time zone 'Europe/Mars' {ZONE_HINT}"),
    ("plugin = 'wbteampro'\nurl = 'https://b.example'\nusername = 'u'\npassword = 'ppppp'\n"
     "project_statuses = { shipped = 'Done' }\n", "systems.x.project_statuses: shipped: not a canonical status "
     "(planned, active, on_hold, completed, cancelled)"),
    ("plugin = 'blesta'\nurl = 'https://b.example'\nuser = 'u'\nkey = 'kkkkk'\ntimezone = 'Nowhere/Special'\n",
     f"systems.x.timezone: unknown time zone 'Nowhere/Special' {ZONE_HINT}"),
    ("plugin = 'ispconfig'\nurl = 'https://p.example:8080/remote/'\nusername = 'u'\npassword = 'ppppp'\n"
     "client_defaults = { default_webserver = 'one' }\n",
     "systems.x.client_defaults.default_webserver: expected a whole number, got a string"),
]


@pytest.mark.parametrize("table, message", INSTALLED, ids=[m.split(":")[0] + str(i) for i, (_, m) in enumerate(INSTALLED)])
def test_the_installed_plugins_settings_are_checked_at_load(tmp_path, table, message):
    path = tmp_path / "hostsync.toml"
    path.write_text("[systems.x]\n" + table)
    result = CliRunner().invoke(cli, ["--config", str(path), "config", "validate"])
    assert (result.exit_code, result.stderr) == (2, f"error: {path}: {message}\n")
    assert "sssss" not in result.output and "ppppp" not in result.output and "kkkkk" not in result.output


@pytest.mark.parametrize("kind, message", [
    ("client", "jobs.j: system 'panel' (plugin memro) cannot create or update client records, which this job needs"),
    ("invoice", "jobs.j.kind: system 'panel' (plugin memro) does not handle 'invoice' (it handles: client)"),
])
def test_a_job_asking_what_a_plugin_cannot_do_is_refused(tmp_path, kind, message):
    path = tmp_path / "hostsync.toml"
    path.write_text(BASE.replace('plugin = "memory"\nvendor = "p"', 'plugin = "memro"\nvendor = "p"') +
                    f"[jobs.j]\nkind = '{kind}'\nsource = 'billing'\ntargets = ['panel']\n")
    result = validate(path)
    assert result.exit_code == 2 and result.stderr == f"error: {path}: {message}\n"


def test_no_config_anywhere_is_a_clear_usage_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["config", "validate"], env={**ENV, "HOSTSYNC_CONFIG": ""})
    if Path("/etc/hostsync/hostsync.toml").exists():
        pytest.skip("this machine has /etc/hostsync/hostsync.toml")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no configuration found (looked for ./hostsync.toml")


def test_config_is_found_through_the_environment_then_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "hostsync.toml").write_text(BASE)
    (tmp_path / "b.toml").write_text(JOB)
    monkeypatch.chdir(tmp_path / "a")
    args = ["--plugins-dir", str(PLUGINS_DIR), "config", "validate"]
    assert "hostsync.toml: valid (2 systems, 0 jobs)" in CliRunner().invoke(cli, args, env=ENV).stdout
    via_env = CliRunner().invoke(cli, args, env={**ENV, "HOSTSYNC_CONFIG": str(tmp_path / "b.toml")})
    assert "b.toml: valid (2 systems, 1 job)" in via_env.stdout


SECRETS = """
[hostsync]
state = "data/state.db"

[systems.env]
plugin = "memory"
vendor = "${VENDOR_NAME}"
password = "${API_PASSWORD}"

[systems.file]
plugin = "memory"
vendor = "costs $$5"
password_file = "panel-password"
"""


def test_secrets_resolve_from_environment_and_credential_files_and_are_never_shown(tmp_path):
    path = tmp_path / "hostsync.toml"
    path.write_text(SECRETS)
    (tmp_path / "panel-password").write_text("from-the-config-folder\n")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "panel-password").write_text("s3cret-from-systemd\n")
    env = {**ENV, "VENDOR_NAME": "acme", "API_PASSWORD": "hunter2-env"}
    args = ["--config", str(path), "--plugins-dir", str(PLUGINS_DIR), "config", "show", "--json"]

    shown = CliRunner().invoke(cli, args, env=env)
    assert shown.exit_code == 0, shown.output
    data = shown.json if hasattr(shown, "json") else __import__("json").loads(shown.stdout)
    assert data["systems"]["env"]["vendor"] == "acme"
    assert data["systems"]["env"]["password"] == "***" and data["systems"]["file"]["password"] == "***"
    assert data["systems"]["file"]["vendor"] == "costs $5"
    assert data["hostsync"]["state"] == str(tmp_path / "data" / "state.db")
    assert "hunter2-env" not in shown.output and "from-the-config-folder" not in shown.output

    from hostsync.config import load_config
    from hostsync.plugins import load_plugins

    plugins = load_plugins(PLUGINS_DIR, env=ENV)
    local = load_config(path, plugins, env=env)
    assert local.systems["file"].options["password"] == "from-the-config-folder"
    under_systemd = load_config(path, plugins, env={**env, "CREDENTIALS_DIRECTORY": str(creds)})
    assert under_systemd.systems["file"].options["password"] == "s3cret-from-systemd"
    assert under_systemd.secret_values == {"hunter2-env", "s3cret-from-systemd"}

    toml = CliRunner().invoke(cli, args[:-1], env=env).stdout
    assert 'password = "***"' in toml and "hunter2" not in toml


def test_defaults_are_filled_in(tmp_path):
    path = tmp_path / "hostsync.toml"
    path.write_text(JOB + "every = '90m'\n")
    plugins_args = ["--config", str(path), "--plugins-dir", str(PLUGINS_DIR)]
    data = __import__("json").loads(CliRunner().invoke(cli, [*plugins_args, "config", "show", "--json"], env=ENV).stdout)
    assert data["jobs"]["j"] == {"kind": "client", "source": "billing", "targets": ["panel"], "every": "1h30m",
                                 "match": ["email"], "deletes": "ignore", "direction": "one-way", "drift": "repair",
                                 "overlap": "5m"}
    assert data["systems"]["billing"]["concurrency"] == 4


def test_a_relative_state_path_lives_in_systemds_state_directory(tmp_path):
    from hostsync.config import load_config
    from hostsync.plugins import load_plugins

    path = tmp_path / "etc" / "hostsync.toml"
    path.parent.mkdir()
    path.write_text("[hostsync]\nstate = 'hostsync.db'\n" + BASE)
    plugins = load_plugins(PLUGINS_DIR, env=ENV)
    assert load_config(path, plugins, env=ENV).state_path == tmp_path / "etc" / "hostsync.db"
    under_systemd = load_config(path, plugins, env={**ENV, "STATE_DIRECTORY": "/var/lib/hostsync"})
    assert under_systemd.state_path == Path("/var/lib/hostsync/hostsync.db")
