"""A small `nox -s verdicts`: three trials of the planted variants through the real
runner, with fixed expectations (the session itself runs twenty)."""

from __future__ import annotations

from pathlib import Path

import pytest
from verdicts import Settings, render, run_session


@pytest.mark.slow
def test_a_small_verdict_session_holds(tmp_path: Path) -> None:
    settings = Settings(
        trials=3,
        time_size=2000,
        memory_size=2000,
        rounds=4,
        repeats=1,
        real_ref=False,
        # cachegrind makes the instructions row minutes long; tests/test_instruments.py
        # checks that compare flags a rise in instructions.
        instructions=False,
        out=tmp_path,
    )
    rows = run_session(settings, say=lambda _: None)
    interleaved, files, peak, slow, instructions = rows
    # Identical code, measured together or minutes apart: never a regression.
    assert (interleaved.hits, interleaved.comparisons) == (0, 3)
    assert (files.hits, files.comparisons) == (0, 3)
    # +25% on a streamed peak of a few hundred KiB: caught every time.
    assert (peak.hits, peak.comparisons) == (3, 3)
    assert all(1.2 < r < 1.4 for r in peak.ratios)
    # The slowed variant ran and was compared; whether time can see it depends on
    # the machine's load, which is what the full session reports.
    assert slow.comparisons == 3
    assert not instructions.available and instructions.comparisons == 0
    table = render(rows, settings)
    assert table.count("| PASS |") >= 3
    assert (tmp_path / "trial-00-time+memory-A.json").exists()
