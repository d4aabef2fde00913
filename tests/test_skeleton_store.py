"""The "Write your own store" skeleton passes the conformance suite, through the CLI a
store author runs (docs/write-your-own-store.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_the_skeleton_store_passes_eventbench_check() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "check", "examples.skeleton_store:make_store"],
        cwd=ROOT,  # as the guide says: run from the project root so that the module imports
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert summary.startswith("examples.skeleton_store:make_store: "), summary
    assert " 0 failed" in summary and " passed" in summary, summary


def test_the_guide_is_linked_from_the_readme_and_names_the_skeleton() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "docs/write-your-own-store.md" in readme
    guide = (ROOT / "docs" / "write-your-own-store.md").read_text()
    assert "examples/skeleton_store.py" in guide
    assert "eventbench check examples.skeleton_store:make_store" in guide
