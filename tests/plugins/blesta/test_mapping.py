"""Blesta <-> canonical mapping, one quirk at a time.

Blesta publishes no example responses for these methods (blesta-api.txt has only error bodies and
the ``invoices/add`` request, both used in the client and encoder tests), so the rows below are
built from the field lists FACTS.md §3.4 gives from Blesta's source (``getClients``, ``getInvoices``,
SupportManagerTickets): string-typed numbers, ``null`` for empty columns, UTC timestamps.
"""

from __future__ import annotations

from typing import Any

import pytest

from hostsync.model import normalise
from hostsync_blesta import mapping as m

UTC = m.zone("UTC")
NEW_YORK = m.zone("America/New_York")
BERLIN = m.zone("Europe/Berlin")

CLIENT_ROW = {  # clients/getList row: clients.* + id_code + primary contact + group
    "id": "17", "id_format": "{num}", "id_value": "1516", "id_code": "1516", "user_id": "22",
    "client_group_id": "1", "status": "active", "contact_id": "31", "first_name": "Grace", "last_name": "Okafor",
    "company": "Okafor Web Studio", "email": "Grace@Example.com", "address1": "350 5th Ave", "address2": "",
    "city": "New York", "state": "NY", "zip": "10001", "country": "US", "group_name": "General", "company_id": "1",
}
NUMBERS = [  # contacts/getNumbers: work, home, mobile order
    {"id": "8", "contact_id": "31", "number": "+1.2125550000", "type": "fax", "location": "work"},
    {"id": "9", "contact_id": "31", "number": "+1.2125550100", "type": "phone", "location": "work"},
    {"id": "10", "contact_id": "31", "number": "+1.9175550101", "type": "phone", "location": "mobile"},
]
INVOICE = {  # invoices/get
    "id": "12", "id_format": "{num}", "id_value": "1012", "id_code": "1012", "client_id": "17",
    "date_billed": "2025-02-28 23:00:00", "date_due": "2025-03-14 23:00:00", "date_closed": None,
    "date_autodebit": None, "status": "active", "previous_due": "0.0000", "currency": "EUR", "note_public": "",
    "note_private": "", "subtotal": "13.4900", "total": "13.4900", "paid": "0.0000", "due": "13.4900", "taxes": [],
    "line_items": [
        {"id": "41", "invoice_id": "12", "service_id": None, "description": "Line item #2", "qty": "2.0000",
         "amount": "3.7500", "order": "1", "taxes": [{"id": "1", "name": "VAT", "amount": "19.0000"}]},
        {"id": "40", "invoice_id": "12", "service_id": None, "description": "Line item #1", "qty": "1.0000",
         "amount": "5.9900", "order": "0", "taxes": []},
    ],
}
SERVICE = {  # services/get
    "id": "7", "parent_service_id": None, "pricing_id": "1", "client_id": "17", "status": "in_review",
    "date_added": "2024-03-01 00:00:00", "date_renews": "2026-03-01 00:00:00", "date_canceled": None,
    "fields": [{"key": "ns1", "value": "ns1.example.net", "serialized": "0", "encrypted": "0"},
               {"key": "domain", "value": "Bücher-Shop.DE", "serialized": "0", "encrypted": "0"}],
}
TICKET = {  # support_manager_tickets/get with replies (newest first)
    "id": "4", "code": "7123456", "department_id": "2", "staff_id": None, "service_id": None, "client_id": "17",
    "email": None, "summary": "Facture en double ?", "priority": "emergency", "status": "awaiting_reply",
    "date_added": "2025-01-20 10:00:00", "date_updated": "2025-01-20 11:00:00", "date_closed": None,
    "department_name": "Billing", "last_reply_date": "2025-01-20 11:00:00",
    "replies": [
        {"id": "12", "type": "log", "details": "Status changed", "date_added": "2025-01-20 11:30:00",
         "first_name": None, "last_name": None, "email": None},
        {"id": "11", "type": "reply", "details": "La seconde est un avoir.", "date_added": "2025-01-20 11:00:00",
         "first_name": "Bea", "last_name": "Billing", "email": "billing@hostco.example", "staff_id": "2"},
        {"id": "13", "type": "note", "details": "internal", "date_added": "2025-01-20 10:30:00",
         "first_name": "Sam", "last_name": "Support", "email": "support@hostco.example"},
        {"id": "10", "type": "reply", "details": "J'ai reçu deux factures.\r\n", "date_added": "2025-01-20 10:00:00",
         "first_name": "Amélie", "last_name": "Dubois", "email": None},
    ],
}


