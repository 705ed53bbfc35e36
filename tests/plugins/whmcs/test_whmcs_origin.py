"""The origin marker of WHMCS clients: kept in the client custom field ``origin_field``."""

from __future__ import annotations

import pytest

from hostsync import ORIGIN, Record, Transient
from hostsync.sandbox import Fault
from hostsync_whmcs.connector import WhmcsConnector

ANN = Record("client", "17", {"email": "ann@example.org", "first_name": "Ann", "last_name": "Lee", "country": "NL"},
             origin="hs:blesta:17")


def test_the_marker_is_written_to_the_custom_field_and_read_back(sandbox, connector, options):
    assert options["origin_field"] == 1 and connector.operations(options)["client"].origin
    new_id = connector.create("client", ANN)
    assert sandbox.state["clients"][int(new_id)]["customfields"] == {"1": "hs:blesta:17"}
    assert connector.get("client", new_id).origin == "hs:blesta:17"
    assert connector.get("client", "1").origin is None  # clients hostsync did not create carry none
    connector.update("client", new_id, Record("client", "17", {"city": "Utrecht"}))
    assert connector.get("client", new_id).origin == "hs:blesta:17"  # updates leave it alone


def test_find_by_origin_reads_every_client_once_per_run(sandbox, connector):
    new_id = connector.create("client", ANN)
    sandbox.reset_calls()
    assert [r.id for r in connector.find("client", {ORIGIN: "hs:blesta:17"})] == [new_id]
    scanned = sandbox.calls["GetClientsDetails"]
    assert scanned >= len(sandbox.state["clients"])  # WHMCS cannot search custom fields
    sandbox.reset_calls()
    assert connector.find("client", {ORIGIN: "hs:blesta:99"}) == []
    assert dict(sandbox.calls) == {}  # the index answers
    other = connector.create("client", Record("client", "18", {"email": "bo@example.org"}, origin="hs:blesta:18"))
    sandbox.reset_calls()
    assert [r.id for r in connector.find("client", {ORIGIN: "hs:blesta:18"})] == [other]
    assert dict(sandbox.calls) == {"GetClientsDetails": 1}  # its own creates keep the index current


def test_after_a_lost_reply_the_next_lookup_reads_again_and_finds_it(sandbox, connector):
    assert connector.find("client", {ORIGIN: "hs:blesta:17"}) == []  # index built
    sandbox.inject(Fault("lost_reply", match="AddClient"))
    with pytest.raises(Transient) as lost:
        connector.create("client", ANN)
    assert lost.value.may_have_applied
    [found] = connector.find("client", {ORIGIN: "hs:blesta:17"})
    assert found.fields["email"] == "ann@example.org" and found.origin == "hs:blesta:17"


def test_without_origin_field_no_marker_is_kept(sandbox, options):
    options = {k: v for k, v in options.items() if k != "origin_field"}
    assert not WhmcsConnector.operations(options)["client"].origin
    with WhmcsConnector("billing", options) as connector:
        new_id = connector.create("client", ANN)
        assert sandbox.state["clients"][int(new_id)]["customfields"] == {}
        sandbox.reset_calls()
        assert connector.find("client", {ORIGIN: "hs:blesta:17"}) == [] and dict(sandbox.calls) == {}


def test_getclientsdetails_shows_custom_fields_as_whmcs_does(sandbox, connector):
    new_id = connector.create("client", ANN)
    answer = connector.api.call("GetClientsDetails", {"clientid": new_id})
    assert answer["client"]["customfields"] == [{"id": 1, "value": "hs:blesta:17"}]
    assert answer["client"]["customfields1"] == "hs:blesta:17"
