"""Zoo entries for races, cancellation, connection faults and
resources: one realistic bug each (see `zoo.mutants`)."""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

from harness.contract import (
    DEFAULT_BATCH_SIZE,
    AppendResult,
    EventStream,
    ReadInterrupted,
    RecordedEvent,
    StreamWrite,
    validate_batch_size,
    validate_from,
)
from zoo.base import Checked, Source, Stored
from zoo.mutants import Mutant

# ------------------------------------------------------------------------ appends


class CancelledAppendCommitsPartial(Mutant):
    """A transaction helper that rolls back on ``except Exception`` and commits in
    ``finally`` unless it rolled back: ``asyncio.CancelledError`` (a timeout around
    append, a cancelled request handler) is a BaseException, so a cancellation between
    two INSERT round trips commits the first streams' events and drops the rest. Every
    append that runs to completion is atomic."""

    CAUGHT_BY = ("concurrency.cancelled-append",)

    def __init__(self) -> None:
        super().__init__()
        self.write_lock = asyncio.Lock()  # the write transaction: one at a time

    async def append(self, *writes: StreamWrite) -> AppendResult:
        self.check_open()
        checked = self.validate(writes)
        async with self.write_lock:
            self.check_conditions(checked)
            self.check_ids(checked)
            staged: list[Checked] = []
            rolled_back = False
            try:
                for write in checked:
                    await asyncio.sleep(0)  # INSERT ... round trip
                    staged.append(write)
            except Exception:
                rolled_back = True
                raise
            finally:
                if not rolled_back:
                    result = self.commit(staged)  # COMMIT
            return result


class DupCheckRace(Mutant):
    """Duplicate event ids checked by a SELECT before the INSERT, in a round trip of its
    own and with no unique index: two concurrent appends carrying the same event id to
    different streams (a message re-delivered to two workers, the very case idempotency
    ids exist for) both pass the check and both are stored. Version conditions are still
    checked atomically, so no race on one stream shows it."""

    CAUGHT_BY = ("concurrency.duplicate-id-race",)

    async def append(self, *writes: StreamWrite) -> AppendResult:
        self.check_open()
        checked = self.validate(writes)
        self.check_ids(checked)  # SELECT id FROM events WHERE id = ANY($1)
        await asyncio.sleep(0)  # the round trip, then BEGIN
        self.check_conditions(checked)
        return self.commit(checked)


class PositionRangePaging(Mutant):
    """Positions from a sequence consumed at insert time, so an append that loses a race
    (rejected by the unique index) burns its positions: gaps, which the contract allows.
    The streamed read_all then pages by position range (``position > $last AND position
    <= $last + $batch``) and stops at the first empty range, as if positions had no gaps:
    after a gap of batch_size positions it ends early, in silence."""

    CAUGHT_BY = ("concurrency.gapped-positions",)

    def __init__(self) -> None:
        super().__init__()
        self.sequence = 0

    async def append(self, *writes: StreamWrite) -> AppendResult:
        self.check_open()
        checked = self.validate(writes)
        self.check_conditions(checked)  # SELECT version ... (no positions used yet)
        await asyncio.sleep(0)  # the INSERT's round trip
        count = sum(len(w.events) for w in checked)
        first = self.sequence + 1
        self.sequence += count  # nextval() per row: burned if the INSERT fails
        self.check_conditions(checked)  # unique (stream_id, version)
        self.check_ids(checked)  # unique event_id
        positions = iter(range(first, first + count))
        result: list[int] = []
        versions: dict[str, int] = {}
        for write in checked:
            stream = self.streams.setdefault(write.stream_id, [])
            for event, (data, metadata) in zip(write.events, write.encoded, strict=True):
                stored = Stored(
                    write.stream_id,
                    len(stream) + 1,
                    next(positions),
                    event.type,
                    data,
                    metadata,
                    event.id,
                    datetime.now(UTC),
                )
                stream.append(stored)
                self.log.append(stored)
                self.ids.add(event.id)
                result.append(stored.position)
            versions[write.stream_id] = len(stream)
            if not stream:
                del self.streams[write.stream_id]
        return AppendResult(versions, tuple(result))

    def read_all(self, *, after_position: int = 0, batch_size: int | None = None) -> EventStream:
        after = validate_from(after_position, "after_position")
        size = validate_batch_size(batch_size, DEFAULT_BATCH_SIZE)
        log = self.log

        async def batches() -> AsyncIterator[Sequence[RecordedEvent]]:
            self.check_open()
            end = len(log)
            top = log[end - 1].position if end else 0
            generation = self.generation
            last = after
            async with self.pool.connection():
                while last < top:
                    await self.fetch_pause()
                    self.interrupted(generation)
                    lo = bisect.bisect_right(log, last, 0, end, key=lambda e: e.position)
                    hi = bisect.bisect_right(log, last + size, 0, end, key=lambda e: e.position)
                    if lo == hi:
                        return  # "no rows: we are at the end"
                    yield [self.recorded(e) for e in log[lo:hi]]
                    last = log[hi - 1].position

        return EventStream(batches, lambda: self.collect(lambda: log, self.all_start(log, after)))


# -------------------------------------------------------------------- reads, cut


