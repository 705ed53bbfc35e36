"""Targets are checked, not trusted, through the CLI against the sandboxes: a hand edit in ISPConfig
(`hostsync sandbox-edit`) is put back by the next full scan, or only reported with drift = "report";
`hostsync drift` finds each mismatch kind between WHMCS and ISPConfig (and an invoice paid in WHMCS but
not in Blesta), exits 1, exits 0 when they agree, and writes nothing anywhere."""

from __future__ import annotations

import hashlib

import pytest

from hostsync.plugins import load_plugins
from hostsync.testing import HostsyncProject

#: Calls that change something, per sandbox (reads only, during a report).
WRITES = {"whmcs": ("AddClient", "UpdateClient", "CreateInvoice", "UpdateInvoice", "AddInvoicePayment", "AddOrder",
                    "UpdateClientDomain", "DomainRegister"),
          "ispconfig": ("client_add", "client_update", "client_delete", "domains_domain_add", "domains_domain_update",
                        "domains_domain_delete"),
          "blesta": ("clients/create", "clients/edit", "invoices/add", "invoices/edit", "transactions/add")}


@pytest.fixture
def boxes():
    plugins = load_plugins()
    started = {"whmcs": plugins.sandboxes["whmcs"](seed=7).start(), "ispconfig": plugins.sandboxes["ispconfig"]().start(),
               "blesta": plugins.sandboxes["blesta"]().start()}
    yield started
    for box in started.values():
        box.stop()


@pytest.fixture
def project(tmp_path, boxes):
    project = HostsyncProject(tmp_path / "project")
    project.systems.update({name: table for box in boxes.values() for name, table in box.systems().items()
                            if name in ("billing", "panel", "blesta")})
    project.job("clients", kind="client", source="billing", targets=["panel"])
    project.job("domains", kind="domain", source="billing", targets=["panel"])
    assert project.cli("sync", "clients", "domains").exit_code == 0
    return project


def linked(project, job: str) -> list[dict]:
    return project.cli("links", job, "--json").json()


def panel_row(boxes, table: str, ident: str) -> dict:
    key = "client_id" if table == "client" else "domain_id"
    return next(r for r in boxes["ispconfig"].dump()["tables"][table] if r[key] == ident)


def test_a_hand_edit_in_ispconfig_is_repaired_on_the_next_full_scan_or_only_reported(project, boxes):
    ids = [link["b_id"] if link["b_system"] == "panel" else link["a_id"] for link in linked(project, "clients")]
    panel_id = next(i for i in ids if panel_row(boxes, "client", i)["company_name"])
    company = panel_row(boxes, "client", panel_id)["company_name"]
    edit = project.cli("sandbox-edit", boxes["ispconfig"].url, "client", panel_id, "company=Typed By Hand",
                       "city=Nowhere")
    assert edit.exit_code == 0, edit.output

    incremental = project.cli("sync", "clients", "--json").json()[0]
    assert incremental["counts"]["drift"] == 0 and panel_row(boxes, "client", panel_id)["company_name"] == "Typed By Hand"

    boxes["ispconfig"].reset_calls()
    full = project.cli("sync", "clients", "--full", "--json").json()[0]
    assert full["status"] == "ok" and full["counts"]["drift"] == 1 and full["counts"]["updated"] == 1
    assert panel_row(boxes, "client", panel_id)["company_name"] == company
    assert boxes["ispconfig"].calls["client_get"] == 1  # the drift check: one listing of every client
    assert boxes["ispconfig"].calls["client_update"] == 1
    events = project.cli("runs", "clients", "--limit", "1", "--events", "--json").json()[0]["events"]
    [drift] = [e for e in events if e["action"] == "drift"]
    assert drift["outcome"] == "repaired" and drift["target_id"] == panel_id
    assert drift["detail"]["changes"]["company"] == {"found": "Typed By Hand", "expected": company}

    project.jobs["clients"]["drift"] = "report"
    project.cli("sandbox-edit", boxes["ispconfig"].url, "client", panel_id, "company=Typed By Hand")
    reported = project.cli("sync", "clients", "--full", "--json").json()[0]
    assert reported["counts"]["drift"] == 1 and reported["counts"]["updated"] == 0
    assert panel_row(boxes, "client", panel_id)["company_name"] == "Typed By Hand"
    [drift] = [e for e in project.cli("runs", "clients", "--limit", "1", "--events", "--json").json()[0]["events"]
               if e["action"] == "drift"]
    assert drift["outcome"] == "reported"


