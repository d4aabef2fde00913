"""Run reports: what they say first, what they contain, and that results text is escaped."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from results_factory import MiB, environment, make_results

from harness.cli import main
from harness.report import write_reports
from harness.report.format import (
    fmt_bytes,
    fmt_ratio,
    fmt_relative,
    fmt_seconds,
    fmt_size,
    md_escape,
)
from harness.report.run import render_html, render_markdown, summary_document
from harness.report.summary import append_series, mode_pair, summarize
from harness.results import (
    Cell,
    ColdSamples,
    MemorySamples,
    RunResults,
    TimeSamples,
    save_results,
)


def read_cell(backend: str, mode: str, size: int, total: float, peak: int, first: float) -> Cell:
    return Cell(
        scenario="read-stream",
        backend=backend,
        mode=mode,
        size=size,
        params={},
        time=TimeSamples(total_s=[total] * 3, first_event_s=[first] * 3, events=size, warmups=1),
        memory=MemorySamples(peak_bytes=[peak] * 2, allocations=[size] * 2),
    )


def test_the_report_leads_with_the_answer(tmp_path: Path) -> None:
    results = RunResults(
        environment=environment(),
        parameters={},
        cells=[
            read_cell("postgres", "collected", 1_000_000, 2.00, 430 * MiB, 1.9),
            read_cell("postgres", "streamed", 1_000_000, 2.08, 10 * MiB, 0.0012),
        ],
    )
    md, html_path, _ = write_reports(results, tmp_path, "run")
    text = md.read_text()
    # One sentence first, then the findings, every ratio streamed vs collected.
    assert text.splitlines()[2] == (
        "**Streamed vs collected at 1M events: 1/43 the memory and 1.04x the time "
        "(read-stream on PostgreSQL).**"
    )
    first_bullet = next(line for line in text.splitlines() if line.startswith("- "))
    assert first_bullet == (
        "- read-stream, 1M events on PostgreSQL, streamed vs collected: 1/43 the memory "
        "(10.0 MiB vs 430 MiB), 1.04x the time (2.08 s vs 2.00 s) and 1/1600 the wait for "
        "the first event (1.20 ms vs 1.90 s)."
    )
    # The answer, then the tables, then the machine.
    assert text.index("1/43 the") < text.index("| backend |") < text.index("Machine and versions")
    page = html_path.read_text()
    assert page.index("1/43 the") < page.index("<table") < page.index("Machine and versions")
    assert '<p class="headline">Streamed vs collected at 1M events' in page
    # Parameters are folded in the HTML, as in the Markdown.
    assert re.search(r"<details><summary>Parameters</summary><pre>", page)


def test_cold_figures_loop_stall_and_settings_reach_the_headline_and_tables() -> None:
    collected = read_cell("sqlite", "collected", 1_000_000, 5.0, 1500 * MiB, 4.9)
    streamed = read_cell("sqlite", "streamed", 1_000_000, 3.0, 290 * 1024, 0.0005)
    settings = {"synchronous": "FULL", "analyzed": "yes"}
    cells = [
        replace(
            cell,
            time=replace(cell.time, stall_max_s=[stall] * 3, stall_p99_s=[stall / 2] * 3),
            cold=ColdSamples(
                total_s=[cold_total], first_event_s=[cold_first], peak_bytes=[cold_peak]
            ),
            settings=settings,
        )
        for cell, stall, cold_total, cold_first, cold_peak in (
            (collected, 5.1, 5.2, 5.1, 1600 * MiB),
            (streamed, 0.0004, 3.1, 0.072, int(2.2 * MiB)),
        )
        if cell.time is not None
    ]
    results = RunResults(environment=environment(), parameters={}, cells=cells)
    [sentence] = summarize(results).headline
    assert "(warm: 290 KiB vs 1.46 GiB; cold: 2.20 MiB vs 1.56 GiB)" in sentence
    assert sentence.startswith("read-stream, 1M events on SQLite, streamed vs collected: 1/5300 ")
    assert "1/9800 the wait for the first event (warm: 500 µs vs 4.90 s; " in sentence
    assert "the first event (warm: 500 µs vs 4.90 s; cold: 72.0 ms vs 5.10 s) and " in sentence
    assert sentence.endswith("holds the event loop for at most 400 µs instead of 5.10 s.")
    text = render_markdown(results)
    for header in ("first event (cold)", "peak memory (cold)", "loop stall max", "## Settings"):
        assert header in text
    assert "| SQLite | synchronous | FULL |" in text
    page = render_html(results)
    assert "event-loop stall" in page and "Settings" in page


def test_write_reports_writes_three_files(tmp_path: Path) -> None:
    paths = write_reports(make_results(), tmp_path / "new-dir", "run-1")
    assert [p.name for p in paths] == ["run-1.md", "run-1.html", "run-1.summary.json"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert not list((tmp_path / "new-dir").glob("*.tmp"))


def test_markdown_has_every_section() -> None:
    results = make_results()
    md = render_markdown(results)
    for heading in (
        "## Streamed vs collected",
        "## read-stream",
        "## catch-up",
        "## append",
        "## Growth with N",
        "## Machine and versions",
    ):
        assert heading in md
    assert "PostgreSQL 15.20" in md and "0123456789ab" in md
    # Append: latency and retries columns appear where the cells have them.
    append = md[md.index("## append") :]
    assert "latency p99" in append and "retries (median)" in append
    # Every table row has as many cells as its header.
    for table in re.findall(r"(?:^\|.*\|\n)+", md, flags=re.M):
        widths = {len(re.findall(r"(?<!\\)\|", row)) for row in table.strip().splitlines()}
        assert len(widths) == 1, table


def test_html_is_self_contained_with_a_chart_per_question() -> None:
    page = render_html(make_results())
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"https?://|<script|<link|@import", page)
    # Per read scenario: one growth chart per backend, one time-to-first-event chart;
    # append: one throughput chart.
    assert page.count("<img") == 2 * (2 + 1) + 1
    alts = re.findall(r'alt="([^"]*)"', page)
    # Alt texts describe the series drawn, with their values, from the data.
    growth = next(a for a in alts if a.startswith("read-stream on SQLite"))
    assert "peak memory: collected" in growth and "; streamed " in growth
    assert "at 1M (fitted ∝ N^1.00)" in growth and "total time: collected" in growth
    assert any("time to the first event" in a and "PostgreSQL, streamed:" in a for a in alts)
    assert any("SQLite: " in a and "in batches of 1000" in a for a in alts)


def test_summary_json_is_strict_and_complete() -> None:
    results = make_results()
    doc = json.loads(json.dumps(summary_document(results), allow_nan=False))
    assert doc["kind"] == "eventbench.summary"
    assert doc["version"] == 3
    assert doc["lead"].startswith("Streamed vs collected at 1M events: 1/")
    assert doc["headline"][0].startswith("read-stream, 1M events on")
    assert len(doc["cells"]) == len(results.cells)
    pair = next(
        p
        for p in doc["streamed_vs_collected"]
        if (p["scenario"], p["backend"], p["size"]) == ("read-stream", "sqlite", 1_000_000)
    )
    by_mode = {
        c["mode"]: c
        for c in doc["cells"]
        if (c["scenario"], c["backend"], c["size"]) == ("read-stream", "sqlite", 1_000_000)
    }
    assert pair["memory_ratio"] == pytest.approx(
        by_mode["streamed"]["peak_bytes"] / by_mode["collected"]["peak_bytes"]
    )
    assert pair["first_event_ratio"] == pytest.approx(
        by_mode["streamed"]["first_event_s"] / by_mode["collected"]["first_event_s"]
    )
    assert pair["time_ratio"] == pytest.approx(
        by_mode["streamed"]["total_s"] / by_mode["collected"]["total_s"]
    )
    slopes = {(f["backend"], f["mode"], f["metric"]): f["slope"] for f in doc["fits"]}
    assert slopes[("sqlite", "collected", "peak_bytes")] == pytest.approx(1.0, abs=0.05)
    assert slopes[("sqlite", "streamed", "peak_bytes")] < 0.3
    assert {a["best_batch"] for a in doc["append_throughput"]} == {1000}


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]


EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def evil_results() -> RunResults:
    def poison(cell: Cell) -> Cell:
        return replace(
            cell,
            backend=cell.backend + EVIL,
            mode=cell.mode + EVIL,
            error=EVIL if cell.mode == "batch-10" else None,
        )

    results = make_results(sizes=(10_000, 100_000), tweak=poison)
    env = replace(
        results.environment,
        hostname=EVIL,
        cpu_model=EVIL,
        packages={EVIL: EVIL},
        servers={EVIL: EVIL},
        git_commit=EVIL,
    )
    return replace(results, environment=env, parameters={EVIL: [EVIL]})


def test_everything_from_the_results_is_escaped_in_html() -> None:
    page = render_html(evil_results())
    parser = _Elements()
    parser.feed(page)
    assert "script" not in parser.tags
    assert parser.handlers == []
    assert parser.tags.count("img") == page.count("data:image/png;base64,")
    assert "&lt;script&gt;" in page
    assert EVIL not in page


def test_everything_from_the_results_is_escaped_in_markdown() -> None:
    md = render_markdown(evil_results())
    assert "<script" not in md.split("```json")[0]  # the parameters block is verbatim text
    assert "<img" not in md.split("```json")[0]
    assert "&lt;script>" in md


def test_md_escape() -> None:
    assert md_escape("a|b") == r"a\|b"
    assert md_escape("<b>&") == "&lt;b>&"
    assert md_escape("&amp; &#60;") == r"&amp;amp; &amp;\#60;"
    assert md_escape("base -> head, a < b") == "base -> head, a < b"
    assert md_escape("> not a quote") == r"\> not a quote"
    assert md_escape("two\nlines") == "two lines"
    assert md_escape("[link](x)") == r"\[link\](x)"


def test_failures_and_interruptions_are_reported() -> None:
    def fail(cell: Cell) -> Cell:
        if cell.backend == "sqlite" and cell.mode == "streamed" and cell.size == 10_000:
            return replace(cell, time=None, memory=None, error="ReadInterrupted: connection lost")
        return cell

    results = replace(make_results(sizes=(10_000, 100_000), tweak=fail), interrupted=True)
    md = render_markdown(results)
    assert "cells failed" in md and "interrupted" in md
    failures = md[md.index("## Failures") :]
    assert "ReadInterrupted: connection lost" in failures


def test_reports_render_with_nothing_to_pair_or_fit(tmp_path: Path) -> None:
    empty = RunResults(environment=environment(), parameters={}, cells=[])
    md, html_path, summary = write_reports(empty, tmp_path, "empty")
    assert "0 cells measured" in md.read_text()
    assert json.loads(summary.read_text())["cells"] == []
    assert "<img" not in html_path.read_text()
    one = make_results(sizes=(10_000,), backends=("memory",), with_append=False)
    assert not one.fits
    page = render_html(one)
    assert page.count("<img") == 2 * (1 + 1)  # a growth chart (no fit) + first event, twice


def test_helpers() -> None:
    assert mode_pair(["collected", "streamed", "raw"]) == ("collected", "streamed")
    assert mode_pair(["collect-then-fold", "fold-while-streaming"]) == (
        "collect-then-fold",
        "fold-while-streaming",
    )
    assert mode_pair(["batch-1", "batch-10"]) is None
    cell = make_results().cells[-3]
    assert append_series(replace(cell, mode="batch-100")) == (100, "")
    assert append_series(replace(cell, mode="contention-batch-10")) == (10, "contention")
    assert append_series(replace(cell, mode="streamed", params={"batch_size": 100})) is None
    assert fmt_size(1_000_000) == "1M" and fmt_size(2_500) == "2.5K" and fmt_size(999) == "999"
    assert fmt_bytes(430 * MiB) == "430 MiB" and fmt_bytes(512) == "512 B"
    assert fmt_seconds(0.0012) == "1.20 ms" and fmt_seconds(2.0) == "2.00 s"
    assert fmt_seconds(4e-6) == "4.00 µs"
    assert (
        fmt_ratio(43.2) == "43x" and fmt_ratio(1.04) == "1.04x" and fmt_ratio(0.0021) == "0.0021x"
    )
    # Streamed vs collected, one reading everywhere: small fractions as 1/n.
    assert fmt_relative(1.04) == "1.04x" and fmt_relative(0.43) == "0.43x"
    assert fmt_relative(1 / 550) == "1/550" and fmt_relative(1 / 1538) == "1/1500"
    assert fmt_relative(0.0) == "-" and fmt_relative(None) == "-"
    assert summarize(make_results()).scenarios == ["read-stream", "catch-up", "append"]


def test_report_command(tmp_path: Path) -> None:
    results_file = save_results(make_results(sizes=(10_000, 100_000)), tmp_path / "run-7.json")
    result = CliRunner().invoke(main, ["report", str(results_file)])
    assert result.exit_code == 0, result.output
    assert "Streamed vs collected at 100K events: 1/" in result.output
    assert "the memory" in result.output
    for suffix in (".md", ".html", ".summary.json"):
        assert (tmp_path / f"run-7{suffix}").exists()
    out = tmp_path / "elsewhere"
    result = CliRunner().invoke(main, ["report", str(results_file), "-o", str(out), "--stem", "r"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["r.html", "r.md", "r.summary.json"]


def test_report_command_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["report", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert "eventbench run" in result.output
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"schema_version": 0}))
    result = CliRunner().invoke(main, ["report", str(old)])
    assert result.exit_code == 2
    assert "schema version" in result.output


def test_a_flat_slope_never_reads_negative_zero() -> None:
    from harness.report.format import fmt_slope

    assert fmt_slope(-0.0004) == "0.00"
    assert fmt_slope(-0.004) == "0.00"
    assert fmt_slope(-0.006) == "-0.01"
    assert fmt_slope(1.0) == "1.00"
    assert fmt_slope(None) == "-"
