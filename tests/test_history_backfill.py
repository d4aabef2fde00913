"""`eventbench history backfill`: past commits measured one by one, resumable.

The loop tests use a stand-in for `prepare_ref` that returns this checkout's interpreter
(fast, and able to fake a commit that does not install); the loop, the runner, the
results files and the history are the real ones. One test backfills 5 real commits of
this repository from a fresh clone, each installed in its own environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from history_helpers import git_repo
from test_report_browser import assert_charts_render, render_in_browser

from harness.history import HistoryError, list_runs, load_series, open_database
from harness.history.backfill import backfill, commits_to_backfill
from harness.runner import Plan, Progress, make_plan
from harness.runner.gitref import RefEnvironment, RefError

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


def _git_out(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)} failed in {repo}: {done.stderr}"
    return done.stdout.strip()


@pytest.mark.slow
def test_backfill_five_real_commits_from_a_fresh_clone(tmp_path: Path) -> None:
    """The issue's done-when: `history backfill` over 5 real commits of this repository,
    from a fresh clone, each installed in its own environment (no stand-in), then the
    history page rendered in headless Chromium.

    The commits are the 5 newest first-parent commits of the clone's HEAD (the range
    ``HEAD~5..HEAD``), a rule that stays valid as the branch grows. Their workers are
    driven by this checkout's runner, as `compare --ref` does. About 90 s on a busy
    2-core machine, most of it installing 5 environments (uv).
    """
    if _git_out(HERE, "rev-parse", "--is-shallow-repository") == "true":
        pytest.fail(
            f"{HERE} is a shallow clone: backfilling 5 commits needs them; "
            "`git fetch --unshallow` (or clone with fetch-depth: 0)"
        )
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-local", str(HERE), str(clone)],
        check=True,
        capture_output=True,
    )
    expected = _git_out(clone, "rev-list", "--first-parent", "--reverse", "HEAD~5..HEAD").split()
    assert len(expected) == 5
    db, runs, report = tmp_path / "h.sqlite", tmp_path / "runs", tmp_path / "report"
    eventbench = str(Path(sys.executable).parent / "eventbench")
    # A fresh cache: each commit really is exported and installed here.
    env = {**os.environ, "EVENTBENCH_CACHE": str(tmp_path / "refs"), "COLUMNS": "200"}
    env.pop("EVENTBENCH_HISTORY", None)
    command = [
        eventbench, "history", "backfill", "HEAD~5..HEAD", "--repo", str(clone),
        "--db", str(db), "--runs-dir", str(runs),
        "--scenarios", "read-stream", "--backends", "memory", "--sizes", "100,1000",
        "--modes", "streamed", "--repeats", "1", "--memory-repeats", "1", "--warmups", "0",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "added 5 commits, 0 already in the history, 0 failed." in done.stdout
    assert sorted(p.name for p in (tmp_path / "refs").iterdir() if p.is_dir()) == sorted(expected)

    database = open_database(db)
    try:
        recorded = list_runs(database)
        series = load_series(database)
    finally:
        database.close()
    assert [r.commit for r in recorded] == expected
    assert all(r.cells == 2 for r in recorded)
    # Each commit's own source tree was measured: the results say which commit it was.
    for commit in expected:
        assert f'"git_commit": "{commit}"' in (runs / f"{commit}.json").read_text()

    # Resumable: the same command again measures nothing new.
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    assert "added 0 commits, 5 already in the history, 0 failed." in again.stdout

    reported = subprocess.run(
        [eventbench, "history", "report", "--db", str(db), "-o", str(report)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert reported.returncode == 0, reported.stdout + reported.stderr
    page = report / "history.html"
    markdown = (report / "history.md").read_text()
    assert "across 5 commits" in markdown
    assert series and all(s.commits == expected for s in series)
    assert_charts_render(render_in_browser(page, tmp_path), len(series))
