"""Charts for the HTML reports, drawn with matplotlib's object API into PNG bytes.

No pyplot: figures are built directly (`matplotlib.figure.Figure`), so drawing has no
global state, needs no display, and cannot pick an interactive backend. Every chart
carries its units on its axes and a legend, so it reads without the surrounding text.
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from matplotlib.figure import Figure

from harness.report.format import backend_name, fmt_size, fmt_slope
from harness.report.summary import CellSummary, append_series
from harness.results import Cell, Fit

__all__ = [
    "Chart",
    "append_chart",
    "first_event_chart",
    "growth_chart",
    "ratio_chart",
    "stall_chart",
    "series_charts",
]

MIB: Final = 1024**2
DPI: Final = 100
# Modes get the same colour in every chart; collected/streamed are the usual pair.
_PALETTE: Final = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]
_MARKERS: Final = ["o", "s", "^", "D", "v", "P", "X"]
_VERDICT_COLOURS: Final = {
    "regressed": "#d62728",
    "improved": "#2ca02c",
    "unchanged": "#7f7f7f",
    "inconclusive": "#ff7f0e",
}


@dataclass(frozen=True)
class Chart:
    title: str
    alt: str
    """What the chart shows, for screen readers and broken images."""
    png: bytes
    width: int
    height: int


def _render(fig: Figure, title: str, alt: str) -> Chart:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    width, height = fig.get_size_inches() * DPI
    return Chart(title, alt, buf.getvalue(), round(width), round(height))


def _colour(index: int) -> str:
    return _PALETTE[index % len(_PALETTE)]


def _size_axis(ax: Any, sizes: Sequence[int], label: str = "N events (log scale)") -> None:
    ax.set_xscale("log")
    ax.set_xlabel(label)
    ticks = sorted(set(sizes))
    ax.set_xticks(ticks, [fmt_size(n) for n in ticks])
    ax.minorticks_off()
    if len(ticks) == 1:  # a lone point: give the log axis some room around it
        ax.set_xlim(ticks[0] / 3, ticks[0] * 3)
    ax.grid(True, which="major", alpha=0.3)


def _fit_line(ax: Any, fit: Fit, scale: float, colour: str, mode: str) -> None:
    lo, hi = min(fit.sizes), max(fit.sizes)
    xs = [lo * (hi / lo) ** (i / 20) for i in range(21)]
    ys = [math.exp(fit.intercept) * x**fit.slope / scale for x in xs]
    ax.plot(
        xs,
        ys,
        linestyle="--",
        color=colour,
        alpha=0.7,
        label=f"{mode} fit: ∝ N^{fmt_slope(fit.slope)} (R² {fit.r_squared:.2f})",
    )


def growth_chart(
    scenario: str,
    backend: str,
    cells: Sequence[CellSummary],
    fits: Sequence[Fit],
    modes: Sequence[str],
) -> Chart | None:
    """Peak memory and total time against N, one line per mode, log-log with fitted slopes."""
    panels = [
        ("peak_bytes", "peak memory, MiB (log scale)", MIB, "peak memory"),
        ("total_s", "total time, s (log scale)", 1.0, "total time"),
    ]
    cold_of = {"peak_bytes": "cold_peak_bytes", "total_s": "cold_total_s"}
    mine = [c for c in cells if c.scenario == scenario and c.backend == backend and not c.error]
    panels = [p for p in panels if any(getattr(c, p[0]) is not None for c in mine)]
    if not panels:
        return None
    fig = Figure(figsize=(5.2 * len(panels), 4.0), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (metric, ylabel, scale, what) in zip(axes, panels, strict=True):
        for i, mode in enumerate(modes):
            points = sorted(
                (c for c in mine if c.mode == mode and getattr(c, metric) is not None),
                key=lambda c: c.size,
            )
            if not points:
                continue
            colour = _colour(i)
            xs = [c.size for c in points]
            ys = [getattr(c, metric) / scale for c in points]
            lows = [getattr(c, f"{metric}_min") for c in points]
            highs = [getattr(c, f"{metric}_max") for c in points]
            yerr = [
                [max(0.0, y - lo / scale) for y, lo in zip(ys, lows, strict=True)],
                [max(0.0, hi / scale - y) for y, hi in zip(ys, highs, strict=True)],
            ]
            ax.errorbar(
                xs,
                ys,
                yerr=yerr,
                marker=_MARKERS[i % len(_MARKERS)],
                color=colour,
                capsize=3,
                linestyle="-",
                label=f"{mode}, warm (median, min-max)",
            )
            cold = [c for c in points if getattr(c, cold_of[metric]) is not None]
            if cold:
                ax.plot(
                    [c.size for c in cold],
                    [getattr(c, cold_of[metric]) / scale for c in cold],
                    marker=_MARKERS[i % len(_MARKERS)],
                    markerfacecolor="none",
                    linestyle=":",
                    color=colour,
                    label=f"{mode}, cold (first read after opening)",
                )
            fit = next(
                (
                    f
                    for f in fits
                    if (f.scenario, f.backend, f.mode, f.metric)
                    == (scenario, backend, mode, metric)
                ),
                None,
            )
            if fit is not None and len(fit.sizes) >= 2 and min(fit.sizes) > 0:
                _fit_line(ax, fit, scale, colour, mode)
        ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        _size_axis(ax, [c.size for c in mine])
        ax.set_title(f"{what} vs N")
        handles, labels = ax.get_legend_handles_labels()
        # Measured points before fitted lines, mode by mode, whatever order they were drawn.
        order = sorted(range(len(labels)), key=lambda k: ("fit:" in labels[k], k))
        ax.legend(
            [handles[k] for k in order], [labels[k] for k in order], fontsize="small", loc="best"
        )
    fig.suptitle(f"{scenario} on {backend_name(backend)}")
    alt = (
        f"{scenario} on {backend_name(backend)}: "
        + " and ".join(p[3] for p in panels)
        + f" against N for {', '.join(modes)}, log-log, with fitted slopes"
    )
    return _render(fig, f"{scenario} on {backend_name(backend)}", alt)


def first_event_chart(scenario: str, cells: Sequence[CellSummary]) -> Chart | None:
    """Time to the first event against N: one colour per mode, one marker per backend."""
    mine = [
        c for c in cells if c.scenario == scenario and c.first_event_s is not None and not c.error
    ]
    if not mine:
        return None
    modes = list(dict.fromkeys(c.mode for c in mine))
    backends = list(dict.fromkeys(c.backend for c in mine))
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    for b, backend in enumerate(backends):
        for m, mode in enumerate(modes):
            points = sorted(
                (c for c in mine if c.backend == backend and c.mode == mode), key=lambda c: c.size
            )
            if not points:
                continue
            ax.plot(
                [c.size for c in points],
                [c.first_event_s or math.nan for c in points],
                marker=_MARKERS[b % len(_MARKERS)],
                linestyle=["-", "--", ":", "-."][b % 4],
                color=_colour(m),
                label=f"{backend_name(backend)}, {mode}, warm",
            )
            cold = [c for c in points if c.cold_first_event_s is not None]
            if cold:
                ax.plot(
                    [c.size for c in cold],
                    [c.cold_first_event_s or math.nan for c in cold],
                    marker=_MARKERS[b % len(_MARKERS)],
                    markerfacecolor="none",
                    linestyle=":",
                    color=_colour(m),
                    label=f"{backend_name(backend)}, {mode}, cold",
                )
    ax.set_yscale("log")
    ax.set_ylabel("time to first event, s (median, log scale)")
    _size_axis(ax, [c.size for c in mine])
    ax.set_title(f"{scenario}: time to first event vs N")
    ax.legend(fontsize="small", loc="best")
    alt = f"{scenario}: median time to the first event against N per backend and mode, log-log"
    return _render(fig, f"{scenario}: time to first event", alt)


def stall_chart(scenario: str, cells: Sequence[CellSummary]) -> Chart | None:
    """The event loop's longest stall per run against N: one colour per mode, one marker
    per backend (median over runs, warm)."""
    mine = [
        c for c in cells if c.scenario == scenario and c.stall_max_s is not None and not c.error
    ]
    if not mine:
        return None
    modes = list(dict.fromkeys(c.mode for c in mine))
    backends = list(dict.fromkeys(c.backend for c in mine))
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    for b, backend in enumerate(backends):
        for m, mode in enumerate(modes):
            points = sorted(
                (c for c in mine if c.backend == backend and c.mode == mode), key=lambda c: c.size
            )
            if not points:
                continue
            ax.plot(
                [c.size for c in points],
                [(c.stall_max_s or math.nan) * 1e3 for c in points],
                marker=_MARKERS[b % len(_MARKERS)],
                linestyle=["-", "--", ":", "-."][b % 4],
                color=_colour(m),
                label=f"{backend_name(backend)}, {mode}",
            )
    ax.set_yscale("log")
    ax.set_ylabel("longest event-loop stall, ms (median of runs, log scale)")
    _size_axis(ax, [c.size for c in mine])
    ax.set_title(f"{scenario}: how long the event loop is held vs N")
    ax.legend(fontsize="small", loc="best")
    alt = (
        f"{scenario}: the longest time the event loop could not run other tasks, against N, "
        "per backend and mode, log-log"
    )
    return _render(fig, f"{scenario}: event-loop stall", alt)


def append_chart(scenario: str, raw: Sequence[Cell], cells: Sequence[CellSummary]) -> Chart | None:
    """Append throughput (events/s) against batch size, one line per backend and variant."""
    lines: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for cell, summary in sorted(zip(raw, cells, strict=True), key=lambda p: p[0].size):
        series = append_series(cell)
        if (
            cell.scenario != scenario
            or series is None
            or summary.events_per_s is None
            or summary.error
        ):
            continue
        lines[(cell.backend, series[1])][series[0]] = summary.events_per_s
    if not lines:
        return None
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    batches: set[int] = set()
    for i, ((backend, variant), by_batch) in enumerate(sorted(lines.items())):
        xs = sorted(by_batch)
        batches.update(xs)
        label = backend_name(backend) + (f", {variant}" if variant else "")
        ax.plot(
            xs,
            [by_batch[x] for x in xs],
            marker=_MARKERS[i % len(_MARKERS)],
            color=_colour(i),
            label=label,
        )
    ax.set_yscale("log")
    ax.set_ylabel("events appended per second (median, log scale)")
    _size_axis(ax, sorted(batches), label="events per append (batch size, log scale)")
    ax.set_title(f"{scenario}: throughput by batch size")
    ax.legend(fontsize="small", loc="best")
    alt = f"{scenario}: events appended per second against batch size, per backend, log-log"
    return _render(fig, f"{scenario}: throughput by batch size", alt)


@dataclass(frozen=True)
class RatioRow:
    """One bar of a comparison chart."""

    label: str
    ratio: float
    ci_low: float
    ci_high: float
    minimum_effect: float
    verdict: str


def ratio_chart(metric_label: str, rows: Sequence[RatioRow]) -> Chart | None:
    """head/base ratios with their confidence intervals, coloured by verdict (forest plot)."""
    rows = [r for r in rows if all(math.isfinite(v) and v > 0 for v in (r.ratio, r.ci_low))]
    rows = [r for r in rows if math.isfinite(r.ci_high)]
    if not rows:
        return None
    height = 1.4 + 0.28 * len(rows)
    fig = Figure(figsize=(8.5, height), layout="constrained")
    ax = fig.subplots()
    ys = list(range(len(rows)))[::-1]
    # The band of changes too small to matter, per row (memory's depends on size).
    lows = [max(1 - r.minimum_effect, 1e-3) for r in rows]
    ax.barh(
        ys,
        [1 + r.minimum_effect - lo for r, lo in zip(rows, lows, strict=True)],
        left=lows,
        height=0.8,
        color="#dddddd",
        linewidth=0,
        label="within the minimum effect",
    )
    # One call per verdict, not per row: drawing cost grows with artists, not points.
    for verdict, colour in _VERDICT_COLOURS.items():
        mine = [(y, r) for y, r in zip(ys, rows, strict=True) if r.verdict == verdict]
        if not mine:
            continue
        ax.errorbar(
            [r.ratio for _, r in mine],
            [y for y, _ in mine],
            xerr=[[r.ratio - r.ci_low for _, r in mine], [r.ci_high - r.ratio for _, r in mine]],
            fmt="o",
            color=colour,
            capsize=3,
            label=verdict,
        )
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(ys, [r.label for r in rows], fontsize="small")
    ax.set_xscale("log")
    ax.set_xlabel(f"{metric_label}: head / base (median ratio, 95% CI, log scale; <1 is better)")
    ax.set_title(f"{metric_label}: head vs base")
    ax.legend(fontsize="small", loc="best")
    ax.grid(True, axis="x", alpha=0.3)
    alt = f"{metric_label}: ratio of head to base medians per cell with confidence intervals"
    return _render(fig, f"{metric_label}: head vs base", alt)


PHASE_SERIES: Final = "readers_active"
"""A series that marks when the measured reads ran: shaded on the other series' charts."""


