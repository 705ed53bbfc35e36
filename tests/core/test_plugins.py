"""Plugin loading through the public surface: entry points (built-in and external), a plugins
directory, the allow-list, and clear errors for misspelt hooks, failed imports and invalid plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ..conftest import PLUGINS_DIR

BUILT_IN = {"whmcs", "wbteampro", "ispconfig", "blesta"}
KNOWN_HOOKS = ("hostsync_event, hostsync_register_commands, hostsync_register_connectors, "
               "hostsync_register_sandboxes, hostsync_register_transforms")


def hostsync(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real command line in a fresh interpreter (entry points are read at start-up)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTSYNC_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "hostsync", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=60)


def external_plugin(root: Path, name: str, source: str, version: str = "1.2.3", module: str | None = None) -> dict:
    """Install a plugin the way pip would: a module plus a .dist-info with its entry point."""
    module = module or f"{name}_plugin"
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[hostsync]\n{name} = {module}\n")
    return {"PYTHONPATH": str(root)}


ACME = """
from hostsync import Connector, Operations, Setting, hookimpl
import click

class Acme(Connector):
    name = "acme"
    description = "Acme billing"
    kinds = {"client": Operations.of("list", "get", "find", "create", "update"),
             "invoice": Operations.of("list", "get", "since")}
    settings = (Setting("url", "url", required=True), Setting("token", secret=True, required=True))

    def check(self): ...
    def list(self, kind, since=None): ...
    def get(self, kind, id): ...
    def find(self, kind, key): ...
    def create(self, kind, record): ...
    def update(self, kind, id, record): ...

@hookimpl
def hostsync_register_connectors(register):
    register(Acme)

@hookimpl
def hostsync_register_commands(cli):
    @cli.command("acme-hello")
    def hello():
        "Say hello from the acme plugin."
        click.echo("hello from acme")
