"""The zoo: stores with one realistic bug each, and the checks that must catch them.

Each class changes one step of `ZooStore`; its docstring says what real bug it
stands for. ``CAUGHT_BY`` names the check ids expected to fail (at least one of them
must, for the entry to count as caught).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import unicodedata
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson

from harness.contract import (
    DEFAULT_BATCH_SIZE,
    AppendResult,
    Capabilities,
    EventStream,
    NewEvent,
    ReadInterrupted,
    RecordedEvent,
    StreamWrite,
    WrongExpectedVersion,
    check_expected_version,
    validate_writes,
)
from zoo.base import Checked, Source, Stored, ZooStore


class Mutant(ZooStore):
    CAUGHT_BY: ClassVar[tuple[str, ...]] = ()
    ONLY_CAUGHT_BY: ClassVar[bool] = False
    """True: no check outside CAUGHT_BY may fail (the model-based test aside)."""


class BatchOffByOne(Mutant):
    """Keyset paging that resumes at ``version >= last`` instead of ``> last``: the event
    at every batch boundary is read twice."""

    CAUGHT_BY = ("read.batch-boundaries",)

    async def batches(
        self, source: Source, start: int, size: int
    ) -> AsyncIterator[Sequence[RecordedEvent]]:
        events = source()
        end = len(events)
        lo = start
        async with self.pool.connection():
            while lo < end:
                await self.fetch_pause()
                batch = events[lo : min(lo + size, end)]
                yield [self.recorded(e) for e in batch]
                lo += max(len(batch) - 1, 1) if len(batch) > 1 else 1


class LastBatchDropped(Mutant):
    """Pages until a batch comes back short, but only yields full pages: a stream whose
    length is not a multiple of the batch size loses its tail."""

    CAUGHT_BY = ("read.batch-boundaries",)

    async def batches(
        self, source: Source, start: int, size: int
    ) -> AsyncIterator[Sequence[RecordedEvent]]:
        events = source()
        end = len(events)
        async with self.pool.connection():
            for lo in range(start, end, size):
                await self.fetch_pause()
                batch = events[lo : min(lo + size, end)]
                if len(batch) < size:
                    return
                yield [self.recorded(e) for e in batch]


class EmptyWriteUnchecked(Mutant):
    """Skips writes with no events altogether ("nothing to insert"), so their
    conditions are never checked."""

    CAUGHT_BY = ("append.condition-only",)

    def check_conditions(self, checked: Sequence[Checked]) -> None:
        super().check_conditions([w for w in checked if w.events])


class NonAtomicMultiStream(Mutant):
    """Checks and writes stream by stream (one statement each, no transaction): when a
    later condition fails, the earlier streams are already written."""

    CAUGHT_BY = ("append.multi-stream-atomic", "concurrency.transfers")

    async def append(self, *writes: StreamWrite) -> AppendResult:
        self.check_open()
        checked = self.validate(writes)
        self.check_ids(checked)
        positions: list[int] = []
        versions: dict[str, int] = {}
        for write in checked:
            check_expected_version(
                write.stream_id, write.expected, len(self.events_of(write.stream_id))
            )
            for event, (data, metadata) in zip(write.events, write.encoded, strict=True):
                positions.append(self.add(write.stream_id, event, data, metadata))
            versions[write.stream_id] = len(self.events_of(write.stream_id))
            await asyncio.sleep(0)
        return AppendResult(versions, tuple(positions))


class NoSnapshot(Mutant):
    """Pages with a fresh query per batch and no snapshot: a streamed read includes
    events appended after it began."""

    CAUGHT_BY = ("read.snapshot",)

    async def batches(
        self, source: Source, start: int, size: int
    ) -> AsyncIterator[Sequence[RecordedEvent]]:
        lo = start
        async with self.pool.connection():
            while lo < len(source()):
                await self.fetch_pause()
                batch = source()[lo : lo + size]
                yield [self.recorded(e) for e in batch]
                lo += len(batch)


class SwallowedError(Mutant):
    """Treats a lost connection mid-read as the end of the data: the read ends early in
    silence."""

    CAUGHT_BY = ("faults.cut-read-stream", "faults.cut-read-all")

    async def batches(
        self, source: Source, start: int, size: int
    ) -> AsyncIterator[Sequence[RecordedEvent]]:
        try:
            async for batch in super().batches(source, start, size):
                yield batch
        except ReadInterrupted:
            return


class LeakedConnection(Mutant):
    """Gives its connection back only when a read runs to its end: every read left
    early (break, exception, cancellation) leaks one."""

    CAUGHT_BY = (
        "resources.abandon-by-break",
        "resources.abandon-by-exception",
        "resources.abandon-by-cancellation",
    )

    async def batches(
        self, source: Source, start: int, size: int
    ) -> AsyncIterator[Sequence[RecordedEvent]]:
        events = source()
        end = len(events)
        await self.pool.acquire()
        for lo in range(start, end, size):
            await self.fetch_pause()
            yield [self.recorded(e) for e in events[lo : min(lo + size, end)]]
        self.pool.release()


class CancelLeak(Mutant):
    """Takes a connection per fetch without try/finally: a task cancelled during a fetch
    never gives it back (breaks and exceptions between fetches are fine)."""

    CAUGHT_BY = ("resources.abandon-by-cancellation",)

    async def batches(
        self, source: Source, start: int, size: int
    ) -> AsyncIterator[Sequence[RecordedEvent]]:
        events = source()
        end = len(events)
        for lo in range(start, end, size):
            await self.pool.acquire()
            await self.fetch_pause()
            batch = [self.recorded(e) for e in events[lo : min(lo + size, end)]]
            self.pool.release()
            yield batch


class ReadAllSkipsLateCommits(Mutant):
    """Takes positions from a sequence before the transaction commits: a transaction
    that commits after a later position became visible is skipped by catch-up readers
    (``WHERE position > last_seen``)."""

    CAUGHT_BY = ("concurrency.catch-up-reader",)

    def __init__(self) -> None:
        super().__init__()
        self.next_position = 0
        self.rng = random.Random(7)

    async def append(self, *writes: StreamWrite) -> AppendResult:
        self.check_open()
        checked = self.validate(writes)
        self.check_conditions(checked)
        self.check_ids(checked)
        count = sum(len(w.events) for w in checked)
        first = self.next_position + 1
        self.next_position += count
        # The commit takes a while; other appends may commit meanwhile.
        for _ in range(self.rng.randint(0, 3)):
            await asyncio.sleep(0)
        self.check_conditions(checked)
        positions = iter(range(first, first + count))
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

    def read_all(self, *, after_position: int = 0, batch_size: int | None = None) -> EventStream:
        # A snapshot copy: the log is inserted into, not only appended to.
        from harness.contract import DEFAULT_BATCH_SIZE, validate_batch_size, validate_from

        after = validate_from(after_position, "after_position")
        size = validate_batch_size(batch_size, DEFAULT_BATCH_SIZE)

        def source() -> list[Stored]:
            return [e for e in self.log if e.position > after]

        return self.make_stream(source, 0, size)


class CaseInsensitiveIds(Mutant):
    """Keys streams by a case-folded id (a case-insensitive collation)."""

    CAUGHT_BY = ("read.exact-stream-ids",)

    def key(self, stream_id: str) -> str:
        return stream_id.casefold()


class NormalizedIds(Mutant):
    """Normalizes stream ids to NFC before storing them (a "helpful" cleanup)."""

    CAUGHT_BY = ("read.exact-stream-ids",)

    def key(self, stream_id: str) -> str:
        return unicodedata.normalize("NFC", stream_id)


class LikePatternIds(Mutant):
    """Finds a stream with ``WHERE stream_id LIKE ?``: ``%`` and ``_`` in an id match
    other streams."""

    CAUGHT_BY = ("input.metacharacters",)

    def events_of(self, stream_id: str) -> list[Stored]:
        import re

        pattern = "".join(
            ".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in stream_id
        )
        matcher = re.compile(pattern, re.DOTALL)
        found = [e for e in self.log if matcher.fullmatch(e.stream_id)]
        return (
            found
            if any(e.stream_id != stream_id for e in found)
            else self.streams.get(stream_id, [])
        )


class LostUpdate(Mutant):
    """Reads the version, awaits the database, then inserts without re-checking (no
    unique constraint on (stream, version)): concurrent writers both succeed."""

    CAUGHT_BY = ("concurrency.one-stream-writers",)

    async def append(self, *writes: StreamWrite) -> AppendResult:
        self.check_open()
        checked = self.validate(writes)
        self.check_conditions(checked)
        self.check_ids(checked)
        await asyncio.sleep(0)
        return self.commit(checked)


class FromVersionInclusive(Mutant):
    """``WHERE version >= from_version``: resuming repeats the last event seen."""

    CAUGHT_BY = ("read.from-version",)

    def stream_start(self, from_version: int) -> int:
        return max(from_version - 1, 0)


class ReadAllInclusive(Mutant):
    """``WHERE position >= after_position``: resuming read_all repeats an event."""

    CAUGHT_BY = ("read.all-resume",)

    def all_start(self, log: list[Stored], after_position: int) -> int:
        return max(super().all_start(log, after_position) - 1, 0) if after_position else 0


class NulTruncated(Mutant):
    """Passes strings to a C API that stops at NUL, while declaring nul_in_strings."""

    CAUGHT_BY = ("input.nul",)

    def encode(self, raw: bytes) -> bytes:
        return orjson.dumps(_map_strings(orjson.loads(raw), lambda s: s.split("\x00")[0]))


class AstralMangled(Mutant):
    """Stores text in a 3-byte UTF-8 column (MySQL's utf8mb3): characters outside the
    Basic Multilingual Plane become U+FFFD."""

    CAUGHT_BY = ("input.unicode",)

    def encode(self, raw: bytes) -> bytes:
        return orjson.dumps(
            _map_strings(
                orjson.loads(raw), lambda s: "".join(c if ord(c) <= 0xFFFF else "\ufffd" for c in s)
            )
        )


class BoolAsInt(Mutant):
    """Stores JSON booleans in an integer-typed column: true reads back as 1."""

    CAUGHT_BY = ("input.json-fidelity",)

    def decode(self, raw: bytes) -> Any:
        return _map_values(orjson.loads(raw), lambda v: int(v) if isinstance(v, bool) else v)


class WrongActualInError(Mutant):
    """Reports the expected version as the actual one in WrongExpectedVersion."""

    CAUGHT_BY = ("append.error-details",)

    def check_conditions(self, checked: Sequence[Checked]) -> None:
        try:
            super().check_conditions(checked)
        except WrongExpectedVersion as exc:
            actual = exc.expected if isinstance(exc.expected, int) else -1
            raise WrongExpectedVersion(exc.stream_id, exc.expected, actual) from None


class ConditionStreamsNotReported(Mutant):
    """Leaves streams with no events out of AppendResult.versions."""

    CAUGHT_BY = ("append.result", "append.condition-only", "append.empty")

    def commit(self, checked: Sequence[Checked]) -> AppendResult:
        result = super().commit(checked)
        kept = {w.stream_id: result.versions[w.stream_id] for w in checked if w.events}
        return AppendResult(kept, result.positions)


class DuplicateIdAccepted(Mutant):
    """Has no unique index on event ids."""

    CAUGHT_BY = ("append.duplicate-event-id",)

    def check_ids(self, checked: Sequence[Checked]) -> None:
        return None


class ValidatesAsItWrites(Mutant):
    """Validates each write just before writing it, so a bad event in the second
    stream leaves the first one written."""

    CAUGHT_BY = ("input.not-json", "input.invalid-stream-ids", "input.invalid-event")

    async def append(self, *writes: StreamWrite) -> AppendResult:
        self.check_open()
        positions: list[int] = []
        versions: dict[str, int] = {}
        for write in writes:
            (checked,) = validate_writes([write], self.capabilities.max_event_bytes)
            self.check_conditions([checked])
            self.check_ids([checked])
            result = self.commit([checked])
            positions.extend(result.positions)
            versions.update(result.versions)
        return AppendResult(versions, tuple(positions))


class ClosedStoreStillWorks(Mutant):
    """aclose() does nothing: a closed store keeps answering."""

    CAUGHT_BY = ("store.close-and-reopen",)

    async def aclose(self) -> None:
        return None


class SharedMutableData(Mutant):
    """Keeps (and returns) the caller's dicts instead of copies: mutating appended or
    read data changes the store."""

    CAUGHT_BY = ("read.stored-data-is-immutable",)

    def add(self, stream_id: str, event: NewEvent, data: bytes, metadata: bytes) -> int:
        position = super().add(stream_id, event, data, metadata)
        self.objects = getattr(self, "objects", {})
        self.objects[event.id] = (event.data, event.metadata)
        return position

    def recorded(self, stored: Stored) -> RecordedEvent:
        data, metadata = self.objects[stored.id]
        return RecordedEvent(
            stored.stream_id,
            stored.stream_version,
            stored.position,
            stored.type,
            data,
            metadata,
            stored.id,
            stored.recorded_at,
        )


class CollectIgnoresFromVersion(Mutant):
    """The collected read (a separate query) forgets the from_version filter."""

    CAUGHT_BY = ("read.from-version", "read.streamed-equals-collected")

    async def collect(self, source: Source, start: int) -> list[RecordedEvent]:
        return await super().collect(source, 0)


class UntypedSizeError(Mutant):
    """Declares the default 8 MiB limit but its driver refuses rows over 1 MiB with
    its own error instead of InvalidEvent."""

    CAUGHT_BY = ("input.large-payload", "input.size-limit")

    def encode(self, raw: bytes) -> bytes:
        if len(raw) > 1024 * 1024:
            raise RuntimeError("packet bigger than 'max_allowed_packet' bytes")
        return raw


class ReusableStream(Mutant):
    """Returns its own re-iterable list-backed stream instead of an EventStream: a read
    can be consumed twice, silently re-running the query."""

    CAUGHT_BY = ("read.single-use",)

    def make_stream(self, source: Source, start: int, size: int) -> EventStream:
        return _ListStream(self, source, start)  # type: ignore[return-value]


class _ListStream:
    def __init__(self, store: ZooStore, source: Source, start: int) -> None:
        self._store, self._source, self._start = store, source, start
        self._events: list[RecordedEvent] | None = None

    def _load(self) -> list[RecordedEvent]:
        if self._events is None:
            self._events = [self._store.recorded(e) for e in self._source()[self._start :]]
        return self._events

    async def __aenter__(self) -> _ListStream:
        self._load()
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __aiter__(self) -> AsyncIterator[RecordedEvent]:
        async def gen() -> AsyncIterator[RecordedEvent]:
            for event in self._load():
                yield event

        return gen()

    async def batches(self) -> AsyncIterator[Sequence[RecordedEvent]]:
        events = self._load()
        if events:
            yield events

    async def collect(self) -> list[RecordedEvent]:
        return list(self._load())

    async def aclose(self) -> None:
        return None


class SmallerRealLimit(Mutant):
    """Declares max_event_bytes of 2 MiB but accepts anything: the declared limit is
    not enforced."""

    CAUGHT_BY = ("input.size-limit",)

    @property
    def capabilities(self) -> Capabilities:
        return dataclasses.replace(super().capabilities, max_event_bytes=2 * 1024 * 1024)

    def validate(self, writes: Sequence[StreamWrite]) -> list[Checked]:
        return validate_writes(writes, 64 * 1024 * 1024)


class CollectsThenYields(Mutant):
    """A "streamed" read that awaits the whole collected read, then yields from the list:
    the same events, none of the streaming. (Holding no connection while it yields, it
    also goes on to its end after a cut: the fault checks see that nothing was cut.)"""

    CAUGHT_BY = (
        "streaming.read-stream",
        "streaming.read-all",
        "faults.cut-read-stream",
        "faults.cut-read-all",
        "faults.cut-idle",
        "streaming.loop-turns",
    )
    ONLY_CAUGHT_BY = True

    async def batches(
        self, source: Source, start: int, size: int
    ) -> AsyncIterator[Sequence[RecordedEvent]]:
        events = await self.collect(source, start)
        for lo in range(0, len(events), size):
            yield events[lo : lo + size]


class KeepsDecodedEvents(Mutant):
    """Fetches and yields batch by batch, but keeps every decoded event in a list until
    the read ends (a "cache" of what was read): memory grows with the stream."""

    CAUGHT_BY = ("streaming.read-stream", "streaming.read-all")
    ONLY_CAUGHT_BY = True

    async def batches(
        self, source: Source, start: int, size: int
    ) -> AsyncIterator[Sequence[RecordedEvent]]:
        kept: list[RecordedEvent] = []
        async for batch in super().batches(source, start, size):
            kept.extend(batch)
            yield batch
        del kept


class HoldsTheLoop(Mutant):
    """A synchronous driver under ``async def``: every batch is fetched and yielded
    without the event loop getting a turn, so a read holds every other task of the
    program from its first event to its last. Memory and results are right."""

    CAUGHT_BY = ("streaming.loop-turns",)
    ONLY_CAUGHT_BY = True

    async def fetch_pause(self) -> None:
        return None


class HoldsTheLoopInLargeBatches(HoldsTheLoop):
    """HoldsTheLoop with a default batch of 10,000 events: two batches are the whole
    read, so the loop check must judge it at a smaller batch_size, as the streaming
    checks do."""

    CAUGHT_BY = ("streaming.loop-turns",)
    ONLY_CAUGHT_BY = True

    async def batches(
        self, source: Source, start: int, size: int
    ) -> AsyncIterator[Sequence[RecordedEvent]]:
        size = 10_000 if size == DEFAULT_BATCH_SIZE else size
        async for batch in super().batches(source, start, size):
            yield batch


class BuffersInAThread(Mutant):
    """Wraps a synchronous driver with ``asyncio.to_thread`` and fetches every row in the
    worker thread before yielding the first: memory the streaming checks must see even
    though another thread allocates it. (Like CollectsThenYields, a cut finds nothing
    in flight.)"""

    CAUGHT_BY = (
        "streaming.read-stream",
        "streaming.read-all",
        "faults.cut-read-stream",
        "faults.cut-read-all",
        "faults.cut-idle",
        "streaming.loop-turns",
    )
    ONLY_CAUGHT_BY = True

    async def batches(
        self, source: Source, start: int, size: int
    ) -> AsyncIterator[Sequence[RecordedEvent]]:
        self.check_open()
        events = source()

        def fetch_all() -> list[RecordedEvent]:
            return [self.recorded(e) for e in events[start:]]

        rows = await asyncio.to_thread(fetch_all)
        while rows:
            batch, rows = rows[:size], rows[size:]
            yield batch


class NaiveLocalTime(Mutant):
    """Stamps events with ``datetime.now()``: naive local time, which reads as another
    moment wherever the clock is not on UTC."""

    CAUGHT_BY = ("append.recorded-at",)
    ONLY_CAUGHT_BY = True

    def add(self, stream_id: str, event: NewEvent, data: bytes, metadata: bytes) -> int:
        position = super().add(stream_id, event, data, metadata)
        stored = self.log[-1]
        naive = dataclasses.replace(stored, recorded_at=datetime.now())
        self.log[-1] = naive
        self.streams[self.key(stream_id)][-1] = naive
        return position


class StampedOnRead(Mutant):
    """Fills recorded_at when an event is read (a column default applied on SELECT, a
    decoder calling now()): each read gives the same event another time."""

    CAUGHT_BY = ("append.recorded-at", "read.streamed-equals-collected")
    ONLY_CAUGHT_BY = True

    def recorded(self, stored: Stored) -> RecordedEvent:
        return dataclasses.replace(super().recorded(stored), recorded_at=datetime.now(UTC))


class CutDoesNothing(Mutant):
    """Offers cut_connections() but closes nothing (it resets a pool object the reads
    never use), so the fault checks would test no fault at all."""

    CAUGHT_BY = ("faults.cut-read-stream", "faults.cut-read-all", "faults.cut-idle")
    ONLY_CAUGHT_BY = True

    async def cut_connections(self) -> None:
        return None


def _like(pattern: str, text: str) -> bool:
    """SQL ``text LIKE pattern`` with no ESCAPE clause."""
    import re

    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


class LikeStreamVersion(Mutant):
    """Reads and appends match ids exactly, but ``stream_version`` runs its own query,
    ``SELECT max(version) ... WHERE stream_id LIKE ?``: 'a_c' answers with 'abc''s
    version. With every look-alike one event long, the answer was right by luck."""

    CAUGHT_BY = ("input.metacharacters", "read.exact-stream-ids")
    ONLY_CAUGHT_BY = True

    async def stream_version(self, stream_id: str) -> int:
        exact = await super().stream_version(stream_id)
        others = [len(v) for k, v in self.streams.items() if _like(stream_id, k)]
        return max([exact, *others])


class LikeConditions(Mutant):
    """Checks expected versions against ``count(*) ... WHERE stream_id LIKE ?`` (reads and
    stream_version are exact): an append to 'a_c' is judged by 'abc''s events too."""

    CAUGHT_BY = ("input.metacharacters", "read.exact-stream-ids")
    ONLY_CAUGHT_BY = True

    def check_conditions(self, checked: Sequence[Checked]) -> None:
        for write in checked:
            count = sum(len(v) for k, v in self.streams.items() if _like(write.stream_id, k))
            check_expected_version(write.stream_id, write.expected, count)


class CaseFoldedStreamVersion(Mutant):
    """``stream_version`` compares ids case-insensitively (``lower(stream_id) = lower(?)``)
    and returns the largest match; everything else is exact."""

    CAUGHT_BY = ("read.exact-stream-ids",)
    ONLY_CAUGHT_BY = True

    async def stream_version(self, stream_id: str) -> int:
        exact = await super().stream_version(stream_id)
        key = stream_id.casefold()
        return max([exact, *(len(v) for k, v in self.streams.items() if k.casefold() == key)])


class NormalizedStreamVersion(Mutant):
    """``stream_version`` looks ids up after NFC normalization; everything else is exact."""

    CAUGHT_BY = ("read.exact-stream-ids",)
    ONLY_CAUGHT_BY = True

    async def stream_version(self, stream_id: str) -> int:
        exact = await super().stream_version(stream_id)
        key = unicodedata.normalize("NFC", stream_id)
        others = (len(v) for k, v in self.streams.items() if unicodedata.normalize("NFC", k) == key)
        return max([exact, *others])


class BinaryJsonNumbers(Mutant):
    """Keeps data in a binary JSON column whose numbers are normalized: an integral float
    that fits 64 bits comes back as an integer (1e16 -> 10000000000000000) and -0.0 as
    0.0. Everything that is not such a number round-trips."""

    CAUGHT_BY = ("input.json-fidelity",)
    ONLY_CAUGHT_BY = True

    def decode(self, raw: bytes) -> Any:
        def normalize(value: Any) -> Any:
            if isinstance(value, float):
                if value == 0:
                    return 0.0
                if value.is_integer() and 1e16 <= abs(value) < 2**64:
                    return int(value)
            return value

        return _map_values(orjson.loads(raw), normalize)


class FifteenDigitFloats(Mutant):
    """Prints floats with ``"%.15g"`` on the way into its column (as C libraries often
    do): doubles that need 16 or 17 digits, such as 0.1 + 0.2, come back rounded."""

    CAUGHT_BY = ("input.json-fidelity",)
    ONLY_CAUGHT_BY = True

    def encode(self, raw: bytes) -> bytes:
        return orjson.dumps(
            _map_values(
                orjson.loads(raw),
                lambda v: float(f"{v:.15g}") if isinstance(v, float) else v,
            )
        )


def _map_strings(value: Any, change: Any) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {change(k): _map_strings(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v, change) for v in value]
    return value


def _map_values(value: Any, change: Any) -> Any:
    if isinstance(value, dict):
        return {k: _map_values(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_values(v, change) for v in value]
    return change(value)


def _mutants_of(namespace: dict[str, Any]) -> list[type[Mutant]]:
    return [
        cls
        for cls in namespace.values()
        if isinstance(cls, type) and issubclass(cls, Mutant) and cls is not Mutant
    ]


def _zoo() -> tuple[type[Mutant], ...]:
    """Every mutant: this module's, then those of the zoo's themed modules (which
    import `Mutant` from here, so they are imported only once it exists)."""
    from zoo import mutants_concurrency, mutants_reads, mutants_writes

    found = _mutants_of(globals())
    for module in (mutants_writes, mutants_concurrency, mutants_reads):
        found += [cls for cls in _mutants_of(vars(module)) if cls.__module__ == module.__name__]
    return tuple(dict.fromkeys(found))


ZOO: tuple[type[Mutant], ...] = _zoo()
