"""The report of a before/after comparison: the verdict first, then the evidence."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from harness.analysis.compare import (
    METRICS,
    PAIRED_FROM,
    CellComparison,
    Comparison,
    MetricComparison,
    Verdict,
)
from harness.report import html as h
from harness.report.charts import Chart, RatioRow, ratio_chart
from harness.report.format import (
    backend_name,
    fmt_bytes,
    fmt_count,
    fmt_ratio,
    fmt_seconds,
    fmt_size,
    json_safe,
    md_escape,
    md_table,
    write_atomic,
)
from harness.results import Environment

__all__ = [
    "comparison_headline",
    "render_comparison_html",
    "render_comparison_markdown",
    "write_comparison_reports",
]

_METRIC: Final = {m.name: m for m in METRICS}
_VERDICT_CLASS: Final = {
    "regressed": "bad",
    "improved": "good",
    "inconclusive": "meh",
    "unchanged": "muted",
}


def _value(metric: str, value: float) -> str:
    unit = _METRIC[metric].unit if metric in _METRIC else ""
    if unit == "B":
        return fmt_bytes(value)
    if unit == "s":
        return fmt_seconds(value)
    return fmt_count(value)


def _label(metric: str) -> str:
    return _METRIC[metric].label if metric in _METRIC else metric


def _interval(m: MetricComparison) -> str:
    if not (math.isfinite(m.ci_low) and math.isfinite(m.ci_high)):
        return "-"
    return f"{m.ci_low:.3f}-{m.ci_high:.3f}"


def _cell_label(c: CellComparison) -> str:
    return f"{c.scenario}/{c.backend}/{c.mode}/{fmt_size(c.size)}"


def _change(m: MetricComparison) -> str:
    if not math.isfinite(m.ratio):
        return "from zero"
    return f"{m.ratio - 1:+.1%}"


def _finding(c: CellComparison, verdict: Verdict) -> str:
    """ "read-stream/sqlite/streamed/100K: peak memory +35.0% (1.2 MiB -> 1.6 MiB)"."""
    if c.failure and not c.metrics:
        return f"{_cell_label(c)}: failed ({c.failure})"
    parts = [
        f"{_label(m.metric)} {_change(m)} "
        f"({_value(m.metric, m.base_median)} -> {_value(m.metric, m.head_median)})"
        for m in c.metrics
        if m.verdict is verdict
    ]
    return f"{_cell_label(c)}: {'; '.join(parts)}"


def comparison_headline(comparison: Comparison) -> list[str]:
    """Plain-text sentences, the verdict first."""
    counts = comparison.counts()
    tally = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    lines = []
    regressions = comparison.regressions
    if regressions:
        lines.append(
            f"REGRESSION: {len(regressions)} of {len(comparison.cells)} cells got worse ({tally})."
        )
        lines += [_finding(c, Verdict.REGRESSED) for c in regressions[:10]]
        if len(regressions) > 10:
            lines.append(f"... and {len(regressions) - 10} more regressions in the tables.")
    else:
        lines.append(f"No regression in {len(comparison.cells)} cells ({tally}).")
    lines += list(comparison.too_few_rounds)
    lines += list(comparison.missing_metrics)
    improvements = comparison.improvements
    lines += [_finding(c, Verdict.IMPROVED) for c in improvements[:5]]
    if len(improvements) > 5:
        lines.append(f"... and {len(improvements) - 5} more improvements in the tables.")
    if comparison.overall:
        overall = ", ".join(
            f"{_label(m)} {fmt_ratio(v)}"
            for m, v in sorted(comparison.overall.items(), key=lambda kv: _order(kv[0]))
            if math.isfinite(v)
        )
        lines.append(f"Geometric mean of head/base over all cells: {overall}.")
    return lines


def _order(metric: str) -> int:
    return [m.name for m in METRICS].index(metric) if metric in _METRIC else 99


CELL_HEADERS = [
    "scenario",
    "backend",
    "mode",
    "N",
    "metric",
    "base",
    "head",
    "head/base",
    "CI",
    "rounds",
    "p",
    "min. effect",
    "verdict",
    "why",
]


def _cell_rows(cells: Sequence[CellComparison]) -> list[list[str]]:
    rows = []
    for c in cells:
        if not c.metrics:
            rows.append(
                [
                    c.scenario,
                    c.backend,
                    c.mode,
                    fmt_size(c.size),
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    c.verdict.value,
                    c.failure or "",
                ]
            )
        for m in c.metrics:
            rows.append(
                [
                    c.scenario,
                    c.backend,
                    c.mode,
                    fmt_size(c.size),
                    _label(m.metric),
                    _value(m.metric, m.base_median),
                    _value(m.metric, m.head_median),
                    fmt_ratio(m.ratio),
                    _interval(m),
                    f"{len(m.base_rounds)} vs {len(m.head_rounds)}",
                    "-" if m.p_value is None else f"{m.p_value:.3g}",
                    f"{m.minimum_effect:.1%}",
                    m.verdict.value,
                    m.reason + (f"; {c.failure}" if c.failure else ""),
                ]
            )
    return rows


GROUP_HEADERS = ["scenario", "backend", "metric", "geometric mean head/base", "cells", "verdicts"]


def _group_rows(comparison: Comparison) -> list[list[str]]:
    return [
        [
            g.scenario,
            backend_name(g.backend),
            _label(g.metric),
            fmt_ratio(g.geometric_mean),
            str(g.cells),
            ", ".join(f"{n} {v}" for v, n in g.counts.items() if n),
        ]
        for g in comparison.groups
    ]


_ENV_FIELDS: Final = (
    "hostname",
    "cpu_model",
    "cpu_count",
    "memory_bytes",
    "platform",
    "python",
    "git_commit",
    "git_dirty",
)


def _env_rows(base: Environment, head: Environment) -> list[list[str]]:
    rows = [[f, str(getattr(base, f)), str(getattr(head, f))] for f in _ENV_FIELDS]
    for kind, b, hd in (
        ("server", base.servers, head.servers),
        ("package", base.packages, head.packages),
    ):
        rows += [
            [f"{kind}: {name}", b.get(name, "absent"), hd.get(name, "absent")]
            for name in sorted(set(b) | set(hd))
        ]
    return rows


def _thresholds_text(comparison: Comparison) -> str:
    t = comparison.thresholds
    floor = f", at least {fmt_bytes(t.memory_floor_bytes)}" if t.memory_floor_bytes else ""
    return (
        "Each round is a fresh worker process, and the rounds are the observations: one "
        "figure per round (the median of its repeats; for time the fastest, as load only "
        "adds time). head/base is the median ratio over "
        f"every pair of rounds, with its exact {t.confidence:.0%} rank (Mann-Whitney) "
        f"interval; in an interleaved run of {PAIRED_FROM}+ rounds a side, over the rounds "
        "measured side by side, with the exact signed-rank interval. Time is judged as "
        f"wall and as CPU time. Minimum effect: {t.time:.0%} for time; {t.memory:.0%}{floor} for "
        f"memory and {t.count:.0%} for counts, raised to the cell's own spread between "
        "processes. Ratios are head/base: below 1 is better."
    )


# --------------------------------------------------------------------------- Markdown


def render_comparison_markdown(comparison: Comparison) -> str:
    c = comparison
    lines = [f"# eventbench comparison: {md_escape(c.head_label)} vs {md_escape(c.base_label)}", ""]
    headline = comparison_headline(c)
    lines += [f"**{md_escape(headline[0])}**", ""]
    lines += [f"- {md_escape(s)}" for s in headline[1:]] + [""]
    if c.warnings:
        lines += [f"> Warning: {md_escape(w)}" for w in c.warnings]
        lines.append("")
    lines += [md_escape(_thresholds_text(c)), ""]
    notable = [x for x in c.cells if x.verdict in (Verdict.REGRESSED, Verdict.IMPROVED)]
    if notable:
        lines += ["## Regressions and improvements", ""]
        lines += md_table(CELL_HEADERS, _cell_rows(notable))
    lines += ["## By group", ""]
    lines += md_table(GROUP_HEADERS, _group_rows(c))
    lines += ["<details><summary>Every cell</summary>", ""]
    lines += md_table(CELL_HEADERS, _cell_rows(c.cells))
    lines += ["</details>", ""]
    for label, keys in (("Only in base", c.only_in_base), ("Only in head", c.only_in_head)):
        if keys:
            lines += [f"## {label}", ""]
            lines += [f"- {md_escape('/'.join(map(str, k)))}" for k in keys] + [""]
    lines += ["## Machines and versions", ""]
    lines += md_table(
        ["", md_escape(c.base_label), md_escape(c.head_label)], _env_rows(c.base, c.head)
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------- HTML


def _charts(comparison: Comparison) -> list[Chart]:
    charts = []
    for metric in METRICS:
        rows = [
            RatioRow(
                label=f"{_cell_label(c)}",
                ratio=m.ratio,
                ci_low=m.ci_low,
                ci_high=m.ci_high,
                minimum_effect=m.minimum_effect,
                verdict=m.verdict.value,
            )
            for c in comparison.cells
            for m in c.metrics
            if m.metric == metric.name
        ]
        chart = ratio_chart(metric.label, rows)
        if chart:
            charts.append(chart)
    return charts


def _html_cell_table(cells: Sequence[CellComparison]) -> h.Safe:
    rows: list[list[object]] = []
    for row in _cell_rows(cells):
        verdict = row[12]
        rows.append([*row[:12], h.tag("span", verdict, cls=_VERDICT_CLASS[verdict]), row[13]])
    return h.table(CELL_HEADERS, rows)


def render_comparison_html(comparison: Comparison) -> str:
    c = comparison
    headline = comparison_headline(c)
    title = f"eventbench comparison: {c.head_label} vs {c.base_label}"
    parts: list[h.Safe] = [
        h.tag("h1", title),
        h.tag("p", headline[0], cls="lead " + ("bad" if c.has_regression else "good")),
    ]
    if len(headline) > 1:
        parts.append(h.tag("ul", *(h.tag("li", s) for s in headline[1:])))
    parts += [h.tag("p", w, cls="warn") for w in c.warnings]
    parts.append(h.tag("p", _thresholds_text(c), cls="muted"))
    notable = [x for x in c.cells if x.verdict in (Verdict.REGRESSED, Verdict.IMPROVED)]
    if notable:
        parts += [h.tag("h2", "Regressions and improvements"), _html_cell_table(notable)]
    parts += [h.tag("h2", "Ratios"), *(h.figure(ch) for ch in _charts(c))]
    parts += [h.tag("h2", "By group"), h.table(GROUP_HEADERS, _group_rows(c), numeric_from=3)]
    parts += [h.tag("h2", "Every cell"), _html_cell_table(c.cells)]
    for label, keys in (("Only in base", c.only_in_base), ("Only in head", c.only_in_head)):
        if keys:
            parts += [
                h.tag("h2", label),
                h.tag("ul", *(h.tag("li", "/".join(map(str, k))) for k in keys)),
            ]
    parts += [
        h.tag("h2", "Machines and versions"),
        h.table(["", c.base_label, c.head_label], _env_rows(c.base, c.head)),
    ]
    return h.page(title, h.join(parts, "\n"))


# --------------------------------------------------------------------------- files


def _json_document(comparison: Comparison) -> dict[str, Any]:
    doc = {**comparison.to_json(), "headline": comparison_headline(comparison)}
    return dict(json_safe(doc))


def write_comparison_reports(comparison: Comparison, out_dir: Path, stem: str) -> list[Path]:
    """Write ``<stem>.md``, ``<stem>.html`` and ``<stem>.json``; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        write_atomic(out_dir / f"{stem}.md", render_comparison_markdown(comparison)),
        write_atomic(out_dir / f"{stem}.html", render_comparison_html(comparison)),
        write_atomic(
            out_dir / f"{stem}.json",
            json.dumps(_json_document(comparison), indent=1, allow_nan=False) + "\n",
        ),
    ]
