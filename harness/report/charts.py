"""Charts for the HTML reports, drawn with matplotlib's object API into PNG bytes.

No pyplot: figures are built directly (`matplotlib.figure.Figure`), so drawing has no
global state, needs no display, and cannot pick an interactive backend. Every chart
carries its units on its axes, its values on its points and a legend below the plot
(never over the data), so it reads without the surrounding text.
"""

from __future__ import annotations

import io
import math
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from matplotlib.figure import Figure

from harness.analysis.stats import MIN_FIT_SIZES, NO_FIT_REASON
from harness.report.format import (
    backend_name,
    fmt_bytes,
    fmt_count,
    fmt_ratio,
    fmt_seconds,
    fmt_size,
    fmt_slope,
)
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
    """What the chart shows, for screen readers and broken images: generated from the
    series actually drawn, with their values."""
    png: bytes
    width: int
    height: int


def _render(fig: Figure, title: str, alt: str) -> Chart:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    width, height = fig.get_size_inches() * DPI
    return Chart(title, alt, buf.getvalue(), round(width), round(height))


def _short(text: str, limit: int = 40) -> str:
    """A name as drawn in a legend or title: long ones are cut (the alt text and the
    tables have them whole), so a legend can never push the plot off the figure."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    else:  # room for the point labels at both ends
        ax.set_xlim(ticks[0] / 1.6, ticks[-1] * 1.6)
    ax.grid(True, which="major", alpha=0.3)


@dataclass(frozen=True)
class _Unit:
    """How a y axis counts: its tick candidates and how a value reads."""

    base: float
    """Ticks at 1, 2 and 5 times powers of this (1024 for bytes: 256 KiB, 1 MiB...)."""
    fmt: Callable[[float], str]


_BYTES: Final = _Unit(1024.0, lambda v: fmt_bytes(v))
_SECONDS: Final = _Unit(10.0, lambda v: fmt_seconds(v))
_RATE: Final = _Unit(10.0, lambda v: fmt_count(v) + "/s")


def _value_axis(ax: Any, values: Sequence[float], unit: _Unit, label: str, depth: int = 1) -> None:
    """A log y axis labelled in the quantity's own unit, with ticks between the decades.

    Ticks at powers of ten alone leave most points between two labels; here every
    1-2-5 step is labelled ("200 KiB", "500 KiB", "1 MiB"), thinned to powers only when
    the range is wide. The points carry their own values as well (`_label_points`);
    ``depth`` is how many labels it stacked on one side of a point, which the limits
    leave room for so that the outermost label stays inside the plot.
    """
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    ax.set_yscale("log")
    ax.set_ylabel(label)
    if not positive:
        return
    # The outermost label sits 6 + 9 * (depth - 1) points off its point and is about 8
    # points tall; the margin m (in log units) must hold that share of the axes' height:
    # m >= share * (span + 2m). The height is estimated from the figure's (the layout is
    # not done yet): about 55% of it is the plot.
    height_pt = ax.figure.get_size_inches()[1] * 72 * 0.55
    share = min((16 + 9 * (depth - 1)) / height_pt, 0.3)
    span = math.log(max(positive) / min(positive))
    margin = math.exp(max(math.log(1.8), share * span / (1 - 2 * share)))
    low, high = min(positive) / margin, max(positive) * margin
    ax.set_ylim(low, high)
    candidates = []
    if unit.base == 1024.0:
        scales = [1024.0**k for k in range(5)]
        steps: tuple[float, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500)
    else:
        scales = [10.0**k for k in range(-9, 13)]
        steps = (1, 2, 5)
    for scale in scales:
        candidates += [step * scale for step in steps]
    ticks = sorted({t for t in candidates if low <= t <= high})
    if len(ticks) > 8:  # a wide range: powers only (1, 10, 100 of each unit)
        ticks = [t for t in ticks if _is_power(t, unit.base)]
    if len(ticks) > 8:
        ticks = ticks[:: math.ceil(len(ticks) / 8)]
    # "1 MiB", "50 ms": a tick is a round number, so its trailing zeros say nothing.
    ax.set_yticks(ticks, [re.sub(r"\.0+(?=\D|$)", "", unit.fmt(t)) for t in ticks])
    ax.minorticks_off()
    ax.grid(True, which="major", axis="y", alpha=0.3)


def _is_power(value: float, base: float) -> bool:
    mantissa = value / base ** math.floor(math.log(value, base) + 1e-9)
    return any(math.isclose(mantissa, m) for m in (1, 10, 100))


@dataclass(frozen=True)
class _Series:
    """One drawn line, kept so that its points can be labelled once all are drawn."""

    xs: list[float]
    ys: list[float]
    colour: str


def _label_points(ax: Any, drawn: Sequence[_Series], unit: _Unit) -> int:
    """Write each point's value beside it, clear of the other series' labels.

    At each x the points are ranked by value: the upper half is labelled above, the
    lower half below, stacked outwards, so labels keep the order of their points and
    two series that run close together (or cross) never print over each other.
    Returns the most labels stacked on one side of a point (see `_value_axis`).
    """
    at: dict[float, list[tuple[float, int]]] = defaultdict(list)
    for index, series in enumerate(drawn):
        for x, y in zip(series.xs, series.ys, strict=True):
            if y > 0 and math.isfinite(y):
                at[x].append((y, index))
    depth = 1
    for x, points in at.items():
        ranked = sorted(points, key=lambda p: (-p[0], p[1]))
        upper = (len(ranked) + 1) // 2
        depth = max(depth, upper)
        for rank, (y, index) in enumerate(ranked):
            step = upper - 1 - rank if rank < upper else rank - upper
            distance = 6 + 9 * step
            above = rank < upper
            ax.annotate(
                unit.fmt(y),
                (x, y),
                textcoords="offset points",
                xytext=(0, distance if above else -distance),
                ha="center",
                va="bottom" if above else "top",
                fontsize="x-small",
                color=drawn[index].colour,
            )

    return depth


def _legend_under(ax: Any) -> None:
    """The axes' own legend under it, off the data: measured points first, then fits."""
    handles, labels = ax.get_legend_handles_labels()
    # matplotlib lists error-bar containers after plain lines: warm before cold by name.
    order = sorted(range(len(labels)), key=lambda k: ("fit:" in labels[k], "cold" in labels[k], k))
    ax.legend(
        [handles[k] for k in order],
        [labels[k] for k in order],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        # Two columns fit a panel only while the labels are short.
        ncols=2 if max(map(len, labels), default=0) <= 36 else 1,
        fontsize="small",
        frameon=False,
    )


