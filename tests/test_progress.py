"""The runner's progress display when nobody watches a terminal (CI logs, pipes)."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from rich.console import Console

from harness.cli.run import RichProgress, banner, remaining_s
from harness.runner import Outline, make_plan
from harness.text import about_duration


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


def test_a_line_says_how_long_is_left_at_the_pace_so_far(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr("harness.cli.run.time.monotonic", lambda: now[0])
    out = io.StringIO()
    progress = RichProgress(Console(file=out, force_terminal=False, width=200))
    progress.start(total_weight=100.0, tasks=4)
    progress.task("first")  # nothing done yet: no guess
    progress.advance(10.0)
    now[0] += 600.0  # a tenth of the estimated work took ten minutes
    progress.task("second")
    progress.stop()
    first, second = [line for line in out.getvalue().splitlines() if line.strip()]
    assert first == "[0/4 workers, 0 s] first"
    assert second == "[1/4 workers, 600 s, about 1 h 30 min left] second"


@pytest.mark.parametrize(
    ("elapsed", "done", "total", "left"),
    [
        (60.0, 50.0, 100.0, 60.0),
        (60.0, 100.0, 100.0, 0.0),
        (60.0, 1.0, 100.0, None),  # under 2% done: the start-up cost would dominate
        (3.0, 50.0, 100.0, None),  # too early
        (60.0, 10.0, 0.0, None),  # no estimate at all
    ],
)
def test_remaining_time_scales_the_estimate_by_the_pace(
    elapsed: float, done: float, total: float, left: float | None
) -> None:
    assert remaining_s(elapsed, done, total) == left


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.4, "0 s"),
        (42, "42 s"),
        (89, "89 s"),
        (95, "2 min"),
        (3600, "60 min"),
        (5400, "1 h 30 min"),
        (7200, "2 h"),
        (19_300, "5 h 22 min"),
    ],
)
def test_durations_read_roughly(seconds: float, text: str) -> None:
    assert about_duration(seconds) == text


def test_the_banner_says_how_long_the_run_should_take() -> None:
    plan = make_plan(scenarios=["read-stream"], backends=["sqlite"], sizes=[10_000])
    outline = Outline(
        plan=plan,
        cells=tuple(plan.cells),
        workers=8,
        left_out=(),
        sides=("",),
        timeout_s=None,
        estimated_s=19_300,
    )
    text = banner("eventbench run", outline)
    assert "(8 worker processes, about 5 h 22 min at this project's speeds," in text
    assert "about" not in banner("eventbench run", replace(outline, estimated_s=0.0))
