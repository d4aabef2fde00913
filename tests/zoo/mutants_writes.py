"""Zoo entries for appends, conditions, duplicate ids, bad input, JSON
fidelity, lifecycle: one realistic bug each (see `zoo.mutants`)."""

from __future__ import annotations

import sqlite3
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson

from harness.contract import (
    DEFAULT_BATCH_SIZE,
    AppendResult,
    DuplicateEventId,
    EventStream,
    InvalidAppend,
    NewEvent,
    RecordedEvent,
    StoreUnavailable,
    StreamState,
    StreamWrite,
    ValidatedWrite,
    check_expected_version,
    validate_batch_size,
    validate_from,
    validate_writes,
)
from zoo.base import Checked, Source, Stored
from zoo.mutants import Mutant


class IdsReservedByRejected(Mutant):
    """Puts event ids into an idempotency table (its own autocommitted statement) before
    the expected-version check, and never removes them when the append is rejected: the
    usual retry after WrongExpectedVersion (same events, fresh version) then fails
    forever with DuplicateEventId although nothing was stored."""

    CAUGHT_BY = ("append.rejected-reserves-nothing",)

    async def append(self, *writes: StreamWrite) -> AppendResult:
        self.check_open()
        checked = self.validate(writes)
        self.check_ids(checked)
        for write in checked:
            for event in write.events:
                self.ids.add(event.id)
        self.check_conditions(checked)
        return self.commit(checked)


CHUNK = 500


class ChunkedCommit(Mutant):
    """Inserts a large append in chunks of 500 rows, each its own transaction, after one
    up-front version check: the unique index on ids fires only in the chunk holding the
    duplicate, so a rejected append of 1,200 events leaves 1,000 of them written."""

    CAUGHT_BY = ("append.large-atomic",)

    async def append(self, *writes: StreamWrite) -> AppendResult:
        self.check_open()
        checked = self.validate(writes)
        self.check_conditions(checked)
        rows = [
            (w.stream_id, e, enc)
            for w in checked
            for e, enc in zip(w.events, w.encoded, strict=True)
        ]
        positions: list[int] = []
        for lo in range(0, len(rows), CHUNK):
            chunk = rows[lo : lo + CHUNK]
            for _, event, _ in chunk:
                if event.id in self.ids:
                    raise DuplicateEventId(event.id)
            for stream_id, event, (data, metadata) in chunk:
                positions.append(self.add(stream_id, event, data, metadata))
        versions = {w.stream_id: len(self.events_of(w.stream_id)) for w in checked}
        return AppendResult(versions, tuple(positions))


class LargeAppendUntyped(Mutant):
    """One multi-row INSERT per append with 8 parameters a row: beyond 4,095 events it
    passes SQLite's 32,766 host-parameter limit and the driver's raw
    sqlite3.OperationalError reaches the caller."""

    CAUGHT_BY = ("append.large-atomic",)

    def validate(self, writes: Sequence[StreamWrite]) -> list[Checked]:
        checked = super().validate(writes)
        if 8 * sum(len(w.events) for w in checked) > 32766:
            raise sqlite3.OperationalError("too many SQL variables")
        return checked


class DupIdLeakedLoopVar(Mutant):
    """Checks stored ids in bulk after the loop that collected them, and raises
    ``DuplicateEventId(event.id)`` with the loop variable left over from it: the error
    names the append's last event, not the duplicate."""

    CAUGHT_BY = ("append.duplicate-event-id",)

    def check_ids(self, checked: Sequence[Checked]) -> None:
        ids: set[uuid.UUID] = set()
        event: NewEvent | None = None
        for write in checked:
            for event in write.events:
                ids.add(event.id)
        if ids & self.ids and event is not None:
            raise DuplicateEventId(event.id)


class DupWithinOneWrite(Mutant):
    """Compares ids across the writes of an append, one set per write: a set built from
    one write swallows its own repeats, so an id twice in one StreamWrite is stored
    twice."""

    CAUGHT_BY = ("append.duplicate-event-id",)

    def validate(self, writes: Sequence[StreamWrite]) -> list[Checked]:
        out: list[Checked] = []
        seen: set[uuid.UUID] = set()
        for write in writes:
            if not isinstance(write, StreamWrite):
                return super().validate(writes)
            events = list(write.events)
            ids = {e.id for e in events if isinstance(e, NewEvent)}
            if ids & seen:
                raise InvalidAppend("an event id appears twice in one append")
            seen |= ids
            unique = list({getattr(e, "id", i): e for i, e in enumerate(events)}.values())
            (one,) = validate_writes(
                [StreamWrite(write.stream_id, write.expected, unique)],
                self.capabilities.max_event_bytes,
            )
            by_id = dict(zip((e.id for e in one.events), one.encoded, strict=True))
            encoded = tuple(by_id[e.id] for e in events)
            out.append(ValidatedWrite(one.stream_id, one.expected, tuple(events), encoded))
        names = [w.stream_id for w in out]
        if len(set(names)) != len(names):
            raise InvalidAppend("a stream is named twice in one append")
        return out


