"""The plugin as hostsync sees it: registration, the example config snippets, and the sandbox's
sample data and control surface."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import httpx
import pytest

from hostsync.config import load_config
from hostsync.plugins import CORE_SYSTEM_KEYS, load_plugins
from hostsync_wbteampro.connector import TeamProConnector
from hostsync_whmcs.connector import WhmcsConnector
from hostsync_whmcs.sandbox import WhmcsSandbox

CONFIG = Path(__file__).parents[3] / "config"


def test_entry_points_register_both_connectors_and_the_sandbox():
    plugins = load_plugins()
    assert plugins.connectors["whmcs"] is WhmcsConnector
    assert plugins.connectors["wbteampro"] is TeamProConnector
    assert plugins.sandboxes["whmcs"] is WhmcsSandbox and WhmcsSandbox.plugins == ("whmcs", "wbteampro")


def test_example_snippets_load_and_name_only_real_settings(tmp_path):
    text = "\n".join((CONFIG / name).read_text() for name in ("whmcs.toml", "wbteampro.toml"))
    for name in ("whmcs-api-secret", "wbteampro-password"):
        (tmp_path / name).write_text("s3cret\n")
        text = text.replace(f'"{name}"', f'"{tmp_path / name}"')
    (tmp_path / "hostsync.toml").write_text(f"[hostsync]\nstate = 'h.db'\n{text}")
    config = load_config(tmp_path / "hostsync.toml", load_plugins(), env={"WHMCS_API_IDENTIFIER": "id"})
    assert config.systems["teampro"].shares_ids_with == "billing"
    lines = re.findall(r"^# ([a-z_]+ = .*)$", text, re.M)  # the commented-out examples
    commented = {tomllib.loads(line).popitem()[0] for line in lines}  # each one valid TOML
    known = {s.name for c in (WhmcsConnector, TeamProConnector) for s in c.settings}
    known |= {f"{s.name}_file" for c in (WhmcsConnector, TeamProConnector) for s in c.settings if s.secret}
    known |= {"kind", "source", "targets", "every"}  # the commented job examples
    known |= set(CORE_SYSTEM_KEYS)
    assert commented and commented <= known


def test_systems_point_at_the_running_sandbox(sandbox):
    systems = sandbox.systems()
    assert systems["billing"]["url"] == systems["teampro"]["url"] == sandbox.url
    assert systems["teampro"]["shares_ids_with"] == "billing"


def test_sample_data_is_deterministic_and_varied():
    one, again, other = WhmcsSandbox(seed=3).dump(), WhmcsSandbox(seed=3).dump(), WhmcsSandbox(seed=4).dump()
    assert one == again and one != other
    assert {c["status"] for c in one["clients"]} == {"Active", "Inactive", "Closed"}
    assert len({c["country"] for c in one["clients"]}) >= 8
    assert {i["status"] for i in one["invoices"]} >= {"Paid", "Unpaid", "Draft", "Cancelled", "Refunded", "Collections"}
    assert all(len(t["replies"]) >= 1 for t in one["tickets"]) and max(len(t["replies"]) for t in one["tickets"]) >= 4
    assert {d["status"] for d in one["domains"]} >= {"Active", "Expired", "Pending", "Grace"}
    assert any(ord(ch) > 127 for c in one["clients"] for ch in c["firstname"] + c["lastname"])
    assert WhmcsSandbox().dump()["clients"] == []


def test_control_surface_over_http(sandbox):
    dump = httpx.get(f"{sandbox.url}/_sandbox/dump").json()
    dump["clients"] = dump["clients"][:2]
    assert httpx.post(f"{sandbox.url}/_sandbox/load", json=dump).json() == {"ok": True}
    assert len(sandbox.state["clients"]) == 2
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"kind": "error", "match": "GetClients", "status": 503})
    form = {"action": "GetClients", "responsetype": "json", "identifier": sandbox.IDENTIFIER, "secret": sandbox.SECRET}
    assert httpx.post(f"{sandbox.url}/includes/api.php", data=form).status_code == 503
    assert httpx.post(f"{sandbox.url}/includes/api.php", data=form).json()["totalresults"] == 2
    calls = httpx.get(f"{sandbox.url}/_sandbox/calls").json()
    assert calls["calls"] == {"GetClients": 2} and calls["log"][0]["fault"] == "error"


def test_unknown_paths_and_actions(sandbox):
    assert httpx.get(f"{sandbox.url}/index.php").status_code == 404
    form = {"action": "NoSuchThing", "responsetype": "json", "identifier": sandbox.IDENTIFIER, "secret": sandbox.SECRET}
    assert httpx.post(f"{sandbox.url}/includes/api.php", data=form).json() == {"result": "error",
                                                                              "message": "Command Not Found"}


@pytest.mark.parametrize("flag", [True, False])
def test_get_tickets_shows_only_the_admins_departments_without_the_flag(sandbox, flag):
    form = {"action": "GetTickets", "responsetype": "json", "identifier": sandbox.IDENTIFIER, "secret": sandbox.SECRET,
            "limitnum": 100, **({"ignore_dept_assignments": "1"} if flag else {})}
    total = int(httpx.post(f"{sandbox.url}/includes/api.php", data=form).json()["totalresults"])
    assert total == (10 if flag else 6)
