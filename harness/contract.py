"""The EventStore contract: the one door through which eventbench talks to a store.

Everything a backend must do is written down here, once: the event types, the
expected-version rules, the stream id rules, the typed errors, and the
`EventStream` that gives every read both a streamed form (``async for``) and a
collected form (``await stream.collect()``).

This module imports no concrete store. Backends import it; it never imports them.

Numbering, in one place:

* A stream's *version* is its number of events; a new stream has version 0.
  A stream exists once it holds at least one event (there are no empty streams).
* ``RecordedEvent.stream_version`` is the stream's version once that event was
  appended: 1 for a stream's first event.
* ``read_stream(s, from_version=v)`` yields the events with ``stream_version > v``,
  i.e. it skips the first ``v`` events. Pass the version you have seen to resume.
* Global positions start at 1 and strictly increase in commit order (they need
  not be contiguous). ``read_all(after_position=p)`` yields positions ``> p``.
* Versions and positions fit a signed 64-bit integer: no store holds more than
  ``2**63 - 1`` events. An exact expected version above that (``MAX_VERSION``)
  raises `InvalidAppend` (`validate_writes` does it), so a store binding versions as
  64-bit integers never meets one it cannot bind.

Time, in one place:

* ``RecordedEvent.recorded_at`` is a timezone-aware datetime in UTC (its
  ``utcoffset()`` is zero): the moment, by the store's clock, that the append which
  wrote the event ran. It falls within that append call's wall-clock window, and
  every read (streamed, collected, after reopening) returns the same value for it.
"""

from __future__ import annotations

import contextlib
import enum
import math
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import FrozenInstanceError, dataclass, field, fields
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Protocol, Self, TypeAlias, runtime_checkable

import orjson

__all__ = [
    "ANY",
    "DEFAULT_BATCH_SIZE",
    "MAX_EVENT_TYPE_LENGTH",
    "MAX_STREAM_ID_LENGTH",
    "MAX_VERSION",
    "NO_STREAM",
    "STREAM_EXISTS",
    "AppendResult",
    "BulkLoader",
    "Capabilities",
    "DuplicateEventId",
    "EventStore",
    "EventStoreError",
    "EventStream",
    "ExpectedVersion",
    "InvalidAppend",
    "InvalidEvent",
    "InvalidStreamId",
    "JsonObject",
    "NewEvent",
    "ReadInterrupted",
    "RecordedEvent",
    "ReportsSettings",
    "StoreUnavailable",
    "StreamAlreadyConsumed",
    "StreamState",
    "StreamWrite",
    "SupportsAnalyze",
    "SupportsConnectionCut",
    "SupportsDiagnostics",
    "SupportsFloorScan",
    "SupportsPoolSize",
    "SupportsRawScan",
    "SupportsReopen",
    "ValidatedWrite",
    "WrongExpectedVersion",
    "check_expected_version",
    "encode_json",
    "new_recorded_event",
    "validate_batch_size",
    "validate_event",
    "validate_from",
    "validate_stream_id",
    "validate_writes",
]

JsonObject: TypeAlias = dict[str, Any]
"""Event data and metadata: a JSON object (str keys; values of JSON types)."""

MAX_STREAM_ID_LENGTH: Final = 255
MAX_EVENT_TYPE_LENGTH: Final = 255
DEFAULT_BATCH_SIZE: Final = 500
"""Batch size of a streamed read when the caller gives none and the backend has no
measured default of its own."""
MAX_VERSION: Final = 2**63 - 1
"""The largest exact expected version: versions and positions fit a signed 64-bit int."""

# Control characters (C0, DEL, C1) and lone surrogates cannot be stored faithfully
# by every backend (NUL ends C strings; surrogates have no UTF-8 form), so they are
# refused everywhere, up front, rather than differently by each store.
_FORBIDDEN_ID_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


# --------------------------------------------------------------------------- errors


class EventStoreError(Exception):
    """Base class of every error a store raises through the contract."""


class WrongExpectedVersion(EventStoreError):
    """An append's expected version did not hold; nothing was written anywhere."""

    def __init__(self, stream_id: str, expected: ExpectedVersion, actual: int) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"stream {stream_id!r}: expected version {describe_expected(expected)}, "
            f"actual version {actual}; nothing was written. Read the stream again and "
            "retry with its current version."
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.stream_id, self.expected, self.actual))


