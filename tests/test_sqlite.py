"""SQLite-specific rules: schema, immutability, concurrency across instances and
processes, read transactions and their release, hostile input, connection cuts.

The behaviour every store shares is tested in test_store.py / test_contract.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from backends.sqlite import (
    APPLICATION_ID,
    DEFAULT_BATCH_SIZE_SQLITE,
    SCHEMA_VERSION,
    SqliteStore,
    availability,
    open_store,
    temporary_store,
)
from harness.contract import (
    ANY,
    NO_STREAM,
    DuplicateEventId,
    InvalidEvent,
    InvalidStreamId,
    NewEvent,
    ReadInterrupted,
    StoreUnavailable,
    StreamWrite,
    WrongExpectedVersion,
)

DEADLINE = 20.0  # seconds; only reached if something deadlocks


def events(n: int, prefix: str = "E") -> list[NewEvent]:
    return [NewEvent(f"{prefix}{i}", {"i": i, "pad": "x" * 50}) for i in range(n)]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "events.db"


@pytest.fixture
async def file_store(db_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(db_path, synchronous="NORMAL") as store:
        yield store


@pytest.fixture(params=["file", "memory"])
async def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqliteStore]:
    path = tmp_path / "events.db" if request.param == "file" else ":memory:"
    async with SqliteStore(path, synchronous="NORMAL") as store:
        yield store


def raw(path: Path | str, timeout: float = 5.0) -> contextlib.closing[sqlite3.Connection]:
    """A plain sqlite3 connection from outside the store (autocommit), closed on exit."""
    return contextlib.closing(sqlite3.connect(path, timeout=timeout, isolation_level=None))


def exists(path: Path) -> bool:
    return path.exists()


def raw_count(path: Path) -> int:
    with raw(path) as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])


def checkpoint_blocked(path: Path) -> bool:
    """True if some connection still holds a read transaction on the file.

    A checkpoint cannot copy frames newer than the oldest open read transaction's
    snapshot into the database, so after a fresh write a TRUNCATE checkpoint reports
    busy exactly while some reader is still inside a read transaction.
    """
    with raw(path, timeout=0.05) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS probe (x)")
        conn.execute("INSERT INTO probe VALUES (1)")
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return bool(busy)


# --------------------------------------------------------------------------- module API


def test_available_here() -> None:
    assert availability() is None


def test_open_store_urls(tmp_path: Path) -> None:
    assert open_store("sqlite:events.db").path == "events.db"
    assert open_store(f"sqlite:{tmp_path}/a.db").path == f"{tmp_path}/a.db"
    memory = open_store("sqlite::memory:")
    assert memory.path == ":memory:"
    assert not memory.capabilities.persistent
    for bad in ["events.db", "sqlite:", "sqlite:///x.db", "postgresql://x", "SQLITE:x"]:
        with pytest.raises(ValueError, match="sqlite:"):
            open_store(bad)


def test_ids_are_parsed_exactly() -> None:
    from backends import sqlite as module

    for _ in range(100):
        original = uuid.uuid4()
        parsed = module._make_uuid(str(original))
        assert isinstance(parsed, uuid.UUID)
        assert parsed == original and original == parsed and hash(parsed) == hash(original)
        assert str(parsed) == str(original) and parsed.int == original.int
    with pytest.raises(ValueError):
        module._make_uuid("not-a-uuid")


def test_capabilities() -> None:
    caps = SqliteStore("x.db").capabilities
    assert caps.persistent and caps.multi_process and caps.nul_in_strings


async def test_settings_are_the_defaults_a_user_gets_and_say_whether_analyzed() -> None:
    async with temporary_store() as store:
        settings = await store.settings()
        assert settings["synchronous"] == "FULL"
        assert settings["journal_mode"] == "WAL"
        assert settings["default_batch_size"] == str(DEFAULT_BATCH_SIZE_SQLITE)
        assert settings["analyzed"] == "no"
        await store.bulk_load([("s", NewEvent("t", {"i": i})) for i in range(20)])
        await store.analyze()
        assert (await store.settings())["analyzed"] == "yes"


async def test_temporary_store_is_deleted_on_exit() -> None:
    async with temporary_store() as store:
        path = Path(store.path)
        await store.append(StreamWrite("s", NO_STREAM, events(1)))
        assert exists(path)
    assert not exists(path)
    assert not exists(path.parent)


async def test_a_closed_store_says_how_to_open_it(db_path: Path) -> None:
    store = SqliteStore(db_path)
    with pytest.raises(StoreUnavailable, match="async with"):
        await store.append(StreamWrite("s", ANY, events(1)))
    async with store:
        pass
    await store.aclose()  # twice is fine
    with pytest.raises(StoreUnavailable, match="not open"):
        await store.read_stream("s").collect()


# --------------------------------------------------------------------------- schema


async def test_schema_is_versioned_and_reopening_keeps_the_data(db_path: Path) -> None:
    async with SqliteStore(db_path) as store:
        await store.append(StreamWrite("s", NO_STREAM, events(3)))
        await store.open()  # opening twice is a no-op
    for round_ in range(2):  # re-creating the schema on an existing file changes nothing
        async with SqliteStore(db_path) as store:
            got = [e.type for e in await store.read_stream("s").collect()]
            assert got == ["E0", "E1", "E2", *(["F0"] if round_ else [])]
            if not round_:
                result = await store.append(StreamWrite("s", 3, events(1, "F")))
                assert result.versions == {"s": 4}
    with raw(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        triggers = {
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")
        }
        assert triggers == {"events_refuse_update", "events_refuse_delete"}
    assert raw_count(db_path) == 4


async def test_a_foreign_database_is_refused_untouched(db_path: Path) -> None:
    with raw(db_path) as conn:
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO events (body) VALUES ('mine')")
    with pytest.raises(StoreUnavailable, match="did not create"):
        await SqliteStore(db_path).open()
    with raw(db_path) as conn:
        assert conn.execute("SELECT body FROM events").fetchall() == [("mine",)]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0


async def test_a_newer_schema_is_refused(db_path: Path) -> None:
    async with SqliteStore(db_path):
        pass
    with raw(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreUnavailable, match="upgrade eventbench"):
        await SqliteStore(db_path).open()


async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not a database, just text " * 100)
    with pytest.raises(StoreUnavailable, match="SQLite database"):
        await SqliteStore(path).open()
    with pytest.raises(StoreUnavailable, match="does not exist; create it"):
        await SqliteStore(tmp_path / "missing-dir" / "events.db").open()
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreUnavailable, match="cannot be used"):
        await SqliteStore(tmp_path / "dir.db").open()


async def test_a_stream_read_is_an_index_range_scan(file_store: SqliteStore) -> None:
    from backends.sqlite import _READ_ALL, _READ_STREAM

    with raw(file_store.path) as conn:
        stream_plan = " ".join(
            r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {_READ_STREAM}", ("s", 0))
        )
        all_plan = " ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {_READ_ALL}", (0,)))
    assert "SEARCH events USING INDEX" in stream_plan
    assert "(stream_id=? AND stream_version>?)" in stream_plan
    assert "TEMP B-TREE" not in stream_plan  # no sort: the index gives the order
    assert "INTEGER PRIMARY KEY (rowid>?)" in all_plan
    assert "TEMP B-TREE" not in all_plan


# --------------------------------------------------------------------------- immutability


async def test_stored_events_cannot_be_updated_or_deleted(file_store: SqliteStore) -> None:
    await file_store.append(StreamWrite("s", NO_STREAM, events(2)))
    with raw(file_store.path) as conn:
        for sql in [
            "UPDATE events SET data = '{}'",
            "UPDATE events SET stream_version = stream_version + 10",
            "DELETE FROM events",
            "DELETE FROM events WHERE position = 1",
        ]:
            with pytest.raises(sqlite3.IntegrityError, match="immutable"):
                conn.execute(sql)
    assert [e.data["i"] for e in await file_store.read_stream("s").collect()] == [0, 1]


# --------------------------------------------------------------------------- concurrency


async def race(stores: list[SqliteStore], stream: str, attempts: int) -> tuple[int, int]:
    """Each attempt reads the version and appends at it; returns (won, lost)."""
    outcomes: list[bool] = []
    losers_saw_newer: list[bool] = []

    async def one(store: SqliteStore, i: int) -> None:
        version = await store.stream_version(stream)
        try:
            await store.append(StreamWrite(stream, version, [NewEvent("T", {"i": i})]))
        except WrongExpectedVersion as exc:
            losers_saw_newer.append(exc.actual > version)
            outcomes.append(False)
        else:
            outcomes.append(True)

    await asyncio.gather(*(one(stores[i % len(stores)], i) for i in range(attempts)))
    assert all(losers_saw_newer)
    return outcomes.count(True), outcomes.count(False)


async def test_two_instances_on_one_file_race_cleanly(db_path: Path) -> None:
    async with SqliteStore(db_path) as a, SqliteStore(db_path) as b:
        won, lost = await asyncio.wait_for(race([a, b], "s", 60), DEADLINE)
        assert won + lost == 60 and won >= 1
        got = await b.read_stream("s").collect()
        assert [e.stream_version for e in got] == list(range(1, won + 1))
        assert await a.stream_version("s") == won
        # Multi-stream appends from both instances stay atomic.
        await a.append(
            StreamWrite("x", NO_STREAM, events(1)), StreamWrite("y", NO_STREAM, events(1))
        )
        with pytest.raises(WrongExpectedVersion):
            await b.append(
                StreamWrite("z", NO_STREAM, events(1)), StreamWrite("y", NO_STREAM, events(1))
            )
        assert await a.stream_version("z") == 0


WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from backends.sqlite import SqliteStore
    from harness.contract import NewEvent, StreamWrite, WrongExpectedVersion

    async def main(path, name, n):
        won = lost = 0
        async with SqliteStore(path) as store:
            for i in range(n):
                version = await store.stream_version("shared")
                try:
                    await store.append(StreamWrite("shared", version, [NewEvent(name, {"i": i})]))
                    won += 1
                except WrongExpectedVersion:
                    lost += 1
        print(won, lost)

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


async def run_workers(path: Path, *, processes: int, appends: int) -> list[str]:
    """Run WORKER in several processes at once; return each one's "won lost" line."""
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WORKER,
            str(path),
            f"P{i}",
            str(appends),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for i in range(processes)
    ]
    outs = []
    for proc in procs:
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        # A "database is locked" (or any other error) would surface here.
        assert proc.returncode == 0, err.decode()
        outs.append(out.decode())
    return outs


