"""The connector against every backend: the Python sandbox and PHP's own SoapServer, SOAP and JSON."""

from __future__ import annotations

import threading

import pytest

from hostsync.errors import AuthError, NotFound, ProtocolError, Rejected, Transient
from hostsync.model import KINDS, Record, normalise
from hostsync.sandbox import Fault
from hostsync_ispconfig import mapping

from .support import PythonBackend, sample_data


def _client(email: str = "ada@lovelace.example", **fields) -> Record:
    return Record("client", None, {"email": email, "first_name": "Ada", "last_name": "Lovelace",
                                   "company": "Analytical Engines Ltd", "phone": "+44 20 7946 0000",
                                   "address1": "12 St James's Square", "city": "London", "state": None,
                                   "postcode": "SW1Y 4JH", "country": "GB", "status": "active", **fields})


def test_list_reads_every_client_without_secrets(backend, connect):
    connector = connect(backend)
    records = list(connector.list("client"))
    rows = backend.rows("client")
    assert sorted(r.id for r in records) == sorted(row["client_id"] for row in rows)
    by_id = {row["client_id"]: row for row in rows}
    for record in records:
        row = by_id[record.id]
        assert record.fields["email"] == row["email"]
        assert record.fields["last_name"] == row["contact_name"]
        assert normalise(record).fields["country"] == row["country"]
        assert set(record.fields) == set(connector.kinds["client"].carried("client"))
    statuses = {r.fields["status"] for r in records}
    assert {"active", "inactive", "closed"} <= statuses  # sample has locked and cancelled clients


def test_client_round_trip_create_get_update_delete(backend, connect):
    connector = connect(backend)
    created = _client()
    new_id = connector.create("client", created)
    assert new_id.isdigit()
    got = connector.get("client", new_id)
    assert normalise(got).fields == normalise(created).fields
    row = next(r for r in backend.rows("client") if r["client_id"] == new_id)
    assert row["username"] == "ada" and row["language"] == "en"
    assert row["password"] and "Lovelace" not in row["password"]  # a generated password, stored hashed

    connector.update("client", new_id, Record("client", new_id, {"city": "Cambridge", "status": "inactive",
                                                                   "company": None}))
    got = connector.get("client", new_id)
    # inactive is written as closed: ISPConfig stops a login only for a canceled client
    assert got.fields["city"] == "Cambridge" and got.fields["status"] == "closed"
    assert got.fields["company"] is None and got.fields["last_name"] == "Lovelace"  # merged, not replaced
    assert connector.stored("client", Record("client", new_id, {"status": "inactive"})).fields["status"] == "closed"

    connector.update("client", new_id, Record("client", new_id, {"status": "active"}))
    assert connector.get("client", new_id).fields["status"] == "active"
    connector.delete("client", new_id)
    assert connector.get("client", new_id) is None


def test_update_that_changes_nothing_is_not_an_error(backend, connect):
    connector = connect(backend)
    record = next(iter(connector.list("client")))
    connector.update("client", record.id, record)  # ISPConfig answers 0 affected rows
    assert connector.get("client", record.id).fields == record.fields


def test_find_by_email_is_case_insensitive_and_by_vendor_identifiers(backend, connect):
    connector = connect(backend)
    row = backend.rows("client")[4]
    found = connector.find("client", {"email": row["email"].upper()})
    assert [r.id for r in found] == [row["client_id"]]
    assert [r.id for r in connector.find("client", {"customer_no": row["customer_no"]})] == [row["client_id"]]
    assert [r.id for r in connector.find("client", {"username": row["username"]})] == [row["client_id"]]
    assert connector.find("client", {"email": "nobody@nowhere.example"}) == []


def test_login_names_follow_the_template_and_step_round_taken_ones(backend, connect):
    connector = connect(backend, client_defaults={"username_template": "{first_name}.{last_name}"})
    first = connector.create("client", _client("a1@x.example", first_name="Zoë", last_name="Ångström"))
    second = connector.create("client", _client("a2@x.example", first_name="Zoe", last_name="Angstrom"))
    names = {r["client_id"]: r["username"] for r in backend.rows("client")}
    assert names[first] == "zoe.angstrom" and names[second] == "zoe.angstrom2"


def test_get_missing_and_bad_ids(backend, connect):
    connector = connect(backend)
    assert connector.get("client", "99999") is None  # null on the wire, not a fault
    assert connector.get("client", "0") is None and connector.get("client", "abc") is None
    with pytest.raises(NotFound, match="99999"):
        connector.update("client", "99999", Record("client", "99999", {"city": "Nowhere"}))
    with pytest.raises(NotFound, match="99999"):
        connector.delete("client", "99999")


