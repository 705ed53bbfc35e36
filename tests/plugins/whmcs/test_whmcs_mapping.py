"""The WHMCS mapping against every official example response, and against each documented quirk."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from hostsync.model import InvalidValue, Record, normalise
from hostsync_whmcs import mapping as m

EXAMPLES = Path(__file__).with_name("examples")
LONDON = m.zone("Europe/London")
NEW_YORK = m.zone("America/New_York")


def example(name: str) -> dict:
    data = json.loads((EXAMPLES / f"{name}.json").read_text())
    return m.unflatten(data) if any("[" in key for key in data) else data


# --- the official examples ---------------------------------------------------------------------

def test_getclients_rows_are_nested_under_the_singular_key():
    rows = m.nested(example("getclients")["clients"], "client")
    assert [(row["id"], row["email"]) for row in rows] == [(2, "price.ima@example.com"), (1, "cecelia99@example.com")]


def test_getclientsdetails_maps_to_a_canonical_client_and_back():
    record = normalise(m.client_record(example("getclientsdetails")))
    assert record.id == "1"
    assert record.fields == {
        "email": "test-client@example.com", "first_name": "Test", "last_name": "Client", "company": None,
        "phone": "01234567890", "address1": "123 Test Street", "address2": None, "city": "Test",
        "state": "Tester", "postcode": "TE5 5ST", "country": "GB", "status": "active",
    }
    client = example("getclientsdetails")["client"]
    assert m.client_params(record) == {
        "email": client["email"], "firstname": client["firstname"], "lastname": client["lastname"],
        "companyname": "", "phonenumber": client["phonenumber"], "address1": client["address1"], "address2": "",
        "city": client["city"], "state": client["state"], "postcode": client["postcode"],
        "country": client["countrycode"], "status": client["status"],
    }


def test_getclientsdetails_deprecated_top_level_copy_reads_the_same():
    answer = example("getclientsdetails")
    top_level = {k: v for k, v in answer["client"].items()}
    assert m.client_record(top_level).fields == m.client_record(answer).fields


def test_gettickets_row_becomes_a_partial_stub_whose_version_follows_the_row():
    row = m.nested(example("gettickets")["tickets"], "ticket")[0]
    stub = m.ticket_stub(row, LONDON)
    assert (stub.id, stub.partial, stub.refs) == ("1", True, {"client": "1"})
    assert normalise(stub).fields["status"] == "answered"
    assert stub.updated_at == datetime(2016, 1, 1, 6, 30, 16, tzinfo=timezone.utc)
    assert m.ticket_stub(dict(row), LONDON).version == stub.version
    assert m.ticket_stub({**row, "lastreply": "2016-01-02 08:00:00"}, LONDON).version != stub.version
    assert m.ticket_stub({**row, "status": "Closed"}, LONDON).version != stub.version


def test_getticket_maps_every_reply_with_its_author():
    record = normalise(m.ticket_record(example("getticket"), NEW_YORK))
    assert record.refs == {"client": "1", "project": None}
    fields = record.fields
    assert (fields["subject"], fields["status"], fields["priority"], fields["department"]) == (
        "This is a sample ticket", "closed", "medium", "Sample Support Department")
    assert fields["created_at"] == "2016-01-01T11:26:29Z"  # 06:26:29 in New York (EST, UTC-5)
    assert [(msg["author"], msg["created_at"]) for msg in fields["messages"]] == [
        ("testuser@whmcs.com", "2016-01-01T11:26:29Z"),
        ("Demo Admin", "2016-01-01T11:27:01Z"),          # staff reply: no e-mail, the admin's name
        ("testuser@whmcs.com", "2016-01-01T11:30:16Z"),  # client reply: name/email empty, requestor_email set
    ]
    assert fields["messages"][0]["body"] == "Hey, \n\nThis is the first ticket message!\n\nThanks\n\nCynthia"
    assert m.TICKET_STATUS_OUT[fields["status"]] == "Closed" and m.PRIORITY_OUT[fields["priority"]] == "Medium"


def test_getticket_replies_sorted_descending_still_read_oldest_first():
    answer = example("getticket")
    answer["replies"]["reply"].reverse()
    messages = normalise(m.ticket_record(answer, LONDON)).fields["messages"]
    assert [msg["created_at"] for msg in messages] == sorted(msg["created_at"] for msg in messages)


def test_getinvoices_row_becomes_a_stub_with_zero_dates_as_none():
    row = m.nested(example("getinvoices")["invoices"], "invoice")[0]
    stub = normalise(m.invoice_stub(row, LONDON))
    assert stub.fields["number"] == "1"  # no invoicenum: WHMCS shows the id
    assert (stub.fields["paid_on"], stub.fields["status"], stub.fields["currency"], stub.fields["total"]) == (
        None, "unpaid", "USD", "15.95")
    raw = m.invoice_stub(row, LONDON)
    assert raw.partial and raw.updated_at == datetime(2016, 1, 8, 14, 7, 17, tzinfo=timezone.utc)
    assert m.invoice_stub({**row, "updated_at": "2016-01-09 10:00:00"}, LONDON).version != raw.version


def test_getinvoice_maps_lines_and_back():
    answer = example("getinvoice")
    record = normalise(m.invoice_record(answer, "USD"))
    assert record.refs == {"client": "2361"}
    assert record.fields["lines"] == [{"description": "Sample Monthly Product (01/01/2016 - 31/01/2016)",
                                       "quantity": "1", "unit_price": "15.95", "taxed": False}]
    assert (record.fields["issued_on"], record.fields["due_on"], record.fields["paid_on"]) == (
        "2016-01-01", "2020-12-30", None)
    item = answer["items"]["item"][0]
    assert m.line_to_item(record.fields["lines"][0]) == (item["description"], item["amount"], "0")


def test_getclientsdomains_flattened_doc_example_reads_as_nested_rows():
    answer = example("getclientsdomains")
    records = [normalise(m.domain_record(row)) for row in m.nested(answer["domains"], "domain")]
    assert [(r.id, r.fields["name"], r.refs["client"], r.fields["status"]) for r in records] == [
        ("1", "whmcs.rocks", "1", "active"), ("2", "whmcs.info", "1", "active")]
    assert (records[0].fields["registered_on"], records[0].fields["expires_on"]) == ("2016-01-01", "2017-01-01")
    assert m.DOMAIN_STATUS_OUT[records[0].fields["status"]] == "Active"


@pytest.mark.parametrize("name", ["getactivitylog", "getactivitylog_flattened"])
def test_getactivitylog_examples_name_no_client(name):
    entries = m.nested(example(name)["activity"], "entry")
    assert len(entries) >= 2
    assert all(m.activity_client_ids(entry) == set() for entry in entries)


def test_activity_entries_name_their_client_in_every_version():
    assert m.activity_client_ids({"clientId": 5, "userid": 5, "description": "x"}) == {"5"}
    assert m.activity_client_ids({"userid": "7", "description": "Created Invoice"}) == {"7"}  # before 8.0
    assert m.activity_client_ids({"clientId": 0, "description": "Client Profile Modified - First Name: 'a' to "
                                                              "'b' - User ID: 9"}) == {"9"}


def test_newest_activity_per_client_stops_at_since():
    entries = [{"date": "2024-05-02 10:00:00", "clientId": 5, "description": "Client Profile Modified - User ID: 5"},
               {"date": "2024-05-02 09:00:00", "clientId": 0, "description": "Cron Job: Daily"},
               {"date": "2024-05-02 08:00:00", "clientId": 5, "description": "Created Invoice - Invoice ID: 9"},
               {"date": "2024-05-02 07:00:00", "clientId": 6, "description": "Client Profile Modified - User ID: 6"}]
    since = datetime(2024, 5, 2, 7, 30, tzinfo=timezone.utc)
    newest, reached = m.newest_activity(entries, LONDON, since)  # London is UTC+1 in May: 07:00 is 06:00Z
    assert (newest, reached) == ({"5": datetime(2024, 5, 2, 9, 0, tzinfo=timezone.utc)}, True)
    newest, reached = m.newest_activity(entries, m.zone("UTC"), since - timedelta(hours=2))
    assert (newest, reached) == ({"5": datetime(2024, 5, 2, 10, 0, tzinfo=timezone.utc),
                                  "6": datetime(2024, 5, 2, 7, 0, tzinfo=timezone.utc)}, False)


def test_support_departments_and_statuses_examples():
    departments = m.nested(example("getsupportdepartments")["departments"], "department")
    assert departments == [{"id": "1", "name": "Sample Support Department", "awaitingreply": "0", "opentickets": "0"}]
    titles = [s["title"] for s in m.nested(example("getsupportstatuses")["statuses"], "status")]
    assert [m.TICKET_STATUS_OUT[m.ticket_status(t)] for t in titles] == titles


def test_empty_list_examples_read_as_no_rows():
    assert m.nested(example("gettodoitems").get("todoitems"), "todoitem") == []
    assert example("gettodoitems")["totalresults"] == "0"
    contacts = m.nested(example("getcontacts")["contacts"], "contact")
    assert len(contacts) == 1 and m.day(contacts[0]["updated_at"]) is None


# --- quirks ------------------------------------------------------------------------------------

@pytest.mark.parametrize("container, rows", [
    ("", 0), (None, 0), ({}, 0), ({"client": ""}, 0), ({"client": []}, 0), ([[]], 0),
    ({"client": {"id": 1}}, 1), ({"client": [{"id": 1}, {"id": 2}]}, 2),
])
def test_nested_lists_in_every_spelling(container, rows):
    assert len(m.nested(container, "client")) == rows


@pytest.mark.parametrize("value, expected", [
    ("1", True), (1, True), (True, True), ("on", True), ("yes", True), ("true", True),
    ("0", False), (0, False), (False, False), ("", False), (None, False),
])
def test_booleans_in_every_spelling(value, expected):
    assert m.flag(value) is expected


def test_zero_dates_are_none():
    assert m.day("0000-00-00 00:00:00") is None and m.day("0000-00-00") is None
    assert m.utc("0000-00-00 00:00:00", LONDON) is None
    assert m.day("2016-01-08 14:07:17") == "2016-01-08"


def test_local_times_convert_with_the_server_zone_both_ways():
    amsterdam = m.zone("Europe/Amsterdam")
    assert m.utc("2024-07-01 12:00:00", amsterdam) == datetime(2024, 7, 1, 10, 0, tzinfo=timezone.utc)  # CEST
    assert m.utc("2024-01-01 12:00:00", amsterdam) == datetime(2024, 1, 1, 11, 0, tzinfo=timezone.utc)  # CET
    assert m.local("2024-07-01T10:00:00Z", amsterdam) == "2024-07-01 12:00:00"
    assert m.local(None, amsterdam) is None


def test_unknown_zone_is_refused():
    with pytest.raises(ValueError, match="Nowhere/Town"):
        m.zone("Nowhere/Town")


@pytest.mark.parametrize("vendor, canonical", [
    ("Open", "open"), ("Answered", "answered"), ("Customer-Reply", "customer_reply"), ("In Progress", "in_progress"),
    ("On Hold", "on_hold"), ("Closed", "closed"), ("Waiting on Vendor", "open"),
])
def test_ticket_statuses(vendor, canonical):
    assert m.ticket_status(vendor) == canonical


def test_urgent_priority_is_written_as_high():
    assert m.PRIORITY_OUT["urgent"] == "High"


@pytest.mark.parametrize("vendor, canonical", [
    ("Draft", "draft"), ("Unpaid", "unpaid"), ("Overdue", "unpaid"), ("Collections", "unpaid"),
    ("Payment Pending", "unpaid"), ("Paid", "paid"), ("Cancelled", "cancelled"), ("Refunded", "refunded"),
])
def test_invoice_statuses(vendor, canonical):
    assert m.invoice_status(vendor) == canonical


@pytest.mark.parametrize("vendor, canonical", [
    ("Pending", "pending"), ("Pending Registration", "pending"), ("Pending Transfer", "pending"),
    ("Active", "active"), ("Grace", "expired"), ("Redemption", "expired"), ("Expired", "expired"),
    ("Cancelled", "cancelled"), ("Transferred Away", "transferred"), ("Fraud", "suspended"),
])
def test_domain_statuses(vendor, canonical):
    assert normalise(m.domain_record({"id": 1, "domainname": "a.com", "status": vendor})).fields["status"] == canonical


def test_every_canonical_status_has_a_vendor_name():
    assert set(m.DOMAIN_STATUS_OUT) == {"pending", "active", "suspended", "expired", "cancelled", "transferred"}
    assert set(m.INVOICE_STATUS_OUT) == {"draft", "unpaid", "paid", "cancelled", "refunded"}
    assert set(m.TICKET_STATUS_OUT) == {"open", "answered", "customer_reply", "in_progress", "on_hold", "closed"}
    assert set(m.CLIENT_STATUS_OUT) == {"active", "inactive", "closed"}


def test_an_unknown_status_fails_normalisation_naming_it():
    record = m.client_record({"client": {"id": 1, "email": "a@b.example", "status": "Suspended"}})
    with pytest.raises(InvalidValue, match="suspended"):
        normalise(record)


def test_quantities_fold_into_the_description_and_read_back():
    line = {"description": "Mailbox add-on", "quantity": "3", "unit_price": "2.00", "taxed": True}
    description, amount, taxed = m.line_to_item(line)
    assert (description, amount, taxed) == ("3 x Mailbox add-on", "6.00", "1")
    back = m.line_from_item({"description": description, "amount": amount, "taxed": 1})
    assert back == {"description": "Mailbox add-on", "quantity": Decimal(3), "unit_price": Decimal("2.00"),
                    "taxed": True}
    hours = m.line_to_item({"description": "Consulting", "quantity": "1.5", "unit_price": "80", "taxed": False})
    assert hours == ("1.5 x Consulting", "120.00", "0")
    assert m.line_from_item({"description": hours[0], "amount": hours[1]})["unit_price"] == Decimal("80.00")


def test_a_prefix_that_does_not_divide_the_amount_stays_in_the_description():
    line = m.line_from_item({"description": "3 x Widgets", "amount": "10.00", "taxed": "0"})
    assert (line["description"], line["quantity"], line["unit_price"]) == ("3 x Widgets", Decimal(1), Decimal("10.00"))


def test_line_edits_edit_add_and_delete_by_position():
    current = [{"id": 5, "description": "A", "amount": "1.00", "taxed": 0},
               {"id": 6, "description": "B", "amount": "2.00", "taxed": 1},
               {"id": 7, "description": "C", "amount": "3.00", "taxed": 0}]
    keep = {"description": "A", "quantity": 1, "unit_price": "1.00", "taxed": False}
    changed = {"description": "B2", "quantity": 1, "unit_price": "2.50", "taxed": True}
    assert m.line_edits(current, [keep, changed]) == [
        ("itemdescription[6]", "B2"), ("itemamount[6]", "2.50"), ("itemtaxed[6]", "1"), ("deletelineids[]", "7")]
    same = [m.line_from_item(item) for item in current]
    extra = {"description": "D", "quantity": 2, "unit_price": "1.25", "taxed": False}
    assert m.line_edits(current, [*same, extra]) == [
        ("newitemdescription[0]", "2 x D"), ("newitemamount[0]", "2.50"), ("newitemtaxed[0]", "0")]
    assert m.line_edits(current, same) == []


@pytest.mark.parametrize("lines, total, rate, whmcs_total", [
    ([("100.00", True)], "121.00", "21.000", "121.00"),
    ([("100.00", True), ("50.00", False)], "170.00", "20.000", "170.00"),
    ([("3.00", True)], "3.10", "3.333", "3.10"),
    ([("100.00", False)], "100.00", "0.000", "100.00"),
    ([("100.00", False)], "110.00", "0.000", "100.00"),   # a fee on no line: WHMCS cannot show it
    ([("100.00", True)], "90.00", "0.000", "100.00"),     # a discount on no line either
    ([("2000.00", True)], "2000.01", "0.001", "2000.02"),  # the nearest rate, and what it gives
])
def test_the_tax_rate_that_gives_the_source_total_and_what_whmcs_computes(lines, total, rate, whmcs_total):
    canonical = [{"description": "x", "quantity": 1, "unit_price": amount, "taxed": taxed} for amount, taxed in lines]
    assert m.invoice_tax(canonical, total) == (rate, whmcs_total)


def test_without_a_source_total_whmcs_applies_its_own_tax_rules():
    assert m.invoice_tax([{"description": "x", "quantity": 1, "unit_price": "100.00", "taxed": True}], None) is None


def test_unflatten_nests_bracket_keys_and_keeps_the_rest():
    data = m.unflatten({"result": "success", "a[b][0][c]": "1", "a[b][1][c]": "2", "x[y]": "z"})
    assert data == {"result": "success", "a": {"b": [{"c": "1"}, {"c": "2"}]}, "x": {"y": "z"}}


def test_client_params_clear_emptied_fields_and_leave_out_absent_ones():
    record = Record("client", "1", {"email": "a@b.example", "address2": None})
    assert m.client_params(record, record.fields) == {"email": "a@b.example", "address2": ""}


def test_guest_ticket_has_no_client():
    answer = {**example("getticket"), "userid": "0"}
    assert m.ticket_record(answer, LONDON).refs == {"client": None}


def test_stored_ticket_fields_touch_only_the_parts_they_are_given():
    bodies = {"messages": [{"body": "b"}, {"body": "a"}], "priority": "medium"}  # a peer carrying bodies only
    assert m.stored_ticket_fields(bodies) == bodies
    fields = {"priority": "urgent", "department": "sales", "created_at": None, "messages": [
        {"author": "x@example.org", "body": "first", "created_at": None},
        {"author": "", "body": "second", "created_at": "2025-01-01T10:00:00Z"}]}
    out = m.stored_ticket_fields({**fields, "created_at": "2025-01-01T09:00:00Z"}, {"sales": "Sales"}.get)
    assert (out["priority"], out["department"], out["created_at"]) == ("high", "Sales", "2025-01-01T09:00:00Z")
    assert [(x["author"], x["created_at"]) for x in out["messages"]] == [
        ("x@example.org", "2025-01-01T09:00:00Z"), ("hostsync", "2025-01-01T10:00:00Z")]
    assert fields["messages"][1]["author"] == ""  # the caller's record is left alone


def test_stored_lines_read_back_as_whmcs_keeps_them():
    lines = [{"description": "A", "quantity": "2", "unit_price": "1.25", "taxed": True},
             {"description": "B", "quantity": "0.5", "unit_price": "0.01", "taxed": False}]
    assert m.stored_lines(lines) == [
        {"description": "A", "quantity": Decimal(2), "unit_price": Decimal("1.25"), "taxed": True},
        {"description": "B", "quantity": Decimal("0.5"), "unit_price": Decimal("0.02"), "taxed": False}]  # 0.005 -> 0.01


def test_times_in_the_hour_summer_time_repeats_read_back_as_its_first_pass():
    amsterdam = m.zone("Europe/Amsterdam")
    assert m.stored_time("2025-10-26T01:30:00Z", amsterdam) == "2025-10-26T00:30:00Z"  # 02:30 CET reads as CEST
    assert m.stored_time("2025-10-26T00:30:00Z", amsterdam) == "2025-10-26T00:30:00Z"
    assert m.stored_time("2025-07-01T12:00:00Z", amsterdam) == "2025-07-01T12:00:00Z"
    fields = {"created_at": "2025-10-26T01:30:00Z",
              "messages": [{"author": "a@b.example", "body": "x", "created_at": "2025-10-26T01:30:00Z"}]}
    out = m.stored_ticket_fields(fields, tz=amsterdam)
    assert out["created_at"] == out["messages"][0]["created_at"] == "2025-10-26T00:30:00Z"
