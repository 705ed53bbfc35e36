"""One-way jobs through the CLI against in-memory vendors: create, adopt, update, no-op, references,
deferral, deletes, field intersection, transforms, incremental reads, stubs, and plan writing nothing."""

from __future__ import annotations

import hashlib

import pytest

CLIENT = {"email": "ann@example.org", "first_name": "Ann", "last_name": "Lee", "company": "Acme GmbH",
          "phone": "+49 30 1234", "address1": "Hauptstr. 1", "address2": "2. OG", "city": "Berlin",
          "postcode": "10115", "country": "DE", "status": "active"}


def client(n: int, **changes: object) -> dict:
    return {**CLIENT, "email": f"c{n}@example.org", "first_name": f"Client {n}", **changes}


def invoice(number: str, **changes: object) -> dict:
    return {"number": number, "issued_on": "2026-03-01", "due_on": "2026-03-15", "status": "unpaid",
            "currency": "EUR", "total": "24.00",
            "lines": [{"description": "Hosting", "quantity": "2", "unit_price": "12", "taxed": True}], **changes}


@pytest.fixture
def systems(project, memory):
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memory", vendor="panel")
    project.job("clients", kind="client", source="billing", targets=["panel"])
    return memory.vendor("billing"), memory.vendor("panel")


def fields_of(vendor, kind):
    """The stored fields, empty ones dropped (hostsync writes absent values as None)."""
    rows = [{k: v for k, v in r["fields"].items() if v is not None} for r in vendor.records(kind).values()]
    return sorted(rows, key=lambda f: str(f.get("email") or f.get("number")))


def test_creates_then_a_second_run_sends_no_write(project, systems):
    billing, panel = systems
    for n in range(3):
        billing.put("client", client(n))
    first = project.cli("sync", "clients", "--json")
    assert first.exit_code == 0, first.output
    assert first.json()[0]["counts"]["created"] == 3
    assert fields_of(panel, "client") == fields_of(billing, "client")
    writes = panel.write_count()

    second = project.cli("sync", "clients", "--json")
    assert second.exit_code == 0
    assert second.json()[0]["counts"] == {**second.json()[0]["counts"], "unchanged": 3, "created": 0, "updated": 0}
    assert panel.write_count() == writes
    assert billing.write_count() == 0


def test_adopts_an_existing_record_by_email_and_updates_what_differs(project, systems):
    billing, panel = systems
    billing.put("client", client(1))
    existing = panel.put("client", client(1, email="C1@Example.org", first_name="Old name"))
    result = project.cli("sync", "clients", "--json")
    counts = result.json()[0]["counts"]
    assert counts["adopted"] == 1 and counts["created"] == 0
    assert list(panel.records("client")) == [existing]
    assert panel.records("client")[existing]["fields"]["first_name"] == "Client 1"
    assert project.cli("sync", "clients", "--json").json()[0]["counts"]["unchanged"] == 1


def test_an_ambiguous_match_is_deferred_rather_than_duplicated(project, systems):
    billing, panel = systems
    billing.put("client", client(1))
    panel.put("client", client(1))
    panel.put("client", client(1))
    result = project.cli("sync", "clients", "--json")
    assert result.json()[0]["counts"]["deferred"] == 1
    assert len(panel.records("client")) == 2
    runs = project.cli("runs", "clients", "--events", "--json").json()
    [event] = runs[0]["events"]
    assert event["outcome"] == "deferred"
    assert "2 records in panel match email=c1@example.org" in event["reason"]


def test_an_update_sends_only_the_changed_record_and_plan_names_the_fields(project, systems):
    billing, panel = systems
    ids = [billing.put("client", client(n)) for n in range(3)]
    project.cli("sync", "clients")
    billing.edit("client", ids[1], phone="+49 30 9999", city="Hamburg")
    plan = project.cli("plan", "clients", "--json").json()
    assert plan["counts"]["updated"] == 1 and plan["counts"]["unchanged"] == 2
    [action] = plan["actions"]
    assert action["op"] == "update" and action["source_id"] == ids[1]
    assert action["changes"] == {"phone": {"old": "+49 30 1234", "new": "+49 30 9999"},
                                 "city": {"old": "Berlin", "new": "Hamburg"}}
    before = panel.write_count()
    assert project.cli("sync", "clients", "--json").json()[0]["counts"]["updated"] == 1
    assert panel.write_count() == before + 1


