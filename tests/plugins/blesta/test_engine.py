"""Blesta through the engine and the real CLI (``hostsync plan``/``sync``), against the sandbox on loopback.

The other side is the in-memory test vendor (tests/support/plugins/memory.py), so every record the
engine sees on that side is exactly what the test put there.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from hostsync.connector import Operations
from hostsync.sandbox import Fault
from hostsync_blesta.connector import BlestaConnector
from hostsync_blesta.sandbox import SM, BlestaSandbox

CLIENT = {"email": "ann.lee@example.org", "first_name": "Ann", "last_name": "Lée", "company": "Acme GmbH",
          "phone": "+49.301234", "address1": "Hauptstr. 1", "address2": "2. OG", "city": "Berlin",
          "state": "Berlin", "postcode": "10115", "country": "DE", "status": "active"}


def client(n: int, **changes: Any) -> dict[str, Any]:
    return {**CLIENT, "email": f"c{n}@example.org", "first_name": f"Client {n}", **changes}


def invoice(**changes: Any) -> dict[str, Any]:
    return {"number": "INV-1", "issued_on": "2026-03-01", "due_on": "2026-03-15", "status": "unpaid",
            "currency": "USD", "total": "27.00",
            "lines": [{"description": "Hosting", "quantity": "2", "unit_price": "12", "taxed": False},
                      {"description": "Backups", "quantity": "1", "unit_price": "3", "taxed": False}], **changes}


def ticket(**changes: Any) -> dict[str, Any]:
    return {"subject": "Mail bounces", "status": "open", "priority": "high", "department": "Technical Support",
            "messages": [{"author": "c1@example.org", "body": "Our mail bounces since Monday.",
                          "created_at": "2026-03-02T09:00:00Z"},
                         {"author": "Sam Support", "body": "Looking into it.", "created_at": "2026-03-02T10:00:00Z"}],
            "created_at": "2026-03-02T09:00:00Z", **changes}


def writes(box: BlestaSandbox) -> list[str]:
    return [entry["operation"] for entry in box.log if entry.get("write")]


def counts(result: Any) -> dict[str, int]:
    assert result.exit_code in (0, 1), result.output
    body = result.json()
    return {job["job"]: job["counts"] for job in (body if isinstance(body, list) else [body])}


def of(result: Any, job: str) -> dict[str, int]:
    return counts(result)[job]


@pytest.fixture
def blesta(empty_sandbox: BlestaSandbox, project: Any) -> BlestaSandbox:
    project.system("blesta", **empty_sandbox.systems()["blesta"], timeout=2.0)
    return empty_sandbox


@pytest.fixture
def billing(project: Any, memory: Any) -> Any:
    project.system("billing", plugin="memory", vendor="billing")
    return memory.vendor("billing")


def clients_of(box: BlestaSandbox) -> dict[str, dict[str, Any]]:
    """Blesta's clients by e-mail, as its primary contacts hold them."""
    return {box.blesta.t["contacts"][c["contact_id"]]["email"]: box.blesta.t["contacts"][c["contact_id"]]
            for c in box.blesta.t["clients"].values()}


# -- clients --------------------------------------------------------------------------------

def test_clients_created_then_a_rerun_writes_nothing(project: Any, billing: Any, blesta: BlestaSandbox) -> None:
    project.job("clients", kind="client", source="billing", targets=["blesta"])
    for n in range(3):
        billing.put("client", client(n))
    first = project.cli("sync", "clients", "--json")
    assert first.exit_code == 0, first.output
    assert of(first, "clients")["created"] == 3
    stored = clients_of(blesta)
    assert set(stored) == {f"c{n}@example.org" for n in range(3)}
    assert stored["c1@example.org"]["state"] == "BE" and stored["c1@example.org"]["last_name"] == "Lée"
    blesta.reset_calls()
    second = project.cli("sync", "clients", "--json")
    assert second.exit_code == 0 and of(second, "clients")["unchanged"] == 3
    assert writes(blesta) == [] and not any(op.endswith("/create") for op in blesta.calls)


def test_plan_shows_the_changes_and_writes_nothing(project: Any, billing: Any, blesta: BlestaSandbox) -> None:
    project.job("clients", kind="client", source="billing", targets=["blesta"])
    billing.put("client", client(1))
    planned = project.cli("plan", "clients", "--json")
    assert planned.exit_code == 0, planned.output
    assert of(planned, "clients")["created"] == 1
    assert writes(blesta) == [] and not blesta.blesta.t["clients"]
    project.cli("sync", "clients")
    billing.edit("client", "1", city="Potsdam")
    blesta.reset_calls()
    planned = project.cli("plan", "clients", "--json")
    assert of(planned, "clients")["updated"] == 1 and writes(blesta) == []
    (action,) = planned.json()["actions"]
    assert action["op"] == "update" and action["changes"] == {"city": {"old": "Berlin", "new": "Potsdam"}}
    assert clients_of(blesta)["c1@example.org"]["city"] == "Berlin"


