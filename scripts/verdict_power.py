"""How often does compare's time verdict catch a 25% slowdown, and call identical code a
regression, at a given noise? Simulated with `harness.analysis.compare.compare_metric` itself.

    python scripts/verdict_power.py --sigma 0.05 --rho 0.5 --rounds 5,6,8

Each round's figure is exp(shared + own) seconds: ``shared`` (standard deviation
sigma * sqrt(rho)) is the load both sides of an interleaved round meet, ``own``
(sigma * sqrt(1 - rho)) each process's own luck; ``sigma`` is the spread of a
process's fastest run (sd of its log, as `scripts/time_variance.py` measures it) and
``rho`` the correlation of neighbouring rounds. "paired" judges the rounds as one
interleaved run (paired from 6 rounds, `harness.analysis.compare.min_pairs`), "unpaired" as
plain per-round figures measured together (Mann-Whitney).
"""

from __future__ import annotations

import argparse
import math
import random

from harness.analysis.compare import METRICS, Samples, Verdict, compare_metric

CPU = {m.name: m for m in METRICS}["cpu_s"]


def regressed_share(
    rounds: int, sigma: float, rho: float, effect: float, paired: bool, trials: int, seed: int
) -> float:
    rng = random.Random(seed)
    hits = 0
    for _ in range(trials):
        shared = [rng.gauss(0, sigma * math.sqrt(rho)) for _ in range(rounds)]
        base = [math.exp(s + rng.gauss(0, sigma * math.sqrt(1 - rho))) for s in shared]
        head = [effect * math.exp(s + rng.gauss(0, sigma * math.sqrt(1 - rho))) for s in shared]
        index = tuple(range(rounds))
        if paired:
            result = compare_metric(CPU, Samples(tuple(base), index), Samples(tuple(head), index))
        else:
            result = compare_metric(CPU, base, head)
        hits += result.verdict is Verdict.REGRESSED
    return hits / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sigma", type=float, default=0.05)
    parser.add_argument("--rho", type=float, default=0.5)
    parser.add_argument("--rounds", default="5,6,8,12")
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"sigma {args.sigma}, rho {args.rho}, {args.trials} simulated comparisons each")
    for n in (int(x) for x in args.rounds.split(",")):
        figures = {
            (kind, effect): regressed_share(
                n, args.sigma, args.rho, effect, kind == "paired", args.trials, args.seed
            )
            for kind in ("unpaired", "paired")
            for effect in (1.25, 1.0)
        }
        print(
            f"{n:3} rounds: +25% caught {figures[('unpaired', 1.25)]:.0%} unpaired, "
            f"{figures[('paired', 1.25)]:.0%} paired; identical code regressed "
            f"{figures[('unpaired', 1.0)]:.1%} unpaired, {figures[('paired', 1.0)]:.1%} paired"
        )


if __name__ == "__main__":
    main()
