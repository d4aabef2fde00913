"""Side-by-side PostgreSQL store measurements behind the figures in backends/postgres.py.

    # reads right after a bulk load (no ANALYZE), old batch query vs new, fresh processes:
    for r in 1 2 3 4 5; do for v in old new; do
        python scripts/pg_side_by_side.py read-after-load $v 200000; done; done

    # single-event appends, main's store vs this tree's, interleaved in one process:
    git show main:backends/postgres.py > /tmp/old_postgres.py
    python scripts/pg_side_by_side.py appends /tmp/old_postgres.py 10 200 [--no-sync]

``--no-sync`` sets ``synchronous_commit = off`` on the throwaway database only, to show
what is left when the commit's WAL flush does not dominate. Prints one line per figure.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.util
import statistics
import sys
import time
import uuid
from types import ModuleType
from typing import Any

import asyncpg

import backends.postgres as new_pg
from harness import provision
from harness.contract import NO_STREAM, NewEvent, StreamWrite

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    read = sub.add_parser("read-after-load")
    read.add_argument("variant", choices=("old", "new"))
    read.add_argument("events", type=int)
    append = sub.add_parser("appends")
    append.add_argument("old_module")
    append.add_argument("blocks", type=int)
    append.add_argument("per_block", type=int)
    append.add_argument("--no-sync", action="store_true")
    args = parser.parse_args()
    if args.what == "read-after-load":
        asyncio.run(read_after_load(args.variant, args.events))
    else:
        asyncio.run(appends(args.old_module, args.blocks, args.per_block, args.no_sync))


if __name__ == "__main__":
    main()