def test_references_are_translated_and_an_unlinked_client_is_synced_first(project, systems):
    billing, panel = systems
    project.job("invoices", kind="invoice", source="billing", targets=["panel"])
    cid = billing.put("client", client(1))
    panel.put("client", client(9))  # ids differ between the systems
    billing.put("invoice", invoice("INV-1"), {"client": cid})
    plan = project.cli("plan", "invoices", "--json").json()
    assert plan["actions"][0]["reason"] == "after client 1 (job clients)"
    result = project.cli("sync", "invoices", "--json").json()[0]
    assert result["counts"]["created"] == 2  # the client first, then the invoice
    [(panel_invoice)] = panel.records("invoice").values()
    [panel_client] = [i for i, r in panel.records("client").items() if r["fields"]["email"] == "c1@example.org"]
    assert panel_invoice["refs"]["client"] == panel_client != cid
    writes = panel.write_count()
    again = project.cli("sync", "--all", "--json").json()
    assert [(r["job"], r["counts"]["unchanged"]) for r in again] == [("clients", 1), ("invoices", 1)]
    assert panel.write_count() == writes


def test_a_reference_no_job_covers_is_deferred_with_a_reason_and_retried(project, memory):
    billing, panel = memory.vendor("billing"), memory.vendor("panel")
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memory", vendor="panel")
    project.job("invoices", kind="invoice", source="billing", targets=["panel"])
    cid = billing.put("client", client(1))
    billing.put("invoice", invoice("INV-1"), {"client": cid})
    result = project.cli("sync", "invoices", "--json").json()[0]
    assert result["counts"]["deferred"] == 1 and not panel.records("invoice")
    [event] = project.cli("runs", "--events", "--json").json()[0]["events"]
    assert event["reason"] == "client 1 in billing is not linked to panel yet (no job mirrors client from billing to panel)"
    project.job("clients", kind="client", source="billing", targets=["panel"])
    assert project.cli("sync", "--all").exit_code == 0
    assert len(panel.records("invoice")) == 1


def test_deletes_are_ignored_by_default_and_mirrored_when_asked(project, systems):
    billing, panel = systems
    ids = [billing.put("client", client(n)) for n in range(3)]
    project.cli("sync", "clients")
    billing.remove("client", ids[0])
    assert project.cli("sync", "clients", "--json").json()[0]["counts"]["deleted"] == 0
    assert len(panel.records("client")) == 3
    project.jobs["clients"]["deletes"] = "mirror"
    plan = project.cli("plan", "clients", "--json").json()
    assert [a["op"] for a in plan["actions"]] == ["delete"]
    assert project.cli("sync", "clients", "--json").json()[0]["counts"]["deleted"] == 1
    assert sorted(f["email"] for f in fields_of(panel, "client")) == ["c1@example.org", "c2@example.org"]
    assert project.cli("links", "clients", "--json").json().__len__() == 2


def test_a_lossy_target_compares_only_the_fields_both_carry(project, memory):
    billing = memory.vendor("billing")
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memlite", vendor="panel")
    project.job("clients", kind="client", source="billing", targets=["panel"])
    cid = billing.put("client", client(1))
    project.cli("sync", "clients")
    billing.edit("client", cid, address2="3. OG", phone="+1 555")  # panel cannot store these
    assert project.cli("plan", "clients", "--json").json()["counts"]["unchanged"] == 1
    billing.edit("client", cid, last_name="Lee-Park")
    assert project.cli("sync", "clients", "--json").json()[0]["counts"]["updated"] == 1


def test_transforms_apply_before_hashing(project, systems):
    billing, panel = systems
    project.jobs["clients"]["transforms"] = {"company": "upper"}
    billing.put("client", client(1))
    project.cli("sync", "clients")
    [row] = panel.records("client").values()
    assert row["fields"]["company"] == "ACME GMBH"
    assert project.cli("sync", "clients", "--json").json()[0]["counts"]["unchanged"] == 1


def test_plan_writes_nothing_anywhere(project, systems):
    billing, panel = systems
    ids = [billing.put("client", client(n)) for n in range(4)]
    project.cli("sync", "clients")
    billing.edit("client", ids[0], city="Köln")
    billing.put("client", client(7))
    panel.put("client", client(8))
    project.jobs["clients"]["deletes"] = "mirror"
    billing.remove("client", ids[3])
    digest_before, dump_before = hashlib.sha256(project.state_path.read_bytes()).hexdigest(), dump(project)
    writes = (billing.write_count(), panel.write_count())

    plan = project.cli("plan", "clients", "--json")
    assert plan.exit_code == 0, plan.output
    ops = sorted(a["op"] for a in plan.json()["actions"])
    assert ops == ["create", "delete", "update"]
    # The state file is byte for byte the same, and so is everything in it (links, cursors, runs...).
    assert hashlib.sha256(project.state_path.read_bytes()).hexdigest() == digest_before
    assert dump(project) == dump_before
    assert (billing.write_count(), panel.write_count()) == writes
    dry = project.cli("sync", "clients", "--dry-run", "--json").json()[0]
    assert dry["counts"]["created"] == 1 and dry["run_id"] is None
    assert (billing.write_count(), panel.write_count()) == writes
    assert dump(project) == dump_before


