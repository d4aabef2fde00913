"""`harness.runner.gitref`: resolving, exporting and caching another ref's eventbench."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.runner.gitref import RefError, prepare_ref, resolve_ref


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "before the runner")
    return root


def test_resolve_ref(repo: Path) -> None:
    assert resolve_ref(repo, "HEAD") == git(repo, "rev-parse", "HEAD")
    with pytest.raises(RefError, match="git fetch"):
        resolve_ref(repo, "no-such-branch")
    with pytest.raises(RefError, match="not a git ref"):
        resolve_ref(repo, "--upload-pack=evil")


def test_a_ref_without_the_runner_is_refused_and_leaves_nothing(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(RefError, match="predates the runner"):
        prepare_ref("HEAD", repo=repo, cache=cache)
    assert [p.name for p in cache.iterdir()] == [git(repo, "rev-parse", "HEAD") + ".lock"]


def test_a_finished_environment_is_reused(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    commit = git(repo, "rev-parse", "HEAD")
    python = cache / commit / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    (cache / commit / "eventbench-ready").write_text(commit)
    notes: list[str] = []
    env = prepare_ref("HEAD", repo=repo, cache=cache, note=notes.append)
    assert (env.commit, env.python, env.source) == (commit, python, cache / commit / "src")
    assert notes and notes[0].startswith("reusing")


def test_a_half_built_environment_is_rebuilt(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    commit = git(repo, "rev-parse", "HEAD")
    (cache / commit / "src").mkdir(parents=True)  # no ready marker: an interrupted build
    with pytest.raises(RefError, match="predates the runner"):
        prepare_ref("HEAD", repo=repo, cache=cache)
    assert not (cache / commit).exists()
