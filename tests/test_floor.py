"""The floor mode: the reference backends' bare drivers reading a stream with no store
in between (`SupportsFloorScan`), through the runner, and every report's "x the floor".
"""

from __future__ import annotations

import json
import statistics
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import require_backend
from results_factory import environment

from backends import sqlite as sqlite_backend
from backends.memory import MemoryStore
from backends.postgres import FLOOR_BATCH_SIZE, PostgresStore
from backends.postgres import temporary_store as postgres_store
from backends.sqlite import SqliteStore
from harness.contract import NewEvent, StoreUnavailable, SupportsFloorScan
from harness.report import write_reports
from harness.report.format import fmt_relative
from harness.report.run import render_html, render_markdown, summary_document
from harness.report.summary import summarize
from harness.results import Cell, InstructionSamples, RunResults, TimeSamples
from harness.runner import Progress, make_plan, run_plan


def events(n: int) -> list[NewEvent]:
    return [NewEvent("Deposited", {"amount": i, "seq": i}) for i in range(n)]


# --------------------------------------------------------------------------- backends


@pytest.fixture(params=["file", "memory"])
async def sqlite_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[SqliteStore]:
    path = tmp_path / "events.db" if request.param == "file" else ":memory:"
    async with SqliteStore(path) as store:
        yield store


async def test_sqlite_floor_counts_the_rows_of_a_stream_with_sqlite3_alone(
    sqlite_store: SqliteStore,
) -> None:
    assert isinstance(sqlite_store, SupportsFloorScan)
    await sqlite_store.bulk_load([("s", e) for e in events(23)] + [("t", e) for e in events(4)])
    assert [n async for n in sqlite_store.floor_scan("s", batch_size=10)] == [10, 10, 3]
    assert [n async for n in sqlite_store.floor_scan("s")] == [23]  # the store's batch: 100
    assert [n async for n in sqlite_store.floor_scan("missing")] == []
    # Its own connection, not one of the store's readers, and closed with the store.
    floor = sqlite_backend._floor_connections[sqlite_store]
    await sqlite_store.aclose()
    assert sqlite_store not in sqlite_backend._floor_connections
    with pytest.raises(Exception, match="closed"):
        floor.execute("SELECT 1")
    with pytest.raises(StoreUnavailable, match="not open"):
        [n async for n in sqlite_store.floor_scan("s")]


async def test_leaving_a_sqlite_floor_read_early_lets_the_writer_on() -> None:
    async with SqliteStore(":memory:") as store:  # memdb: a pending read blocks commits
        await store.bulk_load([("s", e) for e in events(30)])
        scan = store.floor_scan("s", batch_size=10)
        assert await anext(scan) == 10
        await scan.aclose()
        await store.bulk_load([("s", e) for e in events(1)])
        assert [n async for n in store.floor_scan("s")] == [31]


@pytest.fixture
async def pg_store() -> AsyncIterator[PostgresStore]:
    require_backend("postgres")
    async with postgres_store() as store:
        yield store


async def test_postgres_floor_reads_keyset_pages_with_asyncpg_alone(
    pg_store: PostgresStore,
) -> None:
    assert isinstance(pg_store, SupportsFloorScan)
    await pg_store.bulk_load([("s", e) for e in events(2345)] + [("t", e) for e in events(7)])
    assert FLOOR_BATCH_SIZE == 1000
    assert [n async for n in pg_store.floor_scan("s")] == [1000, 1000, 345]
    assert [n async for n in pg_store.floor_scan("s", batch_size=500)] == [500] * 4 + [345]
    assert [n async for n in pg_store.floor_scan("t", batch_size=7)] == [7]  # exact pages
    assert [n async for n in pg_store.floor_scan("missing")] == []
    # The pool's connection goes back: the store still reads.
    assert len(await pg_store.read_stream("s").collect()) == 2345


def test_the_memory_store_has_no_floor() -> None:
    assert not isinstance(MemoryStore(), SupportsFloorScan)


# --------------------------------------------------------------------------- runner


def test_the_runner_measures_the_floor_on_both_reference_backends_and_reports_it(
    tmp_path: Path,
) -> None:
    require_backend("postgres")
    size = 1234  # not a multiple of any batch: the last page is short
    plan = make_plan(
        scenarios=["read-stream"],
        backends=["memory", "sqlite", "postgres"],
        sizes=[size],
        modes=["streamed", "floor"],
        repeats=2,
        memory_repeats=0,  # the floor's memory runs are in test_runner's small run
        warmups=0,
    )
    [results] = run_plan(plan, progress=Progress())
    cells = {(c.backend, c.mode): c for c in results.cells}
    assert set(cells) == {("memory", "streamed")} | {
        (b, m) for b in ("sqlite", "postgres") for m in ("streamed", "floor")
    }
    for backend in ("sqlite", "postgres"):
        floor = cells[(backend, "floor")]
        assert floor.error is None, floor.error
        assert floor.time is not None and floor.time.events == size  # every row, no more
    # The memory store's floor is left out, saying why.
    [reason] = [e["reason"] for e in results.parameters["left_out"]]
    assert reason.startswith("memory does not implement SupportsFloorScan")
    assert "bare driver" in reason

    # The ratio reports show is the results' own: median streamed / median floor.
    summary = summarize(results)
    markdown = render_markdown(results, summary)
    for backend in ("sqlite", "postgres"):
        streamed, floor = cells[(backend, "streamed")], cells[(backend, "floor")]
        assert streamed.time is not None and floor.time is not None
        ratio = statistics.median(streamed.time.total_s) / statistics.median(floor.time.total_s)
        [group] = [g for g in summary.floors if g.backend == backend]
        [distance] = group.distances
        assert distance.mode == "streamed" and distance.time_ratio == pytest.approx(ratio)
        assert f"streamed: {fmt_relative(ratio)} the floor" in markdown


