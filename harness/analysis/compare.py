"""Before/after statistics: did HEAD make a cell faster or leaner than BASE, or worse?

**The process is the unit of replication.** Repeats inside one worker process share
that process's luck (where it was scheduled, what else ran, how its heap grew), so
they are not independent observations; rounds (fresh processes, interleaved A B A B
when both sides run together) are. Every sample in a results file records its round,
and everything here is built on one figure per round: the median of that round's
repeats (for time, their minimum: other load only ever adds time, so a process's
fastest run is its least disturbed).

For each cell both runs measured and each metric of `METRICS` both measured,
`compare_results` gives:

* the ratio head/base as the Hodges-Lehmann estimate on the log scale (below 1 is
  better: every metric is a cost), with its exact distribution-free confidence
  interval and a two-sided p-value, in one of two ways:

  - **paired**, when the two sides were measured together round by round (one
    interleaved run, A B A B, as ``compare --ref`` makes) and both have the same
    rounds, at least `PAIRED_FROM` (8; a 95% signed-rank interval needs at least 6,
    `min_pairs`: with 5 pairs even the most extreme pattern has p = 2/32, and with 6
    the interval is the range of the six ratios, wider than the unpaired one unless
    neighbouring rounds share most of their load): round r of base and round r of
    head ran next to each other and met the same load, so each round gives one log
    ratio head/base; the estimate is the median of their Walsh averages and the
    interval the exact Wilcoxon signed-rank one. Load that drifts from round to
    round (a neighbour's job starting and ending) cancels in each pair instead of
    widening the interval;
  - **unpaired** otherwise: the median over every (base round, head round) pair of
    head/base, and the exact Mann-Whitney U interval for a shift of log values;
* a verdict against a *minimum effect*: a change smaller than that is not worth
  reporting however certain it is: 10% for time, 2% for memory, 1% for counts. For
  near-deterministic metrics (memory, counts) it is raised to the cell's own
  between-process spread, measured: the largest difference between two rounds of one
  side. A change no larger than what separates two identical processes is not news.
  So is time's when the two sides come from separate runs rather than one
  interleaved run: a shift in the machine's load between runs moves time as a code
  change would, and the spread within each run is the measure of how much it can.

**Time is judged twice: wall time (``total_s``) and CPU time (``cpu_s``).** On a shared
machine the wall time of a process is its CPU time plus the time it waited for a core,
and that wait, not the code, is most of the spread. Measured with
``python scripts/time_variance.py --rounds 6 --repeats 3`` (memory store, streamed
read of 100K events, sides A, A2 and +25% interleaved) on 2 cores under a load
average of about 11 (other jobs): the fastest run of a process varied between
processes by 0.18-0.26 (standard deviation of its log) in wall time and by 0.14-0.17
in CPU time (on that machine a read used about a quarter of its wall time on a
core); repeats within one process varied by 0.04-0.12. Neither more repeats per
process (the fastest of 1, 2 or 3) nor leaving out the first timed repeat (no slower
than the rest) narrowed the spread between processes, so rounds, not repeats, buy
power, and the runner already collects garbage before each timed run and fixes
PYTHONHASHSEED. CPU time does not see time spent elsewhere (a database server, I/O
waits): wall time does, so both are judged and either can call a regression.

Pairing helps as far as neighbouring rounds share the load: in that run the
fastest runs of neighbouring processes correlated by -0.2 to +0.7 from run to run,
and the paired log ratios of identical code spread by 0.23-0.26 against 0.26-0.43
unpaired. At that noise no rule with a 10% minimum effect sees a 25% change in a
few rounds (about 30 a side for 80%: ``python scripts/verdict_power.py --sigma 0.15
--rho 0.2 --rounds 6,8,12,20,30``); where processes vary by about 5% (a quiet
machine), 6 rounds catch it 98% of the time (``--sigma 0.05``).

Honest power: with few rounds no interval reaches the asked confidence (a rank
interval at 95% needs at least 4 rounds a side, or 3 and 5; paired, 6), and such a metric is
``inconclusive (k rounds per side)``, never regressed.

The verdict of one metric of one cell, in order:

``inconclusive`` (too few rounds)
    The rounds cannot reach the confidence asked for.
``regressed`` / ``improved``
    The whole interval lies beyond the minimum effect. For time also the fastest runs
    must have moved beyond it: load from other processes only adds time, so a change
    seen only in the slower runs is ``inconclusive`` rather than blamed on the code.
``unchanged``
    The whole interval lies within the minimum effect (and does not lie wholly beyond
    the configured relative threshold: such a change is real but within the cell's
    spread, hence ``inconclusive``, never ``unchanged``).
``inconclusive``
    Anything else: too much noise to tell. The reason says what would settle it.

A cell that failed in HEAD but not in BASE counts as a regression (a new failure is
the worst kind of slow-down); cells only one run measured are listed, not judged.

New metrics plug in as data: a `Metric` names how to read its samples and round
indices from a `Cell`, its unit, which relative threshold applies and how it behaves
under load. Everything here is a pure function of two `RunResults`; rendering lives
in `harness.report.comparison`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
from typing import Any, Final

import numpy as np
from scipy import stats

from harness.results import SCHEMA_VERSION, Cell, Environment, RunResults

__all__ = [
    "DEFAULT_COUNT_THRESHOLD",
    "DEFAULT_MEMORY_FLOOR_BYTES",
    "DEFAULT_MEMORY_THRESHOLD",
    "DEFAULT_TIME_THRESHOLD",
    "METRICS",
    "PAIRED_FROM",
    "CellComparison",
    "Comparison",
    "CompareError",
    "GroupSummary",
    "Metric",
    "MetricComparison",
    "Samples",
    "Thresholds",
    "Verdict",
    "compare_metric",
    "compare_results",
    "measured_together",
    "min_pairs",
    "min_rounds",
    "paired_rounds",
    "parse_bytes",
]

DEFAULT_TIME_THRESHOLD: Final = 0.10
DEFAULT_MEMORY_THRESHOLD: Final = 0.02
DEFAULT_COUNT_THRESHOLD: Final = 0.01
"""Instruction counts repeat to about 0.0001% between processes, allocation counts
nearly as well: 1% is a real change (and the cell's measured spread still counts)."""
DEFAULT_MEMORY_FLOOR_BYTES: Final = 0
"""No fixed floor: a streamed peak is a few hundred KiB, and a floor of that size hid
+78% rises. Memory is judged against the cell's measured spread instead."""


class CompareError(ValueError):
    """Two runs cannot be compared (they share no cell, an old schema, ...)."""


class Verdict(StrEnum):
    IMPROVED = "improved"
    REGRESSED = "regressed"
    UNCHANGED = "unchanged"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Samples:
    """One metric's samples in one cell, with the round (process) of each."""

    values: tuple[float, ...]
    rounds: tuple[int, ...] | None
    """Parallel to ``values``; None when the file did not record rounds (schema 1)."""


def _parallel(values: Sequence[float] | None, rounds: Sequence[int] | None) -> Samples | None:
    if not values:
        return None
    fitting = rounds if rounds is not None and len(rounds) == len(values) else None
    return Samples(tuple(float(v) for v in values), None if fitting is None else tuple(fitting))


@dataclass(frozen=True)
class Metric:
    """A cost measured per cell (lower is better), and how to judge it."""

    name: str
    """Key in the comparison documents: "total_s", "first_event_s", "peak_bytes", ..."""
    label: str
    unit: str
    """"s" (seconds), "B" (bytes) or "" (a count)."""
    threshold: str
    """Which relative minimum effect of `Thresholds` applies: "time", "memory", "count"."""
    samples: Callable[[Cell], Samples | None]
    """The cell's samples of this metric with their rounds, or None if not measured."""
    load_inflates: bool = False
    """Other load on the machine only ever adds to it (time): a round's figure is its
    fastest run, and a real change must move the fastest runs overall too, so a change
    only the slower runs show is not blamed on the code."""
    spread_floor: bool = False
    """Near-deterministic within a process (memory, counts): the minimum effect is
    raised to the largest difference between two rounds of one side."""

    @property
    def kind(self) -> str:
        return self.threshold


def _total_s(cell: Cell) -> Samples | None:
    return None if cell.time is None else _parallel(cell.time.total_s, cell.time.rounds)


def _cpu_s(cell: Cell) -> Samples | None:
    # cpu_s is parallel to total_s (the runner drops it unless every worker measured it).
    t = cell.time
    return None if t is None else _parallel(t.cpu_s, t.rounds)


def _first_event_s(cell: Cell) -> Samples | None:
    # first_event_s is parallel to total_s (the worker drops it unless every run has one).
    return None if cell.time is None else _parallel(cell.time.first_event_s, cell.time.rounds)


def _peak_bytes(cell: Cell) -> Samples | None:
    m = cell.memory
    return None if m is None else _parallel([float(x) for x in m.peak_bytes], m.rounds)


def _allocations(cell: Cell) -> Samples | None:
    m = cell.memory
    return None if m is None else _parallel([float(x) for x in m.allocations], m.rounds)


def _allocated_bytes(cell: Cell) -> Samples | None:
    # Older workers of a side do not count it: then the whole cell has None.
    m = cell.memory
    if m is None or m.allocated_bytes is None:
        return None
    return _parallel([float(x) for x in m.allocated_bytes], m.rounds)


def _instructions(cell: Cell) -> Samples | None:
    i = cell.instructions
    return None if i is None else _parallel(i.per_run, i.rounds)


def _cold(values: Sequence[float], rounds: Sequence[int] | None) -> Samples | None:
    # One cold run per process. A figure some processes lack (e.g. no first event) cannot
    # be paired with its rounds, so it is not judged rather than judged on guessed rounds.
    if not values or rounds is None or len(rounds) != len(values):
        return None
    return _parallel(values, rounds)


def _cold_first_event_s(cell: Cell) -> Samples | None:
    c = cell.cold
    return None if c is None else _cold(c.first_event_s, c.time_rounds)


def _cold_peak_bytes(cell: Cell) -> Samples | None:
    c = cell.cold
    return None if c is None else _cold([float(x) for x in c.peak_bytes], c.memory_rounds)


METRICS: Final[tuple[Metric, ...]] = (
    Metric("total_s", "total time", "s", "time", _total_s, load_inflates=True),
    Metric("cpu_s", "CPU time", "s", "time", _cpu_s, load_inflates=True),
    Metric("first_event_s", "time to first event", "s", "time", _first_event_s, load_inflates=True),
    Metric("peak_bytes", "peak memory", "B", "memory", _peak_bytes, spread_floor=True),
    # Cold runs: one per process, so each round's figure is its one run.
    Metric(
        "cold_first_event_s",
        "time to first event (cold)",
        "s",
        "time",
        _cold_first_event_s,
        load_inflates=True,
    ),
    Metric(
        "cold_peak_bytes", "peak memory (cold)", "B", "memory", _cold_peak_bytes, spread_floor=True
    ),
    # Deterministic counts: the count threshold, raised to what separates two processes.
    Metric("instructions", "instructions", "", "count", _instructions, spread_floor=True),
    Metric("allocations", "allocations", "", "count", _allocations, spread_floor=True),
    Metric("allocated_bytes", "bytes allocated", "B", "count", _allocated_bytes, spread_floor=True),
)
"""Every metric compare judges, in report order. Add one here to have it judged."""


@dataclass(frozen=True)
class Thresholds:
    """What counts as a change worth reporting, and how sure to be about it."""

    time: float = DEFAULT_TIME_THRESHOLD
    """Minimum relative change of a time metric (0.10 = 10%)."""
    memory: float = DEFAULT_MEMORY_THRESHOLD
    """Minimum relative change of a memory metric (raised to the cell's spread)..."""
    memory_floor_bytes: int = DEFAULT_MEMORY_FLOOR_BYTES
    """...which must also be at least this many bytes (0: no absolute floor)."""
    count: float = DEFAULT_COUNT_THRESHOLD
    """Minimum relative change of a count (instructions, allocations, bytes allocated);
    ``--instructions-threshold`` is another name for it."""
    alpha: float = 0.05
    """1 - the confidence of the interval: the error rate of the rank test."""

    def __post_init__(self) -> None:
        for name in ("time", "memory", "count"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ValueError(
                    f"{name} threshold {value!r} must be a fraction between 0 and 1 "
                    "(0.10 means 10%)"
                )
        if self.memory_floor_bytes < 0:
            raise ValueError("the memory floor must be zero or more bytes")
        if not 0 < self.alpha < 1:
            raise ValueError("alpha must be between 0 and 1")

    @property
    def confidence(self) -> float:
        return 1 - self.alpha

    def relative(self, metric: Metric) -> float:
        """The configured relative minimum effect of ``metric``."""
        value = getattr(self, metric.threshold, None)
        if not isinstance(value, float):
            raise ValueError(f"{metric.name}: no threshold named {metric.threshold!r}")
        return value

    def minimum_effect(self, metric: Metric, base_median: float, spread: float = 0.0) -> float:
        """The smallest relative change that matters for this metric in this cell;
        ``spread`` (the cell's own between-process spread) counts where it applies."""
        effect = max(self.relative(metric), spread)
        # The floor is memory's (peaks); bytes allocated are a count, judged as one.
        if metric.threshold == "memory" and self.memory_floor_bytes and base_median > 0:
            effect = max(effect, self.memory_floor_bytes / base_median)
        return effect


@dataclass(frozen=True)
class MetricComparison:
    """One metric of one cell, base vs head."""

    metric: str
    base_samples: tuple[float, ...]
    head_samples: tuple[float, ...]
    base_median: float
    """Median of the base's per-round figures (for display)."""
    head_median: float
    ratio: float
    """head/base, the median over every pair of rounds; below 1 is better."""
    ci_low: float
    ci_high: float
    """The interval of ``ratio`` at the asked confidence; NaN when the rounds are too
    few to reach it."""
    p_value: float | None
    """Two-sided Mann-Whitney U of the per-round figures; None below two rounds a side."""
    best_ratio: float | None
    """head/base of the fastest runs (metrics load inflates): interference cannot speed a
    run up, so a real change moves these too."""
    minimum_effect: float
    """Relative change below which the difference is not worth reporting."""
    verdict: Verdict
    reason: str
    base_rounds: tuple[float, ...] = ()
    """One figure per base round: the median of its repeats (time: the fastest)."""
    head_rounds: tuple[float, ...] = ()
    spread: float = 0.0
    """The largest relative difference between two rounds of one side."""
    paired: bool = False
    """Judged on the head/base ratios of rounds measured side by side (an interleaved
    run with at least `PAIRED_FROM` rounds a side): ``ratio`` is then the Hodges-Lehmann
    estimate of the paired log ratios and the interval the exact signed-rank one."""


@dataclass(frozen=True)
class CellComparison:
    scenario: str
    backend: str
    mode: str
    size: int
    metrics: tuple[MetricComparison, ...]
    verdict: Verdict
    """The worst of the metrics': regressed > improved > inconclusive > unchanged."""
    failure: str | None = None
    """Why the cell failed on either side, if it did."""

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.scenario, self.backend, self.mode, self.size)


@dataclass(frozen=True)
class GroupSummary:
    """Geometric mean of the head/base ratios of one metric over a group of cells."""

    scenario: str
    backend: str
    metric: str
    geometric_mean: float
    cells: int
    counts: dict[str, int]
    """Verdict -> how many of the group's cells got it."""


@dataclass(frozen=True)
class Comparison:
    base_label: str
    head_label: str
    base: Environment
    head: Environment
    thresholds: Thresholds
    cells: tuple[CellComparison, ...]
    groups: tuple[GroupSummary, ...]
    only_in_base: tuple[tuple[str, str, str, int], ...]
    only_in_head: tuple[tuple[str, str, str, int], ...]
    warnings: tuple[str, ...]
    overall: dict[str, float] = field(default_factory=dict)
    """Metric -> geometric mean of head/base over every compared cell."""
    too_few_rounds: tuple[str, ...] = ()
    """One message per side that has too few rounds for a verdict in some cell: which
    file, how many rounds, and what to run instead."""
    missing_metrics: tuple[str, ...] = ()
    """One message per metric measured on one side only (not judged)."""
    interleaved: bool = True
    """Whether the two sides were measured together, round by round (one run)."""

    @property
    def regressions(self) -> list[CellComparison]:
        return [c for c in self.cells if c.verdict is Verdict.REGRESSED]

    @property
    def improvements(self) -> list[CellComparison]:
        return [c for c in self.cells if c.verdict is Verdict.IMPROVED]

    @property
    def has_regression(self) -> bool:
        return bool(self.regressions)

    @property
    def undecidable(self) -> bool:
        """True when no metric of any cell had enough rounds on both sides for a verdict:
        such a comparison cannot pass or fail anything (the CLI exits 2)."""
        need = min_rounds(self.thresholds.alpha)
        judged = [m for c in self.cells for m in c.metrics]
        return bool(judged) and all(
            min(len(m.base_rounds), len(m.head_rounds)) < need for m in judged
        )

    def counts(self) -> dict[str, int]:
        out = {v.value: 0 for v in Verdict}
        for cell in self.cells:
            out[cell.verdict.value] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        """A plain-data document (for the JSON comparison report)."""
        return {
            "kind": "eventbench.comparison",
            "version": 2,
            "base": {"label": self.base_label, "environment": _env_json(self.base)},
            "head": {"label": self.head_label, "environment": _env_json(self.head)},
            "thresholds": {
                "time": self.thresholds.time,
                "memory": self.thresholds.memory,
                "memory_floor_bytes": self.thresholds.memory_floor_bytes,
                "count": self.thresholds.count,
                "alpha": self.thresholds.alpha,
                "confidence": self.thresholds.confidence,
                "method": (
                    "Hodges-Lehmann ratio over rounds: exact signed-rank interval of "
                    "paired rounds when interleaved (8+ rounds), else exact Mann-Whitney"
                ),
            },
            "has_regression": self.has_regression,
            "counts": self.counts(),
            "overall_geometric_mean": self.overall,
            "warnings": list(self.warnings),
            "too_few_rounds": list(self.too_few_rounds),
            "missing_metrics": list(self.missing_metrics),
            "interleaved": self.interleaved,
            "groups": [
                {
                    "scenario": g.scenario,
                    "backend": g.backend,
                    "metric": g.metric,
                    "geometric_mean": g.geometric_mean,
                    "cells": g.cells,
                    "counts": g.counts,
                }
                for g in self.groups
            ],
            "cells": [
                {
                    "scenario": c.scenario,
                    "backend": c.backend,
                    "mode": c.mode,
                    "size": c.size,
                    "verdict": c.verdict.value,
                    "failure": c.failure,
                    "metrics": [
                        {
                            "metric": m.metric,
                            "base_median": m.base_median,
                            "head_median": m.head_median,
                            "ratio": _finite_or_none(m.ratio),
                            "ci": [_finite_or_none(m.ci_low), _finite_or_none(m.ci_high)],
                            "p_value": m.p_value,
                            "best_ratio": m.best_ratio,
                            "minimum_effect": m.minimum_effect,
                            "spread": m.spread,
                            "paired": m.paired,
                            "verdict": m.verdict.value,
                            "reason": m.reason,
                            "rounds": [len(m.base_rounds), len(m.head_rounds)],
                            "base_rounds": list(m.base_rounds),
                            "head_rounds": list(m.head_rounds),
                            "base_samples": list(m.base_samples),
                            "head_samples": list(m.head_samples),
                        }
                        for m in c.metrics
                    ],
                }
                for c in self.cells
            ],
            "only_in_base": [list(k) for k in self.only_in_base],
            "only_in_head": [list(k) for k in self.only_in_head],
        }


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _env_json(env: Environment) -> dict[str, Any]:
    return {
        "hostname": env.hostname,
        "platform": env.platform,
        "machine": env.machine,
        "cpu_model": env.cpu_model,
        "cpu_count": env.cpu_count,
        "memory_bytes": env.memory_bytes,
        "python": env.python,
        "packages": env.packages,
        "servers": env.servers,
        "git_commit": env.git_commit,
        "git_dirty": env.git_dirty,
    }


# --------------------------------------------------------------------------- one metric


def _ratio(head: float, base: float) -> float:
    if base == 0:
        return 1.0 if head == 0 else math.inf
    return head / base


def _per_round(samples: Samples, fastest: bool) -> list[float]:
    """One figure per round (rounds in their order): the median of its repeats, or
    their minimum when load only ever adds (``fastest``)."""
    if samples.rounds is None:
        return list(samples.values)
    by_round: dict[int, list[float]] = defaultdict(list)
    for value, index in zip(samples.values, samples.rounds, strict=True):
        by_round[index].append(value)
    pick = min if fastest else np.median
    return [float(pick(by_round[index])) for index in sorted(by_round)]


PAIRED_FROM: Final = 8
"""Interleaved rounds are judged in pairs from this many rounds a side. A signed-rank
interval exists from 6 pairs, but at 6 it is the range of the six pair ratios, and it
beats the unpaired interval only where neighbouring rounds share most of their load;
from 7-8 pairs it wins once they correlate by about 0.3 (measured: -0.2 to +0.7).
``python scripts/verdict_power.py --sigma 0.1 --rho 0.3 --rounds 6,7,8,10``: a 25%
slowdown caught 46/55/64/74% unpaired, 39/60/70/84% paired; with ``--rho 0``, 6 and 8
rounds: 45/60% unpaired, 29/52% paired."""

_EXACT_LIMIT: Final = 60
"""Rounds per side up to which the null distribution of U is computed exactly."""


@lru_cache(maxsize=256)
def _u_distribution(m: int, n: int) -> tuple[float, ...]:
    """P(U = u), u = 0..m*n, for samples of m and n with no ties (exact recursion)."""
    # p[i][j] over u: P(U=u | i, j) = i/(i+j) P(U=u-j | i-1, j) + j/(i+j) P(U=u | i, j-1)
    table: dict[tuple[int, int], np.ndarray[Any, np.dtype[np.float64]]] = {}
    for i in range(m + 1):
        for j in range(n + 1):
            if i == 0 or j == 0:
                table[(i, j)] = np.ones(1)
                continue
            out = np.zeros(i * j + 1)
            left = table[(i - 1, j)]
            out[j : j + left.size] += i / (i + j) * left
            right = table[(i, j - 1)]
            out[: right.size] += j / (i + j) * right
            table[(i, j)] = out
        if i > 0:
            for j in range(n + 1):
                table.pop((i - 1, j), None)
    return tuple(float(x) for x in table[(m, n)])


def _interval_rank(m: int, n: int, alpha: float) -> int:
    """c such that [d_(c), d_(mn+1-c)] of the m*n sorted pair differences is a
    ``1 - alpha`` interval (c >= 1), or 0 when no interval reaches that confidence."""
    if min(m, n) > _EXACT_LIMIT:
        mean, sd = m * n / 2, math.sqrt(m * n * (m + n + 1) / 12)
        z = float(stats.norm.ppf(1 - alpha / 2))
        return max(0, math.floor(mean - z * sd - 0.5) + 1)
    cumulative = np.cumsum(_u_distribution(m, n))
    # P(U <= c - 1) <= alpha / 2: the largest such c.
    return int(np.searchsorted(cumulative, alpha / 2 + 1e-12, side="right"))


@lru_cache(maxsize=64)
def _signed_rank_distribution(n: int) -> tuple[float, ...]:
    """P(T = t), t = 0..n(n+1)/2: the Wilcoxon signed-rank statistic of n pairs with no
    ties and no zero difference (each rank's sign a fair coin)."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for rank in range(1, n + 1):
        shifted = np.zeros_like(counts)
        shifted[rank:] = counts[:-rank]
        counts = counts + shifted
    return tuple(float(x) for x in counts / 2.0**n)


def _paired_interval_rank(n: int, alpha: float) -> int:
    """c such that [w_(c), w_(N+1-c)] of the N = n(n+1)/2 sorted Walsh averages of n
    paired differences is a ``1 - alpha`` interval (c >= 1), or 0 when no interval
    reaches that confidence (fewer than 6 pairs at 95%)."""
    if n > _EXACT_LIMIT:
        mean, sd = n * (n + 1) / 4, math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
        z = float(stats.norm.ppf(1 - alpha / 2))
        return max(0, math.floor(mean - z * sd - 0.5) + 1)
    cumulative = np.cumsum(_signed_rank_distribution(n))
    return int(np.searchsorted(cumulative, alpha / 2 + 1e-12, side="right"))


def min_pairs(alpha: float = 0.05) -> int:
    """The fewest interleaved pairs of rounds whose paired interval reaches ``1 - alpha``."""
    k = 1
    while _paired_interval_rank(k, alpha) < 1:
        k += 1
    return k


def paired_rounds(
    base: Samples, head: Samples, base_rounds: Sequence[float], head_rounds: Sequence[float]
) -> list[tuple[float, float]] | None:
    """(base, head) per-round figures of the same round index, when both sides measured
    exactly the same rounds; None otherwise (then the rounds cannot be paired)."""
    if base.rounds is None or head.rounds is None:
        return None
    indices = sorted(set(base.rounds))
    if indices != sorted(set(head.rounds)) or len(indices) != len(base_rounds):
        return None
    return list(zip(base_rounds, head_rounds, strict=True))


def _walsh_interval(log_ratios: Sequence[float], alpha: float) -> tuple[float, float, float, int]:
    """Hodges-Lehmann estimate of the paired shift (median of the Walsh averages) and
    its exact signed-rank interval, all as ratios; the last item is the interval rank
    (0: the pairs are too few for any interval)."""
    d = np.asarray(log_ratios, dtype=float)
    i, j = np.triu_indices(d.size)
    walsh = np.sort((d[i] + d[j]) / 2)
    estimate = float(np.exp(np.median(walsh)))
    c = _paired_interval_rank(d.size, alpha)
    if c < 1:
        return estimate, math.nan, math.nan, 0
    return estimate, float(np.exp(walsh[c - 1])), float(np.exp(walsh[walsh.size - c])), c


def min_rounds(alpha: float = 0.05) -> int:
    """The fewest rounds a side (equal on both sides) that can reach ``1 - alpha``."""
    k = 1
    while _interval_rank(k, k, alpha) < 1:
        k += 1
    return k


def _rank_test(base: Sequence[float], head: Sequence[float]) -> float | None:
    if len(base) < 2 or len(head) < 2:
        return None
    if len(set(base) | set(head)) == 1:
        return 1.0  # every figure equal: no evidence of any difference
    return float(stats.mannwhitneyu(head, base, alternative="two-sided").pvalue)


def _signed_rank_test(log_ratios: Sequence[float]) -> float | None:
    if len(log_ratios) < 2:
        return None
    if all(d == 0 for d in log_ratios):
        return 1.0
    return float(stats.wilcoxon(log_ratios, alternative="two-sided").pvalue)


def _spread(rounds: Sequence[float]) -> float:
    """The largest relative difference between two rounds of one side."""
    low, high = min(rounds), max(rounds)
    if low <= 0:
        return 0.0 if high == low else math.inf
    return high / low - 1


def compare_metric(
    metric: Metric,
    base: Samples | Sequence[float],
    head: Samples | Sequence[float],
    thresholds: Thresholds | None = None,
    *,
    interleaved: bool = True,
) -> MetricComparison:
    """Compare one metric of one cell.

    ``base`` and ``head`` are `Samples` (values and their rounds), or plain sequences,
    read as one value per round (per fresh process). Both need a sample.
    ``interleaved`` says whether the two sides were measured together, round by
    round; if not, a shift in the machine's load between the runs moves every metric
    as a change in the code would, so every metric's minimum effect is raised to the
    spread between processes seen within each run (as memory's always is).
    """
    thresholds = thresholds or Thresholds()
    base_s = base if isinstance(base, Samples) else Samples(tuple(map(float, base)), None)
    head_s = head if isinstance(head, Samples) else Samples(tuple(map(float, head)), None)
    if not base_s.values or not head_s.values:
        raise CompareError(f"{metric.label}: both sides need at least one sample")
    b, h = _per_round(base_s, metric.load_inflates), _per_round(head_s, metric.load_inflates)
    # Medians of the per-round figures: the same figures the ratio is made of.
    base_median, head_median = float(np.median(b)), float(np.median(h))
    rounds_text = f"{len(b)} vs {len(h)} rounds"
    p_value = _rank_test(b, h)
    p_text = "" if p_value is None else f", p={p_value:.3g}"
    judge_spread = metric.spread_floor or not interleaved
    spread = max(_spread(b), _spread(h)) if judge_spread else 0.0
    relative = thresholds.relative(metric)
    effect = thresholds.minimum_effect(metric, base_median, spread)
    best_ratio = _ratio(min(head_s.values), min(base_s.values)) if metric.load_inflates else None
    positive = min(b) > 0 and min(h) > 0
    pairs = paired_rounds(base_s, head_s, b, h) if interleaved else None
    paired = pairs is not None and len(pairs) >= max(PAIRED_FROM, min_pairs(thresholds.alpha))
    if positive and paired and pairs is not None:
        log_ratios = [math.log(y / x) for x, y in pairs]
        ratio, ci_low, ci_high, c = _walsh_interval(log_ratios, thresholds.alpha)
        p_value = _signed_rank_test(log_ratios)
        p_text = "" if p_value is None else f", p={p_value:.3g}"
        rounds_text = f"{len(pairs)} paired rounds"
    elif positive:
        diffs = np.sort(np.subtract.outer(np.log(h), np.log(b)).ravel())
        ratio = float(np.exp(np.median(diffs)))
        c = _interval_rank(len(b), len(h), thresholds.alpha)
        if c >= 1:
            ci_low, ci_high = float(np.exp(diffs[c - 1])), float(np.exp(diffs[diffs.size - c]))
        else:
            ci_low = ci_high = math.nan
    else:
        ratio = _ratio(float(np.median(h)), float(np.median(b)))
        c = 0
        ci_low = ci_high = math.nan

    def result(verdict: Verdict, reason: str) -> MetricComparison:
        return MetricComparison(
            metric=metric.name,
            base_samples=base_s.values,
            head_samples=head_s.values,
            base_median=base_median,
            head_median=head_median,
            ratio=ratio,
            ci_low=ci_low,
            ci_high=ci_high,
            p_value=p_value,
            best_ratio=best_ratio,
            minimum_effect=effect,
            verdict=verdict,
            reason=reason,
            base_rounds=tuple(b),
            head_rounds=tuple(h),
            spread=spread,
            paired=paired and positive,
        )

    if not positive:
        if all(x == 0 for x in (*b, *h)):
            return result(Verdict.UNCHANGED, f"zero on both sides ({rounds_text})")
        return result(
            Verdict.INCONCLUSIVE, f"a side measured zero: no ratio to judge ({rounds_text})"
        )
    if c < 1:
        k = min(len(b), len(h))
        need = min_rounds(thresholds.alpha)
        return result(
            Verdict.INCONCLUSIVE,
            f"inconclusive ({k} round{'s' if k != 1 else ''} per side): {rounds_text} cannot "
            f"reach {thresholds.confidence:.0%} confidence; a verdict needs at least {need} "
            f"rounds (fresh processes) per side: rerun with --rounds {need + 1}",
        )
    interval = f"interval {ci_low:.3g}-{ci_high:.3g}"
    worse, better = ci_low > 1 + effect, ci_high < 1 - effect
    if worse or better:
        disturbed = best_ratio is not None and (
            best_ratio <= 1 + effect if worse else best_ratio >= 1 - effect
        )
        if disturbed:
            return result(
                Verdict.INCONCLUSIVE,
                f"{_pct(ratio)} by the rounds but {_pct(best_ratio or 1.0)} by the fastest "
                f"runs ({rounds_text}{p_text}): likely disturbed by other load; rerun on a "
                "quieter machine or with more --rounds",
            )
        verdict = Verdict.REGRESSED if worse else Verdict.IMPROVED
        return result(
            verdict,
            f"{_pct(ratio)}, {interval} wholly beyond the {effect:.1%} minimum effect "
            f"({rounds_text}{p_text})",
        )
    outside_relative = ci_low > 1 + relative or ci_high < 1 - relative
    if 1 - effect <= ci_low and ci_high <= 1 + effect and not outside_relative:
        return result(
            Verdict.UNCHANGED,
            f"{interval} within the {effect:.1%} minimum effect ({rounds_text})",
        )
    if outside_relative:
        return result(
            Verdict.INCONCLUSIVE,
            f"{_pct(ratio)}, {interval} beyond the {relative:.1%} threshold but within the "
            f"{effect:.1%} minimum effect of this cell (its processes differ by up to "
            f"{spread:.1%} among themselves; {rounds_text}); rerun with more --rounds",
        )
    return result(
        Verdict.INCONCLUSIVE,
        f"{_pct(ratio)}, {interval} reaches past the {effect:.1%} minimum effect "
        f"({rounds_text}{p_text}); rerun with more --rounds, or on a quieter machine",
    )


def _pct(ratio: float) -> str:
    if not math.isfinite(ratio):
        return "from zero"
    change = ratio - 1
    return f"{abs(change):.1%} {'worse' if change > 0 else 'better'}"


# --------------------------------------------------------------------------- whole runs


_SEVERITY: Final = {
    Verdict.UNCHANGED: 0,
    Verdict.INCONCLUSIVE: 1,
    Verdict.IMPROVED: 2,
    Verdict.REGRESSED: 3,
}


def _compare_cell(
    base: Cell,
    head: Cell,
    thresholds: Thresholds,
    metrics: Sequence[Metric],
    interleaved: bool,
) -> CellComparison:
    if head.error and not base.error:
        return CellComparison(
            *base.key, metrics=(), verdict=Verdict.REGRESSED, failure=f"head: {head.error}"
        )
    compared = tuple(
        compare_metric(metric, b, h, thresholds, interleaved=interleaved)
        for metric in metrics
        if (b := metric.samples(base)) is not None and (h := metric.samples(head)) is not None
    )
    failure = (
        "; ".join(
            f"{side}: {cell.error}" for side, cell in (("base", base), ("head", head)) if cell.error
        )
        or None
    )
    if not compared:
        return CellComparison(
            *base.key,
            metrics=(),
            verdict=Verdict.INCONCLUSIVE,
            failure=failure or "no metric was measured on both sides",
        )
    differ = _differing_params(base, head)
    if differ:
        # Not the same workload: whatever moved, the code is not what is being judged.
        why = (
            f"not judged: the two sides measured different workloads ({differ}); "
            "measure both with the same -p"
        )
        compared = tuple(replace(m, verdict=Verdict.INCONCLUSIVE, reason=why) for m in compared)
    verdict = max((m.verdict for m in compared), key=_SEVERITY.__getitem__)
    if head.error and verdict in (Verdict.UNCHANGED, Verdict.IMPROVED):
        # Failed in both: not a new failure, but what head measured before it failed
        # is a part of the cell, so it shows neither an improvement nor "unchanged".
        verdict = Verdict.INCONCLUSIVE
    return CellComparison(*base.key, metrics=compared, verdict=verdict, failure=failure)


def measured_together(base: RunResults, head: RunResults) -> bool:
    """Whether two results are two sides of one interleaved run (``run_plan`` with
    several sides, as ``compare --ref`` makes): round r of each ran side by side."""
    return bool(
        base.side
        and head.side
        and base.side != head.side
        and base.started_at
        and base.started_at == head.started_at
    )


def _measured(run: RunResults) -> dict[str, Metric]:
    """The metrics a run measured in at least one cell."""
    return {m.name: m for m in METRICS if any(m.samples(c) is not None for c in run.cells)}


def _check_rounds_recorded(run: RunResults, label: str) -> None:
    """Refuse a run whose samples carry no round index: its repeats cannot be told from
    its processes, so no honest verdict can be made from it."""
    for cell in run.cells:
        for metric in METRICS:
            found = metric.samples(cell)
            if found is not None and found.rounds is None:
                schema = (
                    f"results schema {run.schema_version}"
                    if run.schema_version != SCHEMA_VERSION
                    else "the file"
                )
                raise CompareError(
                    f"{label}: {schema} does not record which round (worker process) each "
                    f"sample came from ({metric.label} of {'/'.join(map(str, cell.key))}), "
                    "and verdicts are built on rounds. Measure it again with this "
                    "eventbench (`eventbench run --rounds N`), or use `eventbench compare "
                    "--ref REF` to measure both sides now"
                )


def _round_messages(
    cells: Sequence[CellComparison], base_label: str, head_label: str, alpha: float
) -> list[str]:
    need = min_rounds(alpha)
    out = []
    for index, label in ((0, base_label), (1, head_label)):
        short = [
            (c, len(m.head_rounds if index else m.base_rounds))
            for c in cells
            for m in c.metrics
            if len(m.head_rounds if index else m.base_rounds) < need
        ]
        if short:
            fewest = min(k for _, k in short)
            cell_count = len({c.key for c, _ in short})
            out.append(
                f"{label}: {fewest} round{'s' if fewest != 1 else ''} (fresh worker "
                f"processes) in {cell_count} cell{'s' if cell_count != 1 else ''}; a "
                f"verdict needs at least {need} rounds per side, so those metrics are "
                f"inconclusive. Measure with --rounds {need + 1} (`eventbench run` or "
                "`eventbench compare --ref`)."
            )
    return out


def _environment_warnings(base: RunResults, head: RunResults) -> list[str]:
    b, h = base.environment, head.environment
    out: list[str] = []
    machine_fields = ("hostname", "cpu_model", "cpu_count", "memory_bytes", "machine", "platform")
    differing = [f for f in machine_fields if getattr(b, f) != getattr(h, f)]
    if differing:
        details = ", ".join(f"{f} {getattr(b, f)!r} vs {getattr(h, f)!r}" for f in differing)
        out.append(
            f"the runs come from different machines ({details}); ratios mix the change with "
            "the machine. Compare runs made on one machine, e.g. with `eventbench compare --ref`."
        )
    if b.python != h.python:
        out.append(f"different Python versions: {b.python} vs {h.python}")
    for kind, bmap, hmap in (("package", b.packages, h.packages), ("server", b.servers, h.servers)):
        for name in sorted(set(bmap) | set(hmap)):
            bv, hv = bmap.get(name, "absent"), hmap.get(name, "absent")
            # eventbench itself is what changed between a base and a head run.
            if bv != hv and name != "eventbench":
                out.append(f"different {kind} versions: {name} {bv} vs {hv}")
    for backend, name, bv, hv in _setting_differences(base, head):
        out.append(
            f"{backend} setting {name} differs: {bv} vs {hv}; figures that depend on it "
            "are not comparable"
        )
    for label, run in (("base", base), ("head", head)):
        if run.interrupted:
            out.append(f"the {label} run was interrupted; some cells are missing from it")
    return out


def _setting_differences(base: RunResults, head: RunResults) -> list[tuple[str, str, str, str]]:
    """(backend, setting, base value, head value) for each setting the stores reported
    differently on the two sides (values a side's cells disagree on are joined)."""

    def settings(run: RunResults) -> dict[tuple[str, str], str]:
        seen: dict[tuple[str, str], list[str]] = {}
        for cell in run.cells:
            for name, value in cell.settings.items():
                values = seen.setdefault((cell.backend, name), [])
                if value not in values:
                    values.append(value)
        return {key: " / ".join(values) for key, values in seen.items()}

    b, h = settings(base), settings(head)
    backends = {c.backend for c in base.cells} & {c.backend for c in head.cells}
    out = []
    for key in sorted(set(b) | set(h)):
        if key[0] not in backends or (key not in b and key not in h):
            continue
        bv, hv = b.get(key, "not reported"), h.get(key, "not reported")
        # A side that reports no settings at all (an older eventbench) is not a difference.
        if bv != hv and any(k[0] == key[0] for k in b) and any(k[0] == key[0] for k in h):
            out.append((key[0], key[1], bv, hv))
    return out


def _differing_params(base: Cell, head: Cell) -> str:
    """The parameters both sides name with different values ("payload_bytes: 250 vs
    1024"); "" when none. A parameter only one side names (a scenario gained it with a
    default) is only warned about: its default may be what the other side did."""
    shared = sorted(set(base.params) & set(head.params))
    return ", ".join(
        f"{k}: {base.params[k]!r} vs {head.params[k]!r}"
        for k in shared
        if base.params[k] != head.params[k]
    )


def _param_warnings(pairs: list[tuple[Cell, Cell]]) -> list[str]:
    out = []
    for b, h in pairs:
        if b.params != h.params:
            keys = sorted(
                k for k in set(b.params) | set(h.params) if b.params.get(k) != h.params.get(k)
            )
            out.append(
                f"{'/'.join(map(str, b.key))}: parameters differ ({', '.join(keys)}); "
                "the two sides did not measure the same workload"
            )
    return out


def _geometric_mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v) and v > 0]
    if not finite:
        return math.nan
    return float(math.exp(sum(math.log(v) for v in finite) / len(finite)))


def _groups(cells: Sequence[CellComparison]) -> tuple[list[GroupSummary], dict[str, float]]:
    ratios: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    counts: dict[tuple[str, str, str], dict[str, int]] = defaultdict(
        lambda: {v.value: 0 for v in Verdict}
    )
    overall: dict[str, list[float]] = defaultdict(list)
    for cell in cells:
        for m in cell.metrics:
            key = (cell.scenario, cell.backend, m.metric)
            ratios[key].append(m.ratio)
            counts[key][m.verdict.value] += 1
            overall[m.metric].append(m.ratio)
    groups = [
        GroupSummary(s, b, metric, _geometric_mean(r), len(r), counts[(s, b, metric)])
        for (s, b, metric), r in sorted(ratios.items())
    ]
    order = {m.name: i for i, m in enumerate(METRICS)}
    groups.sort(key=lambda g: (g.scenario, g.backend, order.get(g.metric, 99)))
    return groups, {m: _geometric_mean(r) for m, r in overall.items()}


def compare_results(
    base: RunResults,
    head: RunResults,
    thresholds: Thresholds | None = None,
    *,
    base_label: str = "base",
    head_label: str = "head",
) -> Comparison:
    """Compare every cell the two runs share.

    Raises `CompareError` (naming the run by its label) when they share no cell or no
    metric, or when a run does not record rounds (an older results schema).
    """
    thresholds = thresholds or Thresholds()
    _check_rounds_recorded(base, base_label)
    _check_rounds_recorded(head, head_label)
    base_cells = {c.key: c for c in base.cells}
    head_cells = {c.key: c for c in head.cells}
    shared = [k for k in base_cells if k in head_cells]
    if not shared:
        raise CompareError(
            f"{base_label} and {head_label} share no cell (scenario, backend, mode and size); "
            "run the same scenarios, backends and --sizes for both sides"
        )
    base_metrics, head_metrics = _measured(base), _measured(head)
    metrics = [m for m in METRICS if m.name in base_metrics and m.name in head_metrics]
    missing = [
        f"{lacking}: no {m.label} (measured in {having}); it is not judged. Measure both "
        "sides with the same options (e.g. the same --memory-repeats)"
        for m in METRICS
        for having, lacking, have, lack in (
            (base_label, head_label, base_metrics, head_metrics),
            (head_label, base_label, head_metrics, base_metrics),
        )
        if m.name in have and m.name not in lack
    ]
    if not metrics and (base_metrics or head_metrics):
        raise CompareError(
            f"{base_label} and {head_label} measured no metric in common: " + "; ".join(missing)
        )
    pairs = [(base_cells[k], head_cells[k]) for k in shared]
    interleaved = measured_together(base, head)
    cells = sorted(
        (_compare_cell(b, h, thresholds, metrics, interleaved) for b, h in pairs),
        key=lambda c: c.key,
    )
    apart = (
        []
        if interleaved
        else [
            f"{base_label} and {head_label} come from separate runs, not measured "
            "together round by round: a change in the machine's load between them moves "
            "time as a code change would, so every metric is judged against the spread "
            "between processes within each run. For a sharper verdict on time, measure "
            "both sides together with `eventbench compare --ref`."
        ]
    )
    groups, overall = _groups(cells)
    return Comparison(
        base_label=base_label,
        head_label=head_label,
        base=base.environment,
        head=head.environment,
        thresholds=thresholds,
        cells=tuple(cells),
        groups=tuple(groups),
        only_in_base=tuple(sorted(k for k in base_cells if k not in head_cells)),
        only_in_head=tuple(sorted(k for k in head_cells if k not in base_cells)),
        warnings=tuple(_environment_warnings(base, head) + _param_warnings(pairs) + apart),
        overall=overall,
        interleaved=interleaved,
        too_few_rounds=tuple(_round_messages(cells, base_label, head_label, thresholds.alpha)),
        missing_metrics=tuple(missing),
    )


_BYTE_UNITS: Final = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
}


def parse_bytes(text: str) -> int:
    """Parse "256KiB", "1.5 MiB", "300kB" or "4096" into bytes."""
    cleaned = text.strip().lower().replace(" ", "")
    number = cleaned.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = cleaned[len(number) :]
    if unit not in _BYTE_UNITS or not number:
        raise ValueError(
            f"{text!r} is not a size; write e.g. 256KiB, 1MiB, 500kB or a number of bytes"
        )
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"{text!r} is not a size; write e.g. 256KiB or 1MiB") from None
    if value < 0 or not math.isfinite(value):
        raise ValueError(f"{text!r}: a size must be zero or more")
    return round(value * _BYTE_UNITS[unit])
