"""Synthetic `RunResults` for the report and comparison tests (no runner needed)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from harness.analysis.stats import fit_growth
from harness.results import Cell, Environment, MemorySamples, RunResults, TimeSamples

MiB = 1024**2


def environment(**changes: Any) -> Environment:
    env = Environment(
        hostname="bench-1",
        platform="Linux-6.1-x86_64",
        machine="x86_64",
        cpu_model="Test CPU @ 3GHz",
        cpu_count=2,
        memory_bytes=8 * 1024**3,
        python="3.11.9",
        packages={"eventbench": "0.1.0", "aiosqlite": "0.20.0", "asyncpg": "0.29.0"},
        servers={"postgres": "PostgreSQL 15.20"},
        git_commit="0123456789abcdef0123456789abcdef01234567",
        git_dirty=False,
    )
    return replace(env, **changes)


def read_cell(
    scenario: str,
    backend: str,
    mode: str,
    size: int,
    rng: random.Random,
    *,
    repeats: int = 7,
    memory_rounds: int = 5,
    time_scale: float = 1.0,
    memory_scale: float = 1.0,
    noise: float = 0.02,
) -> Cell:
    """A read cell shaped like the real thing: collected memory grows with N, streamed not."""
    per_event = 2e-6 if backend == "memory" else 8e-6
    total = per_event * size * (1.03 if mode == "streamed" else 1.0) * time_scale
    first = total if mode == "collected" else per_event * 500
    peak = (size * 600 if mode == "collected" else 400_000 + size * 0.5) * memory_scale
    return Cell(
        scenario=scenario,
        backend=backend,
        mode=mode,
        size=size,
        params={"payload_bytes": 100, "seed": 1},
        time=TimeSamples(
            total_s=[total * (1 + rng.gauss(0, noise)) for _ in range(repeats)],
            first_event_s=[first * (1 + rng.gauss(0, noise)) for _ in range(repeats)],
            events=size,
            warmups=1,
            rounds=list(range(repeats)),  # one timed run per fresh process
        ),
        memory=MemorySamples(
            peak_bytes=[int(peak * (1 + rng.gauss(0, noise / 10))) for _ in range(memory_rounds)],
            allocations=[size * 12 + rng.randrange(100) for _ in range(memory_rounds)],
            rounds=list(range(memory_rounds)),
        ),
    )


def append_cell(backend: str, batch: int, size: int, rng: random.Random) -> Cell:
    per_append = 1e-4 if backend == "sqlite" else 2e-5
    total = size / batch * per_append + size * 2e-6
    return Cell(
        scenario="append",
        backend=backend,
        mode=f"batch-{batch}",
        size=size,
        params={"batch_size": batch},
        time=TimeSamples(
            total_s=[total * (1 + rng.gauss(0, 0.02)) for _ in range(5)],
            first_event_s=None,
            events=size,
            warmups=1,
            rounds=[0, 1, 2, 3, 4],
        ),
    )


def contention_cell(backend: str, size: int, rng: random.Random) -> Cell:
    total = size * 3e-4
    return Cell(
        scenario="append",
        backend=backend,
        mode="contention",
        size=size,
        params={"writers": 4},
        time=TimeSamples(
            total_s=[total * (1 + rng.gauss(0, 0.05)) for _ in range(5)],
            first_event_s=[1e-3] * 5,
            events=size,
            warmups=1,
            latency_s=[rng.expovariate(1 / 3e-4) for _ in range(200)],
            counters={"retries": [float(rng.randrange(300, 400)) for _ in range(5)]},
            rounds=[0, 1, 2, 3, 4],
        ),
    )


def make_results(
    *,
    seed: int = 1,
    backends: tuple[str, ...] = ("sqlite", "postgres"),
    sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000),
    tweak: Callable[[Cell], Cell] | None = None,
    env: Environment | None = None,
    with_append: bool = True,
) -> RunResults:
    rng = random.Random(seed)
    cells = [
        read_cell(scenario, backend, mode, size, rng)
        for scenario in ("read-stream", "catch-up")
        for backend in backends
        for mode in ("collected", "streamed")
        for size in sizes
    ]
    if with_append:
        cells += [
            append_cell(backend, batch, 10_000, rng)
            for backend in backends
            for batch in (1, 10, 100, 1000)
        ]
        cells += [contention_cell(backend, 10_000, rng) for backend in backends]
    if tweak is not None:
        cells = [tweak(c) for c in cells]
    return RunResults(
        environment=env or environment(),
        parameters={"sizes": list(sizes), "backends": list(backends), "repeats": 7},
        cells=cells,
        fits=fit_growth(cells),
        started_at="2024-06-01T12:00:00+00:00",
        finished_at="2024-06-01T12:05:00+00:00",
        duration_s=300.0,
    )
