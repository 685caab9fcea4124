"""The crash-safe journal of a batch: one SQLite file (stdlib ``sqlite3``, WAL).

It records every brief before anything is sent, then each fact as soon as it
is known: what a create is sent with (before it is sent), the project id, the
last status seen, retries, the file path and its sha256. Each write is one
transaction, so a ``kill -9`` at any instant leaves the file consistent; a
re-run reads it and resumes.

Durability: WAL with ``synchronous=NORMAL`` survives a crash of the process
(the committed pages are in the OS cache); after a power cut the last few
commits may roll back, which is still safe: the idempotency key brings back
the same project, and a lost ``done`` only means one more verified download.

One run at a time: an open journal holds its run lock, an exclusive SQLite
lock on a sidecar file (``<journal>-lock``, empty; the OS lets it go when the
process ends, even by ``kill -9``). Opening a journal another run holds raises
``JournalLockedError`` at once; tools that only read the journal (``sqlite3``)
are never blocked by it.

The blocking ``sqlite3`` calls run off the event loop (``anyio.to_thread``),
one at a time on one connection.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio
import attrs

from videoagent._errors import VideoAgentError

from ._briefs import Brief

__all__ = [
    "COLUMNS",
    "JOURNAL_NAME",
    "Journal",
    "JournalEntry",
    "JournalLike",
    "JournalLockedError",
    "JournalMismatchError",
    "JournalStatistics",
    "NullJournal",
    "entry_from_row",
    "idempotency_key",
]

T = TypeVar("T")

#: The journal's file name inside the output folder.
JOURNAL_NAME = ".videoagent-batch.sqlite"
_SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS briefs (
    idx INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    brief TEXT NOT NULL,
    file_name TEXT NOT NULL,
    source TEXT,
    state TEXT NOT NULL DEFAULT 'pending',
    project_id TEXT,
    status TEXT,
    retries INTEGER NOT NULL DEFAULT 0,
    replies INTEGER NOT NULL DEFAULT 0,
    rendered INTEGER NOT NULL DEFAULT 0,
    render_from TEXT,
    retry_from TEXT,
    create_params TEXT,
    render_refused TEXT,
    path TEXT,
    sha256 TEXT,
    size INTEGER,
    error TEXT,
    request_id TEXT,
    updated_at REAL NOT NULL
);
"""
#: Columns added after the first version, with their types (``_add_missing_columns``).
_ADDED_COLUMNS = (
    ("render_from", "TEXT"),
    ("retry_from", "TEXT"),
    ("create_params", "TEXT"),
    ("render_refused", "TEXT"),
)
#: The columns ``record`` writes (a brief's facts).
COLUMNS = frozenset(
    {
        "state",
        "project_id",
        "status",
        "retries",
        "replies",
        "rendered",
        "render_from",
        "retry_from",
        "create_params",
        "render_refused",
        "path",
        "sha256",
        "size",
        "error",
        "request_id",
    }
)


def idempotency_key(batch_id: str, index: int, text: str) -> str:
    """The brief's create key: the same batch, index and text always give the same key."""
    digest = hashlib.sha256(f"{batch_id}\x00{index}\x00{text}".encode()).hexdigest()
    return f"vab_{digest[:48]}"


@attrs.frozen
class JournalEntry:
    """One brief as the journal knows it.

    ``state`` is ``pending`` (nothing sent, or no answer recorded), ``created``
    (``project_id`` known), ``done`` (verified file at ``path``) or ``failed``.
    """

    index: int
    key: str
    file_name: str
    state: str = "pending"
    project_id: str | None = None
    status: str | None = None
    retries: int = 0
    replies: int = 0
    rendered: bool = False
    path: str | None = None
    sha256: str | None = None
    size: int | None = None
    error: str | None = None
    request_id: str | None = None
    #: The project's ``updated_at`` when the re-render was sent (``rendered`` once answered).
    render_from: str | None = None
    #: The project's ``updated_at`` when a retry was sent (``retries`` counts it once answered).
    retry_from: str | None = None
    #: What the create was sent with besides brief and key (JSON, recorded before it is sent):
    #: a resumed create sends exactly these again, so its idempotent replay matches.
    create_params: str | None = None
    #: Why the account refused the brief's re-render (its first result is kept instead):
    #: a later run does not send it again (unless the plan now allows a 4K render).
    render_refused: str | None = None


@attrs.frozen
class JournalStatistics:
    """What the journal cost.

    Attributes:
        writes: transactions (and reads) made.
        seconds: time the batch spent awaiting them (thread hops included).
        sqlite_seconds: time SQLite itself took, in the worker thread.
    """

    writes: int
    seconds: float
    sqlite_seconds: float = 0.0


class JournalMismatchError(VideoAgentError):
    """The journal belongs to other briefs (or another batch id): resuming would mix them."""


class JournalLockedError(JournalMismatchError):
    """Another run (another process, or another runner here) holds the journal; nothing was sent.

    Running both would mix them too (each deleting the other's partial
    downloads), hence a ``JournalMismatchError``. Wait for the other run to
    end, or give this one another output folder or journal path.
    """