class InvalidStreamId(EventStoreError, ValueError):
    """A stream id breaks the contract's rules (see `validate_stream_id`)."""


class InvalidEvent(EventStoreError, ValueError):
    """An event cannot be stored: not JSON, too large, or a value the backend refuses."""


class InvalidAppend(EventStoreError, ValueError):
    """The shape of an append request is wrong (for example a stream named twice)."""


class DuplicateEventId(EventStoreError):
    """An event id is already stored (in a store declaring `Capabilities.unique_event_ids`)."""

    def __init__(self, event_id: uuid.UUID) -> None:
        self.event_id = event_id
        super().__init__(
            f"event id {event_id} is already stored; nothing was written. "
            "Give every NewEvent a fresh id (the default does)."
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.event_id,))


class StoreUnavailable(EventStoreError):
    """The store cannot be reached or was closed."""


class ReadInterrupted(EventStoreError):
    """A read lost its connection part way; the events seen so far are not the whole stream."""


class StreamAlreadyConsumed(EventStoreError, RuntimeError):
    """An `EventStream` was used twice; each read is single-use. Call read_* again."""


# --------------------------------------------------------------------------- events


def _new_event_id() -> uuid.UUID:
    return uuid.uuid4()


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append. ``data`` and ``metadata`` are JSON objects.

    They are read back equal as JSON values; the order of an object's keys is not
    promised (JSON objects are unordered, and the conformance suite compares them so).
    """

    type: str
    data: JsonObject = field(default_factory=dict)
    metadata: JsonObject = field(default_factory=dict)
    id: uuid.UUID = field(default_factory=_new_event_id)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as stored: where it is (stream, version, position) and when it was written.

    ``recorded_at`` is timezone-aware UTC, within the append call that wrote it.
    """

    stream_id: str
    stream_version: int
    position: int
    type: str
    data: JsonObject
    metadata: JsonObject
    id: uuid.UUID
    recorded_at: datetime


class _BlankRecordedEvent:
    """RecordedEvent's memory layout (its fields, in order, as slots) without its
    frozen ``__setattr__``: see `_build_by_class_swap`. Derived from RecordedEvent, so
    the two layouts cannot drift apart."""

    __slots__ = tuple(f.name for f in fields(RecordedEvent))


_new_blank = object.__new__


def _build_by_class_swap(
    a: Any, b: Any, c: Any, d: Any, e: Any, f: Any, g: Any, h: Any
) -> RecordedEvent:
    # Plain attribute stores on a slots object are the interpreter's cheapest (a
    # specialized instruction each); the finished object then becomes a RecordedEvent,
    # which CPython allows between classes of the same slots layout. From then on it is
    # an ordinary RecordedEvent: frozen, and equal to one built by the class.
    event: Any = _new_blank(_BlankRecordedEvent)
    event.stream_id = a
    event.stream_version = b
    event.position = c
    event.type = d
    event.data = e
    event.metadata = f
    event.id = g
    event.recorded_at = h
    event.__class__ = RecordedEvent
    return event  # type: ignore[no-any-return]


def _recorded_event_builder() -> Callable[..., RecordedEvent]:
    """A faster way for backends to build a `RecordedEvent` from its fields, in order.

    Decoding is the hot path of every read. A frozen dataclass's generated ``__init__``
    sets each field through ``object.__setattr__``: about 1 µs of the 2.6 µs it took
    to decode one row on PostgreSQL. Two shortcuts; the first that holds is used:

    * fields stored on a plain slots object of the same layout, whose class is then
      set to RecordedEvent (`_build_by_class_swap`): building an event went from 0.68
      to 0.43 us (``python scripts/pg_side_by_side.py decode-costs 100000``, against
      main; see backends/postgres.py);
    * fields set through RecordedEvent's own slot descriptors.

    Each is used only if it builds a RecordedEvent equal to the one the class builds,
    holding the very same field values, and still frozen; otherwise the class itself
    is used, so a change to RecordedEvent costs speed, never correctness.
    """
    cls = RecordedEvent
    names = tuple(f.name for f in fields(cls))
    if len(names) != 8 or not all(
        type(getattr(cls, n, None)).__name__ == "member_descriptor" for n in names
    ):
        return cls
    s0, s1, s2, s3, s4, s5, s6, s7 = (getattr(cls, n).__set__ for n in names)
    new = object.__new__

    def build(a: Any, b: Any, c: Any, d: Any, e: Any, f: Any, g: Any, h: Any) -> RecordedEvent:
        event = new(cls)
        s0(event, a)
        s1(event, b)
        s2(event, c)
        s3(event, d)
        s4(event, e)
        s5(event, f)
        s6(event, g)
        s7(event, h)
        return event

    sample: tuple[Any, ...] = ("s", 1, 2, "t", {"a": 1}, {}, uuid.uuid4(), datetime.now(UTC))
    reference = cls(*sample)
    for candidate in (_build_by_class_swap, build):
        try:
            built = candidate(*sample)
            same = (
                type(built) is cls
                and built == reference
                and all(getattr(built, n) is getattr(reference, n) for n in names)
            )
        except Exception:
            continue
        if same:
            try:
                built.type = "changed"  # type: ignore[misc]
            except FrozenInstanceError:
                return candidate
    return cls


