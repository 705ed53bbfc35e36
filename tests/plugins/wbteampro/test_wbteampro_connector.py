"""The wbTeamPro connector against the sandbox: projects, tasks, time entries and ticket links."""

from __future__ import annotations

import threading

import pytest

from hostsync.engine.calls import Caller, Gate, SystemHeld
from hostsync.errors import AuthError, ConfigError, NotFound, Rejected
from hostsync.model import Record, normalise, project
from hostsync_wbteampro.connector import TeamProConnector


def writes(sandbox) -> list[str]:
    return [e["operation"] for e in sandbox.log if not e["operation"].startswith(("find", "get"))]


def same(a: Record, b: Record) -> bool:
    return project(normalise(a)) == project(normalise(b))


PROJECT = normalise(Record("project", None, {"name": "Onboarding Núñez", "status": "planned", "start_on": "2025-04-01",
                                             "due_on": "2025-05-15", "description": "Move 40 sites.\nThen DNS."},
                           {"client": "2"}))


@pytest.mark.parametrize("settings, key", [
    ({"timezone": "Atlantis/Capital"}, "timezone"),
    ({"project_statuses": {"finished": "Done"}}, "project_statuses"),
])
def test_settings_are_validated(options, settings, key):
    with pytest.raises(ConfigError) as caught:
        TeamProConnector("teampro", {**options, **settings})
    assert key in caught.value.key


def test_check_is_one_call_and_a_wrong_password_fails_once(sandbox, options, connector):
    connector.check()
    assert sandbox.calls == {"findResources": 1}
    caller = Caller({"teampro": Gate(4, None)}, threading.Event())  # the core's gate, as the engine calls
    with TeamProConnector("teampro", {**options, "password": "wrong"}) as wrong:
        for _ in range(3):
            with pytest.raises((AuthError, SystemHeld)):
                caller.call("teampro", wrong.check)
    assert sandbox.failed_logins == 1


@pytest.mark.parametrize("kind, count", [("project", 4), ("task", 10), ("time_entry", 12)])
def test_lists_page_to_the_end_and_normalise(connector, kind, count):
    records = [normalise(r) for r in connector.list(kind)]
    assert len(records) == count and len({r.id for r in records}) == count


def test_project_create_get_update_delete(sandbox, connector):
    project_id = connector.create("project", PROJECT)
    assert same(connector.get("project", project_id), PROJECT)
    changed = Record("project", project_id, {**PROJECT.fields, "status": "active", "due_on": None}, PROJECT.refs)
    connector.update("project", project_id, changed)
    assert same(connector.get("project", project_id), changed)
    connector.delete("project", project_id)
    assert connector.get("project", project_id) is None
    with pytest.raises(NotFound):
        connector.update("project", project_id, changed)
    with pytest.raises(NotFound):
        connector.delete("project", project_id)
    assert writes(sandbox) == ["createProject", "updateProject", "deleteProject", "updateProject", "deleteProject"]


def test_find_project_by_client_and_name(connector):
    assert [r.id for r in connector.find("project", {"client": "4", "name": "Website redesign"})] == ["1"]
    assert connector.find("project", {"client": "4", "name": "Nope"}) == []


def test_task_round_trip_and_find(connector):
    task = normalise(Record("task", None, {"name": "Lower TTLs", "status": "in_progress", "description": "All zones",
                                           "due_on": "2025-04-10"}, {"project": "2"}))
    task_id = connector.create("task", task)
    assert same(connector.get("task", task_id), task)
    assert [r.id for r in connector.find("task", {"project": "2", "name": "Lower TTLs"})] == [task_id]
    done = Record("task", task_id, {**task.fields, "status": "done"}, task.refs)
    connector.update("task", task_id, done)
    assert same(connector.get("task", task_id), done)


def test_task_in_an_unknown_project_is_rejected(connector):
    with pytest.raises(Rejected, match="project_id is invalid"):
        connector.create("task", Record("task", None, {"name": "x", "status": "open"}, {"project": "99"}))


def test_time_entry_round_trip_with_members_and_local_time(sandbox, connector):
    entry = normalise(Record("time_entry", None, {"member": "jane@example.net", "started_at": "2025-03-30T00:30:00Z",
                                                  "minutes": 75, "note": "DST night", "billable": False},
                             {"project": "1", "task": "2"}))
    entry_id = connector.create("time_entry", entry)
    assert same(connector.get("time_entry", entry_id), entry)
    stored = sandbox.state["timelogs"][int(entry_id)]
    assert (stored["owner_adminid"], stored["date_start"], stored["timelog_elapsed"]) == (2, "2025-03-30 01:30:00", 4500)
    assert [r.id for r in connector.find("time_entry", {"task": "2", "member": "jane@example.net",
                                                        "started_at": "2025-03-30T00:30:00Z"})] == [entry_id]
    with pytest.raises(Rejected, match="members setting"):
        connector.create("time_entry", Record("time_entry", None, {**entry.fields, "member": "bob@example.org"},
                                              entry.refs))
    connector.delete("time_entry", entry_id)
    assert connector.get("time_entry", entry_id) is None


