"""Do a store's instruction counts repeat between processes? And do they still when the
page cache is taken away?

    python scripts/instruction_spread.py --backend sqlite --procs 4
    python scripts/instruction_spread.py --backend sqlite --procs 4 --drop-caches 1
    python scripts/instruction_spread.py --backend postgres --mode streamed --size 10000

Each process is one counted pair of `harness.instruments.instructions.count_cell` (the
cell's work counted under cachegrind, less a baseline process that does everything
but the work), for one ``read-stream`` cell, as ``eventbench run --instructions``
counts it; the store is seeded inside each worker. It prints each process's count per
run and the spread ``(max - min) / min``: a store whose code path does not depend on
time repeats to a few hundred instructions (0.0002% for the memory store at 10K
events); compare raises its minimum effect to that spread, so a spread of a percent
hides a change of a percent.

``--drop-caches S`` (root only) empties the OS page cache every S seconds while the
processes run (``/proc/sys/vm/drop_caches``), as a machine under memory pressure, or
a VM that reclaims its page cache, does: a store whose path depends on whether its
pages are cached shows it here. Findings on this project's 2-core VM (10K events, 4
processes, SQLite streamed):

* the valve judging "two fetches in a row slower than 2 ms": 247.0-256.0 M a run
  (3.6%; 3 processes, an earlier session, caches not dropped);
* "slower than 2 ms and read blocks from storage", caches dropped every second:
  245.50-251.31 M (2.4%);
* "waited more than 2 ms and read blocks from storage" (the store now),
  caches dropped every second: 245.55-245.58 M (0.014%);
* memory store, streamed: 0.0002%; PostgreSQL, streamed: 0.65% (two clusters,
  238.25 M and 239.74-239.79 M; not pinned down).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from harness.instruments.instructions import count_cell  # noqa: E402

DROP_CACHES = Path("/proc/sys/vm/drop_caches")


@contextlib.contextmanager
def dropping_caches(every_s: float | None) -> Iterator[None]:
    """Empty the page cache every ``every_s`` seconds until the block ends."""
    if every_s is None:
        yield
        return
    if not os.access(DROP_CACHES, os.W_OK):
        raise SystemExit(f"--drop-caches needs to write {DROP_CACHES}: run as root")
    stop = threading.Event()

    def drop() -> None:
        while not stop.wait(every_s):
            os.sync()
            DROP_CACHES.write_text("1\n")

    thread = threading.Thread(target=drop, name="drop-caches", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="sqlite")
    parser.add_argument("--mode", default="streamed")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--procs", type=int, default=4, help="counted pairs to run")
    parser.add_argument("--repeats", type=int, default=2, help="counted runs per process")
    parser.add_argument("--drop-caches", type=float, metavar="S", help="every S seconds")
    args = parser.parse_args()
    request = {
        "scenario": "read-stream",
        "backend": args.backend,
        "mode": args.mode,
        "size": args.size,
        "params": {},
        "measure": "instructions",
        "repeats": args.repeats,
        "warmups": 1,
        "layout": {"streams": 1, "payload_bytes": 250, "seed": 0},
    }
    counts: list[float] = []
    with dropping_caches(args.drop_caches):
        for index in range(args.procs):
            answer = count_cell(request)
            if not answer.get("ok"):
                raise SystemExit(f"process {index + 1} failed: {answer.get('error')}")
            counts.append(float(answer["instructions"][0]))
            with_runs, without = answer["instructions_process"]
            print(
                f"process {index + 1}: {counts[-1]:,.0f} a run "
                f"({with_runs:,} with the runs, {without:,} without)",
                flush=True,
            )
    low, high = min(counts), max(counts)
    print(f"{low:,.0f} - {high:,.0f} a run: spread {(high - low) / low:.4%}")


if __name__ == "__main__":
    main()
