"""What a run found, as numbers: per-cell medians, collected-vs-streamed ratios, the headline.

Every renderer (Markdown, HTML, JSON) reads the same `RunSummary`, so they cannot
disagree. It is computed from a `RunResults` alone.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from harness import stats
from harness.report.format import (
    backend_name,
    fmt_bytes,
    fmt_rate,
    fmt_ratio,
    fmt_seconds,
    fmt_size,
)
from harness.results import Cell, Fit, RunResults

__all__ = [
    "AppendFinding",
    "CellSummary",
    "ModePair",
    "RunSummary",
    "append_series",
    "mode_pair",
    "summarize",
]


@dataclass(frozen=True)
class CellSummary:
    """One cell's medians (None where not measured), from `harness.stats.summarize`."""

    scenario: str
    backend: str
    mode: str
    size: int
    total_s: float | None
    total_s_min: float | None
    total_s_max: float | None
    first_event_s: float | None
    events_per_s: float | None
    latency_p50_s: float | None
    latency_p99_s: float | None
    peak_bytes: float | None
    peak_bytes_min: float | None
    peak_bytes_max: float | None
    allocations: float | None
    allocated_bytes: float | None
    stall_max_s: float | None
    """Median over runs of the longest event-loop stall of a run."""
    stall_p99_s: float | None
    instructions: float | None
    """CPU instructions of one run (client process only), where counted."""
    instructions_per_event: float | None
    cold_total_s: float | None
    """The cold run (first read after the store opened): every figure without cold_ is warm."""
    cold_first_event_s: float | None
    cold_stall_max_s: float | None
    cold_peak_bytes: float | None
    settings: dict[str, str]
    time_runs: int
    memory_runs: int
    counters: dict[str, float]
    """Medians of the scenario's own per-run counters (e.g. retries under contention)."""
    error: str | None

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.scenario, self.backend, self.mode, self.size)


_STANDARD_FIGURES = frozenset(
    {
        "total_s",
        "total_s_q1",
        "total_s_q3",
        "total_s_min",
        "repeats",
        "first_event_s",
        "events_per_s",
        "latency_p50_s",
        "latency_p99_s",
        "peak_bytes",
        "allocations",
        "allocated_bytes",
        "stall_max_s",
        "stall_p99_s",
        "instructions",
        "instructions_per_event",
        "cold_total_s",
        "cold_first_event_s",
        "cold_stall_max_s",
        "cold_peak_bytes",
    }
)


def summarize_cell(cell: Cell) -> CellSummary:
    # Recomputed from the samples, not read from ``cell.summary``: the samples are the
    # record, and a report made years later must not trust a stale derived figure.
    figures = stats.summarize(cell)
    t, m = cell.time, cell.memory
    peaks = [float(x) for x in m.peak_bytes] if m else []
    counter_names = set((t.counters or {}) if t else {})
    return CellSummary(
        scenario=cell.scenario,
        backend=cell.backend,
        mode=cell.mode,
        size=cell.size,
        total_s=figures.get("total_s"),
        total_s_min=min(t.total_s) if t and t.total_s else None,
        total_s_max=max(t.total_s) if t and t.total_s else None,
        first_event_s=figures.get("first_event_s"),
        events_per_s=figures.get("events_per_s"),
        latency_p50_s=figures.get("latency_p50_s"),
        latency_p99_s=figures.get("latency_p99_s"),
        peak_bytes=figures.get("peak_bytes"),
        peak_bytes_min=min(peaks) if peaks else None,
        peak_bytes_max=max(peaks) if peaks else None,
        allocations=figures.get("allocations"),
        allocated_bytes=figures.get("allocated_bytes"),
        stall_max_s=figures.get("stall_max_s"),
        stall_p99_s=figures.get("stall_p99_s"),
        instructions=figures.get("instructions"),
        instructions_per_event=figures.get("instructions_per_event"),
        cold_total_s=figures.get("cold_total_s"),
        cold_first_event_s=figures.get("cold_first_event_s"),
        cold_stall_max_s=figures.get("cold_stall_max_s"),
        cold_peak_bytes=figures.get("cold_peak_bytes"),
        settings=dict(cell.settings),
        time_runs=len(t.total_s) if t else 0,
        memory_runs=len(peaks),
        counters={
            k: v for k, v in figures.items() if k in counter_names and k not in _STANDARD_FIGURES
        },
        error=cell.error,
    )


