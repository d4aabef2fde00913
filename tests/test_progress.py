"""The runner's progress display when nobody watches a terminal (CI logs, pipes)."""

from __future__ import annotations

import io

from rich.console import Console

from harness.runner_cli import RichProgress


def test_without_a_terminal_each_step_is_a_plain_line() -> None:
    out = io.StringIO()
    progress = RichProgress(Console(file=out, force_terminal=False, width=200))
    progress.start(total_weight=2.0, tasks=2)
    progress.task("read-stream · sqlite · streamed · N=10 · time [base]")
    progress.advance(1.0)
    progress.task("read-stream · sqlite · streamed · N=10 · time [head]")
    progress.advance(1.0)
    progress.stop()
    lines = [line for line in out.getvalue().splitlines() if "read-stream" in line]
    assert len(lines) == 2
    # Side labels look like rich markup; they must reach the log as text.
    assert lines[0].startswith("[0/2 workers") and lines[0].endswith("[base]")
    assert lines[1].startswith("[1/2 workers") and lines[1].endswith("[head]")
