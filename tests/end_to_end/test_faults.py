"""A fault run: every sandbox answers a fraction of calls with 5xx, 429 (with Retry-After), timeouts
or lost replies. After running until quiet, every system matches and nothing exists twice. Then each
of the engine's promises, one fault at a time, through the CLI against the sandboxes: a create
applied after the client gave up, a 500 after applying, one record's failed read and a failed page,
a wrong credential at concurrency 16, an unusable id, Ctrl-C, a dripped reply, an oversized one."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from hostsync.config import load_config
from hostsync.demo import demo_config, start_sandboxes, write_config
from hostsync.engine import RetryPolicy, Runtime, order_jobs, sync_job
from hostsync.plugins import load_plugins
from hostsync.sandbox import Fault

from hostsync.testing import HostsyncProject

from ..conftest import PLUGINS_DIR
from .support import duplicates, emails, inventory, mismatches

ROOT = Path(__file__).resolve().parents[2]

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


# -- each promise, one fault at a time, through the CLI ------------------------------------------

def harness():
    """bench/faults.py: the measurement harness, whose scenarios these tests share."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_faults", ROOT / "bench" / "faults.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture
def boxes():
    plugins = load_plugins()
    started = {"whmcs": plugins.sandboxes["whmcs"](seed=7).start(), "blesta": plugins.sandboxes["blesta"]().start(),
               "ispconfig": plugins.sandboxes["ispconfig"]().start()}
    yield started
    for box in started.values():
        box.stop()


@pytest.fixture
def project(tmp_path, memory):
    return HostsyncProject(tmp_path / "project", plugins_dir=PLUGINS_DIR)


def systems(boxes, *names: str, **settings) -> dict:
    tables = {n: t for box in boxes.values() for n, t in box.systems().items()}
    return {name: {**tables[name], **settings.get(name, {})} for name in names}


def test_a_create_the_vendor_applies_after_the_client_gave_up_is_not_sent_twice(project, boxes):
    """Blesta applies invoices/add 1.6 s after a client whose timeout is 1 s gave up: found after the
    settle delay (twice the timeout) instead of created again."""
    project.systems.update(systems(boxes, "billing", "blesta", blesta={"timeout": 1}))
    project.job("clients", kind="client", source="billing", targets=["blesta"])
    project.job("invoices", kind="invoice", source="billing", targets=["blesta"])
    assert project.cli("sync", "clients").exit_code == 0
    boxes["blesta"].inject(Fault("applied_late", match="invoices/add", delay=1.6))
    result = project.cli("sync", "invoices", "--json")
    assert result.exit_code == 0, result.output
    counts = result.json()[0]["counts"]
    invoices = len(boxes["whmcs"].state["invoices"])
    assert counts["created"] == invoices and counts["unknown"] == 0
    assert len(boxes["blesta"].dump()["invoices"]) == invoices
    assert boxes["blesta"].calls["invoices/add"] == invoices  # the late one was not sent again


def test_whmcs_answering_500_after_it_applied_createinvoice_leaves_one_invoice(project, boxes, memory):
    crm = memory.vendor("crm")
    cid = crm.put("client", {"email": "ines@example.org", "first_name": "Inés", "last_name": "Ruiz",
                             "country": "ES", "status": "active"})
    crm.put("invoice", {"issued_on": "2026-03-01", "due_on": "2026-03-15", "status": "unpaid", "currency": "EUR",
                        "lines": [{"description": "Audit", "quantity": "1", "unit_price": "90", "taxed": False}]},
            {"client": cid})
    project.systems.update(systems(boxes, "billing", billing={"timeout": 1}))
    project.system("crm", plugin="memory", vendor="crm")
    project.job("clients", kind="client", source="crm", targets=["billing"])
    project.job("invoices", kind="invoice", source="crm", targets=["billing"])
    boxes["whmcs"].inject(Fault("applied_error", match="CreateInvoice", status=500, content_type="application/json",
                                body='{"result": "error", "message": "Internal Server Error"}'))
    for _ in range(2):
        result = project.cli("sync", "--all", "--json")
    assert result.exit_code == 0, result.output
    audits = [i for i in boxes["whmcs"].state["invoices"].values()
              if i["items"] and i["items"][0]["description"] == "Audit"]
    assert len(audits) == 1 and boxes["whmcs"].calls["CreateInvoice"] == 1