async def test_two_processes_race_cleanly(db_path: Path) -> None:
    async with SqliteStore(db_path):
        pass  # create the file first, as a deployment would
    total_won = 0
    for out in await run_workers(db_path, processes=2, appends=40):
        won, lost = map(int, out.split())
        assert won + lost == 40
        total_won += won
    async with SqliteStore(db_path) as store:
        got = await store.read_stream("shared").collect()
    assert [e.stream_version for e in got] == list(range(1, total_won + 1))
    assert len({e.id for e in got}) == total_won


async def test_first_open_by_two_processes_at_once(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    outs = await run_workers(path, processes=3, appends=5)
    assert sum(int(out.split()[0]) for out in outs) == raw_count(path) >= 1


async def test_a_writer_holding_the_lock_too_long_gets_a_clear_error(db_path: Path) -> None:
    async with SqliteStore(db_path, busy_timeout=0.2) as store:
        blocker = sqlite3.connect(db_path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreUnavailable, match="write lock") as info:
                await store.append(StreamWrite("s", ANY, events(1)))
            assert "database is locked" not in str(info.value)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await store.append(StreamWrite("s", ANY, events(1)))  # and it recovers
        assert await store.stream_version("s") == 1


# --------------------------------------------------------------------------- reads


async def test_an_undrained_stream_never_blocks_an_append(any_store: SqliteStore) -> None:
    await any_store.append(StreamWrite("s", NO_STREAM, events(50)))
    async with any_store.read_stream("s", batch_size=10) as stream:
        first = await anext(aiter(stream))
        # Same task, stream open and undrained: must not wait on the reader.
        await asyncio.wait_for(any_store.append(StreamWrite("s", 50, events(5, "N"))), DEADLINE)
        await asyncio.wait_for(any_store.bulk_load([("t", e) for e in events(5)]), DEADLINE)
        rest = [e async for e in stream]
    # The read is the snapshot at open: the appended events are not in it.
    assert [first.stream_version, *(e.stream_version for e in rest)] == list(range(1, 51))
    assert await any_store.stream_version("s") == 55


async def test_many_concurrent_streamed_reads(any_store: SqliteStore) -> None:
    await any_store.append(StreamWrite("s", NO_STREAM, events(30)))
    streams = [any_store.read_stream("s", batch_size=7) for _ in range(40)]
    for stream in streams:
        await stream.__aenter__()
    await any_store.append(StreamWrite("s", 30, events(3)))
    results = await asyncio.wait_for(asyncio.gather(*(s.collect() for s in streams)), DEADLINE)
    assert all([e.stream_version for e in got] == list(range(1, 31)) for got in results)
    for stream in streams:
        await stream.aclose()


async def test_leaving_a_read_early_ends_its_transaction_at_once(file_store: SqliteStore) -> None:
    await file_store.append(StreamWrite("s", NO_STREAM, events(100)))
    path = Path(file_store.path)
    assert not checkpoint_blocked(path)
    async with file_store.read_stream("s", batch_size=10) as stream:
        async for _ in stream:
            break
        assert checkpoint_blocked(path)  # the read transaction is really held
    assert not checkpoint_blocked(path)  # and really released on exit, not later

    stream = file_store.read_stream("s", batch_size=10)
    await anext(aiter(stream))
    assert checkpoint_blocked(path)
    await stream.aclose()
    assert not checkpoint_blocked(path)

    with pytest.raises(RuntimeError, match="boom"):
        async with file_store.read_stream("s", batch_size=10) as stream:
            async for _ in stream:
                raise RuntimeError("boom")
    assert not checkpoint_blocked(path)

    scan = file_store.raw_scan("s", batch_size=10)
    assert await anext(scan) == 10
    assert checkpoint_blocked(path)
    await scan.aclose()
    assert not checkpoint_blocked(path)


async def test_a_thousand_abandoned_reads_leave_nothing_behind(file_store: SqliteStore) -> None:
    await file_store.append(StreamWrite("s", NO_STREAM, events(20)))
    started = asyncio.Event()

    async def hang() -> None:
        async with file_store.read_stream("s", batch_size=5) as stream:
            async for _ in stream:
                started.set()
                await asyncio.sleep(3600)

    for i in range(1000):
        kind = i % 4
        if kind == 0:
            async with file_store.read_stream("s", batch_size=5) as stream:
                async for _ in stream:
                    break
        elif kind == 1:
            async for _ in file_store.read_stream("s", batch_size=5):
                break  # bare loop: released when the stream is garbage
        elif kind == 2:
            with pytest.raises(KeyError):
                async with file_store.read_stream("s", batch_size=5) as stream:
                    async for _ in stream:
                        raise KeyError("x")
        else:
            started.clear()
            task = asyncio.create_task(hang())
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    for _ in range(10):
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    assert not file_store._pool.leased  # every reader came back
    assert len(file_store._pool.idle) <= 4
    assert not checkpoint_blocked(Path(file_store.path))
    await file_store.append(StreamWrite("s", 20, events(1)))
    assert len(await file_store.read_stream("s").collect()) == 21


async def test_memory_reads_are_snapshots_too() -> None:
    async with SqliteStore(":memory:") as store:
        await store.append(StreamWrite("a", NO_STREAM, events(25)))
        await store.append(StreamWrite("b", NO_STREAM, events(5)))
        stream = store.read_all(batch_size=4)
        first = await anext(aiter(stream))
        await store.append(StreamWrite("a", 25, events(10)))
        rest = [e async for e in stream]
        assert [first.position, *(e.position for e in rest)] == list(range(1, 31))
        assert len(await store.read_all().collect()) == 40
        assert [
            e.stream_version for e in await store.read_stream("a", from_version=30).collect()
        ] == [
            31,
            32,
            33,
            34,
            35,
        ]
    async with SqliteStore(":memory:") as other:  # each store is its own database
        assert await other.stream_version("a") == 0


async def test_raw_scan_counts_the_rows_of_a_stream(any_store: SqliteStore) -> None:
    await any_store.bulk_load([("s", e) for e in events(23)] + [("t", e) for e in events(4)])
    assert [n async for n in any_store.raw_scan("s", batch_size=10)] == [10, 10, 3]
    assert [n async for n in any_store.raw_scan("missing")] == []


@pytest.mark.parametrize("batch_size", [7, None, DEFAULT_BATCH_SIZE_SQLITE + 1])
async def test_streamed_batches_are_whole_batches_of_the_snapshot(
    any_store: SqliteStore, batch_size: int | None
) -> None:
    # The first batch from the connection's thread, the rest from the loop's, the last
    # one short: every batch is batch_size but the last, and together they are exactly
    # the collected read.
    n = 2 * DEFAULT_BATCH_SIZE_SQLITE + 345
    await any_store.bulk_load([("s", e) for e in events(n)])
    size = batch_size or DEFAULT_BATCH_SIZE_SQLITE
    read = any_store.read_stream("s", batch_size=batch_size)
    batches = [list(batch) async for batch in read.batches()]
    assert [len(b) for b in batches[:-1]] == [size] * (len(batches) - 1)
    assert 0 < len(batches[-1]) <= size
    streamed = [event for batch in batches for event in batch]
    assert streamed == await any_store.read_stream("s").collect()
    assert [n async for n in any_store.raw_scan("s", batch_size=batch_size)] == [
        len(b) for b in batches
    ]


async def test_later_batches_are_fetched_without_a_thread_hop(file_store: SqliteStore) -> None:
    # A canary for aiosqlite's internals: if its cursor stopped exposing the sqlite3
    # cursor, reads would quietly go back to a thread hop per batch (correct, slower).
    from backends import sqlite as module

    await file_store.bulk_load([("s", e) for e in events(10)])
    lease = await file_store._lease()
    try:
        cursor = await lease.conn.execute("SELECT stream_version FROM events ORDER BY 1")
        fetch = module._in_loop_fetchmany(cursor)
        assert fetch is not None
        assert await cursor.fetchmany(4) == [(1,), (2,), (3,), (4,)]
        assert fetch(4) == [(5,), (6,), (7,), (8,)]
        await cursor.close()
    finally:
        file_store._give_back(lease, clean=False)


def _valve_sees(
    monkeypatch: pytest.MonkeyPatch,
    blocks: Callable[[], int | None],
    cpu: Callable[[], float],
) -> list[int]:
    """Give the loop-fetch valve these readings of the thread's blocks read from
    storage and CPU clock, with every fetch "slow" (a limit of 0 s); the sizes of the
    fetches a streamed read then makes on the loop's thread, in order, fill the list."""
    from backends import sqlite as module

    calls: list[int] = []
    real = module._in_loop_fetchmany

    def counting(cursor: Any) -> Any:
        fetch = real(cursor)
        assert fetch is not None

        def counted(size: int) -> Any:
            calls.append(size)
            return fetch(size)

        return counted

    monkeypatch.setattr(module, "_in_loop_fetchmany", counting)
    monkeypatch.setattr(module, "_blocks_read", blocks)
    monkeypatch.setattr(module, "_thread_cpu", cpu)
    monkeypatch.setattr(module, "LOOP_FETCH_LIMIT_S", 0.0)
    return calls


def _ever_more() -> Callable[[], int]:
    """A reading that moves at every call (blocks read, or seconds of CPU)."""
    return itertools.count().__next__


async def test_fetches_that_wait_for_the_disk_send_the_rest_of_the_read_to_the_thread(
    file_store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if every page came from a slow disk: after two fetches in a row that read
    # blocks from storage and waited for them, the rest of the read is fetched in the
    # connection's thread, and read whole.
    from backends import sqlite as module

    calls = _valve_sees(monkeypatch, _ever_more(), lambda: 0.0)  # all of it waiting
    await file_store.bulk_load([("s", e) for e in events(1000)])
    streamed = [e async for e in file_store.read_stream("s", batch_size=10)]
    assert [e.stream_version for e in streamed] == list(range(1, 1001))
    # The first batch's rest, then two later batches in a row that took "too long";
    # no more.
    assert calls == [9, 10, 10]
    monkeypatch.setattr(module, "LOOP_FETCH_LIMIT_S", 60.0)
    calls.clear()
    assert len([e async for e in file_store.read_stream("s", batch_size=10)]) == 1000
    # Fast fetches stay on the loop whatever they read: the first one's 9 rows, 99
    # batches of 10, the empty end.
    assert calls == [9] + [10] * 100


async def test_slow_fetches_from_the_page_cache_stay_on_the_loop(
    file_store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fetch made slow by a busy core (or by cachegrind) read nothing from storage:
    # the read keeps its path, so its cost does not depend on the machine's load.
    calls = _valve_sees(monkeypatch, lambda: 7, lambda: 0.0)
    await file_store.bulk_load([("s", e) for e in events(1000)])
    assert len([e async for e in file_store.read_stream("s", batch_size=10)]) == 1000
    assert calls == [9] + [10] * 100


async def test_fetches_from_storage_that_spent_their_time_computing_stay_on_the_loop(
    file_store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under cachegrind every fetch is slow, and on a machine that evicts the page cache
    # some read blocks; they waited for no disk, so the read keeps its path (and count).
    calls = _valve_sees(monkeypatch, _ever_more(), _ever_more())  # 1 s of CPU each
    await file_store.bulk_load([("s", e) for e in events(1000)])
    assert len([e async for e in file_store.read_stream("s", batch_size=10)]) == 1000
    assert calls == [9] + [10] * 100


async def test_where_disk_reads_are_not_counted_the_wait_alone_decides(
    file_store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _valve_sees(monkeypatch, lambda: None, lambda: 0.0)
    await file_store.bulk_load([("s", e) for e in events(1000)])
    assert len([e async for e in file_store.read_stream("s", batch_size=10)]) == 1000
    assert calls == [9, 10, 10]


def _filesystem_type(path: Path) -> str:
    """The type of the filesystem ``path`` lives on, from /proc/self/mountinfo."""
    best, kind = "", ""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        mount_point, after = fields[4], fields[fields.index("-") + 1]
        inside = str(path) == mount_point or str(path).startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, kind = mount_point, after
    return kind


@pytest.mark.skipif(sys.platform != "linux", reason="the valve counts disk reads on Linux")
def test_blocks_read_counts_reads_from_storage_and_not_from_the_page_cache(
    tmp_path: Path,
) -> None:
    # The valve's signal itself: if it never moved, a cold disk would hold the loop.
    import os

    from backends import sqlite as module

    if _filesystem_type(tmp_path.resolve()) in {"tmpfs", "ramfs"}:
        pytest.skip(f"{tmp_path} is in memory: nothing there is read from storage")
    path = tmp_path / "pages"
    path.write_bytes(os.urandom(4 << 20))
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.pread(fd, 1 << 20, 0)  # back in the cache, should a reclaimer have been quick
        before = module._blocks_read()
        assert before is not None, "Linux with /proc/self/io counts a thread's disk reads"
        os.pread(fd, 1 << 20, 0)
        warm = module._blocks_read()
        assert warm == before, "pages just written come from the page cache"
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.pread(fd, 1 << 20, 0)
        cold = module._blocks_read()
        assert cold is not None and cold - warm >= (1 << 20) // 512
    finally:
        os.close(fd)


async def test_each_event_gets_its_own_metadata(file_store: SqliteStore) -> None:
    # Repeated metadata is parsed once and copied: no two events may share a dict.
    meta = {"tenant": "a", "n": 1, "ok": True, "none": None}
    nested = {"tags": ["x"], "deep": {"k": 1}}
    await file_store.bulk_load(
        [("s", NewEvent("T", {"i": i}, meta if i < 3 else nested)) for i in range(6)]
    )
    read = await file_store.read_stream("s").collect()
    assert [e.metadata for e in read] == [meta] * 3 + [nested] * 3
    read[0].metadata["tenant"] = "changed"
    read[3].metadata["tags"].append("y")
    read[4].metadata["deep"]["k"] = 2
    assert [e.metadata for e in read[1:3]] == [meta] * 2
    assert read[5].metadata == nested
    assert len({id(e.metadata) for e in read}) == 6


# --------------------------------------------------------------------------- bulk load


async def test_bulk_load_continues_streams_and_positions(any_store: SqliteStore) -> None:
    await any_store.append(StreamWrite("a", NO_STREAM, events(2)))
    loaded = [("a", e) for e in events(3, "L")] + [("b", e) for e in events(2, "M")]
    loaded.insert(1, ("b", NewEvent("M-first")))
    await any_store.bulk_load(loaded)
    got = await any_store.read_all().collect()
    assert [(e.stream_id, e.stream_version, e.position) for e in got] == [
        ("a", 1, 1),
        ("a", 2, 2),
        ("a", 3, 3),
        ("b", 1, 4),
        ("a", 4, 5),
        ("a", 5, 6),
        ("b", 2, 7),
        ("b", 3, 8),
    ]
    result = await any_store.append(StreamWrite("b", 3, events(1)))
    assert result.positions == (9,)


async def test_a_bad_bulk_load_writes_nothing(file_store: SqliteStore) -> None:
    await file_store.append(StreamWrite("a", NO_STREAM, events(1)))
    good = [("a", e) for e in events(500)]
    with pytest.raises(InvalidEvent):
        await file_store.bulk_load([*good, ("a", NewEvent("Bad", {"x": object()})), *good[:0]])
    with pytest.raises(InvalidStreamId):
        await file_store.bulk_load([*good, ("", NewEvent("T"))])
    existing = (await file_store.read_stream("a").collect())[0]
    with pytest.raises(DuplicateEventId) as info:
        await file_store.bulk_load([*good, ("z", NewEvent("T", id=existing.id))])
    assert info.value.event_id == existing.id
    assert raw_count(Path(file_store.path)) == 1
    await file_store.bulk_load(good)  # the store is still fine
    assert await file_store.stream_version("a") == 501


async def test_a_rejected_append_writes_nothing(file_store: SqliteStore) -> None:
    await file_store.append(StreamWrite("a", NO_STREAM, events(1)))
    existing = (await file_store.read_stream("a").collect())[0]
    with pytest.raises(DuplicateEventId):
        await file_store.append(
            StreamWrite("b", NO_STREAM, events(3)),
            StreamWrite("c", NO_STREAM, [NewEvent("T", id=existing.id)]),
        )
    with pytest.raises(InvalidEvent, match="at most"):
        await file_store.append(
            StreamWrite("b", NO_STREAM, [NewEvent("Big", {"x": "y" * (9 * 1024 * 1024)})])
        )
    assert raw_count(Path(file_store.path)) == 1
    # Positions are not burnt by rejected appends.
    assert (await file_store.append(StreamWrite("b", NO_STREAM, events(1)))).positions == (2,)


# --------------------------------------------------------------------------- hostile strings

HOSTILE = [
    "it's",
    'say "hi"',
    "100%",
    "a_b",
    "%",
    "_",
    "x'; DROP TABLE events;--",
    "1; DELETE FROM events --",
    "emoji-😀🎉",
    "עברית-rtl-\u202eevil",
    "\u200b zero width",
    "  padded  ",
    "caf\u00e9",  # precomposed; "cafe\u0301" (combining) is a different id
    "\uff21\uff22\uff23-fullwidth",
    "\\backslash\\",
    "x" * 255,
]


async def test_hostile_strings_are_stored_exactly(db_path: Path) -> None:
    data = {
        "nul": "a\x00b",
        "keys\x00too": [1, "\x00"],
        "quote": "'\"`",
        "sql": "'); DROP TABLE events; --",
        "like": "%_%",
        "emoji": "😀",
        "rtl": "\u202eabc",
        "big": 2**62,
        "float": 0.1,
        "nested": {"deep": [[], {}, None, True]},
    }
    async with SqliteStore(db_path) as store:
        for i, stream_id in enumerate(HOSTILE):
            await store.append(
                StreamWrite(stream_id, NO_STREAM, [NewEvent(stream_id, data, {"i": i})])
            )
    async with SqliteStore(db_path) as store:  # and across a reopen
        for i, stream_id in enumerate(HOSTILE):
            for got in [
                await store.read_stream(stream_id).collect(),
                [e async for e in store.read_stream(stream_id)],
            ]:
                assert len(got) == 1, stream_id
                assert (got[0].stream_id, got[0].type, got[0].data, got[0].metadata) == (
                    stream_id,
                    stream_id,
                    data,
                    {"i": i},
                )
        # LIKE wildcards and prefixes match nothing but themselves.
        assert await store.stream_version("100") == 0
        assert await store.stream_version("a%b") == 0
        assert await store.stream_version("ab") == 0
        assert await store.stream_version("cafe\u0301") == 0
        assert await store.stream_version("ABC-fullwidth") == 0
        assert len(await store.read_all().collect()) == len(HOSTILE)


@pytest.mark.parametrize("stream_id", ["", "a\x00b", "tab\there", "x" * 256, "\ud800", 42])
async def test_bad_stream_ids_are_refused(file_store: SqliteStore, stream_id: object) -> None:
    with pytest.raises(InvalidStreamId):
        await file_store.append(StreamWrite(stream_id, ANY, events(1)))  # type: ignore[arg-type]
    with pytest.raises(InvalidStreamId):
        file_store.read_stream(stream_id)  # type: ignore[arg-type]
    with pytest.raises(InvalidStreamId):
        await file_store.stream_version(stream_id)  # type: ignore[arg-type]
    assert raw_count(Path(file_store.path)) == 0


# --------------------------------------------------------------------------- persistence


async def test_events_survive_closing_and_reopening(db_path: Path) -> None:
    async with SqliteStore(db_path) as store:
        first = await store.append(StreamWrite("s", NO_STREAM, events(3)))
        before = await store.read_all().collect()
    async with open_store(f"sqlite:{db_path}") as store:
        after = await store.read_all().collect()
        assert after == before
        again = await store.append(StreamWrite("s", 3, events(1)))
        assert again.positions == (max(first.positions) + 1,)


# --------------------------------------------------------------------------- connection cuts


async def test_a_cut_interrupts_a_streamed_read_and_the_store_recovers(
    any_store: SqliteStore,
) -> None:
    await any_store.append(StreamWrite("s", NO_STREAM, events(100)))
    stream = any_store.read_stream("s", batch_size=10)
    seen = [await anext(aiter(stream))]
    await any_store.cut_connections()
    with pytest.raises(ReadInterrupted, match="Start the read again"):
        async for event in stream:
            seen.append(event)
    assert len(seen) < 100
    with pytest.raises(ReadInterrupted):  # never mistaken for the end later
        await anext(aiter(stream))

    scan = any_store.raw_scan("s", batch_size=10)
    await anext(scan)
    await any_store.cut_connections()
    with pytest.raises(ReadInterrupted):
        async for _ in scan:
            pass

    # The store works again: writes, collected and streamed reads reconnect.
    await any_store.append(StreamWrite("s", 100, events(1)))
    assert len(await any_store.read_stream("s").collect()) == 101
    assert len([e async for e in any_store.read_stream("s", batch_size=7)]) == 101
    assert await any_store.stream_version("s") == 101


async def cut_between_reads_loses_no_data(store: SqliteStore) -> None:
    await store.append(StreamWrite("s", NO_STREAM, events(10)))
    before = await store.read_all().collect()
    for _ in range(3):
        connections = _open_connections(store)
        await store.cut_connections()
        # The cut must have closed what was open, or this test tests nothing.
        assert connections and not (connections & _open_connections(store)), "nothing was cut"
        assert await store.read_all().collect() == before  # the same events, ids and all
    assert len(await store.read_stream("s").collect()) == 10


def _open_connections(store: SqliteStore) -> set[int]:
    """The ids of the store's writer and idle readers (white-box: SQLite's own tests)."""
    conns = [store._writer, *store._pool.idle]
    return {id(c) for c in conns if c is not None}


async def test_a_cut_between_reads_loses_no_data(any_store: SqliteStore) -> None:
    await cut_between_reads_loses_no_data(any_store)


async def cut_during_appends_loses_or_keeps_each_one_whole(store: SqliteStore) -> None:
    outcomes: list[str] = []

    async def writer(i: int) -> None:
        try:
            await store.append(StreamWrite(f"w{i}", NO_STREAM, events(20)))
            outcomes.append("ok")
        except StoreUnavailable as exc:
            outcomes.append(str(exc))

    tasks = [asyncio.create_task(writer(i)) for i in range(20)]
    await asyncio.sleep(0)
    await store.cut_connections()
    await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE)
    # The first append holds the writer connection when the cut comes: it must fail.
    cut = [o for o in outcomes if o != "ok"]
    assert cut, "no append was cut: the cut came after every append, or cut nothing"
    assert all("nothing was written" in o for o in cut)
    for i in range(20):  # every append is all there or not there at all
        assert await store.stream_version(f"w{i}") in (0, 20)
    assert raw_count(Path(store.path)) == 20 * outcomes.count("ok")
    await store.append(StreamWrite("after", NO_STREAM, events(1)))


async def test_a_cut_during_appends_loses_or_keeps_each_one_whole(file_store: SqliteStore) -> None:
    await cut_during_appends_loses_or_keeps_each_one_whole(file_store)


class _CutsNothing(SqliteStore):
    """A broken variant: cut_connections() closes nothing."""

    async def cut_connections(self) -> None:
        return None


async def test_the_cut_tests_fail_on_a_store_that_cuts_nothing(db_path: Path) -> None:
    async with _CutsNothing(db_path) as broken:
        with pytest.raises(AssertionError, match="nothing was cut"):
            await cut_between_reads_loses_no_data(broken)
    async with _CutsNothing(db_path.with_name("other.db")) as broken:
        with pytest.raises(AssertionError, match="no append was cut"):
            await cut_during_appends_loses_or_keeps_each_one_whole(broken)


async def test_a_cancelled_append_writes_nothing_and_the_store_goes_on(
    file_store: SqliteStore,
) -> None:
    # Cancel at many points: before, while BEGIN is queued, mid-insert, at COMMIT.
    for i, delay in enumerate([0, 0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08]):
        stream = f"big-{i}"
        big = [NewEvent("T", {"pad": "x" * 1000}) for _ in range(3_000)]
        task = asyncio.create_task(file_store.append(StreamWrite(stream, NO_STREAM, big)))
        for _ in range(i % 3):
            await asyncio.sleep(0)
        await asyncio.sleep(delay)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert await file_store.stream_version(stream) in (0, 3_000)  # never part of it
        result = await asyncio.wait_for(
            file_store.append(StreamWrite(f"next-{i}", NO_STREAM, events(1))), DEADLINE
        )
        assert result.versions == {f"next-{i}": 1}
