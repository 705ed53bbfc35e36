"""Billing clients, domains and sites mirrored into ISPConfig through `hostsync sync`, over SOAP and JSON.

The source is the in-memory test vendor (tests/support/plugins/memory.py); the target is the
ISPConfig sandbox, whose call log shows exactly what was sent.
"""

from __future__ import annotations

import json
import time

import pytest

from hostsync.sandbox import Fault
from hostsync_ispconfig import soapenc

WRITES = ("client_add", "client_update", "client_delete", "domains_domain_add", "domains_domain_update",
          "domains_domain_delete", "sites_web_domain_add", "sites_web_domain_update", "sites_web_domain_delete")


def person(n: int, **changes) -> dict:
    return {"email": f"person{n}@billing.example", "first_name": f"Pérson {n}", "last_name": "Ñandú",
            "company": f"Company {n} GmbH", "phone": f"+49 30 {n:04d}", "address1": f"Straße {n}",
            "address2": None, "city": "Berlin", "state": None, "postcode": "10115", "country": "DE",
            "status": "active", **changes}


@pytest.fixture
def setup(project, memory, sandbox, transport):
    """billing (in memory) -> panel (the ISPConfig sandbox over ``transport``), with client and domain jobs."""
    # settle_delay 0: the sandbox applies a write at once, so what a lost reply hid can be looked up at once
    panel = dict(sandbox.systems()["panel" if transport == "soap" else "panel-json"], timeout=5, settle_delay=0)
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", **panel)
    project.job("clients", kind="client", source="billing", targets=["panel"])
    project.job("domains", kind="domain", source="billing", targets=["panel"])
    project.job("sites", kind="site", source="billing", targets=["panel"])
    sandbox.reset_calls()
    return project, memory.vendor("billing"), sandbox


def sync(project, *jobs: str) -> dict:
    result = project.cli("sync", *jobs, "--json")
    assert result.exit_code in (0, 1), result.output
    return {entry["job"]: entry for entry in result.json()}


def panel_clients(sandbox, email: str) -> list[dict]:
    return [row for row in sandbox.dump()["tables"]["client"] if row["email"].lower() == email.lower()]


def writes(sandbox) -> dict[str, int]:
    return {name: sandbox.calls[name] for name in WRITES if sandbox.calls[name]}


def test_create_then_a_rerun_sends_no_write(setup):
    project, billing, sandbox = setup
    for n in range(3):
        billing.put("client", person(n))
    first = sync(project, "clients")["clients"]
    assert first["counts"]["created"] == 3, first
    rows = panel_clients(sandbox, "person1@billing.example")
    assert len(rows) == 1 and rows[0]["contact_firstname"] == "Pérson 1" and rows[0]["street"] == "Straße 1"
    assert writes(sandbox) == {"client_add": 3}
    assert (sandbox.calls["login"], sandbox.calls["logout"]) == (1, 1)  # one session for the run, closed
    sandbox.reset_calls()
    second = sync(project, "clients")["clients"]
    assert second["counts"]["unchanged"] == 3 and second["counts"]["created"] == 0
    assert dict(sandbox.calls) == {}  # nothing changed: ISPConfig is not even logged in to


def test_adopts_an_existing_client_by_email_and_updates_it(setup):
    project, billing, sandbox = setup
    existing = sandbox.dump()["tables"]["client"][2]
    billing.put("client", person(9, email=existing["email"].upper()))
    counts = sync(project, "clients")["clients"]["counts"]
    assert counts["adopted"] == 1 and counts["created"] == 0
    assert "client_add" not in writes(sandbox) and sandbox.calls["client_update"] == 1
    [row] = panel_clients(sandbox, existing["email"])
    assert row["client_id"] == existing["client_id"] and row["contact_firstname"] == "Pérson 9"
    assert row["username"] == existing["username"]  # the login is left alone


def test_update_sends_one_client_update(setup):
    project, billing, sandbox = setup
    client_id = billing.put("client", person(1))
    sync(project, "clients")
    sandbox.reset_calls()
    billing.edit("client", client_id, city="Hamburg", status="inactive")
    counts = sync(project, "clients")["clients"]["counts"]
    assert counts["updated"] == 1
    assert writes(sandbox) == {"client_update": 1}
    [row] = panel_clients(sandbox, "person1@billing.example")
    assert (row["city"], row["locked"], row["canceled"]) == ("Hamburg", "y", "y")  # inactive: no login either
    sandbox.reset_calls()
    assert sync(project, "clients")["clients"]["counts"]["updated"] == 0  # read back as closed: no bounce
    assert writes(sandbox) == {}


