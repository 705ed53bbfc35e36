"""Finding what a target already holds for records with no link: one scan of the target, indexed by
the job's match fields and the origin markers, where that costs fewer requests than a find per
record (an initial sync into an empty target costs its list pages); a find each where the target is
known to be large, or turns out larger than the finds would cost. And origin markers: written on
create, looked up first (after a lost reply, on adoption), and a record carrying another record's
marker (a copy made by hand) is never adopted for this one."""

from __future__ import annotations

import pytest

from .test_engine_one_way import client
from .test_engine_unknown import FakeTime, run


@pytest.fixture
def systems(project, memory):
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memory", vendor="panel", page_size=10)  # pages of 10: a scan is priced
    project.job("clients", kind="client", source="billing", targets=["panel"])
    return memory.vendor("billing"), memory.vendor("panel")


def sync(project, *args: str) -> dict[str, int]:
    result = project.cli("sync", "clients", "--json", *args)
    assert result.exit_code == 0, result.output
    return result.json()[0]["counts"]


def links(project) -> dict[str, str]:
    with project.state() as state:
        return {link.id: link.peer_id for link in state.iter_links("client", "billing", "panel")}


def test_an_initial_sync_into_an_empty_target_costs_its_list_pages_not_a_find_each(project, systems):
    billing, panel = systems
    for n in range(30):
        billing.put("client", client(n))
    assert sync(project)["created"] == 30
    assert panel.calls == {"list": 1, "create": 30}  # one (empty) page shows there is nothing to adopt


def test_records_the_target_holds_are_adopted_from_one_scan(project, systems):
    billing, panel = systems
    for n in range(30):
        billing.put("client", client(n))
    theirs = {panel.put("client", client(n, first_name="Old" if n % 5 == 0 else f"Client {n}")): n for n in range(25)}
    counts = sync(project)
    assert (counts["adopted"], counts["created"]) == (25, 5)
    assert panel.calls == {"list": 3, "get": 25, "create": 5, "update": 5}  # the found ones read whole
    linked = links(project)
    assert {linked[billing_id] for billing_id in linked} >= set(theirs) and len(panel.records("client")) == 30


def test_a_plan_looks_in_the_same_scan_and_writes_nothing(project, systems):
    billing, panel = systems
    for n in range(4):
        billing.put("client", client(n))
    panel.put("client", client(0))
    planned = project.cli("plan", "clients", "--json")
    assert planned.exit_code == 0, planned.output
    assert (planned.json()["counts"]["adopted"], planned.json()["counts"]["created"]) == (1, 3)
    assert panel.calls == {"list": 1, "get": 1} and panel.write_count() == 0


def test_new_records_next_to_many_known_ones_are_looked_up_one_by_one(project, systems):
    billing, panel = systems
    for n in range(40):
        billing.put("client", client(n))
    sync(project)
    billing.put("client", client(40))
    panel.calls.clear()
    assert sync(project)["created"] == 1
    assert panel.calls == {"find": 1, "create": 1}  # a scan of the 40 known records would cost more


def test_a_scan_of_a_larger_target_than_expected_stops_at_the_cost_of_the_finds(project, systems):
    billing, panel = systems
    for n in range(200):  # records hostsync has never seen: their number is not known beforehand
        panel.put("client", client(1000 + n))
    for n in range(3):
        billing.put("client", client(n))
    panel.put("client", client(2))  # one of the three is there
    counts = sync(project)
    assert (counts["created"], counts["adopted"]) == (2, 1)
    assert panel.calls["find"] == 3 and panel.calls["list"] <= 3  # never more than twice the finds
    assert len(panel.records("client")) == 203


def test_a_target_whose_listing_cannot_be_read_is_looked_up_record_by_record(project, systems):
    from hostsync import ProtocolError

    billing, panel = systems
    for n in range(3):
        billing.put("client", client(n))
    panel.put("client", client(1))

    def garbage() -> None:
        raise ProtocolError("expected JSON, got an HTML page")

    panel.fail("list", garbage)
    counts = sync(project)
    assert (counts["created"], counts["adopted"]) == (2, 1)  # the index would have missed client 1
    assert panel.calls["find"] == 3 and len(panel.records("client")) == 3