def mode_pair(modes: Sequence[str]) -> tuple[str, str] | None:
    """The (collected, streamed) modes of a scenario, if it has exactly one of each.

    Matched by name ("collected"/"streamed", "collect-then-fold"/"fold-while-streaming"),
    so a new scenario gets the comparison by naming its modes plainly.
    """
    collected = [m for m in modes if "collect" in m.lower()]
    streamed = [m for m in modes if "stream" in m.lower() and m not in collected]
    if len(collected) == 1 and len(streamed) == 1:
        return collected[0], streamed[0]
    return None


@dataclass(frozen=True)
class ModePair:
    """Streamed against collected, for one scenario, backend and size.

    Ratios are oriented so that a number above 1 favours streaming for memory
    (``memory_saving``: collected/streamed peak) and reads as "x the time" for time
    (``time_ratio``: streamed/collected total); ``first_event_speedup`` is how many
    times sooner streaming holds its first event (collected/streamed).
    """

    scenario: str
    backend: str
    size: int
    collected: str
    streamed: str
    memory_saving: float | None
    time_ratio: float | None
    first_event_speedup: float | None
    collected_peak: float | None
    streamed_peak: float | None
    collected_total: float | None
    streamed_total: float | None
    collected_first: float | None
    streamed_first: float | None
    collected_stall: float | None = None
    """Median longest event-loop stall of a run (warm)."""
    streamed_stall: float | None = None
    collected_cold_peak: float | None = None
    streamed_cold_peak: float | None = None
    collected_cold_first: float | None = None
    streamed_cold_first: float | None = None

    def sentence(self) -> str:
        """The finding in words (plain text), e.g. "read-stream, 1M events on PostgreSQL:
        streamed uses 43x less memory than collected (...), takes 1.04x its time (...)".

        Figures are warm (after warm-up); the cold first read's follow in brackets."""
        parts = []
        if self.memory_saving is not None and self.memory_saving > 0:
            much = "less" if self.memory_saving >= 1 else "more"
            factor = self.memory_saving if self.memory_saving >= 1 else 1 / self.memory_saving
            cold = _cold_pair(fmt_bytes, self.streamed_cold_peak, self.collected_cold_peak)
            parts.append(
                f"uses {fmt_ratio(factor)} {much} memory than {self.collected} "
                f"(warm: {fmt_bytes(self.streamed_peak)} vs {fmt_bytes(self.collected_peak)}"
                f"{cold})"
            )
        if self.time_ratio is not None:
            whose = "its time" if parts else f"the time of {self.collected}"
            parts.append(
                f"takes {fmt_ratio(self.time_ratio)} {whose} "
                f"({fmt_seconds(self.streamed_total)} vs {fmt_seconds(self.collected_total)})"
            )
        if self.streamed_first is not None and self.collected_first is not None:
            cold = _cold_pair(fmt_seconds, self.streamed_cold_first, self.collected_cold_first)
            parts.append(
                f"holds its first event after {fmt_seconds(self.streamed_first)} "
                f"instead of {fmt_seconds(self.collected_first)} (warm{cold})"
            )
        if self.streamed_stall is not None and self.collected_stall is not None:
            parts.append(
                f"holds the event loop for at most {fmt_seconds(self.streamed_stall)} "
                f"instead of {fmt_seconds(self.collected_stall)}"
            )
        if not parts:
            return ""
        body = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        where = f"{self.scenario}, {fmt_size(self.size)} events on {backend_name(self.backend)}"
        return f"{where}: {self.streamed} {body}."


def _cold_pair(
    fmt: Callable[[float | None], str], streamed: float | None, collected: float | None
) -> str:
    """ "; cold 1.1 MiB vs 4 MiB" when both cold figures are known, else ""."""
    if streamed is None or collected is None:
        return ""
    return f"; cold: {fmt(streamed)} vs {fmt(collected)}"


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


