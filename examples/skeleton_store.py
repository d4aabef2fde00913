"""A minimal event store over the standard library's ``sqlite3``: the skeleton of
docs/write-your-own-store.md.

It passes the whole conformance suite (CI runs
``eventbench check examples.skeleton_store:make_store``) by leaning on what the
contract exports: validation, the expected-version rule and `EventStream`. It wraps a
*synchronous* library the safe way: every call runs in a worker thread
(`asyncio.to_thread`), one at a time under a lock, and each call is a whole
transaction, so a cancelled caller can never leave one half done. It keeps its events
in a file and names it (`location`), so that its factory can open a second instance
over the same data: the two-instance hook (`eventbench.SupportsReopen`) that the
``instances.*`` checks and the runner's seed-once use.

Copy it, swap sqlite3 for your library, and keep the shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import orjson

import eventbench as eb

__all__ = ["SkeletonStore", "make_store"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position    INTEGER PRIMARY KEY AUTOINCREMENT,  -- global: starts at 1, only grows
    stream_id   TEXT    NOT NULL,
    version     INTEGER NOT NULL,                   -- 1 for a stream's first event
    type        TEXT    NOT NULL,
    data        BLOB    NOT NULL,                   -- JSON exactly as encode_json gave it
    metadata    BLOB    NOT NULL,
    id          TEXT    NOT NULL UNIQUE,            -- event ids are unique store-wide
    recorded_at TEXT    NOT NULL,                   -- ISO 8601, UTC
    UNIQUE (stream_id, version)
)
"""
_COLUMNS = "stream_id, version, position, type, data, metadata, id, recorded_at"


def _decode(row: tuple[Any, ...]) -> eb.RecordedEvent:
    stream_id, version, position, type_, data, metadata, id_, recorded_at = row
    return eb.RecordedEvent(
        stream_id=stream_id,
        stream_version=version,
        position=position,
        type=type_,
        data=orjson.loads(data),
        metadata=orjson.loads(metadata),
        id=uuid.UUID(id_),
        recorded_at=datetime.fromisoformat(recorded_at),
    )