def test_client_from_a_list_row_with_numbers_and_state_name() -> None:
    record = m.client_record(CLIENT_ROW, NUMBERS, {"NY": "New York"})
    assert record.id == "17" and record.kind == "client"
    assert record.fields["phone"] == "+1.2125550100"  # the first phone, not the fax
    assert record.fields["state"] == "New York" and record.fields["postcode"] == "10001"
    assert record.fields["address2"] is None  # "" is empty
    canonical = normalise(record)
    assert canonical.fields["email"] == "grace@example.com" and canonical.fields["status"] == "active"


@pytest.mark.parametrize("vendor, canonical", [("active", "active"), ("inactive", "inactive"), ("fraud", "closed")])
def test_client_statuses(vendor: str, canonical: str) -> None:
    assert m.client_record({**CLIENT_ROW, "status": vendor}).fields["status"] == canonical


def test_closed_clients_are_written_inactive() -> None:
    assert m.CLIENT_STATUS_OUT == {"active": "active", "inactive": "inactive", "closed": "inactive"}


def test_numbers_may_be_false_or_missing() -> None:
    assert m.client_record(CLIENT_ROW, False).fields["phone"] is None
    assert m.client_record(CLIENT_ROW, None, None).fields["state"] == "NY"  # unknown table: the code as stored


@pytest.mark.parametrize("given, code", [("New York", "NY"), ("new  york", "NY"), ("NY", "NY"), ("ny", "NY"),
                                         ("Nowhere", None), (None, None), ("", None)])
def test_state_names_and_codes_become_codes(given: Any, code: str | None) -> None:
    assert m.state_code(given, {"New York": "NY", "California": "CA"}) == code


def test_state_codes_pass_when_blesta_knows_no_subdivisions() -> None:
    assert m.state_code("by", {}) == "BY"
    assert m.state_code("Bavaria", {}) is None


def test_contact_vars_only_for_the_fields_given() -> None:
    assert m.contact_vars({"first_name": "Zoë", "address2": None, "postcode": "94103"}, None) == {
        "first_name": "Zoë", "address2": "", "zip": "94103"}


@pytest.mark.parametrize("stamp, tz, day", [
    ("2025-02-28 23:00:00", BERLIN, "2025-03-01"), ("2025-03-01 05:00:00", NEW_YORK, "2025-03-01"),
    ("2025-03-01 00:00:00", UTC, "2025-03-01"), ("2025-03-01 03:00:00", NEW_YORK, "2025-02-28"),
    ("0000-00-00 00:00:00", UTC, None), ("", UTC, None), (None, UTC, None),
])
def test_dates_are_read_in_the_company_zone(stamp: Any, tz: Any, day: str | None) -> None:
    assert m.read_date(stamp, tz) == day


@pytest.mark.parametrize("day, tz, sent", [
    ("2025-03-01", NEW_YORK, "2025-03-01 00:00:00 -05:00"), ("2025-07-01", NEW_YORK, "2025-07-01 00:00:00 -04:00"),
    ("2025-03-01", BERLIN, "2025-03-01 00:00:00 +01:00"), ("2025-03-01", UTC, "2025-03-01 00:00:00 +00:00"),
    (None, UTC, None),
])
def test_dates_are_written_as_local_midnight_with_offset(day: Any, tz: Any, sent: str | None) -> None:
    assert m.write_date(day, tz) == sent


def test_invoice_with_lines_in_order() -> None:
    record = normalise(m.invoice_record(INVOICE, BERLIN))
    assert record.fields["number"] == "1012" and record.refs["client"] == "17"
    assert record.fields["issued_on"] == "2025-03-01" and record.fields["due_on"] == "2025-03-15"
    assert record.fields["lines"] == [
        {"description": "Line item #1", "quantity": "1", "unit_price": "5.99", "taxed": False},
        {"description": "Line item #2", "quantity": "2", "unit_price": "3.75", "taxed": True},
    ]
    assert record.fields["total"] == "13.49" and record.fields["status"] == "unpaid"
    assert record.fields["paid_on"] is None


@pytest.mark.parametrize("status, closed, canonical", [
    ("active", None, "unpaid"), ("active", "2025-03-02 10:00:00", "paid"), ("draft", None, "draft"),
    ("void", None, "cancelled"), ("proforma", None, "unpaid"), ("mystery", None, "mystery"),
])
def test_invoice_statuses(status: str, closed: str | None, canonical: str) -> None:
    assert m.invoice_status({"status": status, "date_closed": closed}) == canonical


