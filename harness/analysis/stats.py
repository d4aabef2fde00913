"""Descriptive statistics of a run: per-cell summaries and how metrics grow with N.

Pure functions of samples and cells (no I/O), so reports can recompute them from a
results file. Medians and quantiles, never means: benchmark samples are skewed by
the occasional scheduler hiccup, and a median shrugs that off.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from harness.results import Cell, Fit

__all__ = [
    "FIT_METRICS",
    "MIN_FIT_SIZES",
    "NO_FIT_REASON",
    "fit_growth",
    "fit_loglog",
    "median",
    "quantile",
    "summarize",
]

FIT_METRICS = ("peak_bytes", "total_s")

MIN_FIT_SIZES = 3
"""A growth slope is fitted only over this many sizes or more. A line through two
points always fits perfectly (R² 1.00), so it would look certain while testing nothing."""

NO_FIT_REASON = f"slope needs {MIN_FIT_SIZES}+ sizes"
"""What reports say where they show no slope because too few sizes were measured."""


def quantile(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation; NaN for no samples."""
    if not samples:
        return math.nan
    return float(np.quantile(np.asarray(samples, dtype=float), q))


def median(samples: Sequence[float]) -> float:
    return quantile(samples, 0.5)


def summarize(cell: Cell) -> dict[str, float]:
    """The figures a table shows for one cell: medians, quartiles, rates.

    Keys (present when the cell has the samples): total_s, total_s_q1, total_s_q3,
    total_s_min, first_event_s, events_per_s, latency_p50_s, latency_p99_s,
    stall_max_s, stall_p99_s (the event loop's stall), peak_bytes, allocations,
    allocated_bytes, instructions, instructions_per_event, the cold run's
    cold_total_s, cold_first_event_s, cold_stall_max_s and cold_peak_bytes, and one
    median per counter. Every figure not named cold is warm (after warm-up).
    """
    out: dict[str, float] = {}
    t = cell.time
    if t is not None and t.total_s:
        total = median(t.total_s)
        out["total_s"] = total
        out["total_s_q1"] = quantile(t.total_s, 0.25)
        out["total_s_q3"] = quantile(t.total_s, 0.75)
        out["total_s_min"] = min(t.total_s)
        out["repeats"] = float(len(t.total_s))
        if t.first_event_s:
            out["first_event_s"] = median(t.first_event_s)
        if total > 0:
            out["events_per_s"] = t.events / total
        latencies = t.latency_s or []
        if latencies:
            out["latency_p50_s"] = quantile(latencies, 0.5)
            out["latency_p99_s"] = quantile(latencies, 0.99)
        for name, values in (t.counters or {}).items():
            out[name] = median(values)
        for name, stall in (("stall_max_s", t.stall_max_s), ("stall_p99_s", t.stall_p99_s)):
            if stall:
                out[name] = median(stall)
    m = cell.memory
    if m is not None and m.peak_bytes:
        out["peak_bytes"] = median([float(v) for v in m.peak_bytes])
        out["allocations"] = median([float(v) for v in m.allocations])
        if m.allocated_bytes:
            out["allocated_bytes"] = median([float(v) for v in m.allocated_bytes])
    i = cell.instructions
    if i is not None and i.per_run:
        out["instructions"] = median(i.per_run)
        if i.events > 0:
            out["instructions_per_event"] = out["instructions"] / i.events
    c = cell.cold
    if c is not None:
        for name, values in (
            ("cold_total_s", c.total_s),
            ("cold_first_event_s", c.first_event_s),
            ("cold_stall_max_s", c.stall_max_s),
            ("cold_peak_bytes", [float(v) for v in c.peak_bytes]),
        ):
            if values:
                out[name] = median(values)
    return out


def fit_loglog(sizes: Sequence[float], values: Sequence[float]) -> tuple[float, float, float]:
    """Least-squares fit of log(value) = intercept + slope * log(size).

    Returns (slope, intercept, r_squared). Needs two distinct sizes and positive values.
    """
    x = np.log(np.asarray(sizes, dtype=float))
    y = np.log(np.asarray(values, dtype=float))
    if len(set(x.tolist())) < 2:
        raise ValueError("a growth fit needs at least two distinct sizes")
    slope, intercept = np.polyfit(x, y, 1)
    predicted = intercept + slope * x
    residual = float(np.sum((y - predicted) ** 2))
    spread = float(np.sum((y - y.mean()) ** 2))
    # Values equal to within rounding (a flat streamed peak) leave a spread of float
    # noise, and noise over noise gave "R² -2.00": a flat line fits them exactly.
    r_squared = 1.0 - residual / spread if spread > 1e-12 else 1.0
    r_squared = min(1.0, max(0.0, r_squared))
    return float(slope), float(intercept), r_squared


def fit_growth(cells: Iterable[Cell]) -> list[Fit]:
    """For each (scenario, backend, mode): slopes of log(median peak) and log(median
    total time) against log(N), over the sizes measured without error.

    Groups with fewer than `MIN_FIT_SIZES` sizes get no fit (see `NO_FIT_REASON`).

    A slope near 1 means the metric grows in proportion to N (a collected read's
    memory); near 0 means it does not grow (a streamed read's memory).
    """
    groups: dict[tuple[str, str, str], list[Cell]] = defaultdict(list)
    for cell in cells:
        if cell.error is None:
            groups[(cell.scenario, cell.backend, cell.mode)].append(cell)
    fits: list[Fit] = []
    for (scenario, backend, mode), members in groups.items():
        for metric in FIT_METRICS:
            points: dict[int, float] = {}
            for cell in members:
                value = summarize(cell).get(metric)
                if value is not None and value > 0 and math.isfinite(value):
                    points[cell.size] = value
            if len(points) < MIN_FIT_SIZES:
                continue
            sizes = sorted(points)
            slope, intercept, r2 = fit_loglog(sizes, [points[s] for s in sizes])
            fits.append(Fit(scenario, backend, mode, metric, slope, intercept, r2, sizes))
    return fits
