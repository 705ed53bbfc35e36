"""No password, password hash or key from the configuration or a reply reaches a log, an error or a record."""

from __future__ import annotations

import hashlib
import logging

import httpx
import pytest

from hostsync.errors import ConnectorError
from hostsync.model import Record
from hostsync.sandbox import Fault
from hostsync_ispconfig import connector as connector_module
from hostsync_ispconfig import soapenc
from hostsync_ispconfig.connector import IspconfigConnector
from hostsync_ispconfig.sandbox import REMOTE_PASSWORD


def secrets_in(data: dict) -> set[str]:
    """Every secret the panel holds: password hashes and SSH keys of clients and logins."""
    found = set()
    for table, columns in (("client", ("password", "id_rsa", "ssh_rsa")), ("sys_user", ("passwort", "id_rsa", "ssh_rsa"))):
        for row in data["tables"][table]:
            for column in columns:
                if row.get(column):
                    found.add(row[column])
                    found.update(part for part in row[column].split() if len(part) > 20)  # each key line too
    return found


def test_no_secret_in_logs_errors_or_records(sandbox, connect, transport, caplog, capsys, monkeypatch):
    generated: list[str] = []
    real = connector_module.secrets.token_urlsafe
    monkeypatch.setattr(connector_module.secrets, "token_urlsafe", lambda n: generated.append(real(n)) or generated[-1])
    for name in (None, "zeep", "httpx", "httpcore", "hostsync", "hostsync_ispconfig"):  # everything, loudest
        caplog.set_level(logging.DEBUG, logger=name)
    system = sandbox.systems()["panel" if transport == "soap" else "panel-json"]
    seen: list[object] = []

    connector = connect(system)
    seen += list(connector.list("client")) + list(connector.list("domain")) + list(connector.list("site"))
    seen.append(connector.get("client", "1"))
    seen += connector.find("client", {"email": seen[0].fields["email"]})
    new = Record("client", None, {"email": "kate@johnson.example", "first_name": "Katherine", "last_name": "Johnson",
                                  "country": "US", "status": "active"})
    new_id = connector.create("client", new)
    connector.update("client", new_id, Record("client", new_id, {"city": "Hampton"}))
    for attempt in (lambda: connector.create("client", Record("client", None, {"email": "broken"})),
                    lambda: connector.update("client", "99999", new)):
        with pytest.raises(ConnectorError) as caught:
            attempt()
        seen.append(caught.value)
    sandbox.inject(Fault("lost_reply", match="client_add"))
    with pytest.raises(ConnectorError) as caught:
        connector.create("client", Record("client", None, {**new.fields, "email": "lost@reply.example"}))
    seen.append(caught.value)
    sandbox.advance(1801)  # a session expiry and a second login
    seen.append(connector.get("client", new_id))
    connector.close()
    wrong = connect(system, password="Wr0ng-" + REMOTE_PASSWORD)
    with pytest.raises(ConnectorError) as caught:
        wrong.check()
    seen.append(caught.value)

    secrets = secrets_in(sandbox.dump()) | {REMOTE_PASSWORD, "Wr0ng-" + REMOTE_PASSWORD, *generated}
    assert len(generated) == 3 and len(secrets) > 40  # the test looks for something real
    out = capsys.readouterr()
    haystacks = {"log": caplog.text, "stdout": out.out, "stderr": out.err}
    haystacks.update((f"seen {i}", f"{item!r} {item}") for i, item in enumerate(seen))
    haystacks.update((f"fields {i}", repr(getattr(item, "fields", ""))) for i, item in enumerate(seen))
    assert "client_add" in caplog.text or "json.php" in caplog.text or "index.php" in caplog.text  # logs were on
    for where, text in haystacks.items():
        leaked = [hashlib.sha256(secret.encode()).hexdigest()[:8] for secret in secrets if secret in text]
        assert not leaked, f"{len(leaked)} secret(s) in {where} (sha256 prefixes {leaked[:5]})"


@pytest.mark.parametrize("transport", ["soap", "json"])
def test_vendor_messages_that_echo_a_secret_are_redacted(transport, monkeypatch):
    monkeypatch.setattr(connector_module.secrets, "token_urlsafe", lambda n: "Generated-Pa55word-xyz")
    echo = "Invalid password 'Generated-Pa55word-xyz' for p4ssw0rd-Configured"

    def handler(request: httpx.Request) -> httpx.Response:
        if transport == "json":
            function = request.url.query.decode()
            if function == "client_add":
                return httpx.Response(200, json={"code": "remote_fault", "message": echo, "response": False})
            value = {"login": "0123456789abcdef0123456789abcdef", "client_get": []}[function]
            return httpx.Response(200, json={"code": "ok", "message": "", "response": value})
        function = soapenc.read_request(soapenc.parse(request.content))[0]
        if function == "client_add":
            return httpx.Response(500, content=soapenc.php_fault("data_processing_error", echo))
        value = {"login": "0123456789abcdef0123456789abcdef", "client_get": []}[function]
        return httpx.Response(200, content=soapenc.php_reply(function, value, "/remote/index.php"))

    connector = IspconfigConnector("panel", {"url": "http://panel.test/remote/", "username": "u",
                                             "password": "p4ssw0rd-Configured", "transport": transport,
                                             "http_transport": httpx.MockTransport(handler)})
    with pytest.raises(ConnectorError) as caught:
        connector.create("client", Record("client", None, {"email": "a@b.example", "last_name": "B"}))
    message = str(caught.value)
    assert "Generated-Pa55word-xyz" not in message and "p4ssw0rd-Configured" not in message
    assert message.count("[redacted]") == 2


def test_redaction_happens_before_the_message_is_reshaped():
    from hostsync_ispconfig.client import RemoteFault, fault_error

    secret = "pa;ss\nword_error_x"
    error = fault_error(RemoteFault("data_processing_error", f"bad {secret}<br />email_error_isemail"), "add",
                        write=True, secrets=(secret,))
    assert "pa" not in str(error).replace("[redacted]", "") and "word" not in str(error)
    assert error.fields == {"email": "email_error_isemail"}
