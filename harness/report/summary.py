"""What a run found, as numbers: per-cell medians, collected-vs-streamed ratios, each
read mode's distance to the floor, the headline.

Every renderer (Markdown, HTML, JSON) reads the same `RunSummary`, so they cannot
disagree. It is computed from a `RunResults` alone.

The floor is the ``floor`` mode of the read scenarios (`scenarios.reads`): the bare
driver reading the same rows with no store in between. Every other mode's total time
is put over it ("streamed: 1.9x the floor"), for the same scenario, backend and N,
and only where the floor cell was measured: a run without one says nothing about it.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Final

from harness.analysis import stats
from harness.report.format import (
    backend_name,
    fmt_bytes,
    fmt_rate,
    fmt_ratio,
    fmt_relative,
    fmt_seconds,
    fmt_size,
    fmt_slope,
)
from harness.results import Cell, Fit, RunResults

__all__ = [
    "AppendFinding",
    "FLOOR_MODE",
    "CellSummary",
    "FloorDistance",
    "FloorGroup",
    "ModePair",
    "NotStreaming",
    "RunSummary",
    "Unfitted",
    "append_series",
    "mode_pair",
    "not_streaming",
    "streamed_mode",
    "summarize",
]


@dataclass(frozen=True)
class CellSummary:
    """One cell's medians (None where not measured), from `harness.analysis.stats.summarize`."""

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
    floor_ratio: float | None = None
    """This cell's median total time over the floor's (same scenario, backend and N),
    where a floor was measured; 1.0 on the floor cell itself."""

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

    Every ratio reads one way, streamed over collected ("streamed vs collected: 0.43x
    the time, 1/550 the memory"), in every table, sentence and chart: below 1 means
    streaming needed less.
    """

    scenario: str
    backend: str
    size: int
    collected: str
    streamed: str
    memory_ratio: float | None
    """Streamed peak / collected peak."""
    time_ratio: float | None
    """Streamed total time / collected total time."""
    first_event_ratio: float | None
    """Streamed time to first event / collected time to first event."""
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

    @property
    def where(self) -> str:
        return f"{self.scenario}, {fmt_size(self.size)} events on {backend_name(self.backend)}"

    def figures(self) -> str:
        """The ratios with their figures, e.g. "1/43 the memory (10.0 MiB vs 430 MiB),
        1.04x the time (2.08 s vs 2.00 s) and 1/1600 the wait for the first event (...)".

        Figures are warm (after warm-up); where the cold first read after opening was
        measured too, both are given: "(warm: 288 KiB vs 155 MiB; cold: 2.2 MiB vs 156 MiB)".
        The longest event-loop stall follows where it was measured."""
        parts = []
        if self.memory_ratio is not None:
            parts.append(
                f"{fmt_relative(self.memory_ratio)} the memory "
                + _warm_cold(
                    f"{fmt_bytes(self.streamed_peak)} vs {fmt_bytes(self.collected_peak)}",
                    _cold_pair(fmt_bytes, self.streamed_cold_peak, self.collected_cold_peak),
                )
            )
        if self.time_ratio is not None:
            parts.append(
                f"{fmt_relative(self.time_ratio)} the time "
                f"({fmt_seconds(self.streamed_total)} vs {fmt_seconds(self.collected_total)})"
            )
        if self.first_event_ratio is not None:
            parts.append(
                f"{fmt_relative(self.first_event_ratio)} the wait for the first event "
                + _warm_cold(
                    f"{fmt_seconds(self.streamed_first)} vs {fmt_seconds(self.collected_first)}",
                    _cold_pair(fmt_seconds, self.streamed_cold_first, self.collected_cold_first),
                )
            )
        if self.streamed_stall is not None and self.collected_stall is not None:
            parts.append(
                f"holds the event loop for at most {fmt_seconds(self.streamed_stall)} "
                f"instead of {fmt_seconds(self.collected_stall)}"
            )
        if not parts:
            return ""
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]

    def sentence(self) -> str:
        """The finding in words (plain text), e.g. "read-stream, 1M events on PostgreSQL,
        streamed vs collected: 1/43 the memory (...), 1.04x the time (...) and ..."."""
        body = self.figures()
        if not body:
            return ""
        return f"{self.where}, {self.streamed} vs {self.collected}: {body}."


FLOOR_MODE: Final = "floor"
"""The read scenarios' mode that reads with the bare driver, no store (`scenarios.reads`)."""


@dataclass(frozen=True)
class FloorDistance:
    """One read mode's total time over the floor's, at one scenario, backend and size."""

    scenario: str
    backend: str
    size: int
    mode: str
    time_ratio: float
    """The mode's median total time / the floor's median total time."""
    total_s: float
    floor_total_s: float
    instructions_ratio: float | None = None
    """The same for instructions per run, where both were counted."""

    def phrase(self) -> str:
        """E.g. "streamed: 1.90x the floor", and "(3.10x its instructions)" where both
        were counted (`--instructions`)."""
        text = f"{self.mode}: {fmt_relative(self.time_ratio)} the floor"
        if self.instructions_ratio is not None:
            text += f" ({fmt_relative(self.instructions_ratio)} its instructions)"
        return text


@dataclass(frozen=True)
class FloorGroup:
    """Every read mode of one scenario, backend and size against that floor."""

    scenario: str
    backend: str
    size: int
    floor_total_s: float
    distances: list[FloorDistance]

    def sentence(self) -> str:
        """E.g. "read-stream, 100K events on SQLite, time against the floor (the bare
        driver, no store: 45.0 ms): collected: 3.10x the floor, streamed: 1.90x the
        floor, raw: 1.20x the floor"."""
        where = f"{self.scenario}, {fmt_size(self.size)} events on {backend_name(self.backend)}"
        return (
            f"{where}, time against the floor (the bare driver, no store: "
            f"{fmt_seconds(self.floor_total_s)}): "
            + ", ".join(d.phrase() for d in self.distances)
            + "."
        )


def floor_groups(cells: Sequence[CellSummary]) -> list[FloorGroup]:
    """Each (scenario, backend, size) with a measured floor, its modes over the floor.

    Modes come in the run's order; a failed or untimed cell has no distance, and a
    group whose floor failed or was not timed is left out (nothing to measure against).
    """
    floors = {
        (c.scenario, c.backend, c.size): c
        for c in cells
        if c.mode == FLOOR_MODE and not c.error and c.total_s
    }
    groups: list[FloorGroup] = []
    for key, floor in floors.items():
        distances = []
        for c in cells:
            if (c.scenario, c.backend, c.size) != key or c.mode == FLOOR_MODE:
                continue
            if c.error or c.total_s is None or floor.total_s is None:
                continue
            distances.append(
                FloorDistance(
                    scenario=c.scenario,
                    backend=c.backend,
                    size=c.size,
                    mode=c.mode,
                    time_ratio=c.total_s / floor.total_s,
                    total_s=c.total_s,
                    floor_total_s=floor.total_s,
                    instructions_ratio=_ratio(c.instructions, floor.instructions),
                )
            )
        if distances and floor.total_s is not None:
            groups.append(FloorGroup(*key, floor.total_s, distances))
    return groups


def _with_floor_ratios(cells: list[CellSummary]) -> list[CellSummary]:
    """The cells, each with its `CellSummary.floor_ratio` where a floor was measured."""
    groups = floor_groups(cells)
    ratios = {
        (d.scenario, d.backend, d.mode, d.size): d.time_ratio for g in groups for d in g.distances
    }
    measured = {(g.scenario, g.backend, g.size) for g in groups}
    out = []
    for c in cells:
        if c.mode == FLOOR_MODE and (c.scenario, c.backend, c.size) in measured:
            out.append(replace(c, floor_ratio=1.0))
        else:
            out.append(replace(c, floor_ratio=ratios.get(c.key)))
    return out


NOT_STREAMING_SLOPE = 0.2
"""A streamed read whose peak grows faster than N**0.2 holds more than a batch."""
NOT_STREAMING_FLOOR = 4 * 1024 * 1024
"""...and whose peak grew by more than this from the smallest to the largest size.
Bounded caches fill up with the first few thousand events and then stay flat: the
skeleton store's streamed peak went 2.2, 3.4, 3.4 MiB at 2K, 6K, 20K events (SQLite's
2 MiB page cache), a slope of 0.18 that two sizes alone would put at 0.39. A read that
buffers the stream grows by far more (1.5 to 15 MiB over the same sizes)."""


@dataclass(frozen=True)
class NotStreaming:
    """A streamed mode whose peak memory grows with N: it buffers the stream."""

    scenario: str
    backend: str
    mode: str
    exponent: float
    """Fitted log-log slope (3+ sizes) or the two-point exponent (2 sizes)."""
    sizes: list[int]
    smallest_peak: float
    largest_peak: float

    @property
    def fitted(self) -> bool:
        return len(self.sizes) >= stats.MIN_FIT_SIZES

    def growth(self) -> str:
        """ "peak grows as N^0.98", with the evidence when it rests on two sizes only."""
        text = f"peak grows as N^{fmt_slope(self.exponent)}"
        if not self.fitted:
            events = self.sizes[-1] / self.sizes[0]
            peak = self.largest_peak / self.smallest_peak
            text += (
                f": {fmt_ratio(peak)} the peak for {fmt_ratio(events)} the events, "
                f"from {len(self.sizes)} sizes"
            )
        return text

    def sentence(self) -> str:
        return (
            f"{self.scenario} on {backend_name(self.backend)}: streamed read is not streaming "
            f"({self.growth()}); {self.mode} held {fmt_bytes(self.largest_peak)} at "
            f"{fmt_size(self.sizes[-1])} events and {fmt_bytes(self.smallest_peak)} at "
            f"{fmt_size(self.sizes[0])}."
        )


def streamed_mode(modes: Sequence[str]) -> str | None:
    """A scenario's streamed mode: its pair's, or the one mode named for streaming when
    the run measured it alone (``--modes streamed``)."""
    pair = mode_pair(modes)
    if pair is not None:
        return pair[1]
    streaming = [m for m in modes if "stream" in m.lower() and "collect" not in m.lower()]
    return streaming[0] if len(streaming) == 1 else None


def not_streaming(cells: Sequence[CellSummary]) -> list[NotStreaming]:
    """The streamed modes whose peak memory grows with N (see `NOT_STREAMING_SLOPE`).

    With three or more sizes the fitted slope decides; with two, the exponent that the
    two peaks imply (the ratio of peaks against the ratio of sizes), said as such.
    """
    modes: dict[str, list[str]] = defaultdict(list)
    for c in cells:
        if c.mode not in modes[c.scenario]:
            modes[c.scenario].append(c.mode)
    streamed = {scenario: streamed_mode(names) for scenario, names in modes.items()}
    peaks: dict[tuple[str, str, str], dict[int, float]] = defaultdict(dict)
    for c in cells:
        if c.mode != streamed[c.scenario] or c.error or not c.peak_bytes:
            continue
        peaks[(c.scenario, c.backend, c.mode)][c.size] = c.peak_bytes
    found = []
    for (scenario, backend, mode), by_size in peaks.items():
        sizes = sorted(by_size)
        if len(sizes) < 2:
            continue
        values = [by_size[n] for n in sizes]
        slope, _, _ = stats.fit_loglog(sizes, values)
        if slope > NOT_STREAMING_SLOPE and values[-1] - values[0] > NOT_STREAMING_FLOOR:
            found.append(NotStreaming(scenario, backend, mode, slope, sizes, values[0], values[-1]))
    return found


@dataclass(frozen=True)
class Unfitted:
    """A (scenario, backend, mode) measured at too few sizes for a growth slope."""

    scenario: str
    backend: str
    mode: str
    sizes: list[int]


def _cold_pair(
    fmt: Callable[[float | None], str], streamed: float | None, collected: float | None
) -> str:
    """ "cold: 1.1 MiB vs 4 MiB" when both cold figures are known, else ""."""
    if streamed is None or collected is None:
        return ""
    return f"cold: {fmt(streamed)} vs {fmt(collected)}"


def _warm_cold(warm: str, cold: str) -> str:
    """ "(warm: a vs b; cold: c vs d)", or "(a vs b)" when nothing cold was measured."""
    return f"(warm: {warm}; {cold})" if cold else f"({warm})"


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
    """Growth fits recomputed from the cells (3+ sizes each; see `stats.fit_growth`)."""
    unfitted: list[Unfitted]
    """Groups measured at 2 sizes: no slope, and the reports say why."""
    not_streaming: list[NotStreaming]
    floors: list[FloorGroup]
    """Each read mode's distance to the floor, per scenario, backend and size."""
    lead: str
    """The one sentence a reader should take away, before any list."""
    headline: list[str]
    """Plain-text sentences, most important first."""
    scenarios: list[str]
    backends: list[str]
    failed: list[CellSummary]

    def unfitted_sentence(self) -> str | None:
        """Why some groups have no growth slope (too few sizes), or None if all have one."""
        if not self.unfitted:
            return None
        sizes = sorted({n for u in self.unfitted for n in u.sizes})
        groups = len(self.unfitted)
        return (
            f"No growth slope for {groups} scenario/backend/mode group"
            f"{'s' if groups > 1 else ''} measured at only "
            f"{', '.join(fmt_size(n) for n in sizes)} events: {stats.NO_FIT_REASON} "
            "(add a size with --sizes)."
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "lead": self.lead,
            "headline": self.headline,
            "scenarios": self.scenarios,
            "backends": self.backends,
            "cells": [_finite(asdict(c)) for c in self.cells],
            "streamed_vs_collected": [_finite(asdict(p)) for p in self.pairs],
            "append_throughput": [_finite(asdict(a)) for a in self.appends],
            "fits": [_finite(asdict(f)) for f in self.fits],
            "unfitted": [asdict(u) for u in self.unfitted],
            "not_streaming": [_finite(asdict(n)) for n in self.not_streaming],
            "vs_floor": [
                {
                    **_finite({k: v for k, v in asdict(g).items() if k != "distances"}),
                    "distances": [_finite(asdict(d)) for d in g.distances],
                }
                for g in self.floors
            ],
            "failed": [{"key": list(c.key), "error": c.error} for c in self.failed],
        }


def _finite(doc: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN or infinity: write null instead."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in doc.items()}


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


def summarize(results: RunResults) -> RunSummary:
    cells = _with_floor_ratios([summarize_cell(c) for c in results.cells])
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
                        memory_ratio=_ratio(stm.peak_bytes, col.peak_bytes),
                        time_ratio=_ratio(stm.total_s, col.total_s),
                        first_event_ratio=_ratio(stm.first_event_s, col.first_event_s),
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
    # Refitted from the samples, like the cells: a results file written before fits
    # needed three sizes may hold two-point "fits" that must not be shown.
    fits = stats.fit_growth(results.cells)
    fitted = {(f.scenario, f.backend, f.mode) for f in fits}
    sizes_of: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    for c in cells:
        if not c.error:
            sizes_of[(c.scenario, c.backend, c.mode)].add(c.size)
    unfitted = [
        Unfitted(*key, sorted(sizes))
        for key, sizes in sizes_of.items()
        if len(sizes) >= 2 and key not in fitted
    ]
    buffering = not_streaming(cells)
    floors = floor_groups(cells)
    headline = _headline(pairs, appends, cells, results, buffering, floors)
    return RunSummary(
        cells=cells,
        pairs=pairs,
        appends=appends,
        fits=fits,
        unfitted=unfitted,
        not_streaming=buffering,
        floors=floors,
        lead=_lead(pairs, appends, cells, buffering, headline),
        headline=headline,
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


def _largest_pairs(pairs: Sequence[ModePair], cells: Sequence[CellSummary]) -> list[ModePair]:
    """Each (scenario, backend)'s pair at its largest size, in the run's order."""
    largest: dict[tuple[str, str], ModePair] = {}
    for pair in pairs:
        key = (pair.scenario, pair.backend)
        if key not in largest or pair.size > largest[key].size:
            largest[key] = pair
    # Scenarios and backends in the order the run measured them (the runner's order
    # is the reading order: read-stream first, the default backend first).
    scenario_order = {s: i for i, s in enumerate(dict.fromkeys(c.scenario for c in cells))}
    backend_order = {b: i for i, b in enumerate(dict.fromkeys(c.backend for c in cells))}
    return sorted(
        largest.values(),
        key=lambda p: (scenario_order[p.scenario], backend_order[p.backend]),
    )


def _largest_floors(floors: Sequence[FloorGroup]) -> list[FloorGroup]:
    """Each (scenario, backend)'s floor group at its largest size, in the run's order."""
    largest: dict[tuple[str, str], FloorGroup] = {}
    for group in floors:
        key = (group.scenario, group.backend)
        if key not in largest or group.size > largest[key].size:
            largest[key] = group
    return list(largest.values())


def _span(values: Sequence[float]) -> str:
    low, high = fmt_relative(min(values)), fmt_relative(max(values))
    return low if low == high else f"{low} to {high}"


def _lead(
    pairs: Sequence[ModePair],
    appends: Sequence[AppendFinding],
    cells: Sequence[CellSummary],
    buffering: Sequence[NotStreaming],
    headline: Sequence[str],
) -> str:
    """One sentence before the list: the warning if there is one, else the answer."""
    if buffering:
        worst = max(buffering, key=lambda b: b.exponent)
        where = "; ".join(f"{b.scenario} on {backend_name(b.backend)}" for b in buffering)
        return f"Streamed read is not streaming ({worst.growth()}): {where}."
    largest = _largest_pairs(pairs, cells)
    memory = [p.memory_ratio for p in largest if p.memory_ratio is not None]
    time = [p.time_ratio for p in largest if p.time_ratio is not None]
    if largest and (memory or time):
        sizes = sorted({p.size for p in largest})
        at = (
            f"at {fmt_size(sizes[0])} events"
            if len(sizes) == 1
            else f"at the largest size measured ({', '.join(fmt_size(n) for n in sizes)} events)"
        )
        parts = ([f"{_span(memory)} the memory"] if memory else []) + (
            [f"{_span(time)} the time"] if time else []
        )
        scenarios = _unique([p.scenario for p in largest])
        backends = _unique([backend_name(p.backend) for p in largest])
        return (
            f"Streamed vs collected {at}: {' and '.join(parts)} "
            f"({', '.join(scenarios)} on {', '.join(backends)})."
        )
    if appends or headline:
        return headline[0]
    return "Nothing was measured."


def _headline(
    pairs: Sequence[ModePair],
    appends: Sequence[AppendFinding],
    cells: Sequence[CellSummary],
    results: RunResults,
    buffering: Sequence[NotStreaming] = (),
    floors: Sequence[FloorGroup] = (),
) -> list[str]:
    lines: list[str] = []
    # A buffering streamed read comes first, and replaces its pair's sentence: its
    # figures would otherwise read like a win for streaming.
    lines.extend(b.sentence() for b in buffering)
    flagged = {(b.scenario, b.backend) for b in buffering}
    # One sentence per scenario and backend, at the largest size: the most telling one.
    lines.extend(
        s
        for p in _largest_pairs(pairs, cells)
        if (p.scenario, p.backend) not in flagged and (s := p.sentence())
    )
    lines.extend(g.sentence() for g in _largest_floors(floors))
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
