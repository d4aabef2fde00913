"""Before/after statistics: did HEAD make a cell faster or leaner than BASE, or worse?

For each cell both runs measured (matched on scenario, backend, mode and size) and
each metric (total time, time to first event, peak memory), `compare_results` gives:

* the ratio of medians head/base (below 1 is better: every metric is a cost);
* a percentile bootstrap confidence interval of that ratio;
* a two-sided Mann-Whitney U rank test of "the two sets of samples differ";
* a verdict against a *minimum effect*: a change smaller than that is not worth
  reporting however certain it is (10% for time; 2% *and* 256 KiB for memory, so that
  small absolute wobbles in small peaks are not news).

The verdict of one metric of one cell, in order:

``regressed`` / ``improved``
    The ratio and its whole confidence interval lie beyond the minimum effect, and
    the evidence holds: the rank test rejects at ``alpha``, or every head sample lies
    beyond every base sample by more than the minimum effect (memory is
    near-deterministic, so this needs one sample a side; time needs three). For time,
    the fastest runs must have moved beyond the minimum effect too: load from other
    processes only adds time, in bursts, so a change seen only in the slower runs is
    called ``inconclusive`` rather than blamed on the code.
``unchanged``
    The ratio is within the minimum effect and so is the whole confidence interval:
    any change there is too small to matter.
``inconclusive``
    Anything else: too few samples, or too much noise to tell. Never a gate failure,
    but the reason says what would settle it.

A cell that failed in HEAD but not in BASE counts as a regression (a new failure is
the worst kind of slow-down); cells only one run measured are listed, not judged.

Everything here is a pure function of two `RunResults`; rendering lives in
`harness.report.comparison`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import numpy as np
from scipy import stats

from harness.results import Cell, Environment, RunResults

__all__ = [
    "DEFAULT_INSTRUCTIONS_THRESHOLD",
    "DEFAULT_MEMORY_FLOOR_BYTES",
    "DEFAULT_MEMORY_THRESHOLD",
    "DEFAULT_TIME_THRESHOLD",
    "METRICS",
    "CellComparison",
    "Comparison",
    "CompareError",
    "GroupSummary",
    "Metric",
    "MetricComparison",
    "Thresholds",
    "Verdict",
    "compare_metric",
    "compare_results",
    "parse_bytes",
]

DEFAULT_TIME_THRESHOLD: Final = 0.10
DEFAULT_INSTRUCTIONS_THRESHOLD: Final = 0.01
"""Instruction counts repeat to about 0.0001% between processes: 1% is a real change."""
DEFAULT_MEMORY_THRESHOLD: Final = 0.02
DEFAULT_MEMORY_FLOOR_BYTES: Final = 256 * 1024


class CompareError(ValueError):
    """Two runs cannot be compared (for example they share no cell)."""


class Verdict(StrEnum):
    IMPROVED = "improved"
    REGRESSED = "regressed"
    UNCHANGED = "unchanged"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Metric:
    """A cost measured per cell: lower is better."""

    name: str
    """Key in the comparison documents: "total_s", "first_event_s", "peak_bytes"."""
    label: str
    kind: str
    """"time", "memory", "instructions" or "count": which minimum effect applies."""
    unit: str
    """"s", "B" or "" (a count)."""


METRICS: Final = (
    Metric("total_s", "total time", "time", "s"),
    Metric("first_event_s", "time to first event", "time", "s"),
    Metric("peak_bytes", "peak memory", "memory", "B"),
    Metric("cold_first_event_s", "time to first event (cold)", "time", "s"),
    Metric("cold_peak_bytes", "peak memory (cold)", "memory", "B"),
    Metric("instructions", "instructions", "instructions", ""),
    Metric("allocations", "allocations", "count", ""),
    Metric("allocated_bytes", "bytes allocated", "count", "B"),
)

# Clean separation is evidence enough only with this many samples a side: memory
# peaks, instruction and allocation counts barely move between identical runs,
# timings on a shared machine do.
_SEPARATION_MIN_SAMPLES: Final = {"time": 3, "memory": 1, "instructions": 1, "count": 1}


@dataclass(frozen=True)
class Thresholds:
    """What counts as a change worth reporting, and how sure to be about it."""

    time: float = DEFAULT_TIME_THRESHOLD
    """Minimum relative change of a time metric (0.10 = 10%)."""
    memory: float = DEFAULT_MEMORY_THRESHOLD
    """Minimum relative change of a memory metric..."""
    memory_floor_bytes: int = DEFAULT_MEMORY_FLOOR_BYTES
    """...which must also be at least this many bytes."""
    instructions: float = DEFAULT_INSTRUCTIONS_THRESHOLD
    """Minimum relative change of an instruction count. Allocation counts and bytes
    allocated (kind "count") use the memory threshold, without the floor."""
    alpha: float = 0.05
    """Significance level of the rank test."""
    confidence: float = 0.95
    """Confidence level of the bootstrap interval."""
    resamples: int = 2000
    seed: int = 20240601
    """The bootstrap is seeded so the same two files always give the same report."""

    def __post_init__(self) -> None:
        for name in ("time", "memory", "instructions"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ValueError(
                    f"{name} threshold {value!r} must be a fraction between 0 and 1 "
                    "(0.10 means 10%)"
                )
        if self.memory_floor_bytes < 0:
            raise ValueError("the memory floor must be zero or more bytes")
        if not 0 < self.alpha < 1 or not 0 < self.confidence < 1:
            raise ValueError("alpha and confidence must be between 0 and 1")
        if self.resamples < 100:
            raise ValueError("use at least 100 bootstrap resamples")

    def minimum_effect(self, metric: Metric, base_median: float) -> float:
        """The smallest relative change that matters for this metric at this size."""
        if metric.kind == "time":
            return self.time
        if metric.kind == "instructions":
            return self.instructions
        if metric.kind == "count" or base_median <= 0:
            return self.memory
        return max(self.memory, self.memory_floor_bytes / base_median)


@dataclass(frozen=True)
class MetricComparison:
    """One metric of one cell, base vs head."""

    metric: str
    base_samples: tuple[float, ...]
    head_samples: tuple[float, ...]
    base_median: float
    head_median: float
    ratio: float
    """head/base medians; below 1 is better."""
    ci_low: float
    ci_high: float
    p_value: float | None
    """Two-sided Mann-Whitney U; None when a side has fewer than two samples."""
    best_ratio: float | None
    """head/base of the fastest runs (time metrics only): interference cannot speed a run
    up, so a real change moves these too."""
    minimum_effect: float
    """Relative change below which the difference is not worth reporting."""
    verdict: Verdict
    reason: str


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

    @property
    def regressions(self) -> list[CellComparison]:
        return [c for c in self.cells if c.verdict is Verdict.REGRESSED]

    @property
    def improvements(self) -> list[CellComparison]:
        return [c for c in self.cells if c.verdict is Verdict.IMPROVED]

    @property
    def has_regression(self) -> bool:
        return bool(self.regressions)

    def counts(self) -> dict[str, int]:
        out = {v.value: 0 for v in Verdict}
        for cell in self.cells:
            out[cell.verdict.value] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        """A plain-data document (for the JSON comparison report)."""
        return {
            "kind": "eventbench.comparison",
            "version": 1,
            "base": {"label": self.base_label, "environment": _env_json(self.base)},
            "head": {"label": self.head_label, "environment": _env_json(self.head)},
            "thresholds": {
                "time": self.thresholds.time,
                "memory": self.thresholds.memory,
                "memory_floor_bytes": self.thresholds.memory_floor_bytes,
                "instructions": self.thresholds.instructions,
                "alpha": self.thresholds.alpha,
                "confidence": self.thresholds.confidence,
                "resamples": self.thresholds.resamples,
            },
            "has_regression": self.has_regression,
            "counts": self.counts(),
            "overall_geometric_mean": self.overall,
            "warnings": list(self.warnings),
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
                            "verdict": m.verdict.value,
                            "reason": m.reason,
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


def _bootstrap_ratio_ci(
    base: np.ndarray[Any, np.dtype[np.float64]],
    head: np.ndarray[Any, np.dtype[np.float64]],
    thresholds: Thresholds,
) -> tuple[float, float]:
    """Percentile bootstrap interval of median(head)/median(base), resampling each side."""
    rng = np.random.default_rng(thresholds.seed)
    n = thresholds.resamples
    base_medians = np.median(rng.choice(base, size=(n, base.size), replace=True), axis=1)
    head_medians = np.median(rng.choice(head, size=(n, head.size), replace=True), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(
            base_medians == 0,
            np.where(head_medians == 0, 1.0, np.inf),
            head_medians / np.where(base_medians == 0, 1.0, base_medians),
        )
    tail = (1 - thresholds.confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return float(low), float(high)


def _rank_test(base: Sequence[float], head: Sequence[float]) -> float | None:
    if len(base) < 2 or len(head) < 2:
        return None
    if len(set(base) | set(head)) == 1:
        return 1.0  # every sample equal: no evidence of any difference
    result = stats.mannwhitneyu(head, base, alternative="two-sided")
    return float(result.pvalue)


def _separated(base: Sequence[float], head: Sequence[float], effect: float, worse: bool) -> bool:
    """Whether every head sample lies beyond every base sample by more than ``effect``."""
    if worse:
        return _ratio(min(head), max(base)) > 1 + effect
    return _ratio(max(head), min(base)) < 1 - effect


def compare_metric(
    metric: Metric,
    base: Sequence[float],
    head: Sequence[float],
    thresholds: Thresholds | None = None,
) -> MetricComparison:
    """Compare one metric's samples (both sides must have at least one sample)."""
    thresholds = thresholds or Thresholds()
    if not base or not head:
        raise CompareError(f"{metric.label}: both sides need at least one sample")
    base_arr = np.asarray(base, dtype=np.float64)
    head_arr = np.asarray(head, dtype=np.float64)
    base_median = float(np.median(base_arr))
    head_median = float(np.median(head_arr))
    ratio = _ratio(head_median, base_median)
    ci_low, ci_high = _bootstrap_ratio_ci(base_arr, head_arr, thresholds)
    p_value = _rank_test(base, head)
    effect = thresholds.minimum_effect(metric, base_median)
    n = f"n={len(base)} vs {len(head)}"
    p_text = "no rank test" if p_value is None else f"p={p_value:.3g}"
    need = _SEPARATION_MIN_SAMPLES[metric.kind]

    best_ratio = _ratio(min(head), min(base)) if metric.kind == "time" else None
    worse = ratio > 1 + effect
    better = ratio < 1 - effect
    if worse or better:
        significant = p_value is not None and p_value < thresholds.alpha
        separated = min(len(base), len(head)) >= need and _separated(
            base, head, effect, worse=worse
        )
        # The whole interval must lie beyond the minimum effect, just as "unchanged"
        # needs it wholly within: in between, the data cannot tell.
        beyond = ci_low > 1 + effect if worse else ci_high < 1 - effect
        # Interference from other load only ever adds time, and it comes in bursts that
        # slow every run of one worker process. A change in the code moves the fastest
        # runs too; if they did not move, the slower ones were most likely disturbed.
        disturbed = best_ratio is not None and (
            best_ratio <= 1 + effect if worse else best_ratio >= 1 - effect
        )
        if not (significant or separated):
            verdict = Verdict.INCONCLUSIVE
            reason = (
                f"{_pct(ratio)} but not significant ({p_text}, {n}); "
                "rerun with more --repeats to settle it"
            )
        elif disturbed:
            verdict = Verdict.INCONCLUSIVE
            reason = (
                f"{_pct(ratio)} by the medians but {_pct(best_ratio or 1.0)} by the "
                f"fastest runs ({p_text}, {n}): likely disturbed by other load; rerun on a "
                "quieter machine or with more --rounds"
            )
        elif not beyond:
            verdict = Verdict.INCONCLUSIVE
            reason = (
                f"{_pct(ratio)} ({p_text}, {n}), but the interval {ci_low:.3g}-{ci_high:.3g} "
                f"reaches inside the {effect:.1%} minimum effect; rerun with more --repeats "
                "or --rounds, or on a quieter machine"
            )
        else:
            verdict = Verdict.REGRESSED if worse else Verdict.IMPROVED
            why = f"{p_text}" if significant else "every sample beyond the other side's"
            reason = f"{_pct(ratio)} beyond the {effect:.1%} minimum effect ({why}, {n})"
    elif 1 - effect <= ci_low and ci_high <= 1 + effect:
        verdict = Verdict.UNCHANGED
        reason = f"within the {effect:.1%} minimum effect ({n})"
    else:
        verdict = Verdict.INCONCLUSIVE
        reason = (
            f"interval {ci_low:.3g}-{ci_high:.3g} reaches past the {effect:.1%} minimum "
            f"effect ({n}); rerun with more --repeats, or on a quieter machine"
        )
    return MetricComparison(
        metric=metric.name,
        base_samples=tuple(float(x) for x in base),
        head_samples=tuple(float(x) for x in head),
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
    )


