"""memray: peak heap bytes and allocation count of one tracked run.

A tracked run's duration is not reported (the tracker slows allocation down several
times over). The store is opened, seeded and warmed before tracking starts, and any
per-run preparation happens before it too.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from pathlib import Path

from scenarios.base import Outcome, RunContext, Workload

__all__ = ["TrackedRun", "read_capture", "tracked"]


@dataclass(frozen=True, slots=True)
class TrackedRun:
    peak_bytes: int
    allocations: int
    outcome: Outcome
    capture: Path


async def tracked(workload: Workload, ctx: RunContext, capture: Path) -> TrackedRun:
    """Run ``workload`` once under memray: peak heap bytes and allocation count.

    Python's own allocators are traced (``trace_python_allocators``), so small objects
    count at their true size rather than as pymalloc arenas; allocations made by other
    threads (a driver's I/O thread, for example) count too.
    """
    import memray  # imported here: a timed worker never loads the tracker

    gc.collect()
    destination = memray.FileDestination(str(capture), overwrite=True, compress_on_exit=False)
    with memray.Tracker(destination=destination, trace_python_allocators=True):
        outcome = await workload(ctx)
        # Drop what the workload built while still tracking, so the capture shows the
        # whole life of the work (and leaves are visible to memray's leak view).
        outcome = Outcome(outcome.events, outcome.latencies_s, outcome.counters)
    peak, allocations = read_capture(capture)
    return TrackedRun(peak_bytes=peak, allocations=allocations, outcome=outcome, capture=capture)


def read_capture(capture: Path) -> tuple[int, int]:
    """Peak bytes and allocation count (frees not counted) of a memray capture file."""
    try:
        # What `memray stats` runs: counted in C++, fast even for millions of records.
        from memray._memray import compute_statistics
    except ImportError:  # pragma: no cover - a memray without it: count by hand
        return _count_records(capture)
    stats = compute_statistics(os.fspath(capture))
    return int(stats.peak_memory_allocated), int(stats.total_num_allocations)


def _count_records(capture: Path) -> tuple[int, int]:
    import memray

    frees = {"FREE", "PYMALLOC_FREE", "MUNMAP"}
    with memray.FileReader(os.fspath(capture)) as reader:
        peak = int(reader.metadata.peak_memory)
        count = sum(1 for r in reader.get_allocation_records() if r.allocator.name not in frees)
    return peak, count
