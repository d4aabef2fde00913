"""How well `eventbench run --full --shard i/n` balances: each shard's estimated cost
against the ideal share (total / n), for n = 2..16, with seed groups kept whole (the
former split) and with heavy groups split across shards (the current one).

    python scripts/shard_balance.py [--backends sqlite,memory,postgres] [--max 16]

Costs are the runner's own estimates (`harness.runner.estimate_s`, the model behind
its ETA), so the table says how even the split is by that model, not by a stopwatch.
"""

from __future__ import annotations

import argparse

from harness.cli.run import plan_from_options
from harness.runner import FULL, shards


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="sqlite,memory,postgres")
    parser.add_argument("--max", type=int, default=16)
    args = parser.parse_args()
    plan = plan_from_options(
        scenarios=None,
        backends=args.backends,
        sizes=None,
        modes=None,
        repeats=None,
        memory_repeats=None,
        warmups=1,
        rounds=None,
        params=(),
        profile=FULL,
    )
    groups = shards._groups(plan)
    total = sum(shards._group_weight(g, plan) for g in groups)
    heaviest = max(shards._group_weight(g, plan) for g in groups)
    print(
        f"`eventbench run --full` on {args.backends}: {len(plan.cells)} cells in "
        f"{len(groups)} seed groups, {total:,.0f} s estimated in all (heaviest group "
        f"{heaviest:,.0f} s)\n"
    )
    print(
        "| shards | ideal share | groups whole: longest / ideal | split: longest / ideal "
        "| split: shortest / ideal | extra seedings |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for count in range(2, args.max + 1):
        ideal = total / count
        whole = shards._makespan(groups, shards._deal(groups, plan, count), plan)
        weights = shards.shard_weights(plan, count)
        seeded = sum(
            len(shards._groups(shards.shard_plan(plan, shards.Shard(i, count))))
            for i in range(1, count + 1)
        )
        print(
            f"| {count} | {ideal:,.0f} s | {whole / ideal:.2f} | {max(weights) / ideal:.2f} "
            f"| {min(weights) / ideal:.2f} | {seeded - len(groups)} |"
        )


if __name__ == "__main__":
    main()
