"""Every rule of the contract, run against every reference backend (the ``store`` fixture).

The conformance suite checks third-party stores in depth; these tests are the
project's own, shorter account of the same rules, and they run against memory,
SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import copy

import pytest

from backends.memory import MemoryStore
from harness.contract import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    AppendResult,
    DuplicateEventId,
    EventStore,
    InvalidAppend,
    InvalidEvent,
    InvalidStreamId,
    NewEvent,
    RecordedEvent,
    StreamAlreadyConsumed,
    StreamWrite,
    WrongExpectedVersion,
)


def events(n: int, start: int = 0, type_: str = "Counted") -> list[NewEvent]:
    return [NewEvent(type_, {"i": i}, {"source": "test"}) for i in range(start, start + n)]


async def read(store: EventStore, stream_id: str, **kwargs: int) -> list[RecordedEvent]:
    return await store.read_stream(stream_id, **kwargs).collect()


async def streamed(store: EventStore, stream_id: str, **kwargs: int) -> list[RecordedEvent]:
    async with store.read_stream(stream_id, **kwargs) as stream:
        return [event async for event in stream]


async def total(store: EventStore) -> int:
    return len(await store.read_all().collect())


# --------------------------------------------------------------------------- appends


async def test_append_returns_versions_and_positions(store: EventStore) -> None:
    first = await store.append(StreamWrite("a", NO_STREAM, events(3)))
    assert first.versions == {"a": 3}
    assert len(first.positions) == 3 and list(first.positions) == sorted(set(first.positions))
    second = await store.append(
        StreamWrite("b", NO_STREAM, events(2)), StreamWrite("a", 3, events(1))
    )
    assert second.versions == {"b": 2, "a": 4}
    assert len(second.positions) == 3
    assert min(second.positions) > max(first.positions)
    recorded = await store.read_all().collect()
    assert [e.position for e in recorded] == [*first.positions, *second.positions]
    assert [(e.stream_id, e.stream_version) for e in recorded] == [
        ("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2), ("a", 4),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("existing", "expected", "ok"),
    [
        (0, NO_STREAM, True),
        (0, 0, True),
        (0, ANY, True),
        (0, STREAM_EXISTS, False),
        (0, 1, False),
        (2, NO_STREAM, False),
        (2, 0, False),
        (2, 2, True),
        (2, 1, False),
        (2, 3, False),
        (2, ANY, True),
        (2, STREAM_EXISTS, True),
    ],
)
async def test_expected_version_forms(
    store: EventStore, existing: int, expected: int, ok: bool
) -> None:
    if existing:
        await store.append(StreamWrite("s", NO_STREAM, events(existing)))
    write = StreamWrite("s", expected, events(1, start=existing))
    if ok:
        result = await store.append(write)
        assert result.versions == {"s": existing + 1}
    else:
        with pytest.raises(WrongExpectedVersion) as info:
            await store.append(write)
        assert (info.value.stream_id, info.value.expected, info.value.actual) == (
            "s",
            expected,
            existing,
        )
    assert await store.stream_version("s") == existing + (1 if ok else 0)


async def test_a_failed_condition_writes_nothing_anywhere(store: EventStore) -> None:
    await store.append(StreamWrite("a", NO_STREAM, events(2)))
    with pytest.raises(WrongExpectedVersion) as info:
        await store.append(
            StreamWrite("b", NO_STREAM, events(5)),
            StreamWrite("a", 1, events(1)),
            StreamWrite("c", ANY, events(1)),
        )
    assert info.value.stream_id == "a"
    assert await store.stream_version("b") == 0
    assert await store.stream_version("c") == 0
    assert await store.stream_version("a") == 2
    assert await total(store) == 2


async def test_condition_only_writes(store: EventStore) -> None:
    await store.append(StreamWrite("account", NO_STREAM, events(1)))
    result = await store.append(
        StreamWrite("account", 1), StreamWrite("ledger", NO_STREAM, events(1))
    )
    assert result.versions == {"account": 1, "ledger": 1}
    with pytest.raises(WrongExpectedVersion):
        await store.append(StreamWrite("account", 0), StreamWrite("ledger", ANY, events(1)))
    # A condition on a missing stream creates nothing.
    assert (await store.append(StreamWrite("ghost", NO_STREAM))).versions == {"ghost": 0}
    assert await store.stream_version("ghost") == 0
    assert await total(store) == 2


async def test_empty_appends(store: EventStore) -> None:
    assert (await store.append()).positions == ()
    assert (await store.append(StreamWrite("s", ANY, []))).versions == {"s": 0}
    with pytest.raises(WrongExpectedVersion):
        await store.append(StreamWrite("s", STREAM_EXISTS, []))
    assert await total(store) == 0


async def test_bad_requests_write_nothing(store: EventStore) -> None:
    good = StreamWrite("ok", ANY, events(1))
    with pytest.raises(InvalidAppend):
        await store.append(good, StreamWrite("ok", ANY, events(1)))
    with pytest.raises(InvalidStreamId):
        await store.append(good, StreamWrite("bad\x00id", ANY, events(1)))
    with pytest.raises(InvalidEvent):
        await store.append(good, StreamWrite("x", ANY, [NewEvent("T", {"f": {1, 2}})]))
    with pytest.raises(InvalidEvent):
        await store.append(good, StreamWrite("x", ANY, [NewEvent("T", {"n": float("nan")})]))
    too_big = {"blob": "x" * (store.capabilities.max_event_bytes + 1)}
    with pytest.raises(InvalidEvent):
        await store.append(good, StreamWrite("x", ANY, [NewEvent("T", too_big)]))
    assert await total(store) == 0


async def test_event_ids_are_unique_across_the_store(store: EventStore) -> None:
    event = NewEvent("T")
    await store.append(StreamWrite("a", ANY, [event]))
    with pytest.raises(DuplicateEventId):
        await store.append(StreamWrite("b", ANY, [*events(2), event]))
    assert await total(store) == 1
    assert await store.stream_version("b") == 0


async def test_stored_data_cannot_be_changed_through_the_caller(store: EventStore) -> None:
    data = {"nested": {"list": [1, 2]}}
    await store.append(StreamWrite("s", ANY, [NewEvent("T", data)]))
    original = copy.deepcopy(data)
    data["nested"]["list"].append(3)
    first = (await read(store, "s"))[0]
    assert first.data == original
    first.data["nested"]["list"].append(4)
    assert (await read(store, "s"))[0].data == original


# --------------------------------------------------------------------------- reads


async def test_reading_a_missing_stream_is_empty(store: EventStore) -> None:
    assert await read(store, "nope") == []
    assert await streamed(store, "nope") == []
    assert await store.stream_version("nope") == 0


async def test_recorded_events_carry_what_was_appended(store: EventStore) -> None:
    new = NewEvent("Placed", {"total": 12.5, "items": ["a", "b"]}, {"user": "ü"})
    await store.append(StreamWrite("order-1", NO_STREAM, [new]))
    (event,) = await read(store, "order-1")
    assert (event.stream_id, event.stream_version, event.type) == ("order-1", 1, "Placed")
    assert (event.data, event.metadata, event.id) == (new.data, new.metadata, new.id)
    assert event.position >= 1
    assert event.recorded_at.tzinfo is not None


async def test_streams_are_isolated_and_ordered(store: EventStore) -> None:
    for round_ in range(3):
        for stream_id in ("a", "b", "A"):
            version = await store.stream_version(stream_id)
            await store.append(StreamWrite(stream_id, version, events(2, start=round_ * 2)))
    for stream_id in ("a", "b", "A"):
        got = await read(store, stream_id)
        assert {e.stream_id for e in got} == {stream_id}
        assert [e.stream_version for e in got] == [1, 2, 3, 4, 5, 6]
        assert [e.data["i"] for e in got] == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("from_version", [0, 1, 4, 9, 10, 11])
async def test_from_version_skips_the_first_events(store: EventStore, from_version: int) -> None:
    await store.append(StreamWrite("s", NO_STREAM, events(10)))
    expected = list(range(from_version + 1, 11))
    assert [e.stream_version for e in await read(store, "s", from_version=from_version)] == expected
    got = await streamed(store, "s", from_version=from_version, batch_size=3)
    assert [e.stream_version for e in got] == expected


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 8, 9])
async def test_streamed_equals_collected_around_the_batch_size(store: EventStore, n: int) -> None:
    # batch size 4: lengths 0, 1, b-1, b, b+1, 2b, 2b+1
    if n:
        await store.append(StreamWrite("s", NO_STREAM, events(n)))
    collected = await read(store, "s")
    assert len(collected) == n
    assert await streamed(store, "s", batch_size=4) == collected
    async with store.read_stream("s", batch_size=4) as stream:
        sizes = [len(batch) async for batch in stream.batches()]
    assert sum(sizes) == n and all(0 < size <= 4 for size in sizes)


async def test_read_all_orders_by_position_and_resumes(store: EventStore) -> None:
    for i in range(12):
        await store.append(StreamWrite(f"s{i % 3}", ANY, events(1, start=i)))
    everything = await store.read_all().collect()
    positions = [e.position for e in everything]
    assert positions == sorted(positions) and len(set(positions)) == 12
    assert [e.data["i"] for e in everything] == list(range(12))
    resumed: list[RecordedEvent] = []
    cursor = 0
    while True:
        async with store.read_all(after_position=cursor, batch_size=5) as stream:
            page = [e async for e in stream]
        if not page:
            break
        resumed.extend(page[:5])
        cursor = page[min(4, len(page) - 1)].position
    assert resumed == everything
    assert await store.read_all(after_position=positions[-1]).collect() == []


async def test_a_read_is_single_use(store: EventStore) -> None:
    await store.append(StreamWrite("s", NO_STREAM, events(2)))
    stream = store.read_stream("s")
    assert len([e async for e in stream]) == 2
    with pytest.raises(StreamAlreadyConsumed):
        await stream.collect()


async def test_invalid_ids_fail_on_read(store: EventStore) -> None:
    with pytest.raises(InvalidStreamId):
        store.read_stream("")
    with pytest.raises(InvalidStreamId):
        await store.stream_version("x" * 1000)
    with pytest.raises(ValueError):
        store.read_stream("s", from_version=-1)
    with pytest.raises(ValueError):
        store.read_all(batch_size=0)


# --------------------------------------------------------------------------- the snapshot rule


async def test_a_streamed_read_is_the_snapshot_at_open(store: EventStore) -> None:
    await store.append(StreamWrite("s", NO_STREAM, events(10)))
    async with store.read_stream("s", batch_size=3) as stream:
        first = await anext(stream)
        # Appending from the same task while the read is open must not deadlock.
        await asyncio.wait_for(store.append(StreamWrite("s", 10, events(5, start=10))), 10)
        rest = [e async for e in stream]
    assert [e.stream_version for e in [first, *rest]] == list(range(1, 11))
    assert await store.stream_version("s") == 15


async def test_read_all_is_the_snapshot_at_open(store: EventStore) -> None:
    await store.append(StreamWrite("a", NO_STREAM, events(7)))
    async with store.read_all(batch_size=2) as stream:
        await store.append(StreamWrite("b", NO_STREAM, events(3)))
        got = [e async for e in stream]
    assert [e.stream_id for e in got] == ["a"] * 7


async def test_a_read_opened_by_first_use_is_the_snapshot_then(store: EventStore) -> None:
    await store.append(StreamWrite("s", NO_STREAM, events(4)))
    stream = store.read_stream("s", batch_size=2)
    await store.append(StreamWrite("s", 4, events(1, start=4)))  # before the read begins
    first = await anext(stream)
    await store.append(StreamWrite("s", 5, events(1, start=5)))  # after it began
    rest = [e async for e in stream]
    assert [e.stream_version for e in [first, *rest]] == [1, 2, 3, 4, 5]


# --------------------------------------------------------------------------- resources


async def test_abandoned_reads_leave_the_store_usable(store: EventStore) -> None:
    await store.append(StreamWrite("s", NO_STREAM, events(5)))

    async def by_break() -> None:
        async for _ in store.read_stream("s", batch_size=2):
            break

    async def by_context_break() -> None:
        async with store.read_stream("s", batch_size=2) as stream:
            async for _ in stream:
                break

    async def by_exception() -> None:
        try:
            async with store.read_stream("s", batch_size=2) as stream:
                async for _ in stream:
                    raise LookupError
        except LookupError:
            pass

    async def by_cancellation() -> None:
        started = asyncio.Event()

        async def reader() -> None:
            async with store.read_stream("s", batch_size=2) as stream:
                async for _ in stream:
                    started.set()
                    await asyncio.sleep(10)

        task = asyncio.create_task(reader())
        await started.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    for abandon in (by_break, by_context_break, by_exception, by_cancellation):
        for _ in range(50):
            await asyncio.wait_for(abandon(), 10)
    await asyncio.sleep(0)
    result = await asyncio.wait_for(store.append(StreamWrite("s", 5, events(1))), 10)
    assert result.versions == {"s": 6}
    assert len(await streamed(store, "s")) == 6


# --------------------------------------------------------------------------- concurrency


async def test_concurrent_writers_on_one_stream(store: EventStore) -> None:
    writers, attempts = 16, 4
    wins = 0

    async def writer(n: int) -> None:
        nonlocal wins
        for attempt in range(attempts):
            version = await store.stream_version("hot")
            try:
                await store.append(StreamWrite("hot", version, events(1, start=n * 100 + attempt)))
                wins += 1
            except WrongExpectedVersion:
                await asyncio.sleep(0)

    await asyncio.gather(*(writer(n) for n in range(writers)))
    got = await read(store, "hot")
    assert wins == len(got) == await store.stream_version("hot")
    assert [e.stream_version for e in got] == list(range(1, wins + 1))
    assert len({e.id for e in got}) == wins


TRANSFERS = 12


async def concurrent_transfers_keep_the_total(store: EventStore) -> None:
    """12 concurrent two-account transfers, each retried on conflict: all of them go
    through, and the total is kept."""
    accounts = [f"acct-{i}" for i in range(4)]
    await store.append(
        *(StreamWrite(a, NO_STREAM, [NewEvent("Opened", {"delta": 100})]) for a in accounts)
    )

    async def balance(account: str) -> tuple[int, int]:
        got = await read(store, account)
        return sum(e.data["delta"] for e in got), len(got)

    async def transfer(n: int) -> bool:
        src, dst = accounts[n % 4], accounts[(n + 1) % 4]
        for _ in range(200):
            (bal, v_src), (_, v_dst) = await balance(src), await balance(dst)
            amount = min(bal, 7)
            try:
                await store.append(
                    StreamWrite(src, v_src, [NewEvent("Sent", {"delta": -amount})]),
                    StreamWrite(dst, v_dst, [NewEvent("Received", {"delta": amount})]),
                )
                return True
            except WrongExpectedVersion:
                await asyncio.sleep(0)
        return False

    done = await asyncio.gather(*(transfer(n) for n in range(TRANSFERS)))
    # Without this a store that refuses every transfer would keep the total too.
    assert all(done), f"only {sum(done)} of {TRANSFERS} transfers went through"
    assert await total(store) == 4 + 2 * TRANSFERS
    balances = [(await balance(a))[0] for a in accounts]
    assert sum(balances) == 400 and min(balances) >= 0


async def test_concurrent_transfers_keep_the_total(store: EventStore) -> None:
    await concurrent_transfers_keep_the_total(store)


async def test_the_transfers_test_fails_when_every_transfer_conflicts() -> None:
    class AlwaysConflicts(MemoryStore):
        """Refuses every transfer as a conflict (a broken version check)."""

        async def append(self, *writes: StreamWrite) -> AppendResult:
            if any(e.type == "Sent" for w in writes for e in w.events):
                raise WrongExpectedVersion(writes[0].stream_id, writes[0].expected, -1)
            return await super().append(*writes)

    async with AlwaysConflicts() as broken:
        with pytest.raises(AssertionError, match="transfers went through"):
            await concurrent_transfers_keep_the_total(broken)