def test_adopts_a_client_by_email_and_updates_what_differs(project: Any, billing: Any, blesta: BlestaSandbox,
                                                           connect: Any) -> None:
    existing = connect(blesta).create("client", _record("client", client(1, email="C1@Example.org",
                                                                          first_name="Old")))
    project.job("clients", kind="client", source="billing", targets=["blesta"])
    billing.put("client", client(1))
    blesta.reset_calls()
    result = project.cli("sync", "clients", "--json")
    assert of(result, "clients")["adopted"] == 1 and of(result, "clients")["created"] == 0
    assert writes(blesta) == ["contacts/edit"]
    assert blesta.blesta.t["contacts"][blesta.blesta.t["clients"][int(existing)]["contact_id"]]["first_name"] == \
        "Client 1"
    assert len(blesta.blesta.t["clients"]) == 1


def test_fields_the_source_does_not_carry_are_left_alone(project: Any, memory: Any, blesta: BlestaSandbox,
                                                         connect: Any) -> None:
    connect(blesta).create("client", _record("client", client(1, first_name="Old")))
    project.system("lite", plugin="memlite", vendor="lite")  # carries no phone and no address2
    memory.vendor("lite").put("client", {k: v for k, v in client(1).items() if k not in ("phone", "address2")})
    project.job("clients", kind="client", source="lite", targets=["blesta"])
    assert of(project.cli("sync", "clients", "--json"), "clients")["adopted"] == 1
    contact = clients_of(blesta)["c1@example.org"]
    assert contact["first_name"] == "Client 1"
    assert contact["address2"] == "2. OG" and [n["number"] for n in blesta.blesta.t["numbers"].values()] == [
        "+49.301234"]


def test_a_change_is_one_contact_edit(project: Any, billing: Any, blesta: BlestaSandbox) -> None:
    project.job("clients", kind="client", source="billing", targets=["blesta"])
    billing.put("client", client(1))
    project.cli("sync", "clients")
    billing.edit("client", "1", address1="Neue Straße 5", phone="+49.309999")
    blesta.reset_calls()
    result = project.cli("sync", "clients", "--json")
    assert of(result, "clients")["updated"] == 1
    assert writes(blesta) == ["contacts/edit"]
    contact = clients_of(blesta)["c1@example.org"]
    assert contact["address1"] == "Neue Straße 5"
    assert [n["number"] for n in blesta.blesta.t["numbers"].values() if n["contact_id"] == contact["id"]] == [
        "+49.309999"]


def test_a_change_reads_only_what_it_needs_and_each_countrys_states_once(project: Any, billing: Any,
                                                                           blesta: BlestaSandbox) -> None:
    """An update reads the client's row (its primary contact, what it holds) and writes; the phone
    numbers only for a phone change, a country's states once per run however many threads ask."""
    project.system("blesta", **blesta.systems()["blesta"], timeout=2.0, concurrency=8)
    # every client changes at once, on purpose: above the blast-radius guard's default
    project.job("clients", kind="client", source="billing", targets=["blesta"], max_changes=100)
    countries = {"DE": "Bayern", "US": "New York", "NL": "Utrecht"}
    for n in range(24):
        country = list(countries)[n % 3]
        billing.put("client", client(n, country=country, state=countries[country]))
    project.cli("sync", "clients")
    for n in range(1, 25):
        billing.edit("client", str(n), city=f"City {n}", **({"phone": f"+1.555{n}"} if n == 2 else {}))
    billing.edit("client", "1", state="Berlin")  # a German client moves
    blesta.reset_calls()
    assert of(project.cli("sync", "clients", "--json"), "clients")["updated"] == 24
    assert dict(blesta.calls) == {"clients/get": 24, "contacts/edit": 24, "contacts/getNumbers": 1,
                                  "states/getList": 1}  # Germany's, for the new state
    assert clients_of(blesta)["c0@example.org"]["state"] == "BE"
    assert [n["number"] for n in blesta.blesta.t["numbers"].values()
            if n["contact_id"] == clients_of(blesta)["c1@example.org"]["id"]] == ["+1.5552"]
    blesta.reset_calls()
    for n in range(1, 25):
        billing.edit("client", str(n), state={"DE": "Hessen", "US": "Texas", "NL": "Zeeland"}[list(countries)[(n - 1) % 3]])
    assert of(project.cli("sync", "clients", "--json"), "clients")["updated"] == 24
    assert blesta.calls["states/getList"] == 3  # once per country, eight workers at once