new_recorded_event: Final = _recorded_event_builder()
"""``new_recorded_event(stream_id, stream_version, position, type, data, metadata, id,
recorded_at)``: the same as ``RecordedEvent(...)`` with positional fields, faster."""


class StreamState(enum.Enum):
    """The expected versions that are not an exact number."""

    ANY = "any"
    """No condition."""
    NO_STREAM = "no_stream"
    """The stream must have no events."""
    STREAM_EXISTS = "stream_exists"
    """The stream must have at least one event."""


ANY: Final = StreamState.ANY
NO_STREAM: Final = StreamState.NO_STREAM
STREAM_EXISTS: Final = StreamState.STREAM_EXISTS

ExpectedVersion: TypeAlias = int | StreamState
"""An exact version (the stream's event count; 0 for an empty or new stream) or a `StreamState`."""


def describe_expected(expected: ExpectedVersion) -> str:
    return expected.name if isinstance(expected, StreamState) else str(expected)


def check_expected_version(stream_id: str, expected: ExpectedVersion, actual: int) -> None:
    """Raise `WrongExpectedVersion` unless a stream at version ``actual`` meets ``expected``.

    Backends call this so that every store judges conditions by the same rule.
    """
    if expected is StreamState.ANY:
        return
    if expected is StreamState.NO_STREAM:
        ok = actual == 0
    elif expected is StreamState.STREAM_EXISTS:
        ok = actual > 0
    else:
        ok = actual == expected
    if not ok:
        raise WrongExpectedVersion(stream_id, expected, actual)


@dataclass(frozen=True, slots=True)
class StreamWrite:
    """One stream's part of an append: a condition and the events to add (maybe none).

    A write with no events is a pure condition: the append fails unless it holds.
    """

    stream_id: str
    expected: ExpectedVersion
    events: Sequence[NewEvent] = ()


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append did.

    ``versions`` holds every stream named in the append (conditions included) with its
    version after the append; ``positions`` holds one global position per appended
    event, in the order the events were given (streams in the order they were given).
    """

    versions: Mapping[str, int]
    positions: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Optional behaviours a backend declares; checks that need one are skipped without it."""

    persistent: bool = False
    """Events survive closing the store and opening it again at the same location."""
    multi_process: bool = False
    """Several processes may open instances at one location (see `SupportsReopen`) and
    append and read there at once, as safely as one instance."""
    max_event_bytes: int = 8 * 1024 * 1024
    """The largest encoded event (data plus metadata, in bytes) the store accepts."""
    nul_in_strings: bool = True
    """Strings containing U+0000 are stored exactly (False: refused with InvalidEvent)."""
    unique_event_ids: bool = False
    """Event ids are unique across the store: appending an id already stored raises
    `DuplicateEventId` and writes nothing. Stores that identify events only by stream
    and version (some event-sourcing libraries do) leave it False."""


# --------------------------------------------------------------------------- validation


def validate_stream_id(stream_id: object) -> str:
    """Return ``stream_id`` if it obeys the contract's rules, else raise `InvalidStreamId`.

    A stream id is a str of 1 to 255 characters, with no control characters (U+0000 to
    U+001F, U+007F to U+009F) and no lone surrogates. It is compared exactly: case,
    whitespace and Unicode normalization all count.
    """
    if not isinstance(stream_id, str):
        raise InvalidStreamId(f"a stream id must be a str, not {type(stream_id).__name__}")
    if not stream_id:
        raise InvalidStreamId("a stream id must not be empty")
    if len(stream_id) > MAX_STREAM_ID_LENGTH:
        raise InvalidStreamId(
            f"a stream id has at most {MAX_STREAM_ID_LENGTH} characters, got {len(stream_id)}"
        )
    bad = _FORBIDDEN_ID_CHARS.search(stream_id)
    if bad:
        raise InvalidStreamId(
            f"stream id {stream_id!r} contains the forbidden character "
            f"U+{ord(bad.group()):04X} (control characters and lone surrogates are refused)"
        )
    return stream_id


