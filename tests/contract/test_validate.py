"""Each plugin's `validate` agrees with its writes: a record it refuses is refused by `create` too,
without a request to the vendor; a record it lets through is not refused for that reason."""

from __future__ import annotations

import pytest

from hostsync.errors import Rejected
from hostsync.model import Record
from hostsync.plugins import load_plugins

#: (sandbox, system, kind, a record validate refuses, the words of the reason, a record it lets through)
CASES = [
    ("whmcs", "billing", "ticket", Record("ticket", "9", {"subject": "", "messages": []}, {"client": "1"}),
     "subject and an opening message",
     Record("ticket", "9", {"subject": "Hi", "messages": [{"body": "x"}]}, {"client": "1"})),
    ("whmcs", "billing", "invoice", Record("invoice", "9", {"number": "X-1"}, {"client": None}), "needs a client",
     Record("invoice", "9", {"number": "X-1"}, {"client": "1"})),
    ("whmcs", "teampro", "ticket", Record("ticket", "T-9", {}, {"project": None, "client": None}),
     "needs the WHMCS ticket id", Record("ticket", "9", {}, {"project": "1", "client": None})),
    ("blesta", "blesta", "invoice", Record("invoice", "9", {"number": "1"}, {"client": None}), "needs its client",
     Record("invoice", "9", {"number": "1"}, {"client": "1"})),
    ("proworkflow", "proworkflow", "task", Record("task", "9", {"name": "Build"}, {"project": None}),
     "needs its project", Record("task", "9", {"name": "Build"}, {"project": "1"})),
    ("proworkflow", "proworkflow", "invoice",
     Record("invoice", "9", {"status": "cancelled", "lines": [{"description": "x"}]}, {"client": "1"}),
     "paid or unpaid", Record("invoice", "9", {"status": "unpaid", "lines": [{"description": "x"}]}, {"client": "1"})),
    ("webwork", "webwork", "project",
     Record("project", "9", {"name": "Site", "start_on": "2026-05-02", "due_on": "2026-05-01"}),
     "deadline 2026-05-01 is before start_date 2026-05-02",
     Record("project", "9", {"name": "Site", "start_on": "2026-05-01", "due_on": "2026-05-02"})),
    ("webwork", "webwork", "task", Record("task", "9", {"name": "Build"}, {"project": None}), "needs its project",
     Record("task", "9", {"name": "Build"}, {"project": "1"})),
]


@pytest.mark.parametrize("box, system, kind, refused, words, accepted", CASES,
                         ids=[f"{c[1]}-{c[2]}" for c in CASES])
def test_validate_refuses_exactly_what_create_refuses_without_calling_the_vendor(
        start_sandbox, box, system, kind, refused, words, accepted):
    sandbox = start_sandbox(box, seed=1)
    options = sandbox.systems()[system]
    plugins = load_plugins()
    cls = plugins.connectors[options["plugin"]]
    connector = cls(system, {k: v for k, v in options.items() if k not in ("plugin", "shares_ids_with")})
    try:
        problems = connector.validate(kind, refused)
        assert problems and any(words in p for p in problems), problems
        assert connector.validate(kind, accepted) == []
        sandbox.reset_calls()
        with pytest.raises(Rejected):
            connector.create(kind, refused)
        writes = {op: n for op, n in sandbox.calls.items() if not op.lower().startswith(("get", "list"))}
        assert not [op for op in writes if "create" in op.lower() or "add" in op.lower() or op.startswith("POST")]
    finally:
        connector.close()
