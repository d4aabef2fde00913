"""Before/after comparisons end to end: real worker processes, real measurements.

1. Through the runner: one plan measured for four sides interleaved (A B C D A B C D)
   that all name the same backend, a memory store whose flaw is picked per side by an
   environment variable. The slowed and the memory-hungry variants must come out as
   regressions; an identical rerun must not.
2. Through ``eventbench compare --ref HEAD`` in a scratch clone whose working tree
   slows ``MemoryStore.read_stream`` down: HEAD is exported and installed in its own
   venv, both sides are measured, the slow-down is reported and the exit status is 1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from variant_backends import VARIANT_ENV

from harness.analysis.compare import Verdict, compare_results
from harness.runner import Side, make_plan, run_plan

TESTS = Path(__file__).parent
ROOT = TESTS.parent
VARIANT = "variant_backends:variant_store"

# These judge measured time: `nox -s tests` runs them alone (see the session).
pytestmark = pytest.mark.serial


@pytest.mark.slow
def test_slowed_and_memory_hungry_variants_regress_and_a_rerun_does_not() -> None:
    plan = make_plan(
        scenarios=["read-stream"],
        backends=[VARIANT],
        sizes=[3000],
        modes=["streamed"],
        repeats=3,
        memory_repeats=1,
        warmups=1,
        rounds=4,
    )
    sides = [
        Side(label, env={"PYTHONPATH": str(TESTS), VARIANT_ENV: variant})
        for label, variant in (("base", ""), ("rerun", ""), ("slow", "slow"), ("hungry", "hungry"))
    ]
    base, rerun, slow, hungry = run_plan(plan, sides=sides)
    for results in (base, rerun, slow, hungry):
        assert [c.error for c in results.cells] == [None], results.side

    same = compare_results(base, rerun)
    assert not same.has_regression, same.cells

    slowed = compare_results(base, slow)
    [cell] = slowed.cells
    verdicts = {m.metric: m.verdict for m in cell.metrics}
    assert verdicts["total_s"] is Verdict.REGRESSED
    assert verdicts["first_event_s"] is Verdict.REGRESSED
    assert verdicts["peak_bytes"] is not Verdict.REGRESSED

    greedy = compare_results(base, hungry)
    [cell] = greedy.cells
    peak = next(m for m in cell.metrics if m.metric == "peak_bytes")
    assert peak.verdict is Verdict.REGRESSED
    # The ballast is 8 MiB; memray must see (about) all of it.
    assert peak.head_median - peak.base_median == pytest.approx(8 * 1024**2, rel=0.1)


SLOW_PATCH = """

# --- test patch: every read waits 30 ms first (a deliberate regression) ---
import time as _time


_plain_read_stream = MemoryStore.read_stream


def _slow_read_stream(self, *args, **kwargs):  # type: ignore[no-untyped-def]
    _time.sleep(0.03)
    return _plain_read_stream(self, *args, **kwargs)


MemoryStore.read_stream = _slow_read_stream  # type: ignore[method-assign]
"""

_NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".ci-venv",
    ".nox",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "*.egg-info",
    "reports",
)


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.mark.slow
def test_compare_against_a_git_ref_catches_a_slowed_read(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.fail("git is needed for `eventbench compare --ref`; install git")
    repo = tmp_path / "clone"
    shutil.copytree(ROOT, repo, ignore=_NOT_SOURCE)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    with (repo / "backends" / "memory.py").open("a") as source:
        source.write(SLOW_PATCH)

    out = tmp_path / "out"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "GITHUB_STEP_SUMMARY")
    }
    env["EVENTBENCH_CACHE"] = str(tmp_path / "cache")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "compare",
            "--ref",
            "HEAD",
            "--scenarios",
            "read-stream",
            "--backends",
            "memory",
            "--modes",
            "streamed",
            "--sizes",
            "3k",
            "--repeats",
            "2",
            "--memory-repeats",
            "1",
            "--rounds",
            "4",
            "--stem",
            "cmp",
            "-o",
            str(out),
        ],
        cwd=repo,  # `python -m` puts the scratch clone's code first on sys.path
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "REGRESSION" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "cmp.base.json",
        "cmp.head.json",
        "cmp.html",
        "cmp.json",
        "cmp.md",
    ]
    doc = json.loads((out / "cmp.json").read_text())
    [cell] = doc["cells"]
    assert cell["verdict"] == "regressed"
    total = next(m for m in cell["metrics"] if m["metric"] == "total_s")
    assert total["verdict"] == "regressed" and total["ratio"] > 1.5
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    base = json.loads((out / "cmp.base.json").read_text())
    head = json.loads((out / "cmp.head.json").read_text())
    assert base["environment"]["git_commit"] == commit
    assert base["environment"]["git_dirty"] is False
    assert head["environment"]["git_dirty"] is True
    # The base really ran from the exported ref, the head from the clone's working tree.
    assert base["parameters"]["side"]["cwd"].startswith(str(tmp_path / "cache"))
    assert head["parameters"]["side"]["cwd"] == str(repo)