@pytest.mark.parametrize("fault", [
    Fault("error", match="clients/create", status=503, body='{"message":"maintenance"}',
          content_type="application/json"),
    Fault("lost_reply", match="clients/create"),
    Fault("timeout", match="clients/create", delay=2.5),
], ids=["503", "lost_reply", "timeout"])
def test_failed_client_creates_leave_no_duplicate(project: Any, billing: Any, blesta: BlestaSandbox,
                                                  fault: Fault) -> None:
    if fault.kind == "timeout":
        project.system("blesta", **blesta.systems()["blesta"], timeout=0.5)
        fault.delay = 1.0
    project.job("clients", kind="client", source="billing", targets=["blesta"])
    billing.put("client", client(1))
    blesta.inject(fault)
    first = project.cli("sync", "clients", "--json")
    project.cli("sync", "clients", "--json")
    assert list(clients_of(blesta)) == ["c1@example.org"], first.output
    blesta.reset_calls()
    assert of(project.cli("sync", "clients", "--json"), "clients")["unchanged"] == 1 and writes(blesta) == []


def test_a_wrong_key_holds_the_system_after_one_attempt(project: Any, billing: Any, blesta: BlestaSandbox) -> None:
    project.system("blesta", **{**blesta.systems()["blesta"], "key": "wrong-key-0000"}, timeout=2.0, concurrency=1)
    project.job("clients", kind="client", source="billing", targets=["blesta"])
    for n in range(4):
        billing.put("client", client(n))
    result = project.cli("sync", "clients", "--json")
    assert result.exit_code == 1
    assert sum(blesta.calls.values()) == 1  # one refused call, no retry, then held
    assert "wrong-key-0000" not in result.output
    again = project.cli("sync", "clients", "--json")
    assert again.exit_code == 1 and sum(blesta.calls.values()) == 1  # still held: no call at all
    assert "held" in again.output


def test_a_wrong_key_with_parallel_calls_is_never_retried(project: Any, billing: Any, blesta: BlestaSandbox) -> None:
    """With concurrency 4 the calls already in flight when the first 401 lands fail too; none is retried."""
    project.system("blesta", **{**blesta.systems()["blesta"], "key": "wrong-key-0000"}, timeout=2.0, concurrency=4)
    project.job("clients", kind="client", source="billing", targets=["blesta"])
    for n in range(12):
        billing.put("client", client(n))
    assert project.cli("sync", "clients", "--json").exit_code == 1
    assert 1 <= sum(blesta.calls.values()) <= 4
    calls = sum(blesta.calls.values())
    project.cli("sync", "clients", "--json")
    assert sum(blesta.calls.values()) == calls


@pytest.mark.parametrize("body, words", [
    ("<!DOCTYPE html><html><body>Please log in</body></html>", "HTML page"),
    ('{"response": [{"id": "1", "first_na', "expected JSON"),
])
def test_malformed_answers_fail_the_records_with_a_clear_reason(project: Any, billing: Any, blesta: BlestaSandbox,
                                                                body: str, words: str) -> None:
    project.job("clients", kind="client", source="billing", targets=["blesta"])
    billing.put("client", client(1))
    for method in ("clients/getListCount", "clients/getList"):  # a scan of Blesta fails, then the find
        blesta.inject(Fault("error", match=method, status=200, body=body, times=None))
    result = project.cli("sync", "clients", "--json")
    assert result.exit_code == 1 and of(result, "clients")["failed"] == 1
    assert words in result.output and "clients/getList" in result.output
    assert not blesta.blesta.t["clients"]  # nothing created blindly
    blesta.clear_faults()
    assert of(project.cli("sync", "clients", "--json"), "clients")["created"] == 1  # retried next run


def test_check_through_the_cli(project: Any, blesta: BlestaSandbox) -> None:
    result = project.cli("check", "blesta", "--json")
    assert result.exit_code == 0 and result.json()[0]["ok"] is True, result.output
    project.system("blesta", **{**blesta.systems()["blesta"], "key": "wrong-key-0000"}, timeout=2.0)
    result = project.cli("check", "blesta", "--json")
    assert result.exit_code == 1 and result.json()[0]["ok"] is False
    assert "401" in result.json()[0]["message"] and "wrong-key-0000" not in result.output


