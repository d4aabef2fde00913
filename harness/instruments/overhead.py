"""What the loop-stall ticker costs: the same cells timed with and without it.

``python -m harness.instruments.overhead [--sizes 10k] [--rounds 5] [--backends sqlite]``
(also ``nox -s stall-overhead``) measures read-stream's collected and streamed cells on
two sides that differ only in ``EVENTBENCH_STALL_TICK_S`` (1 ms vs 0: no ticker),
interleaved A B A B in fresh processes, and prints each cell's median time on both
sides and their ratio. The README quotes its output.
"""

from __future__ import annotations

import argparse
import sys

from harness.report.format import fmt_seconds, fmt_size
from harness.runner import Side, make_plan, run_plan
from harness.runner_cli import parse_sizes
from harness.stats import median

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10k,100k")
    parser.add_argument("--backends", default="sqlite,memory")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
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