class JournalLike(Protocol):
    """What the runner needs of a journal (``Journal`` or ``NullJournal``)."""

    batch_id: str

    async def register(self, briefs: Sequence[Brief]) -> list[JournalEntry]: ...
    async def record(self, index: int, **fields: Any) -> None: ...
    def statistics(self) -> JournalStatistics: ...
    async def aclose(self) -> None: ...


class Journal:
    """A batch's SQLite journal; open it with ``await Journal.open(path)``.

    Example::

        journal = await Journal.open("videos/.videoagent-batch.sqlite")
        entries = await journal.register(briefs)
        await journal.record(0, state="created", project_id="prj_...")
        await journal.aclose()
    """

    def __init__(
        self,
        path: Path,
        connection: sqlite3.Connection,
        batch_id: str,
        run_lock: sqlite3.Connection | None = None,
    ) -> None:
        self.path = path
        self.batch_id = batch_id
        self._db = connection
        self._run_lock = run_lock
        self._limiter = anyio.CapacityLimiter(1)
        self._writes = 0
        self._seconds = 0.0
        self._sqlite_seconds = 0.0

    def __repr__(self) -> str:
        return f"<Journal {str(self.path)!r} batch_id={self.batch_id!r}>"

    @classmethod
    async def open(cls, path: str | os.PathLike[str], *, batch_id: str | None = None) -> Journal:
        """Open (or create) the journal at ``path``; its batch id is kept from the first run.

        ``batch_id`` given and different from the journal's: ``JournalMismatchError``;
        another run holds it: ``JournalLockedError``. The journal holds its run
        lock until ``aclose()``.
        """
        file = Path(path)
        await anyio.Path(file.parent).mkdir(parents=True, exist_ok=True)

        def connect() -> tuple[sqlite3.Connection, str, sqlite3.Connection]:
            run_lock = _take_run_lock(file)
            try:
                db = sqlite3.connect(file, check_same_thread=False, isolation_level=None)
            except BaseException:
                run_lock.close()
                raise
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("PRAGMA busy_timeout=5000")
                db.executescript(_SCHEMA)
                with db:
                    db.execute("BEGIN IMMEDIATE")
                    _add_missing_columns(db)
                    row = db.execute("SELECT value FROM meta WHERE key='batch_id'").fetchone()
                    if row is None:
                        chosen = batch_id or uuid.uuid4().hex[:16]
                        db.executemany(
                            "INSERT INTO meta VALUES (?, ?)",
                            [("batch_id", chosen), ("schema", _SCHEMA_VERSION)],
                        )
                    else:
                        chosen = row[0]
                if batch_id is not None and batch_id != chosen:
                    raise JournalMismatchError(
                        f"the journal {file} belongs to batch {chosen!r}, not {batch_id!r}"
                    )
            except BaseException:
                db.close()
                run_lock.close()
                raise
            return db, chosen, run_lock

        try:
            db, chosen, run_lock = await anyio.to_thread.run_sync(connect)
        except sqlite3.DatabaseError as exc:
            if _is_locked(exc):  # a writer held it past the busy timeout
                raise _locked(file) from exc
            raise JournalMismatchError(f"{file} is not a batch journal: {exc}") from exc
        return cls(file, db, chosen, run_lock)

    async def _run(self, function: Callable[[], T]) -> T:
        def timed() -> T:
            began = time.perf_counter()
            try:
                return function()
            finally:
                self._sqlite_seconds += time.perf_counter() - began

        started = time.perf_counter()
        try:
            return await anyio.to_thread.run_sync(timed, limiter=self._limiter)
        finally:
            self._writes += 1
            self._seconds += time.perf_counter() - started

    async def register(self, briefs: Sequence[Brief]) -> list[JournalEntry]:
        """Record every brief not recorded yet (one transaction); each brief's entry.

        Linear in the briefs and the journal's rows: one read of the journal,
        one insert per new brief.

        A brief whose index the journal holds with other text (or another file
        name) raises ``JournalMismatchError``: the input changed under the journal.
        """
        now = time.time()
        rows = [
            (
                b.index,
                idempotency_key(self.batch_id, b.index, b.text),
                b.text,
                b.file_name,
                b.source,
            )
            for b in briefs
        ]

        def register() -> list[JournalEntry]:
            db = self._db
            entries: list[JournalEntry] = []
            new: list[tuple[int, str, str, str, str | None, float]] = []
            with db:
                db.execute("BEGIN IMMEDIATE")
                known = {r["idx"]: r for r in _rows(db, "SELECT * FROM briefs")}
                for index, key, text, file_name, source in rows:
                    row = known.get(index)
                    if row is None:
                        new.append((index, key, text, file_name, source, now))
                        entries.append(JournalEntry(index, key, file_name))  # the row's defaults
                    elif row["key"] != key or row["file_name"] != file_name:
                        where = source or f"brief {index + 1}"
                        raise JournalMismatchError(
                            f"{where} is not the brief the journal {self.path} recorded at this "
                            f"place ({row['brief'][:60]!r} -> {row['file_name']}); write the "
                            "changed batch to another folder, or restore the input"
                        )
                    else:
                        entries.append(entry_from_row(row))
                db.executemany(
                    "INSERT INTO briefs (idx, key, brief, file_name, source, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    new,
                )
            return entries

        return await self._run(register)

    async def record(self, index: int, **fields: Any) -> None:
        """Update a brief's entry (one transaction): ``state=``, ``project_id=``, ``path=``..."""
        unknown = set(fields) - COLUMNS
        if unknown:
            raise ValueError(f"not journal columns: {sorted(unknown)}")
        names = sorted(fields)
        assignments = ", ".join(f"{name} = ?" for name in names)  # names from COLUMNS only
        sql = f"UPDATE briefs SET {assignments}, updated_at = ? WHERE idx = ?"
        values = [*(int(v) if isinstance(v, bool) else v for v in (fields[n] for n in names))]
        params = (*values, time.time(), index)

        def record() -> None:
            with self._db:
                self._db.execute(sql, params)

        await self._run(record)

    async def entries(self) -> list[JournalEntry]:
        """Every brief the journal holds, by index."""
        return await self._run(
            lambda: [
                entry_from_row(r) for r in _rows(self._db, "SELECT * FROM briefs ORDER BY idx")
            ]
        )

    def statistics(self) -> JournalStatistics:
        """Transactions made, seconds spent awaiting them, seconds inside SQLite."""
        return JournalStatistics(self._writes, self._seconds, self._sqlite_seconds)

    async def aclose(self) -> None:
        """Close the connection (a checkpoint folds the WAL back into the file); let go the lock."""

        def close() -> None:
            try:
                self._db.close()
            finally:
                if self._run_lock is not None:
                    self._run_lock.close()  # its transaction ends: the next run may open it

        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(close, limiter=self._limiter)


