"""The event-loop stall of one SQLite streamed read, as `harness.instruments.LoopWatch`
measures it, under whatever scheduling policy this process runs with: compare

    python scripts/stall_and_scheduling.py /tmp/stall.db
    chrt -f 1 python scripts/stall_and_scheduling.py /tmp/stall.db

(the first call seeds the file: one stream of 1M events). Under SCHED_FIFO the kernel's
real-time throttling pauses a process that runs a second without blocking for ~50 ms;
LoopWatch subtracts the loop thread's scheduler wait, so that pause is not a stall.
``--plain`` prints the tick delays without the subtraction too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from backends.sqlite import SqliteStore
from harness.contract import NewEvent
from harness.instruments.stall import LoopWatch, stall_figures

EVENTS = 1_000_000


async def seed(path: Path) -> None:
    async with SqliteStore(path, synchronous="NORMAL") as store:
        for lo in range(0, EVENTS, 50_000):
            batch = [
                ("s", NewEvent("E", {"i": i, "pad": "x" * 100})) for i in range(lo, lo + 50_000)
            ]
            await store.bulk_load(batch)


class PlainWatch(LoopWatch):
    """LoopWatch without the subtraction: the plain delay of each tick."""

    def _wait_s(self) -> float:
        return 0.0


async def read(path: Path, plain: bool) -> None:
    async with SqliteStore(path) as store:
        watch = PlainWatch() if plain else LoopWatch()
        watch.start()
        async for _ in store.read_stream("s"):
            pass
        watch.stop()
    policy = {os.SCHED_FIFO: "SCHED_FIFO", os.SCHED_OTHER: "normal"}.get(
        os.sched_getscheduler(0), "other"
    )
    label = "plain delay" if plain else "less the wait for a core"
    shown = ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in stall_figures(watch.late_s).items())
    print(f"{policy}, {label}: {shown} ({len(watch.late_s)} ticks)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--plain", action="store_true")
    args = parser.parse_args()
    if not args.path.exists():
        asyncio.run(seed(args.path))
    asyncio.run(read(args.path, plain=False))
    if args.plain:
        asyncio.run(read(args.path, plain=True))


if __name__ == "__main__":
    main()
