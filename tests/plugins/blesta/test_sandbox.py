"""The Blesta sandbox behaves like Blesta's API controller and models, quirks included (FACTS.md §3, §7.3)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from hostsync.sandbox import Fault
from hostsync_blesta.phpform import encode
from hostsync_blesta.sandbox import METHODS, REQUIRED, SM, BlestaSandbox

SCHEMA = json.loads((Path(__file__).parent / "data" / "blesta_api_schema_subset.json").read_text())
CAMEL = {"clients": "Clients", "client_groups": "ClientGroups", "contacts": "Contacts", "states": "States",
         "invoices": "Invoices", "transactions": "Transactions", "services": "Services"}


def php_literal(text: Any) -> Any:
    """A PHP default as the schema prints it (``null``, ``'open'``, ``['id_code' => 'ASC']``)."""
    text = str(text).strip()
    if text == "null":
        return None
    if text in ("true", "false"):
        return text == "true"
    if "=>" in text:
        text = "{" + text.strip()[1:-1].replace("=>", ":") + "}"
    return ast.literal_eval(text)


def api(box: BlestaSandbox, verb: str, path: str, args: dict[str, Any] | None = None, *, auth: Any = None,
        headers: dict[str, str] | None = None, body: bytes | None = None, query: str | None = None) -> httpx.Response:
    auth = (box.USER, box.KEY) if auth is None else auth
    form = encode(args or {})
    url = f"{box.url}/api/{path}"
    if verb in ("GET", "DELETE"):
        return httpx.request(verb, url + (f"?{query if query is not None else form}"), auth=auth or None,
                             headers=headers, content=body, timeout=5)
    return httpx.request(verb, url + (f"?{query}" if query else ""), auth=auth or None, timeout=5,
                         content=form.encode() if body is None else body,
                         headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})


def test_signatures_are_blestas() -> None:
    """Each emulated core method binds the parameters Blesta's signature declares, in order, with its defaults."""
    checked = 0
    for (model, method), (signature, _) in METHODS.items():
        if model not in CAMEL:
            continue
        official = SCHEMA["models"][CAMEL[model]][method]["params"]
        assert [p.name for p in signature] == [p["name"] for p in official], (model, method)
        for ours, theirs in zip(signature, official):
            assert (ours.default is REQUIRED) == bool(theirs["required"]), (model, method, ours.name)
            if ours.default is not REQUIRED:
                assert ours.default == php_literal(theirs["default"]), (model, method, ours.name)
            assert ours.array == ("array" in theirs["type"]), (model, method, ours.name)
        checked += 1
    assert checked == 32


def test_a_missing_argument_without_default_is_a_500(sandbox: BlestaSandbox) -> None:
    answer = api(sandbox, "GET", "clients/get.json", {})
    assert answer.status_code == 500
    assert answer.json() == {"message": "An unexpected error occurred.",
                             "response": "Internal error: Failed to retrieve the default value"}
    answer = api(sandbox, "GET", f"{SM}/getList.json", {"page": 1})  # the ticket status has no default
    assert answer.status_code == 500


def test_missing_optional_arguments_take_blestas_defaults(sandbox: BlestaSandbox) -> None:
    invoices = sandbox.blesta.t["invoices"].values()
    open_ = [i for i in invoices if i["status"] == "active" and not i["date_closed"]]
    assert 0 < len(open_) < len(invoices)
    count = api(sandbox, "GET", "invoices/getListCount.json").json()["response"]
    assert count == len(open_)  # default status 'open'
    assert api(sandbox, "GET", "invoices/getListCount.json", {"status": "all"}).json()["response"] == len(invoices)
    services = sandbox.blesta.t["services"].values()
    active = [s for s in services if s["status"] == "active"]
    assert api(sandbox, "GET", "services/getListCount.json").json()["response"] == len(active) < len(services)
    clients = api(sandbox, "GET", "clients/getListCount.json").json()["response"]
    assert clients == len(sandbox.blesta.t["clients"])  # clients: null status = all, fraud and inactive included


