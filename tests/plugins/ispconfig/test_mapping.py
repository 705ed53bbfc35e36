"""ISPConfig rows <-> canonical records, each quirk on its own."""

from __future__ import annotations

import pytest

from hostsync.model import Record, normalise
from hostsync_ispconfig import mapping
from hostsync_ispconfig.panel import TABLES

ROW = {**TABLES["client"], "client_id": "12", "company_name": "Weiß & Söhne GmbH", "contact_firstname": "Jürgen",
       "contact_name": "Weiß", "email": "Juergen@Weiss.Example", "street": "Hauptstraße 1", "zip": "80331",
       "city": "München", "state": "Bayern", "country": "de", "telephone": " ", "password": "$6$rounds=5000$x$y",
       "id_rsa": "-----BEGIN RSA PRIVATE KEY-----", "ssh_rsa": "ssh-rsa AAAA", "locked": "n", "canceled": "n"}


def test_client_record_reads_only_mapped_columns():
    record = mapping.client_record(ROW)
    assert record.id == "12" and record.kind == "client" and record.refs == {}
    assert record.fields == {"email": "Juergen@Weiss.Example", "first_name": "Jürgen", "last_name": "Weiß",
                             "company": "Weiß & Söhne GmbH", "phone": None, "address1": "Hauptstraße 1",
                             "city": "München", "state": "Bayern", "postcode": "80331", "country": "de",
                             "status": "active"}
    assert normalise(record).fields["email"] == "juergen@weiss.example"
    assert normalise(record).fields["country"] == "DE"
    assert "$6$" not in repr(record) and "PRIVATE KEY" not in repr(record) and "ssh-rsa" not in repr(record)


@pytest.mark.parametrize("locked, canceled, status", [("n", "n", "active"), ("y", "n", "inactive"),
                                                      ("y", "y", "closed"), ("n", "y", "closed"), (None, None, "active")])
def test_client_status(locked, canceled, status):
    assert mapping.client_status({"locked": locked, "canceled": canceled}) == status


@pytest.mark.parametrize("status, back", [("active", "active"), ("inactive", "closed"), ("closed", "closed")])
def test_client_status_round_trips_except_inactive_which_is_written_as_closed(status, back):
    assert mapping.client_status(mapping.client_changes({"status": status})) == back
    assert mapping.stored("client", {"status": status}) == {"status": back}


def test_client_changes_only_for_present_fields_and_empty_for_none():
    assert mapping.client_changes({"city": "Berlin", "company": None}) == {"city": "Berlin", "company_name": ""}
    assert mapping.client_changes({"status": None}) == {"locked": "n", "canceled": "n"}  # no empty status: active
    assert mapping.client_changes({}) == {}


def test_client_add_params_are_complete_and_ordered_like_the_recording():
    params = mapping.client_add_params({"email": "a@b.example", "last_name": "B"}, {"language": "de"},
                                       username="ab", password="pw")
    assert list(params)[:5] == ["company_name", "contact_firstname", "contact_name", "customer_no", "email"]
    assert params["language"] == "de" and params["usertheme"] == "default"
    assert params["username"] == "ab" and params["password"] == "pw"
    assert params["locked"] == "n" and params["canceled"] == "n" and params["street"] == ""
    assert list(params).index("username") == list(params).index("parent_client_id") + 1
    extra = mapping.client_add_params({}, {"limit_mailquota": 500}, username="x", password="y")
    assert list(extra)[-1] == "limit_mailquota"


def test_address2_is_not_carried():
    assert "address2" not in mapping.CLIENT_FIELDS
    assert "address2" not in mapping.client_changes({"address2": "Flat 3"}).values()


def test_client_filter():
    assert mapping.client_filter({"email": "a@b.example", "status": "active", "customer_no": "C-1",
                                  "username": "ab", "city": None}) == \
        {"email": "a@b.example", "customer_no": "C-1", "username": "ab"}
    assert mapping.client_filter({"status": "active"}) == {}


@pytest.mark.parametrize("template, fields, attempt, expected", [
    ("{email_local}", {"email": "Zoë.Ångström+web@x.example"}, 1, "zoe.angstromweb"),
    ("{first_name}.{last_name}", {"first_name": "José", "last_name": "Muñoz"}, 1, "jose.munoz"),
    ("{company}", {"company": "Weiß & Söhne GmbH"}, 3, "weisssohnegmbh3"),
    ("{first_name}{last_name}", {"first_name": "Łukasz", "last_name": "Søndergård"}, 1, "lukaszsondergard"),
    ("{company}", {"company": "株式会社"}, 1, "client"),
    ("c-{email_local}", {"email": "x" * 80 + "@x.example"}, 12, "c-" + "x" * 60 + "12"),
])
def test_login_name(template, fields, attempt, expected):
    name = mapping.login_name(template, fields, attempt)
    assert name == expected and len(name) <= 64


