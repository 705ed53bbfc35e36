"""WHMCS credentials whose API role lacks actions, or a WHMCS that lacks one, through the CLI.

A refused action is not a refused login: the system is not held, what needs the action fails with
a message naming it and the API role, and ``check`` lists every action the jobs need that the
role refuses. Without ``GetActivityLog`` clients are read by full scans, said once per run.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def crm(project, sandbox, memory):
    """hostsync with the WHMCS sandbox as ``billing`` and an in-memory ``crm``."""
    project.systems["billing"] = dict(sandbox.systems()["billing"])
    project.system("crm", plugin="memory", vendor="crm")
    return memory.vendor("crm")


def warnings_about_the_log(output: str) -> list[str]:
    return [line for line in output.splitlines() if "WARNING" in line and "activity log" in line]


@pytest.mark.parametrize("how", ["role", "missing"])
def test_without_getactivitylog_clients_are_read_by_full_scans_with_one_warning_per_run(project, sandbox, crm,
                                                                                         how):
    if how == "role":
        sandbox.deny_actions("GetActivityLog")  # HTTP 403 Invalid Permissions
    else:
        sandbox.missing_actions.add("getactivitylog")  # Command Not Found
    project.job("clients", kind="client", source="billing", targets=["crm"])
    project.system("desk", plugin="memory", vendor="desk")
    project.job("clients-to-desk", kind="client", source="billing", targets=["desk"])
    first = project.cli("sync", "--all", "--json")  # two jobs read WHMCS clients in this run
    assert first.exit_code == 0, first.output
    assert [r["counts"]["created"] for r in first.json()] == [12, 12] and len(crm.records("client")) == 12
    (warning,) = warnings_about_the_log(first.stderr)
    assert "billing" in warning and "full scan" in warning and "GetActivityLog" in warning
    assert sandbox.calls["GetActivityLog"] == 1  # asked once per run, not once per job or page
    sandbox.edit_client(3, city="Utrecht")
    sandbox.reset_calls()
    second = project.cli("sync", "clients", "--json")  # incremental by the job's cursor, if it had one
    assert second.exit_code == 0 and second.json()[0]["counts"]["updated"] == 1
    assert len(warnings_about_the_log(second.stderr)) == 1
    assert sandbox.calls["GetActivityLog"] == 1 and sandbox.calls["GetClientsDetails"] == 12  # a full scan
    assert project.cli("holds", "--json").json() == []


def test_a_refused_write_fails_its_records_but_holds_nothing(project, sandbox, crm, memory):
    sandbox.deny_actions("AddClient")
    project.system("desk", plugin="memory", vendor="desk")
    for n in range(3):
        crm.put("client", {"email": f"new{n}@example.org", "first_name": "New", "last_name": f"Client {n}",
                           "country": "NL", "status": "active"})
    project.job("clients-in", kind="client", source="crm", targets=["billing"])
    project.job("clients-out", kind="client", source="billing", targets=["desk"])
    result = project.cli("sync", "--all", "--json")
    assert result.exit_code == 1
    jobs = {r["job"]: r for r in result.json()}
    assert jobs["clients-in"]["counts"]["failed"] == 3 and jobs["clients-out"]["status"] == "ok"
    assert len(memory.vendor("desk").records("client")) == 12  # the same WHMCS, in the same invocation
    (run,) = project.cli("runs", "clients-in", "--limit", "1", "--events", "--json").json()
    reasons = [e["reason"] for e in run["events"] if e["outcome"] == "failed"]
    assert len(reasons) == 3
    assert all('"addclient" is not allowed' in r and "Manage API Roles" in r for r in reasons), reasons
    assert project.cli("holds", "--json").json() == []
    again = project.cli("sync", "clients-in", "--json")  # not held: the next run asks again
    assert again.json()[0]["counts"]["failed"] == 3 and sandbox.calls["AddClient"] == 6


def test_check_lists_every_action_the_jobs_need_that_the_role_refuses(project, sandbox, crm):
    project.job("clients-in", kind="client", source="crm", targets=["billing"])
    project.job("invoices", kind="invoice", source="billing", targets=["crm"])
    sandbox.deny_actions("AddClient", "GetInvoice", "GetActivityLog", "OpenTicket")  # no ticket job: not needed
    before = sandbox.dump()
    result = project.cli("check", "billing", "--json")
    assert result.exit_code == 1
    [checked] = result.json()
    assert not checked["ok"]
    message = checked["message"]
    assert "AddClient (not allowed)" in message and "GetInvoice (not allowed)" in message
    assert "OpenTicket" not in message and "Manage API Roles" in message
    assert "GetActivityLog not allowed: clients are read by a full scan" in message
    assert sandbox.dump() == before  # the write actions were probed without writing
    assert {"AddClient", "UpdateClient"} <= set(sandbox.calls)
    assert project.cli("holds", "--json").json() == []  # a permission is not a login


def test_check_passes_with_a_remark_when_only_the_activity_log_is_refused(project, sandbox, crm):
    project.job("clients", kind="client", source="billing", targets=["crm"])
    sandbox.deny_actions("GetActivityLog", "AddOrder")  # AddOrder: no job creates WHMCS domains
    result = project.cli("check")
    assert result.exit_code == 0, result.output
    billing_line = next(line for line in result.stdout.splitlines() if line.startswith("billing"))
    assert "ok" in billing_line and "GetActivityLog not allowed" in billing_line
    crm_line = next(line for line in result.stdout.splitlines() if line.startswith("crm"))
    assert crm_line.split() == ["crm", "memory", "ok"]  # nothing but "ok": no "ok" detail


def test_a_wrong_secret_is_still_an_authentication_failure_and_holds(project, sandbox, crm):
    project.systems["billing"]["secret"] = "not-the-secret"
    project.job("clients", kind="client", source="billing", targets=["crm"])
    check = project.cli("check", "billing", "--json")
    assert check.exit_code == 1 and "Authentication Failed" in check.json()[0]["message"]
    [held] = project.cli("holds", "--json").json()
    assert held["system"] == "billing" and "Authentication Failed" in held["reason"]
    assert "not-the-secret" not in check.output