# -- invoices -------------------------------------------------------------------------------

def _invoice_jobs(project: Any, billing: Any) -> None:
    project.job("clients", kind="client", source="billing", targets=["blesta"])
    project.job("invoices", kind="invoice", source="billing", targets=["blesta"])
    billing.put("client", client(1), id="c1")
    billing.put("invoice", invoice(), {"client": "c1"}, id="i1")


def test_invoices_with_their_client_and_lines_edited_and_removed(project: Any, billing: Any, blesta: BlestaSandbox) -> None:
    _invoice_jobs(project, billing)
    result = project.cli("sync", "--all", "--json")
    assert result.exit_code == 0, result.output
    (stored,) = blesta.blesta.t["invoices"].values()
    (blesta_client,) = blesta.blesta.t["clients"]
    assert stored["client_id"] == blesta_client
    assert [(l["description"], Decimal(l["qty"]), Decimal(l["amount"])) for l in stored["lines"]] == [
        ("Hosting", 2, 12), ("Backups", 1, 3)]
    billing.edit("invoice", "i1", lines=[{"description": "Hosting (corrected)", "quantity": "1",
                                          "unit_price": "12", "taxed": False}])
    blesta.reset_calls()
    assert of(project.cli("sync", "invoices", "--json"), "invoices")["updated"] == 1
    assert writes(blesta) == ["invoices/edit"]
    assert [l["description"] for l in stored["lines"]] == ["Hosting (corrected)"]
    blesta.reset_calls()
    assert of(project.cli("sync", "--all", "--json"), "invoices")["unchanged"] == 1 and writes(blesta) == []


def test_paid_invoices_are_paid_in_blesta(project: Any, billing: Any, blesta: BlestaSandbox) -> None:
    _invoice_jobs(project, billing)
    billing.edit("invoice", "i1", status="paid", paid_on="2026-03-05")
    assert project.cli("sync", "--all", "--json").exit_code == 0
    (stored,) = blesta.blesta.t["invoices"].values()
    assert stored["date_closed"] and len(blesta.blesta.t["transactions"]) == 1


@pytest.mark.parametrize("fault", [
    Fault("error", match="invoices/add", status=500, body='{"message":"An unexpected error occurred."}',
          content_type="application/json"),
    Fault("lost_reply", match="invoices/add"),
], ids=["500", "lost_reply"])
def test_failed_invoice_creates_leave_no_duplicate(project: Any, billing: Any, blesta: BlestaSandbox,
                                                   fault: Fault) -> None:
    _invoice_jobs(project, billing)
    blesta.inject(fault)
    project.cli("sync", "--all", "--json")
    project.cli("sync", "--all", "--json")
    assert len(blesta.blesta.t["invoices"]) == 1
    blesta.reset_calls()
    assert of(project.cli("sync", "--all", "--json"), "invoices")["unchanged"] == 1 and writes(blesta) == []


def test_blesta_invoices_into_the_other_system(project: Any, memory: Any, sandbox: BlestaSandbox) -> None:
    project.system("blesta", **sandbox.systems()["blesta"], timeout=2.0)
    project.system("books", plugin="memory", vendor="books")
    project.job("clients", kind="client", source="blesta", targets=["books"])
    project.job("invoices", kind="invoice", source="blesta", targets=["books"])
    result = project.cli("sync", "--all", "--json")
    assert result.exit_code == 0, result.output
    books = memory.vendor("books")
    assert len(books.records("invoice")) == len(sandbox.blesta.t["invoices"])
    assert len(books.records("client")) == len(sandbox.blesta.t["clients"])
    numbers = {r["fields"]["number"] for r in books.records("invoice").values()}
    assert "1001" in numbers
    sandbox.reset_calls()
    again = project.cli("sync", "--all", "--json")
    assert of(again, "invoices")["unchanged"] == len(sandbox.blesta.t["invoices"])
    assert writes(sandbox) == [] and books.write_count() == len(books.records("invoice")) + len(books.records("client"))


# -- tickets --------------------------------------------------------------------------------

def _ticket_jobs(project: Any, billing: Any) -> None:
    project.job("clients", kind="client", source="billing", targets=["blesta"])
    project.job("tickets", kind="ticket", source="billing", targets=["blesta"])
    billing.put("client", client(1), id="c1")
    billing.put("ticket", ticket(), {"client": "c1"}, id="t1")


