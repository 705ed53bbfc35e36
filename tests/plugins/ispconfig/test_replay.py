"""Replay of the exchanges recorded from a real ISPConfig 3.2 (vendor-docs/ispconfig-wire).

Requests our transports build must have the structure PHP's own SoapClient sent (positions, xsi:types,
Map items in order) and the JSON bodies the recording sent; recorded replies must decode to the
expected canonical records.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from hostsync.errors import ProtocolError, Rejected
from hostsync.model import normalise
from hostsync_ispconfig import mapping, soapenc
from hostsync_ispconfig.client import RemoteFault, Session, classify
from hostsync_ispconfig.functions import FUNCTIONS, Default
from hostsync_ispconfig.jsonapi import JsonTransport
from hostsync_ispconfig.soap import WSDL, OfflineLoadError, SoapTransport, _HttpxTransport

WIRE = Path(__file__).with_name("wire")  # copies of shared/vendor-docs/ispconfig-wire

XSI_TYPE = f"{{{soapenc.XSI}}}type"


REDACTED = re.compile(r"<((?:password hash|private key|public key) removed)>")


def sections(name: str) -> list[tuple[str, str]]:
    """(header, body) pairs of a recording split at its ``==== `` lines.

    Whoever redacted the recordings pasted ``<password hash removed>`` (and the keys) into the XML as
    is, which is not well-formed; they are escaped back into text here.
    """
    out: list[tuple[str, str]] = []
    for line in REDACTED.sub(r"[\1]", (WIRE / name).read_text()).splitlines():
        if line.startswith("==== "):
            out.append((line[5:], ""))
        elif out:
            out[-1] = (out[-1][0], out[-1][1] + line + "\n")
    return [(head, body.strip()) for head, body in out]


def php_exchanges() -> list[tuple[str, bytes, bytes]]:
    parts = sections("soap-php-soapclient.wire.xml")
    return [(head.split()[0], req.encode(), resp.encode()) for (head, req), (_, resp) in zip(parts[::2], parts[1::2])]


def resolved(element: etree._Element) -> tuple[str | None, str] | None:
    raw = element.get(XSI_TYPE)
    if raw is None:
        return None
    prefix, _, local = raw.rpartition(":")
    return element.nsmap.get(prefix or None), local


def shape(element: etree._Element) -> Any:
    """The structure that matters to PHP: xsi:types (namespace-resolved), Map keys in order, values."""
    kind = resolved(element)
    if element.get(f"{{{soapenc.XSI}}}nil") == "true":
        return ("nil",)
    children = [child for child in element if isinstance(child.tag, str)]
    if kind == (soapenc.APACHE, "Map"):
        return (kind, [(item.find("key").text, shape(item.find("value"))) for item in children])
    if children:
        return (kind, [shape(child) for child in children])
    return (kind, element.text or "")


def arguments(envelope: etree._Element) -> list[etree._Element]:
    body = envelope.find(f"{{{soapenc.SOAP_ENV}}}Body")
    return [child for child in body[0] if isinstance(child.tag, str)]


@pytest.fixture
def soap() -> SoapTransport:
    transport = SoapTransport("http://127.0.0.1:1/remote/", {"timeout": 1})
    yield transport
    transport.close()


# --- requests ---------------------------------------------------------------------------------

def test_login_and_list_requests_match_php_soapclient(soap):
    recorded = {name: soapenc.parse(request) for name, request, _ in php_exchanges()}
    ours = soap.envelope("login", ["apiuser", "apipass123", Default(False)])
    assert [shape(a) for a in arguments(ours)] == [shape(a) for a in arguments(recorded["login"])]
    listing = [etree.fromstring(req) for name, req, _ in php_exchanges() if name == "client_get"][-1]
    ours = soap.envelope("client_get", ["737e8c8b98ebecbaf78cfbbc54678c3e", -1])
    assert [shape(a) for a in arguments(ours)] == [shape(a) for a in arguments(listing)]


def test_the_same_php_array_encodes_as_php_soapclient_encoded_it(soap):
    recorded = next(soapenc.parse(req) for name, req, _ in php_exchanges() if name == "client_add")
    params = soapenc.decode(arguments(recorded)[2])  # the PHP array, as PHP's SoapServer reads it
    ours = soap.envelope("client_add", ["737e8c8b98ebecbaf78cfbbc54678c3e", 0, params])
    assert [shape(a) for a in arguments(ours)] == [shape(a) for a in arguments(recorded)]


def test_connector_client_add_sends_what_php_soapclient_sent(soap):
    recorded = next(soapenc.parse(req) for name, req, _ in php_exchanges() if name == "client_add")
    fields = {"email": "jane@acme.example", "first_name": None, "last_name": "Jane Doe", "company": "ACME Ltd",
              "phone": None, "address1": None, "city": None, "state": None, "postcode": None, "country": "GB",
              "status": "active"}
    params = mapping.client_add_params(fields, {"notes": "created by hostsync research", "customer_no": "C-1001"},
                                       username="acme", password="S3cure-Pass!")
    ours = dict(shape(arguments(soap.envelope("client_add", ["s", 0, params]))[2])[1])
    theirs = shape(arguments(recorded)[2])[1]
    assert [key for key in ours if key in dict(theirs)] == [key for key, _ in theirs]  # same order
    assert set(ours) - dict(theirs).keys() == {"contact_firstname", "locked", "canceled"}
    for key, value in theirs:
        assert ours[key] == value, key


def test_empty_dict_goes_as_empty_array_and_none_as_nil(soap):
    args = arguments(soap.envelope("client_get", ["s", {}]))
    assert resolved(args[1]) == (soapenc.SOAP_ENC, "Array") and len(args[1]) == 0
    args = arguments(soap.envelope("client_update", ["s", 1, 0, {"notes": None, "n": 5, "ok": True}]))
    items = shape(args[3])[1]
    assert items == [("notes", ("nil",)), ("n", ((soapenc.XSD, "int"), "5")), ("ok", ((soapenc.XSD, "boolean"), "true"))]


def test_json_bodies_match_the_recording():
    transport = JsonTransport("http://127.0.0.1:1/remote/", {})
    recorded = [(head.split("?", 1)[1], json.loads(body.split("\n", 1)[0]))
                for head, body in sections("json-httpx.wire.txt")]
    session = "13452198769684aad84a586700d923d9"
    calls = {
        "client_get": [session, 3], "client_delete": [session, 3], "logout": [session],
        "sites_web_domain_delete": [session, 3], "sites_web_domain_update": [session, 3, 3, {"hd_quota": 300}],
    }
    checked = set()
    for function, sent in recorded:
        if function in calls and function not in checked:
            assert transport.body(function, calls[function]) == sent, function
            checked.add(function)
    assert checked == set(calls)
    login = transport.body("login", ["apiuser", "apipass123", Default(False)])
    assert login == {"username": "apiuser", "password": "apipass123", "client_login": False}
    transport.close()


# --- replies ----------------------------------------------------------------------------------

def test_php_replies_decode_by_xsi_type():
    replies = {}
    for name, _, response in php_exchanges():
        replies.setdefault(name, []).append(soapenc.read_reply(soapenc.parse(response)))
    assert replies["login"] == ["737e8c8b98ebecbaf78cfbbc54678c3e"]
    assert replies["client_add"] == ["3"]  # the new id, as a string
    one, listing = replies["client_get"]
    assert one["contact_firstname"] == "" and one["limit_web_ip"] is None and one["tmp_data"] is None
    assert isinstance(listing, list) and len(listing) == 2 and all(isinstance(row, dict) for row in listing)
    record = normalise(mapping.client_record(one))
    assert record.id == "3" and record.fields == {
        "email": "jane@acme.example", "first_name": None, "last_name": "Jane Doe", "company": "ACME Ltd",
        "phone": None, "address1": None, "address2": None, "city": None, "state": None, "postcode": None,
        "country": "GB", "status": "active"}
    assert [mapping.client_record(row).id for row in listing] == [row["client_id"] for row in listing]


def test_zeep_recording_replies_decode_too():
    received = [body for head, body in sections("soap-zeep.wire.xml") if head == "RECEIVED"]
    login, added, got, deleted = (soapenc.read_reply(soapenc.parse(body.encode())) for body in received)
    assert login == "3fa107eb15bd04bf625ee355b34858aa" and added == "2" and deleted == 1
    assert got["sys_perm_other"] == "" and got["added_date"] is None  # pretty-printed, '' and None apart
    assert normalise(mapping.client_record(got)).fields["email"] == "w@wire.example"


def test_json_replies_decode_to_records():
    replies = [json.loads(body.rsplit("\n", 1)[-1]) for _, body in sections("json-httpx.wire.txt")]
    client = normalise(mapping.client_record(replies[2]["response"]))
    assert (client.id, client.fields["email"], client.fields["company"], client.fields["country"]) == \
        ("3", "jay@json.example", "Json AG", "CH")
    assert replies[5]["response"] is None and replies[6]["response"] == []  # missing id; misspelt name
    site = normalise(mapping.site_record(replies[9]["response"], "3"))
    assert site.fields == {"domain": "json.example", "status": "active", "php": "php-fpm", "ssl": False,
                           "quota_mb": 100} and site.refs == {"client": "3"}


def _json_replay(body: str) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(
        200, content=body.encode(), headers={"Content-Type": 'application/json; charset="utf-8"'}))


def test_recorded_json_faults_map_to_typed_errors():
    replies = {head.split("?", 1)[1]: body.rsplit("\n", 1)[-1] for head, body in sections("json-httpx.wire.txt")}
    bad_site = JsonTransport("http://panel/remote/", {"http_transport": _json_replay(replies["sites_web_domain_add"])})
    with pytest.raises(RemoteFault) as caught:
        bad_site.call("sites_web_domain_add", ["s", 3, {"domain": "bad domain"}, False], what="add", write=True)
    assert classify(caught.value) == "rejected"
    from hostsync_ispconfig.client import fault_error
    error = fault_error(caught.value, "add site", write=True)
    assert isinstance(error, Rejected) and "domain_error_regex" in str(error) and "<br" not in str(error)
    assert {"domain", "hd_quota", "http_port"} <= set(error.fields)

    unknown = JsonTransport("http://panel/remote/", {"http_transport": _json_replay(replies["no_such_method"])})
    with pytest.raises(RemoteFault) as caught:
        unknown.call("logout", ["s"], what="x", write=False)
    assert isinstance(fault_error(caught.value, "x", write=False), ProtocolError)

    expired = replies["client_get"]  # the last client_get in the recording: after logout
    session = Session(JsonTransport("http://panel/remote/", {"http_transport": _json_replay(expired)}),
                      "u", "p", system="panel")
    with pytest.raises(RemoteFault) as caught:
        session.transport.call("client_get", ["s", 1], what="x", write=False)
    assert classify(caught.value) == "session"


# --- the WSDL ---------------------------------------------------------------------------------

def test_wsdl_declares_exactly_the_functions_in_their_order():
    tree = etree.parse(str(WSDL))
    ns = {"w": "http://schemas.xmlsoap.org/wsdl/"}
    messages = {m.get("name"): [p.get("name") for p in m.findall("w:part", ns)] for m in tree.findall("w:message", ns)}
    operations = [op.get("name") for op in tree.findall("w:portType/w:operation", ns)]
    assert operations == list(FUNCTIONS)
    for name, params in FUNCTIONS.items():
        assert tuple(messages[f"{name}Request"]) == params
    parts = tree.findall("w:message/w:part", ns)
    assert {p.get("type") for p in parts} == {"xsd:anyType"}


def test_loading_touches_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access while loading the SOAP transport")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    transport = SoapTransport("https://panel.example.com:8080/remote/", {"timeout": 1})
    assert transport.envelope("logout", ["s"]) is not None
    transport.close()
    with pytest.raises(OfflineLoadError):
        _HttpxTransport(httpx.Client(), 1.0).load("http://schemas.xmlsoap.org/soap/encoding/")


def test_replies_are_parsed_without_entities_or_network():
    evil = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" '
            b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
            b'<SOAP-ENV:Body><r><return xsi:type="xsd:string">&x;</return></r></SOAP-ENV:Body></SOAP-ENV:Envelope>')
    value = soapenc.read_reply(soapenc.parse(evil))
    assert "root:" not in (value or "")