def _check_json(value: Any, where: str) -> None:
    # orjson turns NaN and infinities into null without a word; a store must not
    # change data silently, so they are refused here before encoding.
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidEvent(f"{where}: {value!r} is not a JSON number")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidEvent(f"{where}: object key {key!r} is not a str")
            _check_json(item, where)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_json(item, where)


def encode_json(value: Any, where: str = "value") -> bytes:
    """Encode a JSON object exactly, or raise `InvalidEvent` saying why it cannot be."""
    if not isinstance(value, dict):
        raise InvalidEvent(f"{where} must be a JSON object (dict), not {type(value).__name__}")
    try:
        encoded = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError) as exc:
        with contextlib.suppress(RecursionError):
            _check_json(value, where)  # names the bad key or number, when it is one
        raise InvalidEvent(f"{where} is not JSON-serializable: {exc}") from exc
    # Only output holding a null can hide a NaN or an infinity, so only then is the
    # value walked: seeding a million events would otherwise spend most of its time here.
    if b"null" in encoded:
        _check_json(value, where)
    # orjson's result keeps the whole buffer it wrote into (4 KiB even for `{}`); a
    # store that keeps the bytes, or an append that holds many, would waste ~8 KiB an
    # event. An exact-size copy costs tens of nanoseconds.
    return bytes(memoryview(encoded))


def validate_event(event: object, max_event_bytes: int) -> tuple[bytes, bytes]:
    """Check one `NewEvent` and return its encoded (data, metadata)."""
    if not isinstance(event, NewEvent):
        raise InvalidEvent(f"expected a NewEvent, got {type(event).__name__}")
    if not isinstance(event.type, str) or not event.type:
        raise InvalidEvent("an event type must be a non-empty str")
    if len(event.type) > MAX_EVENT_TYPE_LENGTH or _FORBIDDEN_ID_CHARS.search(event.type):
        raise InvalidEvent(
            f"event type {event.type[:40]!r} must have at most {MAX_EVENT_TYPE_LENGTH} "
            "characters and no control characters"
        )
    if not isinstance(event.id, uuid.UUID):
        raise InvalidEvent(f"an event id must be a uuid.UUID, not {type(event.id).__name__}")
    data = encode_json(event.data, f"event {event.id} data")
    metadata = encode_json(event.metadata, f"event {event.id} metadata")
    size = len(data) + len(metadata)
    if size > max_event_bytes:
        raise InvalidEvent(
            f"event {event.id} is {size} bytes encoded; this store accepts at most "
            f"{max_event_bytes}. Store large blobs elsewhere and keep a reference."
        )
    return data, metadata


@dataclass(frozen=True, slots=True)
class ValidatedWrite:
    """A `StreamWrite` that passed validation, with each event's encoded JSON."""

    stream_id: str
    expected: ExpectedVersion
    events: tuple[NewEvent, ...]
    encoded: tuple[tuple[bytes, bytes], ...]


