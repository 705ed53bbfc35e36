"""The connector contract suite: what every connector must do, checked against its sandbox.

A plugin author switches it on for a connector with a test class (pytest collects it through the
``hostsync`` pytest plugin, like any test)::

    from hostsync.contract import ContractSuite
    from hostsync_acme.connector import AcmeConnector
    from hostsync_acme.sandbox import AcmeSandbox

    class TestAcmeContract(ContractSuite):
        connector = AcmeConnector
        sandbox = AcmeSandbox
        samples = {"client": {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee"}}

Every check then runs for every kind and operation the connector declares, against a fresh
sandbox (its sample data loaded) for each check:

=====================  ========================================================================
``check``              ``check()`` passes with the sandbox's credentials
``bad_credentials``    with wrong secrets, ``check()`` raises ``AuthError`` after exactly one request
``no_secrets``         no secret setting's value appears in records, error messages or log output
``list_pages``         ``list`` with a forced small page size yields every record once
``list_page_retried``  each page goes through ``fetch()``; a page whose first answer was lost and
                       is fetched again gives the same records, and no other page is asked again
``get_equals_list``    ``get`` gives what ``list`` gave (a partial stub's ``get`` is the full record)
``get_unknown``        ``get`` of an id the vendor does not know is ``None``
``ids_sane``           ids are non-empty printable strings of at most 255 characters; a created
                       one matches the connector's ``id_pattern``
``create_then_get``    ``get`` of a created record equals ``stored()`` of what was written
``update_partial``     an update leaves the fields it was not given alone
``update_idempotent``  the same update twice leaves what once did
``find_by_key``        ``find`` by the kind's natural key and identity finds the record (a superset
                       is fine, a miss is not)
``find_by_origin``     where the kind keeps an origin marker: it reads back, and ``find`` by it works
``list_since``         where the kind declares ``since``: a record created after ``since`` is listed
``delete``             after ``delete``, ``get`` is ``None``/``NotFound`` (or reads as ``deleted``)
``delete_unknown``     ``delete`` of an unknown id raises ``NotFound``
``stored_offline``     ``stored()`` makes no request
``fault_5xx``          500/503 -> ``Transient`` (``may_have_applied`` on a write that got a 500)
``fault_429``          429 with ``Retry-After`` -> ``RateLimited`` with its ``retry_after``
``fault_timeout``      no answer in time -> ``Transient`` (``may_have_applied`` on writes)
``fault_lost_reply``   connection dropped after the vendor applied it -> the same
``fault_garbage``      an unreadable 200 -> ``ProtocolError`` (or a write's ``Transient(may_have_applied)``)
=====================  ========================================================================

Like Airbyte's acceptance tests, every check that does not run says why. ``skip`` maps a check
(``"delete"``) or a check for one kind (``"delete[ticket]"``) to the reason; a skip without a
reason, or one naming no check, fails. ``strictness = "high"`` (the default) fails a check the
suite cannot set up (no sample for a kind that can be created, no way to force small pages, no
field to edit), telling what to add; ``"low"`` skips it with that message instead. The
``--contract-strictness`` pytest option overrides it for a run.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import itertools
import logging
import re
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, ClassVar, Iterator, Mapping

import pytest

from .connector import ORIGIN, Connector, Operations, _parts
from .errors import AuthError, NotFound, ProtocolError, RateLimited, Transient
from .model import KIND_ORDER, KINDS, Record, normalise, project
from .sandbox import Fault, Sandbox

#: Checks that run once per connector, then those that run per kind (in this order).
CONNECTOR_CHECKS = ("check", "bad_credentials", "no_secrets")
KIND_CHECKS = ("list_pages", "list_page_retried", "get_equals_list", "get_unknown", "ids_sane", "create_then_get", "update_partial",
               "update_idempotent", "find_by_key", "find_by_origin", "list_since", "delete", "delete_unknown",
               "stored_offline", "fault_5xx", "fault_429", "fault_timeout", "fault_lost_reply", "fault_garbage")
CHECKS = CONNECTOR_CHECKS + KIND_CHECKS
#: System keys the core keeps to itself (the connector is given the others).
CORE_ONLY = ("plugin", "rate_limit", "shares_ids_with", "settle_delay")
WRONG = "hs-contract-wrong-credential"
#: Field types a sample's key is made unique by, in order of preference.
VARY_ORDER = ("email", "domain", "datetime", "str", "text")


class ContractViolation(AssertionError):
    """The connector broke the contract."""


class CannotCheck(Exception):
    """The suite cannot set this check up; the message says what to provide (or why it does not apply)."""


class NotOffered(CannotCheck):
    """The connector does not offer what the check needs: a reason in itself, never a failure."""


def expect(condition: Any, message: str) -> None:
    if not condition:
        raise ContractViolation(message)


class Contract:
    """The checks, run against one vendor by one suite's settings. Plain code, no pytest: the
    suite's tests call :meth:`run`, and so can a test that proves the suite catches a mistake."""

    def __init__(self, suite: "ContractSuite", vendor: Any) -> None:
        self.suite = suite
        self.vendor = suite.vendor = vendor
        self.options = suite.connector_options(vendor)
        self.ops = suite.connector.operations(self.options)
        self._made: list[Connector] = []
        self._serial = itertools.count(1)

    # -- plumbing -----------------------------------------------------------------------------

    def connect(self, **overrides: Any) -> Connector:
        """A new connector for the vendor (closed when the check ends)."""
        options = {**self.options, **overrides}
        connector = self.suite.connector(self.suite.system_name(self.vendor), options)
        self._made.append(connector)
        return connector

    def close(self) -> None:
        for connector in self._made:
            with contextlib.suppress(Exception):
                connector.close()
        self._made.clear()

    def run(self, check: str, kind: str | None = None) -> None:
        """Run one check (``kind`` for the per-kind ones); raises ContractViolation or CannotCheck."""
        try:
            if kind is not None:
                if kind not in self.ops:
                    raise NotOffered(f"the connector offers no {kind} records with these settings")
                getattr(self, f"check_{check}")(kind)
            else:
                getattr(self, f"check_{check}")()
        finally:
            self.close()

    def needs(self, kind: str, *ops: str) -> Operations:
        declared = self.ops[kind]
        missing = [op for op in ops if op not in declared]
        if missing:
            raise NotOffered(f"{kind} does not declare {', '.join(missing)}")
        return declared

    def requests(self) -> int:
        return self.suite.requests(self.vendor)

    def sample(self, kind: str, connector: Connector | None = None, made: dict[str, str] | None = None) -> Record:
        """A new record of ``kind`` to create: the suite's sample made unique, ``"@kind"`` refs
        resolved (one record per kind: a time entry's ``@project`` is its ``@task``'s project),
        restricted to the fields the connector carries (as the engine writes them)."""
        n = next(self._serial)
        record = self.suite.sample(kind, n)
        if record is None:
            raise CannotCheck(f"give samples[{kind!r}]: one {kind} to create")
        made = {} if made is None else made
        refs = {}
        for name, value in sorted(record.refs.items(), key=lambda item: -KIND_ORDER.index(KINDS[kind].refs[item[0]])):
            if isinstance(value, str) and value.startswith("@"):
                wanted = value[1:]
                if wanted not in made:
                    made[wanted] = self.create(wanted, connector, made=made)[0]
                value = made[wanted]
            refs[name] = value
        carried = {name.split(".")[0] for name in self.ops[kind].carried(kind)}
        fields = {k: v for k, v in record.fields.items() if k in carried}
        refs = {k: v for k, v in refs.items() if k in carried}
        return Record(kind, record.id if record.id is not None else f"hs-contract-{n}", fields, refs,
                      origin=record.origin)

    def create(self, kind: str, connector: Connector | None = None, *, origin: str | None = None,
               made: dict[str, str] | None = None) -> tuple[str, Record]:
        """Create a sample of ``kind``; return its new id and what was written."""
        self.needs(kind, "create")
        connector = connector or self.connect()
        record = self.sample(kind, connector, made)
        if origin is not None:
            record = replace(record, origin=origin)
        new_id = connector.create(kind, record)
        self.expect_sane_id(new_id, f"create({kind!r}) returned")
        pattern = type(connector).id_pattern
        expect(pattern is None or re.fullmatch(pattern, new_id),
               f"create({kind!r}) returned {new_id!r}, which does not match the connector's id_pattern {pattern!r}")
        if made is not None:
            made[kind] = new_id
        return new_id, record

    def existing(self, kind: str, connector: Connector, count: int = 1) -> list[Record]:
        """Records the vendor holds (created if there are not ``count`` of them)."""
        records = list(itertools.islice(connector.list(kind), count)) if "list" in self.ops[kind] else []
        for _ in range(count - len(records) if {"create", "get"} <= self.ops[kind].ops else 0):
            new_id, _ = self.create(kind, connector)
            got = connector.get(kind, new_id)
            expect(got is not None, f"get({kind!r}, {new_id!r}) found nothing after create")
            records.append(got)
        if not records:
            raise CannotCheck(f"no {kind} to read: load some in the sandbox's sample or give samples[{kind!r}]")
        return records

    def names(self, kind: str, written: Record | None = None, *, writable: bool = False) -> frozenset[str]:
        """Canonical names (list fields as their parts) the connector carries (or sets), limited to
        those ``written`` holds."""
        ops = self.ops[kind]
        names = ops.writable(kind) if writable else ops.carried(kind)
        if written is not None:
            names &= _parts(kind, frozenset((*written.fields, *written.refs)))
        return names

    def expect_sane_id(self, value: Any, what: str) -> None:
        expect(isinstance(value, str) and 0 < len(value) <= 255 and value.isprintable() and value == value.strip(),
               f"{what} {value!r}: an id must be a non-empty printable string of at most 255 characters")

    def expected(self, connector: Connector, kind: str, written: Record) -> dict[str, Any]:
        return project(normalise(connector.stored(kind, written)), self.names(kind, written, writable=True))

    def read(self, connector: Connector, kind: str, id: str, names: frozenset[str]) -> dict[str, Any]:
        got = connector.get(kind, id)
        expect(got is not None, f"get({kind!r}, {id!r}) found nothing")
        expect(not got.partial, f"get({kind!r}, {id!r}) returned a partial stub; get must return the whole record")
        return project(normalise(got), names)

    # -- connector checks ---------------------------------------------------------------------

    def check_check(self) -> None:
        self.connect().check()

    def bad_connector(self) -> Connector:
        secrets = [s.name for s in self.suite.connector.settings if s.secret and self.options.get(s.name)]
        if not secrets:
            raise NotOffered("the connector declares no secret setting")
        return self.connect(**{name: WRONG for name in secrets})

    def check_bad_credentials(self) -> None:
        connector = self.bad_connector()
        before = self.requests()
        try:
            connector.check()
        except AuthError:
            pass
        except Exception as exc:  # noqa: BLE001 - the point of the check
            raise ContractViolation(f"check() with wrong credentials raised {type(exc).__name__}: {exc}; "
                                    "expected AuthError") from exc
        else:
            raise ContractViolation("check() with wrong credentials passed")
        sent = self.requests() - before
        expect(sent == 1, f"check() with wrong credentials sent {sent} requests; a refused login must "
                          "fail after exactly one (vendors lock accounts and ban IPs)")

    def check_no_secrets(self) -> None:
        secrets = self.suite.secret_values(self.options)
        if not secrets:
            raise NotOffered("no secret setting has a value")
        seen: list[str] = []
        with _captured_logs() as logs:
            connector = self.connect()
            connector.check()
            for kind in self.ops:
                if "list" in self.ops[kind]:
                    for record in itertools.islice(connector.list(kind), 3):
                        seen.append(repr(record))
                        if "get" in self.ops[kind] and record.id:
                            seen.append(repr(connector.get(kind, record.id)))
                if "create" in self.ops[kind] and self.suite.sample(kind, 0) is not None:
                    try:
                        seen.append(repr(self.create(kind, connector)))
                    except Exception as exc:  # noqa: BLE001 - only its message matters here
                        seen.append(_messages(exc))
            try:
                self.bad_connector().check()
            except Exception as exc:  # noqa: BLE001
                seen.append(_messages(exc))
        text = "\n".join(seen) + "\n" + logs.getvalue()
        leaked = [name for name, value in secrets.items() if value in text]
        expect(not leaked, f"the value of {', '.join(sorted(set(leaked)))} appears in a record, error or log line")

    # -- reading ------------------------------------------------------------------------------

    def _small_pages(self, kind: str) -> tuple[dict[str, Any], list[str]]:
        """Options for pages of :attr:`ContractSuite.page_size`, with more than two pages of records
        (created where the kind allows); the ids created."""
        ops = self.needs(kind, "list")
        small_options = self.suite.small_pages(self.vendor, dict(self.options))
        if small_options is None:
            raise CannotCheck("no way to force a small page size: declare a page_size setting or override "
                              "small_pages()")
        writer = self.connect()
        created = []
        if "create" in ops:
            held = sum(1 for _ in writer.list(kind))
            for _ in range(max(0, 2 * self.suite.page_size + 1 - held)):
                created.append(self.create(kind, writer)[0])
        return small_options, created

    def check_list_pages(self, kind: str) -> None:
        size = self.suite.page_size
        small_options, created = self._small_pages(kind)
        paged = [r.id for r in self.connect(**small_options).list(kind)]
        self.suite.restore_pages(self.vendor)
        whole = [r.id for r in self.connect().list(kind)]
        doubled = sorted({i for i in paged if paged.count(i) > 1}, key=str)
        expect(not doubled, f"list({kind!r}) with pages of {size} yielded {doubled[:5]} more than once")
        missing = [i for i in created if i not in paged]
        expect(not missing, f"list({kind!r}) with pages of {size} missed created records {missing[:5]} "
                            f"(got {len(paged)} records)")
        expect(set(paged) == set(whole), f"list({kind!r}) with pages of {size} gave {len(paged)} records, "
                                         f"with the default page size {len(whole)}")
        if len(paged) <= size:
            raise CannotCheck(f"only {len(paged)} {kind} records: cannot prove paging (load more in the sandbox "
                              f"sample or give samples[{kind!r}])")

    def check_list_page_retried(self, kind: str) -> None:
        size = self.suite.page_size
        small_options, _ = self._small_pages(kind)
        fetched = [0]

        def requester(function: Callable[..., Any], *args: Any, retry: bool = True,
                      on_error: Callable[[Exception], Any] | None = None) -> Any:
            """The core's side of fetch() and detail(): the second page's first answer is lost."""
            if on_error is not None:  # a record's own read (detail): one plain attempt here
                return function(*args)
            fetched[0] += 1
            if fetched[0] == 2:
                function(*args)  # asked, and its answer lost: the core asks for the same page again
            return function(*args)

        try:
            mark = self.suite.requests(self.vendor)
            whole = [(r.id, r.partial) for r in self.connect(**small_options).list(kind)]
            requests = self.suite.requests(self.vendor) - mark
            connector = self.connect(**small_options)
            connector.requester = requester
            mark = self.suite.requests(self.vendor)
            again = [(r.id, r.partial) for r in connector.list(kind)]
            asked = self.suite.requests(self.vendor) - mark
        finally:
            self.suite.restore_pages(self.vendor)
        if len(whole) <= size:
            raise CannotCheck(f"only {len(whole)} {kind} records: cannot prove paging (load more in the sandbox "
                              f"sample or give samples[{kind!r}])")
        expect(fetched[0] >= 2, f"list({kind!r}) with pages of {size} made {fetched[0]} request(s) through "
                                "fetch(); fetch each page with self.fetch(function, *args), so that the core "
                                "admits it and retries a failed page from there")
        expect(again == whole, f"list({kind!r}) gave other records when its second page was fetched again "
                               f"({len(again)} against {len(whole)}): fetch() must be able to call the same "
                               "request again")
        expect(asked == requests + 1, f"list({kind!r}) sent {asked} requests when one page was fetched twice, "
                                      f"against {requests}: only that page may be asked again")

    def check_get_equals_list(self, kind: str) -> None:
        self.needs(kind, "list", "get")
        connector = self.connect()
        listed = self.existing(kind, connector, 3)
        names = self.names(kind)
        for record in listed:
            assert record.id is not None
            got = connector.get(kind, record.id)
            expect(got is not None, f"get({kind!r}, {record.id!r}) found nothing; list() gave it")
            expect(not got.partial, f"get({kind!r}, {record.id!r}) returned a partial stub")
            expect(got.id == record.id, f"get({kind!r}, {record.id!r}) returned id {got.id!r}")
            if record.partial:
                continue
            listed_values, got_values = project(normalise(record), names), project(normalise(got), names)
            differ = {n: (listed_values[n], got_values[n]) for n in listed_values if listed_values[n] != got_values[n]}
            expect(not differ, f"{kind} {record.id}: list() and get() differ (list, get): {_show(differ)}")
            expect(record.origin == got.origin, f"{kind} {record.id}: list() and get() differ in origin "
                                                f"({record.origin!r}, {got.origin!r})")

    def check_get_unknown(self, kind: str) -> None:
        self.needs(kind, "get")
        try:
            got = self.connect().get(kind, self.suite.unknown_id)
        except NotFound:
            return
        expect(got is None, f"get({kind!r}, {self.suite.unknown_id!r}) of an unknown id returned {got!r}; "
                            "expected None")

    def check_ids_sane(self, kind: str) -> None:
        ops = self.needs(kind, "list")
        connector = self.connect()
        for record in itertools.islice(connector.list(kind), 20):
            self.expect_sane_id(record.id, f"list({kind!r}) gave the id")
            for name, ref in record.refs.items():
                if ref is not None:
                    self.expect_sane_id(ref, f"list({kind!r}) gave the {name} reference")
        if "create" in ops:
            self.create(kind, connector)

    # -- writing ------------------------------------------------------------------------------

    def check_create_then_get(self, kind: str) -> None:
        self.needs(kind, "create", "get")
        connector = self.connect()
        new_id, written = self.create(kind, connector)
        expected = self.expected(connector, kind, written)
        got = self.read(connector, kind, new_id, self.names(kind, written, writable=True))
        differ = {n: (expected[n], got[n]) for n in expected if expected[n] != got[n]}
        expect(not differ, f"{kind} {new_id}: get() after create differs from stored() of what was written "
                           f"(expected, got): {_show(differ)}")

    def edit(self, kind: str, written: Record) -> dict[str, Any]:
        n = next(self._serial)
        settable = {name.split(".")[0] for name in self.names(kind, writable=True)}
        edit = self.suite.edit(kind, written, n)
        if edit is None:
            edit = _default_edit(kind, written, settable, n)
        if not edit:
            raise CannotCheck(f"no field of {kind} to change: give edits[{kind!r}]")
        unset = set(edit) - settable
        if unset:
            raise CannotCheck(f"edits[{kind!r}] names {', '.join(sorted(unset))}, which the connector does not set")
        return dict(edit)

    def check_update_partial(self, kind: str) -> None:
        self.needs(kind, "create", "update", "get")
        connector = self.connect()
        new_id, written = self.create(kind, connector)
        edit = self.edit(kind, written)
        refs = KINDS[kind].refs
        change = Record(kind, written.id, {k: v for k, v in edit.items() if k not in refs},
                        {k: v for k, v in edit.items() if k in refs})
        before = self.read(connector, kind, new_id, self.names(kind))
        connector.update(kind, new_id, change)
        after = self.read(connector, kind, new_id, self.names(kind))
        edited = self.names(kind, change, writable=True)
        expected = self.expected(connector, kind, change)
        got = self.read(connector, kind, new_id, edited)
        wrong = {n: (expected[n], got[n]) for n in expected if expected[n] != got[n]}
        expect(not wrong, f"{kind} {new_id}: after update({sorted(edit)}) the changed fields read back "
                          f"(expected, got): {_show(wrong)}")
        others = {n: (before[n], after[n]) for n in before.keys() - expected.keys() if before[n] != after[n]}
        expect(not others, f"{kind} {new_id}: update({sorted(edit)}) changed fields it was not given "
                           f"(before, after): {_show(others)}")

    def check_update_idempotent(self, kind: str) -> None:
        self.needs(kind, "create", "update", "get")
        connector = self.connect()
        new_id, written = self.create(kind, connector)
        edit = self.edit(kind, written)
        refs = KINDS[kind].refs
        full = Record(kind, written.id, {**written.fields, **{k: v for k, v in edit.items() if k not in refs}},
                      {**written.refs, **{k: v for k, v in edit.items() if k in refs}})
        names = self.names(kind)
        connector.update(kind, new_id, full)
        once = self.read(connector, kind, new_id, names)
        connector.update(kind, new_id, full)
        twice = self.read(connector, kind, new_id, names)
        differ = {n: (once[n], twice[n]) for n in once if once[n] != twice[n]}
        expect(not differ, f"{kind} {new_id}: the same update twice left a different record than once "
                           f"(once, twice): {_show(differ)}")
        expected = self.expected(connector, kind, full)
        got = self.read(connector, kind, new_id, self.names(kind, full, writable=True))
        wrong = {n: (expected[n], got[n]) for n in expected if expected[n] != got[n]}
        expect(not wrong, f"{kind} {new_id}: after update() the record differs from stored() of what was "
                          f"written (expected, got): {_show(wrong)}")

    def check_find_by_key(self, kind: str) -> None:
        ops = self.needs(kind, "find")
        connector = self.connect()
        spec = KINDS[kind]
        carried = self.names(kind)
        if "create" in ops and "get" in ops:
            new_id, written = self.create(kind, connector)
            held = connector.get(kind, new_id)
            expect(held is not None, f"get({kind!r}, {new_id!r}) found nothing after create")
        else:
            held, written = self.existing(kind, connector)[0], None
            new_id = held.id
        assert held is not None and new_id is not None
        keys = []
        natural = [n for n in spec.natural_key or spec.identity if n in carried]
        if natural:
            keys.append(("natural key", {n: normalise(held).value(n) for n in natural}))
        if written is not None:  # the engine's lookup after a lost reply: the settable identity fields
            settable = [n for n in spec.identity if n in self.names(kind, written, writable=True)]
            stored = normalise(connector.stored(kind, written))
            if settable:
                keys.append(("identity", {n: stored.value(n) for n in settable}))
        keys = [(what, key) for what, key in keys if any(v is not None for v in key.values())]
        if not keys:
            raise CannotCheck(f"{kind} has no key the connector carries ({', '.join(spec.natural_key + spec.identity)})")
        for what, key in keys:
            found = connector.find(kind, key)
            ids = [r.id for r in found]
            expect(new_id in ids, f"find({kind!r}, {key!r}) by the {what} missed {kind} {new_id} (found {ids[:5]})")

    def check_find_by_origin(self, kind: str) -> None:
        ops = self.needs(kind, "create", "find", "get")
        if not ops.origin:
            raise NotOffered(f"{kind} keeps no origin marker")
        connector = self.connect()
        marker = f"hs:contract:{next(self._serial)}"
        new_id, _ = self.create(kind, connector, origin=marker)
        got = connector.get(kind, new_id)
        expect(got is not None and got.origin == marker, f"{kind} {new_id} was created with origin {marker!r} "
                                                         f"but reads back {getattr(got, 'origin', None)!r}")
        found = connector.find(kind, {ORIGIN: marker})
        expect(new_id in [r.id for r in found], f"find({kind!r}, {{ORIGIN: {marker!r}}}) missed {kind} {new_id}")
        expect(all(r.origin == marker for r in found), f"find({kind!r}, {{ORIGIN: {marker!r}}}) returned "
                                                      "records without that marker")
        other = connector.find(kind, {ORIGIN: marker + "0"})
        expect(new_id not in [r.id for r in other], f"find by another origin marker returned {kind} {new_id}")

    def check_list_since(self, kind: str) -> None:
        self.needs(kind, "since", "create")
        connector = self.connect()
        self.create(kind, connector)  # so that the vendor's clock shows in at least one record
        stamps = [r.updated_at for r in connector.list(kind) if r.updated_at is not None]
        since = max(stamps) if stamps else datetime.now(timezone.utc) - timedelta(days=1)
        new_id, _ = self.create(kind, connector)
        ids = [r.id for r in self.connect().list(kind, since=since)]
        expect(new_id in ids, f"list({kind!r}, since={since.isoformat()}) missed {kind} {new_id}, created after it")

    def check_delete(self, kind: str) -> None:
        self.needs(kind, "create", "delete", "get")
        connector = self.connect()
        new_id, _ = self.create(kind, connector)
        connector.delete(kind, new_id)
        try:
            got = connector.get(kind, new_id)
        except NotFound:
            return
        if got is None:
            return
        kept = self.suite.deleted.get(kind)
        expect(kept is not None, f"{kind} {new_id} still reads back after delete(); if the vendor keeps history, "
                                 f"say what a deleted {kind} reads as in deleted[{kind!r}]")
        values = normalise(got)
        wrong = {n: (v, values.value(n)) for n, v in (kept or {}).items() if values.value(n) != v}
        expect(not wrong, f"{kind} {new_id} after delete() does not read as deleted (expected, got): {_show(wrong)}")

    def check_delete_unknown(self, kind: str) -> None:
        self.needs(kind, "delete")
        try:
            self.connect().delete(kind, self.suite.unknown_id)
        except NotFound:
            return
        except Exception as exc:  # noqa: BLE001
            raise ContractViolation(f"delete({kind!r}, {self.suite.unknown_id!r}) of an unknown id raised "
                                    f"{type(exc).__name__}: {exc}; expected NotFound") from exc
        raise ContractViolation(f"delete({kind!r}, {self.suite.unknown_id!r}) of an unknown id raised nothing; "
                                "expected NotFound")

    def check_stored_offline(self, kind: str) -> None:
        record = self.suite.sample(kind, 0)
        if record is None:
            raise CannotCheck(f"give samples[{kind!r}]")
        record = replace(record, refs={k: (None if str(v).startswith("@") else v) for k, v in record.refs.items()})
        connector = self.connect()
        before = self.requests()
        connector.stored(kind, record)
        expect(self.requests() == before, f"stored({kind!r}, ...) called the vendor; it must be quick and offline "
                                          "(the engine calls it while planning)")

    # -- faults -------------------------------------------------------------------------------

    def _fault(self, kind: str, fault: Fault, judge: Callable[[BaseException | None, bool], str | None]) -> None:
        """Inject ``fault`` into one read and (where the kind can be created) one write, and let
        ``judge(error, write)`` say what is wrong with the outcome."""
        if not self.suite.can_inject(self.vendor):
            raise NotOffered("the vendor cannot inject transport faults (no HTTP sandbox)")
        ops = self.ops[kind]
        setup = self.connect()
        setup.check()
        target = self.existing(kind, setup)[0] if ("get" in ops or "list" in ops) else None
        reads = self._operations(lambda c: self._read(c, kind, target))
        write_op = None
        if "create" in ops:  # the same in every check of this suite: found once
            cache = type(self.suite).__dict__.get("_write_ops")
            if cache is None:
                cache = {}
                setattr(type(self.suite), "_write_ops", cache)
            if kind not in cache:
                cache[kind] = self._write_operation(kind, reads)
            write_op = cache[kind]
        connector = self.connect(timeout=self.suite.fault_timeout)
        connector.check()
        self.suite.inject(self.vendor, replace(fault, match=reads[-1] if reads else None))
        problem = judge(_outcome(lambda: self._read(connector, kind, target)), False)
        expect(problem is None, f"a read of {kind} ({reads[-1] if reads else '?'}) {problem}")
        if "create" in ops:
            connector = self.connect(timeout=self.suite.fault_timeout)
            connector.check()
            self.suite.inject(self.vendor, replace(fault, match=write_op))
            problem = judge(_outcome(lambda: self.create(kind, connector)), True)
            expect(problem is None, f"create({kind!r}) ({write_op}) {problem}")
        self.suite.clear_faults(self.vendor)

    def _write_operation(self, kind: str, reads: list[str]) -> str:
        """The request of ``create`` that changes the vendor: of those no read sends, the first
        that changes the vendor's state when it is applied and its reply lost."""
        known = set(reads) | set(self._operations(lambda c: list(c.list(kind)) if "list" in self.ops[kind] else None))
        candidates = [op for op in dict.fromkeys(self._operations(lambda c: self.create(kind, c))) if op not in known]
        for op in candidates:
            connector = self.connect()
            connector.check()
            before = self.suite.snapshot(self.vendor)
            self.suite.inject(self.vendor, Fault("lost_reply", match=op))
            _outcome(lambda: self.create(kind, connector))
            self.suite.clear_faults(self.vendor)
            if self.suite.snapshot(self.vendor) != before:
                return op
        raise ContractViolation(f"create({kind!r}) sent no request that changed the vendor "
                                f"(requests no read sends: {', '.join(candidates) or 'none'})")

    def _read(self, connector: Connector, kind: str, target: Record | None) -> Any:
        if target is not None and target.id and "get" in self.ops[kind]:
            return connector.get(kind, target.id)
        return list(connector.list(kind))

    def _operations(self, action: Callable[[Connector], Any]) -> list[str]:
        """The vendor operations ``action`` sends with a fresh, logged-in connector."""
        connector = self.connect()
        connector.check()
        mark = len(self.suite.operations(self.vendor))
        action(connector)
        return self.suite.operations(self.vendor)[mark:]

    def check_fault_5xx(self, kind: str) -> None:
        def transient(applied_possible: bool) -> Callable[[BaseException | None, bool], str | None]:
            def judge(error: BaseException | None, write: bool) -> str | None:
                if not isinstance(error, Transient) or isinstance(error, RateLimited):
                    return f"answered by HTTP 5xx raised {_name(error)}; expected Transient"
                if write and applied_possible and not error.may_have_applied:
                    return "answered by HTTP 500 raised Transient without may_have_applied; the write may have landed"
                return None
            return judge

        self._fault(kind, Fault("error", status=500, body="<html><body><h1>500 Internal Server Error</h1></body></html>"),
                    transient(True))
        self._fault(kind, Fault("error", status=503, body="Service Unavailable", content_type="text/plain"),
                    transient(False))

    def check_fault_429(self, kind: str) -> None:
        def judge(error: BaseException | None, write: bool) -> str | None:
            if not isinstance(error, RateLimited):
                return f"answered by HTTP 429 raised {_name(error)}; expected RateLimited"
            if error.retry_after != 7:
                return f"answered by HTTP 429 with Retry-After: 7 raised RateLimited(retry_after={error.retry_after!r})"
            return None

        self._fault(kind, Fault("rate_limit", retry_after=7, body=""), judge)

    def _unknown_outcome(self, what: str) -> Callable[[BaseException | None, bool], str | None]:
        def judge(error: BaseException | None, write: bool) -> str | None:
            if not isinstance(error, Transient) or isinstance(error, RateLimited):
                return f"{what} raised {_name(error)}; expected Transient"
            if write and not error.may_have_applied:
                return f"{what} raised Transient without may_have_applied; the write may have landed"
            return None
        return judge

    def check_fault_timeout(self, kind: str) -> None:
        self._fault(kind, Fault("timeout", delay=self.suite.fault_timeout * 3),
                    self._unknown_outcome("that got no answer in time"))

    def check_fault_lost_reply(self, kind: str) -> None:
        self._fault(kind, Fault("lost_reply"), self._unknown_outcome("whose reply was lost"))

    def check_fault_garbage(self, kind: str) -> None:
        def judge(error: BaseException | None, write: bool) -> str | None:
            if isinstance(error, ProtocolError):
                return None
            if write and isinstance(error, Transient) and error.may_have_applied:
                return None
            return f"answered by an unreadable HTTP 200 raised {_name(error)}; expected ProtocolError"

        self._fault(kind, Fault("error", status=200, body="<html><body>Welcome to nginx!</body></html>"), judge)