def test_unknown_statuses_fail_normalisation_naming_the_field() -> None:
    from hostsync.model import InvalidValue

    with pytest.raises(InvalidValue, match="status"):
        normalise(m.invoice_record({**INVOICE, "status": "mystery"}, UTC))


def test_invoice_line_changes() -> None:
    rows = INVOICE["line_items"]
    same = [{"description": "Line item #1", "quantity": "1", "unit_price": "5.99"},
            {"description": "Line item #2", "quantity": "2.0", "unit_price": "3.750"}]
    assert m.line_changes(rows, same) is None
    changed = m.line_changes(rows, [same[0], {"description": "Line item #2 (renamed)", "quantity": "2",
                                              "unit_price": "3.75"},
                                    {"description": "New", "quantity": None, "unit_price": "1"}])
    assert changed == [
        {"id": "40", "description": "Line item #1", "qty": "1", "amount": "5.99", "tax": False},
        {"id": "41", "description": "Line item #2 (renamed)", "qty": "2", "amount": "3.75", "tax": True},
        {"description": "New", "qty": "1", "amount": "1", "tax": False},
    ]
    removed = m.line_changes(rows, [same[0]])
    assert removed[-1] == {"id": "41", "description": "", "amount": ""}  # Blesta deletes such a line


def test_domain_from_a_service() -> None:
    record = normalise(m.domain_record(SERVICE, UTC))
    assert record.fields == {"name": "xn--bcher-shop-9db.de", "status": "pending", "registered_on": "2024-03-01",
                             "expires_on": "2026-03-01"}
    assert record.refs == {"client": "17"}


def test_services_without_the_domain_field_are_not_domains() -> None:
    hosting = {**SERVICE, "fields": [{"key": "cpanel_domain", "value": "example.com"}]}
    assert m.domain_record(hosting, UTC) is None
    assert m.domain_record(hosting, UTC, domain_field="cpanel_domain") is not None


@pytest.mark.parametrize("vendor, canonical", [("active", "active"), ("canceled", "cancelled"),
                                               ("suspended", "suspended"), ("pending", "pending"),
                                               ("in_review", "pending"), ("scheduled_cancellation", "active")])
def test_domain_statuses(vendor: str, canonical: str) -> None:
    assert m.domain_record({**SERVICE, "status": vendor}, UTC).fields["status"] == canonical


def test_ticket_with_the_conversation_oldest_first_and_no_notes() -> None:
    record = normalise(m.ticket_record(TICKET))
    assert record.fields["status"] == "answered" and record.fields["priority"] == "urgent"
    assert record.fields["department"] == "Billing" and record.fields["subject"] == "Facture en double ?"
    assert record.fields["messages"] == [
        {"author": "Amélie Dubois", "body": "J'ai reçu deux factures.", "created_at": "2025-01-20T10:00:00Z"},
        {"author": "billing@hostco.example", "body": "La seconde est un avoir.", "created_at": "2025-01-20T11:00:00Z"},
    ]
    assert record.fields["created_at"] == "2025-01-20T10:00:00Z" and record.refs["client"] == "17"


def test_trashed_tickets_are_deleted() -> None:
    assert m.ticket_record({**TICKET, "status": "trash"}) is None


@pytest.mark.parametrize("vendor, canonical", [("open", "open"), ("awaiting_reply", "answered"),
                                               ("in_progress", "in_progress"), ("on_hold", "on_hold"),
                                               ("closed", "closed")])
def test_ticket_statuses_round_trip(vendor: str, canonical: str) -> None:
    assert m.ticket_record({**TICKET, "status": vendor}).fields["status"] == canonical
    assert m.TICKET_STATUS_OUT[canonical] == vendor


def test_lossy_ticket_vocabulary_is_explicit() -> None:
    assert m.TICKET_STATUS_OUT["customer_reply"] == "open"
    assert m.TICKET_PRIORITY_IN["critical"] == m.TICKET_PRIORITY_IN["emergency"] == "urgent"
    assert m.TICKET_PRIORITY_OUT["urgent"] == "critical"


def test_missing_messages_by_body_each_used_once() -> None:
    current = [{"body": "Hello"}, {"body": "Thanks"}]
    wanted = [{"body": "Hello"}, {"body": "Thanks"}, {"body": "Thanks"}, {"body": " Hello\r\n"}, {"body": "New"}]
    assert [msg["body"] for msg in m.missing_messages(current, wanted)] == ["Thanks", " Hello\r\n", "New"]
    assert m.missing_messages(current, current) == []