def _conversation(box: BlestaSandbox, ticket_id: int) -> list[tuple[str, str]]:
    replies = sorted((r for r in box.blesta.t["replies"].values() if r["ticket_id"] == ticket_id and r["type"] == "reply"),
                     key=lambda r: r["id"])
    return [("client" if r["client_id"] else "staff", r["details"]) for r in replies]


def test_tickets_with_messages_and_a_new_reply(project: Any, billing: Any, blesta: BlestaSandbox) -> None:
    _ticket_jobs(project, billing)
    assert project.cli("sync", "--all", "--json").exit_code == 0
    (stored,) = blesta.blesta.t["tickets"].values()
    assert stored["summary"] == "Mail bounces" and stored["department_id"] == 1 and stored["priority"] == "high"
    assert _conversation(blesta, stored["id"]) == [("client", "Our mail bounces since Monday."),
                                                   ("staff", "Looking into it.")]
    messages = ticket()["messages"] + [{"author": "c1@example.org", "body": "Fixed, thanks!",
                                        "created_at": "2026-03-03T08:00:00Z"}]
    billing.edit("ticket", "t1", messages=messages, status="closed")
    blesta.reset_calls()
    assert of(project.cli("sync", "--all", "--json"), "tickets")["updated"] == 1
    assert writes(blesta) == [f"{SM}/addReply", f"{SM}/edit"]
    assert _conversation(blesta, stored["id"])[-1] == ("client", "Fixed, thanks!") and stored["status"] == "closed"
    blesta.reset_calls()
    assert of(project.cli("sync", "--all", "--json"), "tickets")["unchanged"] == 1 and writes(blesta) == []


def ticket_fault(name: str) -> Fault:
    """A fresh fault (faults count down as they fire, so one object must not serve two tests)."""
    return {
        "add-lost": lambda: Fault("lost_reply", match=f"{SM}/add"),
        "reply-lost": lambda: Fault("lost_reply", match=f"{SM}/addReply"),
        "reply-lost-unapplied": lambda: Fault("lost_reply", match=f"{SM}/addReply", applied=False),
        "reply-503": lambda: Fault("error", match=f"{SM}/addReply", status=503, body='{"message":"maintenance"}',
                                   content_type="application/json"),
    }[name]()


@pytest.mark.parametrize("fault", ["add-lost", "reply-lost", "reply-lost-unapplied", "reply-503"])
def test_failed_ticket_creates_leave_no_duplicate(project: Any, billing: Any, blesta: BlestaSandbox,
                                                  fault: str) -> None:
    _ticket_jobs(project, billing)
    blesta.inject(ticket_fault(fault))
    project.cli("sync", "--all", "--json")
    project.cli("sync", "--all", "--json")
    assert len(blesta.blesta.t["tickets"]) == 1


@pytest.mark.parametrize("fault", ["add-lost", "reply-lost", "reply-lost-unapplied", "reply-503"])
def test_a_ticket_whose_create_failed_half_way_is_completed(project: Any, billing: Any, blesta: BlestaSandbox,
                                                            fault: str) -> None:
    _ticket_jobs(project, billing)
    blesta.inject(ticket_fault(fault))
    project.cli("sync", "--all", "--json")
    project.cli("sync", "--all", "--json")
    (stored,) = blesta.blesta.t["tickets"].values()
    assert _conversation(blesta, stored["id"]) == [("client", "Our mail bounces since Monday."),
                                                   ("staff", "Looking into it.")]


def test_whole_lists_elsewhere_share_blestas_list_parts() -> None:
    """A vendor carrying whole messages and lines shares the parts Blesta carries (core expands them)."""
    whole = Operations.of("list", "create", "update")
    assert whole.carried("ticket") & BlestaConnector.kinds["ticket"].writable("ticket") >= {"messages.body"}
    assert whole.carried("invoice") & BlestaConnector.kinds["invoice"].writable("invoice") >= {
        "lines.description", "lines.quantity", "lines.unit_price"}


