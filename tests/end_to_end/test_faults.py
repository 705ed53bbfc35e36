"""A fault run: every sandbox answers a fraction of calls with 5xx, 429 (with Retry-After), timeouts
or lost replies. After running until quiet, every system matches and nothing exists twice."""

from __future__ import annotations

import pytest

from hostsync.config import load_config
from hostsync.demo import demo_config, start_sandboxes, write_config
from hostsync.engine import RetryPolicy, Runtime, order_jobs, sync_job
from hostsync.plugins import load_plugins
from hostsync.sandbox import Fault

from .support import duplicates, emails, inventory, mismatches

pytestmark = pytest.mark.slow

FAULTS = [
    Fault("error", status=503, probability=0.08, times=None),
    Fault("error", status=500, body="", probability=0.04, times=None),
    Fault("rate_limit", retry_after=0.2, probability=0.04, times=None),
    Fault("timeout", delay=1.0, probability=0.02, times=None),
    Fault("lost_reply", probability=0.08, times=None),
]


def test_runs_until_quiet_after_faults_leave_every_system_matching_and_no_duplicates(tmp_path):
    plugins = load_plugins()
    boxes = start_sandboxes(plugins)
    try:
        data = demo_config(boxes)
        for system in data["systems"].values():
            system["timeout"] = 0.5  # a stalled call is given up quickly
        config = load_config(write_config(tmp_path / "hostsync.toml", data, plugins), plugins)
        names = order_jobs(config, config.jobs)
        for box in boxes.values():
            for fault in FAULTS:
                box.inject(Fault(**{**fault.__dict__}))
        policy = RetryPolicy(attempts=4, base=0.05, cap=0.5)
        for _ in range(3):  # runs while the systems misbehave
            with Runtime(config, plugins, policy=policy) as rt:
                for name in names:
                    sync_job(rt, name)
        injected = sum(1 for box in boxes.values() for call in box.log if call["fault"])
        assert injected > 20, "the faults did not fire"
        for box in boxes.values():
            box.clear_faults()
        for _ in range(6):  # then until quiet
            with Runtime(config, plugins, policy=policy) as rt:
                results = [sync_job(rt, name) for name in names]
            if all(r.ok and r.writes == 0 for r in results):
                break
        else:
            raise AssertionError(f"not quiet: {[(r.job, r.status, r.counts, r.error) for r in results]}")

        with Runtime(config, plugins) as rt:
            billing = inventory(rt, "billing", "client")
            for system in ("panel", "blesta", "proworkflow"):
                assert emails(inventory(rt, system, "client")) == emails(billing)
            assert sorted(r.fields["name"] for r in inventory(rt, "proworkflow", "project").values()) == \
                sorted(r.fields["name"] for r in inventory(rt, "teampro", "project").values())
            for system, kind, key in (("panel", "domain", "name"), ("blesta", "invoice", "total"),
                                      ("blesta", "ticket", "subject"), ("panel", "client", "email"),
                                      ("blesta", "client", "email")):
                records = inventory(rt, system, kind)
                assert len(records) == len(inventory(rt, "billing", kind)), (system, kind)
                if kind != "invoice":  # invoice totals repeat; their count above is the duplicate check
                    assert not duplicates([r.value(key) for r in records.values()]), (system, kind)
            for name in names:
                assert mismatches(rt, name) == []
            assert rt.state.count_intents() == 0
    finally:
        for box in boxes.values():
            box.stop()