def test_each_verb_reads_only_its_own_parameter_source(sandbox: BlestaSandbox) -> None:
    # POST with the arguments in the query: $_POST is empty, so vars is missing
    assert api(sandbox, "POST", f"{SM}/add.json", body=b"", query=encode({"vars": {"summary": "x"}})).status_code == 500
    # GET ignores a body
    assert api(sandbox, "GET", "clients/get.json", body=b"client_id=1", query="").status_code == 500
    # POST with a JSON body: PHP does not fill $_POST from it
    answer = httpx.post(f"{sandbox.url}/api/{SM}/add.json", auth=(sandbox.USER, sandbox.KEY), timeout=5,
                        json={"vars": {"department_id": 1, "summary": "x", "client_id": 1}})
    assert answer.status_code == 500
    # PUT reads the raw body with parse_str whatever its content type
    answer = httpx.put(f"{sandbox.url}/api/clients/edit.json", auth=(sandbox.USER, sandbox.KEY), timeout=5,
                       content=encode({"client_id": 1, "vars": {"status": "inactive"}}).encode(),
                       headers={"Content-Type": "text/plain"})
    assert answer.status_code == 200 and sandbox.blesta.t["clients"][1]["status"] == "inactive"
    # DELETE takes the query
    draft = next(i for i in sandbox.blesta.t["invoices"].values() if i["status"] == "draft")
    assert api(sandbox, "DELETE", "invoices/deleteDraft.json", {"invoice_id": draft["id"]}).status_code == 200
    assert draft["id"] not in sandbox.blesta.t["invoices"]


def test_a_string_where_an_array_is_declared_is_a_500(sandbox: BlestaSandbox) -> None:
    assert api(sandbox, "GET", "clients/getList.json", {"filters": ""}).status_code == 500
    assert api(sandbox, "POST", "clients/create.json", {"vars": "x"}).status_code == 500


def test_validation_errors_are_400_with_the_errors_map(sandbox: BlestaSandbox) -> None:
    answer = api(sandbox, "POST", "clients/create.json", {"vars": {"username": "", "email": "nope"}})
    assert answer.status_code == 400
    body = answer.json()
    assert body["message"] == "The request cannot be fulfilled due to bad syntax."
    assert body["errors"]["email"] == {"format": "Please enter a valid email address."}
    assert set(body["errors"]) >= {"username", "new_password", "first_name", "last_name", "client_group_id"}


def test_bad_credentials_are_401(sandbox: BlestaSandbox) -> None:
    assert api(sandbox, "GET", "clients/getListCount.json", auth=(sandbox.USER, "wrong")).status_code == 401
    answer = api(sandbox, "GET", "clients/getListCount.json", auth=False)
    assert answer.status_code == 401
    assert answer.json()["message"] == "The authorization details given appear to be invalid."


def test_header_authentication_only_where_blesta_has_it(sandbox: BlestaSandbox) -> None:
    headers = {"BLESTA-API-USER": sandbox.USER, "BLESTA-API-KEY": sandbox.KEY}
    assert api(sandbox, "GET", "clients/getListCount.json", auth=False, headers=headers).status_code == 200
    sandbox.header_auth = False  # Blesta < 5.11
    assert api(sandbox, "GET", "clients/getListCount.json", auth=False, headers=headers).status_code == 401


def test_unknown_model_or_method_is_404_and_other_formats_415(sandbox: BlestaSandbox) -> None:
    assert api(sandbox, "GET", "clients/nope.json").status_code == 404
    assert api(sandbox, "GET", "support_manager.nope/getList.json").status_code == 404
    assert api(sandbox, "GET", "clients/getListCount.yaml").status_code == 415
    assert httpx.get(f"{sandbox.url}/index.php/api/clients/getListCount.json", auth=(sandbox.USER, sandbox.KEY),
                     timeout=5).status_code == 200


def test_maintenance_mode_is_503(sandbox: BlestaSandbox) -> None:
    sandbox.maintenance = True
    answer = api(sandbox, "GET", "clients/getListCount.json")
    assert answer.status_code == 503 and "maintenance" in answer.json()["message"]


def test_pages_have_a_fixed_size_of_20(sandbox: BlestaSandbox) -> None:
    total = len(sandbox.blesta.t["invoices"])
    for n in range(30):
        sandbox.blesta.invoices_add({"client_id": "1", "date_billed": "2025-01-01", "date_due": "2025-01-02",
                                     "currency": "USD", "lines": [{"description": f"x{n}", "amount": "1"}]})
    pages = [api(sandbox, "GET", "invoices/getList.json", {"status": "all", "page": p, "page_size": 100}).json()
             ["response"] for p in (1, 2, 3, 4)]
    assert [len(p) for p in pages] == [20, 20, total + 30 - 40, 0]


