"""The report of one run: the answer first, then the tables, then where it was measured."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.report import html as h
from harness.report.charts import (
    Chart,
    append_chart,
    first_event_chart,
    growth_chart,
    series_charts,
    stall_chart,
)
from harness.report.format import (
    backend_name,
    fmt_bytes,
    fmt_count,
    fmt_figure,
    fmt_relative,
    fmt_seconds,
    fmt_size,
    fmt_slope,
    fmt_span,
    md_escape,
    md_table,
    write_atomic,
)
from harness.report.summary import (
    FLOOR_MODE,
    CellSummary,
    RunSummary,
    append_series,
    mode_pair,
    summarize,
)
from harness.results import Cell, Environment, RunResults

__all__ = ["render_html", "render_markdown", "summary_document", "write_reports"]

PAIR_HEADERS = [
    "scenario",
    "backend",
    "N",
    "memory",
    "time",
    "first event",
    "peak (warm)",
    "peak (cold)",
    "total time",
    "longest loop stall",
]
PAIR_NOTE = (
    'Every ratio is streamed ÷ collected ("0.43x the time, 1/550 the memory"): '
    "below 1x, or 1/n, streaming needed less. The figures beside them read streamed vs "
    "collected; warm is after warm-up, cold the first read after the store opened."
)
SETTINGS_HEADERS = ["backend", "setting", "value"]
FLOOR_NOTE = (
    "vs floor: the cell's total time over the floor's, at the same backend and N. The "
    "floor reads the same rows with the bare driver alone (SQLite: sqlite3's fetchmany; "
    "PostgreSQL: asyncpg's plain fetch of keyset pages), no store and no decoding, so "
    '"1.90x" is how far a mode is from what the rows cost to fetch at all. The floor '
    "blocks the event loop for SQLite (a synchronous driver): its loop stall is no target."
)
FIT_HEADERS = ["scenario", "backend", "mode", "metric", "slope", "R²", "sizes"]
FIT_NOTE = (
    "Slope of a least-squares line through the medians on log-log axes: "
    "about 1 means linear in N, about 0 means flat."
)


def _cell_table(cells: Sequence[CellSummary]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of a scenario's table; latency and counter columns only if any."""
    latency = any(c.latency_p50_s is not None for c in cells)
    counters = sorted({name for c in cells for name in c.counters})
    cold = any(c.cold_first_event_s is not None or c.cold_peak_bytes is not None for c in cells)
    stall = any(c.stall_max_s is not None for c in cells)
    allocated = any(c.allocated_bytes is not None for c in cells)
    instructions = any(c.instructions is not None for c in cells)
    warm = " (warm)" if cold else ""
    headers = ["backend", "mode", "N", "total time", "min-max", "vs floor"]
    headers.append(f"first event{warm}")
    headers += ["first event (cold)"] if cold else []
    headers.append("events/s")
    if latency:
        headers += ["latency p50", "latency p99"]
    if stall:
        headers += ["loop stall max", "loop stall p99"]
    headers += [*(f"{name} (median)" for name in counters), f"peak memory{warm}"]
    headers += ["peak memory (cold)"] if cold else []
    headers.append("allocations")
    headers += ["allocated"] if allocated else []
    headers += ["instructions", "instructions/event"] if instructions else []
    headers.append("runs: time/memory")
    rows = []
    for c in cells:
        spread = (
            fmt_span(fmt_seconds(c.total_s_min), fmt_seconds(c.total_s_max))
            if c.total_s_min is not None
            else "-"
        )
        row = [
            backend_name(c.backend),
            c.mode,
            fmt_size(c.size),
            fmt_seconds(c.total_s),
            spread,
            _vs_floor(c),
            fmt_seconds(c.first_event_s),
        ]
        row += [fmt_seconds(c.cold_first_event_s)] if cold else []
        row.append(fmt_count(c.events_per_s))  # the header says events/s
        if latency:
            row += [fmt_seconds(c.latency_p50_s), fmt_seconds(c.latency_p99_s)]
        if stall:
            row += [fmt_seconds(c.stall_max_s), fmt_seconds(c.stall_p99_s)]
        row += [fmt_figure(name, c.counters.get(name)) for name in counters]
        row.append(fmt_bytes(c.peak_bytes))
        row += [fmt_bytes(c.cold_peak_bytes)] if cold else []
        row.append(fmt_count(c.allocations))
        row += [fmt_bytes(c.allocated_bytes)] if allocated else []
        if instructions:
            row += [fmt_count(c.instructions), fmt_count(c.instructions_per_event)]
        row.append(f"{c.time_runs}/{c.memory_runs}" if not c.error else "failed (see Failures)")
        rows.append(row)
    return _without_empty_columns(headers, rows)