# --- ticket links -----------------------------------------------------------------------------

def test_ticket_list_is_tied_tickets_only_as_stubs(connector):
    stubs = list(connector.list("ticket"))
    assert sorted((s.id, s.refs["project"]) for s in stubs) == [("1", "1"), ("2", "3"), ("4", "2")]
    assert all(s.partial and s.version for s in stubs)


def test_get_ticket_is_none_when_untied_or_unknown(connector):
    tied = connector.get("ticket", "1")
    assert (tied.fields, tied.refs) == ({"subject": "Website down after DNS change"}, {"client": "4", "project": "1"})
    assert connector.get("ticket", "3") is None and connector.get("ticket", "999") is None


def test_create_ties_to_the_given_project(sandbox, connector):
    assert connector.create("ticket", Record("ticket", "5", {}, {"client": "6", "project": "2"})) == "5"
    assert connector.get("ticket", "5").refs["project"] == "2"


def test_create_ties_to_the_clients_newest_active_project(sandbox, connector):
    older = connector.create("project", Record("project", None, {"name": "Old", "status": "active"}, {"client": "2"}))
    newer = connector.create("project", Record("project", None, {"name": "New", "status": "active"}, {"client": "2"}))
    connector.create("project", Record("project", None, {"name": "Done", "status": "completed"}, {"client": "2"}))
    sandbox.state["projects"][int(older)]["date_created"] = "2020-01-01 00:00:00"
    connector.create("ticket", Record("ticket", "3", {"subject": "Invoice question"}, {"client": "2", "project": None}))
    assert connector.get("ticket", "3").refs["project"] == newer


def test_create_falls_back_to_unassigned_project_then_rejects(options):
    with TeamProConnector("teampro", {**options, "unassigned_project": 4}) as connector:
        connector.create("ticket", Record("ticket", "9", {}, {"client": None, "project": None}))
        assert connector.get("ticket", "9").refs["project"] == "4"
    without = {k: v for k, v in options.items() if k != "unassigned_project"}
    with TeamProConnector("teampro", without) as connector:
        with pytest.raises(Rejected, match="client 12 has no active wbTeamPro project and unassigned_project"):
            connector.create("ticket", Record("ticket", "10", {}, {"client": "12", "project": None}))


def test_update_reties_only_when_the_project_changes_and_delete_unties(sandbox, connector):
    sandbox.reset_calls()
    connector.update("ticket", "1", Record("ticket", "1", {"subject": "x"}, {"client": "4", "project": None}))
    connector.update("ticket", "1", Record("ticket", "1", {}, {"project": "1"}))
    assert writes(sandbox) == []
    connector.update("ticket", "1", Record("ticket", "1", {}, {"project": "2"}))
    assert connector.get("ticket", "1").refs["project"] == "2"
    connector.delete("ticket", "1")
    assert connector.get("ticket", "1") is None
    assert 1 in sandbox.state["tickets"]  # the WHMCS ticket itself stays
    with pytest.raises(NotFound):
        connector.delete("ticket", "1")


def test_find_ticket_by_client_and_subject(connector):
    assert [r.id for r in connector.find("ticket", {"client": "4", "subject": "Website down after DNS change"})] == ["1"]
    assert connector.find("ticket", {"client": "2", "subject": "Invoice question: double charge?"}) == []  # untied


def test_create_reads_the_tickets_client_when_the_record_lacks_it(sandbox, connector):
    project_id = connector.create("project", Record("project", None, {"name": "VPS move", "status": "active"},
                                                    {"client": "9"}))
    assert connector.create("ticket", Record("ticket", "7", {}, {})) == "7"  # WHMCS ticket 7 is client 9's
    assert connector.get("ticket", "7").refs == {"client": "9", "project": project_id}
    with pytest.raises(NotFound, match="WHMCS ticket 999 not found"):
        connector.create("ticket", Record("ticket", "999", {}, {}))


def test_ids_that_are_not_numbers_name_no_record(connector):
    assert connector.get("project", "abc") is None and connector.get("ticket", "1; drop") is None
    with pytest.raises(NotFound):
        connector.update("task", "x1", Record("task", "x1", {"name": "n"}))
    with pytest.raises(NotFound):
        connector.delete("time_entry", "")