class ContractSuite:
    """Base class of a connector's contract tests: subclass it as ``Test<Vendor>Contract``.

    Set :attr:`connector`, :attr:`sandbox` and :attr:`samples`; the other attributes have
    defaults. The hooks (``start_vendor``, ``small_pages``, ``sample``, ...) let a vendor that is not
    an HTTP sandbox, or whose page size is fixed server-side, take part.
    """

    #: The connector class under test.
    connector: ClassVar[type[Connector]]
    #: Its sandbox class (``None``: override the vendor hooks).
    sandbox: ClassVar[type[Sandbox] | None] = None
    #: Which of the sandbox's ``systems()`` to use (default: the one whose plugin is the connector's).
    system: ClassVar[str | None] = None
    #: Sample data seed of the sandbox (``None``: start empty).
    seed: ClassVar[int | None] = 1
    #: Connector settings added to (or replacing) the sandbox's.
    options: ClassVar[Mapping[str, Any]] = {}
    #: kind -> one record to create: a :class:`Record` or a dict of fields and references. A
    #: reference ``"@client"`` is the id of a client the suite creates from its sample first.
    samples: ClassVar[Mapping[str, Record | Mapping[str, Any]]] = {}
    #: kind -> fields (and references) an update changes (default: a text field, see :meth:`edit`).
    edits: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    #: kind -> canonical values a deleted record reads as, where the vendor keeps history
    #: (e.g. ``{"client": {"status": "closed"}}``); without one, a deleted record must be gone.
    deleted: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    #: check or ``check[kind]`` -> why it does not apply. Every skip needs a reason.
    skip: ClassVar[Mapping[str, str]] = {}
    #: ``high``: a check the suite cannot set up fails; ``low``: it is skipped with the reason.
    strictness: ClassVar[str] = "high"
    #: The forced small page size of ``list_pages``.
    page_size: ClassVar[int] = 2
    #: Seconds the connector waits for an answer in the fault checks.
    fault_timeout: ClassVar[float] = 0.3
    #: An id no record has.
    unknown_id: ClassVar[str] = "987654321"
    #: The running vendor of the current check (set by the suite; for the hooks).
    vendor: Any = None

    # -- vendor hooks (defaults: an HTTP sandbox) -----------------------------------------------

    @classmethod
    def start_vendor(cls) -> Any:
        if cls.sandbox is None:
            raise TypeError(f"{cls.__name__}: set sandbox, or override start_vendor() and the other vendor hooks")
        return cls.sandbox(seed=None).start()

    @classmethod
    def stop_vendor(cls, vendor: Any) -> None:
        vendor.stop()

    @classmethod
    def reset_vendor(cls, vendor: Any) -> None:
        """A fresh vendor for each check: sample data loaded, no faults, no calls counted."""
        with vendor.lock:
            vendor.clear_faults()
            vendor.reset()
            if cls.seed is not None:
                vendor.load(copy.deepcopy(cls._sample_data(vendor)))
            vendor.reset_calls()

    @classmethod
    def _sample_data(cls, vendor: Any) -> Any:
        cached = cls.__dict__.get("_cached_sample")
        if cached is None or cached[0] != cls.seed:
            cached = (cls.seed, vendor.sample(cls.seed))
            setattr(cls, "_cached_sample", cached)
        return cached[1]

    def system_name(self, vendor: Any) -> str:
        return self.system or self.connector.name

    def connector_options(self, vendor: Any) -> dict[str, Any]:
        systems = vendor.systems()
        if self.system is not None:
            chosen = systems[self.system]
        else:
            mine = [s for s in systems.values() if s.get("plugin") == self.connector.name]
            if len(mine) != 1:
                raise TypeError(f"{type(self).__name__}: the sandbox has {len(mine)} systems for plugin "
                                f"{self.connector.name!r}; set system to one of {', '.join(systems)}")
            chosen = mine[0]
        options = {k: v for k, v in chosen.items() if k not in CORE_ONLY}
        return {"timeout": 5.0, "concurrency": 1, **options, **self.options}

    def requests(self, vendor: Any) -> int:
        """Requests the vendor has answered (or failed) since the last reset."""
        return sum(vendor.calls.values())

    def operations(self, vendor: Any) -> list[str]:
        """The vendor operations called so far, in order."""
        return [entry["operation"] for entry in vendor.log]

    def snapshot(self, vendor: Any) -> Any:
        """The vendor's state, to tell which request of a create changes it."""
        return vendor.dump()

    def can_inject(self, vendor: Any) -> bool:
        return isinstance(vendor, Sandbox)

    def inject(self, vendor: Any, fault: Fault) -> None:
        vendor.inject(fault)

    def clear_faults(self, vendor: Any) -> None:
        vendor.clear_faults()

    def small_pages(self, vendor: Any, options: dict[str, Any]) -> dict[str, Any] | None:
        """Options (or a vendor change) that make ``list`` read pages of :attr:`page_size`;
        ``None``: there is no way. Default: the connector's ``page_size`` setting."""
        if any(s.name == "page_size" for s in self.connector.settings):
            return {**options, "page_size": self.page_size}
        return None

    def restore_pages(self, vendor: Any) -> None:
        """Undo what :meth:`small_pages` changed in the vendor (default: nothing)."""

    def secret_values(self, options: Mapping[str, Any]) -> dict[str, str]:
        """Setting name -> each form of its secret value that must never show (as given, md5)."""
        out = {}
        for setting in self.connector.settings:
            value = options.get(setting.name)
            if setting.secret and value:
                out[setting.name] = str(value)
                out[f"{setting.name} (md5)"] = hashlib.md5(str(value).encode()).hexdigest()
        return out

    # -- sample hooks ---------------------------------------------------------------------------

    def sample(self, kind: str, n: int) -> Record | None:
        """The ``n``-th record of ``kind`` to create: the sample with a key field made unique
        (``ann+hs3@example.com``, ``hs3-example.com``, a time ``n`` hours later, ``Name 3``).
        ``None``: there is no sample."""
        given = self.samples.get(kind)
        if given is None:
            return None
        if isinstance(given, Record):
            record = copy.deepcopy(given)
        else:
            refs = KINDS[kind].refs
            record = Record(kind, None, {k: copy.deepcopy(v) for k, v in given.items() if k not in refs},
                            {k: v for k, v in given.items() if k in refs})
        spec = KINDS[kind]
        keys = [n for n in spec.natural_key if n not in spec.refs] or [n for n in spec.identity if n not in spec.refs]
        keys = [n for n in keys if record.fields.get(n) is not None]
        if keys:  # one key field made unique, the one whose type varies most safely
            name = min(keys, key=lambda n: VARY_ORDER.index(spec.field(n).type) if spec.field(n).type in VARY_ORDER
                       else len(VARY_ORDER))
            record.fields[name] = _vary(spec.field(name).type, record.fields[name], n)
        return record

    def edit(self, kind: str, written: Record, n: int) -> Mapping[str, Any] | None:
        """What the ``n``-th update of ``written`` changes (fields and references): ``edits[kind]``;
        ``None``: the suite picks a text field the connector sets that is not a key, else a date."""
        return self.edits.get(kind)

    # -- pytest ---------------------------------------------------------------------------------

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "kind" in metafunc.fixturenames:
            metafunc.parametrize("kind", list(self.connector.kinds))

    @pytest.fixture(scope="class")
    @classmethod
    def _contract_vendor(cls) -> Iterator[Any]:
        vendor = cls.start_vendor()
        try:
            yield vendor
        finally:
            cls.stop_vendor(vendor)

    @pytest.fixture
    def contract(self, _contract_vendor: Any, request: pytest.FixtureRequest) -> Iterator[Contract]:
        self._validate_skips()
        type(self).reset_vendor(_contract_vendor)
        contract = Contract(self, _contract_vendor)
        yield contract
        contract.close()
        self.restore_pages(_contract_vendor)

    def _validate_skips(self) -> None:
        for key, reason in self.skip.items():
            check, _, kind = key.partition("[")
            kind = kind.rstrip("]")
            if check not in CHECKS or (kind and (kind not in self.connector.kinds or check in CONNECTOR_CHECKS)):
                pytest.fail(f"skip names {key!r}, which is no check of this suite (checks: {', '.join(CHECKS)}; "
                            f"kinds: {', '.join(self.connector.kinds)})", pytrace=False)
            if not str(reason or "").strip():
                pytest.fail(f"skip[{key!r}] has no reason: every skipped check needs one", pytrace=False)

    def _run(self, contract: Contract, check: str, kind: str | None, config: pytest.Config) -> None:
        reason = self.skip.get(f"{check}[{kind}]") if kind else None
        reason = reason or self.skip.get(check)
        if reason:
            pytest.skip(f"{check}{f'[{kind}]' if kind else ''}: {reason}")
        strictness = config.getoption("contract_strictness", None) or self.strictness
        name = f"{check}[{kind}]" if kind else check
        try:
            contract.run(check, kind)
            return
        except NotOffered as exc:
            offered, message = True, f"{name}: {exc}"
        except CannotCheck as exc:
            offered, message = False, f"{name}: {exc}"
        if offered or strictness == "low":
            pytest.skip(message)
        pytest.fail(f"{message} (or skip it with a reason: strictness is high)", pytrace=False)


