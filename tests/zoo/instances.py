"""Zoo entries for two instances of one store, racing guards, shapes of stream ids and
hung threads.

`SharedZooStore` is the unbroken base that can be reopened: instances opened at one
location (in this process) share one set of data, so the two-instance checks run on
it. The SQLite entries are real SQLite stores with one realistic mistake each; they
are factories (``CAUGHT_BY`` is set on the function).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import sqlite3
import tempfile
import threading
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import aiosqlite

from backends.sqlite import SqliteStore, open_store
from harness.contract import (
    AppendResult,
    Capabilities,
    NewEvent,
    RecordedEvent,
    StoreUnavailable,
    StreamWrite,
    WrongExpectedVersion,
)
from zoo.base import Checked, Stored, ZooStore
from zoo.mutants import Mutant

T = TypeVar("T")


# --------------------------------------------------------------------------- the reopenable base


@dataclass
class _Data:
    streams: dict[str, list[Stored]] = field(default_factory=dict)
    log: list[Stored] = field(default_factory=list)
    ids: set[uuid.UUID] = field(default_factory=set)


_LOCATIONS: dict[str, _Data] = {}
"""Every location's data, for the life of the test process (a few KiB each)."""


class SharedZooStore(ZooStore):
    """Not broken: the zoo's base store, with a location another instance can open
    (``SharedZooStore(location=store.location)``). Passes every check."""

    def __init__(self, location: str | None = None) -> None:
        super().__init__()
        self.location = location or f"zoo:{uuid.uuid4().hex}"
        data = _LOCATIONS.setdefault(self.location, _Data())
        self.streams, self.log, self.ids = data.streams, data.log, data.ids

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(persistent=True, unique_event_ids=True)