def _vs_floor(cell: CellSummary) -> str:
    """ "1.90x" (this cell's time over the floor's), "the floor" on the floor cell, "-"
    where no floor was measured (the column then goes)."""
    if cell.floor_ratio is None:
        return "-"
    return "the floor" if cell.mode == FLOOR_MODE else fmt_relative(cell.floor_ratio)


def _without_empty_columns(
    headers: list[str], rows: list[list[str]]
) -> tuple[list[str], list[list[str]]]:
    """A column with nothing in it (appends have no first event, time-only cells no
    peak, runs without cold reads no cold peak) only widens the table; the first three
    columns name the row and stay."""
    empty = {"-", "- vs -"}
    keep = [i for i in range(len(headers)) if i < 3 or any(r[i] not in empty for r in rows)]
    return [headers[i] for i in keep], [[r[i] for i in keep] for r in rows]


def _pair_table(summary: RunSummary) -> tuple[list[str], list[list[str]]]:
    rows = [
        [
            p.scenario,
            backend_name(p.backend),
            fmt_size(p.size),
            fmt_relative(p.memory_ratio),
            fmt_relative(p.time_ratio),
            fmt_relative(p.first_event_ratio),
            f"{fmt_bytes(p.streamed_peak)} vs {fmt_bytes(p.collected_peak)}",
            f"{fmt_bytes(p.streamed_cold_peak)} vs {fmt_bytes(p.collected_cold_peak)}",
            f"{fmt_seconds(p.streamed_total)} vs {fmt_seconds(p.collected_total)}",
            f"{fmt_seconds(p.streamed_stall)} vs {fmt_seconds(p.collected_stall)}",
        ]
        for p in summary.pairs
    ]
    return _without_empty_columns(PAIR_HEADERS, rows)


def _settings_rows(summary: RunSummary) -> list[list[str]]:
    """Each backend's settings as its cells reported them; values that differ between a
    backend's cells are all listed (they should not, within one run)."""
    rows = []
    for backend in summary.backends:
        values: dict[str, list[str]] = {}
        for cell in summary.cells:
            if cell.backend != backend:
                continue
            for name, value in cell.settings.items():
                if value not in values.setdefault(name, []):
                    values[name].append(value)
        rows += [[backend_name(backend), k, " / ".join(v)] for k, v in sorted(values.items())]
    return rows


SETTINGS_NOTE = (
    "Every store and server setting that can move a figure, as each store reported it. "
    "Peak memory and first-event figures are warm (after warm-up) unless marked cold "
    "(the first read after the store opened). Instructions count the client process only "
    "(on PostgreSQL, not the server's work)."
)


def _fit_rows(summary: RunSummary) -> list[list[str]]:
    return [
        [
            f.scenario,
            backend_name(f.backend),
            f.mode,
            "peak memory" if f.metric == "peak_bytes" else "total time",
            fmt_slope(f.slope),
            f"{f.r_squared:.2f}",
            ", ".join(fmt_size(n) for n in f.sizes),
        ]
        for f in summary.fits
    ]


SERIES_HEADERS = ["backend", "mode", "series", "first", "peak", "last"]


def _series_rows(cells: Sequence[Cell], scenario: str) -> list[list[str]]:
    """First, peak and last value of each time series of a scenario's cells."""
    rows = []
    for cell in cells:
        if cell.scenario != scenario or not cell.series:
            continue
        for name, points in sorted(cell.series.items()):
            if not points:
                continue
            values = [p[1] for p in points]
            rows.append(
                [
                    backend_name(cell.backend),
                    cell.mode,
                    name,
                    fmt_figure(name, values[0]),
                    fmt_figure(name, max(values)),
                    fmt_figure(name, values[-1]),
                ]
            )
    return rows


def _scenario_cells(summary: RunSummary, scenario: str) -> list[CellSummary]:
    order = {b: i for i, b in enumerate(summary.backends)}
    return sorted(
        (c for c in summary.cells if c.scenario == scenario),
        key=lambda c: (order[c.backend], c.mode, c.size),
    )


def _scenario_summary(name: str) -> str | None:
    """The scenario's one-line description, when this eventbench still knows it."""
    try:
        from scenarios import get_scenario

        return get_scenario(name).summary
    except Exception:  # a report must render from the JSON alone, whatever the scenario
        return None


