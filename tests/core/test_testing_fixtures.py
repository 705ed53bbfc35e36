"""The fixtures hostsync's pytest plugin gives plugin authors: ``shared_sandbox`` and ``connect``."""

from __future__ import annotations

from hostsync.sandbox import Fault
from hostsync_wbteampro.connector import TeamProConnector
from hostsync_whmcs.connector import WhmcsConnector
from hostsync_whmcs.sandbox import WhmcsSandbox

SAMPLE = WhmcsSandbox(seed=1).dump()


def test_a_shared_sandbox_is_one_server_made_fresh_on_every_call(shared_sandbox):
    box = shared_sandbox("wbteampro", SAMPLE)  # found by a plugin it serves too
    url = box.url
    box.inject(Fault("error", match="GetClients"))
    box.state["clients"].clear()
    box.calls["GetClients"] += 1
    again = shared_sandbox("whmcs", SAMPLE)
    assert again is box and again.url == url
    assert again.faults == [] and not again.calls and len(again.state["clients"]) == len(SAMPLE["clients"])
    assert not shared_sandbox("whmcs").state["clients"]  # no data: as reset, empty
    box.state["clients"][99] = {"id": 99}
    assert 99 in shared_sandbox("whmcs", keep=True).state["clients"]


def test_connect_configures_the_connector_from_the_sandboxes_own_table(shared_sandbox, connect):
    box = shared_sandbox("whmcs", SAMPLE)
    billing = connect(box)
    teampro = connect(box, "teampro", timeout=5.0, shares_ids_with=None)
    assert isinstance(billing, WhmcsConnector) and billing.system == "billing" and billing.options["timeout"] == 2.0
    assert isinstance(teampro, TeamProConnector) and teampro.options["timeout"] == 5.0
    assert "shares_ids_with" not in teampro.options
    assert billing.get("client", "1") is not None
