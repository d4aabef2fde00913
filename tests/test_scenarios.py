"""Scenarios as data: discovery, parameters, and each workload's answers."""

from __future__ import annotations

import pytest

from backends.memory import MemoryStore
from harness import seed
from harness.contract import NewEvent
from harness.worker import handle
from scenarios import all_scenarios, default_scenarios, get_scenario
from scenarios.base import Layout, Probe, RunContext, parse_count
from scenarios.fold import Account


def test_every_scenario_is_found_with_named_defaults() -> None:
    found = all_scenarios()
    assert list(found)[:4] == ["read-stream", "fold", "catch-up", "append"]
    assert "calibration" in found and "calibration" not in default_scenarios()
    for scenario in found.values():
        assert scenario.params, scenario.name
        assert scenario.modes(scenario.params), scenario.name
    assert get_scenario("scenarios.fold:SCENARIO").name == "fold"


def test_parameters_are_coerced_from_cli_text() -> None:
    append = get_scenario("append")
    params = append.resolve({"batch_sizes": "1,50", "events": "2k", "writers": "8"})
    assert params["batch_sizes"] == (1, 50)
    assert params["events"] == 2000
    assert append.modes(params) == ("batch-1", "batch-50", "contention")
    with pytest.raises(ValueError, match=r"append\.writers.*not a valid int"):
        append.resolve({"writers": "lots"})
    with pytest.raises(ValueError, match="has no parameter 'nope'"):
        append.resolve({"nope": 1})


@pytest.mark.parametrize(
    ("text", "value"), [("10k", 10_000), ("1m", 1_000_000), ("1_500", 1500), ("2.5k", 2500)]
)
def test_counts_read_as_people_write_them(text: str, value: int) -> None:
    assert parse_count(text) == value


def test_generated_data_is_deterministic_and_interleaved() -> None:
    layout = Layout(streams=3, payload_bytes=100, seed=7)
    first = list(seed.generate(layout, 10))
    again = list(seed.generate(layout, 10))
    assert [(s, e.id, e.data) for s, e in first] == [(s, e.id, e.data) for s, e in again]
    assert [s for s, _ in first[:4]] == [
        "bench-000000",
        "bench-000001",
        "bench-000002",
        "bench-000000",
    ]
    assert len({e.id for _, e in first}) == 10
    other = list(seed.generate(Layout(streams=3, payload_bytes=100, seed=8), 10))
    assert first[0][1].id != other[0][1].id


async def test_verify_catches_incomplete_seeds() -> None:
    layout = Layout(streams=4)
    async with MemoryStore() as store:
        await seed.load(store, layout, 10)
        await seed.verify(store, layout, 10)
        with pytest.raises(seed.SeedError, match="incomplete"):
            await seed.verify(store, layout, 11)


async def test_fold_gives_the_same_state_collected_and_streamed() -> None:
    layout = Layout()
    expected = Account()
    async with MemoryStore() as store:
        await seed.load(store, layout, 1234)
        async for event in store.read_stream(layout.stream_id(0)):
            expected.apply(event)
        fold = get_scenario("fold")
        params = fold.resolve({})
        for mode in ("collected", "streamed"):
            ctx = RunContext(store, mode, 1234, params, Probe(), 0, layout)
            outcome = await fold.run(ctx)
            assert outcome.events == 1234
            assert outcome.result == expected
            assert ctx.probe.first_ns is not None


async def test_catch_up_projects_every_stream() -> None:
    layout = Layout(streams=7)
    catch_up = get_scenario("catch-up")
    async with MemoryStore() as store:
        await seed.load(store, layout, 100)
        for mode in ("collected", "streamed"):
            ctx = RunContext(store, mode, 100, catch_up.resolve({"streams": 7}), Probe(), 0, layout)
            outcome = await catch_up.run(ctx)
            assert outcome.events == 100
            assert sorted(outcome.result) == [layout.stream_id(i) for i in range(7)]
            assert sum(row[0] for row in outcome.result.values()) == 100


@pytest.mark.parametrize("mode", ["batch-1", "batch-7", "contention"])
async def test_append_writes_every_event(mode: str) -> None:
    answer = await handle(
        {
            "op": "cell",
            "scenario": "append",
            "backend": "memory",
            "mode": mode,
            "size": 40,
            "params": {"events": 40, "batch_sizes": [1, 7], "writers": 3},
            "measure": "time",
            "repeats": 2,
            "warmups": 1,
        }
    )
    assert answer["ok"], answer
    assert answer["events"] == 40
    assert len(answer["total_s"]) == 2
    per_run = {"batch-1": 40, "batch-7": 6, "contention": 40}[mode]
    assert len(answer["latencies_s"]) == 2 * per_run
    if mode == "contention":
        assert "retries" in answer["counters"]


async def test_worker_skips_a_mode_the_store_cannot_run() -> None:
    answer = await handle(
        {
            "op": "cell",
            "scenario": "read-stream",
            "backend": "memory",
            "mode": "raw",
            "size": 10,
            "params": {},
            "measure": "time",
            "repeats": 1,
            "warmups": 0,
            "layout": {"streams": 1, "payload_bytes": 128, "seed": 0},
        }
    )
    assert answer == {"ok": False, "skipped": "MemoryStore does not implement SupportsRawScan"}


def test_new_events_are_not_shared_between_runs() -> None:
    from scenarios.append import make_events

    a, b = make_events(3, 10), make_events(3, 10)
    assert isinstance(a[0], NewEvent) and {e.id for e in a}.isdisjoint({e.id for e in b})