def dump(project) -> list[str]:
    with project.state() as state:
        return list(state.db.conn.iterdump())


def test_plan_without_a_state_file_does_not_create_one(project, systems):
    billing, _ = systems
    billing.put("client", client(1))
    assert project.cli("plan", "clients", "--json").json()["counts"]["created"] == 1
    assert not project.state_path.exists()


def test_incremental_reads_start_from_the_cursor_minus_the_overlap(project, systems):
    billing, panel = systems
    project.jobs["clients"]["overlap"] = "1s"  # the memory vendor's clock ticks a second per change
    ids = [billing.put("client", client(n)) for n in range(10)]
    project.cli("sync", "clients")
    billing.edit("client", ids[0], city="Bonn")
    counts = project.cli("sync", "clients", "--json").json()[0]["counts"]
    # read back: the two records inside the overlap (unchanged) and the edited one
    assert (counts["updated"], counts["unchanged"]) == (1, 2)
    full = project.cli("sync", "clients", "--full", "--json").json()[0]["counts"]
    assert full["unchanged"] == 10


def test_a_failed_record_is_retried_on_the_next_incremental_run(project, systems, memory):
    from hostsync import Rejected

    billing, panel = systems
    for n in range(3):
        billing.put("client", client(n))

    def refuse():
        raise Rejected("email domain is blocked", {"email": "blocked"})

    panel.fail("create", refuse)
    first = project.cli("sync", "clients", "--json")
    assert first.exit_code == 1
    assert first.json()[0]["counts"]["created"] == 2 and first.json()[0]["counts"]["failed"] == 1
    events = project.cli("runs", "--events", "--json").json()[0]["events"]
    assert [e["reason"] for e in events if e["outcome"] == "failed"] == ["email domain is blocked (email: blocked)"]
    second = project.cli("sync", "clients", "--json").json()[0]["counts"]
    assert second["created"] == 1
    assert len(panel.records("client")) == 3


def test_stubs_are_fetched_only_when_their_version_changed(project, systems):
    billing, panel = systems
    project.systems["billing"]["stubs"] = True
    ids = [billing.put("client", client(n)) for n in range(5)]
    project.cli("sync", "clients", "--full")
    assert billing.calls["get"] == 5
    project.cli("sync", "clients", "--full")
    assert billing.calls["get"] == 5
    billing.edit("client", ids[2], city="Essen")
    counts = project.cli("sync", "clients", "--full", "--json").json()[0]["counts"]
    assert billing.calls["get"] == 6
    assert counts["updated"] == 1 and counts["unchanged"] == 4


def test_several_targets_each_get_every_record(project, memory):
    billing = memory.vendor("billing")
    for name in ("billing", "panel", "blesta"):
        project.system(name, plugin="memory", vendor=name)
    project.job("clients", kind="client", source="billing", targets=["panel", "blesta"])
    for n in range(3):
        billing.put("client", client(n))
    assert project.cli("sync", "clients", "--json").json()[0]["counts"]["created"] == 6
    assert len(memory.vendor("panel").records("client")) == len(memory.vendor("blesta").records("client")) == 3


def test_a_lossy_target_keeps_an_invoices_lines_and_a_full_scan_finds_no_drift(project, memory):
    """memlite numbers invoices itself (read-only there), but stores the lines it is given."""
    billing, panel = memory.vendor("billing"), memory.vendor("panel")
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memlite", vendor="panel")
    project.job("clients", kind="client", source="billing", targets=["panel"])
    project.job("invoices", kind="invoice", source="billing", targets=["panel"])
    cid = billing.put("client", client(1))
    billing.put("invoice", invoice("INV-1"), {"client": cid})
    assert project.cli("sync", "--all").exit_code == 0
    [stored] = panel.records("invoice").values()
    assert [line["description"] for line in stored["fields"]["lines"]] == ["Hosting"] and stored["fields"]["number"] != "INV-1"
    assert [r["counts"]["drift"] for r in project.cli("sync", "--all", "--full", "--json").json()] == [0, 0]
