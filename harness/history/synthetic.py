"""A generated history with planted steps: what `history check` is measured against.

``python -m harness.history.synthetic DIR`` writes a git repository of 60 empty commits
in DIR/repo and one results file per commit in DIR/runs, in which one read cell has
realistic noise and three planted steps and nothing else changes:

- instructions per run +3% from commit 20 (noise sd 0.002%: cachegrind repeats to ~0.001%);
- peak memory +25% from commit 35 (noise sd 1%, 5% of commits +-10% outliers);
- wall time +20% from commit 48 (log-normal noise sd 6%, 8% of commits +30..80% bursts).

Then: ``eventbench history add DIR/runs/*.json --db DIR/history.sqlite --repo DIR/repo``
and ``eventbench history check --db DIR/history.sqlite``.
``python -m harness.history.synthetic --evaluate 100 [1000]`` runs the detector on 100
such histories (seeds 0..99) and prints how often each step is found at the right
commit, how soon `history check` alarms, and how often it alarms on 1000 series of the
same noise without a step.
"""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.analysis.stats import summarize
from harness.history.store import Series
from harness.results import Cell, Environment, MemorySamples, RunResults, TimeSamples, save_results

__all__ = ["PLANTED", "Planted", "planted_values", "write_planted_history"]


@dataclass(frozen=True)
class Planted:
    metric: str
    commit: int
    """1-based commit number where the new level starts."""
    change: float


PLANTED = (
    Planted("instructions", 20, 0.03),
    Planted("peak_bytes", 35, 0.25),
    Planted("total_s", 48, 0.20),
)
COMMITS = 60
_BASE = {"instructions": 7.8e8, "peak_bytes": 300_000.0, "total_s": 0.032}


def planted_values(
    seed: int = 7, commits: int = COMMITS, *, steps: bool = True
) -> dict[str, list[float]]:
    """Per metric, one value per commit (1..commits), with the planted steps and noise
    (``steps=False``: the same noise, no step)."""
    rng = random.Random(seed)
    out: dict[str, list[float]] = {m: [] for m in _BASE}
    planted = {p.metric: p for p in PLANTED}
    for n in range(1, commits + 1):
        for metric, base in _BASE.items():
            step = planted[metric]
            level = base * (1 + step.change if steps and n >= step.commit else 1.0)
            if metric == "instructions":
                value = level * (1 + rng.gauss(0, 0.00002))
            elif metric == "peak_bytes":
                value = level * (1 + rng.gauss(0, 0.01))
                if rng.random() < 0.05:
                    value *= 1 + rng.choice((-1, 1)) * 0.10
            else:
                value = level * rng.lognormvariate(0, 0.06)
                if rng.random() < 0.08:
                    value *= 1 + rng.uniform(0.3, 0.8)
            out[metric].append(value)
    return out


def _git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "eventbench",
        "GIT_AUTHOR_EMAIL": "eventbench@example.invalid",
        "GIT_COMMITTER_NAME": "eventbench",
        "GIT_COMMITTER_EMAIL": "eventbench@example.invalid",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(repo),
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, env=env
    )
    return done.stdout.strip()


def _results(commit: str, n: int, values: dict[str, float]) -> RunResults:
    cell = Cell(
        scenario="read-stream",
        backend="sqlite",
        mode="streamed",
        size=10_000,
        params={"payload_bytes": 100},
        time=TimeSamples(total_s=[values["total_s"]], first_event_s=None, events=10_000, warmups=1),
        memory=MemorySamples(peak_bytes=[int(values["peak_bytes"])], allocations=[120_000]),
    )
    summary = {**summarize(cell), "instructions": values["instructions"]}
    env = Environment(
        hostname="bench-1",
        platform="Linux",
        machine="x86_64",
        cpu_model="generated",
        cpu_count=2,
        memory_bytes=8 << 30,
        python="3.11",
        packages={"eventbench": "0"},
        servers={},
        git_commit=commit,
        git_dirty=False,
    )
    return RunResults(
        environment=env,
        parameters={"generated": True},
        cells=[Cell(**{**cell.__dict__, "summary": summary})],
        started_at=f"2026-01-01T00:{n // 60:02}:{n % 60:02}+00:00",
    )