class NullJournal:
    """A journal that remembers nothing (``journal=False``; the benchmark's baseline)."""

    def __init__(self, batch_id: str | None = None) -> None:
        self.batch_id = batch_id or uuid.uuid4().hex[:16]
        self.path: Path | None = None

    async def register(self, briefs: Sequence[Brief]) -> list[JournalEntry]:
        """A fresh pending entry per brief."""
        return [
            JournalEntry(b.index, idempotency_key(self.batch_id, b.index, b.text), b.file_name)
            for b in briefs
        ]

    async def record(self, index: int, **fields: Any) -> None:
        """Nothing."""

    def statistics(self) -> JournalStatistics:
        """Always zero."""
        return JournalStatistics(0, 0.0)

    async def aclose(self) -> None:
        """Nothing."""


def _take_run_lock(file: Path) -> sqlite3.Connection:
    """Hold the journal's run lock: a connection in an exclusive transaction on ``<file>-lock``.

    Raises ``JournalLockedError`` at once (no busy wait) if another run holds it.
    """
    path = file.with_name(f"{file.name}-lock")
    try:
        lock = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=0)
    except sqlite3.Error as exc:
        raise JournalMismatchError(f"cannot open the journal's lock file {path}: {exc}") from exc
    try:
        lock.execute("PRAGMA journal_mode=OFF")  # it stays empty: no rollback journal beside it
        lock.execute("BEGIN EXCLUSIVE")
    except sqlite3.Error as exc:
        lock.close()
        if _is_locked(exc):
            raise _locked(file) from exc
        raise JournalMismatchError(f"cannot lock the journal {file} ({path}): {exc}") from exc
    return lock


def _is_locked(error: sqlite3.Error) -> bool:
    """SQLite's busy answer (``database is locked``): another connection holds the lock."""
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


def _locked(file: Path) -> JournalLockedError:
    return JournalLockedError(
        f"the journal {file} is locked by another run of the batch (another process, or "
        "another runner, is using it): wait for it to end, or use another output folder "
        "or journal"
    )


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Bring a journal an older version wrote up to date (columns added since, all nullable)."""
    have = {row[1] for row in db.execute("PRAGMA table_info(briefs)")}
    for name, kind in _ADDED_COLUMNS:
        if name not in have:
            db.execute(f"ALTER TABLE briefs ADD COLUMN {name} {kind}")  # names from the list


def _rows(db: sqlite3.Connection, sql: str) -> list[Mapping[str, Any]]:
    cursor = db.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=False)) for row in cursor.fetchall()]


def entry_from_row(row: Mapping[str, Any]) -> JournalEntry:
    """A ``JournalEntry`` from a row of the journal's columns (``idx``, ``key``, ...)."""
    return JournalEntry(
        index=row["idx"],
        key=row["key"],
        file_name=row["file_name"],
        state=row["state"],
        project_id=row["project_id"],
        status=row["status"],
        retries=row["retries"],
        replies=row["replies"],
        rendered=bool(row["rendered"]),
        path=row["path"],
        sha256=row["sha256"],
        size=row["size"],
        error=row["error"],
        request_id=row["request_id"],
        render_from=row["render_from"],
        retry_from=row["retry_from"],
        create_params=row["create_params"],
        render_refused=row["render_refused"],
    )
