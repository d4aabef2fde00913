"""The clock: total time, time to the first event, and the event loop's stall.

A timed run has no tracker attached (memray slows allocation down several times
over). The store is opened, seeded and warmed before the clock starts, and any
per-run preparation happens before it too. The loop-stall ticker
(`harness.instruments.stall`) rides along: it costs well under 1% of a run (measured,
see the README), so timed runs carry their stall figures at no extra process.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass

from harness.instruments.base import Measured
from harness.instruments.stall import DEFAULT_TICK_S, LoopWatch
from scenarios.base import RunContext, Workload

__all__ = ["Clock", "timer_resolution_s"]


def timer_resolution_s() -> float:
    """The resolution of the clock timed runs use (``time.perf_counter``)."""
    return time.get_clock_info("perf_counter").resolution


@dataclass(frozen=True, slots=True)
class Clock:
    """Times one run: ``total_s``, ``cpu_s`` (CPU time of this process, every thread),
    ``first_event_s`` (if the workload marks one), and ``stall_max_s``/``stall_p99_s``
    when ``stall_tick_s`` is set (None: no ticker)."""

    stall_tick_s: float | None = DEFAULT_TICK_S

    async def measure(self, workload: Workload, ctx: RunContext) -> Measured:
        probe = ctx.probe
        # Collect garbage now, so that no run pays for the garbage of the one before.
        gc.collect()
        watch = LoopWatch(self.stall_tick_s) if self.stall_tick_s else None
        if watch is not None:
            watch.start()
        cpu_started = time.process_time_ns()
        started = time.perf_counter_ns()
        outcome = await workload(ctx)
        ended = time.perf_counter_ns()
        cpu_ended = time.process_time_ns()
        figures = {"total_s": (ended - started) / 1e9, "cpu_s": (cpu_ended - cpu_started) / 1e9}
        if watch is not None:
            figures.update(watch.stop())
        if probe.first_ns is not None:
            figures["first_event_s"] = (probe.first_ns - started) / 1e9
        return Measured(outcome, figures)
