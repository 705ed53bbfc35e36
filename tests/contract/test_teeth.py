"""The contract suite catches the mistakes a plugin author made in practice (the five of issue 12, and
pages made past Connector.fetch or an id against id_pattern), each planted in a subclass of a real
connector. Each test also runs the same check on the unchanged connector, so the failure is the
mistake's and not the setup's."""

from __future__ import annotations

from typing import Any

import pytest

from hostsync import Record
from hostsync.contract import ContractSuite, ContractViolation, running
from hostsync_blesta.client import BlestaClient
from hostsync_blesta.connector import BlestaConnector
from hostsync_blesta.sandbox import BlestaSandbox
from hostsync_whmcs import mapping as m
from hostsync_whmcs.connector import WhmcsConnector
from hostsync_whmcs.sandbox import WhmcsSandbox

from . import test_blesta, test_whmcs  # modules, not their classes: those are collected there


class NotIdempotent(WhmcsConnector):
    """Posts every message of the record as a reply on each update, whether WHMCS has it or not."""

    def _update_ticket(self, id: str, record: Record) -> None:
        for message in record.fields.get("messages") or []:
            self.api.call("AddTicketReply", self._reply_params(id, message, record.refs.get("client")),
                          write=True, about=f"ticket {id}")
        super()._update_ticket(id, Record("ticket", record.id, {k: v for k, v in record.fields.items()
                                                                if k != "messages"}, record.refs))


class DropsCity(WhmcsConnector):
    """Reads a client's city from a key WHMCS does not send."""

    def get(self, kind: str, id: str) -> Record | None:
        record = super().get(kind, id)
        if record is not None and kind == "client":
            record.fields["city"] = None
        return record


class BareOn401(BlestaConnector):
    """Its client raises a bare exception when Blesta refuses the key."""

    def __init__(self, system: str, options: Any) -> None:
        super().__init__(system, options)
        api = self.api

        class Careless(BlestaClient):
            def _answer(self, response: Any, *args: Any) -> Any:
                if response.status_code == 401:
                    raise RuntimeError("HTTP 401")
                return BlestaClient._answer(api, response, *args)

        self.api.__class__ = Careless


class WrongId(WhmcsConnector):
    """Returns the order id AddOrder answers instead of the domain's id."""

    def _create_domain(self, record: Record) -> str:
        super()._create_domain(record)
        return str(self._last_order)

    def __init__(self, system: str, options: Any) -> None:
        super().__init__(system, options)
        call = self.api.call

        def remember(action: str, params: Any = (), **kwargs: Any) -> dict[str, Any]:
            answer = call(action, params, **kwargs)
            if action == "AddOrder":
                self._last_order = answer["orderid"]
            return answer

        self.api.call = remember  # type: ignore[method-assign]


class IgnoresPages(WhmcsConnector):
    """Reads the first page of clients only."""

    def _all_clients(self) -> Any:
        answer = self.api.call("GetClients", {"limitstart": 0, "limitnum": self.page_size})
        for row in m.nested(answer.get("clients"), "client"):
            yield self.get("client", str(row.get("id")))


class PagesBypassTheCore(WhmcsConnector):
    """Pages clients itself, past Connector.fetch (so the core neither admits nor retries a page)."""

    def __init__(self, system: str, options: Any) -> None:
        super().__init__(system, options)
        self.api.fetch = lambda function, *args: function(*args)


class BadId(WhmcsConnector):
    """Answers a created client's id with WHMCS's prefix, which its id_pattern does not allow."""

    def create(self, kind: str, record: Record) -> str:
        return f"C{super().create(kind, record)}"


MUTANTS = [
    pytest.param(test_whmcs.TestWhmcsContract, NotIdempotent, "update_idempotent", "ticket", id="update-not-idempotent"),
    pytest.param(test_whmcs.TestWhmcsContract, DropsCity, "create_then_get", "client", id="field-dropped-on-read"),
    pytest.param(test_blesta.TestBlestaContract, BareOn401, "bad_credentials", None, id="bare-exception-on-401"),
    pytest.param(test_whmcs.TestWhmcsContract, WrongId, "create_then_get", "domain", id="wrong-id-from-create"),
    pytest.param(test_whmcs.TestWhmcsContract, IgnoresPages, "list_pages", "client", id="pagination-ignored"),
    pytest.param(test_whmcs.TestWhmcsContract, PagesBypassTheCore, "list_page_retried", "client",
                 id="pages-past-fetch"),
    pytest.param(test_whmcs.TestWhmcsContract, BadId, "ids_sane", "client", id="id-against-its-pattern"),
]


@pytest.mark.parametrize("suite, mutant, check, kind", MUTANTS)
def test_the_suite_catches_the_mistake(suite: type[ContractSuite], mutant: type, check: str, kind: str | None):
    with running(suite) as contract:
        contract.run(check, kind)  # the real connector passes
    caught = type("Caught", (suite,), {"connector": mutant})
    with running(caught) as contract, pytest.raises(ContractViolation) as failure:
        contract.run(check, kind)
    assert str(failure.value)  # says what is wrong


def test_the_mutants_are_what_they_claim(capsys):
    """A mutant that broke nothing would make the test above prove nothing: each does its mistake."""
    assert NotIdempotent._update_ticket is not WhmcsConnector._update_ticket
    with WhmcsSandbox(seed=1) as box:
        options = {k: v for k, v in box.systems()["billing"].items() if k != "plugin"}
        with DropsCity("billing", options) as dropping, WhmcsConnector("billing", options) as real:
            assert real.get("client", "1").fields["city"] and dropping.get("client", "1").fields["city"] is None
        with IgnoresPages("billing", {**options, "page_size": 2}) as short:
            assert len(list(short.list("client"))) == 2
    with BlestaSandbox(seed=1) as box:
        bad = {**box.systems()["blesta"], "key": "wrong"}
        with BareOn401("blesta", bad) as careless, pytest.raises(RuntimeError):
            careless.check()
