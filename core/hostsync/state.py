"""The state store: one SQLite file (through sqlite-utils) holding what hostsync knows between runs.

Links between records across systems (with the hash and snapshot last synced), cursors for
incremental reads, intents stored before creates, records to retry, conflicts, runs with their
per-record events, and per-system health. No secrets: every value a statement writes passes through
the core's redactor first (:mod:`hostsync.redact`).

All SQL lives here, behind the methods of :class:`State`, so the engine never depends on SQLite.
One ``State`` belongs to one thread (each run opens its own); WAL mode lets the CLI read while the
daemon writes, and a busy timeout covers short write overlaps.

The schema is versioned by the migrations below, applied in order, each once, under an exclusive lock
(``<state>.locks/state.lock``) by the first process that opens the file for writing. To change the
schema, append a function decorated with ``@migrations()`` at the end of the list; never edit one
that has shipped. A file that cannot be used as it is (damaged, another program's, written by a newer
hostsync) is refused with :class:`~hostsync.errors.StateError` saying what to do; a full disk raises
:class:`~hostsync.errors.StateFull` and SQLite's transactions keep the file as it was before the
statement that failed.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

import sqlite_utils

from . import __version__
from .errors import HostsyncError, StateError, StateFull
from .redact import redactor

migrations = sqlite_utils.Migrations("hostsync")
BUSY_TIMEOUT_MS = 15000
#: How long opening waits for another process migrating the same file.
MIGRATION_WAIT = 300.0


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["runs"].create({"id": int, "job": str, "pid": int, "started_at": str, "finished_at": str,
                       "status": str, "dry_run": int, "counts": str, "error": str}, pk="id")
    db["runs"].create_index(["job", "id"])
    db["events"].create({"id": int, "run_id": int, "job": str, "kind": str, "system": str, "record_id": str,
                         "target": str, "target_id": str, "action": str, "outcome": str, "reason": str,
                         "fields": str, "at": str}, pk="id", foreign_keys=[("run_id", "runs", "id")])
    db["events"].create_index(["run_id"])
    # One row per pair of linked records; a_system sorts before b_system, whichever was the source.
    db["links"].create({"kind": str, "a_system": str, "a_id": str, "b_system": str, "b_id": str,
                        "a_hash": str, "b_hash": str, "snapshot": str, "a_version": str, "b_version": str,
                        "job": str, "synced_at": str},
                       pk=("kind", "a_system", "a_id", "b_system"))
    db["links"].create_index(["kind", "b_system", "b_id", "a_system"], unique=True)
    db["cursors"].create({"job": str, "system": str, "value": str, "updated_at": str}, pk=("job", "system"))
    db["intents"].create({"kind": str, "system": str, "record_id": str, "target": str, "job": str,
                          "key": str, "run_id": int, "created_at": str},
                         pk=("kind", "system", "record_id", "target"))
    db["pending"].create({"job": str, "system": str, "record_id": str, "reason": str, "attempts": int,
                          "first_at": str, "last_at": str}, pk=("job", "system", "record_id"))
    db["conflicts"].create({"id": int, "job": str, "kind": str, "system": str, "record_id": str,
                            "peer_system": str, "peer_id": str, "base": str, "ours": str, "theirs": str,
                            "ours_hash": str, "theirs_hash": str, "detected_at": str, "status": str,
                            "resolution": str, "resolved_at": str}, pk="id")
    db["conflicts"].create_index(["job", "status"])
    db["health"].create({"system": str, "status": str, "reason": str, "since": str, "salt": str,
                         "fingerprint": str}, pk="system")


@migrations()
def m002_intent_unknown_at(db: sqlite_utils.Database) -> None:
    """When a create's outcome became unknown (a lost reply, a 5xx): it is looked up only once the
    target's settle delay has passed since then."""
    db["intents"].add_column("unknown_at", str)


@migrations()
def m003_event_detail(db: sqlite_utils.Database) -> None:
    """Structured detail of an event (a drift's field values, found and expected), as JSON."""
    db["events"].add_column("detail", str)


