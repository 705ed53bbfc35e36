"""Configuration: every broken config names the file, the key path and the problem (exit code 2);
valid ones resolve environment variables and credential files and never show secrets."""

from __future__ import annotations

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

BROKEN = [
    ("[hostsync\nstate = 1", "invalid TOML: Expected ']' at the end of a table declaration (at line 1, column 10)"),
    ("[hostsyncc]\n", "hostsyncc: unknown key (known: hostsync, jobs, systems)"),
    ("[hostsync]\nstat = 'x.db'\n", "hostsync.stat: unknown key (known: log_level, plugins_dir, state)"),
    ("[hostsync]\nlog_level = 'verbose'\n",
     "hostsync.log_level: unknown level 'verbose' (known: debug, info, warning, error)"),
    ("systems = 3\n", "systems: expected a table, got a number"),
    ("[systems.billing]\nplugin = 'whmcss'\n",
     "systems.billing.plugin: unknown plugin 'whmcss' (known: memlite, memory, memro)"),
    ("[systems.billing]\nvendor = 'x'\n", "systems.billing.plugin: missing (known plugins: memlite, memory, memro)"),
    ("[systems.'my system']\nplugin = 'memory'\nvendor = 'v'\n",
     "systems.my system: system names may hold letters, digits, '_', '.' and '-'"),
    ("[systems.x]\nplugin = 'memory'\nvendor = 'v'\ncolour = 'red'\n",
     "systems.x.colour: unknown key for plugin 'memory' (known: concurrency, deadline, max_reply_size, "
     "origin, password, password_file, plugin, rate_limit, read_latency, reply_delay, settle_delay, shares_ids_with, store, "
     "stubs, timeout, vendor, verify_tls, write_latency)"),
    ("[systems.x]\nplugin = 'memory'\nvendor = 'v'\ntimeout = -5\n",
     "systems.x.timeout: expected seconds from 0.01 to 3600, got -5"),
    ("[systems.x]\nplugin = 'memory'\nvendor = 'v'\ntimeout = 30\ndeadline = 10\n",
     "systems.x.deadline: must be at least the timeout (30 s)"),
    ("[systems.x]\nplugin = 'memory'\nvendor = 'v'\nmax_reply_size = '12 parsecs'\n",
     "systems.x.max_reply_size: bad size '12 parsecs' (use bytes, or e.g. 512KiB, 32MiB, 1GiB)"),
    ("[systems.x]\nplugin = 'memory'\nvendor = 'v'\nverify_tls = 'no'\n",
     "systems.x.verify_tls: expected true or false, got a string"),
    ("[systems.x]\nplugin = 'memory'\nvendor = 'v'\nsettle_delay = 'soon'\n",
     "systems.x.settle_delay: bad duration 'soon' (use e.g. 30s, 15m, 1h, 1h30m, 1d)"),
    ("[systems.x]\nplugin = 'memory'\n", "systems.x.vendor: missing required key"),
    ("[systems.x]\nplugin = 'memory'\nvendor = 3\n", "systems.x.vendor: expected a string, got a number"),
    ("[systems.x]\nplugin = 'memory'\nvendor = 'v'\nwrite_latency = 'fast'\n",
     "systems.x.write_latency: expected a number, got a string"),
    ("[systems.x]\nplugin = 'memory'\nvendor = 'v'\nstubs = 'yes'\n", "systems.x.stubs: expected true or false, got a string"),
    ("[systems.x]\nplugin = 'memory'\nvendor = 'v'\npassword = '${NOPE_SECRET}'\n",
     "systems.x.password: environment variable NOPE_SECRET is not set"),
    ("[systems.x]\nplugin = 'memory'\nvendor = 'v'\npassword_file = '/nonexistent/pw'\n",
     "systems.x.password_file: cannot read /nonexistent/pw: No such file or directory"),
    ("[systems.x]\nplugin = 'memory'\nvendor = 'v'\npassword = 'a'\npassword_file = 'pw'\n",
     "systems.x.password: give either password or password_file, not both"),
    ("[systems.x]\nplugin = 'memory'\nvendor = 'v'\nconcurrency = 0\n",
     "systems.x.concurrency: expected a whole number from 1 to 64, got 0"),
    ("[systems.x]\nplugin = 'memory'\nvendor = 'v'\nrate_limit = '60 per minute'\n",
     "systems.x.rate_limit: bad rate limit '60 per minute' (use e.g. 60/min, 5/s, 1000/hour)"),
    ("[systems.x]\nplugin = 'memory'\nvendor = 'v'\nshares_ids_with = 'nobody'\n",
     "systems.x.shares_ids_with: unknown system 'nobody' (known: x)"),
    (BASE + "[jobs.clients-to-panel]\nkind = 'client'\nsource = 'billing'\ntargets = ['panle']\n",
     "jobs.clients-to-panel.targets[0]: unknown system 'panle' (known: billing, panel)"),
    (BASE + "[jobs.j]\nkind = 'client'\nsource = 'bill'\ntargets = ['panel']\n",
     "jobs.j.source: unknown system 'bill' (known: billing, panel)"),
    (BASE + "[jobs.j]\nkind = 'customer'\nsource = 'billing'\ntargets = ['panel']\n",
     "jobs.j.kind: unknown kind 'customer' (known: client, domain, site, invoice, ticket, project, task, time_entry)"),
    (BASE + "[jobs.j]\nkind = 'client'\nsource = 'billing'\n", "jobs.j.targets: missing required key"),
    (BASE + "[jobs.j]\nkind = 'client'\nsource = 'billing'\ntargets = 'panel'\n",
     "jobs.j.targets: expected a non-empty list of system names"),
    (BASE + "[jobs.j]\nkind = 'client'\nsource = 'billing'\ntargets = ['billing']\n",
     "jobs.j.targets[0]: 'billing' is the job's source"),
    (JOB + "every = '15 minutes'\n", "jobs.j.every: bad duration '15 minutes' (use e.g. 30s, 15m, 1h, 1h30m, 1d)"),
    (JOB + "cron = '*/15 * * *'\n",
     "jobs.j.cron: bad cron expression '*/15 * * *': Wrong number of fields; got 4, expected 5"),
    (JOB + "every = '1m'\ncron = '* * * * *'\n", "jobs.j: give either every or cron, not both"),
    (JOB + "deletes = 'sync'\n", "jobs.j.deletes: unknown value 'sync' (known: ignore, mirror)"),
    (JOB + "direction = 'both'\n", "jobs.j.direction: unknown value 'both' (known: one-way, two-way)"),
    (JOB + "direction = 'two-way'\nconflicts = 'last-wins'\n",
     "jobs.j.conflicts: unknown value 'last-wins' (known: manual, source-wins, target-wins, newest-wins)"),
    (JOB + "conflicts = 'source-wins'\n", "jobs.j.conflicts: conflicts only apply to two-way jobs"),
    (JOB + "match = ['mail']\n",
     "jobs.j.match[0]: client has no field 'mail' (known: email, first_name, last_name, company, phone, address1, "
     "address2, city, state, postcode, country, status)"),
    (JOB + "schedule = 'hourly'\n",
     "jobs.j.schedule: unknown key (known: conflicts, cron, deletes, direction, every, kind, match, overlap, source, "
     "targets, transforms)"),
    (JOB + "transforms = { company = 'shout' }\n",
     "jobs.j.transforms.company: unknown transform 'shout' (known: blank, digits, lower, title, upper)"),
    (BASE + "[systems.c]\nplugin = 'memory'\nvendor = 'c'\n[jobs.j]\nkind = 'client'\nsource = 'billing'\n"
     "targets = ['panel', 'c']\ndirection = 'two-way'\n", "jobs.j.targets: a two-way job has exactly one target"),
]


def validate(path: Path, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["--config", str(path), "--plugins-dir", str(PLUGINS_DIR), "config", "validate"],
                              env={**ENV, **(env or {})})


@pytest.mark.parametrize("text, message", BROKEN, ids=[m.split(":")[0] for _, m in BROKEN])
def test_a_broken_config_names_file_key_and_problem(tmp_path, text, message):
    path = tmp_path / "hostsync.toml"
    path.write_text(text)
    result = validate(path)
    assert result.exit_code == 2
    assert result.stderr == f"error: {path}: {message}\n"
    assert "Traceback" not in result.output


def test_there_are_at_least_twenty_broken_configs():
    assert len(BROKEN) >= 20


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
    assert "b.toml: valid (2 systems, 1 jobs)" in via_env.stdout


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
                                 "match": ["email"], "deletes": "ignore", "direction": "one-way", "overlap": "5m"}
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
