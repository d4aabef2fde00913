"""Event-loop stall: how long the loop could not run anything else while work ran.

A ticker callback is due every ``tick_s`` (1 ms by default) on the running loop; each
time it runs it records how late it is against when it was due, and schedules itself
again one tick after it ran. Work that holds the loop (a collected read decoding a
million rows in one go) delays the tick by as long as it holds it; work that yields
often (a streamed read, batch by batch) delays it by about one batch.

It watches the loop, not a task: every task of the workload (a cell may run many) and
every callback share that loop, so one ticker sees them all.

An idle loop still wakes a tick up to about 1 ms late: asyncio sleeps in ``epoll``,
whose timeout has millisecond resolution and is rounded up. Figures below a
millisecond or so are the floor, not the work.

The ticker is a plain ``loop.call_at`` callback (no task, no coroutine): a few
microseconds per tick, well under 1% of a run at 1 ms ticks (the overhead is measured,
see the README's "Event-loop stall").
"""

from __future__ import annotations

import asyncio
import math
from array import array

__all__ = ["DEFAULT_TICK_S", "LoopWatch", "stall_figures"]

DEFAULT_TICK_S = 0.001


class LoopWatch:
    """Records how late a ticker wakes on the running loop between `start` and `stop`."""

    __slots__ = ("_due", "_handle", "_loop", "late_s", "tick_s")

    def __init__(self, tick_s: float = DEFAULT_TICK_S) -> None:
        if not (tick_s > 0 and math.isfinite(tick_s)):
            raise ValueError(f"the stall ticker's interval must be positive, not {tick_s!r}")
        self.tick_s = tick_s
        self.late_s = array("d")
        """How late each tick ran, in seconds (the last one measured at `stop`)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    def start(self) -> None:
        """Start ticking on the running loop (call from inside it)."""
        self._loop = asyncio.get_running_loop()
        self._due = self._loop.time() + self.tick_s
        self._handle = self._loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        self.late_s.append(max(0.0, now - self._due))
        self._due = now + self.tick_s
        self._handle = loop.call_at(self._due, self._tick)

    def stop(self) -> dict[str, float]:
        """Stop ticking; the longest stall and the p99 of the ticks (`stall_figures`).

        A tick still pending counts too: work that held the loop until it ended would
        otherwise leave no late tick behind.
        """
        loop = self._loop
        if loop is None:
            raise RuntimeError("LoopWatch.stop() before start()")
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
            self.late_s.append(max(0.0, loop.time() - self._due))
        self._loop = None
        return stall_figures(self.late_s)


def stall_figures(late_s: array[float] | list[float]) -> dict[str, float]:
    """``stall_max_s`` (the longest stall) and ``stall_p99_s`` (99% of ticks were less
    late than this) of a list of tick delays; empty when there are none."""
    if not late_s:
        return {}
    ordered = sorted(late_s)
    # Nearest-rank p99: a real observed delay, not an interpolation between two.
    rank = max(0, math.ceil(0.99 * len(ordered)) - 1)
    return {"stall_max_s": ordered[-1], "stall_p99_s": ordered[rank]}
