"""PostgreSQL-specific rules of the reference store (the shared rules are in test_store.py).

Every test here runs against a real server (see harness.provision): in a database
this module creates and drops, each test in its own schema.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import pickle
import random
import secrets
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import asyncpg
import pytest
from conftest import require_backend

from backends.postgres import (
    COPY_THRESHOLD,
    DECODE_CHUNK,
    DEFAULT_BATCH_SIZE,
    SCHEMA_VERSION,
    PostgresStore,
    _init_connection,
    open_store,
)
from harness import provision
from harness.contract import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    DuplicateEventId,
    EventStore,
    InvalidAppend,
    InvalidEvent,
    InvalidStreamId,
    NewEvent,
    ReadInterrupted,
    RecordedEvent,
    ReportsSettings,
    StoreUnavailable,
    StreamWrite,
    SupportsAnalyze,
    SupportsConnectionCut,
    SupportsRawScan,
    WrongExpectedVersion,
)

pytestmark = pytest.mark.postgres

T = TypeVar("T")
MakeStore = Callable[..., Awaitable[PostgresStore]]


def run_in_thread(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on a private loop (module fixtures live outside any test's loop)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(make())
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


@pytest.fixture(scope="module")
def database() -> Any:
    """A database for this module, dropped afterwards even if tests fail."""
    require_backend("postgres")
    dsn = run_in_thread(provision.create_database)
    try:
        yield dsn
    finally:
        run_in_thread(lambda: provision.drop_database(dsn))


@pytest.fixture
async def make_store(database: str) -> AsyncIterator[MakeStore]:
    """Open stores on fresh schemas (or a given one); closes them afterwards."""
    opened: list[PostgresStore] = []

    async def make(schema: str | None = None, **options: Any) -> PostgresStore:
        store = PostgresStore(database, schema=schema or f"t_{secrets.token_hex(5)}", **options)
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.aclose()


@pytest.fixture
async def store(make_store: MakeStore) -> PostgresStore:
    return await make_store()


async def admin(store: PostgresStore, database: str) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(database)
    await conn.execute(f'SET search_path TO "{store.schema}"')
    return conn


def events(n: int, prefix: str = "e") -> list[NewEvent]:
    return [NewEvent(f"{prefix}-type", {"i": i, "pad": "x" * 40}) for i in range(n)]


# --------------------------------------------------------------------------- basics


def test_implements_the_contract_and_its_optional_protocols(store: PostgresStore) -> None:
    assert isinstance(store, EventStore)
    assert isinstance(store, SupportsConnectionCut)
    assert isinstance(store, SupportsRawScan)
    caps = store.capabilities
    assert (caps.persistent, caps.multi_process) == (True, True)
    assert caps.nul_in_strings  # a json column stores U+0000 exactly


async def test_settings_name_the_server_settings_and_whether_seeded_tables_were_analyzed(
    store: PostgresStore,
) -> None:
    assert isinstance(store, SupportsAnalyze) and isinstance(store, ReportsSettings)
    before = await store.settings()
    assert before["analyzed"] == "no"
    assert before["pool_size"] == "10" and before["default_batch_size"] == str(DEFAULT_BATCH_SIZE)
    # The store turns JIT off for its sessions; the report must say what they see.
    assert before["server.jit"] == "off"
    assert before["server.plan_cache_mode"] == "force_generic_plan"
    for name in ("autovacuum", "shared_buffers", "synchronous_commit", "work_mem"):
        assert f"server.{name}" in before, name
    await store.bulk_load([("s", e) for e in events(50)])
    await store.analyze()
    assert (await store.settings())["analyzed"] == "yes"


async def test_nul_characters_round_trip(store: PostgresStore) -> None:
    data = {"a\x00key": "x\x00y", "list": ["\x00"], "escaped": "\\u0000 is text"}
    await store.append(StreamWrite("s", NO_STREAM, [NewEvent("t", data, {"m": "\x00"})]))
    (event,) = await store.read_stream("s").collect()
    assert event.data == data
    assert event.metadata == {"m": "\x00"}


async def test_read_events_are_ordinary_frozen_recorded_events(store: PostgresStore) -> None:
    sent = NewEvent("t", {"a": [1, 2.5, None, "x"]}, {"m": True})
    await store.append(StreamWrite("s", NO_STREAM, [sent]))
    collected = await store.read_stream("s").collect()
    (streamed,) = [e async for e in store.read_all()]
    for event in (collected[0], streamed):
        assert type(event) is RecordedEvent
        assert (event.stream_id, event.stream_version, event.position) == ("s", 1, 1)
        assert (event.type, event.data, event.metadata, event.id) == (
            sent.type,
            sent.data,
            sent.metadata,
            sent.id,
        )
        assert event.recorded_at.tzinfo is not None
        with pytest.raises(dataclasses.FrozenInstanceError):
            event.type = "changed"  # type: ignore[misc]
        assert dataclasses.replace(event) == event
        assert pickle.loads(pickle.dumps(event)) == event
    assert collected[0] == streamed


async def test_each_event_gets_its_own_metadata(store: PostgresStore) -> None:
    # Repeated metadata is parsed once and copied: no two events may share a dict.
    meta = {"tenant": "a", "n": 1, "ok": True, "none": None}
    nested = {"tags": ["x"], "deep": {"k": 1}}
    sent = [NewEvent("T", {"i": i}, meta if i < 3 else nested) for i in range(6)]
    await store.append(StreamWrite("s", NO_STREAM, sent))
    for read in (
        await store.read_stream("s").collect(),
        [e async for e in store.read_stream("s", batch_size=2)],
        [e async for e in store.read_all()],
    ):
        assert [e.metadata for e in read] == [e.metadata for e in sent]
        assert len({id(e.metadata) for e in read}) == 6
        assert len({id(e.metadata["tags"]) for e in read[3:]}) == 3
        read[0].metadata["tenant"] = "changed"
        assert read[1].metadata["tenant"] == "a"


async def test_persists_across_close_and_reopen(make_store: MakeStore) -> None:
    first = await make_store()
    await first.append(StreamWrite("s", NO_STREAM, events(3)))
    await first.aclose()
    again = await make_store(first.schema)
    assert [e.stream_version for e in await again.read_stream("s").collect()] == [1, 2, 3]


# --------------------------------------------------------------------------- concurrency


async def test_appends_naming_streams_in_opposite_orders_do_not_deadlock(
    make_store: MakeStore,
) -> None:
    one = await make_store(pool_size=6)
    other = await make_store(one.schema, pool_size=6)  # a second pool: another "process"
    names = [f"s{i}" for i in range(4)]

    async def writer(store: PostgresStore, seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(40):
            chosen = rng.sample(names, 3)  # random order each time
            await store.append(*(StreamWrite(s, ANY, [NewEvent("t")]) for s in chosen))

    await asyncio.wait_for(
        asyncio.gather(*(writer(one if i % 2 else other, i) for i in range(8))), timeout=120
    )
    versions = [await one.stream_version(s) for s in names]
    assert sum(versions) == 8 * 40 * 3
    for name, version in zip(names, versions, strict=True):
        read = await one.read_stream(name).collect()
        assert [e.stream_version for e in read] == list(range(1, version + 1))


async def test_racing_creators_exactly_one_wins(make_store: MakeStore) -> None:
    one = await make_store(pool_size=8)
    other = await make_store(one.schema, pool_size=8)

    async def create(i: int) -> str:
        store = one if i % 2 else other
        try:
            await store.append(StreamWrite("new", NO_STREAM, [NewEvent("t", {"i": i})]))
        except WrongExpectedVersion as exc:
            return f"lost to version {exc.actual}"
        return "won"

    outcomes = await asyncio.gather(*(create(i) for i in range(16)))
    assert sorted(outcomes) == ["lost to version 1"] * 15 + ["won"]
    assert len(await one.read_stream("new").collect()) == 1


async def test_optimistic_writers_never_lose_an_update(make_store: MakeStore) -> None:
    one = await make_store(pool_size=4)
    other = await make_store(one.schema, pool_size=4)

    async def increment(store: PostgresStore, times: int) -> int:
        conflicts = 0
        for _ in range(times):
            while True:
                version = await store.stream_version("counter")
                try:
                    await store.append(StreamWrite("counter", version, [NewEvent("inc")]))
                    break
                except WrongExpectedVersion:
                    conflicts += 1
        return conflicts

    await asyncio.gather(*(increment(one if i % 2 else other, 25) for i in range(6)))
    assert await one.stream_version("counter") == 150


async def test_unique_violation_from_an_outside_writer_is_wrong_expected_version(
    make_store: MakeStore, database: str
) -> None:
    store = await make_store(pool_size=1)
    await store.append(StreamWrite("s", NO_STREAM, events(2)))
    conn = await admin(store, database)
    try:
        # A writer that ignores the store's locks takes version 3 behind its back.
        await conn.execute(
            "INSERT INTO events (position, stream_id, stream_version, type, data, metadata, id)"
            " VALUES (1000, 's', 3, 'rogue', '{}', '{}', $1)",
            uuid.uuid4(),
        )
    finally:
        await conn.close()
    with pytest.raises(WrongExpectedVersion) as caught:
        await store.append(StreamWrite("s", 2, [NewEvent("late")]))
    assert (caught.value.stream_id, caught.value.expected, caught.value.actual) == ("s", 2, 3)


async def test_duplicate_event_id_is_typed_and_writes_nothing(make_store: MakeStore) -> None:
    store = await make_store(pool_size=1)  # mapping the error must not need a second connection
    first = NewEvent("t")
    await store.append(StreamWrite("a", NO_STREAM, [first]))
    with pytest.raises(DuplicateEventId) as caught:
        await store.append(
            StreamWrite("b", NO_STREAM, [NewEvent("t")]), StreamWrite("c", ANY, [first])
        )
    assert caught.value.event_id == first.id
    assert len(await store.read_all().collect()) == 1
    with pytest.raises(DuplicateEventId):
        await store.bulk_load([("d", NewEvent("t")), ("d", first)])
    assert await store.stream_version("d") == 0


# --------------------------------------------------------------------------- global order


async def test_catch_up_reader_sees_every_event_exactly_once(
    make_store: MakeStore, database: str
) -> None:
    """Concurrent writers, and a reader resuming from its last position until they stop.

    A test-only trigger sleeps a random moment after each insert, so that a
    transaction that took a lower position often commits after one with a higher
    position would have (the race a plain sequence loses).
    """
    one = await make_store(pool_size=6)
    other = await make_store(one.schema, pool_size=6)
    conn = await admin(one, database)
    try:
        await conn.execute(
            """CREATE FUNCTION dawdle() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN PERFORM pg_sleep(random() * 0.004); RETURN NULL; END $$;
               CREATE TRIGGER dawdle AFTER INSERT ON events
                   FOR EACH STATEMENT EXECUTE FUNCTION dawdle();"""
        )
    finally:
        await conn.close()

    written: list[uuid.UUID] = []
    done = asyncio.Event()

    async def writer(store: PostgresStore, seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(30):
            batch = [NewEvent("t") for _ in range(rng.randint(1, 3))]
            await store.append(StreamWrite(f"s{rng.randint(0, 5)}", ANY, batch))
            written.extend(e.id for e in batch)

    async def writers() -> None:
        try:
            await asyncio.gather(*(writer(one if i % 2 else other, i) for i in range(8)))
        finally:
            done.set()

    seen: list[int] = []
    ids: list[uuid.UUID] = []

    async def reader() -> None:
        last = 0
        while True:
            finished = done.is_set()  # read once more after the writers stop
            async with one.read_all(after_position=last, batch_size=7) as stream:
                async for event in stream:
                    assert event.position == last + 1, "the reader skipped a position"
                    last = event.position
                    seen.append(event.position)
                    ids.append(event.id)
            if finished:
                return
            await asyncio.sleep(0.001)

    await asyncio.wait_for(asyncio.gather(writers(), reader()), timeout=120)
    assert sorted(ids) == sorted(written)
    assert len(set(ids)) == len(ids)
    assert seen == list(range(1, len(written) + 1))


async def test_positions_follow_commit_order(store: PostgresStore) -> None:
    results = await asyncio.gather(
        *(store.append(StreamWrite(f"s{i}", NO_STREAM, events(2))) for i in range(10))
    )
    positions = sorted(p for r in results for p in r.positions)
    assert positions == list(range(1, 21))


# --------------------------------------------------------------------------- reads


async def test_pool_of_one_survives_a_thousand_abandoned_reads(make_store: MakeStore) -> None:
    store = await make_store(pool_size=1)
    await store.append(StreamWrite("s", NO_STREAM, events(30)))

    class Boom(Exception):
        pass

    async def abandon(i: int) -> None:
        mode = i % 4
        if mode == 0:  # break out of `async with`
            async with store.read_stream("s", batch_size=10) as stream:
                async for _ in stream:
                    break
        elif mode == 1:  # an exception in the consumer
            with pytest.raises(Boom):
                async with store.read_all(batch_size=10) as stream:
                    async for _ in stream:
                        raise Boom
        elif mode == 2:  # the consumer is cancelled mid-read
            started = asyncio.Event()

            async def consume() -> None:
                async with store.read_stream("s", batch_size=10) as stream:
                    async for _ in stream:
                        started.set()
                        await asyncio.sleep(3600)

            task = asyncio.create_task(consume())
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        else:  # a bare `async for` left with break: finalized on the next loop turn
            async for _ in store.read_stream("s", batch_size=10):
                break

    async def all_of_them() -> None:
        for i in range(1000):
            await abandon(i)

    await asyncio.wait_for(all_of_them(), timeout=180)
    assert len(await asyncio.wait_for(store.read_stream("s").collect(), 10)) == 30
    assert len(await asyncio.wait_for(store.read_all().collect(), 10)) == 30


async def test_a_default_streamed_read_sets_off_no_garbage_collections(
    store: PostgresStore,
) -> None:
    # The default batch keeps a read's tracked objects in flight (rows, ids, events)
    # under the young generation's threshold: a read that crosses it collects once a
    # batch and, as survivors pile up, walks the whole process now and then (10-19 ms
    # holding the loop; see "Batches of 150" in backends/postgres.py).
    n = 20 * DEFAULT_BATCH_SIZE
    await store.bulk_load([("s", e) for e in events(n)])

    async def young_collections(batch_size: int | None) -> int:
        await store.read_stream("s", batch_size=batch_size).collect()  # warm: plans, pages
        gc.collect()
        before = gc.get_stats()[0]["collections"]
        seen = 0
        async for _ in store.read_stream("s", batch_size=batch_size):
            seen += 1
        assert seen == n
        return gc.get_stats()[0]["collections"] - before

    threshold = gc.get_threshold()[0]
    assert await young_collections(None) <= 2, f"threshold {threshold}"
    # The check can fail: a batch past the threshold collects about once a batch.
    assert await young_collections(2 * DEFAULT_BATCH_SIZE) >= 5


async def test_cut_connection_mid_stream_raises_read_interrupted(store: PostgresStore) -> None:
    await store.bulk_load([("s", e) for e in events(3000)])
    seen = 0
    stream = store.read_stream("s", batch_size=100)
    with pytest.raises(ReadInterrupted, match="from_version"):
        async with stream:
            async for _ in stream:
                seen += 1
                if seen == 1:
                    await store.cut_connections()
    assert 0 < seen < 3000
    with pytest.raises(ReadInterrupted):  # a dead read stays dead
        await stream.collect()
    # The store recovers: new reads and appends work.
    assert len(await store.read_stream("s").collect()) == 3000
    await store.append(StreamWrite("s", 3000, [NewEvent("after")]))
    assert await store.stream_version("s") == 3001


async def test_cut_connection_interrupts_read_all(store: PostgresStore) -> None:
    await store.bulk_load([(f"s{i % 7}", e) for i, e in enumerate(events(2000))])
    seen = 0
    with pytest.raises(ReadInterrupted, match="after_position"):
        async with store.read_all(batch_size=50) as stream:
            async for _ in stream:
                seen += 1
                if seen == 60:
                    await store.cut_connections()
    assert 60 <= seen < 2000


async def test_streamed_read_returns_the_snapshot_at_open(store: PostgresStore) -> None:
    await store.append(StreamWrite("s", NO_STREAM, events(25)))
    async with (
        store.read_stream("s", batch_size=10) as mine,
        store.read_all(batch_size=10) as everything,
    ):
        await store.append(StreamWrite("s", 25, events(5)), StreamWrite("t", ANY, events(1)))
        assert len([e async for e in mine]) == 25
        assert len([e async for e in everything]) == 25


async def test_raw_scan_fetches_the_same_batches_as_the_streamed_read(store: PostgresStore) -> None:
    await store.bulk_load([("s", e) for e in events(1234)])
    counts = [n async for n in store.raw_scan("s", batch_size=600)]
    # The first round trip fetches one decoding slice (an early first event), the
    # rest full batches.
    assert counts == [DECODE_CHUNK, 600, 1234 - 600 - DECODE_CHUNK]
    sizes = [len(b) async for b in store.read_stream("s", batch_size=600).batches()]
    # The streamed read hands each fetched batch over in slices of DECODE_CHUNK.
    slices = [min(DECODE_CHUNK, n - at) for n in counts for at in range(0, n, DECODE_CHUNK)]
    assert sizes == slices
    assert len(sizes) > len(counts)
    assert [n async for n in store.raw_scan("missing")] == []


def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _plan_nodes(child)


async def _explain(conn: asyncpg.Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    text = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
    return list(_plan_nodes(json.loads(text)[0]["Plan"]))


def _assert_index_range_scan(nodes: list[dict[str, Any]], index: str, when: str) -> None:
    kinds = [node["Node Type"] for node in nodes]
    scans = [n for n in nodes if n["Node Type"] in ("Index Scan", "Index Only Scan")]
    assert [n["Index Name"] for n in scans] == [index], f"{when}: {kinds}"
    assert not {"Sort", "Bitmap Heap Scan", "Seq Scan"} & set(kinds), f"{when}: {kinds}"


@pytest.mark.slow
async def test_first_batch_is_an_index_range_scan_with_or_without_statistics(
    store: PostgresStore, database: str
) -> None:
    # Right after a bulk load the table has no statistics (autovacuum may not have
    # run): the first batches must still read the index in order, not the rest of
    # the stream through a bitmap scan and a sort.
    n = 50_000
    # ~250-byte events, as the benchmark seeds (the planner's guesses depend on pages).
    load = [("big", NewEvent("t", {"i": i, "pad": "x" * 250})) for i in range(n)]
    await store.bulk_load([*load, *[("other", e) for e in events(10)]])
    read = store._stream_plan("big", 0, 250)
    all_read = store._all_plan(0, 250)
    conn = await admin(store, database)
    try:
        assert await conn.fetchval(
            "SELECT last_analyze IS NULL AND last_autoanalyze IS NULL "
            "FROM pg_stat_user_tables WHERE relid = 'events'::regclass"
        )
        for when in ("before ANALYZE", "after ANALYZE"):
            if when == "after ANALYZE":
                await conn.execute("ANALYZE events")
            for start in (0, n // 2):
                nodes = await _explain(conn, read.batch_sql, *read.batch_args(start, n, 250))
                _assert_index_range_scan(nodes, "events_stream_id_stream_version_key", when)
                nodes = await _explain(
                    conn, all_read.batch_sql, *all_read.batch_args(start, n + 10, 250)
                )
                _assert_index_range_scan(nodes, "events_pkey", when)
            # The store's sessions use generic plans (planned without the parameters'
            # values), for collected reads too: those must be the same scans.
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            for statement, args, index in (
                (read.batch_sql, f"'big', 0, {n}, 250", "events_stream_id_stream_version_key"),
                (all_read.batch_sql, "0, 250", "events_pkey"),
            ):
                await conn.execute(f"PREPARE statement AS {statement}")
                text = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE statement({args})")
                nodes = list(_plan_nodes(json.loads(text)[0]["Plan"]))
                _assert_index_range_scan(nodes, index, f"{when}, generic: {statement}")
                await conn.execute("DEALLOCATE statement")
            await conn.execute("RESET plan_cache_mode")
    finally:
        await conn.close()
    counts = [c async for c in store.raw_scan("big")]
    assert sum(counts) == n


async def test_a_streamed_read_plans_its_batch_statement_once(make_store: MakeStore) -> None:
    # With plan_cache_mode at its default the server planned the keyset query again for
    # every batch (a custom plan each time: its cost estimate depends on the bounds),
    # which cost the server half again its time per batch of a 1M-event read.
    store = await make_store(pool_size=1)  # every query below runs on the one connection
    await store.bulk_load([("s", e) for e in events(2_000)])
    batches = [n async for n in store.raw_scan("s", batch_size=100)]
    assert sum(batches) == 2_000 and len(batches) > 10
    assert len([e async for e in store.read_stream("s", batch_size=100)]) == 2_000
    # A collected read runs the same statement: its generic plan is the index scan,
    # where a statement of its own was planned as a bitmap scan and a sort.
    assert len(await store.read_stream("s", from_version=5).collect()) == 1_995
    async with store._require_pool().acquire() as conn:
        rows = await conn.fetch(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE '%ORDER BY stream_id, stream_version%' "
            "AND statement NOT LIKE '%pg_prepared%'"
        )
    assert len(rows) == 1, rows
    assert rows[0]["custom_plans"] == 0 and rows[0]["generic_plans"] >= 41, rows


async def test_collected_reads_keep_statements_of_their_own_without_generic_plans(
    make_store: MakeStore,
) -> None:
    # As on a server before 12, which plans every execution: there the batch statement
    # with no limit was planned as a parallel bitmap scan and a sort of the stream.
    store = await make_store(pool_size=1)
    await store.bulk_load([(s, e) for s in ("s", "t") for e in events(30)])
    want_stream = await store.read_stream("s", from_version=3).collect()
    want_all = await store.read_all(after_position=4).collect()
    assert (len(want_stream), len(want_all)) == (27, 56)
    store._generic_plans = False
    assert await store.read_stream("s", from_version=3).collect() == want_stream
    assert await store.read_all(after_position=4).collect() == want_all
    async with store._require_pool().acquire() as conn:
        unlimited = await conn.fetch(
            "SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%events%' "
            "AND statement NOT LIKE '%LIMIT%' AND statement NOT LIKE '%pg_prepared%'"
        )
    assert len(unlimited) == 2, unlimited


@pytest.mark.parametrize(("major", "sets"), [(11, False), (12, True), (17, True)])
async def test_generic_plans_are_asked_only_of_servers_that_know_the_setting(
    major: int, sets: bool
) -> None:
    # A server before 12 refuses a session that names plan_cache_mode.
    statements: list[str] = []

    class Connection:
        def get_server_version(self) -> Any:
            return asyncpg.types.ServerVersion(major, 0, 0, "final", 0)

        async def set_builtin_type_codec(self, *args: Any, **kwargs: Any) -> None:
            pass

        async def execute(self, sql: str) -> None:
            statements.append(sql)

    await _init_connection(Connection())  # type: ignore[arg-type]
    assert statements == (["SET plan_cache_mode = force_generic_plan"] if sets else [])


# --------------------------------------------------------------------------- writes


async def test_an_append_is_one_statement(make_store: MakeStore) -> None:
    store = await make_store(pool_size=1)
    await store.append(StreamWrite("s", NO_STREAM, events(1)))  # prepares the statement
    queries: list[str] = []

    def log(record: Any) -> None:
        queries.append(record.query)

    async with store._require_pool().acquire() as conn:
        conn.add_query_logger(log)  # stays on the pool's only connection
    try:
        one = await store.append(StreamWrite("s", 1, events(1)))
        two = await store.append(StreamWrite("t", ANY, events(2)), StreamWrite("s", 2))
    finally:
        async with store._require_pool().acquire() as conn:
            conn.remove_query_logger(log)
    assert len(queries) == 2, queries
    assert (one.versions, one.positions) == ({"s": 2}, (2,))
    assert (two.versions, two.positions) == ({"t": 2, "s": 2}, (3, 4))


async def test_wrong_expected_version_names_the_failing_write_and_writes_nothing(
    store: PostgresStore,
) -> None:
    await store.append(StreamWrite("a", NO_STREAM, events(2)), StreamWrite("b", ANY, events(1)))
    cases = [
        ((StreamWrite("a", 2, events(1)), StreamWrite("b", 3, events(1))), ("b", 3, 1)),
        ((StreamWrite("c", STREAM_EXISTS, events(1)),), ("c", STREAM_EXISTS, 0)),
        ((StreamWrite("a", ANY, events(1)), StreamWrite("b", NO_STREAM)), ("b", NO_STREAM, 1)),
        ((StreamWrite("a", 2**63 - 1, events(1)),), ("a", 2**63 - 1, 2)),
    ]
    for writes, (stream, expected, actual) in cases:
        with pytest.raises(WrongExpectedVersion) as caught:
            await store.append(*writes)
        assert (caught.value.stream_id, caught.value.expected, caught.value.actual) == (
            stream,
            expected,
            actual,
        )
    # Past a signed 64-bit count no store can be (the contract's MAX_VERSION).
    with pytest.raises(InvalidAppend, match="2\\*\\*63 - 1"):
        await store.append(StreamWrite("a", 2**70, events(1)))
    assert len(await store.read_all().collect()) == 3
    assert (await store.append(StreamWrite("c", NO_STREAM, events(1)))).positions == (4,)


async def test_large_appends_use_copy_and_stay_atomic(store: PostgresStore) -> None:
    big = events(COPY_THRESHOLD + 10)
    await store.append(StreamWrite("x", NO_STREAM, events(1)))
    result = await store.append(StreamWrite("a", NO_STREAM, big), StreamWrite("x", 1, events(2)))
    assert result.versions == {"a": len(big), "x": 3}
    assert result.positions == tuple(range(2, len(big) + 4))
    read = await store.read_stream("a").collect()
    assert [e.id for e in read] == [e.id for e in big]
    with pytest.raises(WrongExpectedVersion):
        await store.append(StreamWrite("b", NO_STREAM, events(COPY_THRESHOLD)), StreamWrite("x", 1))
    with pytest.raises(DuplicateEventId):
        await store.append(StreamWrite("c", NO_STREAM, [*events(COPY_THRESHOLD), big[0]]))
    assert await store.stream_version("b") == 0
    assert await store.stream_version("c") == 0
    assert len(await store.read_all().collect()) == len(big) + 3


async def test_bulk_load_continues_streams_and_positions(store: PostgresStore) -> None:
    await store.append(StreamWrite("a", NO_STREAM, events(2)))
    await store.bulk_load([("a", NewEvent("t")), ("b", NewEvent("t")), ("a", NewEvent("t"))])
    everything = await store.read_all().collect()
    assert [(e.stream_id, e.stream_version, e.position) for e in everything] == [
        ("a", 1, 1),
        ("a", 2, 2),
        ("a", 3, 3),
        ("b", 1, 4),
        ("a", 4, 5),
    ]
    await store.append(StreamWrite("a", 4, [NewEvent("t")]))


@pytest.mark.parametrize(
    ("write", "error"),
    [
        (StreamWrite("", ANY, [NewEvent("t")]), InvalidStreamId),
        (StreamWrite("bad\x00id", ANY, [NewEvent("t")]), InvalidStreamId),
        (StreamWrite("s", ANY, [NewEvent("t", {"x": {1, 2}})]), InvalidEvent),
        (StreamWrite("s", ANY, [NewEvent("t", {"x": "\ud800"})]), InvalidEvent),
        (StreamWrite("s", ANY, [NewEvent("t", {"x": float("nan")})]), InvalidEvent),
        (StreamWrite("s", ANY, [NewEvent("t", {"x": "y" * (8 * 1024 * 1024)})]), InvalidEvent),
    ],
    ids=["empty-id", "nul-id", "set", "surrogate", "nan", "oversized"],
)
async def test_bad_input_is_typed_and_writes_nothing(
    store: PostgresStore, write: StreamWrite, error: type[Exception]
) -> None:
    good = StreamWrite("good", NO_STREAM, [NewEvent("t")])
    with pytest.raises(error):
        await store.append(good, write)
    with pytest.raises(error):
        await store.bulk_load(
            [("good", NewEvent("t")), *((write.stream_id, e) for e in write.events)]
        )
    assert await store.read_all().collect() == []


# --------------------------------------------------------------------------- schema


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET type = 'changed'",
        "DELETE FROM events",
        "TRUNCATE events",
    ],
)
async def test_stored_events_are_immutable(
    store: PostgresStore, database: str, statement: str
) -> None:
    await store.append(StreamWrite("s", NO_STREAM, events(2)))
    conn = await admin(store, database)
    try:
        with pytest.raises(asyncpg.PostgresError, match="immutable"):
            await conn.execute(statement)
    finally:
        await conn.close()
    assert [e.type for e in await store.read_stream("s").collect()] == ["e-type", "e-type"]


async def test_schema_creation_is_idempotent_and_safe_to_race(
    make_store: MakeStore, database: str
) -> None:
    schema = f"t_{secrets.token_hex(5)}"
    stores = await asyncio.gather(*(make_store(schema, pool_size=1) for _ in range(4)))
    await stores[0].append(StreamWrite("s", NO_STREAM, events(1)))
    again = await make_store(schema)
    assert await again.stream_version("s") == 1
    conn = await asyncpg.connect(database)
    try:
        versions = await conn.fetch(f'SELECT version FROM "{schema}".schema_info')
    finally:
        await conn.close()
    assert [row[0] for row in versions] == [SCHEMA_VERSION]


async def test_a_schema_of_another_layout_version_is_refused(
    make_store: MakeStore, database: str
) -> None:
    store = await make_store()
    conn = await admin(store, database)
    try:
        await conn.execute("UPDATE schema_info SET version = 99")
    finally:
        await conn.close()
    with pytest.raises(StoreUnavailable, match="layout version 99"):
        await make_store(store.schema)


async def test_a_layout_1_schema_is_upgraded_in_place(make_store: MakeStore, database: str) -> None:
    store = await make_store()
    await store.append(StreamWrite("s", NO_STREAM, events(3)))
    await store.aclose()
    conn = await admin(store, database)
    try:  # what layout 1 was: no append function
        await conn.execute("DROP FUNCTION append_events; UPDATE schema_info SET version = 1")
    finally:
        await conn.close()
    again = await make_store(store.schema)
    result = await again.append(StreamWrite("s", 3, events(1)))
    assert result.positions == (4,)
    assert [e.stream_version for e in await again.read_stream("s").collect()] == [1, 2, 3, 4]
    conn = await admin(store, database)
    try:
        assert await conn.fetchval("SELECT array_agg(version) FROM schema_info") == [SCHEMA_VERSION]
    finally:
        await conn.close()


def test_bad_schema_names_and_pool_sizes_are_refused(database: str) -> None:
    with pytest.raises(ValueError, match="identifier"):
        PostgresStore(database, schema='x"; DROP TABLE y; --')
    with pytest.raises(ValueError, match="pool_size"):
        PostgresStore(database, pool_size=0)


async def test_closed_store_says_how_to_open_it(make_store: MakeStore) -> None:
    store = await make_store()
    await store.aclose()
    with pytest.raises(StoreUnavailable, match="async with"):
        await store.append(StreamWrite("s", ANY, [NewEvent("t")]))
    with pytest.raises(StoreUnavailable):
        await store.read_stream("s").collect()


async def test_unreachable_server_is_store_unavailable_without_the_password() -> None:
    store = PostgresStore("postgresql://u:hunter2@127.0.0.1:1/db", connect_timeout=2)
    with pytest.raises(StoreUnavailable) as caught:
        await store.open()
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(store)


# --------------------------------------------------------------------------- URLs


def test_open_store_takes_schema_and_options_out_of_the_url() -> None:
    store = open_store(
        "postgresql://u:pw@db.example:5433/app?schema=bench&pool_size=3&sslmode=disable"
    )
    assert store.schema == "bench"
    assert store._dsn == "postgresql://u:pw@db.example:5433/app?sslmode=disable"
    assert store._pool_size == 3
    assert "pw" not in repr(store)
    assert open_store("postgresql://h/db").schema == "eventbench"
    with pytest.raises(ValueError, match="postgresql://"):
        open_store("mysql://u:secret@h/db")
    with pytest.raises(ValueError, match="pool_size"):
        open_store("postgresql://h/db?pool_size=many")


async def test_open_store_url_round_trip(database: str) -> None:
    schema = f"t_{secrets.token_hex(5)}"
    async with open_store(f"{database}?schema={schema}") as store:
        await store.append(StreamWrite("s", NO_STREAM, events(1)))
    async with open_store(f"{database}?schema={schema}") as store:
        assert await store.stream_version("s") == 1
