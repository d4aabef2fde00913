"""The history report: every cell's metrics across commits, change points marked.

A pure function of the series read from the history database: a self-contained HTML
page (charts embedded) and a Markdown page with the same tables.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from harness.analysis.changepoints import (
    Alarm,
    Step,
    Thresholds,
    check_series,
    find_steps,
    metric_kind,
)
from harness.history.store import Series
from harness.report import html as h
from harness.report.charts import Chart, _render
from harness.report.format import (
    fmt_bytes,
    fmt_count,
    fmt_seconds,
    md_escape,
    md_table,
    write_atomic,
)

__all__ = [
    "history_chart",
    "render_history_html",
    "render_history_markdown",
    "write_history_reports",
]

_WORSE = "#d62728"
_BETTER = "#2ca02c"


def _fmt(metric: str, value: float) -> str:
    kind = metric_kind(metric)
    if kind == "time":
        return fmt_seconds(value)
    if kind == "memory":
        return fmt_bytes(value)
    return fmt_count(value)


def _unit(metric: str, values: Sequence[float]) -> tuple[float, str]:
    kind = metric_kind(metric)
    top = max(values) if values else 1.0
    if kind == "time":
        return (1e-3, "ms") if top < 1 else (1.0, "s")
    if kind == "memory":
        return (1024.0, "KiB") if top < 1024**2 else (1024.0**2, "MiB")
    return (1e6, "millions") if top >= 1e6 else (1.0, "count")


def history_chart(series: Series, steps: Sequence[Step]) -> Chart:
    """One small chart: the metric per commit, dashed lines where a step starts."""
    scale, unit = _unit(series.metric, series.values)
    fig = Figure(figsize=(4.6, 2.4))
    ax = fig.add_subplot()
    xs = series.orders
    ax.plot(xs, [v / scale for v in series.values], marker="o", markersize=3, linewidth=1)
    bounds = [0, *(s.index for s in steps), len(xs)]
    for start, end in itertools.pairwise(bounds):
        level = statistics.median(series.values[start:end]) / scale
        ax.hlines(level, xs[start], xs[end - 1], colors="#7f7f7f", linewidth=1.5, alpha=0.7)
    for step in steps:
        colour = _WORSE if step.worse else _BETTER
        ax.axvline(xs[step.index] - 0.5, color=colour, linestyle="--", linewidth=1.2)
        ax.annotate(
            f"{step.change:+.1%}",
            (xs[step.index], step.after / scale),
            color=colour,
            fontsize=8,
            xytext=(3, 4),
            textcoords="offset points",
        )
    ax.set_xlabel("commit (first-parent order)", fontsize=8)
    ax.set_ylabel(f"{series.metric} ({unit})", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, alpha=0.3)
    title = f"{series.cell} · {series.metric}"
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    found = ", ".join(f"{s.change:+.1%} at {s.commit[:12]}" for s in steps) or "no step"
    alt = f"{series.metric} of {series.cell} over {len(xs)} commits: {found}"
    return _render(fig, title, alt)


def _analyse(
    series: Sequence[Series], thresholds: Thresholds
) -> list[tuple[Series, list[Step], Alarm | None]]:
    return [(s, find_steps(s, thresholds), check_series(s, thresholds)) for s in series]


def _step_rows(analysed: Sequence[tuple[Series, list[Step], Alarm | None]]) -> list[list[str]]:
    rows = []
    for s, steps, _ in analysed:
        for step in steps:
            rows.append(
                [
                    s.cell,
                    s.metric,
                    step.commit[:12],
                    f"#{s.orders[step.index]} {s.subjects[step.index]}",
                    f"{_fmt(s.metric, step.before)} → {_fmt(s.metric, step.after)}",
                    f"{step.change:+.1%}",
                    "worse" if step.worse else "better",
                ]
            )
    return rows


_STEP_HEADERS = ["cell", "metric", "first commit", "commit", "level", "change", ""]


def _lead(analysed: Sequence[tuple[Series, list[Step], Alarm | None]]) -> list[str]:
    alarms = [a for _, _, a in analysed if a is not None]
    commits = len({c for s, _, _ in analysed for c in s.commits})
    if not alarms:
        return [f"No lasting regression in {len(analysed)} series across {commits} commits."]
    return [
        f"{s.cell} {s.metric}: {a.change:+.1%} since commit {a.step.commit[:12]} "
        f"(#{s.orders[a.step.index]}), still worse at the newest commit."
        for s, _, a in analysed
        if a is not None
    ]


def render_history_markdown(series: Sequence[Series], thresholds: Thresholds) -> str:
    analysed = _analyse(series, thresholds)
    lines = ["# eventbench history", ""]
    lines += [f"- {md_escape(text)}" for text in _lead(analysed)]
    lines += ["", "## Change points", ""]
    rows = _step_rows(analysed)
    if rows:
        lines += md_table(_STEP_HEADERS, rows)
    else:
        lines.append("None beyond the minimum effects.")
    lines += ["", "## Series", ""]
    lines += md_table(
        ["cell", "metric", "commits", "first", "newest", "steps"],
        [
            [
                s.cell,
                s.metric,
                str(len(s.values)),
                _fmt(s.metric, s.values[0]),
                _fmt(s.metric, s.values[-1]),
                str(len(steps)),
            ]
            for s, steps, _ in analysed
        ],
    )
    lines += ["", _settings(thresholds), ""]
    return "\n".join(lines)


def _settings(thresholds: Thresholds) -> str:
    return (
        "Change points: E-Divisive (signal-processing-algorithms) on log values, p < "
        f"{thresholds.time_pvalue} for times and {thresholds.pvalue} otherwise, "
        f"{thresholds.permutations} permutations; minimum effects: time "
        f"{thresholds.time:.0%}, memory {thresholds.memory:.0%}, counts {thresholds.count:.0%}."
    )


def render_history_html(series: Sequence[Series], thresholds: Thresholds, source: str = "") -> str:
    analysed = _analyse(series, thresholds)
    alarms = any(a is not None for _, _, a in analysed)
    parts: list[object] = [
        h.tag("h1", "eventbench history"),
        h.tag("p", f"From {source}." if source else "", cls="muted"),
        h.tag(
            "ul",
            *(h.tag("li", text, cls="bad" if alarms else "good") for text in _lead(analysed)),
            cls="lead",
        ),
        h.tag("h2", "Change points"),
    ]
    rows = _step_rows(analysed)
    parts.append(h.table(_STEP_HEADERS, rows) if rows else h.tag("p", "None."))
    parts.append(h.tag("h2", "Series"))
    by_cell: dict[str, list[tuple[Series, list[Step]]]] = {}
    for s, steps, _ in analysed:
        by_cell.setdefault(s.cell, []).append((s, steps))
    for cell, members in by_cell.items():
        parts.append(h.tag("h3", cell))
        parts.extend(h.figure(history_chart(s, steps)) for s, steps in members)
    parts.append(h.tag("p", _settings(thresholds), cls="muted"))
    return h.page("eventbench history", h.join(parts))


def write_history_reports(
    series: Sequence[Series], thresholds: Thresholds, out_dir: Path, *, source: str = ""
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        write_atomic(out_dir / "history.html", render_history_html(series, thresholds, source)),
        write_atomic(out_dir / "history.md", render_history_markdown(series, thresholds)),
    ]
