"""How long does a 100-row ``fetchmany`` of a SQLite streamed read wait for a cold disk?

    sudo python scripts/cold_fetch_waits.py 100000

Seeds one stream of N events into a fresh file (the store's own schema), then reads it
with the bare ``sqlite3`` module in fetches of 100 rows (the store's default batch)
twice: warm, then after emptying the page cache (``/proc/sys/vm/drop_caches``, root
only). For each fetch it records the wall time, the time it waited (wall time less the
thread's CPU time) and whether the thread read blocks from storage, with the store's
own `_thread_cpu` and `_blocks_read`: the three things the SQLite store's loop-fetch valve looks at
(backends/sqlite.py, `LOOP_FETCH_LIMIT_S`).

On this project's VM (virtio disk), 100K events, 4 runs: warm, no fetch read a block
(one did in a fifth run), the longest waited 0.16-0.71 ms; cold, 11 of 1,001 fetches
read blocks (read-ahead brings the rest), the longest waited 0.87-2.30 ms, and at most
one fetch of a read waited over 2 ms, never two in a row: on such a disk no read
leaves the loop.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backends.sqlite import (  # noqa: E402
    LOOP_FETCH_LIMIT_S,
    _blocks_read,
    _thread_cpu,
    open_store,
)
from scenarios.append import make_events  # noqa: E402

BATCH = 100
DROP_CACHES = Path("/proc/sys/vm/drop_caches")


async def seed(path: Path, size: int) -> None:
    async with open_store(f"sqlite:{path}") as store:
        await store.bulk_load([("s", event) for event in make_events(size, 250)])


def read(path: Path) -> tuple[list[float], list[float], int]:
    """Each fetch's wall time and wait, and how many fetches read blocks from storage."""
    walls: list[float] = []
    waits: list[float] = []
    from_storage = 0
    con = sqlite3.connect(path)
    try:
        cursor = con.execute(
            "SELECT * FROM events WHERE stream_id = ? AND stream_version > 0 "
            "ORDER BY stream_version",
            ("s",),
        )
        while True:
            began, cpu, blocks = time.perf_counter(), _thread_cpu(), _blocks_read()
            rows = cursor.fetchmany(BATCH)
            took = time.perf_counter() - began
            waits.append(took - (_thread_cpu() - cpu))
            walls.append(took)
            from_storage += _blocks_read() != blocks
            if not rows:
                return walls, waits, from_storage
    finally:
        con.close()


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    if not os.access(DROP_CACHES, os.W_OK):
        raise SystemExit(f"this needs to write {DROP_CACHES}: run as root")
    if _blocks_read() is None:
        raise SystemExit("this system does not count a thread's reads from storage")
    with tempfile.TemporaryDirectory(prefix="eventbench-cold-", dir=ROOT) as directory:
        path = Path(directory) / "events.db"
        asyncio.run(seed(path, size))
        for label in ("warm", "cold"):
            if label == "cold":
                os.sync()
                DROP_CACHES.write_text("1\n")
            walls, waits, from_storage = read(path)
            over = sum(wait > LOOP_FETCH_LIMIT_S for wait in waits)
            print(
                f"{label}: {len(walls)} fetches, {from_storage} read blocks from storage; "
                f"wall median {statistics.median(walls) * 1e3:.3f} ms, "
                f"max {max(walls) * 1e3:.3f} ms; waited max {max(waits) * 1e3:.3f} ms, "
                f"{over} over {LOOP_FETCH_LIMIT_S * 1e3:g} ms"
            )


if __name__ == "__main__":
    main()
