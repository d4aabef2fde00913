"""Change points in a history series, and the check that gates on them.

Detection is MongoDB's E-Divisive with means (``signal-processing-algorithms``), the
method behind MongoDB's and Apache Otava's performance CI, chosen by measurement over
ruptures (Pelt) and apache-otava on generated series with known steps and realistic
noise (``scripts/changepoint_choice.py``; figures in the README): it found the most
planted wall-time steps at the right commit with the fewest false alarms, and needs no
per-metric penalty tuning because its permutation test adapts to each series' noise.

Settings per kind of metric, measured on 100 generated 60-commit histories (steps at
known commits) and 1000 series of the same noise without a step
(``python -m harness.history.synthetic --evaluate 100 1000``). Every series is searched
on log values (multiplicative noise becomes symmetric, a step the same size at any
level). Memory and counts: p < 0.01, 100 permutations. Wall time: p < 0.02, and a
change point needs 2 commits each side, because one commit cannot tell a step from a
load burst. Against the former single setting (median-scaled values, p < 0.01), the
+20% wall-time step is placed at its commit 67/100 instead of 57/100, within one commit
84 instead of 75, missed (not within 3) 9 instead of 15, and `check` first alarms a
median of 5 commits after it instead of 7, for about as many alarms on step-free wall
time (4 in 1000 against 3); on step-free peak memory the log scale cut them from 5 in
1000 to 1. p < 0.05 placed the wall-time step 69/100 but alarmed on 10 in 1000
step-free series. The bound is the noise: the best single split of each series,
knowing there is exactly one step, places it 69/100 and within one commit 88/100.

A change point is *reported* when the step it marks (median of the segment after / median
of the segment before) is at least the metric's minimum effect. `check_series` raises an
alarm when the newest commit is still worse than the level before a worsening change
point by at least the minimum effect, naming the first commit of that step: a step
that a later commit undid raises none, and small steps that add up do raise one.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Alarm",
    "Series",
    "Step",
    "Thresholds",
    "check_series",
    "detect_change_points",
    "find_steps",
    "lower_is_better",
    "metric_kind",
]


def lower_is_better(metric: str) -> bool:
    """Rates (``..._per_s``) improve upward; times, bytes and counts downward."""
    return not metric.endswith("per_s")


@dataclass(frozen=True)
class Series:
    """One cell's metric across commits, in first-parent order (one point per commit:
    the median over that commit's runs)."""

    scenario: str
    backend: str
    mode: str
    size: int
    metric: str
    commits: list[str]
    orders: list[int]
    subjects: list[str]
    values: list[float]
    runs: list[int]
    """How many runs each point pools."""
    params: str = ""
    """The scenario parameters that tell this series from another of the same cell run
    with other values ("payload_bytes=1024"); "" when the cell was only run one way."""

    @property
    def cell(self) -> str:
        where = f"{self.scenario}/{self.backend}/{self.mode}/{self.size}"
        return f"{where} [{self.params}]" if self.params else where


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
    """Significance of a change point in memory and count series."""
    time_pvalue: float = 0.02
    """Significance of a change point in time series (see the module docstring)."""
    time_min_segment: int = 2
    """Commits each side of a change point in a time series: one commit cannot tell a
    step from a load burst, so a step at the newest commit alarms one commit later."""
    permutations: int = 100
    seed: int = 20261201
    """E-Divisive's permutation test is seeded: the same history gives the same answer."""

    def minimum_effect(self, metric: str) -> float:
        kind = metric_kind(metric)
        return {"time": self.time, "memory": self.memory}.get(kind, self.count)

    def significance(self, metric: str) -> float:
        return self.time_pvalue if metric_kind(metric) == "time" else self.pvalue


def metric_kind(metric: str) -> str:
    """ "time" (``*_s``), "memory" (``*_bytes``) or "count" (instructions, allocations...)."""
    if metric.endswith("_s"):
        return "time"
    if metric.endswith("bytes") and "allocated" not in metric:
        return "memory"
    return "count"


def detect_change_points(values: Sequence[float], thresholds: Thresholds, metric: str) -> list[int]:
    """Indices where a new segment starts (E-Divisive), sorted; none in a short series.

    Positive series are searched on a log scale, where a step is the same size whatever
    the level and multiplicative noise (wall time's) is symmetric; others are scaled by
    their median.
    """
    if len(values) < MIN_POINTS or len(set(values)) == 1:
        return []
    from signal_processing_algorithms.determinism import deterministic_numpy_random
    from signal_processing_algorithms.energy_statistics.energy_statistics import e_divisive

    if min(values) > 0:
        searched = [math.log(v) for v in values]
    else:
        scale = statistics.median(values) or 1.0
        searched = [v / scale for v in values]
    with deterministic_numpy_random(thresholds.seed):
        found = e_divisive(
            searched,
            pvalue=thresholds.significance(metric),
            permutations=thresholds.permutations,
        )
    points = sorted(int(i) for i in found if 0 < int(i) < len(values))
    if metric_kind(metric) == "time":
        points = _drop_short_segments(points, len(values), thresholds.time_min_segment)
    return points


def _drop_short_segments(points: list[int], length: int, minimum: int) -> list[int]:
    """``points`` without those that leave a segment shorter than ``minimum`` (earliest
    first, until none does)."""
    points = list(points)
    while True:
        bounds = [0, *points, length]
        short = [
            k
            for k in range(len(points))
            if min(bounds[k + 1] - bounds[k], bounds[k + 2] - bounds[k + 1]) < minimum
        ]
        if not short:
            return points
        del points[short[0]]


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
    points = detect_change_points(values, thresholds, series.metric)
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
    points = detect_change_points(values, thresholds, series.metric)
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