def _make_test(check: str, per_kind: bool) -> Callable[..., None]:
    if per_kind:
        def test(self: ContractSuite, contract: Contract, kind: str, pytestconfig: pytest.Config) -> None:
            self._run(contract, check, kind, pytestconfig)
    else:
        def test(self: ContractSuite, contract: Contract, pytestconfig: pytest.Config) -> None:  # type: ignore[misc]
            self._run(contract, check, None, pytestconfig)
    test.__name__ = f"test_{check}"
    test.__doc__ = f"Contract check {check!r}."
    return test


for _check in CHECKS:
    setattr(ContractSuite, f"test_{_check}", _make_test(_check, _check in KIND_CHECKS))


@contextlib.contextmanager
def running(suite: type[ContractSuite]) -> Iterator[Contract]:
    """A contract for ``suite`` against a started, fresh vendor (for tests of the suite itself)."""
    vendor = suite.start_vendor()
    try:
        suite.reset_vendor(vendor)
        contract = Contract(suite(), vendor)
        yield contract
        contract.close()
    finally:
        suite.stop_vendor(vendor)


# -- helpers --------------------------------------------------------------------------------------

def _vary(type_: str, value: Any, n: int) -> Any:
    text = str(value)
    if type_ == "email" and "@" in text:
        local, _, domain = text.partition("@")
        return f"{local}+hs{n}@{domain}"
    if type_ == "domain":
        return f"hs{n}-{text}"
    if type_ == "datetime":
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return (moment + timedelta(hours=n)).isoformat()
    if type_ in ("str", "text"):
        return f"{text}-{n}" if re.fullmatch(r"\S+", text) else f"{text} {n}"
    return value


