"""memray: peak heap bytes, allocation count and bytes allocated of one tracked run.

A tracked run's duration is not reported (the tracker slows allocation down several
times over). The store is opened, seeded and warmed before tracking starts, and any
per-run preparation happens before it too.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.instruments.base import Measured
from scenarios.base import Outcome, RunContext, Workload

__all__ = ["CaptureStats", "Memray", "read_capture"]


@dataclass(frozen=True, slots=True)
class CaptureStats:
    """What one memray capture says about the run it tracked."""

    peak_bytes: int
    """The most heap memory held at once."""
    allocations: int
    """Allocations made (frees not counted): near-deterministic, unlike time."""
    allocated_bytes: int
    """Bytes allocated over the run, however soon freed (what the allocator churned)."""


@dataclass(frozen=True, slots=True)
class Memray:
    """Tracks one run with memray: ``peak_bytes``, ``allocations``, ``allocated_bytes``.

    Python's own allocators are traced (``trace_python_allocators``), so small objects
    count at their true size rather than as pymalloc arenas; allocations made by other
    threads (a driver's I/O thread, for example) count too. ``capture_path`` names the
    capture file of the next run.
    """

    capture_path: Callable[[], Path]

    async def measure(self, workload: Workload, ctx: RunContext) -> Measured:
        capture = self.capture_path()
        outcome, stats = await track(workload, ctx, capture)
        figures = {
            "peak_bytes": float(stats.peak_bytes),
            "allocations": float(stats.allocations),
            "allocated_bytes": float(stats.allocated_bytes),
        }
        return Measured(outcome, figures, files=(str(capture),))


async def track(workload: Workload, ctx: RunContext, capture: Path) -> tuple[Outcome, CaptureStats]:
    """Run ``workload`` once under memray, writing ``capture``; its outcome and figures."""
    import memray  # imported here: a timed worker never loads the tracker

    gc.collect()
    destination = memray.FileDestination(str(capture), overwrite=True, compress_on_exit=False)
    with memray.Tracker(destination=destination, trace_python_allocators=True):
        outcome = await workload(ctx)
        # Drop what the workload built while still tracking, so the capture shows the
        # whole life of the work (and leaves are visible to memray's leak view).
        outcome = Outcome(
            outcome.events, outcome.latencies_s, outcome.counters, series=outcome.series
        )
    return outcome, read_capture(capture)


def read_capture(capture: Path) -> CaptureStats:
    """Peak bytes, allocation count (frees not counted) and bytes allocated of a capture."""
    try:
        # What `memray stats` runs: counted in C++, fast even for millions of records.
        from memray._memray import compute_statistics
    except ImportError:  # pragma: no cover - a memray without it: count by hand
        return _count_records(capture)
    stats = compute_statistics(os.fspath(capture))
    return CaptureStats(
        int(stats.peak_memory_allocated),
        int(stats.total_num_allocations),
        int(stats.total_memory_allocated),
    )


def _count_records(capture: Path) -> CaptureStats:
    import memray

    frees = {"FREE", "PYMALLOC_FREE", "MUNMAP"}
    count = allocated = 0
    with memray.FileReader(os.fspath(capture)) as reader:
        peak = int(reader.metadata.peak_memory)
        for record in reader.get_allocation_records():
            if record.allocator.name not in frees:
                count += 1
                allocated += int(record.size)
    return CaptureStats(peak, count, allocated)
