"""ProWorkflow rows <-> canonical records: the pure mapping, its lossy points and what stored() says."""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostsync.model import KINDS, InvalidValue, Record, normalise
from hostsync_proworkflow import mapping as m

AKL = ZoneInfo("Pacific/Auckland")


def test_a_company_without_email_or_phone_takes_its_first_contacts():
    row = {"id": 4, "name": "Blue Fern Yoga", "email": "", "phone": "", "address1": "3 Cuba St", "city": "Wellington",
           "zipcode": "6011", "country": "New Zealand", "lastmodifiedutc": "2025-02-01T10:15:30",
           "contacts": [{"id": 9, "firstname": "Zed", "lastname": "Later", "email": "zed@fern.example"},
                        {"id": 7, "firstname": "Hana", "lastname": "Kim", "email": "Hana@Fern.example",
                         "phone": "+64 4 555"}],
           "apifields": [{"id": 1, "name": "hostsync origin", "value": "hs:billing:4"}]}
    record = normalise(m.client_record(row, origin_field="1"))
    assert record.fields == {"email": "hana@fern.example", "first_name": "Hana", "last_name": "Kim",
                             "company": "Blue Fern Yoga", "phone": "+64 4 555", "address1": "3 Cuba St",
                             "address2": None, "city": "Wellington", "state": None, "postcode": "6011",
                             "country": "NZ", "status": None}
    assert record.origin == "hs:billing:4" and record.updated_at.isoformat() == "2025-02-01T10:15:30+00:00"


def test_a_company_without_an_address_takes_its_contacts():
    row = {"id": 4, "name": "Kōwhai Florists", "email": "", "contacts": []}
    contact = {"id": 7, "name": "Aria Rangi", "address1": "18 Victoria St", "city": "Nelson", "country": "NZ"}
    fields = m.client_record(row, fallback=contact).fields
    assert (fields["address1"], fields["city"], fields["country"]) == ("18 Victoria St", "Nelson", "NZ")
    assert (fields["first_name"], fields["last_name"]) == ("Aria", "Rangi")  # split from "name"


@pytest.mark.parametrize("text,code", [("New Zealand", "NZ"), ("nz", "NZ"), ("United  Kingdom", "GB"),
                                       ("Deutschland", "DE"), ("Someland", None), ("", None)])
def test_countries_are_read_as_codes(text, code):
    assert m.country_code(text) == code


def test_statuses_map_and_an_unknown_one_fails_that_record_naming_it():
    assert m.project_record({"id": 1, "status": "complete"}).fields["status"] == "completed"
    assert m.task_record({"id": 1, "status": "Active"}).fields["status"] == "open"
    odd = m.project_record({"id": 1, "title": "X", "status": "archived"})
    with pytest.raises(InvalidValue, match="status: 'archived' is not one of"):
        normalise(odd)


def test_stored_says_what_proworkflow_keeps():
    assert m.stored_fields("project", {"status": "on_hold"}, AKL)["status"] == "active"
    assert m.stored_fields("project", {"status": "cancelled"}, AKL)["status"] == "completed"
    assert m.stored_fields("task", {"status": "in_progress"}, AKL)["status"] == "open"
    assert m.stored_fields("task", {"status": "cancelled"}, AKL)["status"] == "done"
    assert m.stored_fields("invoice", {"status": "draft"}, AKL)["status"] == "unpaid"
    assert m.stored_fields("client", {"company": None, "first_name": "Ann", "last_name": "Lee"}, AKL)["company"] == \
        "Ann Lee"
    assert m.stored_fields("time_entry", {"started_at": "2025-03-01T20:15:42Z"}, AKL)["started_at"] == \
        "2025-03-01T20:15:00Z"
    unchanged = {"status": "active", "name": "X"}
    assert m.stored_fields("project", unchanged, AKL) == unchanged


def test_a_time_record_starts_on_the_accounts_clock():
    row = {"id": 3, "date": "2025-03-02", "starttime": "09:15", "timetracked": 90, "contactid": 3, "taskid": 8,
           "projectid": 2, "billable": True, "notes": "Build", "lastmodifiedutc": "2025-03-02T00:00:00"}
    record = normalise(m.time_record(row, AKL, {"3": "jane@example.net"}))
    assert record.fields["started_at"] == "2025-03-01T20:15:00Z"  # NZDT is UTC+13
    assert record.fields["member"] == "jane@example.net" and record.fields["minutes"] == 90
    assert record.refs == {"project": "2", "task": "8"}
    body = m.time_body(Record("time_entry", None, {"started_at": "2025-03-01T20:15:00Z", "minutes": 90},
                              {"task": "8"}), AKL)
    assert body == {"date": "2025-03-02", "starttime": "09:15", "timetracked": 90, "taskid": 8}


