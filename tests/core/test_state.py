"""The state store: migrations are idempotent, the file is private, WAL is on, links read both ways."""

from __future__ import annotations

import stat

from hostsync.state import Link, State, migrations


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
        for file in tmp_path.joinpath("sub").iterdir():
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name


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
