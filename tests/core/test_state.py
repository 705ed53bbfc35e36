"""The state store: migrations are idempotent, the file is private, WAL is on, links read both ways."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import threading
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest

from hostsync import __version__
from hostsync import state as state_module
from hostsync.state import Link, State, migrations

from .test_engine_one_way import client


def test_migrations_applied_twice_change_nothing(tmp_path):
    path = tmp_path / "state.db"
    with State.open(path) as state:
        first = state.applied_migrations()
        schema = state.db.schema
    with State.open(path) as state:
        assert state.applied_migrations() == first == [m.name for m in migrations._migrations]
        assert state.db.schema == schema
        assert not migrations.pending(state.db)


def test_the_file_is_private_and_in_wal_mode_with_a_busy_timeout(tmp_path):
    path = tmp_path / "sub" / "state.db"
    with State.open(path) as state:
        state.start_run("job")
        assert state.db.journal_mode == "wal"
        assert state.db.execute("PRAGMA busy_timeout").fetchone()[0] == 15000
        for file in tmp_path.joinpath("sub").rglob("*"):
            assert stat.S_IMODE(file.stat().st_mode) == (0o700 if file.is_dir() else 0o600), file.name


def test_links_read_the_same_from_either_side(tmp_path):
    with State.open(tmp_path / "s.db") as state:
        state.save_links([Link("client", "panel", "p7", "billing", "b3", "h1", '{"email": "a@x"}', "v-panel", "v-bill", "j")])
        from_billing = state.link("client", "billing", "b3", "panel")
        from_panel = state.link("client", "panel", "p7", "billing")
        assert (from_billing.id, from_billing.peer_id, from_billing.version, from_billing.peer_version) == \
            ("b3", "p7", "v-bill", "v-panel")
        assert (from_panel.id, from_panel.peer_id, from_panel.version) == ("p7", "b3", "v-panel")
        assert from_billing.values() == {"email": "a@x"}
        assert state.link("client", "billing", "p7", "panel") is None
        state.delete_link(from_billing)
        assert state.link("client", "panel", "p7", "billing") is None


def test_a_run_left_running_by_a_dead_process_is_marked_interrupted(tmp_path):
    with State.open(tmp_path / "s.db") as state:
        run_id = state.start_run("job")
        state.db["runs"].update(run_id, {"pid": 2 ** 22 + 12345})  # no such process
        state.mark_interrupted_runs()
        assert state.runs("job")[0]["status"] == "interrupted"


def test_plan_state_is_read_only_or_in_memory(tmp_path):
    path = tmp_path / "s.db"
    with State.open_for_plan(path) as state:
        assert state.path is None and state.applied_migrations()
    assert not path.exists()
    State.open(path).close()
    with State.open_for_plan(path) as state:
        try:
            state.start_run("job")
        except Exception as exc:
            assert "readonly" in str(exc)
        else:
            raise AssertionError("a plan's state must not accept writes")


# --- opening: migrations once, under the lock; files that cannot be used are refused -------------

def test_many_openers_of_a_fresh_state_migrate_it_exactly_once(tmp_path):
    """Two jobs starting at once on a fresh state used to race in the migration (database is locked)."""
    path = tmp_path / "fresh.db"
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def open_it() -> None:
        try:
            start.wait()
            State.open(path).close()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with State.open_readonly(path) as state:
        rows = state.db.execute("SELECT name FROM _sqlite_migrations").fetchall()
    assert [r[0] for r in rows] == [m.name for m in migrations._migrations]


def broken_state(kind: str, path: Path) -> str:
    """Make ``path`` a state file of the given kind; return the message hostsync gives for it."""
    if kind == "garbage":
        path.write_bytes(bytes(range(256)) * 40)
        return (f"{path} is not a usable state file (file is not a database): restore it from a backup, or move it "
                "aside to start afresh (the next run then adopts existing records by their match fields)")
    if kind == "truncated":
        State.open(path).close()
        data = path.read_bytes()
        path.write_bytes(data[:100] + b"\0" * 50 + data[150:len(data) // 2])
        return (f"{path} is not a usable state file (database disk image is malformed): restore it from a backup, "
                "or move it aside to start afresh (the next run then adopts existing records by their match fields)")
    if kind == "foreign":
        with closing(sqlite3.connect(path)) as conn, conn:
            conn.execute("CREATE TABLE users (id INTEGER, name TEXT)")
            conn.execute("CREATE TABLE orders (id INTEGER)")
        return (f"{path} is an SQLite database but not a hostsync state file (it holds orders, users): point "
                "[hostsync] state at another file")
    State.open(path).close()  # "newer": a migration this hostsync does not know
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                     "VALUES ('hostsync', 'm999_from_the_future', '2030-01-01')")
    known = len(migrations._migrations)
    return (f"{path} has state schema version {known + 1} (m999_from_the_future unknown here), written by a newer "
            f"hostsync; this is hostsync {__version__}, which reads schema version {known}: upgrade hostsync, or "
            "restore a backup made before the upgrade")


def clients_job(project, memory, clients: int = 0) -> None:
    """billing -> panel clients with ``clients`` of them in billing, synced once when there are any."""
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memory", vendor="panel")
    project.job("clients", kind="client", source="billing", targets=["panel"])
    project.write()
    for n in range(1, clients + 1):
        memory.vendor("billing").put("client", client(n))
    if clients:
        assert project.cli("sync", "clients").exit_code == 0


@pytest.mark.parametrize("kind", ["garbage", "truncated", "foreign", "newer"])
def test_a_state_file_that_cannot_be_used_is_refused_in_one_line_by_every_command(project, memory, kind):
    clients_job(project, memory)
    message = broken_state(kind, project.state_path)
    before = project.state_path.read_bytes()
    for args in (["sync", "clients"], ["plan", "clients"], ["check"], ["runs"], ["links"], ["conflicts"], ["jobs"],
                 ["state", "check"], ["state", "backup", str(project.path / "copy.db")]):
        result = project.cli(*args, write=False)
        assert (result.exit_code, result.stderr, result.stdout) == (2, f"error: {message}\n", ""), args
    assert project.state_path.read_bytes() == before  # left as it was, for the operator to rescue
    assert not (project.path / "copy.db").exists()
    assert memory.vendor("panel").write_count() == 0


def test_state_check_reports_integrity_schema_and_counts(project, memory):
    clients_job(project, memory)
    assert project.cli("state", "check").exit_code == 1  # nothing to check yet
    clients_job(project, memory, clients=3)
    result = project.cli("state", "check")
    assert result.exit_code == 0
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines())
    assert lines["integrity"].strip() == "ok" and lines["links"].strip() == "3"
    assert lines["schema"].strip() == f"version {len(migrations._migrations)}"
    report = project.cli("state", "check", "--json").json()
    assert report == {**report, "integrity": "ok", "links": 3, "intents": 0, "conflicts": 0, "holds": 0,
                      "schema_version": len(migrations._migrations), "runs": 1}


def test_state_check_finds_damage_the_file_still_opens_with(project, memory):
    clients_job(project, memory, clients=29)
    with closing(sqlite3.connect(project.state_path)) as conn, conn:  # an index no longer matching its table
        conn.execute("PRAGMA writable_schema = ON")
        changed = conn.execute("""UPDATE sqlite_master SET sql = replace(sql, '"kind", "b_system"', '"kind", "a_system"')
                                  WHERE type = 'index' AND sql LIKE '%"kind", "b_system"%'""").rowcount
    assert changed == 1
    result = project.cli("state", "check")
    assert result.exit_code == 1
    assert "integrity:  DAMAGED: " in result.stdout
    assert result.stderr == "the state file is damaged: restore it from a backup (see `hostsync state backup`)\n"


def test_state_backup_is_a_private_complete_copy_and_never_overwrites(project, memory):
    clients_job(project, memory, clients=5)
    target = project.path / "backups" / "hostsync-copy.db"
    target.parent.mkdir()
    result = project.cli("state", "backup", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"backed up {project.state_path} to {target} (")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["hostsync-copy.db"]  # no partial left behind
    with State.open_readonly(target) as copy, project.state() as original:
        assert copy.list_links() == original.list_links() and len(copy.list_links()) == 5
        assert copy.check()["integrity"] == "ok"
    again = project.cli("state", "backup", str(target))
    assert again.exit_code == 2 and "exists; give the name of a new file" in again.stderr


# --- a full disk: one line, exit 1, nothing half-written, and the next run completes --------------

@contextmanager
def small_filesystem(tmp_path: Path, project) -> Iterator[Callable[[], None]]:
    """The state on its own tmpfs (room for SQLite's WAL, which grows to 4 MiB before it is reused), filled
    up to 48 KiB; yields the functions that fill and free it."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        project.settings["state"] = str(mount / "hostsync.db")
        filler = mount / "filler"

        def fill() -> None:
            with open(filler, "wb", buffering=0) as out:
                try:
                    while True:
                        out.write(b"\0" * 4096)
                except OSError:
                    pass
            os.truncate(filler, filler.stat().st_size - 48 * 1024)  # leave 48 KiB

        yield fill, filler.unlink
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@contextmanager
def page_limit(tmp_path: Path, project, monkeypatch) -> Iterator[tuple[Callable[[], None], Callable[[], None]]]:
    """The state may grow by only a few pages (SQLite's max_page_count): a full disk without root."""
    limit = {"on": False}
    connect = state_module._connect

    def limited(path: Path, read_only: bool = False):
        db = connect(path, read_only)
        if limit["on"] and not read_only:
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            db.execute(f"PRAGMA max_page_count = {pages + 12}")
        return db

    monkeypatch.setattr(state_module, "_connect", limited)
    yield (lambda: limit.update(on=True)), (lambda: limit.update(on=False))


@pytest.mark.parametrize("full_disk", [small_filesystem, page_limit])
def test_a_full_disk_stops_with_one_line_and_the_next_run_completes_without_duplicates(
        tmp_path, project, memory, monkeypatch, full_disk):
    maker = full_disk(tmp_path, project, monkeypatch) if full_disk is page_limit else full_disk(tmp_path, project)
    with maker as (fill, free):
        project.system("billing", plugin="memory", vendor="billing")
        # settle_delay 0: this vendor lives in this process, so a create whose link the full disk kept
        # from being stored has landed already; the next run looks it up at once instead of waiting
        project.system("panel", plugin="memory", vendor="panel", settle_delay=0)
        project.job("clients", kind="client", source="billing", targets=["panel"])
        project.job("invoices", kind="invoice", source="billing", targets=["panel"])
        billing, panel = memory.vendor("billing"), memory.vendor("panel")
        for n in range(1, 11):
            billing.put("client", client(n))
        assert project.cli("sync", "--all").exit_code == 0
        for n in range(11, 400):
            billing.put("client", client(n, company=f"Company with a long name {n}" * 3))
        fill()
        result = project.cli("sync", "--all")
        assert (result.exit_code, result.stdout) == (1, "")
        assert result.stderr == (f"error: cannot write the state file {project.state_path}: the disk is full; what "
                                 "failed was not written and the next run carries on from there: free some space "
                                 "and run again\n")
        assert 10 <= len(panel.records("client")) < 399  # it stopped part-way
        free()
        check = project.cli("state", "check", "--json")
        assert check.exit_code == 0 and check.json()["integrity"] == "ok"
        again = project.cli("sync", "--all")
        assert again.exit_code == 0, again.output
        emails = [r["fields"]["email"] for r in panel.records("client").values()]
        assert len(emails) == len(set(emails)) == 399
        report = project.cli("state", "check", "--json").json()
        assert (report["links"], report["intents"]) == (399, 0)
