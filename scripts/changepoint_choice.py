"""How the history's change-point library was chosen: false alarms and detection delay of
each candidate on generated series with known steps and realistic noise.

    pip install ruptures signal-processing-algorithms apache-otava
    python scripts/changepoint_choice.py [--trials 40] [--only e_divisive]

(candidates whose library is not installed are left out, with a note). The last
candidate is E-Divisive with the settings `harness.analysis.changepoints` uses (per
metric kind); the one before it, E-Divisive with one setting for every kind.

Series: 60 commits, one step at a random commit in 15..45 (or none), per metric kind:

- instructions: noise sd 0.002% between processes (cachegrind repeats to ~0.001%), step +3%;
- peak memory:  noise sd 1%, 5% of points +-10% outliers, step +25%;
- wall time:    log-normal noise sd 6% and 8% of points +30..80% load bursts, step +20%.

A change point counts when it is found at the right commit or within 2 after
("delay"), and when the step it marks (median after / median before) is at least the
minimum effect (1% instructions, 10% memory and time); any other counts as a false alarm.
"exact" and "within 1" count planted steps found at the right commit, and at most one
commit before or after it (those within 1 before count as false alarms in "found").
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import time
import warnings
from collections.abc import Callable

warnings.filterwarnings("ignore")

PROFILES = {
    "instructions": (0.03, 0.01),
    "peak": (0.25, 0.10),
    "wall": (0.20, 0.10),
}


def make_series(kind: str, step_at: int | None, rng: random.Random, n: int = 60) -> list[float]:
    step = PROFILES[kind][0]
    out = []
    for i in range(n):
        level = 1.0 + (step if step_at is not None and i >= step_at else 0.0)
        if kind == "instructions":
            value = level * (1 + rng.gauss(0, 0.00002))
        elif kind == "peak":
            value = level * (1 + rng.gauss(0, 0.01))
            if rng.random() < 0.05:
                value *= 1 + rng.choice((-1, 1)) * 0.10
        else:
            value = level * rng.lognormvariate(0, 0.06)
            if rng.random() < 0.08:
                value *= 1 + rng.uniform(0.3, 0.8)
        out.append(value)
    return out


def effect(series: list[float], cps: list[int], i: int) -> float:
    bounds = [0, *sorted(cps), len(series)]
    k = bounds.index(cps[i])
    before = statistics.median(series[bounds[k - 1] : bounds[k]])
    after = statistics.median(series[bounds[k] : bounds[k + 1]])
    return after / before - 1


def with_ruptures(series: list[float]) -> list[int]:
    import numpy as np
    import ruptures

    x = np.asarray(series) / statistics.median(series)
    diffs = np.abs(np.diff(x))
    sigma = max(float(np.median(diffs)) / 0.954, 1e-12)  # MAD of differences -> sd
    algo = ruptures.Pelt(model="l1", min_size=3, jump=1).fit(x)
    return [b for b in algo.predict(pen=3 * sigma * np.log(len(x))) if b < len(x)]


def with_spa(series: list[float]) -> list[int]:
    from signal_processing_algorithms.energy_statistics.energy_statistics import e_divisive

    return sorted(e_divisive(series, pvalue=0.01, permutations=100))


def eventbench_settings(metric: str) -> Callable[[list[float]], list[int]]:
    def detect(series: list[float]) -> list[int]:
        from harness.analysis.changepoints import Thresholds, detect_change_points

        return detect_change_points(series, Thresholds(), metric)

    return detect


METRICS = {"instructions": "instructions", "peak": "peak_bytes", "wall": "total_s"}


def with_otava(series: list[float]) -> list[int]:
    from otava.analysis import compute_change_points

    cps, _ = compute_change_points(series, window_len=30, max_pvalue=0.001)
    return sorted(cp.index for cp in cps)


CANDIDATES: dict[str, tuple[str, Callable[[str], Callable[[list[float]], list[int]]]]] = {
    "ruptures 1.1.10 (Pelt, l1, BIC-like penalty)": ("ruptures", lambda _: with_ruptures),
    "apache-otava 0.8.0 (window 30, p=0.001)": ("otava", lambda _: with_otava),
    "signal-processing-algorithms 2.1.6 (e_divisive p=0.01)": (
        "signal_processing_algorithms",
        lambda _: with_spa,
    ),
    "eventbench (e_divisive, log values; time p=0.02, 2-commit segments; else p=0.01)": (
        "signal_processing_algorithms",
        lambda kind: eventbench_settings(METRICS[kind]),
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--only", default="", help="only candidates whose name has this")
    args = parser.parse_args()
    print(
        "| library | metric | exact | within 1 | found | delay (median, max) "
        "| false alarms per series | s per series |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, (module, make) in CANDIDATES.items():
        if args.only.lower() not in name.lower():
            continue
        if importlib.util.find_spec(module) is None:
            print(f"(left out {name}: `pip install` it to compare)")
            continue
        for kind, (_, minimum) in PROFILES.items():
            detect = make(kind)
            rng = random.Random(sum(map(ord, kind)))  # the same series for every candidate
            found, exact, within1, delays, false, spent = 0, 0, 0, [], 0, 0.0
            for _trial in range(args.trials):
                for planted in (rng.randint(15, 45), None):
                    series = make_series(kind, planted, rng)
                    started = time.perf_counter()
                    cps = detect(series)
                    spent += time.perf_counter() - started
                    hit = near = False
                    for i, cp in enumerate(cps):
                        if abs(effect(series, cps, i)) < minimum:
                            continue
                        if planted is not None:
                            exact += cp == planted
                            near = near or abs(cp - planted) <= 1
                        if planted is not None and 0 <= cp - planted <= 2 and not hit:
                            hit = True
                            delays.append(cp - planted)
                        else:
                            false += 1
                    found += hit
                    within1 += near
            delay = f"{statistics.median(delays):.0f}, {max(delays)}" if delays else "-"
            print(
                f"| {name} | {kind} | {exact}/{args.trials} | {within1}/{args.trials} "
                f"| {found}/{args.trials} | {delay} | "
                f"{false / (2 * args.trials):.2f} | {spent / (2 * args.trials):.3f} |"
            )


if __name__ == "__main__":
    main()