def test_validation_faults_are_rejected_with_the_vendor_message(backend, connect):
    connector = connect(backend)
    with pytest.raises(Rejected) as caught:
        connector.create("client", _client("not-an-email"))
    assert "email_error_isemail" in str(caught.value) and "<br" not in str(caught.value)
    assert caught.value.fields == {"email": "email_error_isemail"}
    assert not [r for r in backend.rows("client") if r["email"] == "not-an-email"]


def test_domain_with_client_reference(backend, connect):
    connector = connect(backend)
    client_id = connector.create("client", _client())
    domain_id = connector.create("domain", Record("domain", None, {"name": "lovelace.example"}, {"client": client_id}))
    got = connector.get("domain", domain_id)
    assert got.fields == {"name": "lovelace.example"} and got.refs == {"client": client_id}
    assert [r.id for r in connector.find("domain", {"name": "lovelace.example"})] == [domain_id]
    listed = {r.id: r for r in connector.list("domain")}
    assert listed[domain_id].refs == {"client": client_id}
    owners = {row["domain_id"]: row["sys_userid"] for row in backend.rows("domain")}
    assert owners[domain_id] != "1"  # owned by the client's login, not the admin

    other = next(r.id for r in connector.list("client") if r.id != client_id)
    connector.update("domain", domain_id, Record("domain", domain_id, {"name": "lovelace.example"}, {"client": other}))
    assert connector.get("domain", domain_id).refs == {"client": other}
    # Without a client reference the owner stays (an ISPConfig update with client 0 would hand it to admin).
    connector.update("domain", domain_id, Record("domain", domain_id, {"name": "ada.example"}))
    assert connector.get("domain", domain_id).refs == {"client": other}
    connector.delete("domain", domain_id)
    assert connector.get("domain", domain_id) is None


def test_deleting_a_client_strands_its_domains_and_sites(backend, connect):
    """As on a real ISPConfig: client_delete removes the client, its login and its group, and leaves its
    domain and site rows pointing at a sys_userid and sys_groupid that no longer exist. The connector
    declares it (Operations.strands), so the engine deletes them first or refuses."""
    connector = connect(backend)
    client_id = connector.create("client", _client())
    domain_id = connector.create("domain", Record("domain", None, {"name": "lovelace.example"}, {"client": client_id}))
    site_id = connector.create("site", Record("site", None, {"domain": "lovelace.example", "status": "active",
                                                             "php": "php-fpm", "ssl": False, "quota_mb": 100},
                                              {"client": client_id}))
    owner = {(row["sys_userid"], row["sys_groupid"]) for row in backend.rows("domain") if row["domain_id"] == domain_id}
    connector.delete("client", client_id)
    users = {row["userid"] for row in backend.rows("sys_user")}
    groups = {row["groupid"] for row in backend.rows("sys_group")}
    for table, ident in (("domain", domain_id), ("web_domain", site_id)):
        [row] = [r for r in backend.rows(table) if r["domain_id"] == ident]
        assert {(row["sys_userid"], row["sys_groupid"])} == owner
        assert row["sys_userid"] not in users and row["sys_groupid"] not in groups
    assert connector.get("domain", domain_id).refs == {"client": None}  # read back: owned by nobody
    assert connector.kinds["client"].strands == {"domain", "site"}


def test_domain_without_owner_belongs_to_nobody(backend, connect):
    connector = connect(backend)
    domain_id = connector.create("domain", Record("domain", None, {"name": "orphan.example"}, {"client": None}))
    assert connector.get("domain", domain_id).refs == {"client": None}


def test_site_round_trip(backend, connect):
    connector = connect(backend)
    client_id = connector.create("client", _client())
    site = Record("site", None, {"domain": "lovelace.example", "status": "active", "php": None, "ssl": True,
                                 "quota_mb": 250}, {"client": client_id})
    site_id = connector.create("site", site)
    got = connector.get("site", site_id)
    assert normalise(got).fields == normalise(site).fields and got.refs == {"client": client_id}
    row = next(r for r in backend.rows("web_domain") if r["domain_id"] == site_id)
    assert row["php"] == "no" and row["hd_quota"] == "250" and row["server_id"] == "1"

    connector.update("site", site_id, Record("site", site_id, {"php": "php-fpm", "status": "inactive",
                                                               "quota_mb": -1}, {"client": client_id}))
    got = normalise(connector.get("site", site_id))
    assert (got.fields["php"], got.fields["status"], got.fields["quota_mb"]) == ("php-fpm", "inactive", -1)
    assert [r.id for r in connector.find("site", {"domain": "lovelace.example"})] == [site_id]
    assert site_id in {r.id for r in connector.list("site")}
    connector.delete("site", site_id)
    assert connector.get("site", site_id) is None