def _legend_below(fig: Figure, axes: Sequence[Any]) -> None:
    """One legend under the plots, never over the data."""
    handles: list[Any] = []
    labels: list[str] = []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    if handles:
        fig.legend(
            handles,
            labels,
            loc="outside lower center",
            ncols=min(len(labels), 3),
            fontsize="small",
            frameon=False,
        )


def _series_text(points: Sequence[tuple[float, float]], fmt: Callable[[float], str]) -> str:
    return ", ".join(f"{fmt(y)} at {fmt_size(int(x))}" for x, y in points)


def _fit_for(
    fits: Sequence[Fit], scenario: str, backend: str, mode: str, metric: str
) -> Fit | None:
    # Shown only over 3+ sizes, whatever the results file holds: a line through two
    # points fits perfectly and says nothing.
    return next(
        (
            f
            for f in fits
            if (f.scenario, f.backend, f.mode, f.metric) == (scenario, backend, mode, metric)
            and len(f.sizes) >= MIN_FIT_SIZES
            and min(f.sizes) > 0
        ),
        None,
    )


def _fit_line(ax: Any, fit: Fit, colour: str, mode: str) -> None:
    lo, hi = min(fit.sizes), max(fit.sizes)
    xs = [lo * (hi / lo) ** (i / 20) for i in range(21)]
    ys = [math.exp(fit.intercept) * x**fit.slope for x in xs]
    ax.plot(
        xs,
        ys,
        linestyle="--",
        color=colour,
        alpha=0.7,
        label=f"{_short(mode)} fit: ∝ N^{fmt_slope(fit.slope)} (R² {fit.r_squared:.2f})",
    )


