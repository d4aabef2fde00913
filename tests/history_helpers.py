"""Shared by the history tests: a git repository of empty commits, results files of
those commits, and history databases on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.results import RunResults, save_results


def git_repo(path: Path, commits: int) -> list[str]:
    """A repository at ``path`` with ``commits`` empty commits; their shas, oldest first."""
    path.mkdir(parents=True, exist_ok=True)
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "PATH": "/usr/bin:/bin",
        "HOME": str(path),
    }
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=env)
    script = "".join(
        f"git -C {path} commit -q --allow-empty -m 'commit {i}' "
        f"--date='2026-01-01T00:{i // 60:02}:{i % 60:02}' && "
        for i in range(1, commits + 1)
    )
    subprocess.run(["sh", "-c", script + " true"], check=True, env=env)
    out = subprocess.run(
        ["git", "-C", str(path), "rev-list", "--reverse", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.split()


def write_run(results: RunResults, path: Path) -> Path:
    return save_results(results, path)
