"""Another git ref's eventbench, installed in its own environment: the "before" side of
a before/after comparison (``eventbench compare --ref REF``).

The ref's files are exported with ``git archive`` (the user's repository is only
read: no worktree to clean up, no checkout touched) into a cache directory keyed by
the commit, and installed with its own dependencies into a virtualenv beside them
(with uv when there is one, else venv and pip). A finished environment is reused by
later comparisons against the same commit; a half-built one is rebuilt.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RefEnvironment", "RefError", "cache_root", "prepare_ref", "resolve_ref"]

_READY = "eventbench-ready"


class RefError(RuntimeError):
    """A git ref cannot be resolved, exported or installed."""


@dataclass(frozen=True)
class RefEnvironment:
    ref: str
    """The ref as the user wrote it (``HEAD~1``, ``main``, a sha)."""
    commit: str
    source: Path
    """The ref's files."""
    python: Path
    """An interpreter with the ref's eventbench installed."""


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, check=False, timeout=300
        )
    except FileNotFoundError:
        raise RefError("git is not installed; install git to compare against a ref") from None


def repo_root(start: Path) -> Path:
    done = _git(start, "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        raise RefError(
            f"{start} is not inside a git repository; run `eventbench compare --ref` from "
            "your eventbench clone, or compare two results files instead"
        )
    return Path(done.stdout.decode().strip())


def resolve_ref(repo: Path, ref: str) -> str:
    """The full commit id ``ref`` names in ``repo``."""
    if ref.startswith("-"):
        raise RefError(f"{ref!r} is not a git ref")
    done = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if done.returncode != 0:
        raise RefError(
            f"git cannot find a commit named {ref!r} in {repo}; check the spelling, or "
            "`git fetch` it first (a shallow clone may lack older commits: "
            "`git fetch --unshallow`)"
        )
    return done.stdout.decode().strip()


def cache_root() -> Path:
    """Where ref environments live: ``$EVENTBENCH_CACHE`` or the user's cache directory."""
    if configured := os.environ.get("EVENTBENCH_CACHE"):
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "eventbench" / "refs"


def _export(repo: Path, commit: str, dest: Path) -> None:
    done = _git(repo, "archive", "--format=tar", commit)
    if done.returncode != 0:
        raise RefError(f"git archive {commit} failed: {done.stderr.decode().strip()}")
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        archive.extractall(dest, filter="data")
    if not (dest / "pyproject.toml").exists():
        raise RefError(f"commit {commit[:12]} has no pyproject.toml: is it an eventbench commit?")
    if not (dest / "harness" / "worker.py").exists():
        raise RefError(
            f"commit {commit[:12]} predates the runner (no harness/worker.py), so it cannot "
            "measure cells; compare against a later ref"
        )


def _find_uv() -> str | None:
    beside = Path(sys.executable).parent / "uv"
    if beside.exists():
        return str(beside)
    return shutil.which("uv")


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise RefError(f"{what} failed ({' '.join(cmd[:3])} ...):\n{tail}")


def _install(source: Path, venv: Path, note: Callable[[str], None]) -> Path:
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    uv = _find_uv()
    if uv is not None:
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], "creating a venv")
        _run(
            [uv, "pip", "install", "--quiet", "--python", str(python), "-e", str(source)],
            "installing the ref's eventbench",
        )
    else:
        note("uv not found; installing with venv and pip (slower)")
        _run([sys.executable, "-m", "venv", str(venv)], "creating a venv")
        _run(
            [str(python), "-m", "pip", "install", "--quiet", "-e", str(source)],
            "installing the ref's eventbench",
        )
    return python


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (two comparisons building one ref wait in turn)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; concurrent builds are rare
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare_ref(
    ref: str,
    *,
    repo: Path | None = None,
    cache: Path | None = None,
    note: Callable[[str], None] = lambda _: None,
) -> RefEnvironment:
    """The ref's eventbench, exported and installed (or reused from the cache)."""
    root = repo_root(repo or Path.cwd())
    commit = resolve_ref(root, ref)
    home = (cache or cache_root()) / commit
    with _locked(home.with_name(commit + ".lock")):
        return _prepare(ref, root, commit, home, note)


def _prepare(
    ref: str, root: Path, commit: str, home: Path, note: Callable[[str], None]
) -> RefEnvironment:
    source, venv = home / "src", home / "venv"
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if (home / _READY).exists() and python.exists():
        note(f"reusing the environment of {ref} ({commit[:12]}) in {home}")
        return RefEnvironment(ref, commit, source, python)
    if home.exists():
        shutil.rmtree(home)  # a build that did not finish: start again
    note(f"exporting {ref} ({commit[:12]}) and installing it into {home}")
    try:
        _export(root, commit, source)
        python = _install(source, venv, note)
    except BaseException:
        shutil.rmtree(home, ignore_errors=True)
        raise
    (home / _READY).write_text(commit + "\n")
    return RefEnvironment(ref, commit, source, python)
