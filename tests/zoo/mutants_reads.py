"""Zoo entries for reads: stream ids, batch sizes, snapshots, long
streams, offsets, recorded_at: one realistic bug each (see `zoo.mutants`)."""

from __future__ import annotations

import bisect
import ctypes
import dataclasses
import heapq
import itertools
import zlib
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone

from harness.contract import (
    DEFAULT_BATCH_SIZE,
    EventStream,
    NewEvent,
    RecordedEvent,
    validate_batch_size,
    validate_from,
    validate_stream_id,
)
from zoo.base import Source, Stored
from zoo.mutants import Mutant


class PaddedVersionKeys(Mutant):
    """A key-value backend (LevelDB/RocksDB/Redis sorted set) that keys each event
    ``f"{stream_id}/{version:04d}"`` and reads a stream by a range scan of its prefix:
    a counter zero-padded to a width "never exceeded". From version 10,000 on, "10000"
    sorts between "1000" and "1001", so a stream longer than 9,999 events reads out of
    order; counts, conditions, stream_version and read_all stay right."""

    CAUGHT_BY = ("streaming.read-stream", "streaming.loop-turns")

    def __init__(self) -> None:
        super().__init__()
        self.keyed: dict[str, list[Stored]] = {}

    def add(self, stream_id: str, event: NewEvent, data: bytes, metadata: bytes) -> int:
        position = super().add(stream_id, event, data, metadata)
        bisect.insort(
            self.keyed.setdefault(stream_id, []),
            self.log[-1],
            key=lambda e: f"{e.stream_version:04d}",
        )
        return position

    def events_of(self, stream_id: str) -> list[Stored]:
        return self.keyed.get(stream_id, [])


class SnapshotOnlyForFirstPage(Mutant):
    """The first 1,000 rows of a streamed read come from the initial query, inside the
    read's snapshot (the driver prefetches them); later pages are fresh keyset queries
    in autocommit without the first query's ``version <= bound``. A stream longer than
    the prefetch that grows during the read yields events appended after it began."""

    CAUGHT_BY = ("read.snapshot-long-read",)
    ONLY_CAUGHT_BY = True
    PREFETCH = 1000

    async def batches(
        self, source: Source, start: int, size: int
    ) -> AsyncIterator[Sequence[RecordedEvent]]:
        self.check_open()
        events = source()
        end = len(events)
        generation = self.generation
        lo = start
        async with self.pool.connection():
            while True:
                await self.fetch_pause()
                self.interrupted(generation)
                if lo < start + self.PREFETCH:
                    page = events[lo : min(lo + size, end, start + self.PREFETCH)]
                else:
                    page = source()[lo : lo + size]  # a fresh query: no upper bound
                if not page:
                    return
                yield [self.recorded(e) for e in page]
                lo += len(page)


def _naive(event: RecordedEvent) -> RecordedEvent:
    return dataclasses.replace(event, recorded_at=event.recorded_at.replace(tzinfo=None))


class CatchUpQueryNaiveTime(Mutant):
    """read_all(after_position > 0), the catch-up query, is a separate hand-written
    statement selecting ``recorded_at::timestamp``: a resumed global read (how every
    projection reads) returns naive datetimes; read_all from the start and read_stream
    are aware UTC."""

    CAUGHT_BY = ("append.recorded-at",)

    def read_all(self, *, after_position: int = 0, batch_size: int | None = None) -> EventStream:
        after = validate_from(after_position, "after_position")
        if not after:
            return super().read_all(after_position=after, batch_size=batch_size)
        size = validate_batch_size(batch_size, DEFAULT_BATCH_SIZE)
        log = self.log
        start = self.all_start(log, after)

        async def batches() -> AsyncIterator[Sequence[RecordedEvent]]:
            async for batch in self.batches(lambda: log, start, size):
                yield [_naive(r) for r in batch]

        async def collect() -> list[RecordedEvent]:
            return [_naive(r) for r in await self.collect(lambda: log, start)]

        return EventStream(batches, collect)


class LocalClockLabelledUtc(Mutant):
    """Stamps events with ``datetime.now().replace(tzinfo=UTC)`` (``LOCALTIMESTAMP``
    stored in a timestamptz column under a UTC session): local wall-clock time labelled
    UTC. Invisible on a UTC machine (CI, containers); elsewhere every recorded_at is off
    by the zone's offset while still aware UTC."""

    CAUGHT_BY = ("append.recorded-at",)
    ONLY_CAUGHT_BY = True

    def add(self, stream_id: str, event: NewEvent, data: bytes, metadata: bytes) -> int:
        position = super().add(stream_id, event, data, metadata)
        stored = dataclasses.replace(self.log[-1], recorded_at=datetime.now().replace(tzinfo=UTC))
        self.log[-1] = stored
        self.streams[self.key(stream_id)][-1] = stored
        return position