def test_ticket_lists_hide_tickets_without_a_reply(sandbox: BlestaSandbox) -> None:
    ticket = api(sandbox, "POST", f"{SM}/add.json", {"vars": {"department_id": 1, "summary": "No reply yet",
                                                               "client_id": 1}}).json()["response"]
    listed = api(sandbox, "GET", f"{SM}/getList.json", {"status": "", "client_id": 1}).json()["response"]
    count = api(sandbox, "GET", f"{SM}/getListCount.json", {"status": ""}).json()["response"]
    assert str(ticket) not in {row["id"] for row in listed}
    assert api(sandbox, "GET", f"{SM}/get.json", {"ticket_id": ticket}).json()["response"]["summary"] == "No reply yet"
    api(sandbox, "POST", f"{SM}/addReply.json", {"ticket_id": ticket, "vars": {"details": "Hello", "client_id": 1},
                                                  "new_ticket": True})
    listed = api(sandbox, "GET", f"{SM}/getList.json", {"status": "", "client_id": 1}).json()["response"]
    assert str(ticket) in {row["id"] for row in listed}
    assert api(sandbox, "GET", f"{SM}/getListCount.json", {"status": ""}).json()["response"] == count + 1


def test_ticket_filters_compare_null_strictly(sandbox: BlestaSandbox) -> None:
    everything = api(sandbox, "GET", f"{SM}/getListCount.json", {"status": ""}).json()["response"]
    assert everything > 0
    assert api(sandbox, "GET", f"{SM}/getListCount.json", {"status": "", "staff_id": ""}).json()["response"] == 0
    assert api(sandbox, "GET", f"{SM}/getListCount.json", {"status": "", "client_id": ""}).json()["response"] == 0
    assert api(sandbox, "GET", f"{SM}/getListCount.json", {"status": "open"}).json()["response"] < everything


def test_replies_come_newest_first(sandbox: BlestaSandbox) -> None:
    ticket = api(sandbox, "GET", f"{SM}/get.json", {"ticket_id": 1}).json()["response"]
    dates = [r["date_added"] for r in ticket["replies"]]
    assert len(dates) > 1 and dates == sorted(dates, reverse=True)


@pytest.mark.parametrize("mode, body", [("[]", []), ("false", False), ("null", None)])
def test_empty_lists_come_as_configured(sandbox: BlestaSandbox, mode: str, body: Any) -> None:
    sandbox.blesta.config["empty_list"] = mode
    answer = api(sandbox, "GET", "invoices/getList.json", {"status": "all", "page": 99})
    assert answer.json() == {"response": body}


def test_dates_without_a_zone_are_company_local(sandbox: BlestaSandbox) -> None:
    sandbox.blesta.config["timezone"] = "America/New_York"
    created = api(sandbox, "POST", "invoices/add.json", {"vars": {
        "client_id": 1, "date_billed": "2025-03-01", "date_due": "2025-03-02 00:00:00 UTC", "currency": "USD",
        "lines": [{"description": "x", "amount": "1"}]}}).json()["response"]
    invoice = sandbox.blesta.t["invoices"][int(created)]
    assert created == str(int(created))  # PDO lastInsertId(): a string
    assert invoice["date_billed"] == "2025-03-01 05:00:00"  # midnight in New York, stored in UTC
    assert invoice["date_due"] == "2025-03-02 00:00:00"


def test_invoice_numbers_paid_state_and_line_deletion(sandbox: BlestaSandbox) -> None:
    created = api(sandbox, "POST", "invoices/add.json", {"vars": {
        "client_id": 1, "date_billed": "2025-03-01Z", "date_due": "2025-03-15Z", "currency": "USD", "status": "draft",
        "lines": [{"description": "a", "amount": "5.99"}, {"description": "b", "amount": "3.75", "qty": 2}]}}).json()
    invoice_id = created["response"]
    invoice = api(sandbox, "GET", "invoices/get.json", {"invoice_id": invoice_id}).json()["response"]
    assert invoice["id_code"] == f"DRAFT-{invoice_id}" and invoice["total"] == "13.4900"  # DECIMAL(19,4), a string
    first, second = invoice["line_items"]
    assert api(sandbox, "PUT", "invoices/edit.json", {"invoice_id": invoice_id, "vars": {
        "status": "active", "lines": [{"id": first["id"], "description": "", "amount": ""}]}}).status_code == 200
    invoice = api(sandbox, "GET", "invoices/get.json", {"invoice_id": invoice_id}).json()["response"]
    assert [l["description"] for l in invoice["line_items"]] == ["b"]
    assert re.fullmatch(r"\d+", invoice["id_code"]) and invoice["date_closed"] is None
    txn = api(sandbox, "POST", "transactions/add.json", {"vars": {"client_id": 1, "amount": "7.50", "currency": "USD",
                                                                   "type": "other"}}).json()["response"]
    api(sandbox, "PUT", "transactions/apply.json", {"transaction_id": txn, "vars": {
        "amounts": [{"invoice_id": invoice_id, "amount": "7.50"}]}})
    invoice = api(sandbox, "GET", "invoices/get.json", {"invoice_id": invoice_id}).json()["response"]
    assert invoice["due"] == "0.0000" and invoice["date_closed"]


