"""Side-by-side PostgreSQL store measurements behind the figures in backends/postgres.py.

    # reads right after a bulk load (no ANALYZE), old batch query vs new, fresh processes:
    for r in 1 2 3 4 5; do for v in old new; do
        python scripts/pg_side_by_side.py read-after-load $v 200000; done; done

    # single-event appends, main's store vs this tree's, interleaved in one process:
    git show main:backends/postgres.py > /tmp/old_postgres.py
    python scripts/pg_side_by_side.py appends /tmp/old_postgres.py 10 200 [--no-sync]

    # reads, this tree against another whole tree (store and contract), interleaved:
    mkdir /tmp/base && git archive main | tar -x -C /tmp/base
    python scripts/pg_side_by_side.py reads --base /tmp/base --sizes 100000 --memory ''

    # one batch's shape: Records of 150 (the store) or 1,000, or one row of arrays:
    python scripts/pg_side_by_side.py seed-reads
    python scripts/pg_side_by_side.py batch-shapes 1000000 --rounds 5

    # what planning each batch costs (plan_cache_mode), server time and whole raw scans:
    python scripts/pg_side_by_side.py plan-costs 1000000
    # how a collected read is planned, generically and per execution, in two statements:
    python scripts/pg_side_by_side.py collect-plans

``--no-sync`` sets ``synchronous_commit = off`` on the throwaway database only, to show
what is left when the commit's WAL flush does not dominate. Prints one line per figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import orjson

import backends.postgres as new_pg
from harness import provision, seed
from harness.contract import NO_STREAM, NewEvent, StreamWrite
from harness.instruments import LoopWatch, read_capture
from scenarios.base import Layout
from scenarios.fold import Account

OLD_STREAM_BATCH = """SELECT stream_version, position, type, data, metadata, id, recorded_at
    FROM {s}.events WHERE stream_id = $1 AND stream_version > $2 AND stream_version <= $3
    ORDER BY stream_version LIMIT $4"""


def _event(i: int) -> NewEvent:
    return NewEvent("t", {"i": i, "pad": "x" * 250})


async def read_after_load(variant: str, n: int) -> None:
    dsn = await provision.process_database()
    schema = f"r_{uuid.uuid4().hex[:8]}"
    store = new_pg.PostgresStore(dsn, schema=schema)
    async with store:
        await store.bulk_load([("s", _event(i)) for i in range(n)])
        if variant == "old":
            old = OLD_STREAM_BATCH.format(s=f'"{schema}"')
            store._sql = dataclasses.replace(store._sql, stream_batch=old)
        started = time.perf_counter()
        first: float | None = None
        count = 0
        async with store.read_stream("s") as events:
            async for _ in events:
                if first is None:
                    first = time.perf_counter() - started
                count += 1
        total = time.perf_counter() - started
    await new_pg._drop_schema(dsn, schema)
    assert count == n
    assert first is not None
    print(f"{variant}: {n} events, first event {first * 1e3:.1f} ms, total {total:.2f} s")


def _load_module(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("old_postgres", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


async def appends(old_path: str, blocks: int, per_block: int, no_sync: bool) -> None:
    old_pg = _load_module(old_path)
    dsn = await provision.process_database()
    if no_sync:
        conn = await asyncpg.connect(dsn)
        database = dsn.rsplit("/", 1)[1].split("?")[0]
        await conn.execute(f'ALTER DATABASE "{database}" SET synchronous_commit = off')
        await conn.close()
    stores: dict[str, Any] = {
        "old": old_pg.PostgresStore(dsn, schema=f"o_{uuid.uuid4().hex[:6]}"),
        "new": new_pg.PostgresStore(dsn, schema=f"n_{uuid.uuid4().hex[:6]}"),
    }
    latencies: dict[str, list[float]] = {name: [] for name in stores}
    wall = dict.fromkeys(stores, 0.0)
    versions = dict.fromkeys(stores, 0)
    for store in stores.values():
        await store.open()
    for block in range(blocks + 1):  # block 0 warms up both
        for name, store in stores.items():
            block_start = time.perf_counter()
            for i in range(per_block):
                version = versions[name]
                started = time.perf_counter()
                write = StreamWrite("s", version or NO_STREAM, [_event(i)])
                versions[name] = (await store.append(write)).versions["s"]
                if block:
                    latencies[name].append(time.perf_counter() - started)
            if block:
                wall[name] += time.perf_counter() - block_start
    for store in stores.values():
        await store.aclose()
        await new_pg._drop_schema(dsn, store.schema)
    rate = {name: len(latencies[name]) / wall[name] for name in stores}
    for name in stores:
        median_us = statistics.median(latencies[name]) * 1e6
        print(
            f"{name}: {len(latencies[name])} appends, median {median_us:.0f} us, "
            f"{rate[name]:.0f} appends/s"
        )
    print(
        f"new/old throughput: {rate['new'] / rate['old']:.2f}x "
        f"(synchronous_commit {'off' if no_sync else 'on'})"
    )


# --------------------------------------------------------------------------- reads

READS_DATABASE = "eventbench_pg_reads"
READS_LAYOUT = Layout(streams=1, payload_bytes=250)
"""What `seed_reads` loads: one stream of ~250-byte events, as the runner seeds."""
READS_STREAM = READS_LAYOUT.stream_id(0)
READ_VARIANTS = ("bare", "raw", "streamed", "fold")
BARE_PAGE = 1000


def _reads_dsn(database: str) -> str:
    return provision.dsn_with_database(provision.find_server().dsn, database)


def _reads_schema(n: int) -> str:
    return f"reads_{n}"


async def seed_reads(database: str, sizes: list[int]) -> None:
    """One schema per size in ``database`` (made if missing), seeded and ANALYZEd as the
    runner seeds (`harness.seed.load`: one stream, ~250-byte events); kept between runs."""
    admin = await asyncpg.connect(provision.find_server().dsn)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    layout = READS_LAYOUT
    for n in sizes:
        store = new_pg.PostgresStore(_reads_dsn(database), schema=_reads_schema(n))
        async with store:
            if await store.stream_version(layout.stream_id(0)) == n:
                print(f"{n}: already seeded")
                continue
            if await store.stream_version(layout.stream_id(0)):
                raise SystemExit(f"schema {store.schema} holds other data: drop it first")
            took = await seed.load(store, layout, n)
            print(f"{n}: seeded and analyzed in {took:.1f} s")


async def _bare_read(
    conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy, schema: str, stream_id: str
) -> tuple[int, float]:
    """asyncpg alone: keyset pages of BARE_PAGE rows, the store's columns, no decoding."""
    sql = new_pg._statements(f'"{schema}"').stream_batch
    bound = await conn.fetchval(f'SELECT version FROM "{schema}".streams WHERE stream_id = $1',
                                stream_id)  # fmt: skip
    started = time.perf_counter()
    first = 0.0
    last = count = 0
    while last < bound:
        rows = await conn.fetch(sql, stream_id, last, bound, BARE_PAGE)
        if not count:
            first = time.perf_counter() - started
        count += len(rows)
        last = rows[-1][0]
    return count, first


