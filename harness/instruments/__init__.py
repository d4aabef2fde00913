"""The instruments, side by side: one small module each, one interface the worker calls.

======================  =========================================================
``timer``               the clock: total time, time to first event; with the
                        ``stall`` ticker riding along (the event loop's stall)
``memory``              memray: peak heap, allocation count, bytes allocated
``instructions``        cachegrind: CPU instructions of the client process
``stall``               the event-loop ticker (used by the clock, or on its own)
======================  =========================================================

Each worker kind is one `Instrument` (see `harness.instruments.base`): the worker asks
`instrument_for` for the kind it was sent and gathers the figures each run returns.
Kinds never mix in one process: a tracker or valgrind would distort the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.instruments.base import Instrument, Measured
from harness.instruments.instructions import Counted
from harness.instruments.memory import Memray, read_capture
from harness.instruments.stall import DEFAULT_TICK_S, LoopWatch
from harness.instruments.timer import Clock, timer_resolution_s

__all__ = [
    "DEFAULT_TICK_S",
    "KINDS",
    "Clock",
    "Counted",
    "Instrument",
    "LoopWatch",
    "Measured",
    "Memray",
    "instrument_for",
    "read_capture",
    "timer_resolution_s",
]

KINDS = ("time", "memory", "instructions")
"""Worker kinds: what one worker process measures."""


def instrument_for(
    kind: str,
    *,
    capture_path: Callable[[], Path] | None = None,
    stall_tick_s: float | None = DEFAULT_TICK_S,
    baseline: bool = False,
) -> Instrument:
    """The instrument for worker kind ``kind`` (one of `KINDS`).

    ``capture_path`` names each memray capture (memory); ``stall_tick_s`` is the loop
    ticker's interval for timed runs (None: no ticker). Instructions are counted from
    outside the process (`harness.instruments.instructions.count_cell`); inside it the
    instrument only runs the work (or, with ``baseline``, everything but the work).
    """
    if kind == "time":
        return Clock(stall_tick_s)
    if kind == "memory":
        if capture_path is None:
            raise ValueError("the memory instrument needs a capture_path")
        return Memray(capture_path)
    if kind == "instructions":
        return Counted(run_work=not baseline)
    raise ValueError(f"unknown measure {kind!r}; expected one of {', '.join(KINDS)}")
