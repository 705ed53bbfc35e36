"""Failure handling: isolation, retries honouring Retry-After, held systems, lost replies and crashes."""

from __future__ import annotations

import pytest

from hostsync import AuthError, RateLimited, Rejected, Transient
from hostsync.config import load_config
from hostsync.engine import Runtime, sync_job
from hostsync.plugins import load_plugins

from ..conftest import PLUGINS_DIR
from .test_engine_one_way import client, invoice


@pytest.fixture
def systems(project, memory):
    project.system("billing", plugin="memory", vendor="billing")
    # a write this vendor applies is there at once: what a lost reply hid can be looked up at once
    project.system("panel", plugin="memory", vendor="panel", settle_delay=0)
    project.job("clients", kind="client", source="billing", targets=["panel"])
    return memory.vendor("billing"), memory.vendor("panel")


def runtime(project, sleeps: list[float] | None = None) -> Runtime:
    """The engine in-process, with sleeps recorded instead of slept."""
    project.write()
    plugins = load_plugins(PLUGINS_DIR)
    return Runtime(load_config(project.config_path, plugins), plugins,
                   sleep=(sleeps.append if sleeps is not None else None))


def test_one_rejected_record_does_not_stop_the_others(project, systems):
    billing, panel = systems
    for n in range(5):
        billing.put("client", client(n))

    def reject():
        raise Rejected("postcode is invalid", {"postcode": "format"})

    panel.fail("create", reject)
    result = project.cli("sync", "clients", "--json")
    assert result.exit_code == 1
    assert result.json()[0]["counts"]["created"] == 4 and result.json()[0]["counts"]["failed"] == 1
    assert len(panel.records("client")) == 4


def test_a_refused_create_leaves_no_intent_behind(project, systems):
    billing, panel = systems
    billing.put("client", client(1))
    panel.fail("create", lambda: (_ for _ in ()).throw(Rejected("company is required")))
    assert project.cli("sync", "clients").exit_code == 1
    with project.state() as state:
        assert state.count_intents() == 0  # the vendor refused it: nothing to reconcile later
    assert [a["op"] for a in project.cli("plan", "clients", "--json").json()["actions"]] == ["create"]


def test_one_failing_target_does_not_stop_the_other(project, memory):
    billing, panel, blesta = (memory.vendor(n) for n in ("billing", "panel", "blesta"))
    for name in ("billing", "panel", "blesta"):
        project.system(name, plugin="memory", vendor=name)
    project.system("panel", plugin="memory", vendor="panel", password="wrong")
    project.job("clients", kind="client", source="billing", targets=["panel", "blesta"])
    for n in range(3):
        billing.put("client", client(n))
    result = project.cli("sync", "clients", "--json")
    assert result.exit_code == 1
    assert len(blesta.records("client")) == 3 and not panel.records("client")
    assert "panel" in result.json()[0]["error"]


def test_retries_honour_retry_after_and_then_succeed(project, systems):
    billing, panel = systems
    cid = billing.put("client", client(1))
    panel.fail("create", lambda: (_ for _ in ()).throw(RateLimited("slow down", retry_after=7)), times=2)
    sleeps: list[float] = []
    with runtime(project, sleeps) as rt:
        result = sync_job(rt, "clients")
    assert result.counts["created"] == 1 and result.status == "ok"
    assert len(sleeps) == 2 and all(7 <= s <= 8 for s in sleeps)
    assert panel.calls["create"] == 3
    assert [r["fields"]["email"] for r in panel.records("client").values()] == ["c1@example.org"]
    assert cid


def test_transient_failures_back_off_exponentially_then_give_up(project, systems):
    billing, panel = systems
    billing.put("client", client(1))
    panel.fail("create", lambda: (_ for _ in ()).throw(Transient("HTTP 502")), times=10)
    sleeps: list[float] = []
    with runtime(project, sleeps) as rt:
        result = sync_job(rt, "clients")
    assert result.counts["failed"] == 1 and result.status == "failed"
    assert panel.calls["create"] == 5  # the policy's attempts, then the record waits for the next run
    caps = [0.5 * 2 ** i for i in range(4)]
    assert len(sleeps) == 4 and all(0 <= s <= cap for s, cap in zip(sleeps, caps))


def test_a_lost_reply_on_create_leaves_exactly_one_record(project, systems):
    billing, panel = systems
    for n in range(3):
        billing.put("client", client(n))
    panel.fail("create", "lose", times=3)
    result = project.cli("sync", "clients", "--json")
    assert result.exit_code == 0, result.output
    assert result.json()[0]["counts"]["created"] == 3
    assert len(panel.records("client")) == 3
    assert panel.calls["create"] == 3 and panel.calls["find"] >= 3
    assert project.cli("sync", "clients", "--json").json()[0]["counts"]["unchanged"] == 3


class Crash(BaseException):
    """Stands for the process dying right after the vendor applied a write."""


def test_a_crash_between_create_and_link_is_reconciled_without_a_duplicate(project, systems):
    billing, panel = systems
    billing.put("client", client(1))
    original = panel.write

    def crash_after_write(*args, **kwargs):
        original(*args, **kwargs)
        raise Crash()

    panel.write = crash_after_write
    with pytest.raises(Crash), runtime(project) as rt:
        sync_job(rt, "clients")
    panel.write = original
    assert len(panel.records("client")) == 1
    with project.state() as state:
        assert state.count_intents() == 1 and not state.list_links()
    plan = project.cli("plan", "clients", "--json").json()
    assert [a["op"] for a in plan["actions"]] == ["reconcile"]
    result = project.cli("sync", "clients", "--json").json()[0]
    assert result["counts"]["created"] == 1
    assert len(panel.records("client")) == 1
    with project.state() as state:
        assert state.count_intents() == 0 and len(state.list_links()) == 1