# -- what Blesta keeps (Connector.stored) -------------------------------------------------------

DE_STATES = {"Berlin": "BE", "Bayern": "BY"}


@pytest.mark.parametrize("given, kept", [
    ({"status": "closed"}, {"status": "inactive"}),
    ({"status": None}, {"status": "active"}),
    ({"status": "inactive", "city": "Köln"}, {"status": "inactive", "city": "Köln"}),
    ({"state": "BE", "country": "DE"}, {"state": "Berlin", "country": "DE"}),
    ({"state": "bayern", "country": "DE"}, {"state": "Bayern", "country": "DE"}),
    ({"state": "Atlantis", "country": "DE"}, {"state": None, "country": "DE"}),
    ({"state": None, "country": "DE"}, {"state": None, "country": "DE"}),
], ids=["closed", "no-status", "others-untouched", "code", "case", "unknown", "none"])
def test_client_stored(given: dict[str, Any], kept: dict[str, Any]) -> None:
    assert m.client_stored(given, DE_STATES) == kept


def test_client_state_is_left_alone_until_the_subdivisions_are_known() -> None:
    assert m.client_stored({"state": "BE", "country": "DE"}, None)["state"] == "BE"
    assert m.client_stored({"state": "Atlantis", "country": "DE"}, DE_STATES, "reject")["state"] == "Atlantis"
    assert m.client_stored({"state": "ny", "country": None}, {})["state"] == "NY"  # no table: the code as given


LINES = [{"description": "Hosting", "quantity": "2", "unit_price": "5.00"}]


@pytest.mark.parametrize("given, kept", [
    ({"status": "refunded"}, {"status": "cancelled"}),
    ({"status": None, "lines": LINES}, {"status": "unpaid", "lines": LINES}),
    ({"status": "unpaid", "lines": [{**LINES[0], "unit_price": "0.00"}]},
     {"status": "paid", "lines": [{**LINES[0], "unit_price": "0.00"}]}),
    ({"status": "unpaid", "lines": []}, {"status": "paid", "lines": []}),
    ({"status": "unpaid"}, {"status": "unpaid"}),
    ({"status": "draft", "lines": []}, {"status": "draft", "lines": []}),
    ({"lines": [{"description": "X", "quantity": None, "unit_price": None}]},
     {"lines": [{"description": "X", "quantity": "1", "unit_price": "0.00"}]}),
    ({"lines": [{"description": "X"}]}, {"lines": [{"description": "X"}]}),
    ({"currency": None}, {"currency": "EUR"}),
], ids=["refunded", "no-status", "zero-total", "no-lines", "total-unknown", "draft", "line-defaults",
        "parts-only", "currency"])
def test_invoice_stored(given: dict[str, Any], kept: dict[str, Any]) -> None:
    assert m.invoice_stored(given, "EUR") == kept


@pytest.mark.parametrize("given, kept", [("expired", "cancelled"), ("transferred", "cancelled"), (None, "active"),
                                         ("cancelled", "cancelled"), ("suspended", "suspended"),
                                         ("pending", "pending")])
def test_domain_stored(given: str | None, kept: str) -> None:
    assert m.domain_stored({"status": given, "name": "example.org"}) == {"status": kept, "name": "example.org"}


@pytest.mark.parametrize("given, kept", [
    ({"status": "customer_reply"}, {"status": "open"}),
    ({"status": None, "priority": None}, {"status": "open", "priority": "low"}),
    ({"status": "answered", "priority": "urgent"}, {"status": "answered", "priority": "urgent"}),
    ({"subject": "Help", "messages": [{"body": "Hi"}, {"body": None}, {"body": " "}]},
     {"subject": "Help", "messages": [{"body": "Hi"}]}),
    ({"subject": "Help", "messages": []}, {"subject": "Help", "messages": [{"body": "Help"}]}),
    ({"messages": [{"body": None}]}, {"messages": [{"body": "-"}]}),
], ids=["customer_reply", "defaults", "kept", "empty-bodies", "no-messages", "nothing-at-all"])
def test_ticket_stored(given: dict[str, Any], kept: dict[str, Any]) -> None:
    assert m.ticket_stored(given) == kept


def test_ticket_department_as_blesta_names_it() -> None:
    shown = {"billing": "Billing"}.get
    assert m.ticket_stored({"department": "billing"}, lambda name: shown(name, name)) == {"department": "Billing"}
    assert m.ticket_stored({"department": "billing"}) == {"department": "billing"}  # no table: as given