def test_blesta_tickets_into_the_other_system(project: Any, memory: Any, sandbox: BlestaSandbox) -> None:
    project.system("blesta", **sandbox.systems()["blesta"], timeout=2.0)
    project.system("desk", plugin="memory", vendor="desk")
    project.job("clients", kind="client", source="blesta", targets=["desk"])
    project.job("tickets", kind="ticket", source="blesta", targets=["desk"])
    result = project.cli("sync", "--all", "--json")
    assert result.exit_code == 0, result.output
    desk = memory.vendor("desk")
    subjects = {r["fields"]["subject"]: r for r in desk.records("ticket").values()}
    assert "Spam: cheap watches" not in subjects and "Opening reply lost" not in subjects
    bodies = [m["body"] for m in subjects["Site down after DNS change"]["fields"]["messages"]]
    assert bodies == ["Hi, our site is unreachable since the DNS change this morning.",
                      "We are looking into it — the A record still points to the old server.",
                      "Thanks! Could you update it for us?"]
    # a reply in Blesta reaches the other side
    connector_ticket = next(t for t in sandbox.blesta.t["tickets"].values() if t["summary"] == "Site down after DNS change")
    sandbox.blesta.support_manager_tickets_addReply(connector_ticket["id"], {"details": "Done: A record updated.",
                                                                            "staff_id": "1"}, None, False)
    again = project.cli("sync", "--all", "--json")
    assert of(again, "tickets")["updated"] == 1, again.output
    subjects = {r["fields"]["subject"]: r for r in desk.records("ticket").values()}
    assert subjects["Site down after DNS change"]["fields"]["messages"][-1]["body"] == "Done: A record updated."


# -- domains --------------------------------------------------------------------------------

def test_domains_created_where_a_package_allows_and_expiry_updated(project: Any, billing: Any,
                                                                   blesta: BlestaSandbox) -> None:
    project.job("clients", kind="client", source="billing", targets=["blesta"])
    project.job("domains", kind="domain", source="billing", targets=["blesta"])
    billing.put("client", client(1), id="c1")
    billing.put("domain", {"name": "bücher-laden.de", "status": "active", "registered_on": "2024-05-01",
                           "expires_on": "2026-05-01"}, {"client": "c1"}, id="d1")
    assert project.cli("sync", "--all", "--json").exit_code == 0
    (service,) = blesta.blesta.t["services"].values()
    assert service["fields"] == [{"key": "domain", "value": "bücher-laden.de".encode("idna").decode()}]
    assert service["date_renews"] == "2026-05-01 00:00:00" and service["status"] == "active"
    billing.edit("domain", "d1", expires_on="2027-05-01", status="suspended")
    blesta.reset_calls()
    assert of(project.cli("sync", "--all", "--json"), "domains")["updated"] == 1
    assert writes(blesta) == ["services/edit", "services/suspend"]
    assert service["date_renews"] == "2027-05-01 00:00:00" and service["status"] == "suspended"
    blesta.reset_calls()
    assert of(project.cli("sync", "--all", "--json"), "domains")["unchanged"] == 1 and writes(blesta) == []


def test_a_domain_job_into_blesta_without_a_domain_package_is_a_config_error(project: Any, billing: Any,
                                                                             blesta: BlestaSandbox) -> None:
    """Config validation asks ``operations(options)``: no ``domain_pricing_id``, no domain creates."""
    settings = {k: v for k, v in blesta.systems()["blesta"].items() if k != "domain_pricing_id"}
    project.system("blesta", **settings, timeout=2.0)
    project.job("domains", kind="domain", source="billing", targets=["blesta"])
    result = project.cli("plan", "domains", "--json")
    assert result.exit_code == 2 and "cannot create domain records" in result.output, result.output
    assert sum(blesta.calls.values()) == 0


# -- two-way --------------------------------------------------------------------------------

def test_two_way_clients_settle_without_bouncing(project: Any, memory: Any, sandbox: BlestaSandbox) -> None:
    project.system("blesta", **sandbox.systems()["blesta"], timeout=2.0)
    project.system("crm", plugin="memory", vendor="crm")
    crm = memory.vendor("crm")
    crm.put("client", client(99, state=None, country="FR"))
    project.job("clients", kind="client", source="blesta", targets=["crm"], direction="two-way")
    first = project.cli("sync", "clients", "--json")
    assert first.exit_code == 0, first.output
    assert "c99@example.org" in clients_of(sandbox)
    assert len(crm.records("client")) == len(sandbox.blesta.t["clients"])
    sandbox.reset_calls()
    writes_before = crm.write_count()
    second = project.cli("sync", "clients", "--json")
    assert second.exit_code == 0
    assert of(second, "clients")["updated"] == 0 and writes(sandbox) == [] and crm.write_count() == writes_before


