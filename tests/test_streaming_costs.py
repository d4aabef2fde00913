"""What streaming costs: bounded pools, store diagnostics, the concurrent-readers and
read-under-write scenarios, time series in results and reports, and cells that hang."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import require_backend

from harness.cli import main as cli_main
from harness.contract import (
    ANY,
    EventStore,
    NewEvent,
    RecordedEvent,
    StreamWrite,
    SupportsDiagnostics,
    SupportsPoolSize,
)
from harness.registry import reference_factory
from harness.report.run import render_html, render_markdown
from harness.results import load_results, save_results
from harness.runner import PlanError, Side, make_plan, run_plan
from harness.worker import CellTimedOut, handle, within
from scenarios.base import Outcome, RunContext, Scenario
from scenarios.read_under_write import check_snapshot

POOLED = ["sqlite", "postgres"]


@pytest.fixture(params=POOLED)
async def pooled(request: pytest.FixtureRequest) -> Any:
    require_backend(request.param)
    async with reference_factory(request.param)() as store:
        yield store


async def fill(store: EventStore, stream_id: str, count: int) -> None:
    events = [NewEvent("E", {"i": i}) for i in range(count)]
    await store.append(StreamWrite(stream_id, ANY, events))


# ----------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"concurrent-readers.readers": "0"}, "readers must be at least 1, got 0"),
        ({"concurrent-readers.readers": "4,0"}, "readers must be at least 1, got 0"),
        ({"concurrent-readers.consumer_us": "-5"}, "consumer_us must be at least 0, got -5"),
        ({"concurrent-readers.pool_size": "0"}, "pool_size must be at least 1, got 0"),
        ({"read-under-write.pool_size": "0"}, "pool_size must be at least 1, got 0"),
        ({"read-under-write.consumer_us": "-1"}, "consumer_us must be at least 0"),
        ({"read-under-write.baseline_s": "-1"}, "baseline_s cannot be negative"),
        ({"read-under-write.readers": "10"}, "must be below pool_size"),
    ],
)
def test_bad_parameters_are_refused_before_anything_runs(
    override: dict[str, str], message: str
) -> None:
    with pytest.raises(PlanError, match=message):
        make_plan(
            scenarios=["concurrent-readers", "read-under-write"],
            backends=["sqlite"],
            overrides=override,
        )


def test_the_cli_says_what_is_wrong_with_a_parameter_without_a_traceback() -> None:
    result = CliRunner().invoke(
        cli_main, ["run", "--scenarios", "concurrent-readers", "-p", "pool_size=0"]
    )
    assert result.exit_code == 2
    assert "pool_size must be at least 1" in result.output
    assert "Traceback" not in result.output


def test_one_mode_per_read_k_and_consumer_cost_over_max_k_streams() -> None:
    plan = make_plan(scenarios=["concurrent-readers"], backends=["sqlite"])
    modes = [c.mode for c in plan.cells]
    assert modes[:4] == [
        "collected-k1-c0us",
        "streamed-k1-c0us",
        "collected-k1-c20us",
        "streamed-k1-c20us",
    ]
    assert len(modes) == 12 and "streamed-k32-c20us" in modes
    cell = plan.cells[0]
    assert cell.layout is not None and cell.layout.streams == 32
    assert cell.size == 32 * 1000  # the data seeded: max(K) streams of M events


# ----------------------------------------------------------------------- stores


async def test_a_bounded_pool_queues_reads_and_counts_the_wait(pooled: EventStore) -> None:
    assert isinstance(pooled, SupportsPoolSize) and isinstance(pooled, SupportsDiagnostics)
    await pooled.set_pool_size(2)
    for i in range(3):
        await fill(pooled, f"s-{i}", 5)
    before = await pooled.diagnostics()
    async with contextlib.AsyncExitStack() as stack:
        for i in range(2):
            await stack.enter_async_context(pooled.read_stream(f"s-{i}", batch_size=1))
        third = asyncio.create_task(pooled.read_stream("s-2").collect())
        await asyncio.sleep(0.3)
        assert not third.done(), "a third read got a connection from a pool of 2"
        held = await pooled.diagnostics()  # sampling needs no pooled connection
        assert held["connections_in_use"] == 2
    assert len(await asyncio.wait_for(third, 10)) == 5
    after = await pooled.diagnostics()
    assert after["pool_wait_s_total"] - before["pool_wait_s_total"] >= 0.25
    assert after["pool_acquires_total"] > before["pool_acquires_total"]


async def test_pool_size_below_one_is_refused(pooled: EventStore) -> None:
    assert isinstance(pooled, SupportsPoolSize)
    with pytest.raises(ValueError, match="0"):
        await pooled.set_pool_size(0)


async def test_sqlite_wal_grows_under_a_held_read_and_shrinks_after(tmp_path: Path) -> None:
    from backends.sqlite import WAL_SIZE_LIMIT, SqliteStore

    async with SqliteStore(tmp_path / "e.db", synchronous="NORMAL") as store:
        await fill(store, "read", 300)
        big = {"pad": "x" * 3000}
        async with store.read_stream("read", batch_size=10) as stream:
            await anext(stream)
            for i in range(1800):  # ~2 pages each: far past the auto-checkpoint
                await store.append(StreamWrite(f"w-{i % 7}", ANY, [NewEvent("W", big)]))
            grown = (await store.diagnostics())["wal_bytes"]
        assert grown > 2 * WAL_SIZE_LIMIT, grown
        for _ in range(1200):
            await store.append(StreamWrite("after", ANY, [NewEvent("W", big)]))
        assert (await store.diagnostics())["wal_bytes"] <= WAL_SIZE_LIMIT


async def test_postgres_keyset_reads_hold_no_xmin_but_a_held_snapshot_shows() -> None:
    require_backend("postgres")
    import asyncpg

    from backends.postgres import PostgresStore

    async with reference_factory("postgres")() as store:
        assert isinstance(store, PostgresStore)
        await fill(store, "read", 600)
        async with store.read_stream("read", batch_size=50) as stream:
            ages = []
            async for event in stream:
                if event.stream_version % 50 == 0:
                    await store.append(StreamWrite("other", ANY, [NewEvent("W")]))
                    await asyncio.sleep(0.01)
                    ages.append((await store.diagnostics())["xmin_age"])
        assert max(ages) < 5, ages
        # The instrument can see a snapshot held open by one of the store's sessions.
        dsn = store._dsn
        held = await asyncpg.connect(
            dsn, server_settings={"application_name": store._application_name}
        )
        try:
            tx = held.transaction(isolation="repeatable_read")
            await tx.start()
            await held.fetchval("SELECT 1")
            for _ in range(5):
                await store.append(StreamWrite("other", ANY, [NewEvent("W")]))
            figures = await store.diagnostics()
            await tx.rollback()
        finally:
            await held.close()
        assert figures["xmin_held"] >= 1 and figures["xmin_age"] >= 5, figures


# ----------------------------------------------------------------------- scenarios


def cell(scenario: str, backend: str, mode: str, size: int, **params: Any) -> dict[str, Any]:
    return {
        "op": "cell",
        "scenario": scenario,
        "backend": backend,
        "mode": mode,
        "size": size,
        "params": params,
        "measure": "time",
        "repeats": 1,
        "warmups": 0,
    }


@pytest.mark.parametrize("backend", POOLED)
@pytest.mark.parametrize("read", ["collected", "streamed"])
async def test_128_readers_share_a_pool_of_10_without_deadlock(backend: str, read: str) -> None:
    require_backend(backend)
    request = cell(
        "concurrent-readers",
        backend,
        f"{read}-k128-c20us",
        128 * 20,
        readers=[128],
        events_per_reader=20,
        consumer_us=[20],
        pool_size=10,
    )
    request["layout"] = {"streams": 128, "payload_bytes": 100, "seed": 0}
    answer = await asyncio.wait_for(handle(request), 120)
    assert answer["ok"], answer.get("error")
    assert answer["events"] == 128 * 20
    assert len(answer["latencies_s"]) == 128
    counters = answer["counters"]
    assert counters["pool_size"] == [10.0]
    assert counters["pool_wait_s"][0] > 0  # 128 readers, 10 connections: some waited


@pytest.mark.parametrize("backend", ["memory", *POOLED])
@pytest.mark.parametrize("mode", ["streamed", "collected"])
async def test_read_under_write_checks_snapshots_and_samples_the_store(
    backend: str, mode: str
) -> None:
    require_backend(backend)
    request = cell(
        "read-under-write",
        backend,
        mode,
        400,
        events=400,
        readers=2,
        writers=3,
        consumer_us=20,
        baseline_s=0.2,
        tail_s=0.2,
        sample_ms=20,
    )
    answer = await asyncio.wait_for(handle(request), 120)
    assert answer["ok"], answer.get("error")
    counters = answer["counters"]
    assert counters["append_p99_baseline_s"][0] > 0
    assert counters["append_p99_reading_s"][0] > 0
    assert answer["events"] >= 2 * 400
    series = answer["series"]
    assert series["readers_active"] and series["append_latency_max_s"]
    if backend == "sqlite":
        assert series["wal_bytes"] and counters["wal_bytes_end"][0] >= 0
    if backend == "postgres":
        assert "xmin_age" in series and counters["xmin_age_peak_reading"][0] >= 0
    if backend == "memory":
        assert "wal_bytes" not in series and "xmin_age" not in series


def recorded(version: int) -> RecordedEvent:
    from datetime import UTC, datetime

    return RecordedEvent(
        id=uuid.uuid4(),
        stream_id="s",
        stream_version=version,
        position=version,
        type="E",
        data={},
        metadata={},
        recorded_at=datetime.now(UTC),
    )


def test_a_read_past_its_snapshot_or_short_of_it_fails() -> None:
    seen = [recorded(v) for v in range(1, 11)]
    check_snapshot(seen, 10, 12, "s")
    with pytest.raises(AssertionError, match="read past its snapshot or ended short"):
        check_snapshot(seen, 11, 15, "s")  # ended short of what existed
    with pytest.raises(AssertionError, match="read past its snapshot"):
        check_snapshot(seen, 5, 8, "s")  # saw events appended after it began
    with pytest.raises(AssertionError, match="missing or out of order"):
        check_snapshot([seen[0], seen[2]], 0, 10, "s")


# ----------------------------------------------------------------------- hangs


async def _deadlock(ctx: RunContext) -> Outcome:
    # The eventcore mistake: a streamed read holds the only connection while the
    # same task asks the pool for another.
    assert isinstance(ctx.store, SupportsPoolSize)
    await ctx.store.set_pool_size(1)
    await fill(ctx.store, "d", 3)
    async with ctx.store.read_stream("d", batch_size=1):
        await ctx.store.stream_version("d")
    return Outcome(events=0)


DEADLOCK = Scenario(
    name="test_streaming_costs:DEADLOCK",  # the worker finds it by this name
    summary="holds the only connection and asks for another",
    params={"events": 1},
    modes=lambda params: ("streamed",),
    run=_deadlock,
    sized=False,
    size_param="events",
    expected_events=lambda size, params: None,
    default=False,
)


async def test_a_cell_past_its_deadline_says_what_each_task_waits_on() -> None:
    async def stuck() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    with pytest.raises(CellTimedOut, match=r"(?s)stopped after 0.3 s.*Waiting:.*stuck"):
        await within(0.3, stuck(), "x/y")


def test_a_deadlocked_cell_fails_with_what_it_waited_on_and_the_run_goes_on() -> None:
    plan = make_plan(
        scenarios=["test_streaming_costs:DEADLOCK", "read-stream"],
        backends=["sqlite"],
        sizes=[20],
        repeats=1,
        memory_repeats=0,
        warmups=0,
        modes=["streamed"],
    )
    here = Side(env={"PYTHONPATH": str(Path(__file__).parent)})
    # The deadline covers the worker's start and the store's opening too: on a loaded
    # 2-core machine those alone took over 10 s once, and the cell then timed out
    # before it could deadlock. The deadlock waits forever, so a longer deadline only
    # costs time, never the point of the test.
    [results] = run_plan(plan, sides=[here], timeout_s=30)
    by_scenario = {c.scenario: c for c in results.cells}
    error = by_scenario["test_streaming_costs:DEADLOCK"].error or ""
    assert "timed out after 30 s while measuring" in error and "Waiting:" in error
    # What it waited on, in the store's own words: its one connection, held.
    assert "connections_in_use=1" in error and "pool_waiting=1" in error
    assert by_scenario["read-stream"].error is None


# ----------------------------------------------------------------------- results, reports


def test_series_round_trip_and_reach_both_reports(tmp_path: Path) -> None:
    plan = make_plan(
        scenarios=["read-under-write"],
        backends=["sqlite"],
        overrides={
            "events": 300,
            "baseline_s": 0.1,
            "tail_s": 0.1,
            "sample_ms": 20,
            "writers": 2,
        },
        repeats=1,
        memory_repeats=0,
        warmups=0,
        modes=["streamed"],
    )
    [results] = run_plan(plan)
    [only] = results.cells
    assert only.error is None, only.error
    assert only.series and only.series["wal_bytes"]
    path = save_results(results, tmp_path / "r.json")
    again = load_results(path)
    assert again.cells[0].series == only.series
    markdown = render_markdown(again)
    assert "wal\\_bytes" in markdown and "append p99 reading" not in markdown
    html = render_html(again)
    assert "read-under-write on SQLite: wal_bytes" in html