async def _store_read(store: Any, variant: str, stream_id: str) -> tuple[int, float, Any]:
    started = time.perf_counter()
    first = 0.0
    count = 0
    if variant == "raw":
        async for rows in store.raw_scan(stream_id):
            if not count:
                first = time.perf_counter() - started
            count += rows
        return count, first, None
    account = Account() if variant == "fold" else None
    async with store.read_stream(stream_id) as events:
        async for event in events:
            if not count:
                first = time.perf_counter() - started
            if account is not None:
                account.apply(event)
            count += 1
    return count, first, account


async def read_once(
    database: str, variant: str, n: int, module: str | None, memory: bool, batch: int | None
) -> None:
    """One warm-up read then one measured read, in this (fresh) process; prints JSON."""
    pg = _load_module(module) if module else new_pg
    dsn = _reads_dsn(database)
    schema = _reads_schema(n)
    stream_id = READS_STREAM
    options = {"default_batch_size": batch} if batch else {}
    store = pg.PostgresStore(dsn, schema=schema, **options)
    bare = await asyncpg.connect(dsn, server_settings={"jit": "off"})
    await bare.set_type_codec("json", schema="pg_catalog", encoder=_same, decoder=_same,
                              format="binary")  # fmt: skip
    async with store:

        async def read() -> tuple[int, float]:
            if variant == "bare":
                return await _bare_read(bare, schema, stream_id)
            count, first, _ = await _store_read(store, variant, stream_id)
            return count, first

        await _bare_read(bare, schema, stream_id)  # warm-up: the same pages, cheapest way
        out: dict[str, float] = {}
        gc.collect()
        if memory:
            import memray

            capture = Path(tempfile.mkdtemp()) / "read.bin"
            with memray.Tracker(destination=memray.FileDestination(str(capture)),
                                trace_python_allocators=True):  # fmt: skip
                count, first = await read()
            out["peak_bytes"] = read_capture(capture).peak_bytes
            shutil.rmtree(capture.parent)
        else:
            watch = LoopWatch()
            watch.start()
            started = time.perf_counter()
            count, first = await read()
            out["total_s"] = time.perf_counter() - started
            out["first_s"] = first
            out["stall_max_s"] = watch.stop()["stall_max_s"]
            with _step_cpu() as steps, _gc_pauses() as pauses:
                await read()
            out["step_cpu_max_s"] = max(steps)
            out["gc_max_s"] = max(pauses, default=0.0)
    await bare.close()
    if count != n:
        raise SystemExit(f"{variant} read {count} events of {n}")
    print(json.dumps(out))