def _default_edit(kind: str, written: Record, settable: set[str], n: int) -> dict[str, Any]:
    """A text field the connector sets that is not a key (``"Edited 3"``), else a date moved a day."""
    spec = KINDS[kind]
    keys = set(spec.natural_key + spec.identity)
    for types in (("str", "text"), ("date",)):
        for field in spec.fields:
            if field.name in keys or field.type not in types or field.name not in settable \
                    or field.name not in written.fields:
                continue
            if field.type == "date":
                current = written.fields.get(field.name)
                base = date.fromisoformat(str(current)[:10]) if current else date(2030, 1, 1)
                return {field.name: (base + timedelta(days=1)).isoformat()}
            return {field.name: f"Edited {n}"}
    return {}


def _outcome(action: Callable[[], Any]) -> BaseException | None:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - judged by the caller
        return exc
    return None


def _name(error: BaseException | None) -> str:
    return "nothing" if error is None else f"{type(error).__name__}: {error}"


def _messages(exc: BaseException) -> str:
    """An error's message and those of its causes."""
    parts = []
    seen: BaseException | None = exc
    while seen is not None and len(parts) < 5:
        parts.append(f"{type(seen).__name__}: {seen}")
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


def _show(differ: Mapping[str, tuple[Any, Any]]) -> str:
    return "; ".join(f"{name}: {a!r} != {b!r}" for name, (a, b) in sorted(differ.items()))


@contextlib.contextmanager
def _captured_logs() -> Iterator[io.StringIO]:
    """Everything logged meanwhile, at every level, by any logger."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
