"""The plugin author's guide (docs/plugins.md) and the JSON output reference (docs/json-output.md)
cannot drift from the code: every hook and Connector member is documented with its exact
signature, every contract check is described, the status table is what the scaffold's client does,
and each documented JSON shape is what the commands print."""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from hostsync import errors, hookspecs
from hostsync.connector import Connector
from hostsync.contract import CHECKS
from hostsync.scaffold import names, render

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDE = (DOCS / "plugins.md").read_text()
JSON_DOC = (DOCS / "json-output.md").read_text()


def signature(function: Callable[..., Any]) -> str:
    """``name(a, b=None)``: as a reader calls it (no self, no annotations)."""
    params = [p for p in inspect.signature(function).parameters.values() if p.name not in ("self", "cls")]
    stars = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}
    shown = [stars.get(p.kind, "") + p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"
             for p in params]
    return f"{function.__name__}({', '.join(shown)})"


@pytest.mark.parametrize("hook", sorted(n for n in dir(hookspecs) if n.startswith("hostsync_")))
def test_every_hook_has_a_section_with_its_exact_signature(hook):
    assert f"### `{signature(getattr(hookspecs, hook))}`" in GUIDE


def connector_members() -> list[str]:
    members = [n for n in (*Connector.__annotations__, *vars(Connector)) if not n.startswith("_")]
    return list(dict.fromkeys(members))


@pytest.mark.parametrize("member", connector_members())
def test_every_connector_member_is_documented(member):
    value = inspect.getattr_static(Connector, member, None)
    if isinstance(value, classmethod):
        value = value.__func__
    if callable(value):
        assert f"`{signature(value)}`" in GUIDE, f"document Connector.{signature(value)}"
    else:
        assert f"\n- `{member}`:" in GUIDE, f"document Connector.{member} as a bullet of its own"


def test_every_contract_check_is_described_and_none_that_is_not_one():
    rows = re.findall(r"^\| `([a-z_0-9]+)` \|", GUIDE.split("## Tests and the contract suite")[1], re.M)
    assert rows == list(CHECKS)


def test_the_scaffold_line_count_the_guide_gives_is_true():
    claimed = int(re.search(r"the contract suite, switched on in (\d+) lines", GUIDE).group(1))
    assert claimed == render("test_contract.py.tmpl", names("acme")).count("\n")


@pytest.mark.parametrize("readme", sorted((DOCS.parent / "plugins").glob("hostsync_*/README.md")),
                         ids=lambda path: path.parent.name)
def test_every_vendor_plugin_readme_has_the_sections_the_main_readme_promises(readme):
    headings = re.findall(r"^## (.+)$", readme.read_text(), re.M)
    assert [h for h in headings if not h.startswith("Wire protocol")] == [
        "Kinds", "What is lossy", "Origin marker", "What each job costs in calls", "Sandbox", "Tests"]
    assert any(h.startswith("Wire protocol") for h in headings)


# -- the status table, against the scaffold's client ---------------------------------------------