def _series_scale(name: str) -> tuple[float, str]:
    if "bytes" in name:
        return MIB, f"{name} (MiB)"
    if name.endswith("_s"):
        return 1e-3, f"{name} (ms)"
    return 1.0, name


def series_charts(scenario: str, cells: Sequence[Cell]) -> list[Chart]:
    """Small charts of the cells' time series: one per backend and series, one line per
    mode, the span in which reads ran shaded (from ``readers_active``, when present)."""
    charts: list[Chart] = []
    mine = [c for c in cells if c.scenario == scenario and c.series and not c.error]
    backends = list(dict.fromkeys(c.backend for c in mine))
    for backend in backends:
        group = [c for c in mine if c.backend == backend]
        names = sorted({n for c in group for n in (c.series or {}) if n != PHASE_SERIES})
        for name in names:
            scale, label = _series_scale(name)
            fig = Figure(figsize=(4.6, 2.6), layout="constrained")
            ax = fig.subplots()
            for m, cell in enumerate(group):
                series = cell.series or {}
                points = series.get(name)
                if not points:
                    continue
                colour = _colour(m)
                ax.plot(
                    [p[0] for p in points],
                    [p[1] / scale for p in points],
                    color=colour,
                    linewidth=1.2,
                    label=cell.mode,
                )
                phase = [p[0] for p in series.get(PHASE_SERIES, []) if p[1] > 0]
                if phase:
                    ax.axvspan(min(phase), max(phase), color=colour, alpha=0.08)
            ax.set_xlabel("seconds into the run", fontsize="small")
            ax.set_ylabel(label, fontsize="small")
            ax.tick_params(labelsize="small")
            ax.set_ylim(bottom=0)
            ax.set_title(f"{backend_name(backend)}: {name}", fontsize="small")
            ax.legend(fontsize="x-small", loc="best")
            alt = (
                f"{scenario} on {backend_name(backend)}: {name} over one run, per mode; "
                "shaded: while the reads ran"
            )
            charts.append(_render(fig, f"{scenario} on {backend_name(backend)}: {name}", alt))
    return charts