def test_site_validation_is_rejected(backend, connect):
    connector = connect(backend, site_defaults={"server_id": 42})
    with pytest.raises(Rejected, match="no_server_error"):
        connector.create("site", Record("site", None, {"domain": "x.example"}, {"client": None}))


def test_wrong_password_is_an_auth_error_after_one_login(backend, connect):
    connector = connect(backend, password="wrong-password")
    with pytest.raises(AuthError) as caught:
        connector.check()
    assert "wrong-password" not in str(caught.value)
    assert connector.session.logins == 0


def test_session_expiry_mid_run_logs_in_once_more(backend, connect):
    connector = connect(backend)
    connector.check()
    assert connector.session.logins == 1
    backend.advance(1801)  # the server's clock: the session is gone, our own clock does not know
    assert len(list(connector.list("client"))) == len(backend.rows("client"))
    assert connector.session.logins == 2


def test_session_is_renewed_before_1800_seconds_by_our_clock(backend, connect):
    now = [1000.0]
    connector = connect(backend, clock=lambda: now[0])
    connector.check()
    now[0] += 1700  # used all the while: ISPConfig does not extend sessions by use
    connector.check()
    assert connector.session.logins == 1
    now[0] += 100
    connector.check()
    assert connector.session.logins == 2


def test_close_logs_out(backend, connect):
    connector = connect(backend)
    connector.check()
    assert backend.sessions() == 1
    connector.close()
    assert backend.sessions() == 0