def test_domain_and_site_carry_their_client_reference(setup):
    project, billing, sandbox = setup
    owner = billing.put("client", person(1))
    billing.put("domain", {"name": "Bücher.example", "status": "active"}, refs={"client": owner})
    billing.put("site", {"domain": "bücher.example", "status": "active", "php": "php-fpm", "ssl": True,
                         "quota_mb": 2048}, refs={"client": owner})
    results = sync(project, "clients", "domains", "sites")
    assert [results[j]["counts"]["created"] for j in ("clients", "domains", "sites")] == [1, 1, 1]
    data = sandbox.dump()["tables"]
    [client] = [c for c in data["client"] if c["email"] == "person1@billing.example"]
    [login] = [u for u in data["sys_user"] if u["client_id"] == client["client_id"]]
    [domain] = [d for d in data["domain"] if d["domain"] == "xn--bcher-kva.example"]
    [site] = [s for s in data["web_domain"] if s["domain"] == "xn--bcher-kva.example"]
    assert domain["sys_userid"] == login["userid"] and domain["sys_groupid"] == login["default_group"]
    assert site["sys_userid"] == login["userid"] and (site["php"], site["ssl"], site["hd_quota"]) == ("php-fpm", "y", "2048")
    sandbox.reset_calls()
    again = sync(project, "clients", "domains", "sites")
    assert [again[j]["counts"]["unchanged"] for j in ("clients", "domains", "sites")] == [1, 1, 1]
    assert writes(sandbox) == {}


def test_session_expiring_mid_run_is_renewed(setup):
    project, billing, sandbox = setup
    for n in range(6):
        billing.put("client", person(n))
    start = time.time()
    sandbox.clock = lambda: start + (1801 if sandbox.calls["client_add"] >= 2 else 0)
    try:
        counts = sync(project, "clients")["clients"]["counts"]
    finally:
        sandbox.clock = time.time
    assert counts["created"] == 6 and counts["failed"] == 0
    assert sandbox.calls["login"] == 2
    assert len([r for r in sandbox.dump()["tables"]["client"] if r["email"].endswith("@billing.example")]) == 6


@pytest.mark.parametrize("fault", [
    {"kind": "lost_reply"},
    {"kind": "error", "status": 500, "body": ""},
    {"kind": "error", "status": 502, "body": "<html><body>Bad Gateway</body></html>"},
], ids=["lost-reply", "empty-500", "502"])
def test_lost_replies_and_5xx_on_client_add_leave_exactly_one_client(setup, fault):
    project, billing, sandbox = setup
    billing.put("client", person(1))
    sandbox.inject(Fault(match="client_add", **fault))  # a fresh one: faults count down in place
    counts = sync(project, "clients")["clients"]["counts"]
    assert [entry["fault"] for entry in sandbox.log if entry["operation"] == "client_add"][0] == fault["kind"]
    # The outcome is unknown either way, and the create is never sent twice in one run. Applied
    # (lost reply): found after the settle delay. Not applied (5xx): not found, so the next run
    # looks again and sends it then.
    if fault["kind"] != "lost_reply":
        assert counts["unknown"] == 1 and counts["created"] == counts["failed"] == 0
        assert sandbox.calls["client_add"] == 1 and not panel_clients(sandbox, "person1@billing.example")
        counts = sync(project, "clients")["clients"]["counts"]
    assert counts["created"] == 1 and counts["failed"] == counts["unknown"] == 0
    assert len(panel_clients(sandbox, "person1@billing.example")) == 1
    assert sandbox.calls["client_add"] == (1 if fault["kind"] == "lost_reply" else 2)
    sandbox.reset_calls()
    assert sync(project, "clients")["clients"]["counts"]["unchanged"] == 1 and writes(sandbox) == {}


def test_orphan_row_from_a_failed_add_is_adopted_not_duplicated(setup):
    project, billing, sandbox = setup
    billing.put("client", person(1))
    sandbox.orphan_on_failed_add = 1
    counts = sync(project, "clients")["clients"]["counts"]
    assert counts["created"] == 1 and counts["failed"] == 0
    assert len(panel_clients(sandbox, "person1@billing.example")) == 1
    assert sandbox.calls["client_add"] == 1


def test_wrong_password_holds_the_system_after_one_attempt(setup):
    project, billing, sandbox = setup
    project.systems["panel"]["password"] = "not-the-password"
    billing.put("client", person(1))
    first = project.cli("sync", "clients", "--json")
    assert first.exit_code == 1
    assert sandbox.calls["login"] == 1 and "not-the-password" not in first.output
    second = project.cli("sync", "clients", "--json")
    assert second.exit_code == 1 and "held" in second.output
    assert sandbox.calls["login"] == 1  # held: not even a login was tried again
    assert panel_clients(sandbox, "person1@billing.example") == []


