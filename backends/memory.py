"""The in-memory reference store: complete, correct, and plain enough to be the model.

Property-based tests compare every other backend against this one, so it favours
being obviously right over being clever. It keeps each event's JSON encoded (as a
real store would) and decodes it on read, so a caller can never change stored data
by mutating what it appended or read, and so its collected and streamed reads do the
same work a database-backed store does.

It is safe to share between asyncio tasks and between threads: appends and the
snapshot taken when a read opens happen under one lock; lists are only ever
appended to, so a reader can slice below its snapshot without holding it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Self, TypeAlias

import orjson

from harness.contract import (
    DEFAULT_BATCH_SIZE,
    AppendResult,
    Capabilities,
    DuplicateEventId,
    EventStream,
    NewEvent,
    RecordedEvent,
    StoreUnavailable,
    StreamWrite,
    check_expected_version,
    validate_batch_size,
    validate_event,
    validate_from,
    validate_stream_id,
    validate_writes,
)

__all__ = ["MemoryStore", "availability", "open_store", "temporary_store"]


@dataclass(frozen=True, slots=True)
class _Stored:
    """One event as kept in memory: JSON still encoded."""

    stream_id: str
    stream_version: int
    position: int
    type: str
    data: bytes
    metadata: bytes
    id: uuid.UUID
    recorded_at: datetime

    def decode(self) -> RecordedEvent:
        return RecordedEvent(
            stream_id=self.stream_id,
            stream_version=self.stream_version,
            position=self.position,
            type=self.type,
            data=orjson.loads(self.data),
            metadata=orjson.loads(self.metadata),
            id=self.id,
            recorded_at=self.recorded_at,
        )


_Picker: TypeAlias = Callable[[], tuple[list[_Stored], int]]
"""Returns the list a read walks and its length at the moment the read opens."""


class MemoryStore:
    """An `EventStore` kept in this process's memory; gone when the process ends."""

    def __init__(self, *, default_batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self._lock = threading.Lock()
        self._streams: dict[str, list[_Stored]] = {}
        self._log: list[_Stored] = []  # position p is at index p - 1
        self._ids: set[uuid.UUID] = set()
        self._closed = False
        self._default_batch_size = validate_batch_size(default_batch_size, DEFAULT_BATCH_SIZE)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(unique_event_ids=True)

    # lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        self._closed = False

    async def aclose(self) -> None:
        self._closed = True

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

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("this MemoryStore was closed; open it again to use it")

    # writes ------------------------------------------------------------------------

    async def append(self, *writes: StreamWrite) -> AppendResult:
        self._check_open()
        checked = validate_writes(writes, self.capabilities.max_event_bytes)
        now = datetime.now(UTC)
        with self._lock:
            # Check every condition and id first: a rejected append writes nothing.
            for write in checked:
                actual = len(self._streams.get(write.stream_id, ()))
                check_expected_version(write.stream_id, write.expected, actual)
            for write in checked:
                for event in write.events:
                    if event.id in self._ids:
                        raise DuplicateEventId(event.id)
            versions: dict[str, int] = {}
            positions: list[int] = []
            for write in checked:
                for event, (data, metadata) in zip(write.events, write.encoded, strict=True):
                    positions.append(self._add(write.stream_id, event, data, metadata, now))
                versions[write.stream_id] = len(self._streams.get(write.stream_id, ()))
        return AppendResult(versions=versions, positions=tuple(positions))

    def _add(self, stream_id: str, event: NewEvent, data: bytes, meta: bytes, now: datetime) -> int:
        """Store one checked event; the caller holds the lock. Returns its position."""
        stream = self._streams.setdefault(stream_id, [])
        stored = _Stored(
            stream_id=stream_id,
            stream_version=len(stream) + 1,
            position=len(self._log) + 1,
            type=event.type,
            data=data,
            metadata=meta,
            id=event.id,
            recorded_at=now,
        )
        stream.append(stored)
        self._log.append(stored)
        self._ids.add(event.id)
        return stored.position

    async def bulk_load(self, events: Sequence[tuple[str, NewEvent]]) -> None:
        """Seed benchmark data: like `append` with ANY, event by event, in the order given."""
        self._check_open()
        max_bytes = self.capabilities.max_event_bytes
        checked = [(validate_stream_id(s), e, validate_event(e, max_bytes)) for s, e in events]
        now = datetime.now(UTC)
        with self._lock:
            for _, event, _ in checked:
                if event.id in self._ids:
                    raise DuplicateEventId(event.id)
            for stream_id, event, (data, meta) in checked:
                self._add(stream_id, event, data, meta, now)

    # reads -------------------------------------------------------------------------

    async def stream_version(self, stream_id: str) -> int:
        self._check_open()
        validate_stream_id(stream_id)
        return len(self._streams.get(stream_id, ()))

    def _read(self, pick: _Picker, start: int, batch_size: int | None) -> EventStream:
        size = validate_batch_size(batch_size, self._default_batch_size)

        async def batches() -> AsyncIterator[Sequence[RecordedEvent]]:
            self._check_open()
            source, end = pick()
            # Only a batch is copied at a time: the stream is never copied whole.
            for lo in range(start, end, size):
                if lo != start:
                    # A loop turn between batches, as a store that waits for its
                    # storage gives: without it a read held the event loop from its
                    # first event to its last (2.0 s at 1M events).
                    await asyncio.sleep(0)
                yield [stored.decode() for stored in source[lo : min(lo + size, end)]]

        async def collect() -> list[RecordedEvent]:
            self._check_open()
            source, end = pick()
            return [stored.decode() for stored in source[start:end]]

        return EventStream(batches, collect)

    def read_stream(
        self, stream_id: str, *, from_version: int = 0, batch_size: int | None = None
    ) -> EventStream:
        validate_stream_id(stream_id)
        start = validate_from(from_version, "from_version")

        def pick() -> tuple[list[_Stored], int]:
            with self._lock:
                stream = self._streams.get(stream_id, [])
                return stream, len(stream)

        return self._read(pick, start, batch_size)

    def read_all(self, *, after_position: int = 0, batch_size: int | None = None) -> EventStream:
        start = validate_from(after_position, "after_position")

        def pick() -> tuple[list[_Stored], int]:
            with self._lock:
                return self._log, len(self._log)

        return self._read(pick, start, batch_size)


def open_store(url: str = "memory://") -> MemoryStore:
    """Open a memory store from its URL (``memory://``); each call gives a new, empty store."""
    if url != "memory://":
        raise ValueError(f"a memory store's URL is 'memory://', not {url!r}")
    return MemoryStore()


@contextlib.asynccontextmanager
async def temporary_store() -> AsyncIterator[MemoryStore]:
    """A fresh, empty, open memory store (the conformance suite's factory)."""
    async with MemoryStore() as store:
        yield store


def availability() -> str | None:
    """Always available: it needs nothing but this process."""
    return None