WINDOW = 1000


class DedupWindow(Mutant):
    """Declares unique_event_ids but deduplicates with an LRU cache of the last 1,000 ids
    (an "idempotency window") instead of a unique index: an id re-delivered later than
    that is stored twice."""

    CAUGHT_BY = ("append.duplicate-event-id",)

    def __init__(self) -> None:
        super().__init__()
        self.recent: OrderedDict[uuid.UUID, None] = OrderedDict()

    def check_ids(self, checked: Sequence[Checked]) -> None:
        for write in checked:
            for event in write.events:
                if event.id in self.recent:
                    raise DuplicateEventId(event.id)

    def add(self, stream_id: str, event: NewEvent, data: bytes, metadata: bytes) -> int:
        position = super().add(stream_id, event, data, metadata)
        self.recent[event.id] = None
        if len(self.recent) > WINDOW:
            self.recent.popitem(last=False)
        return position


class GuardsCollapsed(Mutant):
    """Splits an append into event-carrying writes and condition-only guards, keeps the
    guards in a dict keyed by stream id and looks for a stream named twice only among
    the writes with events: two guards on one stream are not refused, the first is
    silently dropped."""

    CAUGHT_BY = ("append.stream-named-twice",)

    def validate(self, writes: Sequence[StreamWrite]) -> list[Checked]:
        if not all(isinstance(w, StreamWrite) for w in writes):
            return super().validate(writes)
        guards = {w.stream_id: w for w in writes if not w.events}
        kept = [w for w in writes if w.events or guards[w.stream_id] is w]
        return validate_writes(kept, self.capabilities.max_event_bytes)


class ConditionsUnvalidated(Mutant):
    """Validates only the writes it builds rows for: a condition-only write's stream id
    and expected version are never checked, so a guard on an invalid id reads as a
    missing stream and ``expected=True`` passes as 1."""

    CAUGHT_BY = ("append.invalid-expected-version", "input.invalid-stream-ids")

    def validate(self, writes: Sequence[StreamWrite]) -> list[Checked]:
        with_events = [w for w in writes if not isinstance(w, StreamWrite) or w.events]
        checked = iter(validate_writes(with_events, self.capabilities.max_event_bytes))
        names = [repr(getattr(w, "stream_id", None)) for w in writes]
        if len(set(names)) != len(names):
            raise InvalidAppend("a stream is named twice in one append")
        out: list[Checked] = []
        for w in writes:
            if isinstance(w, StreamWrite) and not w.events:
                out.append(ValidatedWrite(w.stream_id, w.expected, (), ()))
            else:
                out.append(next(checked))
        return out

    def check_conditions(self, checked: Sequence[Checked]) -> None:
        for write in checked:
            actual = len(self.streams.get(write.stream_id, []))
            check_expected_version(write.stream_id, write.expected, actual)


class HugeExpectedOverflow(Mutant):
    """Validates expected versions itself (any int >= 0, as the contract once allowed)
    and binds them as a BIGINT parameter: above 2**63 - 1 the driver's OverflowError
    ("Python int too large to convert to SQLite INTEGER") reaches the caller."""

    CAUGHT_BY = ("append.huge-expected-version",)

    def validate(self, writes: Sequence[StreamWrite]) -> list[Checked]:
        huge = {
            w.stream_id: w.expected
            for w in writes
            if isinstance(w, StreamWrite)
            and isinstance(w.expected, int)
            and not isinstance(w.expected, bool)
            and w.expected > 2**63 - 1
        }
        relaxed = [
            StreamWrite(w.stream_id, StreamState.ANY, w.events)
            if isinstance(w, StreamWrite) and w.stream_id in huge
            else w
            for w in writes
        ]
        return [
            ValidatedWrite(c.stream_id, huge.get(c.stream_id, c.expected), c.events, c.encoded)
            for c in super().validate(relaxed)
        ]

    def check_conditions(self, checked: Sequence[Checked]) -> None:
        for write in checked:
            if isinstance(write.expected, int) and write.expected >= 2**63:
                raise OverflowError("Python int too large to convert to SQLite INTEGER")
        super().check_conditions(checked)


class ClosedAppendOutbox(Mutant):
    """Appends through an outbox a flusher drains: on a closed store the flusher raises
    StoreUnavailable to the caller but leaves the rows queued, and open() drains them,
    so an append the caller was told failed appears after reopening."""

    CAUGHT_BY = ("store.close-and-reopen",)

    def __init__(self) -> None:
        super().__init__()
        self.outbox: list[list[Checked]] = []

    async def open(self) -> None:
        await super().open()
        while self.outbox:
            self.commit(self.outbox.pop(0))

    async def append(self, *writes: StreamWrite) -> AppendResult:
        checked = self.validate(writes)
        if self.closed:
            self.outbox.append(checked)
            raise StoreUnavailable("closed: the append could not be flushed")
        self.check_conditions(checked)
        self.check_ids(checked)
        return self.commit(checked)