def write_planted_history(directory: Path, seed: int = 7) -> tuple[Path, list[Path]]:
    """The repository and the results files (one per commit, oldest first)."""
    repo = directory / "repo"
    repo.mkdir(parents=True, exist_ok=True)
    _git(repo, "init", "-q", "-b", "main")
    values = planted_values(seed)
    paths = []
    for n in range(1, COMMITS + 1):
        _git(repo, "commit", "-q", "--allow-empty", "-m", f"commit {n}")
        commit = _git(repo, "rev-parse", "HEAD")
        point = {metric: series[n - 1] for metric, series in values.items()}
        paths.append(save_results(_results(commit, n, point), directory / "runs" / f"{n:03}.json"))
    return repo, paths


def _series(metric: str, values: list[float]) -> Series:
    n = len(values)
    commits = [f"c{i}" for i in range(1, n + 1)]
    return Series(
        "s", "b", "m", 1, metric, commits, list(range(1, n + 1)), [""] * n, values, [1] * n
    )


def evaluate(histories: int, flat: int | None = None) -> list[str]:
    """Markdown rows: for ``histories`` generated histories (seeds 0..n-1), where each
    planted step was found (offset from the right commit), how many other steps beyond
    the minimum effect, how many commits after the step `history check` first alarms
    (naming a commit within 1 of it), and how often it alarms on the same noise without
    a step (``flat`` series, default as many)."""
    from harness.analysis.changepoints import Thresholds, check_series, find_steps

    thresholds = Thresholds()
    flat = histories if flat is None else flat
    rows = [
        "| metric | step | at the right commit | within 1 commit | within 3 | missed "
        "| other steps | first alarm (commits after the step: median, 90th pct) "
        "| alarms without a step |"
    ]
    rows.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for plant in PLANTED:
        exact = within1 = within3 = other = alarms = 0
        delays: list[int] = []
        start = plant.commit - 1
        for seed in range(histories):
            values = planted_values(seed)[plant.metric]
            steps = find_steps(_series(plant.metric, values), thresholds)
            offsets = [step.index - start for step in steps]
            close = [o for o in offsets if abs(o) <= 3]
            exact += 0 in close
            within1 += any(abs(o) <= 1 for o in close)
            within3 += bool(close)
            other += len(offsets) - min(1, len(close))
            for after in range(len(values) - start):
                alarm = check_series(_series(plant.metric, values[: start + after + 1]), thresholds)
                if alarm is not None and abs(alarm.step.index - start) <= 1:
                    delays.append(after)
                    break
            else:
                delays.append(len(values))  # never: counts as beyond the end
        for seed in range(flat):
            noise = planted_values(seed, steps=False)[plant.metric]
            alarms += check_series(_series(plant.metric, noise), thresholds) is not None
        delays.sort()
        late = delays[int(0.9 * (len(delays) - 1))]
        rows.append(
            f"| {plant.metric} | {plant.change:+.0%} | {exact}/{histories} | {within1} "
            f"| {within3} | {histories - within3} | {other} in {histories} series "
            f"| {delays[len(delays) // 2]}, {late if late < len(values) else 'never'} "
            f"| {alarms} in {flat} series |"
        )
    return rows


def best_single_split(histories: int, metric: str = "total_s") -> tuple[int, int]:
    """A bound on placement: how often the best single split of each series (least
    absolute deviation from the two segments' medians, on log values), which knows
    there is exactly one step, lands at the right commit and within 1 commit of it."""
    import math
    import statistics

    plant = next(p for p in PLANTED if p.metric == metric)
    exact = within1 = 0
    for seed in range(histories):
        x = [math.log(v) for v in planted_values(seed)[metric]]

        def cost(cut: int, x: list[float] = x) -> float:
            a, b = x[:cut], x[cut:]
            ma, mb = statistics.median(a), statistics.median(b)
            return sum(abs(v - ma) for v in a) + sum(abs(v - mb) for v in b)

        best = min(range(3, len(x) - 2), key=cost)
        exact += best == plant.commit - 1
        within1 += abs(best - (plant.commit - 1)) <= 1
    return exact, within1


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) > 2 and sys.argv[1] == "--evaluate":
        histories = int(sys.argv[2])
        print("\n".join(evaluate(histories, int(sys.argv[3]) if len(sys.argv) > 3 else None)))
        exact, within1 = best_single_split(histories)
        print(
            f"\nBest single split of total_s (knows there is one step): at the right commit "
            f"{exact}/{histories}, within 1 commit {within1}/{histories}."
        )
        raise SystemExit(0)
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "reports/planted-history")
    repo_path, files = write_planted_history(target)
    print(f"wrote {repo_path} and {len(files)} results files in {target / 'runs'}")
