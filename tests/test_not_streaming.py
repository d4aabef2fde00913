"""A "streamed" read that buffers the stream must never read like a win.

Unit level: the summary's warning from synthetic cells (three sizes, two sizes, a real
streamed read at sizes below its batch). End to end: ``eventbench run`` (the real
runner, real worker processes, memray) on a store whose streamed read collects first.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from results_factory import MiB, make_results

from harness.report.run import render_html, render_markdown
from harness.report.summary import summarize
from harness.results import Cell, MemorySamples, load_results

TESTS = Path(__file__).parent
WARNING = re.compile(r"streamed read is not streaming \(peak grows as N\^(\d\.\d\d)", re.I)


def buffering(cell: Cell) -> Cell:
    """The streamed read holds what the collected one holds (a little less)."""
    if cell.mode != "streamed" or cell.memory is None or cell.backend != "sqlite":
        return cell
    peaks = [int(cell.size * 550)] * len(cell.memory.peak_bytes)
    return replace(cell, memory=MemorySamples(peaks, cell.memory.allocations))


def test_a_buffering_streamed_read_is_named_in_the_lead_and_the_headline() -> None:
    results = make_results(sizes=(2_000, 6_000, 20_000), tweak=buffering, with_append=False)
    summary = summarize(results)
    assert {(n.scenario, n.backend) for n in summary.not_streaming} == {
        ("read-stream", "sqlite"),
        ("catch-up", "sqlite"),
    }
    found = WARNING.search(summary.lead)
    assert summary.lead.startswith("Streamed read is not streaming") and found
    assert found.group(1) == "1.00"
    assert summary.headline[0].startswith("read-stream on SQLite: streamed read is not streaming")
    # Its pair's sentence ("1/1.1 the memory") is replaced, not printed beside it.
    assert not any(s.startswith("read-stream, 20K events on SQLite") for s in summary.headline)
    # The real streamed read on PostgreSQL keeps its sentence.
    assert any(s.startswith("read-stream, 20K events on PostgreSQL") for s in summary.headline)
    for text in (render_markdown(results), render_html(results)):
        assert "Streamed read is not streaming (peak grows as N^1.00)" in text


def test_with_two_sizes_the_exponent_comes_from_the_ratios_and_says_so() -> None:
    results = make_results(sizes=(2_000, 20_000), tweak=buffering, with_append=False)
    summary = summarize(results)
    assert not summary.fits
    [first, *_] = summary.not_streaming
    assert not first.fitted
    assert first.growth() == "peak grows as N^1.00: 10x the peak for 10x the events, from 2 sizes"


def test_a_streamed_read_that_does_not_grow_gets_no_warning() -> None:
    summary = summarize(make_results(sizes=(2_000, 6_000, 20_000), with_append=False))
    assert not summary.not_streaming
    assert summary.lead.startswith("Streamed vs collected at 20K events: 1/")

    def below_one_batch(cell: Cell) -> Cell:
        # Sizes under a batch: the peak rises a little (slope > 0.2) by under 512 KiB.
        if cell.mode != "streamed" or cell.memory is None:
            return cell
        peak = {300: 450_000, 1_000: 600_000, 3_000: 750_000}[cell.size]
        return replace(cell, memory=MemorySamples([peak] * 3, cell.memory.allocations))

    small = make_results(sizes=(300, 1_000, 3_000), tweak=below_one_batch, with_append=False)
    assert not summarize(small).not_streaming

    def filling_a_cache(cell: Cell) -> Cell:
        # A bounded cache filling up (the skeleton store's SQLite page cache, measured).
        if cell.mode != "streamed" or cell.memory is None:
            return cell
        peak = {2_000: 2.2 * MiB, 6_000: 3.4 * MiB, 20_000: 3.4 * MiB}[cell.size]
        return replace(cell, memory=MemorySamples([int(peak)] * 3, cell.memory.allocations))

    for sizes in ((2_000, 6_000, 20_000), (2_000, 6_000)):
        cached = make_results(sizes=sizes, tweak=filling_a_cache, with_append=False)
        assert not summarize(cached).not_streaming, sizes


@pytest.mark.slow
def test_the_runner_says_a_buffering_store_is_not_streaming(tmp_path: Path) -> None:
    backends = "variant_backends:buffering_store,variant_backends:variant_store"
    env = {**os.environ, "PYTHONPATH": str(TESTS), "EVENTBENCH_TEST_VARIANT": ""}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            "--scenarios",
            "read-stream",
            "--modes",
            "collected,streamed",
            "--backends",
            backends,
            "--sizes",
            "2k,6k,20k",
            "--repeats",
            "1",
            "--memory-repeats",
            "1",
            "--warmups",
            "0",
            "--output",
            str(tmp_path / "run.json"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = " ".join(done.stdout.split())  # rich wraps long lines
    summary = summarize(load_results(tmp_path / "run.json"))
    [flagged] = summary.not_streaming
    assert flagged.backend == "variant_backends:buffering_store" and flagged.fitted
    assert flagged.exponent > 0.8, flagged
    assert WARNING.search(summary.lead), summary.lead
    assert "Streamed read is not streaming (peak grows as N^" in out, out
    assert "buffering_store: streamed read is not streaming" in out
    assert "variant_store: streamed read is not streaming" not in out
    report = (tmp_path / "run.md").read_text()
    assert report.splitlines()[2].startswith("**Streamed read is not streaming (peak grows as N^")
    # The real streamed store keeps its ordinary finding.
    assert any(
        s.startswith("read-stream, 20K events on variant_backends:variant_store, streamed vs")
        for s in summary.headline
    )


def test_a_streamed_mode_measured_alone_is_still_checked() -> None:
    results = make_results(sizes=(2_000, 6_000, 20_000), tweak=buffering, with_append=False)
    alone = replace(results, cells=[c for c in results.cells if c.mode == "streamed"])
    summary = summarize(alone)
    assert not summary.pairs
    assert summary.lead == (
        "Streamed read is not streaming (peak grows as N^1.00): "
        "read-stream on SQLite; catch-up on SQLite."
    )