@dataclass
class Link:
    """Two records known to be the same fact in two systems, oriented from ``system``'s side.

    ``hash`` and ``peer_hash`` are each side's content hash as last synced (they differ where a
    vendor stores a value lossily); ``snapshot`` holds the canonical values last synced.
    """

    kind: str
    system: str
    id: str
    peer_system: str
    peer_id: str
    hash: str
    snapshot: str | None = None
    version: str | None = None
    peer_version: str | None = None
    job: str | None = None
    synced_at: str | None = None
    peer_hash: str | None = None

    def values(self) -> dict[str, Any]:
        """The canonical values last synced (parsed from the snapshot)."""
        return json.loads(self.snapshot) if self.snapshot else {}

    def _row(self) -> dict[str, Any]:
        a_first = self.system < self.peer_system
        a, b = (self.system, self.peer_system) if a_first else (self.peer_system, self.system)
        a_id, b_id = (self.id, self.peer_id) if a_first else (self.peer_id, self.id)
        a_version, b_version = (self.version, self.peer_version) if a_first else (self.peer_version, self.version)
        peer_hash = self.hash if self.peer_hash is None else self.peer_hash
        a_hash, b_hash = (self.hash, peer_hash) if a_first else (peer_hash, self.hash)
        return {"kind": self.kind, "a_system": a, "a_id": a_id, "b_system": b, "b_id": b_id, "a_hash": a_hash,
                "b_hash": b_hash, "snapshot": self.snapshot, "a_version": a_version, "b_version": b_version,
                "job": self.job, "synced_at": self.synced_at or now()}

    @classmethod
    def _from_row(cls, row: dict[str, Any], system: str) -> "Link":
        if row["a_system"] == system:
            return cls(row["kind"], row["a_system"], row["a_id"], row["b_system"], row["b_id"], row["a_hash"],
                       row["snapshot"], row["a_version"], row["b_version"], row["job"], row["synced_at"],
                       row["b_hash"])
        return cls(row["kind"], row["b_system"], row["b_id"], row["a_system"], row["a_id"], row["b_hash"],
                   row["snapshot"], row["b_version"], row["a_version"], row["job"], row["synced_at"], row["a_hash"])


@dataclass
class Intent:
    kind: str
    system: str
    record_id: str
    target: str
    job: str
    key: dict[str, Any]
    created_at: str
    #: when the create's outcome became unknown (``None``: it was about to be sent at ``created_at``)
    unknown_at: str | None = None

    @property
    def since(self) -> str:
        """When the create was last known to be in flight: the settle delay counts from then."""
        return self.unknown_at or self.created_at


def create_private_file(path: Path) -> None:
    """Create ``path`` with mode 0600 if it does not exist (the state holds customer data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)


class _Connection(sqlite3.Connection):
    """The state's SQLite connection: the text every statement writes passes through the redactor,
    and the failures an operator must act on become one clear error naming the file."""

    path = ""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:  # type: ignore[override]
        try:
            return super().execute(sql, redactor.value(parameters) if _writes(sql) else parameters)
        except sqlite3.DatabaseError as exc:
            raise _translated(exc, self.path) or exc

    def executemany(self, sql: str, rows: Iterable[Any], /) -> sqlite3.Cursor:  # type: ignore[override]
        try:
            return super().executemany(sql, redactor.value(list(rows)) if _writes(sql) else rows)
        except sqlite3.DatabaseError as exc:
            raise _translated(exc, self.path) or exc


def _writes(sql: str) -> bool:
    """Whether a statement stores its parameters (reads and deletes only compare them)."""
    return sql.lstrip()[:7].upper().startswith(("INSERT", "UPDATE", "REPLACE"))


_DAMAGED = ("restore it from a backup, or move it aside to start afresh (the next run then adopts existing "
            "records by their match fields)")


def _translated(exc: sqlite3.DatabaseError, path: str) -> HostsyncError | None:
    """The hostsync error for an SQLite failure an operator must act on (``None``: a bug, raise as is)."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code == sqlite3.SQLITE_FULL:
        return StateFull(f"cannot write the state file {path}: the disk is full; what failed was not written "
                         "and the next run carries on from there: free some space and run again")
    if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        return StateError(f"{path} is not a usable state file ({exc}): {_DAMAGED}")
    if code == sqlite3.SQLITE_IOERR:
        return StateError(f"cannot read or write the state file {path}: {exc}")
    return None