class FrozenClock(Mutant):
    """recorded_at is a clock read once per session: PostgreSQL's now() (transaction
    start) on a connection that stays in one long transaction, or a "cached now" taken
    in open(). Every event gets the time the store was opened, hours stale in a
    long-running service."""

    CAUGHT_BY = ("append.recorded-at",)
    ONLY_CAUGHT_BY = True

    def __init__(self) -> None:
        super().__init__()
        self.session_now = datetime.now(UTC)

    async def open(self) -> None:
        await super().open()
        self.session_now = datetime.now(UTC)

    def add(self, stream_id: str, event: NewEvent, data: bytes, metadata: bytes) -> int:
        position = super().add(stream_id, event, data, metadata)
        stored = dataclasses.replace(self.log[-1], recorded_at=self.session_now)
        self.log[-1] = stored
        self.streams[self.key(stream_id)][-1] = stored
        return position


class CollectedReadSessionZone(Mutant):
    """The collected read_stream fetches with the driver's plain ``fetch()``, which
    gives timestamptz values in the session's zone (+01:00); the streamed path converts
    to UTC. Both name the same instant and compare equal, but the collected form's
    .date(), .hour and isoformat() are in another zone."""

    CAUGHT_BY = ("append.recorded-at",)
    ONLY_CAUGHT_BY = True
    SESSION_ZONE = timezone(timedelta(hours=1))

    async def collect(self, source: Source, start: int) -> list[RecordedEvent]:
        rows = await super().collect(source, start)
        if source() is self.log:
            return rows  # read_all has its own (converted) query
        return [
            dataclasses.replace(r, recorded_at=r.recorded_at.astimezone(self.SESSION_ZONE))
            for r in rows
        ]


class PrefixScanWithSeparator(Mutant):
    """A key-value backend that keys events ``f"{stream_id}:{version:010d}"`` in one
    ordered keyspace and reads a stream by a prefix scan of ``f"{stream_id}:"``: the
    delimiter is allowed inside ids, so reading "order" yields "order:items"'s events
    too. Appends and stream_version use an exact per-stream head, so only reads are
    wrong."""

    CAUGHT_BY = ("read.exact-stream-ids",)
    ONLY_CAUGHT_BY = True

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str] = []
        self.values: list[Stored] = []

    def add(self, stream_id: str, event: NewEvent, data: bytes, metadata: bytes) -> int:
        position = super().add(stream_id, event, data, metadata)
        stored = self.log[-1]
        key = f"{stream_id}:{stored.stream_version:010d}"
        i = bisect.bisect_left(self.keys, key)
        self.keys.insert(i, key)
        self.values.insert(i, stored)
        return position

    def read_stream(
        self, stream_id: str, *, from_version: int = 0, batch_size: int | None = None
    ) -> EventStream:
        validate_stream_id(stream_id)
        start = self.stream_start(validate_from(from_version, "from_version"))
        size = validate_batch_size(batch_size, DEFAULT_BATCH_SIZE)
        prefix = f"{stream_id}:"

        def scan() -> list[Stored]:
            lo = bisect.bisect_left(self.keys, prefix)
            hi = bisect.bisect_left(self.keys, prefix + "\U0010ffff")
            return self.values[lo:hi]

        return self.make_stream(scan, start, size)


class HashKeyedReads(Mutant):
    """read_stream filters ``WHERE stream_hash = crc32($1)`` (the indexed column) and
    forgets ``AND stream_id = $1``; appends and stream_version compare the id itself.
    Two ids with the same CRC32 ("plumless", "buckeroo"; a 50% chance among ~77,000
    streams) read each other's events."""

    CAUGHT_BY = ("read.exact-stream-ids",)
    ONLY_CAUGHT_BY = True

    def read_stream(
        self, stream_id: str, *, from_version: int = 0, batch_size: int | None = None
    ) -> EventStream:
        validate_stream_id(stream_id)
        start = self.stream_start(validate_from(from_version, "from_version"))
        size = validate_batch_size(batch_size, DEFAULT_BATCH_SIZE)
        h = zlib.crc32(stream_id.encode())

        def rows() -> list[Stored]:
            colliding = [s for s in self.streams if zlib.crc32(s.encode()) == h]
            found = (e for s in colliding for e in self.streams[s])
            return sorted(found, key=lambda e: e.position)

        return self.make_stream(rows, start, size)


