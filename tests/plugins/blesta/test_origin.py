"""The origin marker of Blesta clients: kept in the client custom field ``origin_field``."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from hostsync import ORIGIN, Record, Transient
from hostsync.sandbox import Fault
from hostsync_blesta.connector import BlestaConnector
from hostsync_blesta.sandbox import BlestaSandbox

ANN = Record("client", "17", {"email": "ann@example.org", "first_name": "Ann", "last_name": "Lee", "country": "NL"},
             origin="hs:whmcs:17")


def test_the_marker_is_written_to_the_custom_field_and_read_back(sandbox: BlestaSandbox, blesta: BlestaConnector):
    assert blesta.operations(blesta.opts)["client"].origin
    new_id = blesta.create("client", ANN)
    values = sandbox.blesta.t["client_values"].values()
    assert [(v["client_field_id"], v["client_id"], v["value"]) for v in values] == [(1, int(new_id), "hs:whmcs:17")]
    assert blesta.get("client", new_id).origin == "hs:whmcs:17"
    assert next(r for r in blesta.list("client") if r.id == new_id).origin == "hs:whmcs:17"
    blesta.update("client", new_id, Record("client", "17", {"city": "Utrecht"}))
    assert blesta.get("client", new_id).origin == "hs:whmcs:17"


def test_find_by_origin_reads_every_client_once_per_run(sandbox: BlestaSandbox, blesta: BlestaConnector):
    new_id = blesta.create("client", ANN)
    sandbox.reset_calls()
    assert [r.id for r in blesta.find("client", {ORIGIN: "hs:whmcs:17"})] == [new_id]
    assert sandbox.calls["clients/getCustomFieldValues"] >= len(sandbox.blesta.t["clients"])
    sandbox.reset_calls()
    assert blesta.find("client", {ORIGIN: "hs:whmcs:99"}) == [] and dict(sandbox.calls) == {}


def test_after_a_lost_reply_the_next_lookup_reads_again_and_finds_it(sandbox: BlestaSandbox,
                                                                       blesta: BlestaConnector):
    assert blesta.find("client", {ORIGIN: "hs:whmcs:17"}) == []
    sandbox.inject(Fault("lost_reply", match="clients/create"))
    with pytest.raises(Transient) as lost:
        blesta.create("client", ANN)
    assert lost.value.may_have_applied
    [found] = blesta.find("client", {ORIGIN: "hs:whmcs:17"})
    assert found.fields["email"] == "ann@example.org"


def test_without_origin_field_no_marker_is_kept_and_no_call_is_spent(sandbox: BlestaSandbox,
                                                                      connect: Callable[..., Any]):
    bare = connect(sandbox, origin_field=None)
    assert not bare.kinds["client"].origin
    new_id = bare.create("client", ANN)
    assert not sandbox.blesta.t["client_values"]
    sandbox.reset_calls()
    bare.get("client", new_id)
    assert "clients/getCustomFieldValues" not in sandbox.calls
    assert bare.find("client", {ORIGIN: "hs:whmcs:17"}) == []
