"""The contract's own rules: types, validation, expected versions and the EventStream."""

from __future__ import annotations

import asyncio
import pickle
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest

from harness.contract import (
    ANY,
    MAX_STREAM_ID_LENGTH,
    NO_STREAM,
    STREAM_EXISTS,
    DuplicateEventId,
    EventStoreError,
    EventStream,
    InvalidAppend,
    InvalidEvent,
    InvalidStreamId,
    NewEvent,
    ReadInterrupted,
    RecordedEvent,
    StreamAlreadyConsumed,
    StreamWrite,
    WrongExpectedVersion,
    check_expected_version,
    encode_json,
    new_recorded_event,
    validate_batch_size,
    validate_stream_id,
    validate_writes,
)


def recorded(i: int) -> RecordedEvent:
    return RecordedEvent(
        stream_id="s",
        stream_version=i,
        position=i,
        type="T",
        data={"i": i},
        metadata={},
        id=uuid.uuid4(),
        recorded_at=datetime.now(UTC),
    )


# --------------------------------------------------------------------------- types


def test_events_are_frozen_and_get_unique_ids() -> None:
    a, b = NewEvent("T"), NewEvent("T")
    assert a.id != b.id
    assert a.data == {} and a.metadata == {}
    with pytest.raises(AttributeError):
        a.type = "U"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        recorded(1).position = 2  # type: ignore[misc]


def test_the_fast_builder_makes_ordinary_frozen_events() -> None:
    from harness import contract

    # The class-swap shortcut is the one in use here (CPython allows it); a change that
    # silently fell back to a slower builder would show up here, not only in timings.
    assert new_recorded_event is contract._build_by_class_swap
    fields = ("s", 3, 7, "T", {"a": [1]}, {"m": 1}, uuid.uuid4(), datetime.now(UTC))
    built, reference = new_recorded_event(*fields), RecordedEvent(*fields)
    assert type(built) is RecordedEvent
    assert built == reference and repr(built) == repr(reference)
    assert built.data is fields[4] and built.recorded_at is fields[7]
    with pytest.raises(AttributeError):
        built.position = 8  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(built)) == reference
    assert not hasattr(built, "__dict__")


def test_all_errors_share_one_base_and_pickle() -> None:
    errors: list[EventStoreError] = [
        WrongExpectedVersion("s", NO_STREAM, 3),
        DuplicateEventId(uuid.uuid4()),
        InvalidStreamId("x"),
        InvalidEvent("x"),
        InvalidAppend("x"),
        ReadInterrupted("x"),
        StreamAlreadyConsumed("x"),
    ]
    for error in errors:
        assert isinstance(error, EventStoreError)
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error)


def test_wrong_expected_version_names_stream_expected_and_actual() -> None:
    error = WrongExpectedVersion("order-1", STREAM_EXISTS, 0)
    assert (error.stream_id, error.expected, error.actual) == ("order-1", STREAM_EXISTS, 0)
    assert "order-1" in str(error) and "STREAM_EXISTS" in str(error) and "0" in str(error)


# --------------------------------------------------------------------------- expected versions


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        (ANY, 0, True),
        (ANY, 5, True),
        (NO_STREAM, 0, True),
        (NO_STREAM, 1, False),
        (STREAM_EXISTS, 0, False),
        (STREAM_EXISTS, 2, True),
        (0, 0, True),
        (0, 1, False),
        (3, 3, True),
        (3, 2, False),
        (3, 4, False),
    ],
)
def test_expected_version_rules(expected: int, actual: int, ok: bool) -> None:
    if ok:
        check_expected_version("s", expected, actual)
    else:
        with pytest.raises(WrongExpectedVersion) as info:
            check_expected_version("s", expected, actual)
        assert info.value.actual == actual


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "stream_id",
    [
        "a",
        "Order-1",
        "x" * MAX_STREAM_ID_LENGTH,
        "q'uote\"",
        "100%_done",
        "a;-- DROP",
        "é🙂",
        "עברית",
    ],
)
def test_valid_stream_ids(stream_id: str) -> None:
    assert validate_stream_id(stream_id) == stream_id