def test_hostsync_drift_finds_each_mismatch_and_writes_nothing(project, boxes):
    whmcs, ispconfig = boxes["whmcs"], boxes["ispconfig"]
    agree = project.cli("drift")
    assert agree.exit_code == 0, agree.output
    assert "clients (client: billing -> panel): in agreement" in agree.stdout

    clients = {(lk["a_id"] if lk["a_system"] == "billing" else lk["b_id"]):
               (lk["b_id"] if lk["a_system"] == "billing" else lk["a_id"]) for lk in linked(project, "clients")}
    domains = linked(project, "domains")
    active = [b for b, p in clients.items() if whmcs.state["clients"][int(b)]["status"] == "Active"]
    locked, closed = active[0], active[1]
    project.cli("sandbox-edit", ispconfig.url, "client", clients[locked], "status=inactive")  # locked in the panel
    project.cli("sandbox-edit", whmcs.url, "client", closed, "status=closed")  # closed in billing, active in the panel
    domain = domains[0]
    panel_domain = domain["b_id"] if domain["b_system"] == "panel" else domain["a_id"]
    owner = panel_row(boxes, "domain", panel_domain)["sys_userid"]
    other = next(p for p in clients.values()
                 if next(u for u in ispconfig.dump()["tables"]["sys_user"] if u["client_id"] == p)["userid"] != owner)
    project.cli("sandbox-edit", ispconfig.url, "domain", panel_domain, f"client={other}")  # another owner
    with ispconfig.lock:  # a client made in the panel by hand: nobody bills it
        ispconfig.panel.insert("client", {"contact_name": "Nobody", "email": "nobody-bills@example.org",
                                          "username": "nobody", "locked": "n", "canceled": "n"})
    with whmcs.lock:  # a signup in billing not synced yet
        whmcs._api_addclient({"firstname": "New", "lastname": "Signup", "email": "new-signup@example.org",
                              "skipvalidation": True})
    state = hashlib.sha256(project.state_path.read_bytes()).hexdigest()
    for box in boxes.values():
        box.reset_calls()

    result = project.cli("drift", "--json")
    assert result.exit_code == 1, result.output
    jobs = {entry["job"]: entry for entry in result.json()["jobs"]}
    mismatches = {m["type"]: m for entry in jobs.values() for m in entry["mismatches"]}
    assert set(mismatches) == {"client_suspended", "client_active", "domain_owner"}
    assert mismatches["client_suspended"]["source_id"] == locked
    assert mismatches["client_suspended"]["text"] == "active in billing but closed in panel"
    assert mismatches["client_active"]["source_id"] == closed
    assert mismatches["client_active"]["text"] == "closed in billing but active in panel"
    assert mismatches["domain_owner"]["target_id"] == panel_domain
    assert [o["key"] for o in jobs["clients"]["orphans"]] == [{"email": "nobody-bills@example.org"}]
    assert [m["key"] for m in jobs["clients"]["missing"]] == [{"email": "new-signup@example.org"}]

    table = project.cli("drift", "clients", "domains")
    assert table.exit_code == 1
    assert "MISMATCH  client billing#" in table.stdout and "active in billing but closed in panel" in table.stdout

    assert hashlib.sha256(project.state_path.read_bytes()).hexdigest() == state
    for name, box in boxes.items():
        assert not [op for op in WRITES[name] if box.calls[op]], name


def test_an_invoice_paid_in_whmcs_but_not_in_blesta_is_a_mismatch(project, boxes):
    project.job("blesta-clients", kind="client", source="billing", targets=["blesta"])
    project.job("invoices", kind="invoice", source="billing", targets=["blesta"])
    assert project.cli("sync", "blesta-clients", "invoices").exit_code == 0
    assert project.cli("drift", "invoices").exit_code == 0
    whmcs = boxes["whmcs"]
    unpaid = next(i for i in whmcs.state["invoices"].values() if i["status"] == "Unpaid")
    with whmcs.lock:  # the client paid by bank transfer; the invoice is marked paid in WHMCS only
        whmcs._api_addinvoicepayment({"invoiceid": unpaid["id"], "transid": "BANK-1", "gateway": "banktransfer"})
    result = project.cli("drift", "invoices", "--json")
    assert result.exit_code == 1
    [entry] = result.json()["jobs"]
    [mismatch] = entry["mismatches"]
    assert mismatch["type"] == "invoice_paid" and mismatch["source_id"] == str(unpaid["id"])
    assert mismatch["text"] == "paid in billing but unpaid in blesta"
