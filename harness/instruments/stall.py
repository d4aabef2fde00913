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

Time the loop's thread spent waiting for a core is not the work's: on Linux each tick
subtracts the thread's own scheduler wait since the previous tick (``run_delay`` in
``/proc/thread-self/schedstat``). Without it a busy machine's preemptions, and the
kernel's throttling of a real-time worker (timed workers run under SCHED_FIFO where
permitted: a process that runs a second without blocking is paused ~50 ms, see
`harness.runner.timed_scheduling`), would read as stalls. A 1M-event SQLite streamed
read under SCHED_FIFO: longest stall 49.9 ms as the plain delay, 1.10 ms less the
wait; under the normal scheduler at load ~3, 3.22 ms and 1.74 ms (``chrt -f 1 python
scripts/stall_and_scheduling.py FILE --plain``, then without ``chrt``). Elsewhere
the figure is the plain delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from array import array

__all__ = ["DEFAULT_TICK_S", "LoopWatch", "stall_figures"]

DEFAULT_TICK_S = 0.001


class LoopWatch:
    """Records how late a ticker wakes on the running loop between `start` and `stop`."""

    __slots__ = ("_due", "_handle", "_loop", "_schedstat", "_waited", "late_s", "tick_s")

    def __init__(self, tick_s: float = DEFAULT_TICK_S) -> None:
        if not (tick_s > 0 and math.isfinite(tick_s)):
            raise ValueError(f"the stall ticker's interval must be positive, not {tick_s!r}")
        self.tick_s = tick_s
        self.late_s = array("d")
        """How late each tick ran, in seconds (the last one measured at `stop`)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0
        self._schedstat: int | None = None
        self._waited = 0.0

    def start(self) -> None:
        """Start ticking on the running loop (call from inside it)."""
        self._loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError):  # not Linux: the plain delay
            self._schedstat = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        self._waited = self._wait_s()
        self._due = self._loop.time() + self.tick_s
        self._handle = self._loop.call_at(self._due, self._tick)

    def _wait_s(self) -> float:
        """This thread's scheduler wait so far (seconds), or 0 where unknown."""
        if self._schedstat is None:
            return 0.0
        try:
            return int(os.pread(self._schedstat, 64, 0).split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return 0.0

    def _late(self, now: float) -> float:
        """How late the pending tick is at ``now``, less the wait for a core since the
        previous one ran."""
        waited = self._wait_s()
        late = now - self._due - (waited - self._waited)
        self._waited = waited
        return max(0.0, late)

    def _tick(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        self.late_s.append(self._late(now))
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
            self.late_s.append(self._late(loop.time()))
        if self._schedstat is not None:
            os.close(self._schedstat)
            self._schedstat = None
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