def test_an_auth_failure_holds_the_system_until_its_config_changes(project, systems):
    billing, panel = systems
    project.system("panel", plugin="memory", vendor="panel", password="wrong")
    project.job("invoices", kind="invoice", source="billing", targets=["panel"])
    for n in range(4):
        cid = billing.put("client", client(n))
    billing.put("invoice", invoice("INV-1"), {"client": cid})
    assert project.cli("sync", "--all").exit_code == 1
    assert panel.auth_failures == 1
    for _ in range(3):
        assert project.cli("sync", "--all").exit_code == 1
    assert panel.auth_failures == 1 and panel.calls == {"find": 1}  # not one more call
    check = project.cli("check", "panel")
    assert check.exit_code == 1 and "pass --force" in check.stdout
    assert panel.auth_failures == 1
    listed = project.cli("runs", "clients", "--limit", "1", "--json").json()[0]
    assert "held" in listed["error"]
    project.systems["panel"]["password"] = "right"
    result = project.cli("sync", "--all", "--json")
    assert result.exit_code == 0, result.output
    assert len(panel.records("client")) == 4 and len(panel.records("invoice")) == 1


def test_check_releases_a_hold_when_the_vendor_side_was_fixed(project, systems):
    billing, panel = systems
    billing.put("client", client(1))
    panel.password = "rotated"
    project.system("panel", plugin="memory", vendor="panel", password="rotated-later")
    assert project.cli("sync", "clients").exit_code == 1
    assert panel.auth_failures == 1
    panel.password = "rotated-later"  # e.g. the vendor's admin reset the API key to the configured one
    assert project.cli("check", "panel").exit_code == 1  # refused: same config, would repeat the login
    forced = project.cli("check", "panel", "--force", "--json")
    assert forced.exit_code == 0 and forced.json() == [{"system": "panel", "ok": True, "message": "hold released"}]
    assert project.cli("sync", "clients").exit_code == 0
    assert len(panel.records("client")) == 1


def test_a_held_source_fails_the_run_with_a_clear_reason(project, systems):
    billing, _ = systems
    project.system("billing", plugin="memory", vendor="billing", password="nope")
    first = project.cli("sync", "clients", "--json")
    assert first.exit_code == 1 and "AuthError" in first.json()[0]["error"]
    second = project.cli("sync", "clients", "--json")
    assert second.json()[0]["error"].startswith("system 'billing' is held: billing: login refused")
    assert billing.auth_failures == 1


def test_a_second_run_of_a_job_is_refused_while_one_runs(project, systems):
    from hostsync.locks import JobLock

    with JobLock(project.path / "hostsync.db", "clients"):
        result = project.cli("sync", "clients", "--json")
    assert result.exit_code == 75  # EX_TEMPFAIL: try again later
    assert result.json()[0]["status"] == "locked"
    assert "already running" in result.json()[0]["error"]


def test_auth_errors_from_a_vendor_are_never_retried(project, systems):
    billing, panel = systems
    billing.put("client", client(1))
    panel.fail("find", lambda: (_ for _ in ()).throw(AuthError("API key revoked")))
    sleeps: list[float] = []
    with runtime(project, sleeps) as rt:
        result = sync_job(rt, "clients")
    assert result.status == "failed" and sleeps == []
    assert panel.calls == {"find": 1}


def ticket(subject: str) -> dict:
    return {"subject": subject, "status": "open", "priority": "low",
            "messages": [{"author": "c1@example.org", "body": "It is broken.", "created_at": "2026-03-01T10:00:00Z"}]}


def test_records_sharing_an_identity_are_never_confused_after_a_lost_reply(project, memory):
    """Two tickets of one client with one subject: a lost reply on one create must not adopt the other."""
    billing, panel = memory.vendor("billing"), memory.vendor("panel")
    project.system("billing", plugin="memory", vendor="billing")
    # each create is applied at once but answered late, so a lookup after the lost reply meets the
    # other creates' tickets before their answers arrive
    project.system("panel", plugin="memory", vendor="panel", reply_delay=0.3, settle_delay=0)
    project.job("clients", kind="client", source="billing", targets=["panel"])
    project.job("tickets", kind="ticket", source="billing", targets=["panel"])
    cid = billing.put("client", client(1))
    for _ in range(3):
        billing.put("ticket", ticket("Mail bounces"), {"client": cid})
    project.cli("sync", "clients")
    panel.fail("create", "lose", times=2)
    result = project.cli("sync", "tickets", "--json")
    assert result.exit_code == 0, result.output
    assert len(panel.records("ticket")) == 3
    links = project.cli("links", "tickets", "--json").json()
    assert len({link["b_id"] if link["a_system"] == "billing" else link["a_id"] for link in links}) == 3


def test_a_failed_lookup_after_a_lost_reply_keeps_the_intent(project, systems):
    billing, panel = systems
    billing.put("client", client(1))
    panel.fail("create", "lose")
    panel.fail("find", lambda: None)  # looking for an existing client before creating works...
    panel.fail("find", lambda: (_ for _ in ()).throw(Transient("HTTP 503")), times=20)  # ...then not
    sleeps: list[float] = []
    with runtime(project, sleeps) as rt:
        assert sync_job(rt, "clients").counts["failed"] == 1
    with project.state() as state:
        assert state.count_intents() == 1  # the create may have landed: it must be looked for again
    panel.faults.clear()
    assert project.cli("sync", "clients", "--json").json()[0]["counts"]["created"] == 1
    assert len(panel.records("client")) == 1
