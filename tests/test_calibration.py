"""The instruments against known answers: memory within 2% of the truth, time within
the timer's resolution plus scheduling noise. Runs through the real runner and
worker processes, exactly as `eventbench run` measures."""

from __future__ import annotations

import pytest

from harness.analysis.stats import median
from harness.results import Cell, RunResults
from harness.runner import make_plan, run_plan
from scenarios.calibration import truth

# A sleep may overrun by however long the scheduler takes to wake us; on a shared,
# loaded 2-core machine that is a few milliseconds. It may never return early.
SCHEDULING_NOISE_S = 0.010


@pytest.fixture(scope="module")
def calibration() -> RunResults:
    plan = make_plan(
        scenarios=["calibration"],
        backends=["memory"],
        sizes=[1],
        repeats=5,
        memory_repeats=2,
        rounds=1,  # the instruments' accuracy, not a verdict: one process a kind is enough
        overrides={"alloc_bytes": 8_000_000, "sleep_s": 0.04},
    )
    [results] = run_plan(plan)
    return results


def cell(results: RunResults, mode: str) -> Cell:
    [found] = [c for c in results.cells if c.mode == mode]
    assert found.error is None, found.error
    return found


@pytest.mark.parametrize("mode", ["alloc-bulk", "alloc-small"])
def test_peak_memory_is_within_two_percent_of_the_bytes_held(
    calibration: RunResults, mode: str
) -> None:
    measured = cell(calibration, mode)
    expected = truth(mode, measured.params)["peak_bytes"]
    assert measured.memory is not None
    for peak in measured.memory.peak_bytes:
        assert abs(peak - expected) / expected < 0.02, (peak, expected)


def test_allocation_count_sees_every_small_object(calibration: RunResults) -> None:
    measured = cell(calibration, "alloc-small")
    expected = truth("alloc-small", measured.params)["allocations"]
    assert measured.memory is not None
    assert expected > 10_000
    for count in measured.memory.allocations:
        # One allocation per object and one for the list; frees are not counted. A
        # handful more come from the workload's own bookkeeping (its result object).
        assert expected <= count <= expected + 50


def test_time_is_within_resolution_and_scheduling_noise(calibration: RunResults) -> None:
    measured = cell(calibration, "sleep")
    expected = truth("sleep", measured.params)
    assert measured.time is not None
    resolution = measured.time.timer_resolution_s or 1e-9
    for total in measured.time.total_s:
        assert total >= expected["total_s"] - resolution
    assert median(measured.time.total_s) <= expected["total_s"] + resolution + SCHEDULING_NOISE_S
    assert measured.time.first_event_s is not None
    first = median(measured.time.first_event_s)
    assert expected["first_event_s"] - resolution <= first
    assert first <= expected["first_event_s"] + resolution + SCHEDULING_NOISE_S


def test_the_loop_stall_sees_the_blocking_sleep(calibration: RunResults) -> None:
    # The sleep mode blocks the loop in two halves of sleep_s: the ticker, due every
    # millisecond, must have waited at least one half. It may wait longer, never less.
    measured = cell(calibration, "sleep")
    half = truth("sleep", measured.params)["total_s"] / 2
    assert measured.time is not None and measured.time.stall_max_s is not None
    assert len(measured.time.stall_max_s) == len(measured.time.total_s)
    resolution = measured.time.timer_resolution_s or 1e-9
    for stall, total in zip(measured.time.stall_max_s, measured.time.total_s, strict=True):
        assert half - resolution - 1e-4 <= stall <= total + 0.002
    assert measured.time.stall_tick_s == 0.001


def test_bytes_allocated_count_every_small_object(calibration: RunResults) -> None:
    measured = cell(calibration, "alloc-small")
    assert measured.memory is not None and measured.memory.allocated_bytes is not None
    expected = truth("alloc-small", measured.params)["peak_bytes"]
    for allocated in measured.memory.allocated_bytes:
        assert expected <= allocated <= expected * 1.02