def _pct(ratio: float) -> str:
    if not math.isfinite(ratio):
        return "from zero"
    change = ratio - 1
    return f"{abs(change):.1%} {'worse' if change > 0 else 'better'}"


# --------------------------------------------------------------------------- whole runs


def _samples(cell: Cell, metric: Metric) -> list[float]:
    m, i, c = cell.memory, cell.instructions, cell.cold
    found: dict[str, object] = {
        "peak_bytes": m.peak_bytes if m else None,
        "allocations": m.allocations if m else None,
        "allocated_bytes": m.allocated_bytes if m else None,
        "instructions": i.per_run if i else None,
        "cold_first_event_s": c.first_event_s if c else None,
        "cold_peak_bytes": c.peak_bytes if c else None,
    }
    if cell.time is not None:
        found["total_s"] = cell.time.total_s
        found["first_event_s"] = cell.time.first_event_s
    values = found.get(metric.name)
    return [float(x) for x in values] if isinstance(values, list) else []


_SEVERITY: Final = {
    Verdict.UNCHANGED: 0,
    Verdict.INCONCLUSIVE: 1,
    Verdict.IMPROVED: 2,
    Verdict.REGRESSED: 3,
}


def _compare_cell(base: Cell, head: Cell, thresholds: Thresholds) -> CellComparison:
    if head.error and not base.error:
        return CellComparison(
            *base.key, metrics=(), verdict=Verdict.REGRESSED, failure=f"head: {head.error}"
        )
    metrics = tuple(
        compare_metric(metric, b, h, thresholds)
        for metric in METRICS
        if (b := _samples(base, metric)) and (h := _samples(head, metric))
    )
    failure = f"base: {base.error}" if base.error else None
    if not metrics:
        return CellComparison(
            *base.key,
            metrics=(),
            verdict=Verdict.INCONCLUSIVE,
            failure=failure or "no metric was measured on both sides",
        )
    verdict = max((m.verdict for m in metrics), key=_SEVERITY.__getitem__)
    return CellComparison(*base.key, metrics=metrics, verdict=verdict, failure=failure)


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
    """Compare every cell the two runs share; raise `CompareError` when they share none."""
    thresholds = thresholds or Thresholds()
    base_cells = {c.key: c for c in base.cells}
    head_cells = {c.key: c for c in head.cells}
    shared = [k for k in base_cells if k in head_cells]
    if not shared:
        raise CompareError(
            "the two runs share no cell (scenario, backend, mode and size); run the same "
            "scenarios, backends and --sizes for both sides"
        )
    pairs = [(base_cells[k], head_cells[k]) for k in shared]
    cells = sorted(
        (_compare_cell(b, h, thresholds) for b, h in pairs),
        key=lambda c: c.key,
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
        warnings=tuple(_environment_warnings(base, head) + _param_warnings(pairs)),
        overall=overall,
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
