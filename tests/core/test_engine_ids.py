"""Ids a create returns are checked before they become links: a non-empty printable string of at most
255 characters (and the connector's own pattern, if it declares one), not linked to another record
of the kind, nor given to another record in the same run. Otherwise that record fails with a clear
reason, nothing is linked, the others go on, and no database error reaches the operator."""

from __future__ import annotations

import pytest

from .test_engine_failures import systems  # noqa: F401 - the fixture: billing -> panel clients
from .test_engine_one_way import client


def returning(monkeypatch, memory, answers: dict[str, object]) -> None:
    """The panel's connector creates for real, then answers ``answers[email]`` as the new id."""
    original = memory.MemoryConnector.create

    def create(self, kind, record):
        made = original(self, kind, record)
        return answers.get(record.fields.get("email"), made)

    monkeypatch.setattr(memory.MemoryConnector, "create", create)


def failures(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if "failed in panel:" in line]


@pytest.mark.parametrize("bad, problem", [
    ({"s": "1"}, "expected a string, got dict"), ("2\x00", "printable"), ("", "non-empty"),
    ("7" * 256, "longer than 255"), (7, "expected a string, got int")])
def test_an_id_that_cannot_be_a_link_fails_that_record_only(project, systems, memory, monkeypatch, bad, problem):
    billing, panel = systems
    for n in range(3):
        billing.put("client", client(n))
    returning(monkeypatch, memory, {"c1@example.org": bad})
    result = project.cli("sync", "clients", "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    counts = result.json()[0]["counts"]
    assert counts["created"] == 2 and counts["failed"] == 1
    [line] = failures(result)
    assert "plugin returned an invalid id" in line and problem in line
    with project.state() as state:
        peers = {link.id: link.peer_id for link in state.iter_links("client", "billing", "panel")}
        assert len(peers) == 2 and all(p.isdigit() for p in peers.values())
        assert state.count_intents() == 1  # something may have been made: a later run looks for it


def test_an_id_already_linked_to_another_record_is_refused(project, systems, memory, monkeypatch):
    billing, panel = systems
    first = billing.put("client", client(1))
    assert project.cli("sync", "clients").exit_code == 0
    with project.state() as state:
        taken = state.link("client", "billing", first, "panel").peer_id
    billing.put("client", client(2))
    returning(monkeypatch, memory, {"c2@example.org": taken})  # would bill client 1 for client 2
    result = project.cli("sync", "clients", "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output and "IntegrityError" not in result.output
    [line] = failures(result)
    assert f"plugin returned an invalid id '{taken}'" in line and f"already linked to client {first}" in line
    with project.state() as state:
        assert {link.id: link.peer_id for link in state.iter_links("client", "billing", "panel")} == {first: taken}


def test_one_id_given_to_two_new_records_in_one_run_links_only_one(project, systems, memory, monkeypatch):
    billing, panel = systems
    billing.put("client", client(1))
    billing.put("client", client(2))
    returning(monkeypatch, memory, {"c1@example.org": "42", "c2@example.org": "42"})
    result = project.cli("sync", "clients", "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.json()[0]["counts"]["created"] == 1 and result.json()[0]["counts"]["failed"] == 1
    [line] = failures(result)  # (linked already, or given in the same batch of replies)
    assert "plugin returned an invalid id '42'" in line and ("already linked to client" in line or "given it" in line)
    with project.state() as state:
        assert [link.peer_id for link in state.iter_links("client", "billing", "panel")] == ["42"]


def test_a_connector_may_declare_a_stricter_id_pattern(project, systems, memory, monkeypatch):
    billing, panel = systems
    billing.put("client", client(1))
    monkeypatch.setattr(memory.MemoryConnector, "id_pattern", r"[1-9][0-9]*")
    returning(monkeypatch, memory, {"c1@example.org": "0x1f"})
    result = project.cli("sync", "clients")
    assert result.exit_code == 1
    assert "plugin returned an invalid id '0x1f'" in result.stderr and "[1-9][0-9]*" in result.stderr