@pytest.mark.parametrize(
    "stream_id",
    ["", "x" * (MAX_STREAM_ID_LENGTH + 1), "a\x00b", "tab\there", "new\nline", "\x7f", "\ud800", 7],
)
def test_invalid_stream_ids(stream_id: object) -> None:
    with pytest.raises(InvalidStreamId):
        validate_stream_id(stream_id)


@pytest.mark.parametrize(
    "data",
    [
        {"x": float("nan")},
        {"x": float("inf")},
        {"x": {1: 2}},
        {"x": object()},
        {"x": 2**70},
        {"x": [1, {"y": b"bytes"}]},
        [1, 2],
    ],
)
def test_non_json_data_is_refused(data: object) -> None:
    with pytest.raises(InvalidEvent):
        encode_json(data)


def test_json_round_trips_exactly() -> None:
    import orjson

    value = {"s": "a\x00b🙂", "n": [1, 2.5, -0.0, True, None], "o": {"k": "v"}}
    assert orjson.loads(encode_json(value)) == value


def test_validate_writes_refuses_bad_requests_before_anything() -> None:
    ok = StreamWrite("s", ANY, [NewEvent("T")])
    with pytest.raises(InvalidAppend, match="named twice"):
        validate_writes([ok, StreamWrite("s", ANY)], 1024)
    with pytest.raises(InvalidAppend, match="negative"):
        validate_writes([StreamWrite("s", -1)], 1024)
    with pytest.raises(InvalidAppend):
        validate_writes([StreamWrite("s", True)], 1024)
    for huge in (2**63, 2**100):
        with pytest.raises(InvalidAppend, match="2\\*\\*63 - 1"):
            validate_writes([StreamWrite("s", huge)], 1024)
    assert validate_writes([StreamWrite("s", 2**63 - 1)], 1024)[0].expected == 2**63 - 1
    event = NewEvent("T")
    with pytest.raises(InvalidAppend, match="twice"):
        validate_writes([StreamWrite("a", ANY, [event]), StreamWrite("b", ANY, [event])], 1024)
    with pytest.raises(InvalidEvent, match="at most 10"):
        validate_writes([StreamWrite("s", ANY, [NewEvent("T", {"x": "y" * 20})])], 10)
    with pytest.raises(InvalidEvent):
        validate_writes([StreamWrite("s", ANY, [NewEvent("")])], 1024)
    with pytest.raises(InvalidStreamId):
        validate_writes([StreamWrite("", ANY)], 1024)
    checked = validate_writes([ok], 1024)
    assert checked[0].encoded == ((b"{}", b"{}"),)


def test_batch_size_validation() -> None:
    assert validate_batch_size(None, 7) == 7
    assert validate_batch_size(3, 7) == 3
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError):
            validate_batch_size(bad, 7)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- EventStream


class Source:
    """A batch source that records what the stream did to it."""

    def __init__(self, n: int, batch: int, fail_after: int | None = None) -> None:
        self.events = [recorded(i) for i in range(1, n + 1)]
        self.batch = batch
        self.fail_after = fail_after
        self.opened = 0
        self.closed = 0
        self.collected = 0

    async def batches(self) -> AsyncIterator[Sequence[RecordedEvent]]:
        self.opened += 1
        try:
            for lo in range(0, len(self.events), self.batch):
                if self.fail_after is not None and lo >= self.fail_after:
                    raise ReadInterrupted("connection lost")
                yield self.events[lo : lo + self.batch]
        finally:
            self.closed += 1

    async def collect(self) -> list[RecordedEvent]:
        self.collected += 1
        return list(self.events)

    def stream(self) -> EventStream:
        return EventStream(self.batches, self.collect)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 7])
async def test_stream_yields_every_event_once_in_order(n: int) -> None:
    source = Source(n, batch=3)
    assert [e.position async for e in source.stream()] == list(range(1, n + 1))
    assert source.closed == source.opened == 1