def test_one_client_whose_details_fail_fails_alone_and_a_failed_page_is_read_again_from_there(project, boxes, memory):
    whmcs = boxes["whmcs"]
    project.systems.update(systems(boxes, "billing", billing={"page_size": 5}))
    project.system("crm", plugin="memory", vendor="crm")
    project.job("clients", kind="client", source="billing", targets=["crm"])
    whmcs.inject(Fault("error", match="GetClientsDetails", about="clientid=3&", status=500, times=None))
    whmcs.inject(Fault("error", match="GetClients", about="limitstart=5&", status=503))
    result = project.cli("sync", "clients", "--json")
    assert result.exit_code == 1, result.output
    clients = len(whmcs.state["clients"])
    counts = result.json()[0]["counts"]
    assert counts["created"] == clients - 1 and counts["failed"] == 1
    assert "cannot read client 3 from billing" in result.stderr
    pages = -(-clients // 5)
    assert whmcs.calls["GetClients"] == pages + 1  # the failed page again, never the first one
    with project.state() as state:
        assert state.pending("clients", "billing") == ["3"]
    whmcs.clear_faults()
    again = project.cli("sync", "clients", "--json")
    assert again.exit_code == 0 and again.json()[0]["counts"]["created"] == 1
    assert len(memory.vendor("crm").records("client")) == clients
    with project.state() as state:
        assert state.pending("clients", "billing") == []


@pytest.mark.parametrize("plugin", ["whmcs", "wbteampro", "blesta", "ispconfig soap", "ispconfig json", "proworkflow",
                                    "webwork"])
def test_a_wrong_credential_is_refused_once_whatever_runs_and_however_many_workers(plugin):
    bench = harness()
    assert [bench.refused(plugin, 16, order) for order in bench.ORDERS] == [1, 1]


@pytest.mark.parametrize("answer, problem", [
    ('{"result": "success", "clientid": {"s": "1"}}', "[1-9][0-9]*"),
    ('{"result": "success", "clientid": "2\\u0000"}', "printable"),
    ('{"result": "success", "clientid": "1"}', "already linked")])
def test_an_id_a_target_answers_that_cannot_be_a_link_is_refused(project, boxes, memory, answer, problem):
    whmcs = boxes["whmcs"]
    crm = memory.vendor("crm")
    project.systems.update(systems(boxes, "billing", billing={"settle_delay": 0}))
    project.system("crm", plugin="memory", vendor="crm")
    project.job("clients", kind="client", source="crm", targets=["billing"])
    project.job("back", kind="client", source="billing", targets=["crm"])  # links WHMCS client 1 to a crm one
    assert project.cli("sync", "back").exit_code == 0
    crm.put("client", {"email": "new@example.org", "first_name": "Nu", "last_name": "Kunde", "country": "DE",
                       "status": "active"})
    whmcs.inject(Fault("applied_error", match="AddClient", status=200, body=answer, content_type="application/json"))
    result = project.cli("sync", "clients", "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output and "IntegrityError" not in result.output
    assert "plugin returned an invalid id" in result.stderr and problem in result.stderr
    again = project.cli("sync", "clients", "--json")  # what was made is looked up, and linked by its real id
    assert again.exit_code == 0, again.output
    made = [c for c in whmcs.state["clients"].values() if c["email"] == "new@example.org"]
    assert len(made) == 1 and whmcs.calls["AddClient"] == 1
    with project.state() as state:
        link = [lk for lk in state.iter_links("client", "crm", "billing") if lk.peer_id == str(made[0]["id"])]
        assert len(link) == 1


def test_ctrl_c_stops_a_rate_limited_sync_against_the_sandboxes():
    result = harness().stop_time((signal.SIGINT,), records=30)
    assert result["code"] == 130 and result["status"] == "interrupted"


def test_a_dripped_reply_trips_the_deadline_and_the_page_is_read_again(project, boxes, memory):
    whmcs = boxes["whmcs"]
    project.systems.update(systems(boxes, "billing", billing={"timeout": 1, "deadline": 2, "page_size": 100}))
    project.system("crm", plugin="memory", vendor="crm")
    project.job("clients", kind="client", source="billing", targets=["crm"])
    whmcs.inject(Fault("drip", match="GetClients", delay=0.05))  # a page that would take minutes
    result = project.cli("sync", "clients", "--json")
    assert result.exit_code == 0, result.output
    assert whmcs.calls["GetClients"] == 2  # given up at the deadline, then read again (a full drip is minutes)
    assert len(memory.vendor("crm").records("client")) == len(whmcs.state["clients"])


@pytest.mark.parametrize("system", ["panel", "panel-json", "blesta", "billing"])
def test_a_reply_over_the_size_limit_is_refused_by_every_plugin(project, boxes, system):
    box = next(b for b in boxes.values() if system in b.systems())
    project.systems.update(systems(boxes, system, **{system: {"max_reply_size": "1 MiB"}}))
    box.inject(Fault("oversized", size=1 << 40, times=None))  # a terabyte: only refusing it early ends this
    result = project.cli("check", system, "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    [checked] = result.json()
    assert "max_reply_size" in checked["message"]