def test_plan_writes_nothing(setup):
    project, billing, sandbox = setup
    billing.put("client", person(1))
    result = project.cli("plan", "clients", "--json")
    assert result.exit_code == 0, result.output
    assert "create" in result.output
    assert writes(sandbox) == {} and panel_clients(sandbox, "person1@billing.example") == []


def test_check_command(setup):
    project, _, sandbox = setup
    result = project.cli("check", "panel")
    assert result.exit_code == 0, result.output
    assert sandbox.calls["login"] == 1 and sandbox.calls["client_get"] == 1


def test_the_example_config_snippet_is_valid(project, tmp_path):
    """config/ispconfig.toml, uncommented, passes `hostsync config validate` and shows no secret."""
    import re
    from pathlib import Path

    snippet = Path(__file__).resolve().parents[3] / "config" / "ispconfig.toml"
    lines = [re.sub(r"^# ?", "", line) for line in snippet.read_text().splitlines()
             if re.match(r"^# (\[|\w+ = )", line)]
    project.path.mkdir(parents=True, exist_ok=True)
    (project.path / "ispconfig-password").write_text("Sn1ppet-secret\n")
    text = "\n".join(["[hostsync]", 'state = "hostsync.db"', f'plugins_dir = "{project.settings["plugins_dir"]}"',
                      "[systems.billing]", 'plugin = "memory"', 'vendor = "billing"', *lines])
    project.config_path.write_text(text)
    result = project.cli("config", "validate", write=False)
    assert result.exit_code == 0, result.output
    shown = project.cli("config", "show", write=False)
    assert shown.exit_code == 0 and "Sn1ppet-secret" not in shown.output
    assert "username_template" in shown.output and "letsencrypt" in shown.output


def test_fields_the_source_does_not_carry_are_left_alone(project, memory, sandbox):
    """memlite carries no phone: adopting a panel client updates what it knows and keeps the phone."""
    project.system("billing", plugin="memlite", vendor="billing")
    project.system("panel", **dict(sandbox.systems()["panel"], timeout=5))
    project.job("clients", kind="client", source="billing", targets=["panel"])
    existing = sandbox.dump()["tables"]["client"][3]
    assert existing["telephone"]
    memory.vendor("billing").put("client", {**person(4, email=existing["email"]), "phone": None})
    sandbox.reset_calls()
    counts = sync(project, "clients")["clients"]["counts"]
    assert counts["adopted"] == 1 and writes(sandbox) == {"client_update": 1}
    [row] = panel_clients(sandbox, existing["email"])
    assert row["contact_firstname"] == "Pérson 4" and row["telephone"] == existing["telephone"]


# --- a client mirrored as closed cannot log in after its first sync (client_add leaves the login active) ----

def logins(sandbox, email: str) -> list[str]:
    data = sandbox.dump()["tables"]
    ids = {c["client_id"] for c in data["client"] if c["email"] == email}
    return [u["active"] for u in data["sys_user"] if u["client_id"] in ids]


def refused(transport: str) -> dict:
    """A fault answering ISPConfig's validation failure (Rejected: not retried)."""
    message = "client_error_emulated<br />\r\n"
    if transport == "json":
        body = json.dumps({"code": "remote_fault", "message": message, "response": False})
        return {"status": 200, "body": body, "content_type": "application/json"}
    return {"status": 500, "body": soapenc.php_fault("data_processing_error", message).decode(),
            "content_type": "text/xml; charset=utf-8"}


def test_a_closed_client_is_created_with_its_login_off(setup):
    project, billing, sandbox = setup
    billing.put("client", person(1, status="closed"))
    billing.put("client", person(2))
    counts = sync(project, "clients")["clients"]["counts"]
    assert counts["created"] == 2 and counts["failed"] == 0
    assert logins(sandbox, "person1@billing.example") == ["0"] and logins(sandbox, "person2@billing.example") == ["1"]
    assert writes(sandbox) == {"client_add": 2, "client_update": 1}
    sandbox.reset_calls()
    assert sync(project, "clients")["clients"]["counts"]["unchanged"] == 2 and writes(sandbox) == {}