_BATCH_IN_MODE = re.compile(r"batch[-_]?(\d+)", re.IGNORECASE)


def append_series(cell: Cell) -> tuple[int, str] | None:
    """An append cell's batch size and variant, or None if its mode names no batch size.

    The batch size is the N of a "batch-N" mode (a ``batch_size`` parameter is not
    enough: reads take one too); the variant is the rest of the mode ("" for plain
    appends, "contention" for "contention-batch-10"), charted as a separate line.
    """
    found = _BATCH_IN_MODE.search(cell.mode)
    if not found:
        return None
    variant = re.sub(r"[-_ ]+", "-", _BATCH_IN_MODE.sub("", cell.mode)).strip("-")
    return int(found.group(1)), variant


@dataclass(frozen=True)
class AppendFinding:
    """Append throughput of the largest batch against batches of one, per backend."""

    scenario: str
    backend: str
    best_batch: int
    best_rate: float
    single_rate: float | None

    def sentence(self) -> str:
        text = (
            f"{self.scenario}: batches of {self.best_batch} append "
            f"{fmt_rate(self.best_rate)} on {backend_name(self.backend)}"
        )
        if self.single_rate:
            text += f", {fmt_ratio(self.best_rate / self.single_rate)} the rate of single appends"
        return text + "."


@dataclass(frozen=True)
class RunSummary:
    cells: list[CellSummary]
    pairs: list[ModePair]
    appends: list[AppendFinding]
    fits: list[Fit]
    headline: list[str]
    """Plain-text sentences, most important first."""
    scenarios: list[str]
    backends: list[str]
    failed: list[CellSummary]

    def to_json(self) -> dict[str, Any]:
        return {
            "headline": self.headline,
            "scenarios": self.scenarios,
            "backends": self.backends,
            "cells": [_finite(asdict(c)) for c in self.cells],
            "streamed_vs_collected": [_finite(asdict(p)) for p in self.pairs],
            "append_throughput": [_finite(asdict(a)) for a in self.appends],
            "fits": [_finite(asdict(f)) for f in self.fits],
            "failed": [{"key": list(c.key), "error": c.error} for c in self.failed],
        }