def _environment_rows(results: RunResults) -> list[list[str]]:
    env: Environment = results.environment
    commit = env.git_commit or "unknown"
    if env.git_dirty:
        commit += " (with uncommitted changes)"
    rows = [
        ["machine", f"{env.hostname}: {env.cpu_model}, {env.cpu_count} CPUs, {env.machine}"],
        ["memory", fmt_bytes(env.memory_bytes)],
        ["platform", env.platform],
        ["Python", env.python],
        ["git commit", commit],
        ["started", results.started_at or "-"],
        ["finished", results.finished_at or "-"],
        ["duration", fmt_seconds(results.duration_s)],
        ["schema version", str(results.schema_version)],
    ]
    rows += [[f"server: {backend_name(k)}", v] for k, v in sorted(env.servers.items())]
    rows += [[f"package: {k}", v] for k, v in sorted(env.packages.items())]
    return rows


# --------------------------------------------------------------------------- Markdown


def render_markdown(results: RunResults, summary: RunSummary | None = None) -> str:
    summary = summary or summarize(results)
    env = results.environment
    lines = ["# eventbench report", "", f"**{md_escape(summary.lead)}**", ""]
    lines += [f"- {md_escape(s)}" for s in summary.headline if s != summary.lead] + [""]
    lines.append(
        f"_{len(summary.cells)} cells: {md_escape(', '.join(summary.scenarios))} on "
        f"{md_escape(', '.join(backend_name(b) for b in summary.backends))}; "
        f"{md_escape(env.hostname)}, Python {md_escape(env.python)}, commit "
        f"{md_escape((env.git_commit or 'unknown')[:12])}"
        f"{' (dirty)' if env.git_dirty else ''}. Charts are in the HTML report._"
    )
    lines.append("")
    if summary.pairs:
        lines += ["## Streamed vs collected", "", PAIR_NOTE, ""]
        lines += md_table(*_pair_table(summary))
    for scenario in summary.scenarios:
        lines += [f"## {md_escape(scenario)}", ""]
        if about := _scenario_summary(scenario):
            lines += [f"_{md_escape(about)}_", ""]
        cells = _scenario_cells(summary, scenario)
        lines += md_table(*_cell_table(cells))
        if any(c.floor_ratio is not None for c in cells):
            lines += [f"_{md_escape(FLOOR_NOTE)}_", ""]
        if series := _series_rows(results.cells, scenario):
            lines += ["Over one run (time series; the charts are in the HTML report):", ""]
            lines += md_table(SERIES_HEADERS, series)
    if summary.fits or summary.unfitted:
        lines += ["## Growth with N", "", FIT_NOTE, ""]
        if summary.fits:
            lines += md_table(FIT_HEADERS, _fit_rows(summary))
        if unfitted := summary.unfitted_sentence():
            lines += [md_escape(unfitted), ""]
    if settings := _settings_rows(summary):
        lines += ["## Settings", "", f"_{md_escape(SETTINGS_NOTE)}_", ""]
        lines += md_table(SETTINGS_HEADERS, settings)
    if summary.failed:
        lines += ["## Failures", ""]
        lines += [
            f"- {md_escape('/'.join(map(str, c.key)))}: {md_escape(c.error)}"
            for c in summary.failed
        ]
        lines.append("")
    lines += ["## Machine and versions", ""]
    lines += md_table(["", ""], _environment_rows(results))
    lines += [
        "<details><summary>Parameters</summary>",
        "",
        "```json",
        # Inside a fenced block Markdown shows text verbatim; only a fence could end it.
        json.dumps(results.parameters, indent=1, default=str).replace("```", "'''"),
        "```",
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- HTML


def _charts_for(results: RunResults, summary: RunSummary, scenario: str) -> list[Chart]:
    charts: list[Chart] = []
    raw = [c for c in results.cells if c.scenario == scenario]
    mine = [s for s in summary.cells if s.scenario == scenario]
    is_append = any(append_series(c) is not None for c in raw)
    if is_append:
        chart = append_chart(scenario, raw, mine)
        if chart:
            charts.append(chart)
    modes = list(dict.fromkeys(c.mode for c in mine))
    pair = mode_pair(modes)
    if pair is not None:  # collected first, streamed second: same colours on every chart
        modes = [*pair, *(m for m in modes if m not in pair)]
    if not is_append:
        for backend in summary.backends:
            chart = growth_chart(scenario, backend, mine, summary.fits, modes)
            if chart:
                charts.append(chart)
        chart = first_event_chart(scenario, mine)
        if chart:
            charts.append(chart)
        chart = stall_chart(scenario, mine)
        if chart:
            charts.append(chart)
    return charts


def render_html(results: RunResults, summary: RunSummary | None = None) -> str:
    summary = summary or summarize(results)
    env = results.environment
    parts: list[h.Safe] = [
        h.tag("h1", "eventbench report"),
        # A streamed read that does not stream is a warning, and looks like one.
        h.tag("p", summary.lead, cls="headline bad" if summary.not_streaming else "headline"),
        h.tag(
            "ul",
            *(h.tag("li", s) for s in summary.headline if s != summary.lead),
            cls="lead",
        ),
        h.tag(
            "p",
            f"{len(summary.cells)} cells · {', '.join(summary.scenarios)} on "
            f"{', '.join(backend_name(b) for b in summary.backends)} · {env.hostname} · "
            f"commit {(env.git_commit or 'unknown')[:12]}{' (dirty)' if env.git_dirty else ''}"
            f" · {results.started_at or ''}",
            cls="muted",
        ),
    ]
    if summary.pairs:
        parts += [
            h.tag("h2", "Streamed vs collected"),
            h.tag("p", PAIR_NOTE),
            h.table(*_pair_table(summary), numeric_from=2),
        ]
    for scenario in summary.scenarios:
        parts.append(h.tag("h2", scenario))
        if about := _scenario_summary(scenario):
            parts.append(h.tag("p", about, cls="muted"))
        parts += [h.figure(c) for c in _charts_for(results, summary, scenario)]
        cells = _scenario_cells(summary, scenario)
        parts.append(h.table(*_cell_table(cells), numeric_from=2))
        if any(c.floor_ratio is not None for c in cells):
            parts.append(h.tag("p", FLOOR_NOTE, cls="muted"))
        if series := _series_rows(results.cells, scenario):
            parts.append(h.tag("h3", f"{scenario} over one run"))
            parts += [h.figure(c) for c in series_charts(scenario, results.cells)]
            parts.append(h.table(SERIES_HEADERS, series, numeric_from=3))
    if summary.fits or summary.unfitted:
        parts += [h.tag("h2", "Growth with N"), h.tag("p", FIT_NOTE)]
        if summary.fits:
            parts.append(h.table(FIT_HEADERS, _fit_rows(summary), numeric_from=4))
        if unfitted := summary.unfitted_sentence():
            parts.append(h.tag("p", unfitted))
    if settings := _settings_rows(summary):
        parts += [
            h.tag("h2", "Settings"),
            h.tag("p", SETTINGS_NOTE, cls="muted"),
            h.table(SETTINGS_HEADERS, settings),
        ]
    if summary.failed:
        parts += [
            h.tag("h2", "Failures"),
            h.tag(
                "ul",
                *(
                    h.tag("li", h.tag("code", "/".join(map(str, c.key))), ": ", c.error or "")
                    for c in summary.failed
                ),
            ),
        ]
    parts += [
        h.tag("h2", "Machine and versions"),
        h.table(["", ""], _environment_rows(results)),
        h.tag(
            "details",
            h.tag("summary", "Parameters"),
            h.tag("pre", json.dumps(results.parameters, indent=1, default=str)),
        ),
    ]
    return h.page("eventbench report", h.join(parts, "\n"))


# --------------------------------------------------------------------------- JSON, files


def summary_document(results: RunResults, summary: RunSummary | None = None) -> dict[str, Any]:
    summary = summary or summarize(results)
    env = results.environment
    return {
        "kind": "eventbench.summary",
        # 2: ratios all streamed/collected (memory_ratio, first_event_ratio), "lead",
        # "unfitted" and "not_streaming"; fits need three sizes.
        # 3: "vs_floor" and each cell's "floor_ratio" (time over the floor's).
        "version": 3,
        "results_schema_version": results.schema_version,
        **summary.to_json(),
        "environment": {
            "hostname": env.hostname,
            "cpu_model": env.cpu_model,
            "cpu_count": env.cpu_count,
            "python": env.python,
            "git_commit": env.git_commit,
            "git_dirty": env.git_dirty,
            "servers": env.servers,
            "packages": env.packages,
        },
        "started_at": results.started_at,
        "finished_at": results.finished_at,
        "duration_s": results.duration_s,
        "interrupted": results.interrupted,
    }


def write_reports(results: RunResults, out_dir: Path, stem: str) -> list[Path]:
    """Write ``<stem>.md``, ``<stem>.html`` and ``<stem>.summary.json`` into ``out_dir``.

    Returns the paths written, in that order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(results)
    return [
        write_atomic(out_dir / f"{stem}.md", render_markdown(results, summary)),
        write_atomic(out_dir / f"{stem}.html", render_html(results, summary)),
        write_atomic(
            out_dir / f"{stem}.summary.json",
            json.dumps(summary_document(results, summary), indent=1, allow_nan=False) + "\n",
        ),
    ]
