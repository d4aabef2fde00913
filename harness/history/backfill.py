"""Measuring past commits into the history (``eventbench history backfill A..B``).

Each commit is installed in its own cached environment by the ``--ref`` machinery
(`harness.runner.gitref.prepare_ref`), measured with the given plan, written to a results
file and added to the history before the next one starts, so a crash or Ctrl-C loses
no finished commit; commits the history already holds are skipped, so running the
same command again resumes where it stopped.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.history.db import Database, HistoryError
from harness.history.store import RunRecord, add_run
from harness.results import save_results
from harness.runner import Plan, Progress, Side, run_plan
from harness.runner.gitref import RefEnvironment, RefError, prepare_ref, repo_root

__all__ = ["BackfillOutcome", "backfill", "commits_to_backfill"]


@dataclass
class BackfillOutcome:
    added: list[RunRecord] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Commits the history already held."""
    failed: dict[str, str] = field(default_factory=dict)
    """Commit -> why it could not be measured (e.g. it does not install)."""
    interrupted: bool = False


def commits_to_backfill(repo: Path, spec: str, every: int = 1) -> list[str]:
    """The first-parent commits of ``spec`` (``A..B``), oldest first, every ``every``-th
    counted back from B (so B itself is always measured)."""
    if every < 1:
        raise HistoryError("--every must be at least 1")
    if ".." not in spec:
        raise HistoryError(f"{spec!r} is not a range: write OLD..NEW (e.g. v0.1..main)")
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), "rev-list", "--first-parent", "--reverse", spec],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except FileNotFoundError:
        raise HistoryError("git is not installed; install git to backfill") from None
    if done.returncode != 0:
        raise HistoryError(
            f"git cannot list {spec!r} in {repo}: {done.stderr.strip()}; check both refs exist "
            "(git fetch)"
        )
    commits = done.stdout.split()
    if not commits:
        raise HistoryError(f"{spec!r} holds no commits (is the older ref first?)")
    return commits[::-1][::every][::-1]


def backfill(
    db: Database,
    plan: Plan,
    commits: list[str],
    *,
    repo: Path,
    runs_dir: Path,
    note: Callable[[str], None] = lambda _: None,
    progress: Callable[[], Progress] = Progress,
    timeout_s: float | None = None,
    prepare: Callable[..., RefEnvironment] = prepare_ref,
) -> BackfillOutcome:
    """Measure and add each of ``commits`` in order; see the module docstring."""
    root = repo_root(repo)
    held = {str(c) for (c,) in db.execute("SELECT DISTINCT git_commit FROM eventbench_runs")}
    outcome = BackfillOutcome()
    todo = [c for c in commits if c not in held]
    outcome.skipped = [c for c in commits if c in held]
    for number, commit in enumerate(todo, 1):
        note(f"[{number}/{len(todo)}] {commit[:12]}: preparing its environment")
        try:
            env = prepare(commit, repo=root, note=note)
        except RefError as exc:
            outcome.failed[commit] = str(exc)
            note(f"[{number}/{len(todo)}] {commit[:12]}: cannot install: {exc}")
            continue
        # Its workers run from its own source tree, with no PYTHONPATH, so that nothing
        # of this checkout can shadow the commit's code.
        side = Side("", str(env.python), cwd=str(env.source), env={"PYTHONPATH": ""})
        note(f"[{number}/{len(todo)}] {commit[:12]}: measuring {len(plan.cells)} cells")
        try:
            [results] = run_plan(plan, sides=[side], progress=progress(), timeout_s=timeout_s)
        except Exception as exc:  # one commit that breaks the runner must not stop the rest
            outcome.failed[commit] = f"the run failed: {type(exc).__name__}: {exc}"
            note(f"[{number}/{len(todo)}] {commit[:12]}: {outcome.failed[commit]}")
            continue
        if results.interrupted:
            outcome.interrupted = True  # a partial run of a commit is not recorded
            break
        # The ref's files are an export, not a checkout: record the commit they came from.
        results = replace(
            results,
            environment=replace(results.environment, git_commit=commit, git_dirty=False),
        )
        if not any(c.summary for c in results.cells):
            outcome.failed[commit] = (
                "no cell was measured: "
                + "; ".join(
                    sorted({(c.error or "").splitlines()[0] for c in results.cells if c.error})
                )
                + " (if the commit's worker predates this runner's protocol, this runner "
                "cannot measure it: backfill a later range)"
            )
            note(f"[{number}/{len(todo)}] {commit[:12]}: {outcome.failed[commit]}")
            continue
        path = save_results(results, runs_dir / f"{commit}.json")
        outcome.added.append(add_run(db, path, repo=root))
        note(f"[{number}/{len(todo)}] {commit[:12]}: added ({path})")
    return outcome
