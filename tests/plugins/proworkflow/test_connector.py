"""The ProWorkflow connector against the sandbox on loopback: reads (full and incremental), writes,
finds, origin markers, the guarded project delete, record-level refusals and the rate limit."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from hostsync.connector import ORIGIN
from hostsync.errors import AuthError, NotFound, Rejected
from hostsync.model import InvalidValue, Record, normalise
from hostsync_proworkflow.connector import ProWorkflowConnector

from .conftest import SAMPLE


def client(**changes: Any) -> Record:
    fields = {"email": "ann.lee@example.org", "first_name": "Ann", "last_name": "Lee", "company": "Lee Design",
              "phone": "+64 9 555 0199", "address1": "1 Queen St", "address2": None, "city": "Auckland", "state": None,
              "postcode": "1010", "country": "NZ", **changes}
    return Record("client", "b1", fields)


def writes(box) -> list[str]:
    return [e["operation"] for e in box.log if not e["operation"].startswith("GET ")]


# -- reading ----------------------------------------------------------------------------------

def test_every_kind_lists_in_one_page_each(pwf, sandbox):
    counts = {kind: len(list(pwf.list(kind))) for kind in ("client", "project", "task", "time_entry", "invoice")}
    t = sandbox.account.t
    assert counts == {"client": sum(c["type"] == "client" for c in t["companies"].values()),
                      "project": len(t["projects"]), "task": len(t["tasks"]), "time_entry": len(t["time"]),
                      "invoice": len(t["invoices"])}
    # one page per kind and the contacts once (time records name their member); origin markers are
    # found by the API field's name, so reading needs no look at the account's API fields
    assert dict(sandbox.calls) == {"GET /companies": 1, "GET /projects": 1, "GET /tasks": 1, "GET /time": 1,
                                   "GET /contacts": 1, "GET /invoices": 1}


def test_records_read_whole_and_normalise(pwf, sandbox):
    for kind in ("client", "project", "task", "time_entry"):
        for record in pwf.list(kind):
            normalise(record)
            assert record.updated_at is not None and record.updated_at.tzinfo is not None
    stubs = list(pwf.list("invoice"))
    assert all(stub.partial and stub.version for stub in stubs)
    invoice = normalise(pwf.get("invoice", stubs[0].id))
    assert invoice.fields["lines"] and invoice.fields["number"] and invoice.refs["client"]


def test_paging_reads_everything_across_pages(pwf, sandbox):
    pwf.api.page_size = 7
    tasks = list(pwf.list("task"))
    assert len(tasks) == len({t.id for t in tasks}) == len(sandbox.account.t["tasks"])
    assert sandbox.calls["GET /tasks"] == -(-len(tasks) // 7)  # the total count ends it: no empty page


def test_since_reads_what_changed_on_the_vendors_clock(pwf, sandbox):
    project = min(sandbox.account.t["projects"])
    sandbox.edit("projects", project, title="Renamed in the app")
    cursor = max(r.updated_at for r in pwf.list("project"))
    assert abs(cursor - datetime.now(timezone.utc)) < timedelta(minutes=1)
    sandbox.reset_calls()
    changed = list(pwf.list("project", since=cursor - timedelta(seconds=30)))
    assert [r.id for r in changed] == [str(project)] and changed[0].fields["name"] == "Renamed in the app"
    query = sandbox.log[0]
    assert query["operation"] == "GET /projects"
    assert list(pwf.list("project", since=cursor + timedelta(minutes=1))) == []


def test_since_for_clients_includes_a_change_to_their_contact(pwf, sandbox):
    contact = next(c for c in sandbox.account.t["contacts"].values() if c["type"] == "client")
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    assert list(pwf.list("client", since=since)) == []
    sandbox.edit("contacts", contact["id"], lastname="Renamed")
    changed = list(pwf.list("client", since=since))
    assert [r.id for r in changed] == [str(contact["companyid"])]


def test_an_unknown_status_fails_that_record_only(pwf, sandbox):
    odd = min(sandbox.account.t["projects"])
    sandbox.edit("projects", odd, status="archived")
    records = list(pwf.list("project"))
    assert len(records) == len(sandbox.account.t["projects"])
    bad = [r for r in records if r.id == str(odd)]
    with pytest.raises(InvalidValue, match="status: 'archived'"):
        normalise(bad[0])


def test_in_a_run_a_companys_failed_contact_read_fails_that_client_alone(connect, empty_sandbox):
    """The contact of a company without an address is read on its own (Connector.detail): in a run's
    listing its failure leaves a stub the engine fetches alone; the list page itself goes on."""
    import functools

    from hostsync.engine.calls import Caller, Gate
    from hostsync.sandbox import Fault

    pwf = connect(empty_sandbox)
    ids = [pwf.create("client", client(email=f"p{n}@example.org", company=f"Co {n}")) for n in range(3)]
    for company in map(int, ids):  # the address is the contact's only
        empty_sandbox.account.t["companies"][company].update(address1="", city="", zipcode="", country="")
    caller = Caller({"pwf": Gate(2, None)}, threading.Event(), sleep=lambda seconds: None)
    pwf.requester = functools.partial(caller.request, "pwf")
    empty_sandbox.reset_calls()
    empty_sandbox.inject(Fault("error", match="GET /contacts/{id}", status=500))
    listed = {r.id: r.partial for r in pwf.list("client")}
    assert listed == {ids[0]: True, ids[1]: False, ids[2]: False}
    assert empty_sandbox.calls["GET /contacts/{id}"] == 3 and empty_sandbox.calls["GET /companies"] == 1
    assert normalise(pwf.get("client", ids[0])).fields["email"] == "p0@example.org"  # fetched alone later


def test_get_of_an_unknown_or_non_client_company_is_none(pwf, sandbox):
    assert pwf.get("project", "99999") is None and pwf.get("client", "abc") is None
    assert pwf.get("client", "1") is None  # the agency itself (a staff company)


# -- writing ----------------------------------------------------------------------------------

def test_a_client_is_a_company_with_its_person_as_contact(connect, empty_sandbox):
    pwf = connect(empty_sandbox)
    new = pwf.create("client", client())
    company = empty_sandbox.account.t["companies"][int(new)]
    assert (company["name"], company["type"], company["email"], company["country"]) == \
        ("Lee Design", "client", "ann.lee@example.org", "NZ")
    contacts = [c for c in empty_sandbox.account.t["contacts"].values() if c["companyid"] == int(new)]
    assert [(c["firstname"], c["lastname"]) for c in contacts] == [("Ann", "Lee")]
    assert normalise(pwf.get("client", new)).fields == normalise(client()).fields
    empty_sandbox.reset_calls()
    pwf.update("client", new, client())
    assert writes(empty_sandbox) == []  # nothing differs: nothing sent
    pwf.update("client", new, client(last_name="Lee-Smith", city="Nelson"))
    assert writes(empty_sandbox) == ["PUT /companies/{id}", "PUT /contacts/{id}"]
    assert normalise(pwf.get("client", new)).fields["last_name"] == "Lee-Smith"


def test_a_person_without_a_company_names_it_and_stored_says_so(connect, empty_sandbox):
    pwf = connect(empty_sandbox)
    record = client(company=None)
    new = pwf.create("client", record)
    read = normalise(pwf.get("client", new))
    assert read.fields["company"] == "Ann Lee" == normalise(pwf.stored("client", record)).fields["company"]


def test_projects_and_tasks_round_trip_with_lossy_statuses(connect, sandbox):
    pwf = connect(sandbox)
    company = next(c["id"] for c in sandbox.account.t["companies"].values() if c["type"] == "client")
    project = Record("project", "7", {"name": "Intranet", "status": "on_hold", "start_on": "2025-04-01",
                                      "due_on": "2025-05-01", "description": "Staff portal"}, {"client": str(company)})
    new = pwf.create("project", project)
    read = normalise(pwf.get("project", new))
    assert read.fields == normalise(pwf.stored("project", project)).fields and read.fields["status"] == "active"
    assert read.refs == {"client": str(company)}
    task = Record("task", "9", {"name": "Kick-off", "status": "done", "description": None, "due_on": "2025-04-02",
                                "priority": "urgent"}, {"project": new})
    task_id = pwf.create("task", task)
    assert normalise(pwf.get("task", task_id)).fields == normalise(task).fields
    assert sandbox.account.t["tasks"][int(task_id)]["priority"] == 1  # Very High
    sandbox.reset_calls()
    pwf.update("task", task_id, Record("task", "9", {**task.fields, "status": "in_progress"}, {"project": new}))
    assert writes(sandbox) == ["PUT /tasks/{id}/reactivate"]
    pwf.update("project", new, Record("project", "7", {**project.fields, "status": "cancelled"}, project.refs))
    assert writes(sandbox)[-1] == "PUT /projects/{id}/complete"


def test_task_priorities_map_to_one_to_five_and_a_very_low_one_is_kept(connect, sandbox):
    """1-5 is Very High to Very Low: urgent, high, medium, low both ways; Very Low reads as low and
    stays Very Low while hostsync wants low; ProWorkflow has no "none": it keeps it as Medium."""
    pwf = connect(sandbox)
    project = str(next(iter(sandbox.account.t["projects"])))
    made = {}
    for priority in ("urgent", "high", "medium", "low", None):
        fields = {"name": f"Task {priority}", "status": "open", "priority": priority}
        made[priority] = pwf.create("task", Record("task", None, fields, {"project": project}))
    assert [sandbox.account.t["tasks"][int(made[p])]["priority"] for p in made] == [1, 2, 3, 4, 3]
    assert [pwf.get("task", made[p]).fields["priority"] for p in made] == ["urgent", "high", "medium", "low", "medium"]
    assert pwf.stored("task", Record("task", None, {"priority": None})).fields["priority"] == "medium"
    very_low = made["low"]
    sandbox.edit("tasks", very_low, priority=5)
    assert pwf.get("task", very_low).fields["priority"] == "low"
    sandbox.reset_calls()
    pwf.update("task", very_low, Record("task", None, {"name": "Task low", "priority": "low"}, {"project": project}))
    assert writes(sandbox) == [] and sandbox.account.t["tasks"][int(very_low)]["priority"] == 5
    pwf.update("task", very_low, Record("task", None, {"priority": "high"}, {}))
    assert writes(sandbox) == ["PUT /tasks/{id}"] and sandbox.account.t["tasks"][int(very_low)]["priority"] == 2
    sandbox.edit("tasks", very_low, priority=9)  # not a documented value: the nearest end
    assert pwf.get("task", very_low).fields["priority"] == "low"


def test_a_project_with_tasks_is_not_deleted(connect, sandbox):
    pwf = connect(sandbox)
    project = next(p["id"] for p in sandbox.account.t["projects"].values()
                   if sum(t["projectid"] == p["id"] for t in sandbox.account.t["tasks"].values()) >= 2)
    tasks = [t["id"] for t in sandbox.account.t["tasks"].values() if t["projectid"] == project]
    with pytest.raises(Rejected, match=r"would delete its \d+ task\(s\) with it"):
        pwf.delete("project", str(project))
    assert project in sandbox.account.t["projects"] and set(tasks) <= set(sandbox.account.t["tasks"])
    for record in [r for r in sandbox.account.t["time"].values() if r["taskid"] in tasks]:
        del sandbox.account.t["time"][record["id"]]  # someone removed the tracked time in the web app
    for task in tasks:
        pwf.delete("task", str(task))
    pwf.delete("project", str(project))
    assert project not in sandbox.account.t["projects"]
    with pytest.raises(NotFound):
        pwf.delete("project", str(project))


def test_a_task_with_tracked_time_is_not_deleted(connect, sandbox):
    pwf = connect(sandbox)
    tracked = next(t for t in sandbox.account.t["tasks"].values()
                   if any(r["taskid"] == t["id"] for r in sandbox.account.t["time"].values()))
    records = {r["id"] for r in sandbox.account.t["time"].values() if r["taskid"] == tracked["id"]}
    with pytest.raises(Rejected, match=r"would delete its \d+ time record\(s\) with it"):
        pwf.delete("task", str(tracked["id"]))
    assert tracked["id"] in sandbox.account.t["tasks"] and records <= set(sandbox.account.t["time"])


def test_time_entries_need_a_task_and_a_known_member(connect, sandbox):
    pwf = connect(sandbox)
    task = min(sandbox.account.t["tasks"])
    entry = Record("time_entry", "5", {"member": "jane@example.net", "started_at": "2025-03-01T20:15:30Z",
                                       "minutes": 45, "note": "Review", "billable": False}, {"task": str(task)})
    new = pwf.create("time_entry", entry)
    read = normalise(pwf.get("time_entry", new))
    assert read.fields == normalise(pwf.stored("time_entry", entry)).fields
    assert read.fields["started_at"] == "2025-03-01T20:15:00Z" and read.refs["task"] == str(task)
    row = sandbox.account.t["time"][int(new)]
    assert (row["date"], row["starttime"], row["contactid"]) == ("2025-03-02", "09:15", 3)
    with pytest.raises(Rejected, match="needs a task"):
        pwf.create("time_entry", Record("time_entry", "6", entry.fields, {"task": None}))
    with pytest.raises(Rejected, match="member 'nobody@example.net' is no ProWorkflow contact"):
        pwf.create("time_entry", Record("time_entry", "6", {**entry.fields, "member": "nobody@example.net"},
                                        {"task": str(task)}))
    found = pwf.find("time_entry", {"task": str(task), "member": "jane@example.net",
                                    "started_at": "2025-03-01T20:15:00Z"})
    assert [r.id for r in found] == [new]


def test_an_invoice_goes_to_the_companys_newest_project_and_keeps_its_headings(connect, sandbox):
    pwf = connect(sandbox)
    company = max(c["id"] for c in sandbox.account.t["companies"].values() if c["type"] == "client"
                  and any(p["companyid"] == c["id"] for p in sandbox.account.t["projects"].values()))
    lines = [{"description": "Hosting", "quantity": "12", "unit_price": "10.00", "taxed": True}]
    invoice = Record("invoice", "3", {"number": "WH-2001", "issued_on": "2025-03-01", "due_on": "2025-03-15",
                                      "paid_on": "2025-03-05", "status": "paid", "lines": lines}, {"client": str(company)})
    new = pwf.create("invoice", invoice)
    row = sandbox.account.t["invoices"][int(new)]
    newest = max(p["id"] for p in sandbox.account.t["projects"].values() if p["companyid"] == company)
    assert (row["projectid"], row["number"], row["status"], row["paiddate"]) == (newest, "WH-2001", "paid", "2025-03-05")
    assert normalise(pwf.get("invoice", new)).fields["total"] == "138.00"  # 15 % GST on taxed lines
    old = next(i for i in sandbox.account.t["invoices"].values() if i["lines"][0]["type"] == "heading"
               and len(i["lines"]) > 2)
    current = normalise(pwf.get("invoice", str(old["id"])))
    wanted = [*current.fields["lines"][:1], {"description": "Extra", "quantity": "1", "unit_price": "5.00",
                                             "taxed": False}]
    pwf.update("invoice", str(old["id"]), Record("invoice", "4", {"lines": wanted}))
    types = [line["type"] for line in sandbox.account.t["invoices"][old["id"]]["lines"]]
    assert types == ["heading", old["lines"][1]["type"], "lineitem"]
    with pytest.raises(Rejected, match="paid or unpaid"):
        pwf.create("invoice", Record("invoice", "5", {**invoice.fields, "status": "cancelled"}, invoice.refs))


# -- finding and origin markers -----------------------------------------------------------------

def test_find_adopts_clients_by_email_also_on_a_contact_or_by_name(pwf, sandbox):
    company = next(c for c in sandbox.account.t["companies"].values() if c["type"] == "client" and not c["email"])
    contact = next(c for c in sandbox.account.t["contacts"].values() if c["companyid"] == company["id"])
    by_contact = pwf.find("client", {"email": contact["email"].upper()})
    assert [r.id for r in by_contact] == [str(company["id"])]
    by_name = pwf.find("client", {"company": company["name"]})
    assert [r.id for r in by_name] == [str(company["id"])]
    assert pwf.find("client", {"email": "nobody@example.org"}) == []


def test_origin_markers_are_kept_and_found_exactly(connect, sandbox):
    pwf = connect(sandbox)
    company = next(c["id"] for c in sandbox.account.t["companies"].values() if c["type"] == "client")
    made = {}
    for marker in ("hs:teampro:1", "hs:teampro:12"):
        record = Record("project", marker, {"name": "Same name", "status": "active"}, {"client": str(company)},
                        origin=marker)
        made[marker] = pwf.create("project", record)
    assert pwf.get("project", made["hs:teampro:1"]).origin == "hs:teampro:1"
    assert [r.id for r in pwf.find("project", {ORIGIN: "hs:teampro:1"})] == [made["hs:teampro:1"]]
    assert [r.id for r in pwf.find("project", {ORIGIN: "hs:teampro:12"})] == [made["hs:teampro:12"]]
    assert pwf.find("project", {ORIGIN: "hs:teampro:123"}) == []
    marked = client()
    marked.origin = "hs:billing:9"
    for kind, record in (
            ("client", marked),
            ("task", Record("task", "t", {"name": "Marked"}, {"project": made["hs:teampro:1"]}, origin="hs:tp:t")),
            ("time_entry", Record("time_entry", "e", {"member": "jane@example.net", "started_at": "2025-03-01T01:00:00Z",
                                                      "minutes": 5}, {"task": str(min(sandbox.account.t["tasks"]))},
                                  origin="hs:tp:e"))):
        new = pwf.create(kind, record)
        assert [r.id for r in pwf.find(kind, {ORIGIN: record.origin})] == [new]
        assert pwf.get(kind, new).origin == record.origin


def test_without_the_api_field_no_marker_is_written_and_a_lookup_by_it_refuses(connect, shared_sandbox):
    fields = [f for f in SAMPLE["apifields"] if f["type"] != "project"]
    sandbox = shared_sandbox("proworkflow", {**SAMPLE, "apifields": fields})
    pwf = connect(sandbox)
    company = next(c["id"] for c in sandbox.account.t["companies"].values() if c["type"] == "client")
    new = pwf.create("project", Record("project", "1", {"name": "Unmarked"}, {"client": str(company)}, origin="hs:x:1"))
    assert pwf.get("project", new).origin is None
    with pytest.raises(Rejected, match="no API field 'hostsync origin' for project"):
        pwf.find("project", {ORIGIN: "hs:x:1"})


# -- checking credentials -----------------------------------------------------------------------

def test_check_says_which_credential_is_wrong_where_the_vendor_tells(connect, sandbox):
    connect(sandbox).check()
    with pytest.raises(AuthError, match="check username and password") as login:
        connect(sandbox, password="wrong-password-1").check()
    with pytest.raises(AuthError, match="the API key was refused .*: check apikey") as key:
        connect(sandbox, apikey="wrong-key-1").check()
    assert "wrong-password-1" not in str(login.value) and "wrong-key-1" not in str(key.value)
    assert sandbox.calls["GET /me"] == 3


def test_a_client_login_is_not_enough(connect, sandbox):
    contact = next(c for c in sandbox.account.t["contacts"].values() if c["type"] == "client")
    contact.update(allowlogin=True, username="client-login", password="client-pw-1")
    with pytest.raises(AuthError, match="needs a staff login"):
        connect(sandbox, username="client-login", password="client-pw-1").check()


# -- the rate limit -----------------------------------------------------------------------------

def test_a_busy_connector_waits_for_the_window_instead_of_earning_429s(connect, shared_sandbox):
    """The connector tells the core when the window is nearly spent; the core's gate holds the next
    requests of every worker (no pacing of its own)."""
    from hostsync.engine.calls import Caller, Gate

    sandbox = shared_sandbox("proworkflow", {**SAMPLE, "config": {**SAMPLE["config"], "rate_limit": 12,
                                                                  "window": 1}})
    pwf = connect(sandbox)
    gate = Gate(4, None)
    gate.proven = True
    caller = Caller({"pwf": gate}, threading.Event())
    paused: list[float] = []
    pwf.pacer = lambda seconds: (paused.append(seconds), gate.pause(seconds))
    lock = threading.Lock()
    read = []

    def work(n: int) -> None:
        record = caller.call("pwf", pwf.get, "project", str(1 + n % 5))
        with lock:
            read.append(record)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(40)))
    statuses = [e["status"] for e in sandbox.log]
    assert len(read) == 40 and statuses.count(429) == 0 and len(statuses) == 40
    assert paused and all(0 < p <= 1 for p in paused)


def test_the_default_rate_limit_never_exceeds_500_in_any_30_seconds_and_uses_95_percent():
    from hostsync.config import parse_rate
    from hostsync.engine.calls import TokenBucket

    clock = [0.0]
    bucket = TokenBucket(parse_rate(ProWorkflowConnector.default_rate_limit), clock=lambda: clock[0])
    starts = []
    for _ in range(3000):  # a backlog: every call starts as soon as the bucket allows
        clock[0] += bucket.reserve()
        starts.append(clock[0])
    most = max(sum(1 for t in starts[i:i + 600] if t < start + 30) for i, start in enumerate(starts))
    assert most <= 500
    steady = len([t for t in starts if 30 <= t < 90]) / 2
    assert steady / 500 >= 0.95


# -- what each operation costs (the README's table) -------------------------------------------

LINE = {"description": "Care plan", "quantity": "1", "unit_price": "49.00", "taxed": False}
COSTS = [  # (kind, operation, arguments: (id, fields, refs) with "@company", "@project", "@task"), calls
    ("client", "create", (None, {"email": "a@b.example", "first_name": "A", "last_name": "B"}, {}), 2),
    ("client", "update", ("@company", {"city": "Wellington"}, {}), 2),
    ("client", "find", ({"email": "hello@kiwicoffee.example"},), 2),
    ("project", "create", (None, {"name": "P", "status": "completed"}, {"client": "@company"}), 1),
    ("project", "update", ("@project", {"name": "P2", "status": "completed"}, {}), 3),
    ("project", "update", ("@project", {}, {}), 1),
    ("project", "find", ({"client": "@company", "name": "P"},), 1),
    ("task", "create", (None, {"name": "T", "status": "done"}, {"project": "@project"}), 2),
    ("task", "update", ("@task", {"name": "T2", "priority": "urgent"}, {}), 2),
    ("task", "find", ({"project": "@project", "name": "T"},), 1),
    ("time_entry", "create", (None, {"member": "jane@example.net", "started_at": "2025-03-01T09:00:00Z",
                                     "minutes": 30}, {"task": "@task"}), 1),
    ("time_entry", "find", ({"task": "@task", "started_at": "2025-03-01T09:00:00Z"},), 1),
    ("invoice", "create", (None, {"status": "paid", "paid_on": "2025-03-02", "lines": [LINE]}, {"client": "@company"}), 4),
    ("invoice", "update", ("@invoice", {"due_on": "2025-12-01"}, {}), 2),
]


@pytest.mark.parametrize(("kind", "operation", "arguments", "calls"), COSTS,
                         ids=[f"{kind}-{op}-{calls}" for kind, op, _, calls in COSTS])
def test_what_each_operation_costs(connect, sandbox, kind, operation, arguments, calls):
    """The calls the README's cost table gives, once the values read once per run are read (the API
    fields of the origin markers, the contacts that name time records' members)."""
    t = sandbox.account.t
    company = next(c["id"] for c in t["companies"].values() if c["type"] == "client" and c.get("address1"))
    task = next(iter(t["tasks"].values()))
    known = {"@company": str(company), "@project": str(task["projectid"]), "@task": str(task["id"]),
             "@invoice": str(next(iter(t["invoices"])))}
    resolve = lambda values: {k: known.get(v, v) if isinstance(v, str) else v for k, v in values.items()}  # noqa: E731
    pwf = connect(sandbox)
    pwf._origin_field("client"), pwf._member_names()  # noqa: SLF001 - read once per run, not per record
    sandbox.reset_calls()
    if operation == "find":
        pwf.find(kind, resolve(arguments[0]))
    elif operation == "create":
        pwf.create(kind, Record(kind, "src-1", arguments[1], resolve(arguments[2]), origin="hs:src:1"))
    else:
        pwf.update(kind, known[arguments[0]], Record(kind, "src-1", arguments[1], resolve(arguments[2])))
    assert sum(sandbox.calls.values()) == calls, dict(sandbox.calls)
