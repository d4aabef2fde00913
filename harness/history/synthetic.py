"""A generated history with planted steps: what `history check` is measured against.

``python -m harness.history.synthetic DIR`` writes a git repository of 60 empty commits
in DIR/repo and one results file per commit in DIR/runs, in which one read cell has
realistic noise and three planted steps and nothing else changes:

- instructions per run +3% from commit 20 (noise sd 0.002%: cachegrind repeats to ~0.001%);
- peak memory +25% from commit 35 (noise sd 1%, 5% of commits +-10% outliers);
- wall time +20% from commit 48 (log-normal noise sd 6%, 8% of commits +30..80% bursts).

Then: ``eventbench history add DIR/runs/*.json --db DIR/history.sqlite --repo DIR/repo``
and ``eventbench history check --db DIR/history.sqlite``.
``python -m harness.history.synthetic --evaluate 100`` runs the detector on 100 such
histories (seeds 0..99) and prints how often each step is found at the right commit.
"""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.results import Cell, Environment, MemorySamples, RunResults, TimeSamples, save_results
from harness.stats import summarize

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


def planted_values(seed: int = 7, commits: int = COMMITS) -> dict[str, list[float]]:
    """Per metric, one value per commit (1..commits), with the planted steps and noise."""
    rng = random.Random(seed)
    out: dict[str, list[float]] = {m: [] for m in _BASE}
    steps = {p.metric: p for p in PLANTED}
    for n in range(1, commits + 1):
        for metric, base in _BASE.items():
            step = steps[metric]
            level = base * (1 + step.change if n >= step.commit else 1.0)
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


def evaluate(histories: int) -> list[str]:
    """Markdown rows: for ``histories`` generated histories (seeds 0..n-1), where each
    planted step was found (offset from the right commit) and how many other steps."""
    from harness.history.changepoints import Thresholds, find_steps
    from harness.history.store import Series

    thresholds = Thresholds()
    rows = ["| metric | step | at the right commit | 1-3 commits off | missed | other steps |"]
    rows.append("| --- | --- | --- | --- | --- | --- |")
    for plant in PLANTED:
        exact = near = missed = other = 0
        for seed in range(histories):
            values = planted_values(seed)[plant.metric]
            n = len(values)
            series = Series(
                "s", "b", "m", 1, plant.metric, [f"c{i}" for i in range(1, n + 1)],
                list(range(1, n + 1)), [""] * n, values, [1] * n,
            )  # fmt: skip
            offsets = [step.index - (plant.commit - 1) for step in find_steps(series, thresholds)]
            close = [o for o in offsets if abs(o) <= 3]
            exact += 0 in close
            near += bool(close) and 0 not in close
            missed += not close
            other += len(offsets) - min(1, len(close))
        rows.append(
            f"| {plant.metric} | {plant.change:+.0%} | {exact}/{histories} | {near} | {missed} "
            f"| {other} in {histories} series |"
        )
    return rows


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) > 2 and sys.argv[1] == "--evaluate":
        print("\n".join(evaluate(int(sys.argv[2]))))
        raise SystemExit(0)
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "reports/planted-history")
    repo_path, files = write_planted_history(target)
    print(f"wrote {repo_path} and {len(files)} results files in {target / 'runs'}")
