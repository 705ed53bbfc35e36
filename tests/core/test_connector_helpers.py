"""The helpers hostsync gives connectors for writes and lookups: ``canonical`` and ``matching``."""

from __future__ import annotations

import pytest

from hostsync import ORIGIN, Record, Rejected, canonical, matching


def test_canonical_normalises_only_what_the_record_has_and_keeps_its_identity():
    record = Record("client", "src-7", {"email": " Ann@Example.COM ", "country": "nl"}, {}, origin="hs:src:7")
    written = canonical(record)
    assert written.fields == {"email": "ann@example.com", "country": "NL"}  # no other field: unknown, not empty
    assert (written.id, written.origin, written.refs) == ("src-7", "hs:src:7", {})
    task = canonical(Record("task", None, {"priority": "HIGH"}, {"project": 12}))
    assert (task.fields, task.refs) == ({"priority": "high"}, {"project": "12"})


def test_canonical_refuses_a_value_it_cannot_normalise_naming_record_and_field():
    with pytest.raises(Rejected, match=r"^task \(new\): priority: 'someday' is not one of low, medium, high, urgent"):
        canonical(Record("task", None, {"name": "x", "priority": "someday"}))


def test_matching_is_a_superset_in_canonical_terms():
    records = [Record("client", "1", {"email": "ann@example.com"}), Record("client", "2", {"email": "bo@example.com"}),
               Record("client", "3", {}), Record("client", "4", {"email": "ann@example.com"}, origin="hs:a:1")]
    assert [r.id for r in matching(records, {"email": "ANN@example.com"})] == ["1", "3", "4"]
    assert [r.id for r in matching(records, {ORIGIN: "hs:a:1"})] == ["4"]