# -- origin markers ---------------------------------------------------------------------------------

@pytest.fixture(params=[10, None], ids=["scan", "find"])
def marked(request, project, memory):
    """A panel that keeps origin markers, looked up in a scan (pages of 10) or with finds."""
    settings = {"page_size": request.param} if request.param else {}
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memory", vendor="panel", origin=True, **settings)
    project.job("clients", kind="client", source="billing", targets=["panel"])
    return memory.vendor("billing"), memory.vendor("panel")


def test_creates_carry_the_origin_marker_of_their_source_record(project, marked):
    billing, panel = marked
    ids = [billing.put("client", client(n)) for n in range(3)]
    sync(project)
    linked = links(project)
    assert {row["origin"] for row in panel.records("client").values()} == {f"hs:billing:{i}" for i in ids}
    assert all(panel.records("client")[linked[i]]["origin"] == f"hs:billing:{i}" for i in ids)


def test_a_lost_state_readopts_each_record_by_its_marker_even_after_its_key_changed(project, marked):
    billing, panel = marked
    ids = [billing.put("client", client(n)) for n in range(3)]
    sync(project)
    before = links(project)
    project.state_path.unlink()  # the state is lost (a new install, a restore gone wrong)
    billing.edit("client", ids[1], email="renamed@example.org")
    counts = sync(project)
    assert (counts["adopted"], counts["created"]) == (3, 0)
    assert links(project) == before and len(panel.records("client")) == 3
    assert panel.records("client")[before[ids[1]]]["fields"]["email"] == "renamed@example.org"


def test_a_copy_made_by_hand_carrying_another_records_marker_is_not_adopted(project, marked):
    billing, panel = marked
    first = billing.put("client", client(1))
    sync(project)
    copy = panel.put("client", client(2))  # an operator copied client 1's record for a new customer...
    panel.data["client"][copy]["origin"] = f"hs:billing:{first}"  # ...marker and all
    second = billing.put("client", client(2))
    counts = sync(project)
    assert (counts["created"], counts["adopted"]) == (1, 0)
    linked = links(project)
    assert linked[second] != copy and linked[first] != copy
    assert panel.records("client")[linked[second]]["origin"] == f"hs:billing:{second}"


def test_two_records_carrying_one_marker_defer_the_record_naming_the_marker(project, marked):
    billing, panel = marked
    first = billing.put("client", client(1))
    sync(project)
    copy = panel.put("client", client(1, first_name="Copy"))
    panel.data["client"][copy]["origin"] = f"hs:billing:{first}"
    project.state_path.unlink()
    result = project.cli("sync", "clients", "--json")
    assert result.json()[0]["counts"]["deferred"] == 1
    with project.state() as state:
        [event] = [e for e in state.events(result.json()[0]["run_id"]) if e["outcome"] == "deferred"]
    assert f"2 records in panel carry the origin marker hs:billing:{first}" in event["reason"]
    assert len(panel.records("client")) == 2 and not links(project)  # nothing created or adopted


def test_a_lost_create_reply_next_to_a_same_named_record_is_found_by_its_marker(project, memory):
    """Projects have no key but their name: without a marker, a lost reply next to a project of the
    same name could never be told apart ("2 records match ...")."""
    billing, panel = memory.vendor("billing"), memory.vendor("panel")
    time = FakeTime()
    time.attach(billing, panel)
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memory", vendor="panel", origin=True, settle_delay=4)
    project.job("projects", kind="project", source="billing", targets=["panel"])
    ours = billing.put("project", {"name": "Website", "status": "active"})
    theirs = panel.put("project", {"name": "Website", "status": "active"})
    panel.fail("create", "lose")  # made, and the reply lost
    result = run(project, time, "projects")
    assert result.status == "ok" and result.counts["created"] == 1 and result.counts["failed"] == 0
    with project.state() as state:
        link = state.link("project", "billing", ours, "panel")
    assert link is not None and link.peer_id != theirs and panel.calls["create"] == 1
    assert panel.records("project")[link.peer_id]["origin"] == f"hs:billing:{ours}"
