"""Change points in a history series, and the check that gates on them.

Detection is MongoDB's E-Divisive with means (``signal-processing-algorithms``), the
method behind MongoDB's and Apache Otava's performance CI, chosen by measurement over
ruptures (Pelt) and apache-otava on generated series with known steps and realistic
noise (``scripts/changepoint_choice.py``; figures in the README): it found the most
planted wall-time steps at the right commit with the fewest false alarms, and needs no
per-metric penalty tuning because its permutation test adapts to each series' noise.

A change point is *reported* when the step it marks (median of the segment after / median
of the segment before) is at least the metric's minimum effect. `check_series` raises an
alarm when the newest commit is still worse than the level before a worsening change
point by at least the minimum effect, naming the first commit of that step: a step
that a later commit undid raises none, and small steps that add up do raise one.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from harness.history.store import Series, lower_is_better

__all__ = [
    "Alarm",
    "Step",
    "Thresholds",
    "check_series",
    "detect_change_points",
    "find_steps",
    "metric_kind",
]

MIN_POINTS = 6
"""Shorter series are not searched: too few commits to tell a step from noise."""


@dataclass(frozen=True)
class Thresholds:
    """Minimum relative effects (0.10 = 10%) per kind of metric, and detection settings."""

    time: float = 0.10
    memory: float = 0.10
    count: float = 0.01
    """Deterministic counts (instructions, allocations): they repeat to ~0.001%."""
    pvalue: float = 0.01
    permutations: int = 100
    seed: int = 20261201
    """E-Divisive's permutation test is seeded: the same history gives the same answer."""

    def minimum_effect(self, metric: str) -> float:
        kind = metric_kind(metric)
        return {"time": self.time, "memory": self.memory}.get(kind, self.count)


def metric_kind(metric: str) -> str:
    """ "time" (``*_s``), "memory" (``*_bytes``) or "count" (instructions, allocations...)."""
    if metric.endswith("_s"):
        return "time"
    if metric.endswith("bytes") and "allocated" not in metric:
        return "memory"
    return "count"


def detect_change_points(values: Sequence[float], thresholds: Thresholds) -> list[int]:
    """Indices where a new segment starts (E-Divisive), sorted; none in a short series."""
    if len(values) < MIN_POINTS or len(set(values)) == 1:
        return []
    from signal_processing_algorithms.determinism import deterministic_numpy_random
    from signal_processing_algorithms.energy_statistics.energy_statistics import e_divisive

    scale = statistics.median(values) or 1.0
    with deterministic_numpy_random(thresholds.seed):
        found = e_divisive(
            [v / scale for v in values],
            pvalue=thresholds.pvalue,
            permutations=thresholds.permutations,
        )
    return sorted(int(i) for i in found if 0 < int(i) < len(values))


@dataclass(frozen=True)
class Step:
    index: int
    """Position in the series of the first commit of the new level."""
    commit: str
    before: float
    """Median of the segment before."""
    after: float
    change: float
    """after / before - 1."""
    worse: bool


def _segments(values: Sequence[float], points: Sequence[int]) -> list[tuple[int, int]]:
    bounds = [0, *points, len(values)]
    return list(itertools.pairwise(bounds))


def find_steps(series: Series, thresholds: Thresholds) -> list[Step]:
    """The change points of ``series`` whose step is at least the minimum effect."""
    values = series.values
    points = detect_change_points(values, thresholds)
    segments = _segments(values, points)
    minimum = thresholds.minimum_effect(series.metric)
    steps = []
    for k, point in enumerate(points):
        before = statistics.median(values[segments[k][0] : segments[k][1]])
        after = statistics.median(values[segments[k + 1][0] : segments[k + 1][1]])
        if before == 0:
            continue
        change = after / before - 1
        if abs(change) < minimum:
            continue
        worse = change > 0 if lower_is_better(series.metric) else change < 0
        steps.append(Step(point, series.commits[point], before, after, change, worse))
    return steps


@dataclass(frozen=True)
class Alarm:
    series: Series
    step: Step
    """The worsening step that the newest commit has not recovered from."""
    newest: float
    """The level of the newest segment (median)."""
    change: float
    """newest / level before the step - 1."""


def check_series(series: Series, thresholds: Thresholds) -> Alarm | None:
    """An `Alarm` when the newest commit sits after a worsening change point and is still
    worse than the level before it by the minimum effect; the latest such step is named."""
    values = series.values
    points = detect_change_points(values, thresholds)
    if not points:
        return None
    segments = _segments(values, points)
    newest = statistics.median(values[segments[-1][0] : segments[-1][1]])
    minimum = thresholds.minimum_effect(series.metric)
    lower = lower_is_better(series.metric)
    for k in range(len(points) - 1, -1, -1):
        before = statistics.median(values[segments[k][0] : segments[k][1]])
        after = statistics.median(values[segments[k + 1][0] : segments[k + 1][1]])
        if before == 0:
            continue
        step_worse = after > before if lower else after < before
        total = newest / before - 1
        still_worse = total >= minimum if lower else total <= -minimum
        if step_worse and still_worse:
            point = points[k]
            step = Step(point, series.commits[point], before, after, after / before - 1, worse=True)
            return Alarm(series, step, newest, total)
    return None
