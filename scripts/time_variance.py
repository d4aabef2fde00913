"""Where does the noise of a timed streamed read come from? One interleaved run of the
memory store's streamed read (variant store, sides A, A2 identical and SLOW +25%), many
repeats per process, then, for wall time (total_s) and CPU time (cpu_s): spread of
repeats within a process vs between processes, the first timed repeat vs later ones,
and unpaired vs paired (per-round) ratios.

    python scripts/time_variance.py --rounds 10 --repeats 6 --size 100000
    python scripts/time_variance.py --rounds 10 --repeats 6 --size 100000 --normal-too

``--normal-too`` adds sides AN and SLOWN, the same as A and SLOW but timed under the
normal scheduler (``EVENTBENCH_REALTIME=0``, see `harness.runner.timed_scheduling`),
interleaved with the others.

Figures are logs: "sd" is the standard deviation of log(time), ~ relative spread.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
sys.path.insert(0, str(TESTS))

from variant_backends import VARIANT_ENV  # noqa: E402

from harness.runner import Side, make_plan, run_plan  # noqa: E402
from harness.runner.processes import REALTIME_ENV  # noqa: E402
from harness.worker import SCHEDULING_SETTING  # noqa: E402


def _side(label: str, variant: str, extra: dict[str, str]) -> Side:
    pythonpath = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    return Side(label, env={"PYTHONPATH": pythonpath, VARIANT_ENV: variant, **extra})


def _sd(xs: list[float]) -> float:
    return statistics.stdev(xs) if len(xs) > 1 else math.nan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=Path("reports/time-variance.json"))
    parser.add_argument(
        "--normal-too",
        action="store_true",
        help="also sides AN, SLOWN timed under the normal scheduler",
    )
    args = parser.parse_args()
    plan = make_plan(
        scenarios=["read-stream"],
        backends=["variant_backends:variant_store"],
        sizes=[args.size],
        modes=["streamed"],
        repeats=args.repeats,
        memory_repeats=0,
        rounds=args.rounds,
    )
    sides = [_side("A", "", {}), _side("A2", "", {}), _side("SLOW", "slow-25", {})]
    if args.normal_too:
        normal = {REALTIME_ENV: "0"}
        sides += [_side("AN", "", normal), _side("SLOWN", "slow-25", normal)]
    started = time.perf_counter()
    runs = run_plan(plan, sides=sides)
    took = time.perf_counter() - started
    data: dict[str, dict[str, list[list[float]]]] = {"total_s": {}, "cpu_s": {}}
    for r in runs:
        (cell,) = r.cells
        assert cell.time is not None
        assert cell.time.rounds is not None
        for metric, values in (("total_s", cell.time.total_s), ("cpu_s", cell.time.cpu_s)):
            per: dict[int, list[float]] = {}
            for v, k in zip(values or [], cell.time.rounds, strict=False):
                per.setdefault(k, []).append(v)
            data[metric][r.side] = [per[k] for k in sorted(per)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"took_s": took, "data": data}))
    loads = os.getloadavg()
    print(
        f"{args.rounds} rounds x {args.repeats} repeats, {len(sides)} sides, {took:.0f} s; "
        f"load average at the end {loads[0]:.2f} {loads[1]:.2f} {loads[2]:.2f}"
    )
    scheduled = {
        r.side: sorted({c.settings.get(SCHEDULING_SETTING, "?") for c in r.cells}) for r in runs
    }
    print(f"timed runs scheduled: {scheduled}")
    for metric, per_side in data.items():
        if all(per_side.values()):
            print(f"--- {metric}")
            analyse(per_side)
    return 0


def analyse(data: dict[str, list[list[float]]]) -> None:
    for side, rounds in data.items():
        logs = [[math.log(v) for v in r] for r in rounds]
        within = statistics.median(_sd(r) for r in logs)
        mins = [min(r) for r in logs]
        meds = [statistics.median(r) for r in logs]
        firsts = [r[0] for r in logs]
        later = [min(r[1:]) for r in logs if len(r) > 1]
        first_excess = statistics.median(r[0] - statistics.median(r[1:]) for r in logs)
        print(
            f"{side:5} within-process sd {within:.3f}; between-process sd of min {_sd(mins):.3f}, "
            f"of median {_sd(meds):.3f}, of first repeat {_sd(firsts):.3f}, "
            f"of min(2..) {_sd(later):.3f}; first repeat vs median of later {first_excess:+.3f}"
        )
        for k in (1, 2, 3, 4, 6):
            if k <= len(rounds[0]):
                spread = _sd([min(r[:k]) for r in logs])
                print(f"      min of first {k} repeats: between-process sd {spread:.3f}")
    pairs = [("A", "A2"), ("A", "SLOW"), ("AN", "SLOWN"), ("AN", "A")]
    for base, other in pairs:
        if base not in data or other not in data:
            continue
        a = [min(r) for r in data[base]]
        b = [min(r) for r in data[other]]
        d = [math.log(y / x) for x, y in zip(a, b, strict=True)]
        unpaired = [math.log(y / x) for x in a for y in b]
        print(
            f"{other}/{base}: paired log ratios median {statistics.median(d):+.3f} "
            f"sd {_sd(d):.3f}; "
            f"unpaired HL {statistics.median(unpaired):+.3f}, "
            f"sd({base})={_sd([math.log(x) for x in a]):.3f} "
            f"sd({other})={_sd([math.log(x) for x in b]):.3f}"
        )
    # Does load drift shared by neighbours? correlation of A and A2 per round.
    la = [math.log(min(r)) for r in data["A"]]
    lb = [math.log(min(r)) for r in data["A2"]]
    ls = [math.log(min(r)) for r in data["SLOW"]]
    near, far = statistics.correlation(la, lb), statistics.correlation(la, ls)
    print(f"corr(A, A2) per round {near:+.2f}; corr(A, SLOW) {far:+.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--analyse":
        for metric, per_side in json.loads(Path(sys.argv[2]).read_text())["data"].items():
            print(f"--- {metric}")
            analyse(per_side)
    else:
        sys.exit(main())
