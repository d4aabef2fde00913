"""`eventbench check --list`: one line per check unless a terminal is wide enough."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from harness.conformance.runner import all_checks

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _list(**env: str) -> list[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR")}
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "check", "--list"],
        capture_output=True,
        text=True,
        env={**base, **env},
        timeout=60,
        check=True,
    )
    return [ANSI.sub("", line) for line in done.stdout.splitlines()]


def test_piped_it_prints_one_whole_line_per_check() -> None:
    checks = all_checks()
    lines = _list(COLUMNS="60")  # a pipe: the width does not matter
    assert len(lines) == len(checks)
    for line, check in zip(lines, checks, strict=True):
        assert line.startswith(check.id + " ")
        assert line.endswith(check.description)


@pytest.mark.parametrize("columns", [40, 80, 120])
def test_on_a_narrow_terminal_each_check_is_one_line_cut_to_fit(columns: int) -> None:
    checks = all_checks()
    lines = _list(COLUMNS=str(columns), FORCE_COLOR="1")  # rich: a terminal
    assert len(lines) == len(checks)
    for line, check in zip(lines, checks, strict=True):
        assert line.startswith(check.id)
        assert len(line) <= max(columns, len(check.id) + 1)


def test_a_wide_terminal_gets_the_table() -> None:
    lines = _list(COLUMNS="250", FORCE_COLOR="1")
    assert "eventbench conformance checks" in lines[0]
    assert len(lines) == len(all_checks()) + 5  # title, header (3 lines), bottom border
