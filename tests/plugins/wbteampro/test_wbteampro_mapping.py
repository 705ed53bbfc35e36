"""wbTeamPro rows <-> canonical records: statuses, members, elapsed time, local times, ticket links."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from hostsync.errors import Rejected
from hostsync.model import PROJECT_STATUSES, TASK_STATUSES, InvalidValue, Record, normalise
from hostsync_wbteampro import mapping as m

TZ = ZoneInfo("Europe/Amsterdam")
PROJECTS = m.Vocabulary(m.PROJECT_READ, m.PROJECT_WRITE, PROJECT_STATUSES)
TASKS = m.Vocabulary(m.TASK_READ, m.TASK_WRITE, TASK_STATUSES)
MEMBERS = m.Members({"2": "jane@example.net"})

PROJECT_ROW = {"project_id": 219, "project_name": "Website redesign", "client_userid": 4, "project_type": "Web",
               "project_status": "On Hold", "project_details": "New shop front", "date_start": "2025-02-18 00:00:00",
               "date_finish": "0000-00-00 00:00:00", "date_modified": "2025-03-01 12:00:00"}


def test_project_row_to_canonical_and_back():
    record = normalise(m.project_record(PROJECT_ROW, TZ, PROJECTS))
    assert record.id == "219" and record.refs == {"client": "4"}
    assert record.fields == {"name": "Website redesign", "status": "on_hold", "start_on": "2025-02-18",
                             "due_on": None, "description": "New shop front"}
    assert m.project_record(PROJECT_ROW, TZ, PROJECTS).updated_at.isoformat() == "2025-03-01T11:00:00+00:00"
    assert m.project_params(record, PROJECTS) == {
        "project_name": "Website redesign", "project_status": "On Hold", "date_start": "2025-02-18 00:00:00",
        "date_finish": "0000-00-00 00:00:00", "project_details": "New shop front", "client_userid": 4}


def test_internal_project_has_no_client():
    assert m.project_record({**PROJECT_ROW, "client_userid": 0}, TZ, PROJECTS).refs == {"client": None}


@pytest.mark.parametrize("vendor, canonical", [
    ("Pending", "planned"), ("Active", "active"), ("In Progress", "active"), ("On Hold", "on_hold"),
    ("Completed", "completed"), ("Closed", "completed"), ("Cancelled", "cancelled"), ("Canceled", "cancelled"),
])
def test_project_statuses(vendor, canonical):
    assert PROJECTS.read(vendor) == canonical


def test_status_overrides_read_and_write_the_admins_own_names():
    custom = m.Vocabulary(m.PROJECT_READ, m.PROJECT_WRITE, PROJECT_STATUSES,
                          {"planned": "Quoted", "completed": "Delivered"})
    assert (custom.read("Quoted"), custom.read("delivered"), custom.write("completed")) == (
        "planned", "completed", "Delivered")
    with pytest.raises(ValueError, match="finished: not a canonical status"):
        m.Vocabulary(m.PROJECT_READ, m.PROJECT_WRITE, PROJECT_STATUSES, {"finished": "Done"})


def test_an_unmapped_status_fails_normalisation_naming_it():
    record = m.project_record({**PROJECT_ROW, "project_status": "Awaiting Content"}, TZ, PROJECTS)
    with pytest.raises(InvalidValue, match="awaiting content"):
        normalise(record)


def test_task_row_and_done_sets_the_percentage():
    row = {"action_id": 7, "project_id": 219, "action_name": "Build theme", "action_status": "Completed",
           "action_detail": "", "date_finish": "2025-04-01 00:00:00", "action_complete": 100}
    record = normalise(m.task_record(row, TZ, TASKS))
    assert (record.fields, record.refs) == (
        {"name": "Build theme", "status": "done", "description": None, "due_on": "2025-04-01", "priority": None},
        {"project": "219"})  # no priority read: wbTeamPro does not carry it (and task_params never sends one)
    assert m.task_params(record, TASKS) == {"action_name": "Build theme", "action_status": "Completed",
                                            "action_complete": 100, "action_detail": "",
                                            "date_finish": "2025-04-01 00:00:00", "project_id": 219}


def test_timelog_row_to_canonical_and_back_in_local_time():
    row = {"timelog_id": 3, "project_id": 219, "action_id": 7, "owner_adminid": 2, "timelog_note": "Review",
           "date_start": "2025-07-01 09:30:00", "timelog_elapsed": 5400, "billable": "1"}
    record = normalise(m.time_entry_record(row, TZ, MEMBERS))
    assert record.fields == {"member": "jane@example.net", "started_at": "2025-07-01T07:30:00Z", "minutes": 90,
                             "note": "Review", "billable": True}  # CEST is UTC+2
    assert record.refs == {"project": "219", "task": "7"}
    assert m.timelog_params(record, TZ, MEMBERS) == {
        "owner_adminid": 2, "date_start": "2025-07-01 09:30:00", "timelog_elapsed": 5400, "timelog_note": "Review",
        "billable": 1, "project_id": 219, "action_id": 7}


def test_elapsed_seconds_round_half_up_to_minutes():
    assert m.time_entry_record({"timelog_elapsed": 90}, TZ, MEMBERS).fields["minutes"] == 2
    assert m.time_entry_record({"timelog_elapsed": 89}, TZ, MEMBERS).fields["minutes"] == 1


def test_members_by_name_or_by_admin_id():
    assert (MEMBERS.read(2), MEMBERS.read("5"), MEMBERS.read(0)) == ("jane@example.net", "5", None)
    assert (MEMBERS.write("Jane@Example.net"), MEMBERS.write("5")) == (2, 5)
    with pytest.raises(Rejected, match="members setting"):
        MEMBERS.write("bob@example.net")


def test_ticket_links():
    row = {"id": 2038, "userid": 4, "subject": "Website down", "ticketxref": {"xref_id": 91, "project_id": 219}}
    record = m.ticket_record(row)
    assert (record.id, record.fields, record.refs) == ("2038", {"subject": "Website down"},
                                                       {"client": "4", "project": "219"})
    assert m.ticket_record({**row, "ticketxref": None}) is None


def test_params_carry_only_what_the_record_has():
    assert m.project_params(Record("project", "1", {"status": "completed"}), PROJECTS) == {"project_status": "Completed"}


def test_stored_fields_say_how_wbteampro_keeps_what_hostsync_writes():
    shared = m.Vocabulary(m.PROJECT_READ, m.PROJECT_WRITE, PROJECT_STATUSES, {"planned": "Active"})  # no Pending
    project = {"name": "Shop", "status": "planned"}
    assert m.stored_fields("project", project, TZ, shared, TASKS, MEMBERS) == {"name": "Shop", "status": "active"}
    assert m.stored_fields("project", project, TZ, PROJECTS, TASKS, MEMBERS) == project  # a word of its own
    entry = {"member": "Jane@Example.NET", "started_at": "2025-10-26T01:30:00Z", "minutes": 5}
    assert m.stored_fields("time_entry", entry, TZ, PROJECTS, TASKS, MEMBERS) == {
        "member": "jane@example.net", "started_at": "2025-10-26T00:30:00Z", "minutes": 5}  # 02:30 CET reads as CEST
    unknown = {"member": "bob@example.net", "started_at": "2025-07-01T07:30:00Z"}
    assert m.stored_fields("time_entry", unknown, TZ, PROJECTS, TASKS, MEMBERS) == unknown