"""


def test_built_in_plugins_load_from_the_entry_point_group():
    result = hostsync("plugins", "--json")
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert BUILT_IN <= set(plugins)
    for name in BUILT_IN:
        assert plugins[name]["module"] == f"hostsync_{name}"
        assert plugins[name]["source"] == "entry point" and plugins[name]["version"] == "0.1.0"
    assert plugins["transforms"]["source"] == "core"


def test_an_external_plugin_registers_exactly_like_a_built_in_one(tmp_path):
    env = external_plugin(tmp_path, "acme", ACME)
    result = hostsync("plugins", "--json", env=env)
    assert result.returncode == 0, result.stderr
    [acme] = [p for p in json.loads(result.stdout) if p["name"] == "acme"]
    assert acme["version"] == "1.2.3" and acme["module"] == "acme_plugin"
    assert acme["hooks"] == ["hostsync_register_commands", "hostsync_register_connectors"]
    [connector] = acme["connectors"]
    assert connector["kinds"] == {"client": ["list", "get", "find", "create", "update"], "invoice": ["list", "get", "since"]}
    assert {"name": "token", "type": "str", "required": True, "secret": True} in connector["settings"]
    text = hostsync("plugins", env=env).stdout
    assert "connector acme: Acme billing" in text and "client      list get find create update" in text
    assert hostsync("acme-hello", env=env).stdout == "hello from acme\n"


def test_the_allow_list_restricts_installed_plugins(tmp_path):
    env = external_plugin(tmp_path, "acme", ACME)
    result = hostsync("plugins", "--json", env={**env, "HOSTSYNC_LOAD_PLUGINS": "acme, whmcs"})
    assert sorted(p["name"] for p in json.loads(result.stdout)) == ["acme", "metrics", "transforms", "whmcs"]
    none = hostsync("plugins", "--json", env={"HOSTSYNC_LOAD_PLUGINS": ""})
    assert [p["name"] for p in json.loads(none.stdout)] == ["transforms", "metrics"]
    wrong = hostsync("plugins", env={"HOSTSYNC_LOAD_PLUGINS": "whmc"})
    assert wrong.returncode == 2
    assert wrong.stderr.startswith("error: HOSTSYNC_LOAD_PLUGINS names whmc, which is not installed (installed: ")


def test_plugins_load_from_a_plugins_directory(tmp_path):
    result = hostsync("--plugins-dir", str(PLUGINS_DIR), "plugins", "--json", env={"HOSTSYNC_LOAD_PLUGINS": ""})
    [memory] = [p for p in json.loads(result.stdout) if p["name"] == "memory"]
    assert memory["source"] == "plugins directory" and memory["module"] == str(PLUGINS_DIR / "memory.py")
    assert [c["name"] for c in memory["connectors"]] == ["memory", "memlite", "memro"]


def test_plugins_fields_shows_carried_read_only_fields_and_origin_markers():
    result = hostsync("--plugins-dir", str(PLUGINS_DIR), "plugins", "--fields", "--json",
                      env={"HOSTSYNC_LOAD_PLUGINS": "whmcs"})
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    [whmcs] = plugins["whmcs"]["connectors"]
    assert whmcs["fields"]["invoice"]["read_only"] == ["number", "currency"]
    assert whmcs["fields"]["ticket"]["carried"] == ["subject", "client", "status", "priority", "department",
                                                    "messages.author", "messages.body", "messages.created_at",
                                                    "created_at"]
    memlite = next(c for c in plugins["memory"]["connectors"] if c["name"] == "memlite")
    assert "phone" not in memlite["fields"]["client"]["carried"] and memlite["fields"]["client"]["origin"] is False
    memory = next(c for c in plugins["memory"]["connectors"] if c["name"] == "memory")
    assert memory["fields"]["client"]["origin"] is True
    text = hostsync("--plugins-dir", str(PLUGINS_DIR), "plugins", "--fields",
                    env={"HOSTSYNC_LOAD_PLUGINS": "whmcs"}).stdout
    assert "      read-only: number, currency\n" in text and "keeps an origin marker" in text
    assert "carries:" not in hostsync("plugins", env={"HOSTSYNC_LOAD_PLUGINS": "whmcs"}).stdout


def plugin_dir(tmp_path: Path, name: str, source: str) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    return folder


def test_a_misspelt_hook_stops_start_up_naming_plugin_and_hook(tmp_path):
    folder = plugin_dir(tmp_path, "typo", """
        from hostsync import hookimpl

        @hookimpl
        def hostsync_register_conectors(register):
            pass
    """)
    result = hostsync("--plugins-dir", str(folder), "plugins")
    assert result.returncode == 2
    assert result.stderr == (f"error: plugin 'typo' implements unknown hook 'hostsync_register_conectors' "
                             f"(known hooks: {KNOWN_HOOKS})\n")


def test_a_hook_with_a_wrong_argument_is_named(tmp_path):
    folder = plugin_dir(tmp_path, "badargs", """
        from hostsync import hookimpl

        @hookimpl
        def hostsync_register_connectors(reg):
            pass
    """)
    result = hostsync("--plugins-dir", str(folder), "plugins")
    assert result.returncode == 2
    assert result.stderr.startswith("error: plugin 'badargs': Plugin 'badargs' for hook 'hostsync_register_connectors'")
    assert "reg" in result.stderr and "Traceback" not in result.stderr


def test_a_plugin_file_that_fails_to_import_is_named_without_a_traceback(tmp_path):
    folder = plugin_dir(tmp_path, "broken", "import not_a_module_anywhere\n")
    result = hostsync("--plugins-dir", str(folder), "plugins")
    assert result.returncode == 2
    assert result.stderr == (f"error: plugin file {folder / 'broken.py'} failed to import: "
                             "ModuleNotFoundError: No module named 'not_a_module_anywhere'\n")


def test_an_installed_plugin_that_fails_to_import_is_named(tmp_path):
    env = external_plugin(tmp_path, "bad", "raise RuntimeError('missing licence file')\n")
    result = hostsync("plugins", env=env)
    assert result.returncode == 2
    assert result.stderr == ("error: plugin 'bad' (entry point 'bad_plugin') failed to import: "
                             "RuntimeError: missing licence file\n")


@pytest.mark.parametrize("body, message", [
    ('kinds = {"customer": Operations.of("list")}',
     "plugin 'invalid', connector 'x': unknown kind 'customer' (known: client, domain, site, invoice, ticket, project, "
     "task, time_entry)"),
    ('kinds = {"client": Operations.of("list", "upsert")}',
     "plugin 'invalid', connector 'x': kinds['client'] has unknown operation(s) upsert (known: list, get, find, "
     "create, update, delete, since)"),
    ('kinds = {"client": Operations.of("list", fields={"mail"})}',
     "plugin 'invalid', connector 'x': kinds['client'] names unknown field(s) mail"),
    ('settings = (Setting("plugin"),)', "plugin 'invalid', connector 'x': setting 'plugin' is a core key of [systems.*]"),
    ('settings = (Setting("url", "uri"),)',
     "plugin 'invalid', connector 'x': setting 'url' has unknown type 'uri' (known: str, url, int, float, bool, list, "
     "table, duration, size, rate, timezone, cron, path, file, directory)"),
    ('settings = (Setting("ids", "list", items="integer"),)',
     "plugin 'invalid', connector 'x': setting 'ids' has unknown type 'integer' (known: str, url, int, float, bool, "
     "list, table, duration, size, rate, timezone, cron, path, file, directory)"),
    ('settings = (Setting("n", "int", min=5, max=1),)',
     "plugin 'invalid', connector 'x': setting 'n' has min 5 above max 1"),
    ('kinds = {"client": Operations.of("list", "get", "create")}\n            def list(self, kind, since=None): ...',
     "plugin 'invalid', connector 'x': kinds['client'] declares list, get, create but the connector does not "
     "implement create(), get()"),
    ('kinds = {"client": Operations.of("list", "get", origin=True)}\n            def get(self, kind, id): ...',
     "plugin 'invalid', connector 'x': kinds['client'] keeps an origin marker but cannot find by it (declare 'find')"),
    ('kinds = {"client": Operations.of("list", cost=Cost(page=0))}',
     "plugin 'invalid', connector 'x': kinds['client'] cost: page must be a whole number of at least 1, or None "
     "(not known)"),
    ('kinds = {"client": Operations.of("list", cost=Cost(details=None))}',
     "plugin 'invalid', connector 'x': kinds['client'] cost: details must be a whole number of at least 0"),
    ('kinds = {"client": Operations.of("list", strands=("time_entry",))}',
     "plugin 'invalid', connector 'x': kinds['client'] strands time_entry, which do not refer to a client (kinds that "
     "do: domain, invoice, project, site, ticket)"),
])
def test_a_connector_declaring_something_invalid_stops_start_up(tmp_path, body, message):
    folder = plugin_dir(tmp_path, "invalid", f"""
        from hostsync import Connector, Cost, Operations, Setting, hookimpl

        class X(Connector):
            name = "x"
            {body}
            def check(self): ...
            def list(self, kind, since=None): ...

        @hookimpl
        def hostsync_register_connectors(register):
            register(X)
    """)
    result = hostsync("--plugins-dir", str(folder), "plugins", env={"HOSTSYNC_LOAD_PLUGINS": ""})
    assert result.returncode == 2
    assert result.stderr == f"error: {message}\n"


def test_two_plugins_registering_one_connector_name_are_both_named(tmp_path):
    source = """
        from hostsync import Connector, Operations, hookimpl

        class Memory(Connector):
            name = "memory"
            kinds = {"client": Operations.of("list")}
            def check(self): ...
            def list(self, kind, since=None): ...

        @hookimpl
        def hostsync_register_connectors(register):
            register(Memory)
    """
    folder = plugin_dir(tmp_path, "clash", source)
    (folder / "memory.py").write_text((PLUGINS_DIR / "memory.py").read_text())
    result = hostsync("--plugins-dir", str(folder), "plugins", env={"HOSTSYNC_LOAD_PLUGINS": ""})
    assert result.returncode == 2
    assert "registers connector 'memory', already registered by plugin" in result.stderr
    assert "'clash'" in result.stderr and "'memory'" in result.stderr


def test_tracing_prints_every_hook_call(tmp_path):
    result = hostsync("plugins", env={"HOSTSYNC_TRACE_PLUGINS": "1", "HOSTSYNC_LOAD_PLUGINS": "whmcs"})
    assert "hostsync trace: hostsync_register_transforms -> transforms" in result.stderr


def test_event_observers_see_runs_and_records_and_one_failing_observer_does_not_stop_others(project, memory, tmp_path):
    folder = tmp_path / "observers"
    folder.mkdir()
    (folder / "memory.py").write_text((PLUGINS_DIR / "memory.py").read_text())
    (folder / "a_broken_observer.py").write_text(textwrap.dedent("""
        from hostsync import hookimpl

        @hookimpl
        def hostsync_event(event):
            raise ValueError("observer bug")
    """))
    (folder / "b_recorder.py").write_text(textwrap.dedent("""
        from hostsync import hookimpl
        SEEN = []

        @hookimpl
        def hostsync_event(event):
            SEEN.append((event.type, event.record_id))
    """))
    project.settings["plugins_dir"] = str(folder)
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memory", vendor="panel")
    project.job("clients", kind="client", source="billing", targets=["panel"])
    from hostsync.plugins import _import_file

    billing = _import_file(folder / "memory.py").vendor("billing")
    billing.put("client", {"email": "a@example.org", "status": "active"})
    result = project.cli("sync", "clients")
    assert result.exit_code == 0, result.output
    seen = _import_file(folder / "b_recorder.py").SEEN
    assert seen == [("run.started", None), ("record.created", "1"), ("run.finished", None)]
    assert "event observer in plugin 'a_broken_observer' failed on run.started: ValueError: observer bug" in result.stderr
