"""The connector against the sandbox over loopback HTTP: every operation of every kind, the lossy
vocabularies, multi-step creates that fail half-way, and what is (not) sent."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import pytest

from hostsync import Record
from hostsync.errors import AuthError, NotFound, Rejected, Transient
from hostsync.model import normalise, project
from hostsync.sandbox import Fault
from hostsync_blesta import connector as connector_module
from hostsync_blesta.connector import BlestaConnector
from hostsync_blesta.sandbox import METHODS, REQUIRED, SM, BlestaSandbox

Connect = Callable[..., BlestaConnector]


def writes(box: BlestaSandbox) -> list[str]:
    return [entry["operation"] for entry in box.log if entry.get("write")]


def by_id(records: Any) -> dict[str, Record]:
    return {r.id: normalise(r) for r in records}


def client_record(email: str = "new.client@example.org", **fields: Any) -> Record:
    base = {"email": email, "first_name": "Ngozi", "last_name": "Adébáyọ̀", "company": "Lagos Hosting Ltd",
            "phone": "+234.8012345678", "address1": "1 Marina", "address2": None, "city": "Lagos", "state": None,
            "postcode": "101001", "country": "NG", "status": "active"}
    return Record("client", None, {**base, **fields})


# -- settings, check, declared operations ----------------------------------------------------

def test_check_proves_the_credentials(sandbox: BlestaSandbox, connect: Connect) -> None:
    connect(sandbox).check()
    with pytest.raises(AuthError):
        connect(sandbox, key="wrong-key").check()


def test_an_unknown_time_zone_is_a_config_error(sandbox: BlestaSandbox, connect: Connect) -> None:
    from hostsync.errors import ConfigError

    with pytest.raises(ConfigError, match="systems.blesta.timezone"):
        connect(sandbox, timezone="Mars/Olympus")


def test_what_listing_costs(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    """Calls per full read: rows carry no lines (invoices) and no phone (clients), so those cost one
    call per record, and clients one more for the origin marker (with origin_field set, as the
    sandbox's systems() do); domains and tickets come whole from their lists."""
    for kind, per_record in (("client", 2), ("invoice", 1), ("domain", 0), ("ticket", 0)):
        sandbox.reset_calls()
        n = sum(1 for _ in blesta.list(kind))
        lists = sum(v for k, v in sandbox.calls.items()
                    if k.endswith(("/getList", "/getListCount")) and not k.startswith("states/"))
        states = sandbox.calls["states/getList"]
        assert lists == 1 + -(-n // 20) and sum(sandbox.calls.values()) == lists + states + per_record * n, kind


def test_every_secret_setting_is_marked_secret() -> None:
    secret = {s.name for s in BlestaConnector.settings if s.secret}
    assert secret == {"key"}


def test_operations_follow_the_settings(sandbox: BlestaSandbox, connect: Connect) -> None:
    full = connect(sandbox)
    assert full.supports("domain", "create") and "department" not in full.kinds["ticket"].read_only
    bare = connect(sandbox, domain_pricing_id=None, ticket_departments=None)
    assert not bare.supports("domain", "create") and "department" in bare.kinds["ticket"].read_only
    with pytest.raises(Rejected, match="cannot create domain"):
        bare.create("domain", Record("domain", None, {"name": "x.example"}, {"client": "1"}))
    assert BlestaConnector.kinds["invoice"].read_only == {"number", "paid_on", "total"}
    assert "since" not in BlestaConnector.kinds["client"]


def test_config_validation_sees_the_same_operations(sandbox: BlestaSandbox) -> None:
    """``operations(options)`` is what config validation and the engine ask, before any instance."""
    options = sandbox.systems()["blesta"]
    full = BlestaConnector.operations(options)
    assert "create" in full["domain"] and "department" not in full["ticket"].read_only
    bare = BlestaConnector.operations({**options, "domain_pricing_id": None, "ticket_departments": {}})
    assert "create" not in bare["domain"] and "create" in bare["client"]
    assert "department" in bare["ticket"].read_only and "department" not in bare["ticket"].writable("ticket")


# -- clients --------------------------------------------------------------------------------

def test_list_clients_of_every_status(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    clients = by_id(blesta.list("client"))
    assert set(clients) == {str(i) for i in sandbox.blesta.t["clients"]}
    assert {c.fields["status"] for c in clients.values()} == {"active", "inactive", "closed"}
    with_phone = {str(n["contact_id"]) for n in sandbox.blesta.t["numbers"].values() if n["type"] == "phone"}
    assert {i for i, c in clients.items() if c.fields["phone"]} == with_phone
    assert any(c.fields["state"] == "New York" for c in clients.values())


def test_get_and_find_clients(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    some = normalise(blesta.get("client", "3"))
    assert some.fields["email"]
    assert blesta.get("client", "999") is None
    found = blesta.find("client", {"email": some.fields["email"].upper()})
    assert [r.id for r in found] == ["3"]
    assert blesta.find("client", {"email": "nobody@example.invalid"}) == []
    assert blesta.find("client", {"email": some.fields["email"][:5]}) == []  # partial matches are filtered


def test_create_client_with_defaults_from_settings(sandbox: BlestaSandbox, connect: Connect,
                                                   caplog: pytest.LogCaptureFixture,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="hostsync")
    monkeypatch.setattr(connector_module.secrets, "token_urlsafe", lambda n: "generated-Pa55word-xyz")
    blesta = connect(sandbox, currency="EUR", language="de_de", invoice_delivery="paper", client_group_id=2)
    new = blesta.create("client", client_record(state=None))
    client = sandbox.blesta.t["clients"][int(new)]
    user = sandbox.blesta.t["users"][client["user_id"]]
    assert user["username"] == "new.client@example.org" and client["client_group_id"] == 2
    assert client["settings"] == {"default_currency": "EUR", "language": "de_de", "username_type": "email",
                                  "inv_method": "paper"}
    assert normalise(blesta.get("client", new)).fields == normalise(client_record(state=None)).fields
    assert "generated-Pa55word-xyz" not in caplog.text and "new.client@example.org" not in caplog.text
    assert user["password"] != "generated-Pa55word-xyz"


def test_username_template_and_state_names(sandbox: BlestaSandbox, connect: Connect) -> None:
    blesta = connect(sandbox, username_template="{first_name}.{last_name}")
    new = blesta.create("client", client_record("z@example.us", first_name="Zoë", last_name="Van der Berg",
                                                country="US", state="California"))
    client = sandbox.blesta.t["clients"][int(new)]
    assert sandbox.blesta.t["users"][client["user_id"]]["username"] == "zo_.van.der.berg"
    assert sandbox.blesta.t["contacts"][client["contact_id"]]["state"] == "CA"
    assert normalise(blesta.get("client", new)).fields["state"] == "California"


def test_an_unknown_state_is_omitted_with_a_warning(sandbox: BlestaSandbox, blesta: BlestaConnector,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    new = blesta.create("client", client_record(country="US", state="Atlantis"))
    assert normalise(blesta.get("client", new)).fields["state"] is None
    assert "'Atlantis' is not a subdivision of US" in caplog.text
    blesta.update("client", new, client_record(country="US", state="New York"))
    assert normalise(blesta.get("client", new)).fields["state"] == "New York"
    blesta.update("client", new, client_record(country="US", state="Atlantis"))
    assert normalise(blesta.get("client", new)).fields["state"] is None  # cleared, not left stale


def test_an_unknown_state_is_rejected_when_configured(sandbox: BlestaSandbox, connect: Connect) -> None:
    strict = connect(sandbox, unknown_state="reject")
    sandbox.reset_calls()
    with pytest.raises(Rejected, match="state") as caught:
        strict.create("client", client_record(country="US", state="Atlantis"))
    assert caught.value.fields == {"state": "unknown subdivision"} and writes(sandbox) == []


def test_blesta_validation_comes_back_as_rejected_fields(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    with pytest.raises(Rejected) as caught:
        blesta.create("client", client_record(first_name=None))
    assert "first_name" in caught.value.fields


def test_update_client_contact_phone_and_status(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    before = normalise(blesta.get("client", "6"))
    wanted = Record("client", "6", {**before.fields, "last_name": "Nuevo-Apellido", "city": "Zürich",
                                    "phone": "+41.441234567", "status": "inactive"})
    sandbox.reset_calls()
    blesta.update("client", "6", wanted)
    assert writes(sandbox) == ["contacts/edit", "clients/edit"]
    after = normalise(blesta.get("client", "6"))
    assert after.fields == normalise(wanted).fields
    fax = [n for n in sandbox.blesta.t["numbers"].values() if n["contact_id"] == 6 and n["type"] == "fax"]
    assert len(fax) == len([n for n in sandbox.dump()["numbers"] if n["contact_id"] == 6 and n["type"] == "fax"])
    sandbox.reset_calls()
    blesta.update("client", "6", wanted)
    assert writes(sandbox) == []  # nothing differs, nothing is sent


def test_removing_a_phone_and_moving_country(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    record = next(r for r in map(normalise, blesta.list("client")) if r.fields["phone"] and r.fields["state"])
    wanted = Record("client", record.id, {**record.fields, "phone": None, "country": "DE", "state": "Berlin"})
    blesta.update("client", record.id, wanted)
    assert normalise(blesta.get("client", record.id)).fields == normalise(wanted).fields


def test_lossy_client_status_never_overwrites_an_equivalent(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    fraud = next(str(c["id"]) for c in sandbox.blesta.t["clients"].values() if c["status"] == "fraud")
    current = normalise(blesta.get("client", fraud))
    assert current.fields["status"] == "closed"
    sandbox.reset_calls()
    blesta.update("client", fraud, current)
    assert writes(sandbox) == [] and sandbox.blesta.t["clients"][int(fraud)]["status"] == "fraud"


def test_update_or_delete_an_unknown_client(blesta: BlestaConnector) -> None:
    with pytest.raises(NotFound):
        blesta.update("client", "999", client_record())
    with pytest.raises(NotFound):
        blesta.delete("client", "999")


def test_delete_client_deactivates(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    blesta.delete("client", "1")
    assert sandbox.blesta.t["clients"][1]["status"] == "inactive"


def test_parallel_creates(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(lambda n: blesta.create("client", client_record(f"parallel{n}@example.org")), range(8)))
    assert len(set(ids)) == 8
    assert {normalise(blesta.get("client", i)).fields["email"] for i in ids} == {
        f"parallel{n}@example.org" for n in range(8)}


# -- invoices -------------------------------------------------------------------------------

def invoice_record(client: str = "2", **fields: Any) -> Record:
    base = {"issued_on": "2025-03-01", "due_on": "2025-03-15", "status": "unpaid", "currency": "USD",
            "lines": [{"description": "Hosting — März", "quantity": "1", "unit_price": "9.99", "taxed": False},
                      {"description": "Backups", "quantity": "3", "unit_price": "1.50", "taxed": False}]}
    return Record("invoice", None, {**base, **fields}, {"client": client})


def test_list_invoices_of_every_status(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    invoices = by_id(blesta.list("invoice"))
    assert set(invoices) == {str(i) for i in sandbox.blesta.t["invoices"]}
    assert {r.fields["status"] for r in invoices.values()} >= {"paid", "unpaid", "draft", "cancelled"}
    paid = [r for r in invoices.values() if r.fields["status"] == "paid"]
    assert all(r.fields["paid_on"] for r in paid)
    assert all(r.fields["lines"] for r in invoices.values())


def test_create_and_read_back_an_invoice(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    new = blesta.create("invoice", invoice_record())
    record = normalise(blesta.get("invoice", new))
    assert record.fields["total"] == "14.49" and record.fields["number"]
    assert {k: record.fields[k] for k in ("issued_on", "due_on", "status", "currency", "lines")} == {
        k: normalise(invoice_record()).fields[k] for k in ("issued_on", "due_on", "status", "currency", "lines")}
    assert sandbox.blesta.t["invoices"][int(new)]["delivery"] == ["email"]


def test_dates_do_not_shift_in_a_company_east_of_utc(sandbox: BlestaSandbox, connect: Connect) -> None:
    sandbox.blesta.config["timezone"] = "Europe/Berlin"
    blesta = connect(sandbox, timezone="Europe/Berlin")
    new = blesta.create("invoice", invoice_record())
    assert sandbox.blesta.t["invoices"][int(new)]["date_billed"] == "2025-02-28 23:00:00"
    assert normalise(blesta.get("invoice", new)).fields["issued_on"] == "2025-03-01"


def test_create_paid_invoice_records_a_payment(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    new = blesta.create("invoice", invoice_record(status="paid"))
    record = normalise(blesta.get("invoice", new))
    assert record.fields["status"] == "paid" and record.fields["paid_on"]
    payments = [t for t in sandbox.blesta.t["transactions"].values() if t["transaction_id"] == f"hostsync-invoice-{new}-14.49"]
    assert len(payments) == 1 and payments[0]["applied"] == [{"invoice_id": int(new), "amount": "14.4900"}]


@pytest.mark.parametrize("status, vendor", [("draft", "draft"), ("cancelled", "void"), ("refunded", "void")])
def test_create_invoice_statuses(sandbox: BlestaSandbox, blesta: BlestaConnector, status: str, vendor: str) -> None:
    new = blesta.create("invoice", invoice_record(status=status))
    assert sandbox.blesta.t["invoices"][int(new)]["status"] == vendor


def test_a_payment_that_fails_after_the_invoice_is_added_may_have_applied(sandbox: BlestaSandbox,
                                                                          blesta: BlestaConnector) -> None:
    sandbox.inject(Fault("error", match="transactions/apply", status=503, body='{"message":"maintenance"}',
                         content_type="application/json"))
    with pytest.raises(Transient) as caught:
        blesta.create("invoice", invoice_record(status="paid"))
    assert caught.value.may_have_applied
    found = blesta.find("invoice", {"client": "2", "issued_on": "2025-03-01", "due_on": "2025-03-15",
                                    "total": "14.49"})
    assert len(found) == 1 and normalise(found[0]).fields["status"] == "unpaid"
    blesta.update("invoice", found[0].id, invoice_record(status="paid"))
    assert normalise(blesta.get("invoice", found[0].id)).fields["status"] == "paid"
    payments = [t for t in sandbox.blesta.t["transactions"].values() if t["transaction_id"].startswith("hostsync-")]
    assert len(payments) == 1  # the unapplied payment was reused, not recorded twice


def test_a_lost_reply_on_the_payment_does_not_pay_twice(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    new = blesta.create("invoice", invoice_record())
    sandbox.inject(Fault("lost_reply", match="transactions/apply"))
    with pytest.raises(Transient):
        blesta.update("invoice", new, invoice_record(status="paid"))
    blesta.update("invoice", new, invoice_record(status="paid"))  # the engine retries
    hostsync_payments = [t for t in sandbox.blesta.t["transactions"].values()
                         if (t["transaction_id"] or "").startswith("hostsync-")]
    assert len(hostsync_payments) == 1 and normalise(blesta.get("invoice", new)).fields["status"] == "paid"


def test_update_invoice_lines_edit_add_remove(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    new = blesta.create("invoice", invoice_record())
    lines = [{"description": "Hosting — März (corrected)", "quantity": "1", "unit_price": "8.99", "taxed": False},
             {"description": "Domain", "quantity": "1", "unit_price": "12.00", "taxed": False},
             {"description": "SSL", "quantity": "1", "unit_price": "5.00", "taxed": False}]
    blesta.update("invoice", new, invoice_record(lines=lines, due_on="2025-03-31"))
    record = normalise(blesta.get("invoice", new))
    assert [l["description"] for l in record.fields["lines"]] == [l["description"] for l in lines]
    assert record.fields["total"] == "25.99" and record.fields["due_on"] == "2025-03-31"
    blesta.update("invoice", new, invoice_record(lines=lines[:1]))
    assert [l["description"] for l in normalise(blesta.get("invoice", new)).fields["lines"]] == [lines[0]["description"]]
    assert len(sandbox.blesta.t["invoices"][int(new)]["lines"]) == 1
    sandbox.reset_calls()
    blesta.update("invoice", new, invoice_record(lines=lines[:1]))
    assert writes(sandbox) == []


def test_invoice_status_changes(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    new = blesta.create("invoice", invoice_record(status="draft"))
    blesta.update("invoice", new, invoice_record(status="unpaid"))
    assert normalise(blesta.get("invoice", new)).fields["number"].isdigit()
    blesta.update("invoice", new, invoice_record(status="paid"))
    assert normalise(blesta.get("invoice", new)).fields["status"] == "paid"
    with pytest.raises(Rejected, match="paid invoice unpaid"):
        blesta.update("invoice", new, invoice_record(status="unpaid"))
    with pytest.raises(Rejected, match="draft"):
        blesta.update("invoice", new, invoice_record(status="draft"))
    other = blesta.create("invoice", invoice_record())
    blesta.update("invoice", other, invoice_record(status="refunded"))
    assert normalise(blesta.get("invoice", other)).fields["status"] == "cancelled"
    sandbox.reset_calls()
    blesta.update("invoice", other, invoice_record(status="refunded"))  # lossy, already void: no write
    assert writes(sandbox) == []


def test_find_invoices_by_number_and_identity(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    some = normalise(blesta.get("invoice", "3"))
    assert [r.id for r in blesta.find("invoice", {"number": some.fields["number"]})] == ["3"]
    key = {"client": some.refs["client"], "issued_on": some.fields["issued_on"], "due_on": some.fields["due_on"],
           "total": some.fields["total"]}
    assert "3" in [r.id for r in blesta.find("invoice", key)]
    assert blesta.find("invoice", {**key, "total": "0.01"}) == []


def test_delete_invoices(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    draft = blesta.create("invoice", invoice_record(status="draft"))
    issued = blesta.create("invoice", invoice_record())
    blesta.delete("invoice", draft)
    blesta.delete("invoice", issued)
    assert int(draft) not in sandbox.blesta.t["invoices"]
    assert sandbox.blesta.t["invoices"][int(issued)]["status"] == "void"
    with pytest.raises(NotFound):
        blesta.delete("invoice", draft)


def test_an_invoice_needs_its_client(blesta: BlestaConnector) -> None:
    with pytest.raises(Rejected):
        blesta.create("invoice", Record("invoice", None, invoice_record().fields, {"client": None}))


# -- domains --------------------------------------------------------------------------------

def test_list_domains_only_and_of_every_status(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    domains = by_id(blesta.list("domain"))
    expected = {str(s["id"]) for s in sandbox.blesta.t["services"].values() if s["pricing_id"] == 1}
    assert set(domains) == expected
    assert {d.fields["status"] for d in domains.values()} >= {"active", "cancelled", "suspended", "pending"}
    assert "xn--bcher-shop-9db.de" in {d.fields["name"] for d in domains.values()}
    hosting = next(str(s["id"]) for s in sandbox.blesta.t["services"].values() if s["pricing_id"] == 2)
    assert blesta.get("domain", hosting) is None


def test_find_domain_by_name(blesta: BlestaConnector) -> None:
    found = blesta.find("domain", {"name": "Bücher-Shop.de"})
    assert len(found) == 1 and normalise(found[0]).fields["name"] == "xn--bcher-shop-9db.de"
    assert blesta.find("domain", {"name": "shop.de"}) == []


def test_create_domain_where_a_package_allows_it(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    record = Record("domain", None, {"name": "neu-domain.de", "status": "active", "registered_on": "2025-01-10",
                                     "expires_on": "2026-01-10"}, {"client": "4"})
    new = blesta.create("domain", record)
    assert normalise(blesta.get("domain", new)).fields == normalise(record).fields
    assert normalise(blesta.get("domain", new)).refs == {"client": "4"}


def test_update_domain_expiry_client_and_status(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    active = next(r for r in map(normalise, blesta.list("domain")) if r.fields["status"] == "active")
    steps = ["suspended", "active", "cancelled", "active", "pending"]
    for status in steps:
        wanted = Record("domain", active.id, {**active.fields, "status": status, "expires_on": "2030-05-05"},
                        {"client": "5"})
        blesta.update("domain", active.id, wanted)
        assert normalise(blesta.get("domain", active.id)).fields["status"] == status
    record = normalise(blesta.get("domain", active.id))
    assert record.fields["expires_on"] == "2030-05-05" and record.refs == {"client": "5"}
    sandbox.reset_calls()
    blesta.update("domain", active.id, record)
    assert writes(sandbox) == []


def test_expired_is_written_as_cancelled_once(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    cancelled = next(r for r in map(normalise, blesta.list("domain")) if r.fields["status"] == "cancelled")
    sandbox.reset_calls()
    blesta.update("domain", cancelled.id, Record("domain", cancelled.id, {**cancelled.fields, "status": "expired"},
                                                  dict(cancelled.refs)))
    assert writes(sandbox) == []


# -- tickets --------------------------------------------------------------------------------

def ticket_record(client: str = "3", **fields: Any) -> Record:
    base = {"subject": "Mailbox quota — Überlauf", "status": "open", "priority": "high", "department": "Billing",
            "messages": [{"author": None, "body": "Our mailbox is full.\nCan you raise the quota?", "created_at": None},
                         {"author": "support@hostco.example", "body": "Raised to 10 GB.", "created_at": None}]}
    return Record("ticket", None, {**base, **fields}, {"client": client})


def test_list_tickets_skips_trash_and_has_conversations(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    tickets = by_id(blesta.list("ticket"))
    trash = {str(t["id"]) for t in sandbox.blesta.t["tickets"].values() if t["status"] == "trash"}
    replied = {r["ticket_id"] for r in sandbox.blesta.t["replies"].values() if r["type"] == "reply"}
    orphans = {str(t["id"]) for t in sandbox.blesta.t["tickets"].values() if t["id"] not in replied}
    assert trash and orphans and not (set(tickets) & (trash | orphans))
    assert set(tickets) == {str(t) for t in sandbox.blesta.t["tickets"]} - trash - orphans
    assert any(t.refs["client"] is None for t in tickets.values())  # an e-mail ticket
    bodies = {m["body"] for t in tickets.values() for m in t.fields["messages"]}
    assert "Internal: check with the NOC." not in bodies and "Priority changed to high." not in bodies


def test_create_ticket_with_its_conversation(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    new = blesta.create("ticket", ticket_record())
    record = normalise(blesta.get("ticket", new))
    assert record.fields["subject"] == "Mailbox quota — Überlauf" and record.fields["department"] == "Billing"
    assert [m["body"] for m in record.fields["messages"]] == ["Our mailbox is full.\nCan you raise the quota?",
                                                              "Raised to 10 GB."]
    assert [m["author"] for m in record.fields["messages"]][1] == "support@hostco.example"  # posted as staff
    assert new in {r.id for r in blesta.list("ticket")}
    assert sandbox.blesta.t["tickets"][int(new)]["priority"] == "high"


def test_a_lost_opening_reply_leaves_an_invisible_ticket_that_find_recovers(sandbox: BlestaSandbox,
                                                                            blesta: BlestaConnector,
                                                                            connect: Connect) -> None:
    sandbox.inject(Fault("lost_reply", match=f"{SM}/addReply", applied=False, times=2))  # the re-post too
    with pytest.raises(Transient) as caught:
        blesta.create("ticket", ticket_record())
    assert caught.value.may_have_applied
    orphan = max(sandbox.blesta.t["tickets"])
    assert str(orphan) not in {r.id for r in blesta.list("ticket")}  # Blesta hides it
    for finder in (blesta, connect(sandbox)):  # this process, and a fresh one after a crash
        found = finder.find("ticket", {"client": "3", "subject": "Mailbox quota — Überlauf"})
        assert [r.id for r in found] == [str(orphan)]
    blesta.update("ticket", str(orphan), ticket_record())
    record = normalise(blesta.get("ticket", str(orphan)))
    assert len(record.fields["messages"]) == 2
    assert str(orphan) in {r.id for r in blesta.list("ticket")}
    assert sum(1 for t in sandbox.blesta.t["tickets"].values() if t["summary"] == "Mailbox quota — Überlauf") == 1


def test_update_ticket_fields_and_append_messages(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    new = blesta.create("ticket", ticket_record())
    more = ticket_record(status="answered", priority="urgent", subject="Quota raised",
                         department="Technical Support",
                         messages=ticket_record().fields["messages"] + [
                             {"author": None, "body": "Thanks, works now!", "created_at": None}])
    blesta.update("ticket", new, more)
    record = normalise(blesta.get("ticket", new))
    assert (record.fields["status"], record.fields["priority"], record.fields["subject"],
            record.fields["department"]) == ("answered", "urgent", "Quota raised", "Technical Support")
    assert [m["body"] for m in record.fields["messages"]][-1] == "Thanks, works now!"
    assert len(record.fields["messages"]) == 3
    assert sandbox.blesta.t["tickets"][int(new)]["priority"] == "critical"
    sandbox.reset_calls()
    blesta.update("ticket", new, more)
    assert writes(sandbox) == []


def test_emergency_is_not_downgraded_to_critical(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    emergency = next(str(t["id"]) for t in sandbox.blesta.t["tickets"].values() if t["priority"] == "emergency")
    current = normalise(blesta.get("ticket", emergency))
    sandbox.reset_calls()
    blesta.update("ticket", emergency, current)
    assert writes(sandbox) == [] and sandbox.blesta.t["tickets"][int(emergency)]["priority"] == "emergency"


def test_delete_ticket_moves_it_to_the_trash(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    blesta.delete("ticket", "1")
    assert sandbox.blesta.t["tickets"][1]["status"] == "trash"
    assert blesta.get("ticket", "1") is None and "1" not in {r.id for r in blesta.list("ticket")}
    with pytest.raises(NotFound):
        blesta.update("ticket", "1", ticket_record())


def test_tickets_need_a_department_and_staff_for_staff_messages(sandbox: BlestaSandbox, connect: Connect) -> None:
    bare = connect(sandbox, ticket_department_id=None, ticket_departments=None, staff_id=None)
    sandbox.reset_calls()
    with pytest.raises(Rejected, match="no support department named 'Sales' and ticket_department_id is not set"):
        bare.create("ticket", ticket_record(department="Sales"))
    no_staff = connect(sandbox, staff_id=None)
    with pytest.raises(Rejected, match="staff_id"):
        no_staff.create("ticket", ticket_record())
    assert writes(sandbox) == []


def test_email_tickets_without_a_client(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    record = ticket_record(messages=[{"author": "prospect@example.net", "body": "Do you sell .ch?", "created_at": None}])
    new = blesta.create("ticket", Record("ticket", None, record.fields, {"client": None}))
    got = normalise(blesta.get("ticket", new))
    assert got.refs["client"] is None and got.fields["messages"][0]["author"] == "prospect@example.net"


# -- what goes over the wire ----------------------------------------------------------------

def exercise(box: BlestaSandbox, blesta: BlestaConnector) -> None:
    for kind in ("client", "invoice", "domain", "ticket"):
        for record in list(blesta.list(kind))[:2]:
            blesta.get(kind, record.id)
            blesta.update(kind, record.id, normalise(record))
    blesta.create("client", client_record("wire@example.org", country="US", state="NY"))
    blesta.update("client", "4", client_record("wire4@example.org", phone="+1.555"))
    invoice = blesta.create("invoice", invoice_record(status="paid"))
    blesta.update("invoice", invoice, invoice_record(status="cancelled", lines=[]))
    blesta.delete("invoice", blesta.create("invoice", invoice_record(status="draft")))
    domain = blesta.create("domain", Record("domain", None, {"name": "wire.example", "status": "active"}, {"client": "1"}))
    for status in ("suspended", "active", "cancelled", "active"):
        blesta.update("domain", domain, Record("domain", domain, {"name": "wire2.example", "status": status},
                                               {"client": "1"}))
    ticket = blesta.create("ticket", ticket_record())
    blesta.update("ticket", ticket, ticket_record(status="closed"))
    blesta.find("ticket", {"client": "3", "subject": "x"})
    blesta.find("client", {"email": "wire@example.org"})
    blesta.find("invoice", {"number": "1001"})
    blesta.find("domain", {"name": "wire2.example"})
    blesta.delete("ticket", ticket)
    blesta.delete("client", "2")


def test_every_argument_with_a_value_is_sent(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    """Blesta 500s on an argument it cannot default (IonCube): send all but null/empty-array defaults,
    which a form cannot express."""
    exercise(sandbox, blesta)
    called = set()
    for entry in sandbox.log:
        model, _, method = entry["operation"].rpartition("/")
        signature, _ = METHODS[(model, method)]
        missing = [p.name for p in signature if p.name not in entry["args"]
                   and (p.default is REQUIRED or p.default not in (None, [], {}))]
        assert missing == [], entry["operation"]
        assert entry["status"] == 200, entry
        called.add(entry["operation"])
    assert len(called) >= 30


def test_no_secret_in_logs_or_errors(sandbox: BlestaSandbox, connect: Connect,
                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="hostsync")
    caplog.set_level(logging.DEBUG, logger="hostsync.vendor")  # the core's line of each request (-vv)
    messages = []
    wrong = connect(sandbox, key="wrong-Secret-KEY-0815")
    for call in (lambda: wrong.check(), lambda: list(wrong.list("client")),
                 lambda: wrong.create("client", client_record())):
        with pytest.raises(AuthError) as caught:
            call()
        messages.append(str(caught.value))
    blesta = connect(sandbox)
    exercise(sandbox, blesta)
    sandbox.inject(Fault("error", status=500, body='{"message":"x","response":"Internal error: key=' + sandbox.KEY + '"}',
                         content_type="application/json"))
    with pytest.raises(Transient) as caught:
        blesta.check()
    messages.append(str(caught.value))
    assert "clients/create.json" in caplog.text  # debug logs were captured
    text = caplog.text + "\n".join(messages)
    for secret in ("wrong-Secret-KEY-0815", sandbox.KEY):
        assert secret not in text


def test_an_unclear_reply_failure_is_checked_and_the_rest_posted_once(sandbox: BlestaSandbox,
                                                                     blesta: BlestaConnector) -> None:
    sandbox.inject(Fault("lost_reply", match=f"{SM}/addReply", applied=False))
    new = blesta.create("ticket", ticket_record())
    assert [m["body"] for m in normalise(blesta.get("ticket", new)).fields["messages"]] == [
        m["body"] for m in ticket_record().fields["messages"]]
    assert sandbox.calls[f"{SM}/addReply"] == 3  # lost, re-posted after a look, then the second message


def test_a_lost_reply_that_did_post_the_messages_is_no_failure(sandbox: BlestaSandbox,
                                                               blesta: BlestaConnector) -> None:
    sandbox.inject(Fault("lost_reply", match=f"{SM}/addReply"))  # applied, answer lost
    new = blesta.create("ticket", ticket_record(messages=ticket_record().fields["messages"][:1]))
    assert len(normalise(blesta.get("ticket", new)).fields["messages"]) == 1
    sandbox.inject(Fault("lost_reply", match="transactions/apply"))
    invoice = blesta.create("invoice", invoice_record(status="paid"))
    assert normalise(blesta.get("invoice", invoice)).fields["status"] == "paid"


# -- what Blesta keeps: stored() predicts what get() reads back ---------------------------------

def _domain(**fields: Any) -> Record:
    return Record("domain", None, {"name": "stored-check.de", "status": "active", "registered_on": "2025-01-10",
                                   "expires_on": "2026-01-10", **fields}, {"client": "4"})


#: (a base record to update, the lossy record written, modes it is predictable in)
KEPT = {
    "client-closed-and-state-code": (client_record(), client_record(status="closed", country="DE", state="be"),
                                     ("create", "update")),
    "client-unknown-state": (client_record(), client_record(country="DE", state="Atlantis"), ("create", "update")),
    "client-no-status": (client_record(), client_record(status=None), ("create", "update")),
    "invoice-refunded": (invoice_record(), invoice_record(status="refunded"), ("create", "update")),
    "invoice-zero-total": (invoice_record(), invoice_record(lines=[
        {"description": "Free month", "quantity": None, "unit_price": "0", "taxed": False}]), ("create", "update")),
    "invoice-no-currency": (invoice_record(), invoice_record(currency=None), ("create",)),
    "domain-expired": (_domain(), _domain(status="expired"), ("create", "update")),
    "domain-transferred": (_domain(), _domain(status="transferred"), ("create", "update")),
    "ticket-customer-reply": (ticket_record(), ticket_record(status="customer_reply", priority="urgent",
                                                             department="billing"), ("create", "update")),
    "ticket-unmapped-department": (ticket_record(), ticket_record(department="Sales", priority=None),
                                   ("create", "update")),
    "ticket-empty-bodies": (ticket_record(), ticket_record(messages=ticket_record().fields["messages"] + [
        {"author": None, "body": " ", "created_at": None}]), ("create", "update")),
    "ticket-no-messages": (ticket_record(), ticket_record(messages=[]), ("create",)),
}


def _written(blesta: BlestaConnector, record: Record) -> Record:
    """The record as the engine hands it over: normalised, only the fields Blesta sets."""
    full = normalise(record)
    top = {name.split(".", 1)[0] for name in blesta.kinds[record.kind].writable(record.kind)}
    return Record(record.kind, None, {k: v for k, v in full.fields.items() if k in top and k in record.fields},
                  {k: v for k, v in full.refs.items() if k in top})


@pytest.mark.parametrize("case, mode", [(case, mode) for case, (_, _, modes) in KEPT.items() for mode in modes])
def test_stored_is_what_blesta_reads_back(sandbox: BlestaSandbox, blesta: BlestaConnector, case: str,
                                          mode: str) -> None:
    """Only-create cases: an update keeps the invoice's currency and the ticket's replies as they were."""
    base, lossy, _ = KEPT[case]
    kind = lossy.kind
    wanted = _written(blesta, lossy)
    if mode == "create":
        id = blesta.create(kind, wanted)
    else:
        id = blesta.create(kind, _written(blesta, base))
        blesta.update(kind, id, wanted)
    back = normalise(blesta.get(kind, id))
    predicted = blesta.stored(kind, wanted)
    names = blesta.kinds[kind].writable(kind)
    assert project(Record(kind, id, {**back.fields, **predicted.fields}, back.refs), names) == project(back, names)
    assert predicted.fields != wanted.fields  # each case is lossy: the prediction is not the identity


def test_stored_leaves_a_state_alone_until_its_subdivisions_were_read(sandbox: BlestaSandbox,
                                                                      blesta: BlestaConnector) -> None:
    """stored() never calls Blesta (it runs while planning, also for a held system)."""
    record = _written(blesta, client_record(country="DE", state="be"))
    sandbox.reset_calls()
    assert blesta.stored("client", record).fields["state"] == "be"
    assert sum(sandbox.calls.values()) == 0
    list(blesta.list("client"))  # reading the clients (some in Germany) learns its subdivisions
    assert blesta.stored("client", record).fields["state"] == "Berlin"


def test_an_unmapped_department_goes_where_creates_put_it(sandbox: BlestaSandbox, blesta: BlestaConnector) -> None:
    new = blesta.create("ticket", ticket_record(department="Billing"))
    blesta.update("ticket", new, ticket_record(department="Sales"))
    assert sandbox.blesta.t["tickets"][int(new)]["department_id"] == blesta.opts["ticket_department_id"]
    sandbox.reset_calls()
    blesta.update("ticket", new, ticket_record(department="Sales"))
    assert writes(sandbox) == []