def _finite(doc: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN or infinity: write null instead."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in doc.items()}


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


def summarize(results: RunResults) -> RunSummary:
    cells = [summarize_cell(c) for c in results.cells]
    by_key = {c.key: c for c in cells}
    scenarios = _unique([c.scenario for c in cells])
    backends = _unique([c.backend for c in cells])

    pairs: list[ModePair] = []
    for scenario in scenarios:
        modes = _unique([c.mode for c in cells if c.scenario == scenario])
        pair = mode_pair(modes)
        if pair is None:
            continue
        col_mode, str_mode = pair
        for backend in backends:
            sizes = sorted({c.size for c in cells if c.scenario == scenario})
            for size in sizes:
                col = by_key.get((scenario, backend, col_mode, size))
                stm = by_key.get((scenario, backend, str_mode, size))
                if col is None or stm is None or col.error or stm.error:
                    continue
                pairs.append(
                    ModePair(
                        scenario=scenario,
                        backend=backend,
                        size=size,
                        collected=col_mode,
                        streamed=str_mode,
                        memory_saving=_ratio(col.peak_bytes, stm.peak_bytes),
                        time_ratio=_ratio(stm.total_s, col.total_s),
                        first_event_speedup=_ratio(col.first_event_s, stm.first_event_s),
                        collected_peak=col.peak_bytes,
                        streamed_peak=stm.peak_bytes,
                        collected_total=col.total_s,
                        streamed_total=stm.total_s,
                        collected_first=col.first_event_s,
                        streamed_first=stm.first_event_s,
                        collected_stall=col.stall_max_s,
                        streamed_stall=stm.stall_max_s,
                        collected_cold_peak=col.cold_peak_bytes,
                        streamed_cold_peak=stm.cold_peak_bytes,
                        collected_cold_first=col.cold_first_event_s,
                        streamed_cold_first=stm.cold_first_event_s,
                    )
                )

    appends = _append_findings(results.cells, cells)
    return RunSummary(
        cells=cells,
        pairs=pairs,
        appends=appends,
        fits=list(results.fits),
        headline=_headline(pairs, appends, cells, results),
        scenarios=scenarios,
        backends=backends,
        failed=[c for c in cells if c.error],
    )


def _append_findings(raw: Sequence[Cell], cells: Sequence[CellSummary]) -> list[AppendFinding]:
    rates: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    # Ascending N, so that the largest N (the steadiest rate) is the one kept.
    for cell, summary in sorted(zip(raw, cells, strict=True), key=lambda p: p[0].size):
        series = append_series(cell)
        # Only plain appends: contention variants answer a different question.
        if series is None or series[1] or summary.events_per_s is None or summary.error:
            continue
        rates[(cell.scenario, cell.backend)][series[0]] = summary.events_per_s
    out = []
    for (scenario, backend), by_batch in rates.items():
        if len(by_batch) < 2:
            continue
        best = max(by_batch, key=lambda b: by_batch[b])
        out.append(AppendFinding(scenario, backend, best, by_batch[best], by_batch.get(1)))
    return out


def _other_append_sentences(raw: Sequence[Cell], cells: Sequence[CellSummary]) -> list[str]:
    """Modes of append scenarios without a batch size (e.g. contention), at their largest N."""
    append_scenarios = {c.scenario for c in raw if append_series(c) is not None}
    largest: dict[tuple[str, str, str], CellSummary] = {}
    for cell, summary in zip(raw, cells, strict=True):
        if (
            cell.scenario not in append_scenarios
            or append_series(cell) is not None
            or summary.events_per_s is None
            or summary.error
        ):
            continue
        key = (cell.scenario, cell.backend, cell.mode)
        if key not in largest or summary.size > largest[key].size:
            largest[key] = summary
    out = []
    for (scenario, backend, mode), s in largest.items():
        text = f"{scenario} {mode} on {backend_name(backend)}: {fmt_rate(s.events_per_s)}"
        if s.latency_p99_s is not None:
            text += f", p99 latency {fmt_seconds(s.latency_p99_s)}"
        text += "".join(
            f", {value:g} {name} per run (median)" for name, value in sorted(s.counters.items())
        )
        out.append(text + ".")
    return out


def _headline(
    pairs: Sequence[ModePair],
    appends: Sequence[AppendFinding],
    cells: Sequence[CellSummary],
    results: RunResults,
) -> list[str]:
    lines: list[str] = []
    # One sentence per scenario and backend, at the largest size: the most telling one.
    largest: dict[tuple[str, str], ModePair] = {}
    for pair in pairs:
        key = (pair.scenario, pair.backend)
        if key not in largest or pair.size > largest[key].size:
            largest[key] = pair
    # Scenarios and backends in the order the run measured them (the runner's order
    # is the reading order: read-stream first, the default backend first).
    scenario_order = {s: i for i, s in enumerate(dict.fromkeys(c.scenario for c in cells))}
    backend_order = {b: i for i, b in enumerate(dict.fromkeys(c.backend for c in cells))}
    ordered = sorted(
        largest.values(),
        key=lambda p: (scenario_order[p.scenario], backend_order[p.backend]),
    )
    lines.extend(s for p in ordered if (s := p.sentence()))
    lines.extend(a.sentence() for a in appends)
    lines.extend(_other_append_sentences(results.cells, cells))
    if not lines:
        measured = sum(1 for c in cells if not c.error)
        lines.append(
            f"{measured} cells measured; none pairs a collected with a streamed mode, "
            "so the tables below are the findings."
        )
    failed = sum(1 for c in cells if c.error)
    if failed:
        lines.append(f"{failed} of {len(cells)} cells failed; see Failures below.")
    if results.interrupted:
        lines.append("The run was interrupted: cells it did not reach are missing.")
    return lines