def test_two_way_lossy_values_neither_bounce_back_nor_degrade_either_side(project: Any, memory: Any,
                                                                          blesta: BlestaSandbox,
                                                                          connect: Any) -> None:
    """Values one side keeps lossily (stored()) are what hostsync wrote, not changes: nothing flows
    back, neither side loses its better value, a second run writes nothing, and real changes still
    travel alone."""
    project.system("crm", plugin="memory", vendor="crm")
    crm = memory.vendor("crm")
    for kind, job in (("client", "clients"), ("ticket", "tickets")):
        project.job(job, kind=kind, source="crm", targets=["blesta"], direction="two-way")
    # the other side holds what Blesta has no word for: a closed client, a customer_reply ticket,
    # a state as a code in lower case (Germany's subdivisions are not read yet), a department in
    # other letters
    c1 = crm.put("client", client(1, status="closed", state="be", country="DE"))
    c1t = crm.put("ticket", ticket(status="customer_reply", priority="urgent", department="technical support"),
                  {"client": c1})
    # Blesta holds what the other side reads lossily: a fraud client, an emergency ticket
    api = connect(blesta)
    b2 = api.create("client", _record("client", client(2, country="FR", state=None)))
    bt = api.create("ticket", _record("ticket", ticket(subject="Server on fire", status="open"), {"client": b2}))
    blesta.blesta.t["clients"][int(b2)]["status"] = "fraud"
    blesta.blesta.t["tickets"][int(bt)]["priority"] = "emergency"

    first = project.cli("sync", "--all", "--json")
    assert first.exit_code == 0, first.output
    assert {job: (c["created"], c["failed"]) for job, c in counts(first).items()} == {
        "clients": (2, 0), "tickets": (2, 0)}
    mine = clients_of(blesta)["c1@example.org"]
    assert blesta.blesta.t["clients"][mine["client_id"]]["status"] == "inactive" and mine["state"] == "BE"
    (t1,) = [t for t in blesta.blesta.t["tickets"].values() if t["summary"] == "Mail bounces"]
    assert (t1["status"], t1["priority"], t1["department_id"]) == ("open", "critical", 1)
    theirs = {r["fields"]["email"]: r for r in crm.records("client").values()}
    assert theirs["c2@example.org"]["fields"]["status"] == "closed"
    fire = next(r for r in crm.records("ticket").values() if r["fields"]["subject"] == "Server on fire")
    assert fire["fields"]["priority"] == "urgent"

    def untouched() -> None:
        """Neither side lost its own, better value."""
        assert crm.records("client")[c1]["fields"]["status"] == "closed"
        assert crm.records("client")[c1]["fields"]["state"] == "be"
        assert crm.records("ticket")[c1t]["fields"]["status"] == "customer_reply"
        assert crm.records("ticket")[c1t]["fields"]["department"] == "technical support"
        assert blesta.blesta.t["clients"][int(b2)]["status"] == "fraud"
        assert blesta.blesta.t["tickets"][int(bt)]["priority"] == "emergency"

    untouched()
    blesta.reset_calls()
    crm_writes = crm.write_count()
    second = project.cli("sync", "--all", "--json")
    assert second.exit_code == 0, second.output
    assert all(c["created"] == c["updated"] == c["failed"] == 0 for c in counts(second).values()), second.output
    assert writes(blesta) == [] and crm.write_count() == crm_writes
    untouched()

    # real changes on both sides travel, and only they
    crm.edit("client", c1, city="Potsdam")
    blesta.blesta.t["contacts"][blesta.blesta.t["clients"][int(b2)]["contact_id"]]["city"] = "Lyon"
    crm.edit("ticket", c1t, messages=ticket()["messages"] + [
        {"author": "c1@example.org", "body": "Still bouncing.", "created_at": "2026-03-03T08:00:00Z"}])
    blesta.reset_calls()
    crm_writes = crm.write_count()
    third = project.cli("sync", "--all", "--json")
    assert third.exit_code == 0, third.output
    assert sorted(writes(blesta)) == ["contacts/edit", f"{SM}/addReply"]
    assert crm.write_count() == crm_writes + 1
    assert mine["city"] == "Potsdam" and crm.records("client")[next(
        k for k, r in crm.records("client").items() if r["fields"]["email"] == "c2@example.org")]["fields"]["city"] == "Lyon"
    assert _conversation(blesta, t1["id"])[-1] == ("client", "Still bouncing.") and t1["status"] == "open"
    untouched()
    blesta.reset_calls()
    crm_writes = crm.write_count()
    fourth = project.cli("sync", "--all", "--json")
    assert all(c["created"] == c["updated"] == c["failed"] == 0 for c in counts(fourth).values()), fourth.output
    assert writes(blesta) == [] and crm.write_count() == crm_writes
    untouched()