def validate_writes(writes: Sequence[StreamWrite], max_event_bytes: int) -> list[ValidatedWrite]:
    """Check a whole append before anything is written, so a bad request writes nothing.

    Raises `InvalidAppend`, `InvalidStreamId` or `InvalidEvent`.
    """
    seen_streams: set[str] = set()
    seen_ids: set[uuid.UUID] = set()
    out: list[ValidatedWrite] = []
    for write in writes:
        if not isinstance(write, StreamWrite):
            raise InvalidAppend(f"append takes StreamWrite values, got {type(write).__name__}")
        stream_id = validate_stream_id(write.stream_id)
        if stream_id in seen_streams:
            raise InvalidAppend(
                f"stream {stream_id!r} is named twice in one append; merge its events "
                "into one StreamWrite"
            )
        seen_streams.add(stream_id)
        expected = write.expected
        if isinstance(expected, bool) or not isinstance(expected, int | StreamState):
            raise InvalidAppend(
                f"stream {stream_id!r}: expected version must be an int or a StreamState, "
                f"not {expected!r}"
            )
        if isinstance(expected, int) and expected < 0:
            raise InvalidAppend(f"stream {stream_id!r}: expected version {expected} is negative")
        if isinstance(expected, int) and expected > MAX_VERSION:
            raise InvalidAppend(
                f"stream {stream_id!r}: expected version {expected} is above 2**63 - 1; "
                "no store holds more events than a signed 64-bit count"
            )
        events = tuple(write.events)
        encoded = []
        for event in events:
            encoded.append(validate_event(event, max_event_bytes))
            if event.id in seen_ids:
                raise InvalidAppend(f"event id {event.id} appears twice in one append")
            seen_ids.add(event.id)
        out.append(ValidatedWrite(stream_id, expected, events, tuple(encoded)))
    return out


def validate_batch_size(batch_size: int | None, default: int) -> int:
    """``batch_size`` if it is a positive int, ``default`` if None; else ValueError."""
    if batch_size is None:
        return default
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, not {batch_size!r}")
    return batch_size


def validate_from(value: int, name: str) -> int:
    """``value`` if it is an int >= 0 (a ``from_version`` or ``after_position``, named
    ``name`` in the error); else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an int >= 0, not {value!r}")
    return value


# --------------------------------------------------------------------------- reads

BatchOpener: TypeAlias = Callable[[], AsyncIterator[Sequence[RecordedEvent]]]
"""Opens a streamed read: an async generator of non-empty batches. Its ``finally``
releases the cursor, transaction and connection it holds."""

Collector: TypeAlias = Callable[[], Awaitable[list[RecordedEvent]]]
"""The backend's native collected read: every event in one fetch."""


class EventStream:
    """One read of a stream (or of all streams): streamed or collected, used once.

    Streamed::

        async with store.read_stream("order-1") as events:
            async for event in events:
                ...

    Collected::

        events = await store.read_stream("order-1").collect()

    The read begins (and takes its snapshot) at the first of: entering ``async with``,
    the first ``__anext__``, ``batches()`` or ``collect()``. It returns exactly the
    events that existed then. Leaving early releases what the read holds: at once with
    ``async with`` or ``aclose()``; on the next loop turn when a bare ``async for`` is
    left (the generator is finalized as soon as the stream is garbage).

    If the read fails part way (for example `ReadInterrupted`), the error is raised
    again on every later use: a failed read never looks like a shorter stream.

    A streamed read lets the event loop run other tasks between its batches (a store
    awaits its storage, or gives the loop a turn): it never holds the program's other
    tasks for the whole read.

    Backends build one from two callables; they never subclass it.
    """

    __slots__ = ("_batch", "_batches", "_collect", "_error", "_index", "_open", "_state")

    def __init__(self, open_batches: BatchOpener, collect: Collector) -> None:
        self._open = open_batches
        self._collect = collect
        self._batches: AsyncIterator[Sequence[RecordedEvent]] | None = None
        self._batch: Sequence[RecordedEvent] = ()
        self._index = 0
        self._error: BaseException | None = None
        # "new": nothing read yet; "open": the read began; "ended": the consumer saw
        # the end, collected, or closed it.
        self._state = "new"

    def _used(self) -> StreamAlreadyConsumed:
        return StreamAlreadyConsumed(
            "this EventStream was already read to its end, collected or closed; "
            "each read is single-use: call read_stream/read_all again"
        )

    def _start(self) -> None:
        self._state = "open"
        self._batches = self._open()

    async def _next_batch(self) -> Sequence[RecordedEvent] | None:
        """The next non-empty batch, or None at the end (the read is released by then)."""
        if self._error is not None:
            raise self._error
        batches = self._batches
        if batches is None:
            return None
        try:
            return await anext(batches)
        except StopAsyncIteration:
            self._batches = None
            return None
        except BaseException as exc:
            # The generator is finished now; remember why, so that no later call can
            # mistake the dead read for the end of the stream.
            self._batches = None
            self._error = exc
            raise

    async def __aenter__(self) -> Self:
        if self._state == "new":
            # Open now so that the snapshot is taken on entry, not on first use.
            self._start()
            self._batch = await self._next_batch() or ()
            self._index = 0
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> Self:
        if self._state == "ended" and self._error is None:
            raise self._used()
        return self

    async def __anext__(self) -> RecordedEvent:
        index = self._index
        batch = self._batch
        if index < len(batch):
            self._index = index + 1
            return batch[index]
        if self._state == "new":
            self._start()
        elif self._state == "ended":
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        next_batch = await self._next_batch()
        if next_batch:
            self._batch = next_batch
            self._index = 1
            return next_batch[0]
        self._batch = ()
        self._state = "ended"
        raise StopAsyncIteration

    async def batches(self) -> AsyncIterator[Sequence[RecordedEvent]]:
        """Yield the read batch by batch (what is left of it, if iteration began)."""
        if self._state == "ended":
            raise self._error or self._used()
        if self._state == "new":
            self._start()
        if self._index < len(self._batch):
            rest = self._batch[self._index :]
            self._batch = ()
            self._index = 0
            yield rest
        while (batch := await self._next_batch()) is not None:
            yield batch
        self._state = "ended"

    async def collect(self) -> list[RecordedEvent]:
        """Return the events as a list.

        On a fresh stream this is the backend's native collected read (one fetch);
        after iteration began it returns the events not yet yielded.
        """
        if self._state == "new":
            self._state = "ended"
            return await self._collect()
        if self._state == "ended":
            raise self._error or self._used()
        rest = list(self._batch[self._index :])
        self._batch = ()
        while (batch := await self._next_batch()) is not None:
            rest.extend(batch)
        self._state = "ended"
        return rest

    async def aclose(self) -> None:
        """Release the read's cursor, transaction and connection now. Safe to call twice."""
        batches, self._batches = self._batches, None
        self._batch = ()
        self._state = "ended"
        if batches is not None:
            aclose = getattr(batches, "aclose", None)
            if aclose is not None:
                await aclose()


