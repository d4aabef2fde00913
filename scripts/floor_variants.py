"""Which plain driver fetch is the fastest, to choose each reference backend's floor.

    python scripts/floor_variants.py postgres 100000 9
    python scripts/floor_variants.py sqlite 100000 9

Seeds one stream of N events (the read scenarios' layout: ~250-byte payloads) into a
throwaway store, ANALYZEs it as the runner does, then reads every row of the stream
with each variant in turn, interleaved (A B C ... A B C ...) for the given number of
rounds, and prints each variant's median and its ratio to the fastest. Nothing is
decoded: the rows are counted. The floor in `backends/sqlite.py` and
`backends/postgres.py` quotes these figures.

PostgreSQL variants run on one connection made as the store makes its own (``jit``
off, JSON as bytes): keyset pages of 250, 1,000 and 5,000 rows (the store's own
batch statement, bounded by the largest version there can be), a server-side cursor fetched
1,000 rows at a time, and one ``fetch`` of the whole stream (not a bounded read; for
reference). SQLite variants use the standard library's ``sqlite3``: ``fetchmany`` of
100 and 1,000 rows, and ``fetchall``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import asyncpg

from backends import postgres, sqlite
from harness import seed
from scenarios.base import Layout

LAYOUT = Layout(streams=1, payload_bytes=250, seed=0)
STREAM = LAYOUT.stream_id(0)
COLUMNS = "stream_version, position, type, data, metadata, id, recorded_at"


def _identity(value: bytes) -> bytes:
    return value


async def _postgres(size: int, rounds: int) -> dict[str, list[float]]:
    async with postgres.temporary_store() as store:
        await seed.load(store, LAYOUT, size)
        await store.analyze()
        conn = await asyncpg.connect(store.dsn, server_settings={"jit": "off"})
        await conn.set_type_codec(
            "json", schema="pg_catalog", encoder=_identity, decoder=_identity, format="binary"
        )
        s = postgres._quote_ident(store.schema)
        page = store._sql.stream_batch  # the store's own keyset statement
        whole = f"SELECT {COLUMNS} FROM {s}.events WHERE stream_id = $1 ORDER BY stream_version"

        def keyset(n: int) -> Callable[[], Awaitable[int]]:
            async def read() -> int:
                count, last = 0, 0
                while True:
                    rows = await conn.fetch(page, STREAM, last, postgres.FLOOR_BOUND, n)
                    count += len(rows)
                    if len(rows) < n:  # a short page is the last
                        return count
                    last = rows[-1][0]

            return read

        async def cursor() -> int:
            count = 0
            async with conn.transaction():
                cur = await conn.cursor(whole, STREAM)
                while rows := await cur.fetch(1000):
                    count += len(rows)
            return count

        async def one_fetch() -> int:
            return len(await conn.fetch(whole, STREAM))

        variants = {
            "keyset 250": keyset(250),
            "keyset 1000": keyset(1000),
            "keyset 5000": keyset(5000),
            "cursor 1000": cursor,
            "one fetch": one_fetch,
        }
        try:
            return await _interleave(variants, size, rounds)
        finally:
            await conn.close()


async def _sqlite(size: int, rounds: int) -> dict[str, list[float]]:
    async with sqlite.temporary_store() as store:
        await seed.load(store, LAYOUT, size)
        await store.analyze()
        conn = sqlite3.connect(store.path, isolation_level=None)
        conn.execute("PRAGMA query_only = ON")
        sql = (
            "SELECT stream_version, position, type, data, metadata, event_id, recorded_at "
            "FROM events WHERE stream_id = ? AND stream_version > ? ORDER BY stream_version"
        )

        def many(n: int) -> Callable[[], Awaitable[int]]:
            async def read() -> int:
                cursor = conn.execute(sql, (STREAM, 0))
                count = 0
                while rows := cursor.fetchmany(n):
                    count += len(rows)
                return count

            return read

        async def whole() -> int:
            return len(conn.execute(sql, (STREAM, 0)).fetchall())

        variants = {"fetchmany 100": many(100), "fetchmany 1000": many(1000), "fetchall": whole}
        try:
            return await _interleave(variants, size, rounds)
        finally:
            conn.close()


async def _interleave(
    variants: dict[str, Callable[[], Awaitable[int]]], size: int, rounds: int
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in variants}
    for name, read in variants.items():  # one warm-up each
        assert await read() == size, name
    for r in range(rounds):
        for name, read in variants.items():
            started = time.perf_counter()
            count = await read()
            times[name].append(time.perf_counter() - started)
            assert count == size, f"{name} read {count} rows, not {size}"
        print(f"round {r + 1} of {rounds} done", file=sys.stderr)
    return times


def main() -> None:
    if len(sys.argv) != 4 or sys.argv[1] not in ("postgres", "sqlite"):
        sys.exit("usage: python scripts/floor_variants.py {postgres,sqlite} N ROUNDS")
    backend, size, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    run = _postgres if backend == "postgres" else _sqlite
    times = asyncio.run(run(size, rounds))
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    best = min(medians.values())
    print(f"{backend}, {size:,} rows, {rounds} interleaved rounds: median, ratio to the fastest")
    for name, median in medians.items():
        print(f"  {name:<16} {median * 1000:8.1f} ms  {median / best:5.2f}x")


if __name__ == "__main__":
    main()
