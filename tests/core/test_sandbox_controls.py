"""Sandbox controls a plugin author relies on: starting the sandbox that serves a plugin, editing
records as a vendor user would (in-process, over HTTP and from the CLI), modelled latency."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import httpx
import pytest
from click.testing import CliRunner

from hostsync.cli import cli
from hostsync.plugins import load_plugins
from hostsync_blesta.connector import BlestaConnector
from hostsync_blesta.sandbox import BlestaSandbox
from hostsync_ispconfig import sandbox as ispconfig_sandbox
from hostsync_ispconfig.connector import IspconfigConnector
from hostsync_whmcs.connector import WhmcsConnector
from hostsync_whmcs.sandbox import WhmcsSandbox
from hostsync import Record


def options(box, system: str) -> dict:
    return {k: v for k, v in box.systems()[system].items() if k not in ("plugin", "shares_ids_with")}


def test_the_sandbox_of_a_plugin_is_found_by_the_plugin_name():
    plugins = load_plugins()
    assert plugins.sandbox_for("wbteampro") is plugins.sandboxes["whmcs"]
    assert plugins.sandbox_for("nope") is None
    process = subprocess.Popen([sys.executable, "-m", "hostsync", "sandbox", "wbteampro", "whmcs", "--empty"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr.readline() == "Serving; press Ctrl-C to stop.\n"
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert out.count(": http://127.0.0.1:") == 1 and out.startswith("whmcs: ")  # one sandbox serves both
    assert "[systems.teampro]" in out and 'plugin = "wbteampro"' in out
    unknown = CliRunner().invoke(cli, ["sandbox", "wbteampr"])
    assert unknown.exit_code == 2 and "unknown sandbox wbteampr (known: " in unknown.output
    known = unknown.output.split("(known: ", 1)[1].split(")", 1)[0].split(", ")
    assert "wbteampro" in known and "whmcs" in known and known == sorted(known)  # plugin names offered too


def test_edit_changes_a_record_as_a_vendor_user_would_and_the_connector_sees_it():
    with WhmcsSandbox(seed=1) as box, WhmcsConnector("billing", options(box, "billing")) as whmcs:
        box.edit("client", "3", city="Leipzig", status="inactive")
        record = whmcs.get("client", "3")
        assert (record.fields["city"], record.fields["status"]) == ("Leipzig", "inactive")
        assert "City: " in box.state["activity"][max(box.state["activity"])]["description"]  # logged as WHMCS does
        assert dict(box.calls) == {"GetClientsDetails": 1}  # the edit itself is no API call
        box.edit("domain", "1", expires_on="2031-01-01")
        assert whmcs.get("domain", "1").fields["expires_on"] == "2031-01-01"
        with pytest.raises(ValueError, match="cannot edit client field.s. colour"):
            box.edit("client", "3", colour="red")
        with pytest.raises(LookupError, match="no client 999"):
            box.edit("client", "999", city="x")
    with BlestaSandbox(seed=1) as box, BlestaConnector("blesta", options(box, "blesta")) as blesta:
        box.edit("client", "2", city="Lyon", postcode="69001")
        assert blesta.get("client", "2").fields["postcode"] == "69001"
    with ispconfig_sandbox.IspconfigSandbox(seed=1) as box, \
            IspconfigConnector("panel", options(box, "panel")) as panel:
        some = next(iter(panel.list("client")))
        box.edit("client", some.id, company="Renamed GmbH", status="closed")
        assert panel.get("client", some.id).fields["company"] == "Renamed GmbH"
        assert panel.get("client", some.id).fields["status"] == "closed"


def test_edit_over_http_and_from_the_cli():
    with WhmcsSandbox(seed=1) as box:
        ok = httpx.post(f"{box.url}/_sandbox/edit", json={"kind": "client", "id": "2", "fields": {"city": "Ávila"}})
        assert ok.status_code == 200 and box.state["clients"][2]["city"] == "Ávila"
        bad = httpx.post(f"{box.url}/_sandbox/edit", json={"kind": "ticket", "id": "1", "fields": {}})
        assert bad.status_code == 400 and bad.json()["error"] == "sandbox whmcs cannot edit ticket records (it edits client, domain)"
        assert httpx.post(f"{box.url}/_sandbox/edit", json={"id": "1"}).json()["error"] == "missing 'kind'"
        runner = CliRunner()
        result = runner.invoke(cli, ["sandbox-edit", box.url, "client", "2", "city=Toledo", "address2="])
        assert result.exit_code == 0, result.output
        assert result.output == "client 2: address2, city changed\n"
        assert (box.state["clients"][2]["city"], box.state["clients"][2]["address2"]) == ("Toledo", "")
        refused = runner.invoke(cli, ["sandbox-edit", box.url, "client", "2", "colour=red"])
        assert refused.exit_code == 1 and refused.output.startswith("Error: sandbox whmcs cannot edit client field(s) colour")
        malformed = runner.invoke(cli, ["sandbox-edit", box.url, "client", "2", "city"])
        assert malformed.exit_code == 2 and "'city' is not FIELD=VALUE" in malformed.output
    gone = CliRunner().invoke(cli, ["sandbox-edit", "http://127.0.0.1:9", "client", "2", "city=x"])
    assert gone.exit_code == 1 and gone.output.startswith("Error: cannot reach a sandbox at http://127.0.0.1:9")


def test_ispconfig_client_add_latency_is_opt_in_scaled_and_outside_the_lock(monkeypatch):
    slept = []
    with ispconfig_sandbox.IspconfigSandbox(seed=1) as box:
        def sleep(seconds: float) -> None:  # record it, and prove the sandbox lock is free meanwhile
            free = []
            probe = threading.Thread(target=lambda: free.append(box.lock.acquire(blocking=False) and
                                                                 (box.lock.release() or True)))
            probe.start()
            probe.join()
            slept.append((seconds, free == [True]))

        monkeypatch.setattr(ispconfig_sandbox.time, "sleep", sleep)
        new = Record("client", None, {"email": "lat@example.org", "first_name": "L", "last_name": "T"})
        with IspconfigConnector("panel", options(box, "panel")) as panel:
            panel.create("client", new)
            assert slept == []  # off by default: tests and the demo stay fast
            httpx.post(f"{box.url}/_sandbox/flags", json={"latency": 1})
            panel.create("client", Record("client", None, {**new.fields, "email": "lat2@example.org"}))
            box.latency = 0.5
            panel.update("client", "1", Record("client", None, {"city": "Gent"}))  # not an add: no latency
    assert slept == [(0.6, True)]