class MillisecondsElsewhere(SharedZooStore):
    """Keeps recorded_at to the millisecond in storage but serves the events it wrote
    itself from a write cache at full precision: another instance reads other times."""

    CAUGHT_BY: ClassVar[tuple[str, ...]] = ("append.recorded-at",)

    def __init__(self, location: str | None = None) -> None:
        super().__init__(location)
        self.written: set[uuid.UUID] = set()

    def add(self, stream_id: str, event: NewEvent, data: bytes, metadata: bytes) -> int:
        self.written.add(event.id)
        return super().add(stream_id, event, data, metadata)

    def recorded(self, stored: Stored) -> RecordedEvent:
        event = super().recorded(stored)
        if stored.id in self.written:
            return event
        at = event.recorded_at
        return dataclasses.replace(
            event, recorded_at=at.replace(microsecond=at.microsecond // 1000 * 1000)
        )


class ForgetsOnClose(SharedZooStore):
    """Declares itself persistent, but closing an instance drops its data (a temporary
    file removed by ``aclose`` instead of by the factory, say): what was written is
    gone for the next instance."""

    CAUGHT_BY: ClassVar[tuple[str, ...]] = (
        "instances.survives-reopen",
        "store.persistent",
        "store.close-and-reopen",
        "instances.close-one",
    )

    async def aclose(self) -> None:
        await super().aclose()
        self.streams.clear()
        self.log.clear()
        self.ids.clear()


class CachedVersions(SharedZooStore):
    """Caches each stream's version in the instance and refreshes it only when its own
    append meets a conflict: another instance's appends stay invisible to
    ``stream_version`` until then."""

    CAUGHT_BY: ClassVar[tuple[str, ...]] = (
        "instances.read-beside-other-instance",
        "concurrency.stale-guard",
    )

    def __init__(self, location: str | None = None) -> None:
        super().__init__(location)
        self.cached: dict[str, int] = {}

    async def stream_version(self, stream_id: str) -> int:
        self.check_open()
        if stream_id not in self.cached:
            self.cached[stream_id] = await super().stream_version(stream_id)
        return self.cached[stream_id]

    async def append(self, *writes: StreamWrite) -> AppendResult:
        try:
            result = await super().append(*writes)
        except WrongExpectedVersion:
            self.cached.clear()
            raise
        self.cached.update(result.versions)
        return result


# --------------------------------------------------------------------------- guards


_POOLS_CLOSED: dict[str, bool] = {}
"""Per location: whether the pool `CloseOneClosesAll` shares between instances is closed."""


class CloseOneClosesAll(SharedZooStore):
    """Instances at one location share a module-level connection pool (cached by
    location "to save connections"), and aclose() closes that shared pool: the first
    instance to close makes every other live one raise StoreUnavailable."""

    CAUGHT_BY: ClassVar[tuple[str, ...]] = ("instances.close-one",)

    async def open(self) -> None:
        await super().open()
        _POOLS_CLOSED[self.location] = False

    async def aclose(self) -> None:
        await super().aclose()
        _POOLS_CLOSED[self.location] = True

    def check_open(self) -> None:
        super().check_open()
        if _POOLS_CLOSED.get(self.location):
            raise StoreUnavailable("the connection pool is closed")


class InstanceLocalIdIndex(SharedZooStore):
    """Declares unique_event_ids but, to save a round trip per append, checks ids
    against a set loaded when the instance opens plus its own appends, with no unique
    index: an id another instance stored is stored again."""

    CAUGHT_BY: ClassVar[tuple[str, ...]] = ("instances.unique-ids",)
    MAY_ALSO = ("concurrency.duplicate-id-race",)
    """It checks event ids outside its write lock (or per instance), so two appends
    racing with one id store it twice: caught when the race overlaps."""

    def __init__(self, location: str | None = None) -> None:
        super().__init__(location)
        self.ids = set(self.ids)


class GuardCheckedOutsideTransaction(Mutant):
    """Checks every condition first, then opens its write transaction and re-checks only
    the streams it writes to (a unique (stream, version) constraint): a guard (a write
    with no events) that went stale meanwhile still lets the append commit."""

    CAUGHT_BY = ("concurrency.stale-guard",)
    MAY_ALSO = ("concurrency.duplicate-id-race",)
    """It checks event ids outside its write lock (or per instance), so two appends
    racing with one id store it twice: caught when the race overlaps."""

    async def append(self, *writes: StreamWrite) -> AppendResult:
        self.check_open()
        checked = self.validate(writes)
        self.check_conditions(checked)
        self.check_ids(checked)
        await asyncio.sleep(0)  # BEGIN: a round trip
        self.check_conditions([w for w in checked if w.events])
        return self.commit(checked)


class LocksFirstStreamOnly(Mutant):
    """Checks every condition, then locks and re-checks only the first stream named
    before writing: a multi-stream append races past an append to its other streams."""

    CAUGHT_BY = ("concurrency.multi-stream-race",)
    MAY_ALSO = ("concurrency.duplicate-id-race",)
    """It checks event ids outside its write lock (or per instance), so two appends
    racing with one id store it twice: caught when the race overlaps."""

    async def append(self, *writes: StreamWrite) -> AppendResult:
        self.check_open()
        checked = self.validate(writes)
        self.check_conditions(checked)
        self.check_ids(checked)
        await asyncio.sleep(0)  # SELECT ... FOR UPDATE on the first stream
        self.check_conditions(checked[:1])
        return self.commit(checked)


# --------------------------------------------------------------------------- categories


def category(stream_id: str) -> str:
    return stream_id.partition("-")[0]


class _CategoryLocks:
    def __init__(self) -> None:
        self.locks: dict[str, asyncio.Lock] = {}

    def of(self, name: str) -> asyncio.Lock:
        return self.locks.setdefault(name, asyncio.Lock())


class CategoryLockedPositions(Mutant):
    """Takes global positions from a sequence under a per-category lock (the part of a
    stream id before its first '-') and commits a moment later: appends in different
    categories commit out of position order, so a catch-up reader skips events."""

    CAUGHT_BY = ("concurrency.catch-up-reader",)
    MAY_ALSO = ("concurrency.duplicate-id-race",)
    """It checks event ids outside its write lock (or per instance), so two appends
    racing with one id store it twice: caught when the race overlaps."""

    def __init__(self) -> None:
        super().__init__()
        self.categories = _CategoryLocks()
        self.next_position = 0
        self.rng = random.Random(12)

    async def append(self, *writes: StreamWrite) -> AppendResult:
        self.check_open()
        checked = self.validate(writes)
        names = sorted({category(w.stream_id) for w in checked})
        async with contextlib.AsyncExitStack() as stack:
            for name in names:
                await stack.enter_async_context(self.categories.of(name))
            self.check_conditions(checked)
            self.check_ids(checked)
            count = sum(len(w.events) for w in checked)
            first = self.next_position + 1
            self.next_position += count
            for _ in range(self.rng.randint(0, 3)):
                await asyncio.sleep(0)  # the commit's round trip
            return self._commit_at(checked, first)

    def _commit_at(self, checked: Sequence[Checked], first: int) -> AppendResult:
        positions = iter(range(first, first + sum(len(w.events) for w in checked)))
        versions: dict[str, int] = {}
        result: list[int] = []
        for write in checked:
            stream = self.streams.setdefault(write.stream_id, [])
            for event, (data, metadata) in zip(write.events, write.encoded, strict=True):
                position = next(positions)
                stored = Stored(
                    write.stream_id,
                    len(stream) + 1,
                    position,
                    event.type,
                    data,
                    metadata,
                    event.id,
                    datetime.now(UTC),
                )
                stream.append(stored)
                index = len(self.log)
                while index and self.log[index - 1].position > position:
                    index -= 1
                self.log.insert(index, stored)
                self.ids.add(event.id)
                result.append(position)
            versions[write.stream_id] = len(stream)
        return AppendResult(versions, tuple(result))

    def read_all(self, *, after_position: int = 0, batch_size: int | None = None) -> Any:
        from harness.contract import DEFAULT_BATCH_SIZE, validate_batch_size, validate_from

        after = validate_from(after_position, "after_position")
        size = validate_batch_size(batch_size, DEFAULT_BATCH_SIZE)

        def source() -> list[Stored]:
            return [e for e in self.log if e.position > after]

        return self.make_stream(source, 0, size)


class CategoryLocksInGivenOrder(Mutant):
    """Locks each stream's category (the part before the first '-') in the order the
    append names the streams: two appends naming the same streams in opposite orders
    deadlock."""

    CAUGHT_BY = ("concurrency.opposite-order",)

    def __init__(self) -> None:
        super().__init__()
        self.categories = _CategoryLocks()

    async def append(self, *writes: StreamWrite) -> AppendResult:
        checked = self.validate(writes)  # bad input fails as usual, before any lock
        names = list(dict.fromkeys(category(w.stream_id) for w in checked))
        async with contextlib.AsyncExitStack() as stack:
            for name in names:
                await stack.enter_async_context(self.categories.of(name))
                await asyncio.sleep(0)  # each lock is a round trip
            return await super().append(*writes)


# --------------------------------------------------------------------------- a hung thread

_NEVER = threading.Event()


class HangsInThread(Mutant):
    """Wraps a synchronous client with ``asyncio.to_thread``; its ``stream_version``
    call never returns (a lock the client never gets), so the thread blocks forever."""

    CAUGHT_BY = ("append.condition-only",)

    async def stream_version(self, stream_id: str) -> int:
        await asyncio.to_thread(_NEVER.wait)
        return await super().stream_version(stream_id)


# --------------------------------------------------------------------------- SQLite


class DeferredBeginStore(SqliteStore):
    """SQLite with ``BEGIN`` (deferred) instead of ``BEGIN IMMEDIATE`` and no handling of
    SQLITE_BUSY: the write lock is taken only at the first INSERT, after the versions
    were read, so when another instance committed in between, SQLite refuses at once
    (no busy timeout helps) and the raw "database is locked" reaches the caller. One
    instance alone never meets it: its appends take turns."""

    async def _transaction(self, conn: aiosqlite.Connection, body: Callable[[], Awaitable[T]]) -> T:
        await conn.execute("BEGIN")
        try:
            result = await body()
            await conn.commit()
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                await conn.rollback()
            raise
        return result


_PROCESS_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


class ProcessLockStore(DeferredBeginStore):
    """Deferred ``BEGIN`` made safe with a lock per file kept in the process (shared by
    every instance here): instances in one process never collide, but two processes
    still meet "database is locked"."""

    async def _transaction(self, conn: aiosqlite.Connection, body: Callable[[], Awaitable[T]]) -> T:
        locks = _PROCESS_LOCKS.setdefault(asyncio.get_running_loop(), {})
        lock = locks.setdefault(self.path, asyncio.Lock())
        async with lock:
            return await super()._transaction(conn, body)


@contextlib.asynccontextmanager
async def _sqlite(cls: type[SqliteStore], location: str | None) -> AsyncIterator[SqliteStore]:
    if location is not None:
        async with cls(open_store(location).path, synchronous="NORMAL") as other:
            yield other
        return
    with tempfile.TemporaryDirectory(prefix="eventbench-zoo-") as directory:
        async with cls(Path(directory) / "events.db", synchronous="NORMAL") as store:
            yield store


@contextlib.asynccontextmanager
async def deferred_begin_sqlite(location: str | None = None) -> AsyncIterator[SqliteStore]:
    """The `DeferredBeginStore` zoo entry's factory."""
    async with _sqlite(DeferredBeginStore, location) as store:
        yield store


@contextlib.asynccontextmanager
async def process_lock_sqlite(location: str | None = None) -> AsyncIterator[SqliteStore]:
    """The `ProcessLockStore` zoo entry's factory."""
    async with _sqlite(ProcessLockStore, location) as store:
        yield store


@dataclass(frozen=True)
class Entry:
    """A zoo entry: a factory, and the checks that must catch it (those, and no others)."""

    name: str
    factory: Callable[..., Any]
    caught_by: tuple[str, ...]
    may_also: tuple[str, ...] = ()
    """Checks that legitimately catch it too, but by the luck of a race (not required)."""
    timeout: float = 1.0
    """Seconds per operation: a real database on a busy machine needs more than memory."""


ENTRIES: tuple[Entry, ...] = (
    *(
        Entry(cls.__name__, cls, cls.CAUGHT_BY, getattr(cls, "MAY_ALSO", ()))
        for cls in (
            ForgetsOnClose,
            CloseOneClosesAll,
            InstanceLocalIdIndex,
            MillisecondsElsewhere,
            CachedVersions,
            GuardCheckedOutsideTransaction,
            LocksFirstStreamOnly,
            CategoryLockedPositions,
            CategoryLocksInGivenOrder,
        )
    ),
    Entry(
        "DeferredBeginStore",
        deferred_begin_sqlite,
        ("instances.racing-appends",),
        # The races of the concurrency group run across two instances where they can; the
        # processes of instances.multi-process collide on it too, but only when the
        # scheduler lets them overlap (missed once on a loaded CI machine): its defining
        # bug is two instances, which racing-appends catches every time.
        may_also=(
            "instances.multi-process",
            "concurrency.stale-guard",
            "concurrency.multi-stream-race",
            "concurrency.opposite-order",
            # A cancelled append leaves its transaction open ("cannot start a
            # transaction within a transaction"); across two instances the other
            # races meet "database is locked".
            "concurrency.cancelled-append",
            "concurrency.duplicate-id-race",
            "concurrency.gapped-positions",
        ),
        timeout=10.0,
    ),
    Entry(
        "ProcessLockStore",
        process_lock_sqlite,
        ("instances.multi-process",),
        may_also=("concurrency.cancelled-append",),
        timeout=10.0,
    ),
)
