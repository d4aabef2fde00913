"""What the loop-stall ticker costs: the same work timed with and without it.

``python -m harness.instruments.overhead [--sizes 10k] [--rounds 5] [--backends sqlite]``
(also ``nox -s stall-overhead``) prints two measurements; the README quotes them.

1. What one tick costs: in one process, the event loop turned 50,000 times with a
   ticker due at every turn, against the same without, interleaved ``--trials`` times
   (fastest of each). The ticker runs at most once a millisecond, so its cost is at
   most 1,000 times that per second of work: a bound no scheduling noise can blur.
2. read-stream's collected and streamed cells through the real runner, on two sides
   that differ only in ``EVENTBENCH_STALL_TICK_S`` (1 ms vs 0: no ticker), interleaved
   A B A B in fresh processes: each cell's median time on both sides and their ratio.
   On a shared machine these ratios scatter by several percent either way.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from harness.analysis.stats import median
from harness.cli.run import parse_sizes
from harness.instruments.stall import DEFAULT_TICK_S, LoopWatch
from harness.report.format import fmt_seconds, fmt_size
from harness.runner import Side, make_plan, run_plan

__all__ = ["main"]


async def _spin(turns: int, tick_s: float | None) -> tuple[float, int]:
    """Turn the loop ``turns`` times (a task yielding with ``sleep(0)``), with a ticker
    of ``tick_s`` or none; the seconds taken and the ticks that ran."""
    watch = LoopWatch(tick_s) if tick_s else None
    if watch is not None:
        watch.start()
    started = time.perf_counter()
    for _ in range(turns):
        await asyncio.sleep(0)
    elapsed = time.perf_counter() - started
    if watch is None:
        return elapsed, 0
    watch.stop()
    return elapsed, len(watch.late_s)


def tick_cost(trials: int, turns: int = 50_000) -> float:
    """Seconds one tick adds to the loop: a loop turned ``turns`` times with a ticker due
    at every turn, against the same without, interleaved; fastest of ``trials`` each."""

    async def run() -> float:
        ticking: list[float] = []
        bare: list[float] = []
        ticks = turns
        for _ in range(trials):
            elapsed, ticks = await _spin(turns, 1e-9)
            ticking.append(elapsed)
            bare.append((await _spin(turns, None))[0])
        return (min(ticking) - min(bare)) / max(1, ticks)

    return asyncio.run(run())


def in_process(trials: int) -> None:
    """Measurement 1 (see the module docstring)."""
    cost = tick_cost(trials)
    rate = 1 / DEFAULT_TICK_S
    print(
        f"one tick costs {cost * 1e6:.2f} µs (a loop turned 50,000 times with a tick at "
        f"every turn against without, fastest of {trials} each); at most {rate:.0f} ticks "
        f"a second, the ticker costs at most {cost * rate:.2%} of a run's time"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10k,100k")
    parser.add_argument("--backends", default="sqlite,memory")
    parser.add_argument("--rounds", type=int, default=5, help="0: only measurement 1")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trials", type=int, default=9)
    args = parser.parse_args(argv)
    in_process(args.trials)
    if not args.rounds:
        return 0
    plan = make_plan(
        scenarios=["read-stream"],
        backends=args.backends.split(","),
        sizes=parse_sizes(args.sizes),
        modes=["collected", "streamed"],
        repeats=args.repeats,
        memory_repeats=0,
        rounds=args.rounds,
    )
    ticker = Side("ticker", sys.executable)
    bare = Side("no ticker", sys.executable, env={"EVENTBENCH_STALL_TICK_S": "0"})
    with_ticker, without = run_plan(plan, sides=[ticker, bare])
    others = {c.key: c for c in without.cells}
    print("cell | with ticker | without | ratio | longest stall seen")
    ratios = []
    for cell in with_ticker.cells:
        other = others.get(cell.key)
        if cell.time is None or other is None or other.time is None:
            continue
        a, b = median(cell.time.total_s), median(other.time.total_s)
        ratios.append(a / b)
        print(
            f"{cell.backend} {cell.mode} {fmt_size(cell.size)} | {fmt_seconds(a)} | "
            f"{fmt_seconds(b)} | {a / b:.3f} | {fmt_seconds(cell.summary.get('stall_max_s'))}"
        )
    if ratios:
        print(f"median ratio over {len(ratios)} cells: {median(ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
