"""Pieces shared by the scenarios that run many tasks at once in one cell.

A consumer that costs CPU (a busy loop, never a sleep: a slow consumer holds the event
loop as real work does), sizing the store's connection pool through the contract's
optional `SupportsPoolSize`, and a sampler that records the store's own figures
(`SupportsDiagnostics`) as time series while the work runs. None of it knows a
backend: a store that offers neither protocol simply has no pool to size and no
series to show.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

from harness.contract import EventStore, RecordedEvent, SupportsDiagnostics, SupportsPoolSize
from scenarios.base import Params, int_param

__all__ = [
    "Sampler",
    "busy_consumer",
    "check_at_least",
    "percentile",
    "sampling",
    "size_pool",
]


def busy_consumer(cost_us: int) -> Callable[[RecordedEvent], None]:
    """A consumer that spins for ``cost_us`` microseconds of CPU per event."""
    if cost_us <= 0:
        return lambda _event: None
    cost_s = cost_us / 1e6
    # Float seconds, not perf_counter_ns: floats come from a free list, while every
    # large int is a fresh allocation that memray would record, slowing tracked runs.
    clock = time.perf_counter

    def consume(_event: RecordedEvent) -> None:
        until = clock() + cost_s
        while clock() < until:
            pass

    return consume


async def size_pool(store: EventStore, size: int) -> bool:
    """Bound the store's connection pool to ``size``; False when it has no pool to bound."""
    if isinstance(store, SupportsPoolSize):
        await store.set_pool_size(size)
        return True
    return False


def check_at_least(params: Params, minimum: int, *names: str) -> None:
    """Raise ValueError unless every named int (or every item of a tuple) is >= minimum."""
    for name in names:
        value = params[name]
        values = value if isinstance(value, tuple) else (int_param(params, name),)
        if not values:
            raise ValueError(f"{name} needs at least one value")
        for item in values:
            if item < minimum:
                raise ValueError(f"{name} must be at least {minimum}, got {item}")


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation (0.0 for no values)."""
    if not values:
        return 0.0
    data = sorted(values)
    at = q * (len(data) - 1)
    lo = int(at)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (at - lo)


@dataclass
class Sampler:
    """The store's diagnostics sampled every ``interval_s`` while the work runs."""

    store: EventStore
    interval_s: float | None
    started: float = field(default_factory=time.perf_counter)
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    first: Mapping[str, float] = field(default_factory=dict)
    last: Mapping[str, float] = field(default_factory=dict)
    marks: dict[str, float] = field(default_factory=dict)
    """Named moments (seconds since the start), e.g. when the reads began and ended."""

    @property
    def available(self) -> bool:
        return isinstance(self.store, SupportsDiagnostics)

    def now(self) -> float:
        return time.perf_counter() - self.started

    def mark(self, name: str) -> None:
        self.marks[name] = self.now()

    async def sample(self) -> None:
        if not isinstance(self.store, SupportsDiagnostics):
            return
        values = await self.store.diagnostics()
        at = round(self.now(), 4)
        if not self.first:
            self.first = dict(values)
        self.last = dict(values)
        for name, value in values.items():
            if not name.endswith("_total"):
                self.series.setdefault(name, []).append((at, float(value)))

    def delta(self, name: str) -> float | None:
        """How much a ``_total`` counter grew between the first and last sample."""
        if name not in self.first or name not in self.last:
            return None
        return self.last[name] - self.first[name]

    def peak(self, name: str, since: float = 0.0, until: float = float("inf")) -> float | None:
        points = [v for t, v in self.series.get(name, ()) if since <= t <= until]
        return max(points) if points else None

    def final(self, name: str) -> float | None:
        points = self.series.get(name)
        return points[-1][1] if points else None


@contextlib.asynccontextmanager
async def sampling(store: EventStore, interval_s: float | None) -> AsyncIterator[Sampler]:
    """Sample the store's diagnostics now, every ``interval_s`` in the background (None:
    never), and once more on leaving, so that first and last bracket the work exactly."""
    sampler = Sampler(store, interval_s)
    if not sampler.available:
        yield sampler
        return
    await sampler.sample()
    if interval_s is None:
        yield sampler
        await sampler.sample()
        return

    async def loop() -> None:
        while True:
            await asyncio.sleep(interval_s)
            await sampler.sample()

    task = asyncio.create_task(loop(), name="diagnostics sampler")
    try:
        yield sampler
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await sampler.sample()