def _connect(path: Path, read_only: bool = False) -> sqlite_utils.Database:
    target = f"file:{path}?mode=ro" if read_only else str(path)
    conn = sqlite3.connect(target, uri=read_only, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False,
                           isolation_level=None, factory=_Connection)
    conn.path = str(path)
    return sqlite_utils.Database(conn, execute_plugins=False)


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold ``<state>.locks/state.lock`` (one process at a time sets the file up and migrates it)."""
    lock_path = Path(f"{path}.locks") / "state.lock"
    lock_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + MIGRATION_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StateError(f"{path}: another hostsync process has been setting up or migrating this "
                                     f"state file for {MIGRATION_WAIT:.0f} s; try again when it is done") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def schema_version() -> int:
    """The state schema this hostsync writes: the number of its migrations."""
    return len(migrations._migrations)


def _identify(db: sqlite_utils.Database, path: Path) -> list[str]:
    """The hostsync migrations applied to ``db``; refuses another program's file and a newer hostsync's."""
    tables = set(db.table_names())  # reading the schema is what finds a damaged or foreign file
    applied = [m.name for m in migrations.applied(db)] if migrations.migrations_table in tables else []
    if tables and not applied:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StateError(f"{path} is an SQLite database but not a hostsync state file (it holds {shown}): "
                         "point [hostsync] state at another file")
    known = [m.name for m in migrations._migrations]
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise StateError(f"{path} has state schema version {len(applied)} ({', '.join(unknown)} unknown here), "
                         f"written by a newer hostsync; this is hostsync {__version__}, which reads schema "
                         f"version {len(known)}: upgrade hostsync, or restore a backup made before the upgrade")
    return applied


class State:
    """The state store. Open with :meth:`open`; use from one thread."""

    def __init__(self, db: sqlite_utils.Database, path: Path | None = None, read_only: bool = False) -> None:
        self.db = db
        self.path = path
        #: opened read-only (``plan``, ``drift``, the listings): nothing may be written
        self.read_only = read_only

    @classmethod
    def open(cls, path: str | Path) -> "State":
        """Open (creating with mode 0600 and migrating as needed) the state file at ``path``."""
        path = Path(path)
        old_umask = os.umask(0o077)  # the -wal and -shm files SQLite creates stay private too
        try:
            try:
                create_private_file(path)
            except OSError as exc:
                raise StateError(f"cannot create the state file {path}: {exc.strerror or exc}; check [hostsync] "
                                 "state and the permissions of its folder") from None
            db = _connect(path)
            try:
                db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                with _exclusive(path):
                    applied = _identify(db, path)
                    if db.journal_mode != "wal":
                        db.enable_wal()
                    if len(applied) < schema_version():
                        with db.atomic():  # every pending migration, or none
                            migrations.apply(db)
                db.execute("PRAGMA synchronous = FULL")
                db.execute("PRAGMA foreign_keys = ON")
            except BaseException:
                db.close()
                raise
        finally:
            os.umask(old_umask)
        return cls(db, path)

    @classmethod
    def open_memory(cls) -> "State":
        """An empty, migrated state in memory (a plan when no state file exists yet)."""
        db = sqlite_utils.Database(memory=True, execute_plugins=False)
        migrations.apply(db)
        return cls(db, None)

    @classmethod
    def open_for_plan(cls, path: str | Path) -> "State":
        """The state for a plan: the file read-only if it exists, else an empty one in memory.

        A plan writes nothing anywhere, so it neither creates nor migrates the file.
        """
        path = Path(path)
        if not path.exists():
            return cls.open_memory()
        state = cls.open_readonly(path)
        if not state.initialised:
            state.close()
            raise StateError(f"{path} needs migrating; run `hostsync sync` or `hostsync check` once first")
        return state

    @classmethod
    def open_readonly(cls, path: str | Path) -> "State":
        """Open an existing state file for the listing commands without creating or migrating it."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(str(path))
        try:
            db = _connect(path, read_only=True)
        except sqlite3.OperationalError as exc:  # no read permission, or a directory
            raise StateError(f"cannot open the state file {path}: {exc}") from None
        try:
            _identify(db, path)
        except BaseException:
            db.close()
            raise
        return cls(db, path, read_only=True)

    @property
    def initialised(self) -> bool:
        """Whether the schema exists (a state file is created empty an instant before it is migrated)."""
        return not migrations.pending(self.db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "State":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def atomic(self) -> Iterator[None]:
        with self.db.atomic():
            yield

    def applied_migrations(self) -> list[str]:
        return [m.name for m in migrations.applied(self.db)]

    def check(self) -> dict[str, Any]:
        """What ``hostsync state check`` reports: SQLite's integrity check, the schema version and
        how much the state holds."""
        problems = [row[0] for row in self.db.execute("PRAGMA integrity_check").fetchall()]
        applied = self.applied_migrations()
        count = {table: self._rows(f"SELECT count(*) AS n FROM {table}" + where)[0]["n"]
                 for table, where in (("links", ""), ("intents", ""), ("pending", ""),
                                      ("conflicts", " WHERE status != 'applied'"), ("health", " WHERE status = 'held'"),
                                      ("runs", ""))}
        return {"path": str(self.path) if self.path else None, "integrity": "ok" if problems == ["ok"] else problems,
                "schema_version": len(applied), "schema_version_supported": schema_version(),
                "migrations": applied, "links": count["links"], "intents": count["intents"],
                "pending": count["pending"], "conflicts": count["conflicts"], "holds": count["health"],
                "held_systems": [row["system"] for row in self.all_health() if row["status"] == "held"],
                "runs": count["runs"]}

    def backup(self, target: str | Path) -> None:
        """Copy the state to ``target`` with SQLite's online backup (safe while another process writes):
        a private file (mode 0600) that appears complete or not at all."""
        target = Path(target)
        partial = target.with_name(f".{target.name}.partial")
        old_umask = os.umask(0o077)
        try:
            fd = os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.close(fd)
            try:
                copy = sqlite3.connect(partial, factory=_Connection)
                copy.path = str(target)
                try:
                    self.db.conn.backup(copy)
                    if copy.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                        raise StateError(f"the copy of {self.path} at {target} did not check out; it was not kept")
                finally:
                    copy.close()
                with open(partial, "rb") as written:
                    os.fsync(written.fileno())
                os.replace(partial, target)
            finally:
                if partial.exists():
                    partial.unlink()
        except sqlite3.DatabaseError as exc:
            raise _translated(exc, str(target)) or StateError(f"cannot back up {self.path} to {target}: {exc}") from None
        except OSError as exc:
            raise StateError(f"cannot back up {self.path} to {target}: {exc.strerror or exc}") from None
        finally:
            os.umask(old_umask)

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.db.execute(sql, list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    # -- links --------------------------------------------------------------------------------

    def links(self, kind: str, system: str, ids: list[str], peer_system: str) -> dict[str, Link]:
        """Links of the records ``ids`` of ``system`` to ``peer_system``, by id."""
        if not ids:
            return {}
        side, other = ("a", "b") if system < peer_system else ("b", "a")
        out: dict[str, Link] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._rows(
                f"SELECT * FROM links WHERE kind = ? AND {side}_system = ? AND {other}_system = ? "
                f"AND {side}_id IN ({marks})", [kind, system, peer_system, *chunk]):
                link = Link._from_row(row, system)
                out[link.id] = link
        return out

    def link(self, kind: str, system: str, id: str, peer_system: str) -> Link | None:
        return self.links(kind, system, [id], peer_system).get(id)

    # The three tables written once per record (links, intents, events) use prepared bulk statements:
    # sqlite-utils' upsert_all/insert_all introspect the table and convert every value on each call,
    # which is most of an initial sync's time at 100k records. Everything else goes through sqlite-utils.
    _LINK_COLUMNS = ("kind", "a_system", "a_id", "b_system", "b_id", "a_hash", "b_hash", "snapshot", "a_version",
                     "b_version", "job", "synced_at")
    _UPSERT_LINK = (f"INSERT INTO links ({', '.join(_LINK_COLUMNS)}) VALUES ({', '.join('?' * len(_LINK_COLUMNS))}) "
                    "ON CONFLICT (kind, a_system, a_id, b_system) DO UPDATE SET "
                    + ", ".join(f"{c} = excluded.{c}" for c in _LINK_COLUMNS[4:]))

    def save_links(self, links: Iterable[Link]) -> None:
        rows = [tuple(row[c] for c in self._LINK_COLUMNS) for row in (link._row() for link in links)]
        if rows:
            self.db.conn.executemany(self._UPSERT_LINK, rows)

    def delete_link(self, link: Link) -> None:
        row = link._row()
        self.db.execute("DELETE FROM links WHERE kind = ? AND a_system = ? AND a_id = ? AND b_system = ?",
                        [row["kind"], row["a_system"], row["a_id"], row["b_system"]])

    def iter_links(self, kind: str, system: str, peer_system: str, job: str | None = None,
                   synced_before: str | None = None) -> Iterator[Link]:
        """Links of ``kind`` from ``system``'s side (``synced_before``: only those last synced before
        that time, or never)."""
        side, other = ("a", "b") if system < peer_system else ("b", "a")
        sql = f"SELECT * FROM links WHERE kind = ? AND {side}_system = ? AND {other}_system = ?"
        params: list[Any] = [kind, system, peer_system]
        if job:
            sql += " AND job = ?"
            params.append(job)
        if synced_before is not None:
            sql += " AND (synced_at IS NULL OR synced_at < ?)"
            params.append(synced_before)
        cursor = self.db.execute(sql + f" ORDER BY {side}_id", params)
        names = [d[0] for d in cursor.description]
        for row in cursor:
            yield Link._from_row(dict(zip(names, row)), system)

    def count_records(self, kind: str, system: str) -> int:
        """Records of ``kind`` in ``system`` linked to any other system: those hostsync knows it holds."""
        return self._rows("SELECT count(*) AS n FROM (SELECT a_id FROM links WHERE kind = ? AND a_system = ? "
                          "UNION SELECT b_id FROM links WHERE kind = ? AND b_system = ?)",
                          [kind, system, kind, system])[0]["n"]

    def count_links(self, job: str) -> int:
        return self._rows("SELECT count(*) AS n FROM links WHERE job = ?", [job])[0]["n"]

    def count_links_between(self, kind: str, system: str, peer_system: str) -> int:
        """How many records of ``kind`` in ``system`` are linked to ``peer_system``."""
        side, other = ("a", "b") if system < peer_system else ("b", "a")
        return self._rows(f"SELECT count(*) AS n FROM links WHERE kind = ? AND {side}_system = ? AND {other}_system = ?",
                          [kind, system, peer_system])[0]["n"]

    def count_links_in(self, kind: str, system: str) -> int:
        """How many records of ``kind`` in ``system`` are linked to any other system."""
        return self._rows("SELECT count(*) AS n FROM links WHERE kind = ? AND (a_system = ? OR b_system = ?)",
                          [kind, system, system])[0]["n"]

    def links_referring(self, kind: str, system: str, peer_system: str, ref: str, ref_id: str) -> list[Link]:
        """Links of ``kind`` between ``system`` and ``peer_system`` whose values last synced refer to
        ``ref_id`` through ``ref`` (a client's domains), oriented from ``system``'s side."""
        rows = self._rows("SELECT * FROM links WHERE kind = ? AND ((a_system = ? AND b_system = ?) OR "
                          "(a_system = ? AND b_system = ?)) AND json_extract(snapshot, ?) = ?",
                          [kind, system, peer_system, peer_system, system, f"$.{ref}", ref_id])
        return [Link._from_row(row, system) for row in rows]

    def list_links(self, job: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT kind, a_system, a_id, b_system, b_id, job, synced_at FROM links"
        params: list[Any] = []
        if job:
            sql += " WHERE job = ?"
            params.append(job)
        sql += " ORDER BY synced_at DESC, kind, a_id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self._rows(sql, params)

    # -- seen ids during a full scan (for deletes) --------------------------------------------

    def seen_reset(self) -> None:
        """Start a scan: forget what was seen (a TEMP table: never written to the state file)."""
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS seen (kind TEXT, system TEXT, id TEXT, "
                        "PRIMARY KEY (kind, system, id))")
        self.db.execute("DELETE FROM temp.seen")

    def seen_add(self, kind: str, system: str, ids: list[str]) -> set[str]:
        """Record ids read in this scan; return those not read before in it (a vendor's paging can
        repeat a record, and a record waiting for retry is also listed)."""
        before = self.seen_among(kind, system, ids)
        self.db.conn.executemany("INSERT OR IGNORE INTO temp.seen (kind, system, id) VALUES (?, ?, ?)",
                                 [(kind, system, i) for i in ids if i not in before])
        return {i for i in ids if i not in before}

    def seen_among(self, kind: str, system: str, ids: list[str]) -> set[str]:
        """Which of ``ids`` this scan has read (see :meth:`seen_add`)."""
        out: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            out.update(r[0] for r in self.db.execute(
                f"SELECT id FROM temp.seen WHERE kind = ? AND system = ? AND id IN ({','.join('?' * len(chunk))})",
                [kind, system, *chunk]).fetchall())
        return out

    def count_seen(self, kind: str, system: str) -> int:
        """How many records of ``kind`` this scan has read from ``system``."""
        return self.db.execute("SELECT count(*) FROM temp.seen WHERE kind = ? AND system = ?", [kind, system]).fetchone()[0]

    def unseen_links(self, kind: str, system: str, peer_system: str) -> list[Link]:
        """Links of ``system``'s records to ``peer_system`` whose record the last full scan did not see."""
        side, other = ("a", "b") if system < peer_system else ("b", "a")
        rows = self._rows(
            f"SELECT * FROM links WHERE kind = ? AND {side}_system = ? AND {other}_system = ? AND NOT EXISTS "
            f"(SELECT 1 FROM temp.seen s WHERE s.kind = links.kind AND s.system = ? AND s.id = links.{side}_id)",
            [kind, system, peer_system, system])
        return [Link._from_row(row, system) for row in rows]

    # -- cursors ------------------------------------------------------------------------------

    def cursor(self, job: str, system: str) -> datetime | None:
        rows = self._rows("SELECT value FROM cursors WHERE job = ? AND system = ?", [job, system])
        return datetime.fromisoformat(rows[0]["value"]) if rows and rows[0]["value"] else None

    def set_cursor(self, job: str, system: str, value: datetime) -> None:
        self.db["cursors"].upsert({"job": job, "system": system, "value": value.isoformat(), "updated_at": now()},
                                  pk=("job", "system"))

    # -- intents ------------------------------------------------------------------------------

    def add_intents(self, intents: Iterable[Intent], run_id: int | None) -> None:
        rows = [(i.kind, i.system, i.record_id, i.target, i.job, json.dumps(i.key, sort_keys=True, default=str),
                 run_id, i.created_at) for i in intents]
        if rows:
            self.db.conn.executemany(
                "INSERT OR REPLACE INTO intents (kind, system, record_id, target, job, key, run_id, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def intents(self, kind: str, system: str, target: str, ids: list[str] | None = None) -> dict[str, Intent]:
        sql = "SELECT * FROM intents WHERE kind = ? AND system = ? AND target = ?"
        params: list[Any] = [kind, system, target]
        if ids is not None:
            if not ids:
                return {}
            sql += f" AND record_id IN ({','.join('?' * len(ids))})"
            params.extend(ids)
        return {row["record_id"]: Intent(row["kind"], row["system"], row["record_id"], row["target"], row["job"],
                                         json.loads(row["key"]), row["created_at"], row["unknown_at"])
                for row in self._rows(sql, params)}

    def mark_unknown(self, kind: str, system: str, target: str, ids: Iterable[str], at: str) -> None:
        """The creates of ``ids`` were sent and their outcome is unknown since ``at``."""
        self.db.conn.executemany(
            "UPDATE intents SET unknown_at = ? WHERE kind = ? AND system = ? AND target = ? AND record_id = ?",
            [(at, kind, system, target, i) for i in ids])

    def delete_intents(self, kind: str, system: str, target: str, ids: Iterable[str]) -> None:
        self.db.conn.executemany(
            "DELETE FROM intents WHERE kind = ? AND system = ? AND target = ? AND record_id = ?",
            [(kind, system, target, i) for i in ids])

    def count_intents(self) -> int:
        return self._rows("SELECT count(*) AS n FROM intents")[0]["n"]

    # -- pending retries ----------------------------------------------------------------------

    def add_pending(self, job: str, system: str, record_id: str, reason: str) -> None:
        at = now()
        self.db.execute(
            "INSERT INTO pending (job, system, record_id, reason, attempts, first_at, last_at) "
            "VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT (job, system, record_id) DO UPDATE SET "
            "reason = excluded.reason, attempts = pending.attempts + 1, last_at = excluded.last_at",
            [job, system, record_id, reason, at, at])

    def pending(self, job: str, system: str) -> list[str]:
        return [r["record_id"] for r in self._rows(
            "SELECT record_id FROM pending WHERE job = ? AND system = ? ORDER BY first_at", [job, system])]

    def clear_pending(self, job: str, system: str, ids: Iterable[str]) -> None:
        self.db.conn.executemany("DELETE FROM pending WHERE job = ? AND system = ? AND record_id = ?",
                                 [(job, system, i) for i in ids])

    # -- conflicts ----------------------------------------------------------------------------

    def open_conflicts(self, job: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM conflicts WHERE status != 'applied'"
        params: list[Any] = []
        if job:
            sql += " AND job = ?"
            params.append(job)
        return [self._conflict(row) for row in self._rows(sql + " ORDER BY id", params)]

    def conflict(self, conflict_id: int) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM conflicts WHERE id = ?", [conflict_id])
        return self._conflict(rows[0]) if rows else None

    def conflict_for(self, job: str, system: str, record_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM conflicts WHERE job = ? AND system = ? AND record_id = ? "
                          "AND status != 'applied' ORDER BY id DESC LIMIT 1", [job, system, record_id])
        return self._conflict(rows[0]) if rows else None

    @staticmethod
    def _conflict(row: dict[str, Any]) -> dict[str, Any]:
        for key in ("base", "ours", "theirs"):
            row[key] = json.loads(row[key]) if row[key] else None
        return row

    def add_conflict(self, job: str, kind: str, link: Link, ours: dict[str, Any], theirs: dict[str, Any],
                     ours_hash: str, theirs_hash: str) -> int:
        existing = self.conflict_for(job, link.system, link.id)
        values = {"job": job, "kind": kind, "system": link.system, "record_id": link.id,
                  "peer_system": link.peer_system, "peer_id": link.peer_id, "base": link.snapshot,
                  "ours": json.dumps(ours, sort_keys=True), "theirs": json.dumps(theirs, sort_keys=True),
                  "ours_hash": ours_hash, "theirs_hash": theirs_hash, "status": "open",
                  "resolution": None, "resolved_at": None}
        if existing:
            if existing["ours_hash"] == ours_hash and existing["theirs_hash"] == theirs_hash:
                return existing["id"]
            self.db["conflicts"].update(existing["id"], {**values, "detected_at": now()})
            return existing["id"]
        return self.db["conflicts"].insert({**values, "detected_at": now()}).last_pk

    def resolve_conflict(self, conflict_id: int, use: str) -> None:
        self.db["conflicts"].update(conflict_id, {"status": "resolved", "resolution": use, "resolved_at": now()})

    def close_conflict(self, conflict_id: int) -> None:
        self.db["conflicts"].update(conflict_id, {"status": "applied"})

    # -- runs and events ----------------------------------------------------------------------

    def start_run(self, job: str, dry_run: bool = False) -> int:
        return self.db["runs"].insert({"job": job, "pid": os.getpid(), "started_at": now(), "status": "running",
                                       "dry_run": int(dry_run), "counts": "{}"}).last_pk

    def finish_run(self, run_id: int, status: str, counts: dict[str, int], error: str | None = None) -> None:
        self.db["runs"].update(run_id, {"finished_at": now(), "status": status,
                                        "counts": json.dumps(counts, sort_keys=True), "error": error})

    _EVENT_COLUMNS = ("run_id", "job", "kind", "system", "record_id", "target", "target_id", "action", "outcome",
                      "reason", "fields", "detail", "at")

    def add_events(self, events: Iterable[dict[str, Any]]) -> None:
        """Store events (``fields``: a list of field names; ``detail``: a JSON-ready object)."""
        at = now()
        rows = [tuple(json.dumps(e[c], sort_keys=True, default=str) if c in ("fields", "detail") and e.get(c) else
                      (e.get(c) or at if c == "at" else e.get(c)) for c in self._EVENT_COLUMNS) for e in events]
        if rows:
            self.db.conn.executemany(f"INSERT INTO events ({', '.join(self._EVENT_COLUMNS)}) "
                                     f"VALUES ({', '.join('?' * len(self._EVENT_COLUMNS))})", rows)

    def runs(self, job: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        sql = "SELECT * FROM runs"
        params: list[Any] = []
        if job:
            sql += " WHERE job = ?"
            params.append(job)
        rows = self._rows(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])
        for row in rows:
            row["counts"] = json.loads(row["counts"] or "{}")
            row["dry_run"] = bool(row["dry_run"])
        return rows

    def events(self, run_id: int) -> list[dict[str, Any]]:
        rows = self._rows("SELECT * FROM events WHERE run_id = ? ORDER BY id", [run_id])
        for row in rows:
            row["fields"] = json.loads(row["fields"]) if row["fields"] else None
            row["detail"] = json.loads(row["detail"]) if row.get("detail") else None
        return rows

    def finished_through(self, after: int = 0) -> int:
        """The highest run id at and below which every run has finished (its row no longer changes),
        given that every run up to ``after`` had (so only later runs are looked at)."""
        row = self._rows("SELECT (SELECT min(id) FROM runs WHERE id > ? AND status = 'running') AS running, "
                         "(SELECT max(id) FROM runs) AS last", [after])[0]
        if row["last"] is not None and row["last"] < after:  # another state file
            return row["last"]
        return (row["running"] - 1) if row["running"] is not None else (row["last"] or 0)

    def run_totals(self, after: int = 0, through: int | None = None) -> list[dict[str, Any]]:
        """Finished runs with ``after < id <= through``, summed per job and status: ``runs``, ``counts``
        (records per action), ``first_started_at`` and ``last_finished_at``. For metrics. (``NOT INDEXED``:
        grouping by job would otherwise walk the whole ``(job, id)`` index instead of the id range.)"""
        where, params = "runs.status != 'running' AND runs.id > ?", [after]
        if through is not None:
            where += " AND runs.id <= ?"
            params.append(through)
        totals = {(r["job"], r["status"]): {**r, "counts": {}} for r in self._rows(
            f"SELECT job, status, count(*) AS runs, min(started_at) AS first_started_at, "
            f"max(finished_at) AS last_finished_at FROM runs NOT INDEXED WHERE {where} GROUP BY job, status", params)}
        for row in self._rows(f"SELECT runs.job, runs.status, json_each.key AS action, sum(json_each.value) AS n "
                              f"FROM runs NOT INDEXED, json_each(runs.counts) WHERE {where} GROUP BY 1, 2, 3", params):
            totals[(row["job"], row["status"])]["counts"][row["action"]] = row["n"]
        return list(totals.values())

    def count_open_conflicts(self) -> dict[str, int]:
        """Open conflicts per job."""
        return {r["job"]: r["n"] for r in self._rows(
            "SELECT job, count(*) AS n FROM conflicts WHERE status != 'applied' GROUP BY job")}

    def mark_interrupted_runs(self) -> None:
        """Runs left 'running' by a process that no longer exists (killed) are marked interrupted."""
        for row in self._rows("SELECT id, pid FROM runs WHERE status = 'running'"):
            if row["pid"] and not _alive(row["pid"]):
                self.db["runs"].update(row["id"], {"status": "interrupted", "finished_at": now()})

    # -- system health ------------------------------------------------------------------------

    def health(self, system: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM health WHERE system = ?", [system])
        return rows[0] if rows else None

    def all_health(self) -> list[dict[str, Any]]:
        return self._rows("SELECT system, status, reason, since FROM health ORDER BY system")

    def hold(self, system: str, reason: str, salt: str, fingerprint: str) -> None:
        self.db["health"].upsert({"system": system, "status": "held", "reason": reason, "since": now(),
                                  "salt": salt, "fingerprint": fingerprint}, pk="system")

    def release(self, system: str) -> None:
        self.db["health"].upsert({"system": system, "status": "ok", "reason": None, "since": now(),
                                  "salt": None, "fingerprint": None}, pk="system")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
