"""`eventbench history backfill`: past commits measured one by one, resumable.

The commits' environments come from a stand-in for `prepare_ref` that returns this
checkout's interpreter (installing real past commits takes minutes per commit); the
loop, the runner, the results files and the history are the real ones.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from history_helpers import git_repo

from harness.gitref import RefEnvironment, RefError
from harness.history import HistoryError, list_runs, open_database
from harness.history.backfill import backfill, commits_to_backfill
from harness.runner import Plan, Progress, make_plan

HERE = Path(__file__).resolve().parent.parent


def _plan() -> Plan:
    return make_plan(
        scenarios=["read-stream"],
        backends=["memory"],
        sizes=[100],
        modes=["streamed"],
        repeats=1,
        memory_repeats=0,
        warmups=0,
    )


def _prepare(commit: str, *, repo: Path, note: object) -> RefEnvironment:
    if commit.startswith("broken"):
        raise RefError("does not install")
    return RefEnvironment(commit, commit, HERE, Path(sys.executable))


def test_commits_to_backfill(tmp_path: Path) -> None:
    commits = git_repo(tmp_path, 7)
    assert commits_to_backfill(tmp_path, f"{commits[0]}..{commits[-1]}") == commits[1:]
    assert commits_to_backfill(tmp_path, f"{commits[0]}..HEAD", every=3) == [
        commits[3],
        commits[6],
    ]
    with pytest.raises(HistoryError, match="not a range"):
        commits_to_backfill(tmp_path, "HEAD")
    with pytest.raises(HistoryError, match="cannot list"):
        commits_to_backfill(tmp_path, "nope..HEAD")


@pytest.mark.slow
def test_backfill_adds_each_commit_and_resumes(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commits = git_repo(repo, 4)
    db = open_database(tmp_path / "h.sqlite")
    runs = tmp_path / "runs"
    try:
        # Ctrl-C during the second commit: the first is kept, the second not recorded.
        class StopSecond(Progress):
            calls = 0

            def task(self, description: str) -> None:
                StopSecond.calls += 1
                if StopSecond.calls > 1:
                    raise KeyboardInterrupt

        made: list[int] = []

        def progress() -> Progress:
            made.append(1)
            return Progress() if len(made) == 1 else StopSecond()

        StopSecond.calls = 1
        first = backfill(
            db, _plan(), commits[1:], repo=repo, runs_dir=runs, prepare=_prepare, progress=progress
        )
        assert [r.commit for r in first.added] == [commits[1]]
        assert first.interrupted
        assert [r.commit for r in list_runs(db)] == [commits[1]]
        # Again: the finished commit is skipped, the rest measured; a broken one is reported.
        again = backfill(
            db,
            _plan(),
            [*commits[1:], "broken0"],
            repo=repo,
            runs_dir=runs,
            prepare=_prepare,
        )
        assert again.skipped == [commits[1]]
        assert [r.commit for r in again.added] == commits[2:]
        assert again.failed == {"broken0": "does not install"}
        assert [(r.commit, r.order) for r in list_runs(db)] == [
            (c, n) for n, c in enumerate(commits, 1)
        ][1:]
        assert sorted(p.stem for p in runs.glob("*.json")) == sorted(commits[1:])
    finally:
        db.close()