class HashCodeKeyedReads(HashKeyedReads):
    """The same hash-as-key mistake with Java's ``String.hashCode`` (a JVM client's
    partition or cache key): "Aa" and "BB" read each other's events."""

    @staticmethod
    def _hash(stream_id: str) -> int:
        h = 0
        for ch in stream_id:
            h = (31 * h + ord(ch)) & 0xFFFFFFFF
        return h

    def read_stream(
        self, stream_id: str, *, from_version: int = 0, batch_size: int | None = None
    ) -> EventStream:
        validate_stream_id(stream_id)
        start = self.stream_start(validate_from(from_version, "from_version"))
        size = validate_batch_size(batch_size, DEFAULT_BATCH_SIZE)
        h = self._hash(stream_id)

        def rows() -> list[Stored]:
            colliding = [s for s in self.streams if self._hash(s) == h]
            found = (e for s in colliding for e in self.streams[s])
            return sorted(found, key=lambda e: e.position)

        return self.make_stream(rows, start, size)


class ServerPageCap(Mutant):
    """The server returns at most 1,000 rows a page (DynamoDB, Cosmos, an HTTP API),
    but the client advances its offset by the batch_size it asked for: a streamed read
    with batch_size > 1,000 skips ``batch_size - 1000`` events a page."""

    CAUGHT_BY = ("read.large-batch-sizes",)
    ONLY_CAUGHT_BY = True
    SERVER_MAX = 1000

    async def batches(
        self, source: Source, start: int, size: int
    ) -> AsyncIterator[Sequence[RecordedEvent]]:
        self.check_open()
        events = source()
        end = len(events)
        generation = self.generation
        async with self.pool.connection():
            for lo in range(start, end, size):
                await self.fetch_pause()
                self.interrupted(generation)
                hi = min(lo + min(size, self.SERVER_MAX), end)
                yield [self.recorded(e) for e in events[lo:hi]]


class ListedStreamsOnly(Mutant):
    """An object-store backend (one object per stream: S3, a directory of files) builds
    read_all by listing the stream objects with one ListObjectsV2 call and merging their
    events by position; the listing returns at most 1,000 keys and its continuation
    token is never followed. With more streams, read_all leaves out every stream after
    the 1,000th key."""

    CAUGHT_BY = ("read.all-many-streams",)
    ONLY_CAUGHT_BY = True
    LIST_LIMIT = 1000

    def _merged(self, after: int) -> Iterator[Stored]:
        listed = sorted(self.streams)[: self.LIST_LIMIT]
        heads = [(sid, len(self.streams[sid])) for sid in listed]
        iters = (itertools.islice(self.streams[sid], n) for sid, n in heads)
        for e in heapq.merge(*iters, key=lambda e: e.position):
            if e.position > after:
                yield e

    def read_all(self, *, after_position: int = 0, batch_size: int | None = None) -> EventStream:
        after = validate_from(after_position, "after_position")
        size = validate_batch_size(batch_size, DEFAULT_BATCH_SIZE)

        async def batches() -> AsyncIterator[Sequence[RecordedEvent]]:
            self.check_open()
            merged = self._merged(after)
            generation = self.generation
            async with self.pool.connection():
                while True:
                    await self.fetch_pause()
                    self.interrupted(generation)
                    page = list(itertools.islice(merged, size))
                    if not page:
                        return
                    yield [self.recorded(e) for e in page]

        async def collect() -> list[RecordedEvent]:
            self.check_open()
            merged = self._merged(after)
            async with self.pool.connection():
                await self.fetch_pause()
                return [self.recorded(e) for e in merged]

        return EventStream(batches, collect)


class Int32Offsets(Mutant):
    """read_stream and read_all bind from_version / after_position through a driver
    parameter declared as a 32-bit int: offsets of 2**31 and above wrap, so a projection
    resuming past 2**31 re-reads or skips events, and read_stream(from_version=2**32)
    returns the whole stream instead of nothing."""

    CAUGHT_BY = ("read.from-version", "read.all-resume")
    ONLY_CAUGHT_BY = True

    def stream_start(self, from_version: int) -> int:
        return max(ctypes.c_int32(from_version).value, 0)

    def all_start(self, log: list[Stored], after_position: int) -> int:
        return super().all_start(log, max(ctypes.c_int32(after_position).value, 0))
