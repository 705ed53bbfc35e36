"""WebWork rows <-> canonical records (pure functions)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hostsync.errors import Rejected
from hostsync.model import InvalidValue, normalise
from hostsync_webwork import mapping as m

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(("value", "status"), [
    (0, "open"), (10, "in_progress"), (20, "done"), (30, "done"), ("10", "in_progress"),
    ("Incomplete", "open"), ("Doing", "in_progress"), ("Done", "done"), ("Completed", "done"),
    ("Open", "open"), ("In Progress", "in_progress"), ("closed", "done"),
    (1, "open"), (11, "in_progress"), (21, "done"), (39, "done"), (45, "done"), (-1, "open"), (None, None),
])
def test_task_status_codes_and_both_label_spellings(value, status) -> None:
    assert m.task_status(value) == status


def test_an_unknown_status_label_fails_the_record_naming_it() -> None:
    record = m.task_record({"id": 3, "title": "x", "project_id": 1, "status": "Blocked"})
    with pytest.raises(InvalidValue, match="'blocked' is not one of"):
        normalise(record)


def test_writing_statuses_and_what_webwork_keeps() -> None:
    assert {s: m.task_body({"status": s}, {}, None, create=False)["status"]
            for s in ("open", "in_progress", "done", "cancelled")} == {"open": 0, "in_progress": 10, "done": 20,
                                                                        "cancelled": 30}
    assert m.stored_fields("task", {"status": "cancelled", "name": "x"}) == {"status": "done", "name": "x"}
    assert m.stored_fields("task", {"status": "in_progress"}) == {"status": "in_progress"}
    assert m.stored_fields("project", {"status": "cancelled"}) == {"status": "cancelled"}  # read only there


@pytest.mark.parametrize(("value", "priority"), [
    (10, "urgent"), (20, "high"), (30, "medium"), (40, "low"), ("30", "medium"), (None, None),
    ("Urgent", "urgent"), ("High", "high"), ("Normal", "medium"), ("low", "low"),
    (15, "urgent"), (25, "high"), (0, "urgent"), (99, "low"),  # undocumented codes: the nearest of their ten
])
def test_task_priority_codes_and_labels(value, priority) -> None:
    assert m.task_priority(value) == priority


def test_an_unknown_priority_label_fails_the_record_naming_it() -> None:
    record = m.task_record({"id": 3, "title": "x", "project_id": 1, "status": 0, "priority": "Critical"})
    with pytest.raises(InvalidValue, match="priority: 'critical' is not one of low, medium, high, urgent"):
        normalise(record)


def test_writing_priorities_exactly_and_none_only_on_update() -> None:
    assert {p: m.task_body({"priority": p}, {}, None, create=False)["priority"]
            for p in ("urgent", "high", "medium", "low", None)} == {"urgent": 10, "high": 20, "medium": 30,
                                                                     "low": 40, None: None}
    assert "priority" not in m.task_body({"name": "x", "priority": None}, {"project": "1"}, None, create=True)
    assert "priority" not in m.task_body({"name": "x"}, {}, None, create=False)  # not carried: left alone
    assert m.stored_fields("task", {"priority": "medium"}) == {"priority": "medium"}


@given(description=st.one_of(st.none(), st.text(max_size=200)),
       marker=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7e), min_size=1, max_size=64))
def test_the_origin_line_round_trips_and_leaves_the_description_as_it_was(description, marker) -> None:
    stored = m.with_origin(description, marker)
    body, origin = m.split_origin(stored)
    assert origin == marker
    assert body == m.split_origin(description)[0]


def test_the_origin_line_is_found_wherever_someone_moved_it() -> None:
    notes = "First line\nhostsync-origin: hs:teampro:12\nadded by staff later"
    assert m.split_origin(notes) == ("First line\n\nadded by staff later", "hs:teampro:12")
    assert m.split_origin("hostsync-origin: hs:teampro:12") == (None, "hs:teampro:12")
    assert m.with_origin("notes", None) == "notes"
    with pytest.raises(Rejected):
        m.with_origin("notes", "ünïcode marker")


def test_projects_read_and_write() -> None:
    row = {"id": 100, "name": "Marketing Campaign Q1", "start_date": "2024-01-15", "deadline": "2024-03-31",
           "budget_estimation": 5000, "notes": "Focus\n\nhostsync-origin: hs:pm:7", "status": 1,
           "updated_at": "2024-01-15T09:00:00Z"}
    record = normalise(m.project_record(row))
    assert record.fields == {"name": "Marketing Campaign Q1", "status": "active", "start_on": "2024-01-15",
                             "due_on": "2024-03-31", "description": "Focus"}
    assert record.origin == "hs:pm:7" and m.project_record({**row, "status": 0}).fields["status"] == "on_hold"
    body = m.project_body({"name": "N", "description": None, "due_on": "2024-04-01"}, "hs:pm:7", create=False)
    assert body == {"name": "N", "notes": "hostsync-origin: hs:pm:7", "deadline": "2024-04-01"}
    assert "budget" not in m.project_body({"name": "N"}, None, create=True)


def test_an_end_before_the_start_is_refused_with_a_readable_reason() -> None:
    with pytest.raises(Rejected) as refused:
        m.check_dates("2024-03-01", "2024-02-01", ("start_date", "deadline"), "create project 9")
    assert str(refused.value) == ("create project 9: deadline 2024-02-01 is before start_date 2024-03-01; "
                                  "WebWork needs the deadline on or after the start_date")
    m.check_dates("2024-03-01", "2024-03-01", ("start_date", "deadline"), "same day is fine")
    m.check_dates(None, "2024-03-01", ("start_date", "deadline"), "no start")


def test_time_entries_from_date_and_times_in_the_workspace_zone() -> None:
    row = {"id": "ZW5jcnlwdGVk", "user_id": 100, "project_id": 200, "task_id": 300, "date": "2026-03-28",
           "start_time": "23:30", "end_time": "00:45:30", "notes": None, "activity_description": "Deploy",
           "updated_at": "2026-03-29T00:50:00Z"}
    record = normalise(m.time_entry_record(row, BERLIN, "jane@example.net"))
    assert record.id == "100/2026-03-28/23:30:00"
    assert record.fields["started_at"] == "2026-03-28T22:30:00Z"  # CET, the night summer time starts
    assert record.fields["minutes"] == 76 and record.fields["note"] == "Deploy"  # 75 min 30 s, half up
    assert record.refs == {"project": "200", "task": "300"} and record.fields["member"] == "jane@example.net"
    summer = m.time_entry_record({**row, "date": "2026-03-29", "start_time": "01:30", "end_time": "03:30"}, BERLIN, "x")
    assert summer.fields["minutes"] == 60  # the clocks went forward at 02:00
    assert m.time_entry_record({**row, "end_time": None}, BERLIN, "x") is None  # still running
    assert m.time_entry_record({**row, "task_id": None}, BERLIN, "x").refs["task"] is None
    assert m.parse_entry_id(record.id) == ("100", "2026-03-28", m.clock("23:30"))
    assert m.parse_entry_id("ZW5jcnlwdGVk") is None and m.parse_entry_id("1/2026-02-30/10:00:00") is None


def test_an_unreadable_time_entry_fails_alone_naming_its_values() -> None:
    record = m.time_entry_record({"user_id": 5, "date": "2026-03-28", "start_time": "25:00", "end_time": "26:00"},
                                 BERLIN, "x")
    with pytest.raises(InvalidValue, match="started_at: .*25:00 to 26:00"):
        normalise(record)
