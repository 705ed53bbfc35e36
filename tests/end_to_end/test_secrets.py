"""No secret leaks, even when a vendor echoes requests back in its error replies.

Each plugin runs in a real ``hostsync`` process against its sandbox, which answers with the request
echoed into the vendor's own error format (``Fault("echo")``): a login or a lookup once, every create.
The canaries are the configured secrets (and the md5 the WHMCS-family APIs take instead of a
password) and every password a connector made up for a new account, as the sandbox received it. None
may appear, in any of the forms a secret can take in text (raw, URL-encoded, form-encoded, JSON- and
XML-escaped, in base64) nor their first halves (a message cut before it was redacted), in stdout or stderr of ``sync -vv``, in ``runs --events --json``, in
``links --json`` or in the bytes of the state file and its WAL.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from hostsync.cli.config_cmd import to_toml
from hostsync.redact import base64_cores, forms
from hostsync.sandbox import Fault, Sandbox
from hostsync_ispconfig import soapenc
from hostsync_whmcs.sandbox import WhmcsSandbox

from ..conftest import PLUGINS_DIR

pytestmark = pytest.mark.slow

JSON = "application/json; charset=utf-8"
XML = "text/xml; charset=utf-8"


def whmcs_error(op: str, times: int | None) -> Fault:
    return Fault("echo", match=op, times=times, status=200, content_type=JSON,
                 body='{"result": "error", "message": "Invalid request: {request}"}')


def blesta_error(op: str, times: int | None) -> Fault:
    return Fault("echo", match=op, times=times, status=400, content_type=JSON,
                 body='{"message": "{request}", "errors": {"new_password": {"format": "Not accepted: {request}"}}, '
                      '"response": null}')


def teampro_error(op: str, times: int | None) -> Fault:
    return Fault("echo", match=op, times=times, status=200, content_type=JSON,
                 body='{"request": {"code": 400, "message": "Bad parameters: {request}"}, "response": {}}')


def soap_error(op: str, times: int | None, code: str) -> Fault:
    return Fault("echo", match=op, times=times, status=500, content_type=XML,
                 body=soapenc.php_fault(code, "MARK").decode().replace("MARK", "{request}"))


def json_error(op: str, times: int | None) -> Fault:
    return Fault("echo", match=op, times=times, status=200, content_type=JSON,
                 body='{"code": "remote_fault", "message": "{request}", "response": false}')


def proworkflow_error(op: str, times: int | None) -> Fault:
    return Fault("echo", match=op, times=times, status=400, content_type=JSON,
                 body='{"status": "Error", "details": ["<b>Invalid request</b>: {request}", "Refused: {request}"]}')


def proworkflow_cut(box: Sandbox) -> Fault:
    """The first create's echo padded so that the 500 characters ProWorkflow's details are cut to end
    in the middle of the password's base64 (in the Basic auth header)."""
    system = box.systems()["proworkflow"]
    basic = base64.b64encode(f"{system['username']}:{system['password']}".encode()).decode()
    core = next(core for core in base64_cores(system["password"]) if core in basic)
    before = "POST /companies? | Authorization: Basic " + basic[:basic.index(core)]
    pad = "." * (500 - len(before) - len(core) // 2 - 1)
    return Fault("echo", match="POST /companies", status=400, content_type=JSON,
                 body='{"status": "Error", "details": ["' + pad + '{request}"]}')


def webwork_cut(box: Sandbox) -> Fault:
    """The first create's echo padded so that the 200 characters WebWork's message is cut to end in
    the middle of the token."""
    token = box.systems()["webwork"]["token"]
    before = f"POST /api/v2/projects?workspace_id={box.systems()['webwork']['workspace_id']} | Authorization: Bearer "
    pad = "." * (200 - len(before) - len(token) // 2 - 1)
    return Fault("echo", match="POST /projects", status=422, content_type=JSON,
                 body='{"success": false, "message": "' + pad + '{request}", "data": null}')


def webwork_error(op: str, times: int | None) -> Fault:
    return Fault("echo", match=op, times=times, status=422, content_type=JSON,
                 body='{"success": false, "message": "{request}", "data": null, '
                      '"errors": {"name": ["Not accepted: {request}"]}}')


@dataclass
class Case:
    vendor: str
    system: str
    kind: str
    #: the faults of each sync run in turn
    phases: list[list[Fault]]
    #: the configured secrets of the system (and what the API takes instead of them)
    secrets: Callable[[Sandbox], list[str]]
    #: passwords the connector made up, as the sandbox received them
    generated: str | None = None
    into: bool = True  # the job writes into the system (else it reads from it)
    #: a fault for the first create of the first run, echoing it so that the plugin's cut of the
    #: vendor's message falls inside a secret
    cut: Callable[[Sandbox], Fault] | None = None


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


CASES = [
    Case("whmcs", "billing", "client", [[whmcs_error("GetClientsDetails", 1), whmcs_error("AddClient", None)]],
         lambda box: [WhmcsSandbox.SECRET], r"password2=([^;|& ]+)"),
    Case("whmcs", "teampro", "project", [[teampro_error("findProjects", 1)]],
         lambda box: [WhmcsSandbox.ADMIN_PASSWORD, md5(WhmcsSandbox.ADMIN_PASSWORD)], into=False),
    Case("blesta", "blesta", "client", [[blesta_error("clients/getList", 1), blesta_error("clients/create", None)]],
         lambda box: [box.KEY], r"new_password\]=([^;|& ]+)"),
    Case("ispconfig", "panel", "client",
         [[soap_error("login", None, "server_error")], [soap_error("client_add", None, "data_processing_error")]],
         lambda box: [box.systems()["panel"]["password"]],
         r"<key[^>]*>password</key>\s*<value[^>]*>([^<]+)</value>"),
    Case("ispconfig", "panel-json", "client", [[json_error("login", None)], [json_error("client_add", None)]],
         lambda box: [box.systems()["panel-json"]["password"]], r'"password": ?"([^"]+)"'),
    # ProWorkflow makes up no password (a client's contact gets no login); WebWork holds no accounts
    Case("proworkflow", "proworkflow", "client",
         [[proworkflow_error("GET /companies", 1), proworkflow_error("POST /companies", None)]],
         lambda box: [box.systems()["proworkflow"]["apikey"], box.systems()["proworkflow"]["password"]],
         cut=proworkflow_cut),
    Case("webwork", "webwork", "project", [[webwork_error("GET /projects", 1), webwork_error("POST /projects", None)]],
         lambda box: [box.systems()["webwork"]["token"]], cut=webwork_cut),
]


def hostsync(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOSTSYNC_", "NOTIFY_"))}
    return subprocess.run([sys.executable, "-m", "hostsync", "--config", str(config), *args], env=env,
                          capture_output=True, text=True, timeout=120)


def source_records(store: Path, kind: str) -> None:
    """Three records of ``kind`` in the source, each holding ``echo<n>`` where the state shows it."""
    sys.path.insert(0, str(PLUGINS_DIR))
    try:
        import memory  # the test vendor, writing its data where the hostsync process reads it
    finally:
        sys.path.remove(str(PLUGINS_DIR))
    vendor = memory.MemoryVendor("src", store)
    for n in range(1, 4):
        if kind == "project":
            vendor.put("project", {"name": f"echo{n} redesign", "status": "active", "start_on": "2026-02-01",
                                   "due_on": "2026-04-30", "description": "New templates."})
            continue
        vendor.put("client", {"email": f"echo{n}@example.org", "first_name": f"Ann{n}", "last_name": "Smith",
                              "company": "ACME", "address1": "Street 1", "city": "Berlin", "postcode": "10115",
                              "country": "DE", "phone": "+49 30 1234567", "status": "active"})


@pytest.mark.parametrize("case", CASES, ids=[c.system for c in CASES])
def test_no_canary_leaks_when_the_vendor_echoes_requests(tmp_path, start_sandbox, case):
    box = start_sandbox(case.vendor, seed=None if case.into else 1)
    systems = box.systems()
    store = tmp_path / "source.json"
    source_records(store, case.kind)
    config: dict[str, Any] = {
        "hostsync": {"state": str(tmp_path / "hostsync.db"), "plugins_dir": str(PLUGINS_DIR)},
        "systems": {"src": {"plugin": "memory", "vendor": "src", "store": str(store)}, case.system: systems[case.system]},
        "jobs": {"j": {"kind": case.kind, "source": "src" if case.into else case.system,
                       "targets": [case.system if case.into else "src"]}},
    }
    peer = systems[case.system].get("shares_ids_with")
    if peer:
        config["systems"][peer] = systems[peer]
    path = tmp_path / "hostsync.toml"
    path.write_text(to_toml(config))
    assert hostsync(path, "check", "src").returncode == 0  # creates the state file
    # a reader holding the file open keeps the WAL from being folded back and removed at the end of
    # the run, so what the run wrote can be searched there too
    reader = sqlite3.connect(f"file:{tmp_path / 'hostsync.db'}?mode=ro", uri=True)
    reader.execute("SELECT count(*) FROM runs").fetchall()
    outputs = {}
    for n, faults in enumerate(case.phases, 1):
        box.clear_faults()
        for fault in ([case.cut(box)] if case.cut and n == 1 else []) + faults:
            box.inject(fault)
        sync = hostsync(path, "-vv", "sync", "j")
        assert sync.returncode == 1, sync.stderr  # the echoed failures are failures
        outputs[f"sync {n} stdout"], outputs[f"sync {n} -vv stderr"] = sync.stdout, sync.stderr
    echoed = [call["echoed"] for call in box.log if call.get("echoed")]

    configured = case.secrets(box)
    generated = sorted({m for text in echoed for m in re.findall(case.generated, text)}) if case.generated else []
    assert len(generated) >= (2 if case.generated else 0), "no generated password was echoed"
    canaries = configured + generated
    sent_back = [c for c in canaries if any(form in text for text in echoed for form in forms(c))]
    assert set(generated) <= set(sent_back) and set(sent_back) & set(configured), "the vendor echoed no secret"

    for args in (("runs", "--events", "--json"), ("links", "--json"), ("state", "check", "--json")):
        result = hostsync(path, *args)
        assert result.returncode in (0, 1), result.stderr
        outputs[" ".join(args)] = result.stdout + result.stderr
    for file in (tmp_path / "hostsync.db", tmp_path / "hostsync.db-wal"):
        outputs[file.name] = file.read_bytes().decode("utf-8", errors="replace")
    reader.close()
    assert "echo2" in outputs["hostsync.db-wal"] or not case.into  # the run's writes are there

    hits = [(canary, form, where) for canary in canaries for form in forms(canary)
            for where, text in outputs.items() if form in text]
    # a message cut before it was redacted leaves the start of a secret: look for those too
    starts = {form[:max(8, len(form) // 2)] for canary in canaries for form in forms(canary) if len(form) >= 12}
    cut = [(start, where) for start in starts for where, text in outputs.items() if start in text]
    print(f"\n{case.system}: {len(canaries)} canaries x {len(outputs)} outputs searched "
          f"({sum(len(forms(c)) for c in canaries)} forms, {len(starts)} starts), {len(hits) + len(cut)} hits")
    assert hits == [] and cut == []
    stderr = "".join(text for where, text in outputs.items() if "stderr" in where)
    assert re.search(r"\*\*\*|\[redacted\]", stderr)  # what was echoed was shown, masked