async def test_collect_uses_the_native_path() -> None:
    source = Source(5, batch=2)
    assert [e.position for e in await source.stream().collect()] == [1, 2, 3, 4, 5]
    assert (source.collected, source.opened) == (1, 0)


async def test_collect_after_partial_iteration_returns_the_rest() -> None:
    source = Source(5, batch=2)
    stream = source.stream()
    assert (await anext(stream)).position == 1
    assert [e.position for e in await stream.collect()] == [2, 3, 4, 5]
    assert source.collected == 0


async def test_batches_yields_what_is_left() -> None:
    source = Source(5, batch=2)
    async with source.stream() as stream:
        await anext(stream)
        sizes = [len(b) async for b in stream.batches()]
    assert sizes == [1, 2, 1]


async def test_a_stream_is_single_use() -> None:
    source = Source(3, batch=2)
    stream = source.stream()
    _ = [e async for e in stream]
    with pytest.raises(StreamAlreadyConsumed):
        _ = [e async for e in stream]
    with pytest.raises(StreamAlreadyConsumed):
        await stream.collect()
    collected = source.stream()
    await collected.collect()
    with pytest.raises(StreamAlreadyConsumed):
        await collected.collect()
    with pytest.raises(StreamAlreadyConsumed):
        _ = [e async for e in collected]


async def test_entering_opens_the_read() -> None:
    source = Source(3, batch=2)
    async with source.stream():
        assert source.opened == 1
    assert source.closed == 1


async def test_leaving_early_releases_at_once_with_async_with() -> None:
    source = Source(10, batch=2)
    async with source.stream() as stream:
        async for _ in stream:
            break
    assert source.closed == 1


async def test_leaving_a_bare_loop_releases_on_the_next_turn() -> None:
    source = Source(10, batch=2)
    async for _ in source.stream():
        break
    # The generator is finalized by asyncio's asyncgen hooks once the stream is garbage.
    for _ in range(3):
        await asyncio.sleep(0)
    assert source.closed == 1


async def test_an_exception_in_the_consumer_releases_the_read() -> None:
    source = Source(10, batch=2)
    with pytest.raises(KeyError):
        async with source.stream() as stream:
            async for _ in stream:
                raise KeyError
    assert source.closed == 1


async def test_an_interrupted_read_never_looks_like_the_end() -> None:
    source = Source(10, batch=2, fail_after=4)
    stream = source.stream()
    seen = []
    with pytest.raises(ReadInterrupted):
        async for event in stream:
            seen.append(event.position)
    assert seen == [1, 2, 3, 4]
    # Every later use raises again instead of ending quietly.
    with pytest.raises(ReadInterrupted):
        await anext(stream)
    with pytest.raises(ReadInterrupted):
        _ = [e async for e in stream]
    with pytest.raises(ReadInterrupted):
        await stream.collect()
    assert source.closed == 1


async def test_cancellation_releases_the_read() -> None:
    gate = asyncio.Event()

    async def batches() -> AsyncIterator[Sequence[RecordedEvent]]:
        try:
            yield [recorded(1)]
            await gate.wait()
            yield [recorded(2)]
        finally:
            released.append(True)

    async def collect() -> list[RecordedEvent]:
        return []

    released: list[bool] = []

    async def consume() -> None:
        async with EventStream(batches, collect) as stream:
            async for _ in stream:
                pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert released == [True]


async def test_aclose_is_idempotent_and_ends_the_stream() -> None:
    source = Source(5, batch=2)
    stream = source.stream()
    await anext(stream)
    await stream.aclose()
    await stream.aclose()
    assert source.closed == 1
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


def test_encoded_json_holds_no_more_memory_than_it_needs() -> None:
    import tracemalloc

    tracemalloc.start()
    try:
        kept = [encode_json({"i": i, "text": "x" * 200}) for i in range(1000)]
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(kept) == 1000
    # ~250 bytes each; orjson's own result would hold a 4 KiB buffer per value.
    assert held < 1000 * 1024, held