class ClosedStreamedReadEmpty(Mutant):
    """The streaming path guards with ``if self._pool is None: return`` (to make a
    generator "safe" after close), while collect(), append and stream_version check
    properly: ``async for`` over a closed store sees an empty stream."""

    CAUGHT_BY = ("store.close-and-reopen",)

    async def batches(
        self, source: Source, start: int, size: int
    ) -> AsyncIterator[Sequence[RecordedEvent]]:
        if self.closed:
            return
        async for batch in super().batches(source, start, size):
            yield batch


def _int64_or_float(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _int64_or_float(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_int64_or_float(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and value >= 2**63:
        return float(value)
    return value


class U64IntsBecomeFloats(Mutant):
    """Parses JSON numbers through a signed int64 and falls back to a double on
    overflow (SQLite's JSON functions, many C JSON libraries): 2**64 - 1 comes back as
    1.8446744073709552e19."""

    CAUGHT_BY = ("input.json-fidelity",)

    def decode(self, raw: bytes) -> Any:
        return _int64_or_float(orjson.loads(raw))


class DollarMetadataStripped(Mutant):
    """Keeps its own bookkeeping in metadata under '$' keys (as EventStoreDB reserves
    '$correlationId') and strips every '$' key on read, the user's own ones too."""

    CAUGHT_BY = ("input.json-fidelity",)

    def recorded(self, stored: Stored) -> RecordedEvent:
        event = super().recorded(stored)
        metadata = {k: v for k, v in event.metadata.items() if not k.startswith("$")}
        return RecordedEvent(
            event.stream_id,
            event.stream_version,
            event.position,
            event.type,
            event.data,
            metadata,
            event.id,
            event.recorded_at,
        )


class DriverError(RuntimeError):
    """A database driver's own error, not an EventStoreError."""


def _depth(value: Any) -> int:
    depth = 0
    level = [value]
    while level:
        nested = [v for x in level if isinstance(x, dict | list) for v in _children(x)]
        if not any(isinstance(x, dict | list) for x in level):
            break
        depth += 1
        level = nested
    return depth


def _children(value: dict[str, Any] | list[Any]) -> list[Any]:
    return list(value.values()) if isinstance(value, dict) else list(value)


class DepthLimitUntyped(Mutant):
    """Its JSON column refuses documents nested deeper than 100 levels (MySQL's JSON
    type: "The JSON document exceeds the maximum depth") and the driver's error reaches
    the caller instead of InvalidEvent."""

    CAUGHT_BY = ("input.deep-nesting",)

    def validate(self, writes: Sequence[StreamWrite]) -> list[Checked]:
        checked = super().validate(writes)
        for write in checked:
            for event in write.events:
                if _depth(event.data) > 100 or _depth(event.metadata) > 100:
                    raise DriverError("(3157) The JSON document exceeds the maximum depth")
        return checked


def _jsonb(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonb(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonb(v) for v in value]
    if isinstance(value, float):
        if value == 0:
            return 0.0
        if value.is_integer() and 1e16 <= abs(value) < 2**64:
            return int(value)
    return value


class ReadAllFromJsonbColumn(Mutant):
    """read_stream decodes the event's ``json`` text column, but read_all (the
    projection feed) reads a ``jsonb`` copy kept for querying, whose numbers are
    normalized (1e16 -> 10000000000000000, -0.0 -> 0.0): projections see other data
    than aggregates for the same event."""

    CAUGHT_BY = ("input.json-fidelity",)

    def _jsonb_recorded(self, stored: Stored) -> RecordedEvent:
        event = super().recorded(stored)
        return RecordedEvent(
            event.stream_id,
            event.stream_version,
            event.position,
            event.type,
            _jsonb(event.data),
            _jsonb(event.metadata),
            event.id,
            event.recorded_at,
        )

    def read_all(self, *, after_position: int = 0, batch_size: int | None = None) -> EventStream:
        after = validate_from(after_position, "after_position")
        size = validate_batch_size(batch_size, DEFAULT_BATCH_SIZE)
        log = self.log
        start = self.all_start(log, after)

        async def batches() -> AsyncIterator[Sequence[RecordedEvent]]:
            async for batch in self.batches(lambda: log, start, size):
                yield [self._jsonb_recorded(log[e.position - 1]) for e in batch]

        async def collect() -> list[RecordedEvent]:
            rows = await self.collect(lambda: log, start)
            return [self._jsonb_recorded(log[e.position - 1]) for e in rows]

        return EventStream(batches, collect)
