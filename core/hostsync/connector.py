"""The connector seam: what a vendor plugin implements so the engine can read and write its records.

A connector class is registered through ``hostsync_register_connectors`` and instantiated once per
configured system (``[systems.NAME]`` with ``plugin = "<Connector.name>"``) for each run. It speaks its
vendor's wire protocol and translates between vendor records and canonical :class:`~hostsync.model.Record`
objects; the engine never sees vendor shapes. Every method may be called from several threads at
once (up to the system's ``concurrency``). Failures are raised as the types in :mod:`hostsync.errors`.

A minimal connector::

    class Acme(Connector):
        name = "acme"
        kinds = {"client": Operations.of("list", "get", "find", "create", "update")}
        settings = (Setting("url", "url", required=True), Setting("token", secret=True, required=True))

        def list(self, kind, since=None): ...
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, ClassVar, Iterable, Iterator, Mapping, Sequence

from .errors import ConnectorError, NotFound, ProtocolError, Rejected, Transient
from .model import KINDS, InvalidValue, Record, normalise, normalise_value
from .redact import register_secret

log = logging.getLogger("hostsync.connector")

OPERATIONS = ("list", "get", "find", "create", "update", "delete", "since")
#: The key ``find`` is given to look a record up by its origin marker: ``find(kind, {ORIGIN: marker})``.
#: Markers are printable ASCII, at most 64 characters (``hs:<source system>:<source id>``).
ORIGIN = "origin"


@dataclass(frozen=True)
class Cost:
    """What reading one kind costs, in requests to the vendor: how the engine schedules a listing's
    per-record reads, and how it looks for the records a target already has (a ``find`` per record,
    or one scan of the target, whichever costs fewer requests for the records of the run).

    :param page: records per listing request (``None``: unknown, so the engine never scans the kind
        to look records up; a vendor that lists everything in one request says so with a large page).
    :param details: requests :meth:`Connector.list` makes per record, through :meth:`Connector.detail`
        (a record's details, lines, messages). When it is above 0, ``detail()`` in a run's listing
        returns at once a placeholder whose read the engine makes in the system's workers, in
        parallel, while the listing goes on: ``list`` must then yield what ``detail`` returned as it
        is (it may set its ``updated_at``, but must not read its fields).
    :param find: requests a ``find`` by field values makes (``None``: it reads the whole listing).
    :param find_origin: requests a ``find`` by origin marker makes (``None``: it reads the whole
        listing, e.g. through :class:`OriginIndex`); the engine then looks a new record up by its
        marker only where exactness needs it (after a lost reply) or a scan of its own gives it.
    """

    page: int | None = None
    details: int = 0
    find: int | None = 1
    find_origin: int | None = 1

    def scan(self, records: int) -> int | None:
        """Requests a listing of ``records`` records takes (``None``: unknown)."""
        if self.page is None:
            return None
        return -(-records // max(1, self.page)) + 1 + records * self.details


@dataclass(frozen=True)
class Operations:
    """What a connector can do with one canonical kind.

    :param ops: any of ``list get find create update delete since`` (``since``: ``list`` can filter
        by modification time).
    :param fields: the canonical fields and references the connector carries for this kind (``None``:
        all of them). A dotted name (``"messages.body"``) carries only that part of list items. The
        engine compares and writes only the fields both systems of a job carry, so a field a vendor
        cannot store never looks changed.
    :param read_only: fields it reads but cannot set (e.g. an invoice number the vendor assigns).
    :param origin: the connector keeps an *origin marker* for this kind (see :data:`ORIGIN`): a
        short opaque string the engine gives on create (``record.origin``), which the connector
        stores where the vendor keeps it for us (a custom field, an API field, a tag) and reads back
        into ``Record.origin``; ``find(kind, {ORIGIN: marker})`` returns the records carrying it.
        The engine then looks records up by it first: exact identity, not a guess by name.
    :param strands: kinds whose records refer to one of this kind (a client's domains) and that a
        ``delete`` of it leaves behind, pointing at a record that no longer exists (ISPConfig's
        ``client_delete`` keeps the client's domains and sites). The engine deletes the linked ones
        first and refuses a delete that would strand others.
    :param cost: what reading the kind costs (:class:`Cost`; default: pages of unknown size, a
        ``find`` is one request, no per-record reads). A full scan's drift check also lists a target
        instead of reading the records it links one by one (``get``) when that costs fewer requests.
    """

    ops: frozenset[str]
    fields: frozenset[str] | None = None
    read_only: frozenset[str] = field(default_factory=frozenset)
    origin: bool = False
    strands: frozenset[str] = field(default_factory=frozenset)
    cost: Cost = Cost()

    @classmethod
    def of(cls, *ops: str, fields: Iterable[str] | None = None, read_only: Iterable[str] = (),
           origin: bool = False, strands: Iterable[str] = (), cost: Cost | None = None) -> "Operations":
        return cls(frozenset(ops), None if fields is None else frozenset(fields), frozenset(read_only), origin,
                   frozenset(strands), cost or Cost())

    def __contains__(self, op: str) -> bool:
        return op in self.ops

    def carried(self, kind: str) -> frozenset[str]:
        """The field names carried for ``kind``, list fields as their parts (``messages.body``), so
        that a connector carrying whole messages and one carrying only bodies share the bodies."""
        return _parts(kind, self.fields if self.fields is not None else KINDS[kind].names)

    def writable(self, kind: str) -> frozenset[str]:
        return self.carried(kind) - _parts(kind, self.read_only)


@functools.lru_cache(maxsize=None)
def _parts(kind: str, names: Iterable[str]) -> frozenset[str]:
    """``names`` with each whole list field replaced by all of its item parts (cached: hashable input)."""
    out: set[str] = set()
    spec = KINDS[kind]
    for name in names:
        field_spec = spec.field(name) if "." not in name and name in spec.names else None
        if field_spec is not None and field_spec.type == "list":
            out.update(f"{name}.{item.name}" for item in field_spec.items)
        else:
            out.add(name)
    return frozenset(out)


#: The value types a :class:`Setting` may declare (see its docstring).
SETTING_TYPES = ("str", "url", "int", "float", "bool", "list", "table", "duration", "size", "rate", "timezone",
                 "cron", "path", "file", "directory")


@dataclass(frozen=True)
class Setting:
    """One configuration key of a connector (or of the core), validated when the config loads.

    An invalid value stops the load with the file, the key path and what is wrong (exit code 2), so
    a connector receives only values of the declared type and range.

    :param type: ``str``; ``url`` (http or https); ``int``, ``float`` (finite); ``bool``; ``list``
        (of ``items`` when given); ``table`` (a sub-table, validated against ``fields`` when given);
        ``duration`` (seconds, or ``"90s"``, ``"15m"``, ``"1h30m"``, ``"2d"``: given as a float of
        seconds); ``size`` (bytes, or ``"512KiB"``, ``"32MiB"``: an int); ``rate`` (``"60/min"``);
        ``timezone`` (an IANA name such as ``"Europe/Berlin"``); ``cron`` (a crontab expression);
        ``file`` (an existing readable file), ``directory`` (an existing directory) or ``path`` (a
        file hostsync may create and write) - relative paths resolved beside the config file and
        given as absolute path strings.
    :param secret: never shown, logged or stored; may also be given as ``<name>_file``.
    :param choices: the allowed values, listed in the error when another is given.
    :param min: the least value of an ``int``, ``float``, ``duration`` (seconds) or ``size`` (bytes).
    :param max: the greatest such value.
    :param items: the type of each item of a ``list`` (any of the scalar types above).
    """

    name: str
    type: str = "str"
    required: bool = False
    default: Any = None
    secret: bool = False
    help: str = ""
    choices: tuple[Any, ...] = ()
    fields: tuple["Setting", ...] = ()
    min: float | None = None
    max: float | None = None
    items: str | None = None


class Connector:
    """Base class of every connector. Subclasses set the class attributes and override the methods
    for the operations they declare in :attr:`kinds`."""

    #: The plugin name systems refer to with ``plugin = "..."``.
    name: ClassVar[str]
    #: Canonical kind -> the operations (and fields) supported for it.
    kinds: ClassVar[Mapping[str, Operations]] = {}
    #: The configuration keys this connector takes (beyond the core's keys of every system:
    #: ``hostsync.plugins.CORE_SYSTEM_KEYS``).
    settings: ClassVar[Sequence[Setting]] = ()
    #: Requests per period when the operator sets no ``rate_limit`` (``None``: unlimited).
    default_rate_limit: ClassVar[str | None] = None
    #: Parallel calls when the operator sets no ``concurrency``.
    default_concurrency: ClassVar[int] = 4
    #: One line for ``hostsync plugins``.
    description: ClassVar[str] = ""
    #: A stricter rule for the ids :meth:`create` returns (a regular expression the whole id must
    #: match, e.g. ``r"[1-9][0-9]*"``); the engine always requires a non-empty printable string of
    #: at most 255 characters, not linked yet to another record of the kind.
    id_pattern: ClassVar[str | None] = None
    #: Set by the engine: holds every call to this system for the given seconds (see :meth:`pause`).
    pacer: Callable[[float], None] | None = None
    #: Set by the engine: runs one request of a listing through the core (see :meth:`fetch`).
    requester: Callable[..., Any] | None = None
    #: Set by the engine while a listing runs: takes the count :meth:`total` announces.
    counter: Callable[[str, int], None] | None = None
    #: Set by the engine: turns a listed record's own read into a placeholder the engine reads
    #: later, in parallel (see :meth:`detail` and :attr:`Cost.details`); ``None`` where it does not.
    deferrer: Callable[[str, str, Callable[[], Record | None]], Record | None] | None = None

    def __init__(self, system: str, options: Mapping[str, Any]) -> None:
        """:param system: the configured system's name.
        :param options: the validated settings, secrets resolved, plus the core's ``concurrency``
            (parallel calls the engine will make, e.g. to size a connection pool)."""
        self.system = system
        self.options = dict(options)

    # -- operations (override the ones declared in ``kinds``) ---------------------------------

    def check(self, kinds: Mapping[str, frozenset[str]] | None = None) -> str | None:
        """Log in and prove the credentials and permissions; raise a typed error saying what is wrong.

        :param kinds: kind -> the operations the configured jobs will ask of this system (``None``:
            unknown), so the check can prove exactly what they need. Optional: a ``check(self)``
            without it is still called.
        :return: ``None``, or a short remark for the operator about a setup that works, but less
            well than it could (shown by ``hostsync check``).
        """
        raise NotImplementedError

    def list(self, kind: str, since: datetime | None = None) -> Iterator[Record]:
        """Every record of ``kind``, streamed page by page; only those changed since ``since`` when the
        kind declares ``since`` (others ignore it).

        Fetch each page with :meth:`fetch`, so that a page that fails is retried from that page,
        not from the start. Where a record needs a read of its own (details, lines, messages),
        make it through :meth:`detail`: a read that fails then fails that record alone, never the
        listing. A listing that raises anyway ends the run's read of this system (its cursor stays).
        A record may also be yielded as a *stub* (``partial=True``, with a ``version`` token that
        changes when the record does): the engine fetches it with :meth:`get` only when the token
        differs from the one last synced (always, when it has none).
        """
        raise NotImplementedError

    def get(self, kind: str, id: str) -> Record | None:
        """One record, or ``None`` if the vendor does not know the id."""
        raise NotImplementedError

    def find(self, kind: str, key: Mapping[str, Any]) -> list[Record]:
        """Records whose canonical fields (or references, as ids in this system) equal ``key``.

        Used to adopt records that already exist and to reconcile creates whose outcome is unknown.
        Returning a superset is fine (the engine filters exactly); missing a match is not. Narrow
        the vendor's own search as far as it goes, then filter with :func:`matching`. ``key`` may
        be ``{ORIGIN: marker}`` for kinds that declare ``origin``.
        """
        raise NotImplementedError

    def create(self, kind: str, record: Record) -> str:
        """Create the record; return its new id.

        ``record.fields`` holds only the fields the job writes (those both systems carry); a field
        that is absent is unknown to the source, not empty. References are translated to this
        system's ids (``None`` where a reference is not linked and this connector does not carry it).
        ``record.id`` is the source system's id.
        """
        raise NotImplementedError

    def update(self, kind: str, id: str, record: Record) -> None:
        """Make record ``id`` equal ``record`` in the fields ``record.fields`` holds (see :meth:`create`);
        leave other fields alone."""
        raise NotImplementedError

    def delete(self, kind: str, id: str) -> None:
        """Delete (or close, where the vendor keeps history) record ``id``; raise ``NotFound`` if unknown."""
        raise NotImplementedError

    def close(self) -> None:
        """Release sessions and connections. Called once at the end of every run."""

    def fetch(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)``: one request of :meth:`list` (a page), made through the core.

        In a run it waits its turn under the system's concurrency, rate limit and credential proof,
        and a transient failure is retried in place with backoff. Inside the other operations
        (which the engine already calls through the core) and outside the engine it is a plain call.
        """
        if self.requester is None:
            return function(*args)
        return self.requester(function, *args)

    def detail(self, kind: str, id: str, read: Callable[[], Record | None]) -> Record | None:
        """The record ``read()`` gives, for a record of :meth:`list` that needs a read of its own.

        In a run's listing, when that read fails (transient, unreadable or refused), a stub of the
        record is returned instead, which the engine fetches with :meth:`get` later, alone and with
        retries: one record's failure never fails the listing. Inside another operation (a
        :meth:`find` that scans the listing, which must not miss the record) and outside the
        engine it is a plain call. ``None`` when the record is gone meanwhile.

        For a kind whose :class:`Cost` declares ``details``, a run's listing gets a placeholder at
        once and the engine makes the read in the system's workers, several at a time, while the
        listing goes on: yield the placeholder as it is, and bind what ``read`` uses
        (``functools.partial(self._full, row)``, not ``lambda: self._full(row)`` in a loop, which
        would read the last row when it runs).
        """
        if self.deferrer is not None:
            later = self.deferrer(kind, id, read)
            if later is not None:
                return later

        def stub(error: ConnectorError) -> Record:
            if isinstance(error, NotFound) or not isinstance(error, (Transient, ProtocolError, Rejected)):
                raise error
            log.debug("%s: reading %s %s failed (%s); it is fetched again on its own", self.system, kind, id, error)
            return Record(kind, id, {}, partial=True)

        try:
            if self.requester is None:
                return read()
            return self.requester(read, retry=False, on_error=stub)
        except NotFound:
            return None

    def pause(self, seconds: float) -> None:
        """Tell the core to start no call to this system for ``seconds``, from any worker.

        For a vendor that says so on a reply that succeeded (``X-RateLimit-Remaining: 0`` with the
        seconds until the window resets): the next calls wait instead of earning a 429. A refused
        call says it by raising ``RateLimited(retry_after)`` instead.
        """
        if self.pacer is not None:
            self.pacer(seconds)

    def total(self, kind: str, count: int) -> None:
        """Announce how many records the listing of ``kind`` under way will yield, where the vendor
        says (a total in its first page, a count call the listing makes anyway): progress displays
        then show a total and an ETA. Optional; never make a request only for it."""
        if self.counter is not None:
            self.counter(kind, int(count))

    def secret(self, value: str, *, keep: bool = False) -> str:
        """Register a secret this connector made up, before sending it, and return it::

            password = self.secret(secrets.token_urlsafe(24))

        The core's redactor then masks it (raw, URL-encoded, JSON- or XML-escaped, inside base64)
        wherever it might surface: a vendor echoing the request in an error reply, a log line, an
        error message, an event, the state. Configured secrets are registered already. ``keep``: for
        the life of the process (a value derived from configured credentials, such as a hash the API
        takes instead of the password); by default it is kept while it can still be in flight.
        """
        return register_secret(value, keep=keep)

    def stored(self, kind: str, record: Record) -> Record:
        """What reading ``record`` back would give after writing it (default: the record itself).

        Override when the vendor keeps a value differently (a status it has no word for, a number it
        rounds), so that what hostsync wrote never looks like a change made in this system. Return
        canonical values (the engine normalises them too); fields left out are kept as given. It is
        called while planning, often: it must be quick and must not call the vendor.
        """
        return record

    def validate(self, kind: str, record: Record, op: str = "create") -> list[str]:
        """Why this system will certainly refuse to ``op`` (``create`` or ``update``) ``record``, by
        the vendor's documented rules or this connector's own (default: no reason known).

        Each reason is one line for the operator (``"a WebWork task needs its project"``). The engine
        asks before it writes, in ``sync`` and in ``plan`` alike, so a plan predicts exactly the
        records a sync will fail with these reasons, and a sync never sends them. ``record`` is as
        :meth:`create` and :meth:`update` get it (only the fields the job writes; references as
        ids in this system, ``None`` where unknown; in a plan, a reference the run will sync
        first is given as the source's id). It is called often and in worker threads: it must be
        quick and must not call the vendor. Say only what is certain; when the outcome depends on
        what the vendor holds, leave it to the write. Raise the same refusal from the write itself
        (``Rejected``), so the two never disagree.
        """
        return []

    @classmethod
    def validate_settings(cls, options: Mapping[str, Any]) -> None:
        """Check what one setting alone cannot say (two keys that go together); called when the config
        loads, with each setting already valid. Raise ``ConfigError(message, key="setting")``: the
        loader adds the file and ``systems.NAME``."""

    @classmethod
    def operations(cls, options: Mapping[str, Any]) -> Mapping[str, Operations]:
        """What this connector can do with these settings (default: :attr:`kinds`). Override when an
        operation depends on configuration (e.g. creating domains needs a configured package)."""
        return cls.kinds

    # -- helpers ------------------------------------------------------------------------------

    def supports(self, kind: str, op: str) -> bool:
        return kind in self.kinds and op in self.kinds[kind]

    def __enter__(self) -> "Connector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def matches(record: Record, key: Mapping[str, Any]) -> bool:
    """Whether ``record`` equals ``key`` on every name of it the record carries, in canonical form.

    The shared filter of :meth:`Connector.find`: values are normalised by their field type
    (``"Ann@Example.com"`` equals ``"ann@example.com"``), references compare as id strings,
    :data:`ORIGIN` compares ``record.origin``. A name the record does not carry (absent from its
    fields and refs, as in a summary row) and a value that cannot be normalised do not exclude it:
    a superset is fine, since the engine compares exactly afterwards; a miss is not.
    """
    spec = KINDS[record.kind]
    for name, wanted in key.items():
        if name == ORIGIN:
            if (record.origin or None) != (wanted or None):
                return False
        elif name in spec.refs:
            if name in record.refs and _ident(record.refs[name]) != _ident(wanted):
                return False
        elif name in record.fields and name in spec.names:
            field_spec = spec.field(name)
            try:
                if normalise_value(field_spec, record.fields[name]) != normalise_value(field_spec, wanted):
                    return False
            except InvalidValue:
                continue
    return True


def matching(records: Iterable[Record], key: Mapping[str, Any]) -> list[Record]:
    """The records that :func:`matches` ``key``, in order."""
    return [record for record in records if matches(record, key)]


def canonical(record: Record) -> Record:
    """``record`` in canonical form with only the fields and references it has, as a connector's
    ``create`` or ``update`` writes it (an absent field is unknown to the source, not empty); a value
    that cannot be normalised is ``Rejected``, naming the record and the field."""
    try:
        full = normalise(record)
    except InvalidValue as exc:
        raise Rejected(f"{record.kind} {record.id or '(new)'}: {exc}") from None
    return Record(record.kind, record.id, {k: full.fields[k] for k in record.fields},
                  {k: full.refs[k] for k in record.refs}, record.updated_at, record.version, origin=record.origin)


def _ident(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


class Memo:
    """A cache shared by a connector's threads that fills each key once: callers that ask for a key
    being filled wait for that one fill instead of making the same request again (the states of a
    country, the departments of a helpdesk). A fill that raises is not kept; the next caller tries
    again. Thread-safe; one per connector instance, so per run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[Any, Any] = {}
        self._filling: dict[Any, threading.Lock] = {}

    def get(self, key: Any, fill: Callable[[], Any]) -> Any:
        """The value of ``key``, from ``fill()`` the first time."""
        with self._lock:
            if key in self._values:
                return self._values[key]
            filling = self._filling.setdefault(key, threading.Lock())
        with filling:
            with self._lock:
                if key in self._values:  # filled while this caller waited
                    return self._values[key]
            value = fill()
            with self._lock:
                self._values[key] = value
                self._filling.pop(key, None)
            return value

    def peek(self, key: Any, default: Any = None) -> Any:
        """The value of ``key`` if it was filled, else ``default`` (never fills)."""
        with self._lock:
            return self._values.get(key, default)

    def put(self, key: Any, value: Any) -> None:
        """Keep ``value`` for ``key`` (learned on the way, e.g. from a listing)."""
        with self._lock:
            self._values[key] = value


class OriginIndex:
    """Origin marker -> record ids of one kind, for vendors that cannot search by the place they
    keep markers in (a custom field): one full read builds it, the connector's own creates keep it
    current, and a create whose outcome is unknown makes the next lookup read again (the record
    may have landed meanwhile). Thread-safe; one per connector instance, so per run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: dict[str, list[str]] | None = None

    def find(self, marker: str, scan: Callable[[], Iterable[Record]]) -> list[str]:
        """Ids of the records carrying ``marker``; ``scan`` reads every record (with its origin)."""
        with self._lock:
            if self._ids is not None:
                return list(self._ids.get(marker, ()))
        ids: dict[str, list[str]] = {}
        for record in scan():
            if record.origin and record.id:
                ids.setdefault(record.origin, []).append(record.id)
        with self._lock:
            self._ids = ids
            return list(ids.get(marker, ()))

    def created(self, marker: str | None, id: str) -> None:
        """Record ``id`` was created carrying ``marker``."""
        with self._lock:
            if marker and self._ids is not None:
                self._ids.setdefault(marker, []).append(id)

    def forget(self) -> None:
        """A create's outcome is unknown: read everything again on the next lookup."""
        with self._lock:
            self._ids = None