def _json(status: int, body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def _html(status: int) -> httpx.Response:
    return httpx.Response(status, text="<html><body><h1>Error</h1></body></html>",
                          headers={"Content-Type": "text/html"})


ANSWERS: dict[str, Callable[[], httpx.Response]] = {
    "200-299 with a body you can read": lambda: _json(200, {"data": {"id": 1}}),
    "200 with a body you cannot read (HTML, truncated JSON)": lambda: _html(200),
    "301, 302, 307, 308": lambda: httpx.Response(302, headers={"Location": "https://elsewhere.example/"}),
    "400, 409, 422 with the API's error (validation)": lambda: _json(422, {"error": "bad", "fields": {"email": "x"}}),
    "401": lambda: _json(401, {"error": "invalid token"}),
    "403": lambda: _html(403),
    "404 with the API's error": lambda: _json(404, {"error": "not found"}),
    "429": lambda: _json(429, {"error": "slow down"}, **{"Retry-After": "7"}),
    "500 with an error page": lambda: _html(500),
    "500 with an empty body": lambda: httpx.Response(500),
    "502, 504": lambda: _html(502),
    "503": lambda: _html(503),
}
RAISES: dict[str, Exception] = {
    "no answer in time": httpx.ReadTimeout("timed out"),
    "connection dropped before the answer": httpx.RemoteProtocolError("Server disconnected"),
}


@pytest.fixture(scope="module")
def scaffold_client(tmp_path_factory: pytest.TempPathFactory) -> type:
    path = tmp_path_factory.mktemp("scaffold") / "acme_client.py"
    path.write_text(render("client.py.tmpl", names("acme")))
    spec = importlib.util.spec_from_file_location("acme_client_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.AcmeClient


def table() -> list[tuple[str, str, str]]:
    section = GUIDE.split("## What each HTTP status must become")[1].split("\n## ")[0]
    rows = [line.strip("|").split(" | ") for line in section.splitlines() if line.startswith("| ")]
    return [tuple(cell.strip() for cell in row) for row in rows[1:]]  # type: ignore[misc]


def test_the_table_has_exactly_the_rows_checked_here():
    assert [row[0] for row in table()] == [*ANSWERS, *RAISES]


@pytest.mark.parametrize("row", table(), ids=lambda row: row[0])
def test_each_status_becomes_what_the_table_says(scaffold_client, row):
    answer, read, write = row
    for method, expected in (("GET", read), ("POST", write)):
        def handler(request: httpx.Request) -> httpx.Response:
            if answer in RAISES:
                raise RAISES[answer]
            return ANSWERS[answer]()

        client = scaffold_client({"url": "https://acme.example", "token": "t0ken-abc",
                                  "http_transport": httpx.MockTransport(handler)})
        try:
            client.call(method, "clients")
            outcome: BaseException | None = None
        except errors.HostsyncError as exc:
            outcome = exc
        if expected == "the value":
            assert outcome is None
            continue
        wanted = getattr(errors, re.match(r"`(\w+)", expected).group(1))
        assert type(outcome) is wanted, (method, answer, outcome)
        if "may_have_applied=True" in expected:
            assert outcome.may_have_applied
        elif isinstance(outcome, errors.Transient) and not isinstance(outcome, errors.RateLimited):
            assert not outcome.may_have_applied
        if wanted is errors.RateLimited:
            assert outcome.retry_after == 7
        if "with `fields`" in expected:
            assert outcome.fields == {"email": "x"}
        assert "t0ken-abc" not in str(outcome)


# -- the JSON shapes, against the real commands ------------------------------------------------------

def documented(command: str) -> Any:
    section = JSON_DOC.split(f"## `hostsync {command}")[1]
    return json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))


def keys(value: Any, path: str = "") -> set[str]:
    """Every key path in a JSON value (list items merged)."""
    if isinstance(value, dict):
        return {f"{path}.{k}" for k in value} | {p for k, v in value.items() for p in keys(v, f"{path}.{k}")}
    if isinstance(value, list):
        return {p for item in value for p in keys(item, f"{path}[]")}
    return set()


def test_the_documented_json_shapes_are_what_the_commands_print(project, memory):
    project.system("billing", plugin="memory", vendor="billing")
    project.system("panel", plugin="memory", vendor="panel")
    project.job("clients", kind="client", source="billing", targets=["panel"])
    billing = memory.vendor("billing")
    first = billing.put("client", {"email": "ann@example.org", "city": "Utrecht", "status": "active"})
    assert project.cli("sync", "clients").exit_code == 0
    billing.edit("client", first, city="Leipzig")
    billing.put("client", {"email": "bo@example.org", "status": "active"})
    outputs = {"plan": project.cli("plan", "clients", "--json").json(),
               "sync": project.cli("sync", "clients", "--json").json(),
               "runs": project.cli("runs", "--json", "--events").json(),
               "links": project.cli("links", "clients", "--json").json()}
    panel = memory.vendor("panel")
    panel.put("client", {"email": "nobody-bills@example.org", "status": "active"})
    billing.put("client", {"email": "new@example.org", "status": "active"})
    panel.edit("client", next(i for i, r in panel.records("client").items() if r["fields"]["email"] == "ann@example.org"),
               status="inactive")
    outputs["drift"] = project.cli("drift", "--json").json()
    for command, output in outputs.items():
        assert keys(output) == keys(documented(command)), command
    update = next(a for a in outputs["plan"]["actions"] if a["op"] == "update")
    assert update["changes"] == {"city": {"old": "Utrecht", "new": "Leipzig"}}
