"""WHMCS through the engine and the CLI (`hostsync plan` / `hostsync sync`), against its sandbox,
with the in-memory vendor as the other system."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from hostsync.sandbox import Fault

WRITES = ("AddClient", "UpdateClient", "OpenTicket", "AddTicketReply", "UpdateTicket", "CreateInvoice",
          "UpdateInvoice", "AddOrder", "UpdateClientDomain")


def writes(sandbox) -> list[str]:
    return [e["operation"] for e in sandbox.log if e["operation"] in WRITES]


@pytest.fixture
def crm(project, sandbox, memory):
    """hostsync configured with the WHMCS sandbox as ``billing`` and an in-memory ``crm``."""
    # settle_delay 0: the sandbox applies a write at once, so what a lost reply hid can be looked up at once
    project.systems["billing"] = {**sandbox.systems()["billing"], "settle_delay": 0}
    project.system("crm", plugin="memory", vendor="crm")
    return memory.vendor("crm")


def sync(project, *args):
    result = project.cli("sync", *args, "--json")
    return result, (result.json() if result.stdout.startswith("[") else None)


def by_job(results):
    return {r["job"]: r for r in results}


# --- WHMCS as the source -----------------------------------------------------------------------

@pytest.fixture
def from_whmcs(project, crm):
    for kind, name in (("client", "clients"), ("domain", "domains"), ("invoice", "invoices"), ("ticket", "tickets")):
        project.job(name, kind=kind, source="billing", targets=["crm"])
    return crm


def test_plan_writes_nothing_anywhere(project, sandbox, from_whmcs):
    plan = project.cli("plan", "invoices", "--json")
    assert plan.exit_code == 0, plan.output
    assert [a["op"] for a in plan.json()["actions"]].count("create") == 15
    assert writes(sandbox) == [] and from_whmcs.write_count() == 0


def test_whmcs_mirrors_clients_domains_invoices_and_tickets_with_references(project, sandbox, from_whmcs):
    result, results = sync(project, "--all")
    assert result.exit_code == 0, result.output
    assert {job: r["counts"]["created"] for job, r in by_job(results).items()} == {
        "clients": 12, "domains": 10, "invoices": 15, "tickets": 10}
    crm_clients = from_whmcs.records("client")
    email_of = {cid: row["fields"]["email"] for cid, row in crm_clients.items()}
    whmcs_email = {c["id"]: c["email"] for c in sandbox.state["clients"].values()}
    for kind, table, key in (("invoice", "invoices", "userid"), ("domain", "domains", "userid")):
        for row in from_whmcs.records(kind).values():
            assert row["refs"]["client"] in email_of
        assert sorted(email_of[r["refs"]["client"]] for r in from_whmcs.records(kind).values()) == \
            sorted(whmcs_email[row[key]] for row in sandbox.state[table].values())
    tickets = {r["fields"]["subject"]: r for r in from_whmcs.records("ticket").values()}
    assert "client" not in tickets["Question about reseller pricing"]["refs"]  # the guest's ticket
    assert len(tickets["ログインできません"]["fields"]["messages"]) == 4
    assert writes(sandbox) == []


def test_a_rerun_reads_only_list_pages_and_writes_nothing(project, sandbox, from_whmcs):
    assert sync(project, "--all")[0].exit_code == 0
    written = from_whmcs.write_count()
    sandbox.reset_calls()
    result, results = sync(project, "--all")
    assert result.exit_code == 0
    assert all(r["counts"]["created"] == r["counts"]["updated"] == 0 for r in results)
    assert from_whmcs.write_count() == written
    assert "GetTicket" not in sandbox.calls and "GetInvoice" not in sandbox.calls  # stubs unchanged
    assert sandbox.calls["GetActivityLog"] == 1 and sandbox.calls["GetClientsDetails"] <= 2  # clients: incremental


def test_changes_in_whmcs_reach_the_target_and_only_they_are_fetched(project, sandbox, from_whmcs):
    assert sync(project, "--all")[0].exit_code == 0
    sandbox.edit_client(7, city="Cork", postcode="T12 AB34")
    sandbox.state["tickets"][2]["replies"].append({"replyid": 3, "userid": 0, "date": sandbox.now(),
                                                   "message": "Fixed now.", "admin": "Jane Doe"})
    sandbox.state["tickets"][2]["lastreply"] = sandbox.now()
    sandbox.reset_calls()
    result, results = sync(project, "--all")
    assert result.exit_code == 0, result.output
    counts = by_job(results)
    assert (counts["clients"]["counts"]["updated"], counts["tickets"]["counts"]["updated"]) == (1, 1)
    assert sandbox.calls["GetTicket"] == 1 and "GetInvoice" not in sandbox.calls
    aoife = next(r for r in from_whmcs.records("client").values() if r["fields"]["email"] == "aoife@example.ie")
    assert aoife["fields"]["city"] == "Cork"


# --- WHMCS as the target -----------------------------------------------------------------------

@pytest.fixture
def into_whmcs(project, crm):
    crm.put("client", {"email": "zoe@nordlys.se", "first_name": "Zoë", "last_name": "Ångström",
                       "company": "Nordlys AB", "country": "SE", "status": "active", "city": "Stockholm"})
    ada = crm.put("client", {"email": "ada@example.org", "first_name": "Ada", "last_name": "Lovelace",
                             "country": "GB", "status": "active", "city": "London", "address1": "12 St James's Sq"})
    crm.put("client", {"email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper",
                       "country": "US", "status": "inactive"})
    crm.put("invoice", {"number": "CRM-1", "issued_on": "2025-02-01", "due_on": "2025-02-15", "status": "unpaid",
                        "currency": "EUR", "total": "30.00",
                        "lines": [{"description": "Consulting", "quantity": "2", "unit_price": "15.00",
                                   "taxed": False}]}, {"client": ada})
    crm.put("domain", {"name": "lovelace-engines.co.uk", "status": "active", "registered_on": "2024-06-01",
                       "expires_on": "2026-06-01"}, {"client": ada})
    for kind, name in (("client", "clients"), ("invoice", "invoices"), ("domain", "domains")):
        project.job(name, kind=kind, source="crm", targets=["billing"])
    return crm


def test_create_adopt_by_email_references_and_a_silent_rerun(project, sandbox, into_whmcs):
    result, results = sync(project, "--all")
    assert result.exit_code == 0, result.output
    counts = by_job(results)["clients"]["counts"]
    assert (counts["adopted"], counts["created"]) == (1, 2)
    clients = {c["email"]: c for c in sandbox.state["clients"].values()}
    assert len(clients) == 14 and clients["zoe@nordlys.se"]["id"] == 1  # adopted, not created again
    assert clients["grace@example.com"]["status"] == "Inactive"
    ada = clients["ada@example.org"]["id"]
    (invoice,) = [i for i in sandbox.state["invoices"].values() if i["userid"] == ada]
    assert [(i["description"], i["amount"]) for i in invoice["items"]] == [("2 x Consulting", "30.00")]
    (domain,) = [d for d in sandbox.state["domains"].values() if d["userid"] == ada]
    assert (domain["domainname"], domain["status"], domain["expirydate"]) == (
        "lovelace-engines.co.uk", "Active", "2026-06-01")
    assert "emails" not in sandbox.state
    sandbox.reset_calls()
    rerun, rerun_results = sync(project, "--all")
    assert rerun.exit_code == 0 and sandbox.calls == {}  # nothing changed: not one call to WHMCS
    assert all(r["counts"]["unchanged"] for r in rerun_results)


def test_a_taxed_invoice_adds_up_to_the_source_total_and_survives_a_lost_reply(project, sandbox, into_whmcs):
    ada = next(cid for cid, r in into_whmcs.records("client").items() if r["fields"]["email"] == "ada@example.org")
    into_whmcs.put("invoice", {"number": "CRM-3", "issued_on": "2025-03-01", "due_on": "2025-03-15",
                               "status": "unpaid", "currency": "EUR", "total": "139.00",  # 21% VAT on 100.00
                               "lines": [{"description": "Review", "quantity": "1", "unit_price": "100.00",
                                          "taxed": True},
                                         {"description": "Travel", "quantity": "1", "unit_price": "18.00",
                                          "taxed": False}]}, {"client": ada})
    sandbox.inject(Fault("lost_reply", match="CreateInvoice", times=2))
    assert sync(project, "--all")[0].exit_code == 0
    (review,) = [i for i in sandbox.state["invoices"].values() if i["items"] and i["items"][0]["description"] == "Review"]
    assert review["taxrate"] == "21.000"


def test_an_update_in_the_source_is_one_write(project, sandbox, into_whmcs):
    assert sync(project, "--all")[0].exit_code == 0
    ada = next(cid for cid, r in into_whmcs.records("client").items() if r["fields"]["email"] == "ada@example.org")
    into_whmcs.edit("client", ada, city="Cambridge", phone="+44.1223 000000")
    sandbox.reset_calls()
    result, results = sync(project, "clients")
    assert result.exit_code == 0 and results[0]["counts"]["updated"] == 1
    assert writes(sandbox) == ["UpdateClient"]
    whmcs_ada = next(c for c in sandbox.state["clients"].values() if c["email"] == "ada@example.org")
    assert (whmcs_ada["city"], whmcs_ada["phonenumber"]) == ("Cambridge", "+44.1223 000000")


def test_injected_5xx_and_lost_replies_leave_no_duplicate(project, sandbox, into_whmcs):
    sandbox.inject(Fault("lost_reply", match="AddClient"))
    sandbox.inject(Fault("error", match="AddClient", status=502, applied=False, times=1))
    sandbox.inject(Fault("lost_reply", match="CreateInvoice"))
    sandbox.inject(Fault("error", match="AddOrder", status=503, body="maintenance", times=1))
    sandbox.inject(Fault("lost_reply", match="UpdateClientDomain"))
    first, _ = sync(project, "--all")
    second, results = sync(project, "--all")
    assert second.exit_code == 0, second.output
    emails = [c["email"] for c in sandbox.state["clients"].values()]
    assert sorted(e for e in emails if e in ("ada@example.org", "grace@example.com", "zoe@nordlys.se")) == [
        "ada@example.org", "grace@example.com", "zoe@nordlys.se"]
    assert len(sandbox.state["invoices"]) == 16 and len(sandbox.state["domains"]) == 11
    assert all(f.times == 0 for f in sandbox.faults)  # every fault was hit
    with project.state() as state:
        assert state.count_intents() == 0


def test_a_wrong_secret_holds_whmcs_after_one_refused_call(project, sandbox, into_whmcs):
    project.systems["billing"]["secret"] = "not-the-secret"
    result, results = sync(project, "clients")
    assert result.exit_code == 1 and "Authentication Failed" in results[0]["error"]
    refused = dict(sandbox.calls)  # the first call looking for the new clients (a scan of WHMCS, or a find)
    assert sum(refused.values()) == 1
    for _ in range(2):
        again, results = sync(project, "clients")
        assert again.exit_code == 1 and "is held" in results[0]["error"]
    assert sandbox.calls == refused
    assert "not-the-secret" not in result.output + again.output


# --- the change signal, measured ---------------------------------------------------------------

def thousand_clients(sandbox) -> None:
    """1,000 clients created an hour apart (each logged as WHMCS logs a new client), nothing since."""
    start = datetime.now(sandbox.tz).replace(microsecond=0) - timedelta(hours=1001)
    clients, activity = [], []
    for n in range(1, 1001):
        created = (start + timedelta(hours=n)).strftime("%Y-%m-%d %H:%M:%S")
        clients.append({"id": n, "firstname": f"Client{n}", "lastname": "Müller", "companyname": f"Firma {n} GmbH",
                        "email": f"client{n}@example.de", "address1": f"Hauptstraße {n}", "address2": "",
                        "city": "Berlin", "state": "Berlin", "postcode": f"{10000 + n}", "country": "DE",
                        "phonenumber": f"+49.30{n:07d}", "status": "Active", "datecreated": created[:10],
                        "currency": 1})
        activity.append({"id": n, "clientId": n, "userId": 0, "adminId": 0, "date": created,
                         "description": f"Created Client Client{n} Müller - User ID: {n}", "username": "System",
                         "ipaddress": "10.0.0.8"})
    sandbox.load({"clients": clients, "activity": activity})


def test_calls_for_1000_unchanged_clients_full_and_incremental(project, sandbox, crm):
    """Run with ``pytest tests/plugins/whmcs/test_whmcs_engine.py -k 1000 -s`` to see the figures."""
    thousand_clients(sandbox)
    project.job("clients", kind="client", source="billing", targets=["crm"])
    assert sync(project, "clients")[0].exit_code == 0 and len(crm.records("client")) == 1000
    figures = {}
    for label, args in (("full", ("clients", "--full")), ("incremental", ("clients",))):
        sandbox.reset_calls()
        result, results = sync(project, *args)
        assert result.exit_code == 0 and results[0]["counts"]["unchanged"] >= 1
        assert results[0]["counts"]["updated"] == results[0]["counts"]["created"] == 0
        figures[label] = dict(sandbox.calls)
    for label, calls in figures.items():  # shown with -s
        print(f"\n1,000 unchanged WHMCS clients, {label} run: {sum(calls.values())} API calls {calls}")
    assert figures["full"] == {"GetActivityLog": 1, "GetClients": 10, "GetClientsDetails": 1000}
    # the cursor is the newest logged change; the engine reads back 5 minutes of overlap: one client
    assert figures["incremental"] == {"GetActivityLog": 1, "GetClientsDetails": 1}


def test_a_lossy_source_never_clears_what_it_does_not_carry(project, sandbox, memory):
    project.systems["billing"] = dict(sandbox.systems()["billing"])
    project.system("lite", plugin="memlite", vendor="lite")  # carries no phone and no address2
    memory.vendor("lite").put("client", {"email": "lukasz.wojcik@example.pl", "first_name": "Łukasz",
                                         "last_name": "Wójcik", "country": "PL", "status": "active",
                                         "city": "Gdańsk"})
    project.job("clients", kind="client", source="lite", targets=["billing"])
    phone = sandbox.state["clients"][3]["phonenumber"]
    assert sync(project, "clients")[0].exit_code == 0
    assert sandbox.state["clients"][3]["city"] == "Gdańsk"  # adopted by e-mail, then updated
    assert (sandbox.state["clients"][3]["phonenumber"], sandbox.state["clients"][3]["address2"]) == (phone, "m. 4")


def test_a_lost_reply_on_an_invoice_whose_total_whmcs_computes_differently_leaves_no_duplicate(
        project, sandbox, into_whmcs):
    ada = next(cid for cid, r in into_whmcs.records("client").items() if r["fields"]["email"] == "ada@example.org")
    into_whmcs.put("invoice", {"number": "CRM-2", "issued_on": "2025-03-01", "due_on": "2025-03-15",
                               "status": "unpaid", "currency": "EUR", "total": "110.00",  # a fee not on any line
                               "lines": [{"description": "Audit", "quantity": "1", "unit_price": "100.00",
                                          "taxed": False}]}, {"client": ada})
    sandbox.inject(Fault("lost_reply", match="CreateInvoice", times=2))
    sync(project, "--all")
    sync(project, "--all")
    audits = [i for i in sandbox.state["invoices"].values() if i["items"] and i["items"][0]["description"] == "Audit"]
    assert len(audits) == 1


@pytest.mark.parametrize("fault", [Fault("error", match="AddTicketReply", status=500, body="<html>Fatal</html>"),
                                   Fault("lost_reply", match="AddTicketReply")], ids=["5xx", "lost reply"])
def test_a_ticket_whose_reply_failed_after_openticket_is_completed_once(project, sandbox, crm, fault):
    crm.put("client", {"email": "jose@nunez-hosting.es", "first_name": "José", "last_name": "Núñez",
                       "country": "ES", "status": "active"})
    jose = next(iter(crm.records("client")))
    crm.put("ticket", {"subject": "DNS propagation", "status": "answered", "priority": "medium",
                       "department": "Technical Support", "created_at": "2025-03-01T09:00:00Z", "messages": [
                           {"author": "jose@nunez-hosting.es", "body": "Is it done?", "created_at": "2025-03-01T09:00:00Z"},
                           {"author": "Jane Doe", "body": "Yes, within the hour.", "created_at": "2025-03-01T09:20:00Z"},
                           {"author": "jose@nunez-hosting.es", "body": "Thanks!", "created_at": "2025-03-01T09:30:00Z"}]},
            {"client": jose})
    project.job("clients", kind="client", source="crm", targets=["billing"])
    project.job("tickets", kind="ticket", source="crm", targets=["billing"])
    sandbox.inject(fault)
    result, _ = sync(project, "--all")
    assert result.exit_code == 0, result.output
    (ticket,) = [t for t in sandbox.state["tickets"].values() if t["subject"] == "DNS propagation"]
    assert [r["message"] for r in ticket["replies"]] == ["Is it done?", "Yes, within the hour.", "Thanks!"]
    assert ticket["status"] == "Answered" and fault.times == 0, result.output


# --- two-way: what WHMCS keeps lossily -----------------------------------------------------------

@pytest.fixture
def both_ways(project, crm):
    """Clients, tickets and invoices two-way between WHMCS (with its sample data) and the CRM."""
    for kind, name in (("client", "clients"), ("ticket", "tickets"), ("invoice", "invoices")):
        project.job(name, kind=kind, source="billing", targets=["crm"], direction="two-way")
    lucia = crm.put("client", {"email": "lucia@tierra-web.es", "first_name": "Lucía", "last_name": "Peña",
                               "country": "ES", "status": "active"})
    crm.put("ticket", {"subject": "Server down", "status": "open", "priority": "urgent", "department": "Abuse",
                       "created_at": "2025-02-01T07:30:00Z", "messages": [
                           {"author": "lucia@tierra-web.es", "body": "Nothing answers.",
                            "created_at": "2025-02-01T07:30:00Z"},
                           {"author": "Jane Doe", "body": "Looking into it.", "created_at": "2025-02-01T08:15:00Z"}]},
            {"client": lucia})
    crm.put("invoice", {"number": "CRM-7", "issued_on": "2025-02-01", "due_on": "2025-02-15", "status": "unpaid",
                        "currency": "EUR", "total": "25.00",  # a 5.00 fee that is on no line
                        "lines": [{"description": "Widgets", "quantity": "1.5", "unit_price": "0.33", "taxed": False},
                                  {"description": "Hosting", "quantity": "1", "unit_price": "19.50", "taxed": False}]},
            {"client": lucia})
    return crm


def lossy_records(sandbox, crm):
    whmcs_ticket = next(t for t in sandbox.state["tickets"].values() if t["subject"] == "Server down")
    whmcs_invoice = next(i for i in sandbox.state["invoices"].values() if i["items"][-1]["description"] == "Hosting")
    crm_ticket = next(r for r in crm.records("ticket").values() if r["fields"]["subject"] == "Server down")
    crm_invoice = next(r for r in crm.records("invoice").values() if r["fields"].get("number") == "CRM-7")
    return whmcs_ticket, whmcs_invoice, crm_ticket, crm_invoice


def test_two_way_values_whmcs_keeps_lossily_neither_bounce_back_nor_degrade_the_crm(project, sandbox, connector,
                                                                                   both_ways):
    crm = both_ways
    first, results = sync(project, "--all")
    assert first.exit_code == 0, first.output
    assert {job: r["counts"]["created"] for job, r in by_job(results).items()} == {
        "clients": 13, "tickets": 11, "invoices": 16}  # WHMCS's sample into the CRM, the CRM's records into WHMCS
    whmcs_ticket, whmcs_invoice, crm_ticket, crm_invoice = lossy_records(sandbox, crm)
    # WHMCS keeps them as it can: High, the fallback department, 1.5 x 0.33 as one line of 0.50, its own total
    assert (whmcs_ticket["priority"], whmcs_ticket["deptid"]) == ("High", 1)
    assert [(i["description"], i["amount"]) for i in whmcs_invoice["items"]] == [
        ("1.5 x Widgets", "0.50"), ("Hosting", "19.50")]
    assert connector.get("invoice", str(whmcs_invoice["id"])).fields["total"] == "20.00"
    for run in range(2):  # the next runs see nothing new on either side and write nothing anywhere
        sandbox.reset_calls()
        written = crm.write_count()
        again, results = sync(project, "--all")
        assert again.exit_code == 0, again.output
        assert all(r["counts"]["created"] == r["counts"]["updated"] == r["counts"]["conflicts"] == 0 for r in results)
        assert writes(sandbox) == [] and crm.write_count() == written
    # and the CRM still holds its own values: nothing WHMCS could not keep came back over them
    _, _, crm_ticket_now, crm_invoice_now = lossy_records(sandbox, crm)
    assert (crm_ticket_now, crm_invoice_now) == (crm_ticket, crm_invoice)
    assert (crm_ticket_now["fields"]["priority"], crm_ticket_now["fields"]["department"]) == ("urgent", "Abuse")
    assert crm_invoice_now["fields"]["lines"][0]["quantity"] == "1.5" and crm_invoice_now["fields"]["total"] == "25.00"


def test_two_way_a_real_change_in_whmcs_comes_back_alone(project, sandbox, both_ways):
    crm = both_ways
    assert sync(project, "--all")[0].exit_code == 0
    whmcs_ticket, _, _, _ = lossy_records(sandbox, crm)
    whmcs_ticket["status"] = "On Hold"  # an admin puts it on hold in WHMCS
    sandbox.reset_calls()
    written = crm.write_count()
    result, results = sync(project, "tickets")
    assert result.exit_code == 0 and results[0]["counts"]["updated"] == 1
    assert writes(sandbox) == [] and crm.write_count() == written + 1
    _, _, crm_ticket, _ = lossy_records(sandbox, crm)
    assert (crm_ticket["fields"]["status"], crm_ticket["fields"]["priority"], crm_ticket["fields"]["department"]) == (
        "on_hold", "urgent", "Abuse")  # the change, and only it: not High, not Technical Support
    sandbox.reset_calls()
    written = crm.write_count()
    assert sync(project, "--all")[0].exit_code == 0
    assert writes(sandbox) == [] and crm.write_count() == written