def test_two_way_invoices_and_domains_blesta_keeps_lossily_stay_as_they_are(project: Any, memory: Any,
                                                                            blesta: BlestaSandbox) -> None:
    """A refunded invoice (void in Blesta), one with nothing due (Blesta closes it: paid), an expired and
    a transferred domain (canceled in Blesta): written once, then nothing moves either way."""
    project.system("crm", plugin="memory", vendor="crm")
    crm = memory.vendor("crm")
    for kind, job in (("client", "clients"), ("invoice", "invoices"), ("domain", "domains")):
        project.job(job, kind=kind, source="crm", targets=["blesta"], direction="two-way")
    c1 = crm.put("client", client(1))
    refunded = crm.put("invoice", invoice(number="INV-1", status="refunded"), {"client": c1})
    free = crm.put("invoice", invoice(number="INV-2", status="unpaid", total="0.00", lines=[
        {"description": "Free month", "quantity": "1", "unit_price": "0", "taxed": False}]), {"client": c1})
    expired = crm.put("domain", {"name": "old-shop.de", "status": "expired", "registered_on": "2020-01-01",
                                 "expires_on": "2025-01-01"}, {"client": c1})
    moved = crm.put("domain", {"name": "moved-away.de", "status": "transferred", "registered_on": "2021-01-01",
                               "expires_on": "2026-01-01"}, {"client": c1})
    first = project.cli("sync", "--all", "--json")
    assert first.exit_code == 0, first.output
    assert sorted(i["status"] for i in blesta.blesta.t["invoices"].values()) == ["active", "void"]
    assert all(i["date_closed"] for i in blesta.blesta.t["invoices"].values() if i["status"] == "active")
    assert sorted(s["status"] for s in blesta.blesta.t["services"].values()) == ["canceled", "canceled"]
    kept = {(kind, rid): crm.records(kind)[rid]["fields"]["status"]
            for kind, rid in (("invoice", refunded), ("invoice", free), ("domain", expired), ("domain", moved))}
    assert kept == {("invoice", refunded): "refunded", ("invoice", free): "unpaid",
                    ("domain", expired): "expired", ("domain", moved): "transferred"}
    blesta.reset_calls()
    crm_writes = crm.write_count()
    second = project.cli("sync", "--all", "--json")
    assert all(c["created"] == c["updated"] == c["failed"] == 0 for c in counts(second).values()), second.output
    assert writes(blesta) == [] and crm.write_count() == crm_writes
    assert {key: crm.records(key[0])[key[1]]["fields"]["status"] for key in kept} == kept


def _record(kind: str, fields: dict[str, Any], refs: dict[str, Any] | None = None) -> Any:
    from hostsync import Record

    return Record(kind, None, fields, refs or {})


# -- Blesta into Blesta (the shape of a WHMCS <-> Blesta migration) ---------------------------

def test_one_blesta_mirrors_into_another_and_then_rests(project: Any, sandbox: BlestaSandbox, start_sandbox: Any) -> None:
    from .conftest import SAMPLE

    target = start_sandbox("blesta")
    target.load({**SAMPLE, **{t: [] for t in ("clients", "contacts", "numbers", "users", "invoices",
                                              "transactions", "services", "tickets", "replies")}})
    project.system("old", **sandbox.systems()["blesta"], timeout=2.0)
    project.system("new", **target.systems()["blesta"], timeout=2.0)
    for kind, job in (("client", "clients"), ("domain", "domains"), ("invoice", "invoices"), ("ticket", "tickets")):
        project.job(job, kind=kind, source="old", targets=["new"])
    result = project.cli("sync", "--all", "--json")
    assert result.exit_code == 0, result.output
    created = {job: c["created"] for job, c in counts(result).items()}
    visible_tickets = 8  # not the trashed one, not the one without a reply
    assert created == {"clients": 12, "domains": 13, "invoices": 16, "tickets": visible_tickets}
    new = target.blesta.t
    assert sorted(c["email"] for c in new["contacts"].values()) == sorted(
        c["email"] for c in sandbox.blesta.t["contacts"].values())
    assert sum(1 for i in new["invoices"].values() if i["date_closed"]) == sum(
        1 for i in sandbox.blesta.t["invoices"].values() if i["date_closed"])
    assert {t["summary"] for t in new["tickets"].values()} == {
        t["summary"] for t in sandbox.blesta.t["tickets"].values()} - {"Spam: cheap watches", "Opening reply lost"}
    target.reset_calls()
    sandbox.reset_calls()
    planned = project.cli("plan", "invoices", "--json")
    assert planned.json()["actions"] == []
    again = project.cli("sync", "--all", "--json")
    assert all(c["unchanged"] > 0 and c["created"] == c["updated"] == c["failed"] == 0
               for c in counts(again).values()), again.output
    assert writes(target) == [] and writes(sandbox) == []
