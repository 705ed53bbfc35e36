"""`sync -vv` shows one line per vendor request, each once, and never a secret; `-v` shows each
record's action; the default shows one line per cause, not one per record."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter

import pytest

from hostsync import hookimpl
from hostsync.config import load_config
from hostsync.engine import Runtime, sync_job
from hostsync.plugins import load_plugins
from hostsync.sandbox import Fault

pytestmark = pytest.mark.slow

LINE = re.compile(r"hostsync\.vendor: (?P<system>\w+): (?P<method>[A-Z]+) (?P<action>\S+) -> "
                  r"(?:HTTP (?P<status>\d+)|no reply) in (?P<ms>\d+) ms, (?P<bytes>\d+) bytes.*\[(?P<op>\w+)\]$")


def vendor_lines(stderr: str) -> list[re.Match[str]]:
    return [m for m in map(LINE.search, stderr.splitlines()) if m]


@pytest.fixture
def whmcs_to_blesta(hostsync_project, start_sandbox):
    whmcs, blesta = start_sandbox("whmcs", seed=3), start_sandbox("blesta", seed=3)
    project = hostsync_project
    project.systems.update(billing=whmcs.systems()["billing"], blesta=blesta.systems()["blesta"])
    project.job("clients", kind="client", source="billing", targets=["blesta"])
    whmcs.reset_calls()
    blesta.reset_calls()
    return project, whmcs, blesta


def test_vv_shows_each_vendor_request_once_and_no_secret(whmcs_to_blesta):
    project, whmcs, blesta = whmcs_to_blesta
    result = project.cli("-vv", "sync", "clients")
    assert result.exit_code == 0, result.output
    lines = vendor_lines(result.stderr)
    seen = Counter((m["system"], m["action"]) for m in lines)
    # the sandboxes' own logs, in the lines' terms: WHMCS names the action, Blesta's path is the route
    expected = Counter({("billing", op): n for op, n in whmcs.calls.items()})
    expected.update({("blesta", f"/api/{op}.json"): n for op, n in blesta.calls.items()})
    assert seen == expected
    assert {m["op"] for m in lines if m["system"] == "blesta"} == {"check", "find", "create"} or \
        {"find", "create"} <= {m["op"] for m in lines if m["system"] == "blesta"}
    assert all(m["status"] == "200" and int(m["bytes"]) > 0 for m in lines if m["system"] == "billing")
    secrets = [project.systems["billing"]["identifier"], project.systems["billing"]["secret"],
               project.systems["blesta"]["key"]]
    for secret in secrets:
        assert secret not in result.output


def test_v_shows_each_record_but_not_requests_and_default_shows_neither(whmcs_to_blesta):
    project, whmcs, _ = whmcs_to_blesta
    plain = project.cli("sync", "clients")
    assert plain.exit_code == 0 and "hostsync.vendor" not in plain.stderr and " -> blesta" not in plain.stderr
    whmcs.edit("client", "1", city="Leipzig")
    verbose = project.cli("-v", "sync", "clients")
    assert re.search(r"job clients: update client billing#1 -> blesta#\d+: updated", verbose.stderr), verbose.stderr
    assert "hostsync.vendor" not in verbose.stderr


def test_a_systemic_failure_is_one_line_with_a_count_and_the_first_ids(whmcs_to_blesta):
    project, _, blesta = whmcs_to_blesta
    blesta.inject(Fault("error", match="clients/create", times=None, status=400, content_type="application/json",
                        body='{"message": "The request cannot be fulfilled.", "errors": {"email": {"format": '
                             '"Please enter a valid email address."}}, "response": null}'))
    result = project.cli("sync", "clients")
    assert result.exit_code == 1
    failures = [line for line in result.stderr.splitlines() if "failed in blesta" in line]
    assert len(failures) == 1, result.stderr
    [line] = failures
    count = int(re.search(r"job clients: (\d+) client records failed in blesta \[rejected\]", line).group(1))
    assert count >= 10 and "and %d more" % (count - 5) in line
    events = project.cli("runs", "clients", "--events", "--json").json()[0]["events"]
    assert sum(e["outcome"] == "failed" for e in events) == count
    verbose = project.cli("-v", "sync", "clients")  # all ids at -v
    [line] = [line for line in verbose.stderr.splitlines() if "failed in blesta" in line]
    assert "more" not in line and len(re.search(r"ids: ([^)]*)\)", line).group(1).split(", ")) == count


class Observer:
    """An observer that is not thread-safe on purpose: it notices if two events overlap."""

    def __init__(self) -> None:
        self.events = []
        self.busy = False
        self.overlapped = False

    @hookimpl
    def hostsync_event(self, event):
        if self.busy:
            self.overlapped = True
        self.busy = True
        time.sleep(0.001)
        self.events.append((event, threading.current_thread().name))
        self.busy = False


def test_each_request_is_a_vendor_call_event_delivered_one_at_a_time_from_the_workers(whmcs_to_blesta):
    project, whmcs, blesta = whmcs_to_blesta
    project.systems["blesta"]["concurrency"] = 4
    observer = Observer()
    plugins = load_plugins(extra=[("observer", observer)])
    config = load_config(project.write(), plugins)
    with Runtime(config, plugins) as rt:
        assert sync_job(rt, "clients").ok
    calls = [(event, thread) for event, thread in observer.events if event.type == "vendor.call"]
    by_system = Counter(event.system for event, _ in calls)
    assert by_system == {"billing": sum(whmcs.calls.values()), "blesta": sum(blesta.calls.values())}
    assert {thread.split("_")[0] for _, thread in calls if _.detail["operation"] == "create"} == {"blesta"}
    assert all(set(e.detail) >= {"operation", "seconds", "outcome"} and e.detail["outcome"] == "ok" for e, _ in calls)
    assert not observer.overlapped