def test_invoice_lines_bill_time_in_hours_and_skip_headings():
    row = {"id": 1, "number": "INV-1", "status": "unpaid", "companyid": 4, "grandtotal": "690.00", "lines": [
        {"type": "heading", "name": "Website"},
        {"type": "lineitem", "name": "Design", "quantity": "2", "rate": "150.00", "taxable": True},
        {"type": "taskrate", "name": "Development", "time": 90, "rate": "120.00", "taxable": True},
        {"type": "lineitem", "name": "", "description": "Hosting", "quantity": "1", "rate": "0", "taxable": False}]}
    lines = normalise(m.invoice_record(row)).fields["lines"]
    assert lines == [{"description": "Design", "quantity": "2", "unit_price": "150.00", "taxed": True},
                     {"description": "Development", "quantity": "1.5", "unit_price": "120.00", "taxed": True},
                     {"description": "Hosting", "quantity": "1", "unit_price": "0.00", "taxed": False}]


def test_a_full_line_list_keeps_headings_and_untouched_lines_as_they_are():
    current = [{"id": 1, "type": "heading", "name": "Website"},
               {"id": 2, "type": "taskrate", "name": "Development", "time": 90, "rate": "120.00", "taxable": True},
               {"id": 3, "type": "lineitem", "name": "Design", "quantity": "2", "rate": "150.00", "taxable": True},
               {"id": 4, "type": "heading", "name": "Extras"},
               {"id": 5, "type": "expense", "name": "Photos", "quantity": "3", "rate": "15", "taxable": False}]
    wanted = [{"description": "Development", "quantity": Decimal("1.5"), "unit_price": Decimal("120"), "taxed": True},
              {"description": "Design", "quantity": Decimal("3"), "unit_price": Decimal("150"), "taxed": True}]

    def same(vendor, line):
        read = m.line_record(vendor)
        return normalise(Record("invoice", "1", {"lines": [read]})).fields == \
            normalise(Record("invoice", "1", {"lines": [line]})).fields

    merged = m.merged_lines(current, wanted, same)
    assert [(line["type"], line["name"]) for line in merged] == [
        ("heading", "Website"), ("taskrate", "Development"), ("lineitem", "Design"), ("heading", "Extras")]
    assert merged[1]["time"] == 90 and merged[2]["quantity"] == "3"  # kept as it was; rewritten


def test_a_person_without_a_company_names_the_company():
    assert m.company_body({"company": None, "first_name": "Ann", "last_name": "Lee", "city": "Nelson"},
                          ["company", "city"]) == {"name": "Ann Lee", "city": "Nelson"}
    assert m.company_body({"email": None}, ["email"]) == {"email": ""}


# -- rows of any shape -----------------------------------------------------------------------

_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                     max_leaves=8)
_KEYS = ("name", "title", "email", "phone", "address1", "city", "country", "contacts", "apifields", "status",
         "startdate", "duedate", "description", "companyid", "projectid", "taskid", "contactid", "lastmodifiedutc",
         "date", "starttime", "timetracked", "notes", "billable", "lines", "number", "invoiceddate", "paiddate",
         "grandtotal")
_LINE = st.fixed_dictionaries({}, optional={k: _JSON for k in ("type", "name", "description", "quantity", "rate",
                                                                "time", "taxable")})


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({"id": st.integers(1, 10**6)},
                             optional={**{k: _JSON for k in _KEYS}, "lines": st.lists(_LINE, max_size=3) | _JSON}))
def test_a_row_of_any_shape_maps_and_then_normalises_or_fails_naming_a_field(row):
    """Odd vendor values never break a listing: mapping never raises, and a record that cannot be
    read fails alone when the engine normalises it (InvalidValue naming the field)."""
    for record in (m.client_record(row), m.project_record(row), m.task_record(row), m.invoice_record(row),
                   m.time_record(row, AKL, {"3": "jane@example.net"}), m.invoice_stub(row)):
        try:
            normalise(record)
        except InvalidValue as exc:
            assert str(exc).split(":")[0] in {f.name for f in KINDS[record.kind].fields}
