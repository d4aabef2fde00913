"""The clock: total time and time to the first event of one untracked run.

A timed run has no tracker attached (memray slows allocation down several times
over). The store is opened, seeded and warmed before the clock starts, and any
per-run preparation happens before it too.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass

from scenarios.base import Outcome, RunContext, Workload

__all__ = ["TimedRun", "timed", "timer_resolution_s"]


@dataclass(frozen=True, slots=True)
class TimedRun:
    total_s: float
    first_event_s: float | None
    outcome: Outcome


def timer_resolution_s() -> float:
    """The resolution of the clock timed runs use (``time.perf_counter``)."""
    return time.get_clock_info("perf_counter").resolution


async def timed(workload: Workload, ctx: RunContext) -> TimedRun:
    """Run ``workload`` once on the clock: total time and time to its first event."""
    probe = ctx.probe
    # Collect garbage now, so that no run pays for the garbage of the one before.
    gc.collect()
    started = time.perf_counter_ns()
    outcome = await workload(ctx)
    ended = time.perf_counter_ns()
    first = None if probe.first_ns is None else (probe.first_ns - started) / 1e9
    return TimedRun(total_s=(ended - started) / 1e9, first_event_s=first, outcome=outcome)