def test_a_failed_status_update_is_repaired_by_lookup_not_a_second_client(setup):
    project, billing, sandbox = setup
    billing.put("client", person(1, status="closed"))
    sandbox.inject(Fault("error", match="client_update", status=503))  # the follow-up of the add only
    counts = sync(project, "clients")["clients"]["counts"]
    assert counts["created"] == 1 and counts["failed"] == 0
    assert sandbox.calls["client_add"] == 1 and sandbox.calls["client_update"] == 2  # follow-up, then adopt
    [row] = panel_clients(sandbox, "person1@billing.example")
    assert (row["locked"], row["canceled"]) == ("y", "y") and logins(sandbox, "person1@billing.example") == ["0"]
    sandbox.reset_calls()
    assert sync(project, "clients")["clients"]["counts"]["unchanged"] == 1 and writes(sandbox) == {}


def test_a_status_update_refused_all_run_is_finished_by_the_next_run(setup, transport):
    project, billing, sandbox = setup
    billing.put("client", person(1, status="closed"))
    sandbox.inject(Fault("error", match="client_update", times=None, **refused(transport)))
    first = sync(project, "clients")["clients"]
    assert first["status"] == "failed" and first["counts"]["failed"] == 1, first
    [row] = panel_clients(sandbox, "person1@billing.example")
    assert row["canceled"] == "n" and logins(sandbox, "person1@billing.example") == ["1"]  # visible, not hidden
    sandbox.clear_faults()
    sandbox.reset_calls()
    second = sync(project, "clients")["clients"]
    assert second["counts"]["created"] == 1 and second["counts"]["failed"] == 0, second
    assert writes(sandbox) == {"client_update": 1}  # the intent's lookup found the client: no second add
    [again] = panel_clients(sandbox, "person1@billing.example")
    assert again["client_id"] == row["client_id"] and logins(sandbox, "person1@billing.example") == ["0"]


@pytest.fixture
def hosted(setup):
    """A billing client with a domain and a site, mirrored into ISPConfig with deletes mirrored."""
    project, billing, sandbox = setup
    for job in ("clients", "domains", "sites"):
        project.jobs[job]["deletes"] = "mirror"
    billing.put("client", person(2))  # stays (a source that lists nothing at all deletes nothing)
    owner = billing.put("client", person(1))
    domain = billing.put("domain", {"name": "lovelace.example", "status": "active"}, refs={"client": owner})
    site = billing.put("site", {"domain": "lovelace.example", "status": "active", "php": "php-fpm", "ssl": False,
                                "quota_mb": 100}, refs={"client": owner})
    assert all(r["status"] == "ok" for r in sync(project, "--all").values())
    [client] = panel_clients(sandbox, "person1@billing.example")
    sandbox.reset_calls()
    return project, billing, sandbox, client["client_id"], (owner, domain, site)


def test_a_clients_domain_and_site_are_deleted_before_the_client(hosted):
    project, billing, sandbox, client_id, (owner, domain, site) = hosted
    for kind, ident in (("site", site), ("domain", domain), ("client", owner)):
        billing.remove(kind, ident)
    results = sync(project, "--all", "--full")
    assert results["clients"]["status"] == "ok" and results["clients"]["counts"]["deleted"] == 3
    deletes = [entry["operation"] for entry in sandbox.log if entry["operation"].endswith("_delete")]
    assert deletes == ["domains_domain_delete", "sites_web_domain_delete", "client_delete"]
    tables = sandbox.dump()["tables"]
    assert not [d for d in tables["domain"] if d["domain"] == "lovelace.example"]
    assert not [s for s in tables["web_domain"] if s["domain"] == "lovelace.example"]


def test_a_client_delete_that_would_strand_a_site_is_refused(hosted):
    project, billing, sandbox, client_id, (owner, domain, site) = hosted
    login = next(u for u in sandbox.dump()["tables"]["sys_user"] if u["client_id"] == client_id)
    with sandbox.lock:  # a site the admin made for this client in the panel, by hand
        sandbox.panel.insert("web_domain", {"domain": "handmade.example", "type": "vhost", "active": "y",
                                            "sys_userid": login["userid"], "sys_groupid": login["default_group"]})
    for kind, ident in (("site", site), ("domain", domain), ("client", owner)):
        billing.remove(kind, ident)
    result = project.cli("sync", "clients", "--full", "--json")
    assert result.exit_code == 1
    [run] = result.json()
    assert run["status"] == "failed" and run["counts"]["deleted"] == 0 and run["counts"]["failed"] == 1
    assert writes(sandbox) == {}
    assert panel_clients(sandbox, "person1@billing.example")  # still there: its site still points at it
    [event] = [e for e in project.cli("runs", "clients", "--limit", "1", "--events", "--json").json()[0]["events"]
               if e["outcome"] == "failed"]
    assert event["reason"] == (f"not deleting client {client_id} in panel: it would leave 1 site hostsync does not "
                               "manage (handmade.example) pointing at a client that no longer exists there; delete "
                               "or move them in panel first")