# --------------------------------------------------------------------------- reports


def _cell(backend: str, mode: str, size: int, totals: list[float]) -> Cell:
    return Cell(
        scenario="read-stream",
        backend=backend,
        mode=mode,
        size=size,
        params={},
        time=TimeSamples(
            total_s=totals, first_event_s=[t / 10 for t in totals], events=size, warmups=1
        ),
    )


def _results(with_floor: bool) -> RunResults:
    cells = [
        _cell("sqlite", "collected", 100_000, [0.50, 0.52, 0.90]),
        _cell("sqlite", "streamed", 100_000, [0.38, 0.40, 0.41]),
        _cell("sqlite", "raw", 100_000, [0.22, 0.25, 0.26]),
        _cell("sqlite", "collected", 10_000, [0.05, 0.05, 0.05]),
        _cell("sqlite", "streamed", 10_000, [0.04, 0.04, 0.04]),
    ]
    if with_floor:
        cells += [
            _cell("sqlite", "floor", 100_000, [0.21, 0.20, 0.30]),
            _cell("sqlite", "floor", 10_000, [0.01, 0.01, 0.01]),
        ]
    return RunResults(environment=environment(), parameters={}, cells=cells)


def test_every_report_gives_each_mode_its_distance_to_the_floor(tmp_path: Path) -> None:
    results = _results(with_floor=True)
    md_path, html_path, json_path = write_reports(results, tmp_path, "run")
    # Medians: collected 0.52, streamed 0.40, raw 0.25, floor 0.21 (at 100K).
    expected = {"collected": 0.52 / 0.21, "streamed": 0.40 / 0.21, "raw": 0.25 / 0.21}
    sentence = (
        "read-stream, 100K events on SQLite, time against the floor (the bare driver, no "
        f"store: 210 ms): collected: {fmt_relative(expected['collected'])} the floor, "
        f"streamed: {fmt_relative(expected['streamed'])} the floor, "
        f"raw: {fmt_relative(expected['raw'])} the floor."
    )
    assert f"streamed: {fmt_relative(0.40 / 0.21)} the floor" == "streamed: 1.90x the floor"
    summary = summarize(results)
    # One headline per scenario and backend, at the largest size with a floor.
    assert [s for s in summary.headline if "floor" in s] == [sentence]
    markdown = md_path.read_text()
    assert f"- {sentence}" in markdown
    # The per-cell table: each row's time over its own size's floor.
    rows = {
        tuple(cols[1:4]): cols
        for line in markdown.splitlines()
        if line.startswith("| SQLite |")
        for cols in [[c.strip() for c in line.strip("|").split("|")]]
    }
    header = next(line for line in markdown.splitlines() if line.startswith("| backend |"))
    column = [c.strip() for c in header.strip("|").split("|")].index("vs floor")
    assert rows[("streamed", "100K", "400 ms")][column] == "1.90x"
    assert rows[("floor", "100K", "210 ms")][column] == "the floor"
    assert rows[("streamed", "10K", "40.0 ms")][column] == "4.00x"
    assert "vs floor: the cell's total time over the floor's" in markdown
    page = html_path.read_text()
    assert sentence in page and '<th class="num">vs floor</th>' in page
    doc = json.loads(json_path.read_text())
    assert doc == summary_document(results) and doc["version"] == 3
    [big, small] = sorted(doc["vs_floor"], key=lambda g: -g["size"])
    assert big["floor_total_s"] == pytest.approx(0.21)
    assert {d["mode"]: d["time_ratio"] for d in big["distances"]} == pytest.approx(expected)
    assert {d["mode"] for d in small["distances"]} == {"collected", "streamed"}
    ratios = {(c["mode"], c["size"]): c["floor_ratio"] for c in doc["cells"]}
    assert ratios[("streamed", 100_000)] == pytest.approx(0.40 / 0.21)
    assert ratios[("floor", 100_000)] == 1.0


def test_counted_instructions_are_put_over_the_floor_too() -> None:
    results = _results(with_floor=True)
    counts = {"streamed": [4_000_000.0], "floor": [1_000_000.0]}
    cells = [
        replace(
            c,
            instructions=InstructionSamples(per_run=counts[c.mode], events=c.size, method="test"),
        )
        if c.size == 100_000 and c.mode in counts
        else c
        for c in results.cells
    ]
    [sentence] = [s for s in summarize(replace(results, cells=cells)).headline if "floor" in s]
    assert "streamed: 1.90x the floor (4.00x its instructions)" in sentence
    assert "collected: 2.48x the floor," in sentence  # none counted: no claim


def test_without_a_floor_the_reports_say_nothing_of_one() -> None:
    results = _results(with_floor=False)
    summary = summarize(results)
    assert summary.floors == []
    assert all(c.floor_ratio is None for c in summary.cells)
    for text in (render_markdown(results, summary), render_html(results, summary)):
        assert "floor" not in text.lower()
    assert summary_document(results, summary)["vs_floor"] == []


def test_a_failed_floor_is_no_yardstick() -> None:
    results = _results(with_floor=True)
    failed = [
        Cell(c.scenario, c.backend, c.mode, c.size, c.params, error="boom")
        if c.mode == "floor" and c.size == 100_000
        else c
        for c in results.cells
    ]
    summary = summarize(RunResults(environment=environment(), parameters={}, cells=failed))
    assert [g.size for g in summary.floors] == [10_000]
    big = [c for c in summary.cells if c.size == 100_000]
    assert all(c.floor_ratio is None for c in big)