class SkeletonStore:
    """An `eventbench.EventStore` in one SQLite database file (or ``":memory:"``)."""

    def __init__(self, path: str = ":memory:") -> None:
        self._path = path
        self._db: sqlite3.Connection | None = None
        # sqlite3 connections are not safe to use from two threads at once; the lock
        # makes every call run alone, whichever worker thread it lands on.
        self._lock = threading.Lock()

    @property
    def capabilities(self) -> eb.Capabilities:
        # Each capability declared turns on checks that prove it. In a file, events
        # survive closing, and SQLite's own locking lets other instances and processes
        # share the file; in memory, nothing outlives the store.
        on_disk = self._path != ":memory:"
        return eb.Capabilities(persistent=on_disk, multi_process=on_disk)

    @property
    def location(self) -> str:
        """Where the data lives: what ``make_store(location=...)`` opens again."""
        return self._path

    # lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        if self._db is not None:
            return

        def connect() -> sqlite3.Connection:
            # isolation_level=None: no implicit transactions; we BEGIN and COMMIT.
            # timeout: wait for another instance's write instead of "database is locked".
            db = sqlite3.connect(
                self._path, timeout=30, check_same_thread=False, isolation_level=None
            )
            # WAL: readers and the writer do not block each other, and a commit syncs the
            # log once (the suite took 31 s without it, 14 s with it, on a busy machine).
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
            return db

        self._db = await asyncio.to_thread(connect)

    async def aclose(self) -> None:
        db, self._db = self._db, None
        if db is not None:

            def close() -> None:
                with self._lock:  # waits for a call still running in its thread
                    db.close()

            await asyncio.to_thread(close)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` with the connection in a worker thread, alone.

        If the awaiting task is cancelled, the thread still runs ``work`` to its end
        (a thread cannot be interrupted); since ``work`` is a whole transaction, the
        store is left either before or after it, never between.
        """
        db = self._db
        if db is None:
            raise eb.StoreUnavailable("the store is closed; open it (async with store) first")

        def alone() -> T:
            with self._lock:
                if self._db is not db:
                    raise eb.StoreUnavailable("the store was closed during the call")
                return work(db)

        return await asyncio.to_thread(alone)

    # writes ----------------------------------------------------------------------

    async def append(self, *writes: eb.StreamWrite) -> eb.AppendResult:
        # Validate (and encode) everything before touching the database: a bad request
        # writes nothing and raises InvalidAppend, InvalidStreamId or InvalidEvent.
        checked = eb.validate_writes(writes, self.capabilities.max_event_bytes)
        recorded_at = datetime.now(UTC).isoformat()
        return await self._run(lambda db: _transaction(db, _append, checked, recorded_at))

    async def bulk_load(self, events: Sequence[tuple[str, eb.NewEvent]]) -> None:
        """Seed benchmark data (`eventbench.BulkLoader`): each event appended to its
        stream with ANY, in the order given, all in one transaction."""
        max_bytes = self.capabilities.max_event_bytes
        checked = [
            eb.validate_writes([eb.StreamWrite(stream_id, eb.ANY, [event])], max_bytes)[0]
            for stream_id, event in events
        ]
        recorded_at = datetime.now(UTC).isoformat()

        def load(db: sqlite3.Connection, *_: object) -> None:
            for write in checked:
                _append(db, [write], recorded_at)

        await self._run(lambda db: _transaction(db, load))

    # reads -----------------------------------------------------------------------

    async def stream_version(self, stream_id: str) -> int:
        eb.validate_stream_id(stream_id)
        return await self._run(lambda db: _version(db, stream_id))

    def read_stream(
        self, stream_id: str, *, from_version: int = 0, batch_size: int | None = None
    ) -> eb.EventStream:
        # Bad arguments fail here, at the call, not later on first use.
        eb.validate_stream_id(stream_id)
        start = eb.validate_from(from_version, "from_version")
        return self._read(
            "stream_id = ? AND version > ?", (stream_id,), "version", start, batch_size
        )

    def read_all(self, *, after_position: int = 0, batch_size: int | None = None) -> eb.EventStream:
        start = eb.validate_from(after_position, "after_position")
        return self._read("position > ?", (), "position", start, batch_size)

    def _read(
        self, where: str, args: tuple[Any, ...], order: str, after: int, batch_size: int | None
    ) -> eb.EventStream:
        """The events matching ``where`` (its last ``?`` is the ``order`` column's lower
        bound, ``after``), in ``order``: streamed page by page, or collected at once.

        Snapshot: a streamed read notes the highest position when it begins and never
        goes past it, so events appended while it pages are not seen (positions only
        grow, so they all lie beyond). Each page is its own short call: no lock,
        connection or transaction is held between pages, so an abandoned read costs
        nothing.
        """
        size = eb.validate_batch_size(batch_size, eb.DEFAULT_BATCH_SIZE)
        select = f"SELECT {_COLUMNS} FROM events WHERE {where}"
        page_sql = f"{select} AND position <= ? ORDER BY {order} LIMIT ?"
        key = 1 if order == "version" else 2  # where the order column sits in a row

        async def batches() -> AsyncIterator[Sequence[eb.RecordedEvent]]:
            head = await self._run(_head)
            cursor = after
            while True:
                rows = await self._run(_query(page_sql, (*args, cursor, head, size)))
                if not rows:
                    return
                # Decode outside the lock: other calls need not wait for it.
                yield [_decode(row) for row in rows]
                if len(rows) < size:
                    return
                cursor = rows[-1][key]

        async def collect() -> list[eb.RecordedEvent]:
            # One call sees one consistent state: no bound needed.
            rows = await self._run(_query(f"{select} ORDER BY {order}", (*args, after)))
            return [_decode(row) for row in rows]

        return eb.EventStream(batches, collect)


def _transaction(db: sqlite3.Connection, body: Callable[..., T], *args: Any) -> T:
    """Run ``body(db, *args)`` as one transaction: committed whole or rolled back."""
    db.execute("BEGIN IMMEDIATE")
    try:
        result = body(db, *args)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return result


def _query(sql: str, params: tuple[Any, ...]) -> Callable[[sqlite3.Connection], list[Any]]:
    return lambda db: db.execute(sql, params).fetchall()


def _head(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COALESCE(MAX(position), 0) FROM events").fetchone()[0])


def _version(db: sqlite3.Connection, stream_id: str) -> int:
    row = db.execute(
        "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = ?", (stream_id,)
    ).fetchone()
    return int(row[0])


def _append(
    db: sqlite3.Connection, writes: Sequence[eb.ValidatedWrite], recorded_at: str
) -> eb.AppendResult:
    """The body of one append transaction: check every condition, then write."""
    versions = {w.stream_id: _version(db, w.stream_id) for w in writes}
    for w in writes:
        eb.check_expected_version(w.stream_id, w.expected, versions[w.stream_id])
    for w in writes:
        for event in w.events:
            if db.execute("SELECT 1 FROM events WHERE id = ?", (str(event.id),)).fetchone():
                raise eb.DuplicateEventId(event.id)
    positions = []
    for w in writes:
        for event, (data, metadata) in zip(w.events, w.encoded, strict=True):
            versions[w.stream_id] += 1
            cursor = db.execute(
                "INSERT INTO events (stream_id, version, type, data, metadata, id, recorded_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    w.stream_id,
                    versions[w.stream_id],
                    event.type,
                    data,
                    metadata,
                    str(event.id),
                    recorded_at,
                ),
            )
            positions.append(int(cursor.lastrowid or 0))
    return eb.AppendResult(versions=versions, positions=tuple(positions))


@contextlib.asynccontextmanager
async def make_store(location: str | None = None) -> AsyncIterator[SkeletonStore]:
    """The factory ``eventbench check`` and ``eventbench run`` call.

    ``make_store()`` gives a fresh, empty store in a temporary file, removed when the
    store is done with. ``make_store(location=store.location)`` opens another instance
    over that store's data, and creates or removes nothing.
    """
    if location is not None:
        async with SkeletonStore(location) as store:
            yield store
        return
    with tempfile.TemporaryDirectory(prefix="skeleton-store-") as directory:
        async with SkeletonStore(os.path.join(directory, "events.db")) as store:
            yield store