def test_login_name_rejects_unknown_placeholders():
    with pytest.raises(KeyError):
        mapping.login_name("{nickname}", {})


def test_domain_mapping():
    row = {**TABLES["domain"], "domain_id": "4", "domain": "Bücher.Example", "sys_userid": "9"}
    record = mapping.domain_record(row, "12")
    assert record == Record("domain", "4", {"name": "Bücher.Example"}, {"client": "12"})
    assert normalise(record).fields["name"] == "xn--bcher-kva.example"
    assert mapping.domain_params({"name": "a.example"}) == {"domain": "a.example"}
    assert mapping.domain_filter({"name": "a.example", "client": "3"}) == {"domain": "a.example"}


def test_site_mapping_reads_php_no_as_none_and_flags_as_bools():
    row = {**TABLES["web_domain"], "domain_id": "3", "domain": "json.example", "php": "no", "ssl": "y",
           "hd_quota": "-1", "active": "n", "ssl_key": "-----BEGIN PRIVATE KEY-----", "backup_password": "bk"}
    record = mapping.site_record(row, None)
    assert record.fields == {"domain": "json.example", "status": "inactive", "php": None, "ssl": True, "quota_mb": "-1"}
    assert normalise(record).fields["quota_mb"] == -1
    assert "PRIVATE KEY" not in repr(record) and "bk" not in repr(record.fields)


def test_site_changes_and_add_params():
    assert mapping.site_changes({"php": None, "ssl": False, "quota_mb": 250, "status": "active"}) == \
        {"php": "no", "ssl": "n", "hd_quota": 250, "active": "y"}
    assert mapping.site_changes({}) == {}
    # ISPConfig has no empty status, TLS flag or quota: None gives what an add gives
    assert mapping.site_changes({"ssl": None, "quota_mb": None, "status": None}, {"hd_quota": 300}) == \
        {"ssl": "n", "hd_quota": 300, "active": "y"}
    assert mapping.site_changes({"ssl": True}, letsencrypt=True) == {"ssl": "y", "ssl_letsencrypt": "y"}
    params = mapping.site_add_params({"domain": "a.example"}, {"server_id": 2})
    assert params["server_id"] == 2 and params["type"] == "vhost" and params["domain"] == "a.example"
    assert set(mapping.SITE_DEFAULTS) <= set(params)
    assert mapping.site_filter({}) == {"type": "vhost"}
    assert mapping.site_filter({"domain": "a.example"}) == {"type": "vhost", "domain": "a.example"}


@pytest.mark.parametrize("kind, fields, kept", [
    ("client", {"status": None, "city": None, "email": "a@b.example"}, {"status": "active"}),
    ("client", {"status": "closed", "address2": "Flat 3"}, {}),  # address2 is not mapped: passes through
    ("site", {"php": "no", "ssl": None, "status": None, "quota_mb": None},
     {"php": None, "ssl": False, "status": "active", "quota_mb": 300}),
    ("site", {"php": "php-fpm", "ssl": True, "status": "inactive", "quota_mb": -1}, {}),
    ("domain", {"name": "a.example", "status": "expired", "expires_on": "2026-01-01"}, {}),
])
def test_stored_is_what_reading_back_shows(kind, fields, kept):
    assert mapping.stored(kind, fields, {"hd_quota": 300}) == {**fields, **kept}


def test_stored_agrees_with_the_panel_round_trip():
    """Write with the mapping into the emulated panel, read it back: stored() predicted it."""
    import random

    from hostsync_ispconfig.panel import Panel

    panel = Panel(lambda: 0.0, random.Random(0))
    fields = {"domain": "r.example", "php": "NO", "ssl": None, "status": None, "quota_mb": None}
    site_id = panel.sites_web_domain_add(0, mapping.site_add_params(fields, {"hd_quota": 300}))
    back = normalise(mapping.site_record(panel.sites_web_domain_get(site_id), None)).fields
    assert back == normalise(Record("site", None, mapping.stored("site", fields, {"hd_quota": 300}))).fields
    panel.sites_web_domain_update(0, site_id, mapping.site_changes({"status": "inactive", "quota_mb": 5}))
    panel.sites_web_domain_update(0, site_id, mapping.site_changes({"status": None, "quota_mb": None},
                                                                  {"hd_quota": 300}))
    row = panel.sites_web_domain_get(site_id)
    assert (row["active"], row["hd_quota"]) == ("y", "300")  # the same as the add: stored() holds for updates