def test_services_refuse_to_call_a_registrar(sandbox: BlestaSandbox) -> None:
    vars_ = {"pricing_id": 1, "client_id": 1, "status": "active", "domain": "new-domain.example"}
    answer = api(sandbox, "POST", "services/add.json", {"vars": vars_})
    assert answer.status_code == 400 and "module" in answer.json()["errors"]
    answer = api(sandbox, "POST", "services/add.json", {"vars": {**vars_, "use_module": "false"}})
    assert answer.status_code == 200


def test_sample_is_deterministic_and_load_dump_round_trips() -> None:
    one, again, other = BlestaSandbox(seed=3), BlestaSandbox(seed=3), BlestaSandbox(seed=4)
    assert one.dump() == again.dump()
    assert one.dump() != other.dump()
    copy = BlestaSandbox()
    copy.load(json.loads(json.dumps(one.dump())))
    assert copy.dump() == one.dump()
    data = one.dump()
    assert len(data["clients"]) >= 10 and len(data["invoices"]) >= 10 and len(data["tickets"]) >= 5
    assert {c["country"] for c in data["contacts"]} >= {"US", "DE", "FR", "GB", "JP"}
    assert any(not name.isascii() for c in data["contacts"] for name in (c["first_name"], c["last_name"]))


def test_operations_name_model_and_method_for_faults_and_counts(sandbox: BlestaSandbox) -> None:
    sandbox.inject(Fault("error", match="clients/getListCount", status=500, body='{"message":"x"}',
                         content_type="application/json"))
    assert api(sandbox, "GET", "clients/getListCount.json").status_code == 500
    assert api(sandbox, "GET", "clients/getListCount.json").status_code == 200
    assert sandbox.calls["clients/getListCount"] == 2
    control = httpx.get(f"{sandbox.url}/_sandbox/calls", timeout=5).json()
    assert control["calls"]["clients/getListCount"] == 2
    assert control["log"][-1]["args"] == [] and control["log"][-1]["write"] is False



#: The error answers blesta-api.txt documents (its "Errors" examples, copied verbatim), and how the
#: sandbox is made to give each.
DOCUMENTED_ERRORS = [
    (401, '{"message": "The authorization details given appear to be invalid."}',
     lambda box: api(box, "GET", "clients/get.json", {"client_id": 1}, auth=("hostsync-sandbox", "wrong"))),
    (403, '{"message": "The requested resource is not accessible."}',
     lambda box: api(box, "GET", "clients/_construct.json", {})),
    (404, '{"message":"The requested resource does not exist."}', lambda box: api(box, "GET", "widgets/get.json", {})),
    (415, '{"message":"The format requested is not supported by the server."}',
     lambda box: api(box, "GET", "clients/getListCount.xml", {})),
    (500, '{"message":"An unexpected error occurred.", "response":"Internal error: Failed to retrieve the default value"}',
     lambda box: api(box, "GET", "clients/get.json", {})),
    (503, '{"message":"The requested resource is currently unavailable due to maintenance."}',
     lambda box: (setattr(box, "maintenance", True), api(box, "GET", "clients/getListCount.json", {}))[1]),
]


@pytest.mark.parametrize("status, body, provoke", DOCUMENTED_ERRORS, ids=[str(e[0]) for e in DOCUMENTED_ERRORS])
def test_error_answers_are_the_documented_ones(sandbox: BlestaSandbox, status: int, body: str, provoke: Any) -> None:
    answer = provoke(sandbox)
    assert answer.status_code == status
    documented = json.loads(body)
    assert {k: answer.json().get(k) for k in documented} == documented  # a 401 also carries the ``errors`` map