@contextlib.contextmanager
def _step_cpu() -> Iterator[array[float]]:
    """The CPU time of every callback the event loop runs (each step of every task).

    On a machine shared with other work the loop's wall-clock stall mostly measures
    the scheduler; the CPU a step takes is what the read itself holds the loop for.
    """
    steps: array[float] = array("d")
    run = asyncio.events.Handle._run
    clock = time.thread_time

    def timed(handle: asyncio.events.Handle) -> None:
        started = clock()
        run(handle)
        steps.append(clock() - started)

    asyncio.events.Handle._run = timed  # type: ignore[method-assign,assignment]
    try:
        yield steps
    finally:
        asyncio.events.Handle._run = run  # type: ignore[method-assign]


@contextlib.contextmanager
def _gc_pauses() -> Iterator[list[float]]:
    """The CPU time of every garbage collection meanwhile (a step that allocates
    pays for one now and then: a full collection walks every tracked object)."""
    pauses: list[float] = []
    started = [0.0]

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.thread_time()
        else:
            pauses.append(time.thread_time() - started[0])

    gc.callbacks.append(note)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(note)


def _same(value: bytes) -> bytes:
    return value


def _run_once(
    database: str,
    variant: str,
    n: int,
    module: str | None,
    memory: bool,
    batch: int | None,
    tree: str | None = None,
) -> Any:
    """One read in a fresh process; with ``tree`` (a copy of another checkout), the
    process imports everything (store, contract, scenarios) from that tree."""
    cmd = [sys.executable, __file__, "read-once", "--database", database, variant, str(n)]
    if batch:
        cmd += ["--batch", str(batch)]
    if module:
        cmd += ["--module", module]
    if memory:
        cmd.append("--memory")
    env = dict(os.environ)
    if tree:
        env["PYTHONPATH"] = tree
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def reads(
    database: str,
    sizes: list[int],
    rounds: int,
    old: str | None,
    memory: list[int],
    batch: int | None,
    base: str | None = None,
) -> None:
    """Every variant once per round, in fresh processes, in an order rotated each round.

    ``old`` reads with another postgres.py under this tree's contract; ``base`` with
    another whole tree (``git archive main | tar -x -C DIR``), contract included.
    """
    cells: list[tuple[str, str | None]] = [(v, None) for v in READ_VARIANTS]
    if old or base:
        cells += [(f"old-{v}", old) for v in READ_VARIANTS if v != "bare"]
    runs: dict[tuple[int, str], list[dict[str, float]]] = {}
    med = statistics.median
    print(f"{'N':>9} {'read':<13} {'median':>9} {'x bare':>7} {'x raw':>6} "
          f"{'first event':>12} {'max stall':>10} {'max step CPU':>13} {'max GC':>11}",
          flush=True)  # fmt: skip
    for n in sizes:
        for r in range(rounds):
            order = cells[r % len(cells) :] + cells[: r % len(cells)]
            for name, module in order:
                variant = name.removeprefix("old-")
                tree = base if name.startswith("old-") else None
                runs.setdefault((n, name), []).append(
                    _run_once(database, variant, n, module, False, batch, tree)
                )
            print(f"  {n:,} events: round {r + 1}/{rounds} done", file=sys.stderr)
        bare = med(x["total_s"] for x in runs[(n, "bare")])
        for name, _ in cells:
            got = runs[(n, name)]
            total = med(x["total_s"] for x in got)
            raw_name = "old-raw" if name.startswith("old-") else "raw"
            raw = med(x["total_s"] for x in runs[(n, raw_name)])
            print(
                f"{n:>9,} {name:<13} {total:>8.3f}s {total / bare:>6.2f}x {total / raw:>5.2f}x "
                f"{med(x['first_s'] for x in got) * 1e3:>9.1f} ms "
                f"{max(x['stall_max_s'] for x in got) * 1e3:>7.1f} ms "
                f"{max(x['step_cpu_max_s'] for x in got) * 1e3:>10.1f} ms "
                f"{max(x['gc_max_s'] for x in got) * 1e3:>8.1f} ms",
                flush=True,
            )
    if memory:
        peaks = {
            n: _run_once(database, "streamed", n, None, True, batch)["peak_bytes"] for n in memory
        }
        for n, peak in peaks.items():
            print(f"streamed peak memory at {n:,}: {peak / 2**20:.2f} MiB", flush=True)
        small, large = min(memory), max(memory)
        print(f"peak {large:,} / {small:,}: {peaks[large] / peaks[small]:.2f}x")


