"""Blesta tickets without ``ticket_department_id``, through the CLI: a ticket goes to the Support Manager
department of its department's name, else to Blesta's only department; ``check`` names the missing
setting when neither can work for every ticket."""

from __future__ import annotations

from typing import Any

import pytest

from hostsync_blesta.sandbox import BlestaSandbox

from .test_engine import billing, blesta, client, ticket, writes  # noqa: F401 - billing, blesta: fixtures


@pytest.fixture
def bare(project: Any, billing: Any, blesta: BlestaSandbox) -> BlestaSandbox:
    """The sandbox's Blesta system with neither ticket_department_id nor ticket_departments."""
    for key in ("ticket_department_id", "ticket_departments"):
        project.systems["blesta"].pop(key)
    project.job("clients", kind="client", source="billing", targets=["blesta"])
    project.job("tickets", kind="ticket", source="billing", targets=["blesta"])
    billing.put("client", client(1), id="c1")
    return blesta


def departments(box: BlestaSandbox) -> dict[str, int]:
    return {t["summary"]: t["department_id"] for t in box.blesta.t["tickets"].values()}


def test_tickets_go_to_the_department_of_their_name_and_check_names_the_missing_setting(
        project: Any, billing: Any, bare: BlestaSandbox) -> None:
    billing.put("ticket", ticket(subject="Invoice twice", department="billing"), {"client": "c1"}, id="t1")
    billing.put("ticket", ticket(subject="Mail bounces", department="Technical Support"), {"client": "c1"}, id="t2")
    billing.put("ticket", ticket(subject="Discount?", department="Sales"), {"client": "c1"}, id="t3")
    result = project.cli("sync", "--all", "--json")
    assert result.exit_code == 1
    assert departments(bare) == {"Invoice twice": 2, "Mail bounces": 1}
    (run,) = project.cli("runs", "tickets", "--limit", "1", "--events", "--json").json()
    [reason] = [e["reason"] for e in run["events"] if e["outcome"] == "failed"]
    assert "no support department named 'Sales' and ticket_department_id is not set" in reason
    bare.reset_calls()
    again = project.cli("sync", "tickets", "--json").json()[0]["counts"]
    assert (again["unchanged"], again["failed"]) == (2, 1) and writes(bare) == []  # what it wrote reads back the same
    check = project.cli("check", "blesta")
    assert check.exit_code == 1
    assert "systems.blesta.ticket_department_id: not set, and Blesta has 2 support departments " \
           "(Billing, Technical Support)" in check.stdout


def test_with_one_department_every_ticket_goes_there_and_check_passes(project: Any, billing: Any,
                                                                       bare: BlestaSandbox) -> None:
    bare.blesta.t["departments"][2]["company_id"] = 2  # company 1 keeps only Technical Support
    billing.put("ticket", ticket(subject="Discount?", department="Sales"), {"client": "c1"}, id="t1")
    check = project.cli("check", "blesta", "--json")
    assert check.exit_code == 0 and check.json() == [{"system": "blesta", "ok": True, "message": ""}]
    assert project.cli("sync", "--all").exit_code == 0
    assert departments(bare) == {"Discount?": 1}
    bare.reset_calls()
    assert project.cli("sync", "tickets", "--json").json()[0]["counts"]["unchanged"] == 1 and writes(bare) == []
