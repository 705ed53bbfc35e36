"""An in-memory vendor for tests and benchmarks: hostsync's own tests run the engine against it, and
a plugin author can too. It is not registered by default; load it as a plugin::

    load_plugins(extra=[("memory", hostsync.memory_vendor)])

or from a plugins directory holding ``from hostsync.memory_vendor import *`` (the core's tests do
so, exactly as an operator's one-off plugin would be loaded).

``MemoryVendor`` is the "remote system": canonical records in dicts, a clock, write counters and
fault hooks. Systems name one with ``vendor = "NAME"``; with ``store = "PATH"`` the vendor's data
lives in a JSON file (written atomically after every write), so a subprocess killed mid-run leaves
exactly what a real vendor would have applied, and the test can read it afterwards.

Connectors: ``memory`` carries every canonical field (and keeps origin markers with ``origin =
true``); ``memlite`` is a lossy vendor (no address2 or phone on clients; invoice numbers assigned by
the vendor) to exercise field intersection; ``memro`` is read-only. With ``page_size`` a listing
comes in pages (each one ``list`` call, through ``Connector.fetch``); with ``details`` each listed
record is read on its own (a ``get`` call, through ``Connector.detail``), as WHMCS lists clients. It
passes the contract suite (``tests/contract/test_memory.py``).
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from . import AuthError, Connector, NotFound, Operations, Record, Rejected, Setting, Transient, hookimpl, matching
from .connector import Cost
from .model import KINDS

VENDORS: dict[str, "MemoryVendor"] = {}
_registry_lock = threading.Lock()
EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
#: One clock for every vendor in the process, a second per change, so "newer" means something.
_clock = itertools.count(1)


def vendor(name: str, store: str | None = None) -> "MemoryVendor":
    """The vendor named ``name`` in this process (created on first use)."""
    with _registry_lock:
        if name not in VENDORS:
            VENDORS[name] = MemoryVendor(name, Path(store) if store else None)
        return VENDORS[name]


def reset() -> None:
    with _registry_lock:
        VENDORS.clear()


class MemoryVendor:
    """A remote system holding canonical records. Thread-safe."""

    def __init__(self, name: str, store: Path | None = None, password: str = "right") -> None:
        self.name = name
        self.store = store
        self.password = password
        self.lock = threading.RLock()
        self.data: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}
        self.ids = itertools.count(1)
        self.tick = 0
        self.writes: list[tuple[str, str, str]] = []  # (op, kind, id)
        self.calls: dict[str, int] = {}
        self.auth_failures = 0
        #: op name (or (op, record id)) -> list of pending faults: callables that raise, or markers:
        #: "lose" (applied, the reply lost), "5xx" (applied, answered as failed), "late" (applied
        #: ``late_delay`` seconds on :attr:`clock` after the reply was lost)
        self.faults: dict[str | tuple[str, str], list[Callable[[], None] | str]] = {}
        self.write_latency = 0.0
        #: seconds (on ``clock``) after which a "late" write lands, and those still to land
        self.late_delay = 1.0
        self.clock: Callable[[], float] = time.monotonic
        self.late: list[tuple[float, Callable[[], None]]] = []
        self._mtime = 0.0
        if store and store.exists():
            self._load()

    # -- persistence --------------------------------------------------------------------------

    def _load(self) -> None:
        assert self.store
        raw = json.loads(self.store.read_text())
        self.data = raw["data"]
        self.tick = raw["tick"]
        self.ids = itertools.count(raw["next_id"])
        self.writes = [tuple(w) for w in raw.get("writes", [])]
        self._mtime = self.store.stat().st_mtime_ns

    def _refresh(self) -> None:
        if self.store and self.store.exists() and self.store.stat().st_mtime_ns != self._mtime:
            self._load()

    def _save(self) -> None:
        if not self.store:
            return
        next_id = next(self.ids)
        self.ids = itertools.count(next_id)
        tmp = self.store.with_suffix(".tmp")
        tmp.write_text(json.dumps({"data": self.data, "tick": self.tick, "next_id": next_id, "writes": self.writes}))
        os.replace(tmp, self.store)
        self._mtime = self.store.stat().st_mtime_ns

    # -- helpers for tests --------------------------------------------------------------------

    def now(self) -> datetime:
        self.tick = max(self.tick + 1, next(_clock))
        return EPOCH + timedelta(seconds=self.tick)

    def put(self, kind: str, fields: Mapping[str, Any], refs: Mapping[str, Any] | None = None, id: str | None = None) -> str:
        """Add or replace a record as a user of the vendor would (not counted as a hostsync write)."""
        with self.lock:
            self._refresh()
            rid = id or str(next(self.ids))
            self.data[kind][rid] = {"fields": dict(fields), "refs": dict(refs or {}), "updated_at": self.now().isoformat()}
            self._save()
            return rid

    def edit(self, kind: str, id: str, **fields: Any) -> None:
        """Change fields of a record as a user of the vendor would."""
        with self.lock:
            self._refresh()
            row = self.data[kind][id]
            row["fields"].update(fields)
            row["updated_at"] = self.now().isoformat()
            self._save()

    def remove(self, kind: str, id: str) -> None:
        with self.lock:
            self._refresh()
            del self.data[kind][id]
            self._save()

    def records(self, kind: str) -> dict[str, dict[str, Any]]:
        self.land()  # what is due has landed, whether or not anyone called
        with self.lock:
            self._refresh()
            return json.loads(json.dumps(self.data[kind]))

    def fail(self, op: str, error: Callable[[], None] | str, times: int = 1, record: str | None = None) -> None:
        """Make the next ``times`` calls of ``op`` (about ``record`` only, if given) fail: a callable
        raises; "lose" applies then loses the reply, "5xx" applies then answers with an error,
        "late" applies later (see ``late_delay``)."""
        with self.lock:
            self.faults.setdefault(op if record is None else (op, record), []).extend([error] * times)

    def write_count(self) -> int:
        self.land()
        with self.lock:
            self._refresh()
            return len(self.writes)

    # -- the "API" ----------------------------------------------------------------------------

    def land(self) -> None:
        """Apply the "late" writes whose time has come."""
        with self.lock:
            due = [w for w in self.late if w[0] <= self.clock()]
            self.late = [w for w in self.late if w[0] > self.clock()]
        for _, apply in due:
            apply()

    def _enter(self, op: str, password: str | None, record: str | None = None) -> str | None:
        self.land()
        self._refresh()
        self.calls[op] = self.calls.get(op, 0) + 1
        if password != self.password:
            self.auth_failures += 1
            raise AuthError(f"{self.name}: login refused")
        pending = self.faults.get((op, record or "")) or self.faults.get(op)
        if pending:
            fault = pending.pop(0)
            if fault in ("lose", "5xx", "late"):
                return fault  # type: ignore[return-value]
            assert callable(fault)
            fault()
        return None

    def _row(self, kind: str, rid: str) -> Record:
        row = self.data[kind][rid]
        return Record(kind, rid, dict(row["fields"]), dict(row["refs"]),
                      datetime.fromisoformat(row["updated_at"]), origin=row.get("origin"))

    def list(self, kind: str, since: datetime | None, password: str | None, start: int = 0,
             size: int | None = None) -> list[Record]:
        """Records of ``kind`` (changed since ``since``), the page of ``size`` from ``start`` (all: None)."""
        with self.lock:
            self._enter("list", password)
            rows = sorted(self.data[kind], key=lambda i: int(i) if i.isdigit() else i)
            out = [self._row(kind, rid) for rid in rows]
        if since is not None:
            out = [r for r in out if r.updated_at and r.updated_at >= since]
        return out[start:None if size is None else start + size]

    def get(self, kind: str, rid: str, password: str | None) -> Record | None:
        with self.lock:
            self._enter("get", password, rid)
            return self._row(kind, rid) if rid in self.data[kind] else None

    def find(self, kind: str, key: Mapping[str, Any], password: str | None) -> list[Record]:
        with self.lock:
            self._enter("find", password)
            return matching((self._row(kind, rid) for rid in self.data[kind]), key)

    def write(self, op: str, kind: str, rid: str | None, record: Record | None, password: str | None,
              latency: float = 0.0) -> str:
        if latency:
            time.sleep(latency)
        with self.lock:
            lost = self._enter(op, password)
            if lost == "late":
                self.late.append((self.clock() + self.late_delay, lambda: self._apply(op, kind, rid, record)))
                raise Transient(f"{self.name}: no answer in time to {op}", may_have_applied=True)
            rid = self._apply(op, kind, rid, record)
        if lost == "lose":
            raise Transient(f"{self.name}: connection lost after {op}", may_have_applied=True)
        if lost == "5xx":  # what the core makes of any 5xx after a write was sent
            raise Transient(f"{self.name}: HTTP 500 after {op}", may_have_applied=True)
        return rid

    def _apply(self, op: str, kind: str, rid: str | None, record: Record | None) -> str:
        with self.lock:
            if op == "create":
                rid = str(next(self.ids))
            assert rid is not None
            if op in ("update", "delete") and rid not in self.data[kind]:
                raise NotFound(f"{kind} {rid} not found")
            if op == "delete":
                del self.data[kind][rid]
            else:  # an update merges: fields the writer does not send stay as they are
                assert record is not None
                previous = self.data[kind].get(rid, {"fields": {}, "refs": {}}) if op == "update" else {"fields": {}, "refs": {}}
                self.data[kind][rid] = {"fields": {**previous["fields"], **record.fields},
                                        "refs": {**previous["refs"], **{k: v for k, v in record.refs.items() if v is not None}},
                                        "updated_at": self.now().isoformat(),
                                        "origin": previous.get("origin") if op == "update" else record.origin}
            self.writes.append((op, kind, rid))
            self._save()
            return rid


ALL = {kind: Operations.of("list", "get", "find", "create", "update", "delete", "since") for kind in KINDS}
WITH_ORIGIN = {kind: Operations.of(*ops.ops, origin=True) for kind, ops in ALL.items()}


class MemoryConnector(Connector):
    """Connector for a :class:`MemoryVendor`."""

    name = "memory"
    description = "In-memory vendor for tests and benchmarks"
    kinds = WITH_ORIGIN
    settings = (
        Setting("vendor", required=True, help="Name of the in-process vendor."),
        Setting("store", help="JSON file holding the vendor's data (shared across processes)."),
        Setting("password", secret=True, default="right"),
        Setting("write_latency", "float", default=0.0, help="Seconds each write takes."),
        Setting("reply_delay", "float", default=0.0, help="Seconds between applying a write and answering."),
        Setting("read_latency", "float", default=0.0, help="Seconds each listed record takes to read."),
        Setting("stubs", "bool", default=False, help="List summary stubs (partial records with a version)."),
        Setting("origin", "bool", default=False, help="Keep origin markers (exact identity)."),
        Setting("timezone", "timezone", default="UTC", help="The vendor's time zone (checked, not used)."),
        Setting("page_size", "int", min=1, max=1000, help="List in pages of this many records (unset: one call)."),
        Setting("details", "bool", default=False, help="Read each listed record on its own (a get call)."),
        Setting("strands", "list", items="str", default=[],
                help="Kinds a client's delete leaves behind (as ISPConfig leaves domains and sites)."),
        Setting("required", "list", items="str", help="Fields a create must have (the vendor refuses a record "
                "without them; validate() says so first)."),
    )

    @classmethod
    def operations(cls, options: Mapping[str, Any]) -> Mapping[str, Operations]:
        """Origin markers only with ``origin = true`` (the engine's tests choose whether they are
        kept); ``strands`` for clients. The cost follows the settings: pages of ``page_size`` (unset:
        not declared, so the engine looks records up with a find each and checks drift with a get
        each), a ``get`` per listed record with ``details``."""
        cost = Cost(page=options.get("page_size"), details=1 if options.get("details") else 0)
        out = {kind: replace(ops, origin=ops.origin and bool(options.get("origin")), cost=cost)
               for kind, ops in cls.kinds.items()}
        if options.get("strands") and "client" in out:
            out["client"] = replace(out["client"], strands=frozenset(options["strands"]))
        return out

    def __init__(self, system: str, options: Mapping[str, Any]) -> None:
        super().__init__(system, options)
        self.vendor = vendor(options["vendor"], options.get("store"))
        self.password = options.get("password")

    def check(self) -> None:
        self.vendor.list("client", None, self.password)

    def list(self, kind: str, since: datetime | None = None) -> Iterator[Record]:
        delay = self.options.get("read_latency") or 0.0
        for record in self._pages(kind, since):
            if delay:
                time.sleep(delay)
            if self.options.get("stubs"):  # a summary row: the engine gets the record when its version changed
                record = Record(kind, record.id, {}, {}, record.updated_at,
                                version=record.updated_at.isoformat() if record.updated_at else None, partial=True)
            elif self.options.get("details"):  # a record's own read, as WHMCS reads each client
                record = self.detail(kind, record.id or "", functools.partial(self.vendor.get, kind, record.id or "",
                                                                                 self.password))
                if record is None:
                    continue
            yield record

    def _pages(self, kind: str, since: datetime | None) -> Iterator[Record]:
        size = self.options.get("page_size") or 0
        if not size:
            yield from self.fetch(self.vendor.list, kind, since, self.password)
            return
        start = 0
        while True:
            page = self.fetch(self.vendor.list, kind, since, self.password, start, size)
            yield from page
            if len(page) < size:
                return
            start += size

    def get_version(self, record: Record) -> str | None:
        return record.updated_at.isoformat() if record.updated_at else None

    def get(self, kind: str, id: str) -> Record | None:
        record = self.vendor.get(kind, id, self.password)
        if record is not None and self.options.get("stubs"):
            record.version = self.get_version(record)
        return record

    def find(self, kind: str, key: Mapping[str, Any]) -> list[Record]:
        return self.vendor.find(kind, key, self.password)

    def _answer(self, result: str) -> str:
        if self.options.get("reply_delay"):
            time.sleep(self.options["reply_delay"])
        return result

    def validate(self, kind: str, record: Record, op: str = "create") -> list[str]:
        """A create without one of the ``required`` fields is refused."""
        if op != "create":
            return []
        return [f"{self.system} needs {name} to create a {kind}" for name in self.options.get("required") or ()
                if record.value(name) in (None, "")]

    def create(self, kind: str, record: Record) -> str:
        problems = self.validate(kind, record)
        if problems:
            self.vendor._enter("create", self.password)  # the vendor refuses it: a call all the same
            raise Rejected("; ".join(problems))
        return self._answer(self.vendor.write("create", kind, None, record, self.password,
                                              self.options.get("write_latency") or 0.0))

    def update(self, kind: str, id: str, record: Record) -> None:
        self.vendor.write("update", kind, id, record, self.password, self.options.get("write_latency") or 0.0)

    def delete(self, kind: str, id: str) -> None:
        self.vendor.write("delete", kind, id, None, self.password, self.options.get("write_latency") or 0.0)


class LossyConnector(MemoryConnector):
    """A vendor that cannot store some fields, assigns its own invoice numbers and has no word for a
    closed client (it keeps them as inactive)."""

    name = "memlite"
    description = "Lossy in-memory vendor (no address2/phone; vendor-assigned invoice numbers)"
    kinds = {**ALL,
             "client": Operations.of(*ALL["client"].ops, fields=set(KINDS["client"].names) - {"address2", "phone"}),
             "invoice": Operations.of(*ALL["invoice"].ops, read_only={"number"})}

    def stored(self, kind: str, record: Record) -> Record:
        if kind == "client" and record.fields.get("status") == "closed":
            return Record(kind, record.id, {**record.fields, "status": "inactive"}, record.refs)
        return record

    def create(self, kind: str, record: Record) -> str:
        record = self.stored(kind, record)
        record = Record(record.kind, record.id, self._writable(kind, record.fields), record.refs)
        if kind == "invoice":
            record.fields["number"] = f"L-{len(self.vendor.data['invoice']) + 1:05d}"
        return super().create(kind, record)

    def _writable(self, kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The fields it stores (a list field such as ``lines`` is writable through its parts)."""
        names = {name.split(".", 1)[0] for name in self.kinds[kind].writable(kind)}
        return {k: v for k, v in fields.items() if k in names}

    def update(self, kind: str, id: str, record: Record) -> None:
        record = self.stored(kind, record)
        keep = self._writable(kind, record.fields)
        current = self.vendor.get(kind, id, self.password)
        if current is not None and kind == "invoice":
            keep["number"] = current.fields.get("number")
        super().update(kind, id, Record(record.kind, record.id, keep, record.refs))


class ReadOnlyConnector(MemoryConnector):
    """A vendor hostsync may only read (an export API), and only clients."""

    name = "memro"
    description = "Read-only in-memory vendor (clients only)"
    kinds = {"client": Operations.of("list", "get", "find")}


@hookimpl
def hostsync_register_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(MemoryConnector)
    register(LossyConnector)
    register(ReadOnlyConnector)