class CollectSwallowsCut(Mutant):
    """The collected read fetches its rows in chunks (a driver's fetchmany loop, to
    bound a round trip) and treats a connection error in the loop as the end of the
    result (``except ConnectionError: break``): ``await read.collect()`` across a lost
    connection returns a silently shorter stream. The streamed path is correct."""

    CAUGHT_BY = ("faults.cut-any-read",)
    CHUNK = 100

    async def collect(self, source: Source, start: int) -> list[RecordedEvent]:
        self.check_open()
        events = source()
        end = len(events)
        generation = self.generation
        out: list[RecordedEvent] = []
        async with self.pool.connection():
            try:
                for lo in range(start, end, self.CHUNK):
                    await self.fetch_pause()
                    self.interrupted(generation)
                    out.extend(self.recorded(e) for e in events[lo : min(lo + self.CHUNK, end)])
            except ReadInterrupted:
                pass
        return out


class FirstFetchErrorIsEmpty(Mutant):
    """The first query of a read is wrapped in a broad ``except OperationalError:
    return`` meant for "the events table does not exist yet" (a lazily created schema
    reads as empty); a connection lost during the first fetch is an OperationalError
    too, so an existing stream reads as empty. A cut after the first batch raises
    ReadInterrupted as it must."""

    CAUGHT_BY = ("faults.cut-any-read",)

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
                if lo == start:
                    try:
                        self.interrupted(generation)
                    except ReadInterrupted:
                        return  # "no table yet: nothing to read"
                else:
                    self.interrupted(generation)
                yield [self.recorded(e) for e in events[lo : min(lo + size, end)]]


class ResumeSwallowsCut(Mutant):
    """read_stream(from_version > 0), the "tail" query written for polling subscribers,
    treats a lost connection as "caught up" and ends the read (the poller will come
    back), reused for one-shot reads: loading an aggregate from a snapshot on a flaky
    connection returns a silently short tail. A read from the start is correct."""

    CAUGHT_BY = ("faults.cut-any-read", "faults.cut-read-stream")

    def read_stream(
        self, stream_id: str, *, from_version: int = 0, batch_size: int | None = None
    ) -> EventStream:
        read = super().read_stream(stream_id, from_version=from_version, batch_size=batch_size)
        if not from_version or isinstance(from_version, bool):
            return read
        source = lambda: self.events_of(stream_id)  # noqa: E731
        size = validate_batch_size(batch_size, DEFAULT_BATCH_SIZE)

        async def tail() -> AsyncIterator[Sequence[RecordedEvent]]:
            try:
                async for batch in self.batches(source, from_version, size):
                    yield batch
            except ReadInterrupted:
                return  # caught up; the poller will come back

        return EventStream(tail, lambda: self.collect(source, from_version))


# -------------------------------------------------------------- reads, cancelled


class SwallowsCancellation(Mutant):
    """The fetch loop catches ``asyncio.CancelledError`` around each fetch and ends the
    read (``except (CancelledError, ConnectionResetError): break``, or a driver helper
    catching BaseException), releasing its connection properly: a read under
    ``asyncio.timeout()`` or a cancelled task returns a shorter stream instead of
    raising, and the caller folds a partial history."""

    CAUGHT_BY = ("resources.cancelled-reads",)

    async def batches(
        self, source: Source, start: int, size: int
    ) -> AsyncIterator[Sequence[RecordedEvent]]:
        self.check_open()
        events = source()
        end = len(events)
        generation = self.generation
        async with self.pool.connection():
            for lo in range(start, end, size):
                try:
                    await self.fetch_pause()
                except asyncio.CancelledError:
                    return
                self.interrupted(generation)
                yield [self.recorded(e) for e in events[lo : min(lo + size, end)]]


class CollectCancelLeak(Mutant):
    """The collected read takes a connection, fetches and gives it back without
    try/finally (``conn = await pool.acquire(); rows = await conn.fetch(...);
    await pool.release(conn)``): a task cancelled while a collect() fetches (a request
    timeout) never returns its connection; after a pool's worth the store hangs.
    Streamed reads are released correctly."""

    CAUGHT_BY = ("resources.cancelled-reads",)

    async def collect(self, source: Source, start: int) -> list[RecordedEvent]:
        self.check_open()
        events = source()
        end = len(events)
        await self.pool.acquire()
        await self.fetch_pause()
        rows = [self.recorded(e) for e in events[start:end]]
        self.pool.release()
        return rows


# ------------------------------------------------------------ many readers at once


class SecondConnectionPerPage(Mutant):
    """A streamed read holds one connection for its snapshot transaction and takes a
    second from the same pool to fetch each later page (nested pool acquisition): with
    as many concurrent streamed reads as the pool has connections (8 projections
    rebuilding), each holds one and waits for another, and every read deadlocks."""

    CAUGHT_BY = ("concurrency.many-readers",)

    async def batches(
        self, source: Source, start: int, size: int
    ) -> AsyncIterator[Sequence[RecordedEvent]]:
        self.check_open()
        events = source()
        end = len(events)
        generation = self.generation
        async with self.pool.connection():
            for lo in range(start, end, size):
                if lo == start:
                    await self.fetch_pause()
                else:
                    async with self.pool.connection():
                        await self.fetch_pause()
                self.interrupted(generation)
                yield [self.recorded(e) for e in events[lo : min(lo + size, end)]]
