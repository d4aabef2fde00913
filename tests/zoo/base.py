"""A correct store written in small steps, so that each zoo entry can break exactly one.

It keeps events as encoded JSON like a real store, reads through a simulated
connection pool (so a leaked connection runs the pool dry, as it would with a
database) and pauses for a loop turn per fetch (as a network round trip would), and
it supports `cut_connections`. The zoo test runs the whole suite against it first:
every check must pass here, so a failure on a mutant is the mutant's bug.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import orjson

from harness.contract import (
    DEFAULT_BATCH_SIZE,
    AppendResult,
    Capabilities,
    DuplicateEventId,
    EventStream,
    NewEvent,
    ReadInterrupted,
    RecordedEvent,
    StoreUnavailable,
    StreamWrite,
    check_expected_version,
    validate_batch_size,
    validate_from,
    validate_stream_id,
    validate_writes,
)
from harness.contract import ValidatedWrite as Checked

POOL_SIZE = 8


@dataclass(frozen=True, slots=True)
class Stored:
    stream_id: str
    stream_version: int
    position: int
    type: str
    data: bytes
    metadata: bytes
    id: uuid.UUID
    recorded_at: datetime


class Pool:
    """Simulated connections: a read holds one from its first fetch until it is released."""

    def __init__(self, size: int = POOL_SIZE) -> None:
        self._free = asyncio.Semaphore(size)

    async def acquire(self) -> None:
        await self._free.acquire()

    def release(self) -> None:
        self._free.release()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()


Source = Callable[[], list[Stored]]


class ZooStore:
    """The unbroken base of the zoo: passes every conformance check."""

    def __init__(self) -> None:
        self.streams: dict[str, list[Stored]] = {}
        self.log: list[Stored] = []
        self.ids: set[uuid.UUID] = set()
        self.closed = False
        self.pool = Pool()
        self.generation = 0

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(unique_event_ids=True)

    # lifecycle --------------------------------------------------------------------

    async def open(self) -> None:
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True

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

    def check_open(self) -> None:
        if self.closed:
            raise StoreUnavailable("closed")

    async def cut_connections(self) -> None:
        self.generation += 1

    # steps a mutant may change --------------------------------------------------------

    def key(self, stream_id: str) -> str:
        return stream_id

    def events_of(self, stream_id: str) -> list[Stored]:
        return self.streams.get(self.key(stream_id), [])

    def validate(self, writes: Sequence[StreamWrite]) -> list[Checked]:
        return validate_writes(writes, self.capabilities.max_event_bytes)

    def check_conditions(self, checked: Sequence[Checked]) -> None:
        for write in checked:
            check_expected_version(
                write.stream_id, write.expected, len(self.events_of(write.stream_id))
            )

    def check_ids(self, checked: Sequence[Checked]) -> None:
        for write in checked:
            for event in write.events:
                if event.id in self.ids:
                    raise DuplicateEventId(event.id)

    def encode(self, raw: bytes) -> bytes:
        return raw

    def decode(self, raw: bytes) -> Any:
        return orjson.loads(raw)

    def add(self, stream_id: str, event: NewEvent, data: bytes, metadata: bytes) -> int:
        stream = self.streams.setdefault(self.key(stream_id), [])
        stored = Stored(
            stream_id,
            len(stream) + 1,
            len(self.log) + 1,
            event.type,
            self.encode(data),
            self.encode(metadata),
            event.id,
            datetime.now(UTC),
        )
        stream.append(stored)
        self.log.append(stored)
        self.ids.add(event.id)
        return stored.position

    def commit(self, checked: Sequence[Checked]) -> AppendResult:
        positions: list[int] = []
        versions: dict[str, int] = {}
        for write in checked:
            for event, (data, metadata) in zip(write.events, write.encoded, strict=True):
                positions.append(self.add(write.stream_id, event, data, metadata))
            versions[write.stream_id] = len(self.events_of(write.stream_id))
        return AppendResult(versions, tuple(positions))

    async def append(self, *writes: StreamWrite) -> AppendResult:
        self.check_open()
        checked = self.validate(writes)
        self.check_conditions(checked)
        self.check_ids(checked)
        return self.commit(checked)

    def recorded(self, stored: Stored) -> RecordedEvent:
        return RecordedEvent(
            stored.stream_id,
            stored.stream_version,
            stored.position,
            stored.type,
            self.decode(stored.data),
            self.decode(stored.metadata),
            stored.id,
            stored.recorded_at,
        )

    async def fetch_pause(self) -> None:
        await asyncio.sleep(0)

    def interrupted(self, generation: int) -> None:
        if generation != self.generation:
            raise ReadInterrupted("the connection was cut mid-read")

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
                yield [self.recorded(e) for e in events[lo : min(lo + size, end)]]

    async def collect(self, source: Source, start: int) -> list[RecordedEvent]:
        self.check_open()
        events = source()
        end = len(events)
        async with self.pool.connection():
            await self.fetch_pause()
            return [self.recorded(e) for e in events[start:end]]

    def stream_start(self, from_version: int) -> int:
        return from_version

    def all_start(self, log: list[Stored], after_position: int) -> int:
        return bisect.bisect_right(log, after_position, key=lambda e: e.position)

    def make_stream(self, source: Source, start: int, size: int) -> EventStream:
        return EventStream(
            lambda: self.batches(source, start, size), lambda: self.collect(source, start)
        )

    # the contract's reads -------------------------------------------------------------

    async def stream_version(self, stream_id: str) -> int:
        validate_stream_id(stream_id)
        self.check_open()
        return len(self.events_of(stream_id))

    def read_stream(
        self, stream_id: str, *, from_version: int = 0, batch_size: int | None = None
    ) -> EventStream:
        validate_stream_id(stream_id)
        start = self.stream_start(validate_from(from_version, "from_version"))
        size = validate_batch_size(batch_size, DEFAULT_BATCH_SIZE)
        return self.make_stream(lambda: self.events_of(stream_id), start, size)

    def read_all(self, *, after_position: int = 0, batch_size: int | None = None) -> EventStream:
        after = validate_from(after_position, "after_position")
        size = validate_batch_size(batch_size, DEFAULT_BATCH_SIZE)
        log = self.log
        return self.make_stream(lambda: log, self.all_start(log, after), size)