# --------------------------------------------------------------------------- the store


@runtime_checkable
class EventStore(Protocol):
    """An event store, as eventbench drives it. See the module docstring for numbering.

    Lifecycle: ``async with store:`` opens it (connects, creates the schema) and closes
    it; ``open()`` and ``aclose()`` do the same by hand and are safe to call twice.
    """

    @property
    def capabilities(self) -> Capabilities: ...

    async def open(self) -> None: ...

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def append(self, *writes: StreamWrite) -> AppendResult:
        """Append to one or more streams atomically, under optimistic concurrency.

        Every write's expected version is checked; if any fails, nothing is written
        anywhere and `WrongExpectedVersion` names the first failing stream (in the
        order given). Invalid requests raise `InvalidAppend`, `InvalidStreamId` or
        `InvalidEvent`, also with nothing written.
        """
        ...

    def read_stream(
        self, stream_id: str, *, from_version: int = 0, batch_size: int | None = None
    ) -> EventStream:
        """Read one stream's events with ``stream_version > from_version``, in order.

        A stream with no events reads as empty. An invalid id raises `InvalidStreamId`
        at once.
        """
        ...

    def read_all(self, *, after_position: int = 0, batch_size: int | None = None) -> EventStream:
        """Read every stream's events with ``position > after_position``, in position order."""
        ...

    async def stream_version(self, stream_id: str) -> int:
        """The stream's current version (its number of events; 0 if it has none)."""
        ...


@runtime_checkable
class BulkLoader(Protocol):
    """Optional: a fast path for seeding benchmark data, used by the runner only.

    ``bulk_load`` appends the events in the order given, each to its stream, as if by
    ``append`` with ``ANY``, but without per-append overhead (``COPY``, one transaction).
    """

    async def bulk_load(self, events: Sequence[tuple[str, NewEvent]]) -> None: ...


@runtime_checkable
class SupportsConnectionCut(Protocol):
    """Optional, for fault checks: cut every connection the store holds, as a network
    failure would. Reads in flight must then raise `ReadInterrupted`; the store must
    work again afterwards (reconnecting as needed)."""

    async def cut_connections(self) -> None: ...


@runtime_checkable
class SupportsRawScan(Protocol):
    """Optional, for benchmarks: the floor a streamed read is measured against.

    ``raw_scan`` fetches the same rows ``read_stream(stream_id)`` would, in batches
    through the same driver, but decodes no JSON and builds no events; it yields the
    number of rows in each batch.
    """

    def raw_scan(self, stream_id: str, *, batch_size: int | None = None) -> AsyncIterator[int]: ...


