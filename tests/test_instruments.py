"""The instruments on their own: the loop-stall ticker against known blocking, the one
interface every kind answers through, and instruction counts through the real runner."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pytest
from results_factory import environment, read_cell

from harness.analysis.compare import compare_results
from harness.instruments import KINDS, Clock, LoopWatch, Memray, instrument_for
from harness.instruments.stall import stall_figures
from harness.results import Cell, InstructionSamples
from harness.runner import make_plan, run_plan
from scenarios.base import Outcome, Probe, RunContext

BLOCK_S = 0.03


def context() -> RunContext:
    return RunContext(None, "m", 1, {}, Probe(), 0, None)  # type: ignore[arg-type]


async def blocks_then_yields(ctx: RunContext) -> Outcome:
    time.sleep(BLOCK_S)  # noqa: ASYNC251 - holding the loop is the point
    for _ in range(20):
        await asyncio.sleep(0.001)
    ctx.probe.first()
    return Outcome(events=1)


async def yields_only(ctx: RunContext) -> Outcome:
    for _ in range(20):
        await asyncio.sleep(0.001)
    return Outcome(events=1)


def test_the_longest_stall_is_the_time_the_loop_was_held() -> None:
    async def main() -> dict[str, float]:
        run = await Clock().measure(blocks_then_yields, context())
        return dict(run.figures)

    figures = asyncio.run(main())
    assert figures["stall_max_s"] >= BLOCK_S - 0.002
    # The blocking was one tick of ~20: the p99 (nearest rank) of 20-odd ticks is the
    # max, so only check the work is seen, and the clock's own figures are there.
    assert figures["total_s"] >= BLOCK_S
    assert "first_event_s" in figures


def test_a_block_until_the_end_counts_though_no_tick_ran_after_it() -> None:
    async def main() -> dict[str, float]:
        watch = LoopWatch(0.001)
        watch.start()
        time.sleep(BLOCK_S)  # noqa: ASYNC251
        return watch.stop()

    assert asyncio.run(main())["stall_max_s"] >= BLOCK_S - 0.002


def test_time_spent_waiting_for_a_core_is_not_a_stall(monkeypatch: pytest.MonkeyPatch) -> None:
    # As if the kernel had kept the loop's thread off every core while it blocked (a
    # preemption, a real-time worker throttled): the scheduler's wait is subtracted.
    real = LoopWatch._wait_s
    calls: list[None] = []

    def waited(self: LoopWatch) -> float:
        # The real wait (a loaded machine's too), plus BLOCK_S after the start.
        extra = BLOCK_S if calls else 0.0
        calls.append(None)
        return real(self) + extra

    monkeypatch.setattr(LoopWatch, "_wait_s", waited)

    async def main() -> dict[str, float]:
        watch = LoopWatch(0.001)
        watch.start()
        time.sleep(BLOCK_S)  # noqa: ASYNC251
        return watch.stop()

    # Without the subtraction this is BLOCK_S (the test above); with it, what is left
    # is the ticker's own lateness, a millisecond or so.
    assert asyncio.run(main())["stall_max_s"] < BLOCK_S / 2


def test_the_scheduler_wait_is_read_where_linux_gives_it() -> None:
    # Sleeping is not waiting for a core: the blocking above is a stall with the real
    # figures (the test before it), and the wait is read from the kernel on Linux.
    async def main() -> float:
        watch = LoopWatch(0.001)
        watch.start()
        try:
            return watch._wait_s()
        finally:
            watch.stop()

    wait = asyncio.run(main())
    if sys.platform == "linux":
        assert wait > 0  # every process has waited for a core at some point


def test_stall_figures_use_the_nearest_rank() -> None:
    delays = [0.001] * 99 + [0.5]
    assert stall_figures(delays) == {"stall_max_s": 0.5, "stall_p99_s": 0.001}
    assert stall_figures([]) == {}
    with pytest.raises(ValueError, match="positive"):
        LoopWatch(0)


def test_the_ticker_can_be_left_out() -> None:
    async def main() -> set[str]:
        return set((await Clock(None).measure(yields_only, context())).figures)

    # Wall and CPU time only: no stall figures without the ticker.
    assert asyncio.run(main()) == {"total_s", "cpu_s"}


def test_the_clock_counts_cpu_time_apart_from_waiting() -> None:
    async def sleeps_then_spins(ctx: RunContext) -> Outcome:
        await asyncio.sleep(0.05)  # waiting: wall time, not CPU time
        until = time.process_time() + 0.02
        while time.process_time() < until:
            pass
        return Outcome(events=0)

    async def main() -> dict[str, float]:
        return dict((await Clock(None).measure(sleeps_then_spins, context())).figures)

    figures = asyncio.run(main())
    assert figures["total_s"] >= 0.07
    assert 0.02 <= figures["cpu_s"] < figures["total_s"] - 0.04


def test_every_kind_has_an_instrument_and_unknown_kinds_are_refused(tmp_path: Path) -> None:
    for kind in KINDS:
        assert hasattr(instrument_for(kind, capture_path=lambda: tmp_path / "c.bin"), "measure")
    with pytest.raises(ValueError, match="unknown measure 'sideways'"):
        instrument_for("sideways")


def test_memray_reports_bytes_allocated_beyond_the_peak(tmp_path: Path) -> None:
    async def churn(ctx: RunContext) -> Outcome:
        for _ in range(50):
            buffer = bytearray(100_000)
            del buffer
        return Outcome(events=1)

    async def main() -> dict[str, float]:
        return dict((await Memray(lambda: tmp_path / "c.bin").measure(churn, context())).figures)

    figures = asyncio.run(main())
    assert figures["allocated_bytes"] >= 50 * 100_000
    assert figures["peak_bytes"] < 5 * 100_000


def test_compare_warns_when_a_setting_differs_between_sides() -> None:
    import random

    rng = random.Random(1)
    base_cell = replace(
        read_cell("read-stream", "sqlite", "streamed", 1000, rng), settings={"synchronous": "FULL"}
    )
    head_cell = replace(base_cell, settings={"synchronous": "NORMAL"})
    from harness.results import RunResults

    base = RunResults(environment(), {}, [base_cell])
    head = RunResults(environment(), {}, [head_cell])
    warnings = compare_results(base, head).warnings
    assert any("synchronous differs: FULL vs NORMAL" in w for w in warnings), warnings
    same = compare_results(base, RunResults(environment(), {}, [base_cell])).warnings
    assert not any("synchronous" in w for w in same)


def _counted_streamed_read(backend: str, size: int) -> tuple[Cell, InstructionSamples]:
    """A streamed-read cell counted in two rounds (two counted pairs), and its counts."""
    plan = make_plan(
        scenarios=["read-stream"],
        backends=[backend],
        sizes=[size],
        repeats=1,
        memory_repeats=0,
        modes=["streamed"],
        rounds=2,
        instructions=True,
    )
    # Never skipped: CI installs valgrind (.ci/run); without it the cell's error says
    # what to install, and this fails with that message.
    [results] = run_plan(plan)
    [cell] = results.cells
    assert cell.error is None, cell.error
    assert cell.instructions is not None
    return cell, cell.instructions


@pytest.mark.slow
def test_instructions_are_counted_per_run_and_repeat_between_processes() -> None:
    cell, counted = _counted_streamed_read("memory", 300)
    first, second = counted.per_run
    assert counted.rounds == [0, 1]
    # Set-up (imports, seeding, warm-up) is subtracted: 300 events cost far less than
    # starting Python (~tens of millions of instructions), yet more than nothing.
    assert 300 * 500 < first < 300 * 200_000
    assert abs(first - second) / first < 0.001
    assert cell.summary["instructions_per_event"] == pytest.approx(first / 300, rel=0.001)


@pytest.mark.slow
def test_sqlite_streamed_reads_count_the_same_instructions_in_every_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Under cachegrind a fetch takes about the 2 ms the SQLite store's loop-fetch valve
    # once judged by time alone, so where a read left the loop, and its count, varied
    # by up to 9% between processes. A warm read must keep one path, however slow.
    # "Warm" is made certain: the store's file lives in memory (tmpfs), so no fetch
    # ever reads from storage. On disk, CI's parallel tests can make a fetch really
    # wait for the disk, and the valve then rightly moves the read off the loop.
    shm = Path("/dev/shm")
    in_memory = Path(tempfile.mkdtemp(prefix="eventbench-", dir=shm)) if shm.is_dir() else tmp_path
    monkeypatch.setenv("TMPDIR", str(in_memory))  # the seeding worker's temporary store
    try:
        first, second = _counted_streamed_read("sqlite", 3000)[1].per_run
    finally:
        if in_memory != tmp_path:
            shutil.rmtree(in_memory, ignore_errors=True)
    assert abs(first - second) / first < 0.001, (first, second)


@pytest.mark.parametrize(("change", "verdict"), [(1.02, "regressed"), (1.004, "unchanged")])
def test_compare_judges_instructions_against_a_one_percent_minimum_effect(
    change: float, verdict: str
) -> None:
    import random

    from harness.results import InstructionSamples, RunResults

    cell = read_cell("read-stream", "sqlite", "streamed", 1000, random.Random(2))

    def counted(per_run: list[float]) -> RunResults:
        rounds = list(range(len(per_run)))
        samples = InstructionSamples(per_run=per_run, events=1000, method="test", rounds=rounds)
        return RunResults(environment(), {}, [replace(cell, instructions=samples)])

    # One count per round (process); four rounds a side are the fewest that can decide.
    counts = [4.0e8, 4.00004e8, 4.00002e8, 3.99998e8]
    base = counted(counts)
    head = counted([x * change for x in counts])
    [compared] = compare_results(base, head).cells
    [instructions] = [m for m in compared.metrics if m.metric == "instructions"]
    assert instructions.verdict.value == verdict, instructions.reason
    assert instructions.minimum_effect == 0.01
    # Two rounds a side cannot reach 95%: never a verdict, whatever the change.
    [few] = compare_results(counted(counts[:2]), counted([x * change for x in counts[:2]])).cells
    [instructions] = [m for m in few.metrics if m.metric == "instructions"]
    assert instructions.reason.startswith("inconclusive (2 rounds per side)")


def test_instruction_spread_between_processes_raises_the_minimum_effect() -> None:
    import random

    from harness.results import InstructionSamples, RunResults

    cell = read_cell("read-stream", "sqlite", "streamed", 1000, random.Random(2))

    def counted(per_run: list[float]) -> RunResults:
        rounds = list(range(len(per_run)))
        samples = InstructionSamples(per_run=per_run, events=1000, method="test", rounds=rounds)
        return RunResults(environment(), {}, [replace(cell, instructions=samples)])

    # Rounds 3% apart: a 2% shift is within what separates two identical processes.
    counts = [4.0e8, 4.12e8, 4.04e8, 4.08e8]
    [compared] = compare_results(counted(counts), counted([x * 1.02 for x in counts])).cells
    [instructions] = [m for m in compared.metrics if m.metric == "instructions"]
    assert instructions.minimum_effect == pytest.approx(0.03)
    assert instructions.verdict.value != "regressed"