async def decode_costs(database: str, n: int) -> None:
    """CPU per event of each part of a streamed read, one part at a time (thread time,
    best of 5 over ``n`` rows already fetched): what decoding adds to the rows."""
    dsn = _reads_dsn(database)
    store = new_pg.PostgresStore(dsn, schema=_reads_schema(n))
    stream_id = READS_STREAM
    async with store:
        rows: list[Any] = []
        plan = store._stream_plan(stream_id, 0, new_pg.DEFAULT_BATCH_SIZE)
        async for batch in store._keyset_rows(plan):
            rows.extend(batch)

        async def cpu_of_read(variant: str) -> float:
            started = time.thread_time()
            await _store_read(store, variant, stream_id)
            return time.thread_time() - started

        reads_cpu = {}
        for variant in ("raw", "streamed", "fold"):
            reads_cpu[variant] = min([await cpu_of_read(variant) for _ in range(3)])
    loads = orjson.loads
    build = new_pg._new_event
    decode = new_pg._decode_stream_rows(stream_id)
    chunk = new_pg.DECODE_CHUNK
    slices = [rows[at : at + chunk] for at in range(0, len(rows), chunk)]
    fields = [tuple(r) for r in rows]
    data = [(r[3], r[4]) for r in rows]
    parsed = [(loads(d), loads(m)) for d, m in data]

    def unpack() -> None:
        for _v, _p, _t, _d, _m, _i, _ts in rows:
            pass

    def json_only() -> None:
        for d, m in data:
            loads(d)
            loads(m)

    def build_only() -> None:
        for (v, p, t, _d, _m, i, ts), (dd, mm) in zip(fields, parsed, strict=True):
            build(stream_id, v, p, t, dd, mm, i, ts)

    def decode_all() -> None:
        for part in slices:
            decode(part)

    def cpu(work: Any) -> float:
        best = float("inf")
        for _ in range(5):
            started = time.thread_time()
            work()
            best = min(best, time.thread_time() - started)
        return best

    us = 1e6 / len(rows)
    print(f"{len(rows):,} rows; CPU per event, best of 5 (thread time):")
    print(f"  unpack a row (7 fields)       {cpu(unpack) * us:.2f} us")
    print(f"  orjson.loads data + metadata  {cpu(json_only) * us:.2f} us")
    print(f"  build a RecordedEvent         {cpu(build_only) * us:.2f} us")
    print(f"  decode (all of the above)     {cpu(decode_all) * us:.2f} us")
    for variant, seconds in reads_cpu.items():
        print(f"  whole {variant} read (best of 3)   {seconds * us:.2f} us")


async def profile_read(database: str, variant: str, n: int, batch: int | None) -> None:
    """cProfile of one warm read (top functions by own time), then the longest loop
    callbacks of another, by kind (thread time): where a read's time and steps go."""
    import cProfile
    import pstats

    options = {"default_batch_size": batch} if batch else {}
    store = new_pg.PostgresStore(_reads_dsn(database), schema=_reads_schema(n), **options)
    stream_id = READS_STREAM
    async with store:
        await _store_read(store, variant, stream_id)
        profiler = cProfile.Profile()
        profiler.enable()
        await _store_read(store, variant, stream_id)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
        kinds: dict[str, list[float]] = {}
        run = asyncio.events.Handle._run

        def timed(handle: asyncio.events.Handle) -> None:
            started = time.thread_time()
            run(handle)
            callback = getattr(handle, "_callback", None)
            name = getattr(callback, "__qualname__", type(callback).__name__)
            kinds.setdefault(name, []).append(time.thread_time() - started)

        asyncio.events.Handle._run = timed  # type: ignore[method-assign,assignment]
        try:
            await _store_read(store, variant, stream_id)
        finally:
            asyncio.events.Handle._run = run  # type: ignore[method-assign]
    print("loop callbacks (thread time): kind, count, median, max")
    for name, times in sorted(kinds.items(), key=lambda kv: -max(kv[1])):
        print(f"  {name:<50} {len(times):>6} {statistics.median(times) * 1e3:>7.3f} ms "
              f"{max(times) * 1e3:>7.2f} ms")  # fmt: skip


async def gc_once(database: str, variant: str, n: int, frozen: bool) -> None:
    """One warm read in this (fresh) process, with the garbage collector as it comes or
    with everything alive before the read frozen (``gc.freeze``); prints JSON: the
    process's CPU time, collections per generation, their total and longest pause."""
    dsn = _reads_dsn(database)
    store = new_pg.PostgresStore(dsn, schema=_reads_schema(n))
    stream_id = READS_STREAM
    async with store:
        await _store_read(store, "raw", stream_id)  # warm-up: connection, pages, plans
        gc.collect()
        if frozen:
            gc.freeze()
        before = [g["collections"] for g in gc.get_stats()]
        with _gc_pauses() as pauses:
            started = time.process_time()
            count, _, _ = await _store_read(store, variant, stream_id)
            cpu = time.process_time() - started
        after = [g["collections"] for g in gc.get_stats()]
    if count != n:
        raise SystemExit(f"{variant} read {count} events of {n}")
    print(json.dumps({
        "cpu_s": cpu,
        "collections": [a - b for a, b in zip(after, before, strict=True)],
        "gc_s": sum(pauses),
        "gc_max_s": max(pauses, default=0.0),
        "tracked": len(gc.get_objects()),
    }))  # fmt: skip