def growth_chart(
    scenario: str,
    backend: str,
    cells: Sequence[CellSummary],
    fits: Sequence[Fit],
    modes: Sequence[str],
) -> Chart | None:
    """Peak memory and total time against N, one line per mode, log-log, each point
    labelled with its value; fitted slopes where 3+ sizes were measured."""
    panels = [
        ("peak_bytes", "peak memory (median, log scale)", _BYTES, "peak memory"),
        ("total_s", "total time (median, log scale)", _SECONDS, "total time"),
    ]
    cold_of = {"peak_bytes": "cold_peak_bytes", "total_s": "cold_total_s"}
    mine = [c for c in cells if c.scenario == scenario and c.backend == backend and not c.error]
    panels = [p for p in panels if any(getattr(c, p[0]) is not None for c in mine)]
    if not panels:
        return None
    fig = Figure(figsize=(5.6 * len(panels), 4.6), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    described: list[str] = []
    unfitted = False
    for ax, (metric, ylabel, unit, what) in zip(axes, panels, strict=True):
        drawn: list[_Series] = []
        series: list[str] = []
        for i, mode in enumerate(modes):
            points = sorted(
                (c for c in mine if c.mode == mode and getattr(c, metric) is not None),
                key=lambda c: c.size,
            )
            if not points:
                continue
            colour = _colour(i)
            xs = [c.size for c in points]
            ys = [float(getattr(c, metric)) for c in points]
            lows = [getattr(c, f"{metric}_min") for c in points]
            highs = [getattr(c, f"{metric}_max") for c in points]
            yerr = [
                [
                    max(0.0, y - (lo if lo is not None else y))
                    for y, lo in zip(ys, lows, strict=True)
                ],
                [
                    max(0.0, (hi if hi is not None else y) - y)
                    for y, hi in zip(ys, highs, strict=True)
                ],
            ]
            cold = [c for c in points if getattr(c, cold_of[metric]) is not None]
            warm = ", warm" if cold else ""
            ax.errorbar(
                xs,
                ys,
                yerr=yerr,
                marker=_MARKERS[i % len(_MARKERS)],
                color=colour,
                capsize=3,
                linestyle="-",
                label=f"{_short(mode)}{warm} (median, min-max)",
            )
            drawn.append(_Series(list(map(float, xs)), ys, colour))
            text = f"{mode}{warm} {_series_text(list(zip(xs, ys, strict=True)), unit.fmt)}"
            fit = _fit_for(fits, scenario, backend, mode, metric)
            if fit is not None:
                _fit_line(ax, fit, colour, mode)
                text += f" (fitted ∝ N^{fmt_slope(fit.slope)})"
            elif len(xs) >= 2:
                unfitted = True
            series.append(text)
            if cold:
                cold_xs = [c.size for c in cold]
                cold_ys = [float(getattr(c, cold_of[metric])) for c in cold]
                ax.plot(
                    cold_xs,
                    cold_ys,
                    marker=_MARKERS[i % len(_MARKERS)],
                    markerfacecolor="none",
                    linestyle=":",
                    color=colour,
                    label=f"{_short(mode)}, cold (first read after opening)",
                )
                drawn.append(_Series(list(map(float, cold_xs)), cold_ys, colour))
                points_text = _series_text(list(zip(cold_xs, cold_ys, strict=True)), unit.fmt)
                series.append(f"{mode}, cold (first read after opening) {points_text}")
        depth = _label_points(ax, drawn, unit)
        _value_axis(ax, [y for d in drawn for y in d.ys], unit, ylabel, depth)
        _size_axis(ax, [c.size for c in mine])
        ax.set_title(f"{what} vs N")
        _legend_under(ax)  # per panel: each panel's fitted slopes are its own
        described.append(f"{what}: " + "; ".join(series))
    title = f"{scenario} on {backend_name(backend)}"
    note = f" (no fitted slope: {NO_FIT_REASON})" if unfitted else ""
    fig.suptitle(_short(f"{scenario} on {backend_name(backend)}", 60) + note)
    alt = f"{title}, log-log against N{note}. " + ". ".join(described) + "."
    return _render(fig, title, alt)


def first_event_chart(scenario: str, cells: Sequence[CellSummary]) -> Chart | None:
    """Time to the first event against N: one colour per mode, one marker per backend,
    warm runs solid and the cold first read (after opening) hollow and dotted."""
    return _seconds_chart(
        scenario,
        cells,
        warm=lambda c: c.first_event_s,
        cold=lambda c: c.cold_first_event_s,
        axis_label="time to first event (median, log scale)",
        title=f"{scenario}: time to first event vs N",
        alt_lead=f"{scenario}: median time to the first event against N, log-log. ",
        name=f"{scenario}: time to first event",
    )


def stall_chart(scenario: str, cells: Sequence[CellSummary]) -> Chart | None:
    """The event loop's longest stall per run against N: one colour per mode, one marker
    per backend (median over runs, warm)."""
    return _seconds_chart(
        scenario,
        cells,
        warm=lambda c: c.stall_max_s,
        cold=None,
        axis_label="longest event-loop stall (median of runs, log scale)",
        title=f"{scenario}: how long the event loop is held vs N",
        alt_lead=(
            f"{scenario}: the longest time the event loop could not run other tasks, "
            "against N, log-log. "
        ),
        name=f"{scenario}: event-loop stall",
    )


def _seconds_chart(
    scenario: str,
    cells: Sequence[CellSummary],
    *,
    warm: Callable[[CellSummary], float | None],
    cold: Callable[[CellSummary], float | None] | None,
    axis_label: str,
    title: str,
    alt_lead: str,
    name: str,
) -> Chart | None:
    """A duration against N, log-log: one colour per mode, one marker per backend, and
    (where ``cold`` gives figures) the cold series beside the warm one."""
    mine = [c for c in cells if c.scenario == scenario and warm(c) is not None and not c.error]
    if not mine:
        return None
    modes = list(dict.fromkeys(c.mode for c in mine))
    backends = list(dict.fromkeys(c.backend for c in mine))
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    drawn: list[_Series] = []
    described: list[str] = []
    for b, backend in enumerate(backends):
        for m, mode in enumerate(modes):
            points = sorted(
                (c for c in mine if c.backend == backend and c.mode == mode), key=lambda c: c.size
            )
            if not points:
                continue
            xs = [c.size for c in points]
            ys = [warm(c) or math.nan for c in points]
            colder = [c for c in points if cold(c) is not None] if cold else []
            label = f"{backend_name(backend)}, {mode}" + (", warm" if colder else "")
            ax.plot(
                xs,
                ys,
                marker=_MARKERS[b % len(_MARKERS)],
                linestyle=["-", "--", ":", "-."][b % 4],
                color=_colour(m),
                label=_short(label),
            )
            drawn.append(_Series(list(map(float, xs)), ys, _colour(m)))
            described.append(
                f"{label}: " + _series_text(list(zip(xs, ys, strict=True)), fmt_seconds)
            )
            if cold and colder:
                cold_xs = [c.size for c in colder]
                cold_ys = [cold(c) or math.nan for c in colder]
                label = f"{backend_name(backend)}, {mode}, cold"
                ax.plot(
                    cold_xs,
                    cold_ys,
                    marker=_MARKERS[b % len(_MARKERS)],
                    markerfacecolor="none",
                    linestyle=":",
                    color=_colour(m),
                    label=_short(label),
                )
                drawn.append(_Series(list(map(float, cold_xs)), cold_ys, _colour(m)))
                described.append(
                    f"{label} (first read after opening): "
                    + _series_text(list(zip(cold_xs, cold_ys, strict=True)), fmt_seconds)
                )
    depth = _label_points(ax, drawn, _SECONDS)
    _value_axis(ax, [y for d in drawn for y in d.ys], _SECONDS, axis_label, depth)
    _size_axis(ax, [c.size for c in mine])
    ax.set_title(_short(title, 60))
    _legend_below(fig, [ax])
    return _render(fig, name, alt_lead + ". ".join(described) + ".")


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
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    batches: set[int] = set()
    drawn: list[_Series] = []
    described: list[str] = []
    for i, ((backend, variant), by_batch) in enumerate(sorted(lines.items())):
        xs = sorted(by_batch)
        ys = [by_batch[x] for x in xs]
        batches.update(xs)
        label = backend_name(backend) + (f", {variant}" if variant else "")
        ax.plot(xs, ys, marker=_MARKERS[i % len(_MARKERS)], color=_colour(i), label=_short(label))
        drawn.append(_Series(list(map(float, xs)), ys, _colour(i)))
        described.append(
            f"{label}: "
            + ", ".join(f"{fmt_count(y)}/s in batches of {x}" for x, y in zip(xs, ys, strict=True))
        )
    depth = _label_points(ax, drawn, _RATE)
    _value_axis(
        ax,
        [y for d in drawn for y in d.ys],
        _RATE,
        "events appended per second (median, log scale)",
        depth,
    )
    _size_axis(ax, sorted(batches), label="events per append (batch size, log scale)")
    ax.set_title(_short(f"{scenario}: throughput by batch size", 60))
    _legend_below(fig, [ax])
    alt = (
        f"{scenario}: events appended per second against batch size, log-log. "
        + ". ".join(described)
        + "."
    )
    return _render(fig, f"{scenario}: throughput by batch size", alt)


_ALT_ROWS: Final = 24
"""A forest plot's alt text lists this many rows; the table beside it has them all."""


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
    height = 1.9 + 0.28 * len(rows)  # the legend sits below the plot
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
    ax.set_yticks(ys, [_short(r.label, 60) for r in rows], fontsize="small")
    ax.set_xscale("log")
    ax.set_xlabel(f"{metric_label}: head / base (median ratio, 95% CI, log scale; <1 is better)")
    ax.set_title(f"{metric_label}: head vs base")
    ax.grid(True, axis="x", alpha=0.3)
    _legend_below(fig, [ax])
    shown = [
        f"{r.label} {fmt_ratio(r.ratio)} ({fmt_ratio(r.ci_low)} to {fmt_ratio(r.ci_high)}), "
        f"{r.verdict}"
        for r in rows[:_ALT_ROWS]
    ]
    more = f"; and {len(rows) - _ALT_ROWS} more in the table" if len(rows) > _ALT_ROWS else ""
    alt = (
        f"{metric_label}: head / base median ratio per cell with 95% intervals, log scale. "
        + "; ".join(shown)
        + more
        + "."
    )
    return _render(fig, f"{metric_label}: head vs base", alt)


PHASE_SERIES: Final = "readers_active"
"""A series that marks when the measured reads ran: shaded on the other series' charts."""


def _series_scale(name: str) -> tuple[float, str]:
    if "bytes" in name:
        return 1024.0**2, f"{name} (MiB)"
    if name.endswith("_s"):
        return 1e-3, f"{name} (ms)"
    return 1.0, name


def _series_value(name: str, value: float) -> str:
    if "bytes" in name:
        return fmt_bytes(value)
    if name.endswith("_s"):
        return fmt_seconds(value)
    return fmt_count(value)


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
            described: list[str] = []
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
                    label=_short(cell.mode),
                )
                values = [p[1] for p in points]
                described.append(
                    f"{cell.mode}: {len(points)} samples over {fmt_seconds(points[-1][0])}, "
                    f"first {_series_value(name, values[0])}, "
                    f"peak {_series_value(name, max(values))}, "
                    f"last {_series_value(name, values[-1])}"
                )
                phase = [p[0] for p in series.get(PHASE_SERIES, []) if p[1] > 0]
                if phase:
                    ax.axvspan(min(phase), max(phase), color=colour, alpha=0.08)
            ax.set_xlabel("seconds into the run", fontsize="small")
            ax.set_ylabel(label, fontsize="small")
            ax.tick_params(labelsize="small")
            ax.set_ylim(bottom=0)
            ax.set_title(f"{backend_name(backend)}: {name}", fontsize="small")
            _legend_below(fig, [ax])
            alt = (
                f"{scenario} on {backend_name(backend)}: {name} over one run, per mode "
                "(shaded: while the reads ran). " + ". ".join(described) + "."
            )
            charts.append(_render(fig, f"{scenario} on {backend_name(backend)}: {name}", alt))
    return charts
