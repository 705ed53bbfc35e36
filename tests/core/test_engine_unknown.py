"""Unknown is a state: a create whose outcome is unknown (lost or late reply, a 5xx after applying) is
never sent again in the run that sent it, and is looked up only once the target's settle delay has
passed: at the end of the run when that is soon, else by a later run, which creates it again only
when the lookup finds nothing. Time is simulated: the engine's clock, its waits and the vendors'
late writes all run on one fake clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hostsync import Transient
from hostsync.config import load_config
from hostsync.engine import Runtime, sync_job
from hostsync.engine.apply import SHORT_WAIT
from hostsync.plugins import load_plugins

from ..conftest import PLUGINS_DIR
from .test_engine_one_way import client


class FakeTime:
    """One clock for the engine (``clock``/``sleep``) and the memory vendors (``seconds``)."""

    def __init__(self) -> None:
        self.t = 0.0
        self.start = datetime.now(timezone.utc)
        self.slept: list[float] = []

    def seconds(self) -> float:
        return self.t

    def clock(self) -> datetime:
        return self.start + timedelta(seconds=self.t)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += max(0.0, seconds)

    def attach(self, *vendors) -> None:
        for vendor in vendors:
            vendor.clock = self.seconds


def run(project, time: FakeTime, job: str = "clients"):
    project.write()
    plugins = load_plugins(PLUGINS_DIR)
    with Runtime(load_config(project.config_path, plugins), plugins, sleep=time.sleep, clock=time.clock) as rt:
        return sync_job(rt, job)


@pytest.fixture
def setup(project, memory):
    billing, panel = memory.vendor("billing"), memory.vendor("panel")
    time = FakeTime()
    time.attach(billing, panel)
    project.system("billing", plugin="memory", vendor="billing")
    project.job("clients", kind="client", source="billing", targets=["panel"])
    return billing, panel, time


def test_a_create_applied_late_is_found_after_the_settle_delay_at_the_end_of_the_run(project, setup):
    billing, panel, time = setup
    project.system("panel", plugin="memory", vendor="panel", settle_delay=4)
    billing.put("client", client(1))
    panel.late_delay = 3  # lands 3 s after the client gave up: before the settle delay is over
    panel.fail("create", "late")
    result = run(project, time)
    assert result.status == "ok" and result.counts["created"] == 1 and result.counts["unknown"] == 0
    assert len(panel.records("client")) == 1 and panel.calls["create"] == 1
    assert 4 in time.slept  # the end of the run waited for the settle delay, then looked


def test_an_unknown_create_waits_for_later_runs_and_is_never_sent_twice(project, setup):
    billing, panel, time = setup
    project.system("panel", plugin="memory", vendor="panel", settle_delay=60)  # longer than a run waits
    billing.put("client", client(1))
    panel.late_delay = 40
    panel.fail("create", "late")
    first = run(project, time)
    assert first.counts["unknown"] == 1 and first.counts["created"] == 0 and first.status == "ok"
    assert panel.calls["find"] == 1  # the lookup before the create; none before it had time to land
    time.t += 30  # not settled yet (and not landed): the next run does not look, nor send it again
    second = run(project, time)
    assert second.counts["unknown"] == 1 and panel.calls["create"] == 1 and panel.calls["find"] == 1
    events = {e["outcome"]: e["reason"] for e in _events(project, second.run_id)}
    assert "looked for in panel from" in events["unknown"]
    time.t += 31  # settled (and landed at 40 s): looked up, found, linked as created
    third = run(project, time)
    assert third.counts["created"] == 1 and third.counts["unknown"] == 0
    assert len(panel.records("client")) == 1 and panel.calls["create"] == 1
    with project.state() as state:
        assert state.count_intents() == 0


def test_a_create_the_vendor_never_carried_out_is_sent_again_by_a_later_run_only(project, setup):
    billing, panel, time = setup
    project.system("panel", plugin="memory", vendor="panel", settle_delay=2)

    def bad_gateway_before_applying():
        raise Transient("HTTP 502", may_have_applied=True)  # unknown: a 502 proves nothing

    billing.put("client", client(1))
    panel.fail("create", bad_gateway_before_applying)
    first = run(project, time)
    # looked up once it had time to land, found nothing, and not sent again in this run
    assert first.counts["unknown"] == 1 and panel.calls["create"] == 1 and panel.calls["find"] == 2
    assert not panel.records("client")
    second = run(project, time)
    assert second.counts["created"] == 1 and panel.calls["create"] == 2
    assert len(panel.records("client")) == 1


def test_a_short_wait_is_taken_at_the_end_of_the_run_a_long_one_is_not(project, setup):
    billing, panel, time = setup
    project.system("panel", plugin="memory", vendor="panel", settle_delay=SHORT_WAIT + 5)
    billing.put("client", client(1))
    panel.fail("create", "lose")
    assert run(project, time).counts["unknown"] == 1
    assert time.slept == [] and panel.calls["find"] == 1  # the lookup before the create; none after it


def test_creates_sharing_an_identity_wait_behind_one_whose_outcome_is_unknown(project, setup, memory):
    """Two tickets of one client with one subject: the second is not sent while the first may still
    land, so no lookup can ever mistake one for the other."""
    billing, panel, time = setup
    project.system("panel", plugin="memory", vendor="panel", settle_delay=60)
    project.job("tickets", kind="ticket", source="billing", targets=["panel"])
    cid = billing.put("client", client(1))
    assert run(project, time).counts["created"] == 1
    ticket = {"subject": "Mail bounces", "status": "open", "priority": "low"}
    for _ in range(2):
        billing.put("ticket", ticket, {"client": cid})
    panel.fail("create", "lose")
    first = run(project, time, "tickets")
    assert first.counts["unknown"] == 1 and first.counts["deferred"] == 1 and panel.calls["create"] == 2
    time.t += 61
    second = run(project, time, "tickets")
    assert second.counts["created"] == 2 and len(panel.records("ticket")) == 2
    with project.state() as state:
        assert len({link.peer_id for link in state.iter_links("ticket", "billing", "panel")}) == 2


def _events(project, run_id):
    with project.state() as state:
        return state.events(run_id)


def test_in_a_two_way_job_what_an_unknown_create_made_is_not_copied_back(project, setup, memory):
    billing, panel, time = setup
    project.system("panel", plugin="memory", vendor="panel", settle_delay=60)
    project.job("clients", kind="client", source="billing", targets=["panel"], direction="two-way")
    billing.put("client", client(1))
    panel.fail("create", "lose")  # made in the panel, but its id never came back
    first = run(project, time)
    assert first.counts["unknown"] == 1 and first.counts["deferred"] == 1  # the panel's copy waits
    assert len(billing.records("client")) == 1 and len(panel.records("client")) == 1
    time.t += 61
    second = run(project, time)
    assert second.counts["created"] == 1 and second.status == "ok"
    assert len(billing.records("client")) == 1 and len(panel.records("client")) == 1
    third = run(project, time)
    assert third.counts["unchanged"] == 1 and third.counts["created"] == 0