def gc_costs(database: str, n: int, rounds: int) -> None:
    """What the cyclic garbage collector costs a read: each read in a fresh process, the
    collector as it comes against everything alive before the read frozen, interleaved;
    medians of ``rounds``."""
    cells = [(variant, frozen) for variant in ("raw", "streamed", "fold") for frozen in (0, 1)]
    results: dict[tuple[str, int], list[dict[str, Any]]] = {cell: [] for cell in cells}
    for r in range(rounds):
        for variant, frozen in cells if r % 2 == 0 else cells[::-1]:
            cmd = [sys.executable, __file__, "gc-once", "--database", database, variant,
                   str(n)] + (["--frozen"] if frozen else [])  # fmt: skip
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            results[variant, frozen].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"{n:,} events, medians of {rounds} fresh processes; collections of the last round")
    print(f"{'read':<18} {'CPU':>9} {'GC total':>9} {'GC max':>8}  collections  tracked objects")
    for variant, frozen in cells:
        runs = results[variant, frozen]

        def med(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return float(statistics.median(run[key] for run in runs))

        name = f"{variant}{' (frozen)' if frozen else ''}"
        print(
            f"{name:<18} {med('cpu_s') * 1e3:>6.0f} ms {med('gc_s') * 1e3:>6.1f} ms "
            f"{med('gc_max_s') * 1e3:>5.1f} ms  {'/'.join(map(str, runs[-1]['collections'])):>11}"
            f"  {runs[-1]['tracked']:>15,}"
        )


ARRAY_BATCH = """SELECT array_agg(stream_version), array_agg(position), array_agg(type),
        array_agg(data), array_agg(metadata), array_agg(uuid_send(id)), array_agg(recorded_at)
    FROM ({inner}) AS batch"""
SHAPES = ("floor", "raw", "records-1000", "arrays-1000", "arrays-500", "two-conns-150")


async def batch_shape_once(database: str, shape: str, n: int) -> None:
    """One whole read of the ``n``-event stream, fetched in one batch shape, no decoding:
    ``floor`` (asyncpg keyset pages of BARE_PAGE, one after the other), ``raw`` (the
    store's `raw_scan` at its default batches), ``records-B`` (the store's batch query,
    B rows, next batch requested before counting this one), ``arrays-B`` (the same B
    rows as one row of seven arrays, ids as bytes, prefetched alike), ``two-conns-B``
    (the store's batch query on two connections, see `_two_connections`). Prints JSON."""
    store = new_pg.PostgresStore(_reads_dsn(database), schema=_reads_schema(n))
    async with store:
        stream_id = READS_STREAM
        inner = store._sql.stream_batch
        pool = store._require_pool()

        async def once() -> int:
            if shape == "raw":
                return sum([rows async for rows in store.raw_scan(stream_id)])
            if shape.startswith("two-conns-"):
                return await _two_connections(pool, inner, stream_id, n, int(shape[10:]))
            async with pool.acquire() as conn:
                if shape == "floor":
                    return (await _bare_read(conn, store.schema, stream_id))[0]
                kind, size = shape.rsplit("-", 1)
                sql = ARRAY_BATCH.format(inner=inner) if kind == "arrays" else inner
                limit = int(size)

                async def batch(last: int) -> tuple[int, int]:
                    if kind == "arrays":
                        row = await conn.fetchrow(sql, stream_id, last, new_pg.FLOOR_BOUND, limit)
                        assert row is not None  # an aggregate without GROUP BY: one row
                        versions = row[0]
                        return (0, last) if versions is None else (len(versions), versions[-1])
                    rows = await conn.fetch(sql, stream_id, last, new_pg.FLOOR_BOUND, limit)
                    return len(rows), rows[-1][0] if rows else last

                count = 0
                pending = asyncio.ensure_future(batch(0))
                while True:
                    got, last = await pending
                    count += got
                    if got < limit:
                        return count
                    pending = asyncio.ensure_future(batch(last))
                    await asyncio.sleep(0)

        await once()  # warm-up
        started, cpu = time.perf_counter(), time.process_time()
        count = await once()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert count == n, (shape, count, n)
    print(json.dumps({"wall_s": wall, "cpu_s": cpu}))


async def _two_connections(pool: asyncpg.Pool, sql: str, stream_id: str, n: int, size: int) -> int:
    """Versions are gap-free, so every batch's range is known when the read opens: two
    connections each fetch every other batch, two batches in flight at once."""
    async with pool.acquire() as one, pool.acquire() as two:
        conns = (one, two)

        async def batch(k: int) -> int:
            rows = await conns[k % 2].fetch(sql, stream_id, k * size, min(n, (k + 1) * size), size)
            return len(rows)

        batches = -(-n // size)
        pending = [asyncio.ensure_future(batch(k)) for k in range(min(2, batches))]
        count = 0
        for k in range(2, batches + 2):
            count += await pending.pop(0)
            if k < batches:
                pending.append(asyncio.ensure_future(batch(k)))
                await asyncio.sleep(0)
        return count


def batch_shapes(database: str, n: int, rounds: int) -> None:
    """Every shape in a fresh process, the order rotated each round; medians and the
    ratio to the floor (wall), and client CPU (the process's own, server excluded)."""
    runs: dict[str, list[dict[str, float]]] = {shape: [] for shape in SHAPES}
    for r in range(rounds):
        for shape in SHAPES[r % len(SHAPES) :] + SHAPES[: r % len(SHAPES)]:
            cmd = [sys.executable, __file__, "batch-shape-once", "--database", database]
            done = subprocess.run([*cmd, shape, str(n)], check=True, capture_output=True, text=True)
            runs[shape].append(json.loads(done.stdout.strip().splitlines()[-1]))
    floor = statistics.median(run["wall_s"] for run in runs["floor"])
    for shape, got in runs.items():
        wall = statistics.median(run["wall_s"] for run in got)
        cpu = statistics.median(run["cpu_s"] for run in got)
        print(f"{shape:<14} {wall:7.3f} s  {wall / floor:5.2f}x floor   client CPU {cpu:6.3f} s")
    asyncio.run(_server_times(database, n))


@dataclasses.dataclass(frozen=True)
class _Explained:
    """The server's own account of running a statement once (EXPLAIN ANALYZE)."""

    planning_ms: float
    execution_ms: float
    nodes: str
    """The plan's node types, outermost first (``Limit > Index Scan``)."""


async def _explain_analyze(
    conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy, statement: str
) -> _Explained:
    """Run ``statement`` once on the server, timed there; its rows are not sent."""
    text = await conn.fetchval(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {statement}")
    plan = json.loads(text)[0]
    nodes, todo = [], [plan["Plan"]]
    while todo:
        node = todo.pop(0)
        nodes.append(node["Node Type"])
        todo.extend(node.get("Plans", ()))
    return _Explained(plan["Planning Time"], plan["Execution Time"], " > ".join(nodes))


def _text_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def _server_times(database: str, n: int) -> None:
    """The server's execution time of one batch of 1,000 in each shape (EXPLAIN ANALYZE,
    median of 31 batches from the middle of the stream; rows are not sent)."""
    schema = f'"{_reads_schema(n)}"'
    inner = new_pg._statements(schema).stream_batch
    stream_id = READS_STREAM
    conn = await asyncpg.connect(_reads_dsn(database))
    try:
        await conn.execute("SET jit = off")  # as the store's sessions
        for shape, sql in (("records", inner), ("arrays", ARRAY_BATCH.format(inner=inner))):
            took = []
            for k in range(31):
                explained = await _explain_analyze(
                    conn,
                    sql.replace("$1", _text_literal(stream_id))
                    .replace("$2", str(n // 2 + k * 1000))
                    .replace("$3", str(new_pg.FLOOR_BOUND))
                    .replace("$4", "1000"),
                )
                took.append(explained.execution_ms)
            print(f"server, a batch of 1,000 as {shape}: {statistics.median(took):.2f} ms")
    finally:
        await conn.close()


PLAN_MODES = ("auto", "force_generic_plan")


def _server_cpu_s(pid: int) -> float | None:
    """CPU time (user + system) of a local server process so far; None if not local."""
    try:
        name, rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)
    except OSError:
        return None
    if "postgres" not in name:  # a process of this machine that happens to have that pid
        return None
    fields = rest.split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def plan_costs(database: str, n: int, rounds: int) -> None:
    """What planning costs a streamed read: the server's planning and execution time of
    one batch of the store's default size under each ``plan_cache_mode`` (``EXPLAIN
    ANALYZE`` of a prepared batch, median of 301 batches from the middle half of the
    stream), then whole raw scans of the store under each mode, alternating in this one
    process on the store's only connection: wall, client CPU and the server process's
    CPU (from /proc, when the server runs on this machine)."""
    store = new_pg.PostgresStore(_reads_dsn(database), schema=_reads_schema(n), pool_size=1)
    size = new_pg.DEFAULT_BATCH_SIZE
    async with store:
        async with store._require_pool().acquire() as conn:
            pid = int(await conn.fetchval("SELECT pg_backend_pid()"))
            await conn.execute(
                f"PREPARE batch(text, bigint, bigint, bigint) AS {store._sql.stream_batch}"
            )
            stream = _text_literal(READS_STREAM)
            for mode in ("force_custom_plan", "force_generic_plan"):
                await conn.execute(f"SET plan_cache_mode = {mode}")
                planning, execution = [], []
                for k in range(301):
                    # Full batches from the middle half of the stream, whatever its size.
                    start = n // 4 + k * size % max(size, n // 2)
                    explained = await _explain_analyze(
                        conn, f"EXECUTE batch({stream}, {start}, {n}, {size})"
                    )
                    planning.append(explained.planning_ms)
                    execution.append(explained.execution_ms)
                print(f"server, a batch of {size} with {mode}: planning "
                      f"{statistics.median(planning) * 1e3:.0f} us, execution "
                      f"{statistics.median(execution) * 1e3:.0f} us")  # fmt: skip
            await conn.execute("DEALLOCATE batch")
        runs: dict[str, list[tuple[float, float, float | None]]] = {m: [] for m in PLAN_MODES}
        for r in range(rounds + 1):
            for mode in PLAN_MODES if r % 2 == 0 else PLAN_MODES[::-1]:
                async with store._require_pool().acquire() as conn:
                    await conn.execute(f"SET plan_cache_mode = {mode}")  # stays: no reset
                server, wall, cpu = _server_cpu_s(pid), time.perf_counter(), time.process_time()
                count = sum([rows async for rows in store.raw_scan(READS_STREAM)])
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                after = _server_cpu_s(pid)
                assert count == n, (count, n)
                if r:  # the first round warms pages and plans up
                    runs[mode].append((wall, cpu, None if server is None or after is None
                                       else after - server))  # fmt: skip
    for mode, got in runs.items():
        servers = [s for _, _, s in got if s is not None]
        on_server = f"{statistics.median(servers):.2f} s" if servers else "-"
        wall = statistics.median(w for w, _, _ in got)
        cpu = statistics.median(c for _, c, _ in got)
        print(f"raw scan of {n:,} with {mode:<18}: wall {wall:.2f} s, client CPU {cpu:.2f} s, "
              f"server CPU {on_server} (medians of {rounds})")  # fmt: skip


COLLECT_LAYOUTS = {
    # schema: (the big stream's events, [(streams beside it, events each)])
    "collect_pair": (50_000, [(1, 10)]),
    "collect_skew": (1_000_000, [(10_000, 10)]),
}


async def collect_plans(database: str, rounds: int) -> None:
    """How a collected read of one big stream is planned, generically and per execution,
    as the plain statement (``stream_id = $1 AND stream_version > $2``) and as the batch
    statement with neither bound nor limit, on two layouts (`COLLECT_LAYOUTS`, seeded
    once into ``database`` and ANALYZEd): the plan's nodes, and the server's execution
    time (``EXPLAIN ANALYZE``, the two statements alternating, medians of ``rounds``)."""
    pad = "x" * 250  # ~250-byte events, as the benchmark seeds
    for schema, (n, beside) in COLLECT_LAYOUTS.items():
        store = new_pg.PostgresStore(_reads_dsn(database), schema=schema)
        async with store:
            if await store.stream_version("big") != n:
                if await store.stream_version("big"):
                    raise SystemExit(f"schema {schema} holds other data: drop it first")
                await store.bulk_load([
                    (f"small-{k}", NewEvent("t", {"i": i}))
                    for streams, m in beside for k in range(streams) for i in range(m)
                ])  # fmt: skip
                for lo in range(0, n, 100_000):
                    chunk = range(lo, min(n, lo + 100_000))
                    await store.bulk_load(
                        [("big", NewEvent("t", {"i": i, "pad": pad})) for i in chunk]
                    )
                await store.analyze()
            sql = store._sql
        conn = await asyncpg.connect(_reads_dsn(database), server_settings={"jit": "off"})
        try:
            plain = sql.stream_collect
            await conn.execute(f"PREPARE plain(text, bigint) AS {plain}")
            await conn.execute(f"PREPARE batch(text, bigint, bigint, bigint) AS {sql.stream_batch}")
            calls = {
                "plain": "plain('big', 0)",
                "batch": f"batch('big', 0, {new_pg.FLOOR_BOUND}, {new_pg.FLOOR_BOUND})",
            }
            for mode in ("force_generic_plan", "force_custom_plan"):
                await conn.execute(f"SET plan_cache_mode = {mode}")
                took: dict[str, list[float]] = {name: [] for name in calls}
                shapes: dict[str, str] = {}
                for r in range(rounds):
                    for name in calls if r % 2 == 0 else list(calls)[::-1]:
                        explained = await _explain_analyze(conn, f"EXECUTE {calls[name]}")
                        took[name].append(explained.execution_ms)
                        shapes[name] = explained.nodes
                for name in calls:
                    print(f"{schema} ({n:,} events beside {beside}), {mode}, {name}: "
                          f"{statistics.median(took[name]):,.0f} ms  {shapes[name]}")  # fmt: skip
        finally:
            await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)

    def on_reads(name: str) -> argparse.ArgumentParser:
        """A command that works on the seeded reads database (``seed-reads``)."""
        command = sub.add_parser(name)
        command.add_argument("--database", default=READS_DATABASE)
        return command

    read = sub.add_parser("read-after-load")
    read.add_argument("variant", choices=("old", "new"))
    read.add_argument("events", type=int)
    append = sub.add_parser("appends")
    append.add_argument("old_module")
    append.add_argument("blocks", type=int)
    append.add_argument("per_block", type=int)
    append.add_argument("--no-sync", action="store_true")
    seeding = on_reads("seed-reads")
    seeding.add_argument("--sizes", default="10000,100000,1000000")
    once = on_reads("read-once")
    once.add_argument("variant", choices=READ_VARIANTS)
    once.add_argument("events", type=int)
    once.add_argument("--module")
    once.add_argument("--memory", action="store_true")
    once.add_argument("--batch", type=int, help="the store's default_batch_size")
    costs = on_reads("decode-costs")
    costs.add_argument("events", type=int)
    gcs = on_reads("gc-costs")
    gcs.add_argument("events", type=int)
    gcs.add_argument("--rounds", type=int, default=5)
    gco = on_reads("gc-once")
    gco.add_argument("variant", choices=("raw", "streamed", "fold"))
    gco.add_argument("events", type=int)
    gco.add_argument("--frozen", action="store_true")
    prof = on_reads("profile")
    prof.add_argument("variant", choices=READ_VARIANTS[1:])
    prof.add_argument("events", type=int)
    prof.add_argument("--batch", type=int, help="the store's default_batch_size")
    shapes = on_reads("batch-shapes")
    shapes.add_argument("events", type=int)
    shapes.add_argument("--rounds", type=int, default=5)
    shape_once = on_reads("batch-shape-once")
    shape_once.add_argument("shape", choices=SHAPES)
    shape_once.add_argument("events", type=int)
    plans = on_reads("plan-costs")
    plans.add_argument("events", type=int)
    plans.add_argument("--rounds", type=int, default=7)
    collects = on_reads("collect-plans")
    collects.add_argument("--rounds", type=int, default=4)
    side = on_reads("reads")
    side.add_argument("--sizes", default="100000,1000000")
    side.add_argument("--rounds", type=int, default=5)
    side.add_argument("--old", help="another postgres.py to read with too (old-raw, ...)")
    side.add_argument("--memory", default="10000,1000000", help="sizes ('' for none)")
    side.add_argument("--batch", type=int, help="the store's default_batch_size")
    side.add_argument("--base", help="another tree to read with too (old-raw, ...), whole")
    args = parser.parse_args()
    if args.what == "read-after-load":
        asyncio.run(read_after_load(args.variant, args.events))
    elif args.what == "appends":
        asyncio.run(appends(args.old_module, args.blocks, args.per_block, args.no_sync))
    elif args.what == "seed-reads":
        asyncio.run(seed_reads(args.database, _sizes(args.sizes)))
    elif args.what == "batch-shapes":
        batch_shapes(args.database, args.events, args.rounds)
    elif args.what == "batch-shape-once":
        asyncio.run(batch_shape_once(args.database, args.shape, args.events))
    elif args.what == "collect-plans":
        asyncio.run(collect_plans(args.database, args.rounds))
    elif args.what == "plan-costs":
        asyncio.run(plan_costs(args.database, args.events, args.rounds))
    elif args.what == "decode-costs":
        asyncio.run(decode_costs(args.database, args.events))
    elif args.what == "gc-costs":
        gc_costs(args.database, args.events, args.rounds)
    elif args.what == "gc-once":
        asyncio.run(gc_once(args.database, args.variant, args.events, args.frozen))
    elif args.what == "profile":
        asyncio.run(profile_read(args.database, args.variant, args.events, args.batch))
    elif args.what == "read-once":
        asyncio.run(
            read_once(
                args.database, args.variant, args.events, args.module, args.memory, args.batch
            )
        )
    else:
        reads(
            args.database,
            _sizes(args.sizes),
            args.rounds,
            args.old,
            _sizes(args.memory),
            args.batch,
            args.base,
        )


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


if __name__ == "__main__":
    main()