@runtime_checkable
class SupportsFloorScan(Protocol):
    """Optional, for benchmarks: the physical floor every read mode is measured against.

    ``floor_scan`` reads the rows ``read_stream(stream_id)`` would (the same columns,
    in the same order) with the bare database driver, on a connection with the
    store's settings, and no store machinery in between: no store read path, no
    decoding, no events built. It yields the number of rows in each batch. Where
    `SupportsRawScan` is the store's own fetch path, undecoded, this is what the
    driver alone needs: the distance between the two is the store's fetch machinery,
    and a report's "streamed: 1.9x the floor" is the whole read against it.

    It exists for the reference backends, whose drivers eventbench knows. A third-party
    store may implement it, but its figures then say only what its author's floor is.
    """

    def floor_scan(
        self, stream_id: str, *, batch_size: int | None = None
    ) -> AsyncIterator[int]: ...


@runtime_checkable
class SupportsReopen(Protocol):
    """Optional: a store that names where its data lives, so another instance can open it.

    This is the two-instance hook. A store opts in with two small things:

    * the store has a ``location``: a str saying where its data lives (a file path, a
      URL with a schema name, ...), meaningful to its own factory only;
    * its factory accepts that string as a keyword, ``factory(location=...)``, and then
      gives *another instance over the same data*, in the same form it gives fresh
      stores (an async context manager, an async generator, or a store to open). Such
      an instance neither creates fresh data nor removes any on exit: the data belongs
      to the instance that the plain ``factory()`` call made, and goes when it goes.

    ::

        @contextlib.asynccontextmanager
        async def make_store(location: str | None = None) -> AsyncIterator[MyStore]:
            if location is not None:  # another instance over existing data
                async with MyStore(location) as store:
                    yield store
                return
            with tempfile.TemporaryDirectory() as directory:  # fresh and empty
                async with MyStore(f"{directory}/events.db") as store:
                    yield store

    With the hook, the conformance suite opens second instances (in this process, and
    in another process when `Capabilities.multi_process` is declared) and checks that
    data survives closing and reopening, that racing instances keep the contract, and
    that reads in one instance are unaffected by appends from another. The runner
    seeds such a store once per run and reopens it in every worker. The location may
    hold credentials: eventbench passes it between its own processes, never prints it.
    """

    @property
    def location(self) -> str: ...


@runtime_checkable
class SupportsAnalyze(Protocol):
    """Optional, for benchmarks: refresh the planner's statistics, as an operator does
    after a bulk load (``ANALYZE``). The runner calls it after seeding, so that reads
    are planned from statistics of the data they read, not from an empty table."""

    async def analyze(self) -> None: ...


@runtime_checkable
class ReportsSettings(Protocol):
    """Optional, for benchmarks: every store and server setting that can move a
    measured figure, by name, as text (e.g. ``{"synchronous": "FULL",
    "default_batch_size": "100", "server.jit": "off"}``). The runner records them with
    each cell, and ``eventbench compare`` warns when the two sides' differ."""

    async def settings(self) -> Mapping[str, str]: ...


@runtime_checkable
class SupportsPoolSize(Protocol):
    """Optional, for benchmarks: bound how many connections the store's operations may
    hold at once (its connection pool).

    Called while nothing is in flight. Operations beyond the bound wait for a
    connection; they never fail for want of one. A store without a pool has no use for
    this and need not implement it.
    """

    async def set_pool_size(self, size: int) -> None: ...


@runtime_checkable
class SupportsDiagnostics(Protocol):
    """Optional, for benchmarks: figures of the store's own state, sampled over time.

    ``diagnostics`` returns name -> number, read from the real resources (a file's
    size, the server's own views), never estimated. It must not wait for a pooled
    connection, so that sampling works while reads hold every one. Names a benchmark
    understands (others are kept as they are):

    * ``pool_wait_s_total``, ``pool_acquires_total``: seconds spent waiting for a
      connection and connections handed out, summed since the store opened;
    * ``connections_in_use``, ``pool_waiting``: connections held by operations now,
      and operations waiting for one;
    * ``wal_bytes``: size of a write-ahead log file;
    * ``xmin_held``, ``xmin_age``: server sessions of this store holding back the
      server's cleanup horizon, and the age in transactions of the oldest they hold.
    """

    async def diagnostics(self) -> Mapping[str, float]: ...