def test_concurrent_calls_share_one_login(backend, connect):
    connector = connect(backend)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            list(connector.list("client"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and connector.session.logins == 1


def test_permission_denied_is_an_auth_error(backend, connect):
    data = sample_data()
    data["remote_users"] = [{**backend.dump()["remote_users"][0], "remote_functions": "domains"}]
    backend.load(data)
    connector = connect(backend)
    with pytest.raises(AuthError, match="permission"):
        connector.check()


def test_struct_without_map_type_fails_as_stdclass(backend, connect):
    """What ISPConfig does with a plain struct: PHP gets stdClass and the handler dies."""
    if backend.transport != "soap":
        pytest.skip("JSON objects always reach PHP as arrays")
    connector = connect(backend)
    transport = connector.session.transport
    session_id = connector.session._current()
    envelope = (
        '<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        '<soap-env:Body><ns0:client_add xmlns:ns0="urn:ispconfig-remote">'
        f'<session_id xsi:type="xs:string">{session_id}</session_id><reseller_id xsi:type="xs:int">0</reseller_id>'
        '<params><email>x@y.example</email><contact_name>X</contact_name></params>'
        '</ns0:client_add></soap-env:Body></soap-env:Envelope>')
    from hostsync_ispconfig.client import RemoteFault, fault_error
    from hostsync_ispconfig.soap import read_response

    response = transport.http.post(transport.endpoint, content=envelope)
    with pytest.raises(RemoteFault) as caught:
        read_response(response, "client_add", write=True)
    assert caught.value.standard and caught.value.code == "Server"
    assert "Cannot use object of type stdClass as array" in caught.value.message
    assert isinstance(fault_error(caught.value, "client_add", write=True), ProtocolError)
    assert not [r for r in backend.rows("client") if r["email"] == "x@y.example"]


def test_kinds_declare_only_canonical_fields(connect, sandbox):
    from hostsync_ispconfig.connector import IspconfigConnector

    for kind, ops in IspconfigConnector.kinds.items():
        assert ops.carried(kind) <= set(KINDS[kind].names), kind
        assert {"list", "get", "find", "create", "update", "delete"} <= ops.ops


def test_configured_defaults_reach_the_adds(backend, connect):
    connector = connect(backend, client_defaults={"language": "de", "template_master": 2,
                                                  "limits": {"limit_web_domain": 5}},
                        site_defaults={"hd_quota": 750, "extra": {"pm": "dynamic"}})
    client_id = connector.create("client", _client())
    row = next(r for r in backend.rows("client") if r["client_id"] == client_id)
    assert (row["language"], row["template_master"], row["limit_web_domain"]) == ("de", "2", "5")
    site_id = connector.create("site", Record("site", None, {"domain": "defaults.example"}, {"client": client_id}))
    site = next(r for r in backend.rows("web_domain") if r["domain_id"] == site_id)
    assert (site["hd_quota"], site["pm"], site["active"], site["php"]) == ("750", "dynamic", "y", "php-fpm")


def test_unknown_default_keys_are_a_config_error(sandbox):
    from hostsync.errors import ConfigError
    from hostsync_ispconfig.connector import IspconfigConnector

    with pytest.raises(ConfigError, match="languge"):
        IspconfigConnector("panel", {**sandbox.systems()["panel"], "client_defaults": {"languge": "de"}})
    with pytest.raises(ConfigError, match="username_template"):
        IspconfigConnector("panel", {**sandbox.systems()["panel"], "client_defaults": {"username_template": "{nick}"}})


@pytest.mark.parametrize("transport", ["soap", "json"])
def test_http_client_gets_the_options_as_configured(monkeypatch, sandbox, transport):
    """The core sizes the pool from ``concurrency`` and takes a test transport only from
    ``http_transport``; the plugin's own ``transport`` choice must not be mistaken for one."""
    import hostsync.http
    from hostsync_ispconfig import jsonapi, soap
    from hostsync_ispconfig.connector import IspconfigConnector

    seen: list[tuple[dict, dict]] = []

    def spy(options, **kwargs):
        seen.append((dict(options), kwargs))
        return hostsync.http.build_client(options, **kwargs)

    monkeypatch.setattr(jsonapi if transport == "json" else soap, "build_client", spy)
    connector = IspconfigConnector("panel", {**sandbox.systems()["panel"], "transport": transport, "concurrency": 3})
    try:
        [(options, kwargs)] = seen
        assert options["concurrency"] == 3 and "concurrency" not in kwargs
        limits = connector.session.transport.http._transport.inner._pool  # httpx's pool, inside the core's guard: sized from 3
        assert limits._max_keepalive_connections == 3
        connector.check()  # a real call: "soap"/"json" did not replace the HTTP transport
    finally:
        connector.close()


def test_what_is_read_back_is_what_stored_predicts(backend, connect):
    """Create and update with values ISPConfig keeps differently; get() shows what stored() said."""
    connector = connect(backend, site_defaults={"hd_quota": 300})
    owner = connector.create("client", _client("kept@lovelace.example", status=None))
    lossy = Record("site", "src-1", {"domain": "kept.example", "php": "no", "ssl": None, "status": None,
                                     "quota_mb": None}, {"client": owner})
    site_id = connector.create("site", normalise(lossy))

    def check(kind: str, record_id: str, written: Record) -> None:
        canonical = normalise(written)
        sent = {name: canonical.fields[name] for name in written.fields}
        expected = connector.stored(kind, Record(kind, written.id, sent, written.refs))
        got = normalise(connector.get(kind, record_id))
        assert {name: got.fields[name] for name in written.fields} == expected.fields
        assert expected.fields != sent  # each case here is one ISPConfig keeps differently

    check("site", site_id, lossy)
    assert connector.get("site", site_id).fields["quota_mb"] in (300, "300")
    check("client", owner, _client("kept@lovelace.example", status=None))
    connector.update("site", site_id, Record("site", site_id, {"status": "inactive", "quota_mb": 5, "ssl": True}))
    again = Record("site", site_id, {"status": None, "quota_mb": None, "ssl": None, "php": None})
    connector.update("site", site_id, again)
    check("site", site_id, again)
    connector.update("client", owner, Record("client", owner, {"status": "closed"}))
    connector.update("client", owner, Record("client", owner, {"status": None}))
    check("client", owner, Record("client", owner, {"status": None}))


def test_stored_returns_the_record_itself_when_nothing_is_kept_differently(connect, sandbox):
    connector = connect(sandbox.systems()["panel"])
    record = normalise(Record("site", "1", {"domain": "a.example", "php": "php-fpm", "ssl": True, "status": "active",
                                            "quota_mb": -1}, {"client": "4"}))
    assert connector.stored("site", record) is record
    changed = connector.stored("site", Record("site", "1", {"php": "No", "quota_mb": None}, {"client": "4"}))
    assert changed.fields == {"php": None, "quota_mb": 100} and changed.refs == {"client": "4"}


def test_a_create_with_only_the_fields_a_job_writes_still_fills_what_ispconfig_needs(backend, connect):
    """The engine passes only the fields both systems carry; ISPConfig applies no defaults."""
    connector = connect(backend)
    client_id = connector.create("client", Record("client", "src-9", {"email": "few@fields.example",
                                                                     "last_name": "Few"}))
    row = next(r for r in backend.rows("client") if r["client_id"] == client_id)
    assert (row["language"], row["usertheme"], row["locked"], row["canceled"]) == ("en", "default", "n", "n")
    assert row["username"] == "few" and row["company_name"] == "" and row["default_webserver"] == "1"
    site_id = connector.create("site", Record("site", "src-9", {"domain": "few.example"}, {"client": client_id}))
    site = next(r for r in backend.rows("web_domain") if r["domain_id"] == site_id)
    assert (site["active"], site["php"], site["ssl"], site["hd_quota"], site["type"]) == ("y", "php-fpm", "n", "100", "vhost")


# --- a client's login follows its status (ISPConfig 3.2: only client_update applies `canceled`) ------------

def _login(backend, client_id: str) -> dict:
    [user] = [u for u in backend.rows("sys_user") if u["client_id"] == client_id]
    return user


def test_both_emulators_leave_a_cancelled_client_added_by_client_add_able_to_log_in(backend, connect):
    """The quirk itself, raw: client_add ignores `canceled` for the login; every client_update applies it."""
    session = connect(backend).session
    params = mapping.client_add_params(_client().fields | {"status": "closed"}, {}, username="quirk",
                                       password="Quirk-pass-123")
    client_id = str(session.call("client_add", 0, params, what="raw add", hide=("Quirk-pass-123",)))
    row = next(r for r in backend.rows("client") if r["client_id"] == client_id)
    assert (row["locked"], row["canceled"]) == ("y", "y")
    assert _login(backend, client_id)["active"] == "1"  # cancelled, and yet the login works
    session.call("client_update", int(client_id), 0, {"city": "Paris"}, what="raw update")
    assert _login(backend, client_id)["active"] == "0"  # any update applies the merged `canceled`
    session.call("client_update", int(client_id), 0, {"locked": "n", "canceled": "n"}, what="raw update")
    assert _login(backend, client_id)["active"] == "1"


@pytest.mark.parametrize("status, columns, active, read_back", [
    ("active", ("n", "n"), "1", "active"),
    # `locked` alone turns services off, not the login (func_client_lock): inactive is written as closed
    ("inactive", ("y", "y"), "0", "closed"),
    ("closed", ("y", "y"), "0", "closed"),
])
def test_a_new_client_gets_the_login_its_status_gives(backend, connect, status, columns, active, read_back):
    connector = connect(backend)
    new_id = connector.create("client", _client(status=status))
    row = next(r for r in backend.rows("client") if r["client_id"] == new_id)
    assert (row["locked"], row["canceled"]) == columns
    assert _login(backend, new_id)["active"] == active
    assert connector.get("client", new_id).fields["status"] == read_back
    assert [r["email"] for r in backend.rows("client")].count("ada@lovelace.example") == 1


def test_an_active_client_is_one_add_and_another_status_an_add_and_an_update(sandbox, connect, transport):
    connector = connect(sandbox.systems()[{"soap": "panel", "json": "panel-json"}[transport]])
    connector.create("client", _client("one@x.example"))
    assert (sandbox.calls["client_add"], sandbox.calls["client_update"]) == (1, 0)
    connector.create("client", _client("two@x.example", status="closed"))
    assert (sandbox.calls["client_add"], sandbox.calls["client_update"]) == (2, 1)


def test_a_failed_status_update_after_the_add_may_have_applied_and_leaves_an_active_client(sandbox, connect,
                                                                                             transport):
    """The create happened, its follow-up did not: the engine must look the client up, not add it again,
    and must find it visibly different (active) so that it updates it."""
    connector = connect(sandbox.systems()[{"soap": "panel", "json": "panel-json"}[transport]])
    sandbox.inject(Fault("error", match="client_update", status=503))
    with pytest.raises(Transient) as caught:
        connector.create("client", _client(status="closed"))
    assert caught.value.may_have_applied is True
    [found] = connector.find("client", {"email": "ada@lovelace.example"})
    assert found.id in str(caught.value) and found.fields["status"] == "active"
    assert _login(PythonBackend(sandbox, transport), found.id)["active"] == "1"
