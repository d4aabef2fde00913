"""A small `nox -s verdicts`: three trials of the planted variants through the real
runner, with fixed expectations (the session itself runs twenty)."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest
from results_factory import environment, read_cell
from verdicts import Settings, first_rounds, rejudge, render, run_session

from harness.results import InstructionSamples, RunResults, load_results, save_results

# These judge measured time: `nox -s tests` runs them alone (see the session).
pytestmark = pytest.mark.serial


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
    log: list[str] = []
    rows = run_session(settings, say=log.append)
    interleaved, files, peak, slow, instructions = rows
    # Identical code, measured together or minutes apart: never a regression. (On a
    # failure the session's log says which metric of which comparison was blamed.)
    said = "\n".join(log)
    assert (interleaved.hits, interleaved.comparisons) == (0, 3), said
    assert (files.hits, files.comparisons) == (0, 3), said
    # +25% on a streamed peak of a few hundred KiB: caught every time.
    assert (peak.hits, peak.comparisons) == (3, 3)
    assert all(1.2 < r < 1.4 for r in peak.ratios)
    # The slowed variant ran and was compared; whether time can see it depends on
    # the machine's load, which is what the full session reports.
    assert slow.comparisons == 3
    assert not instructions.available and instructions.comparisons == 0
    table = render(rows, settings)
    assert table.count("| PASS |") >= 3
    saved = load_results(tmp_path / "trial-00-time+memory-A.json")
    (cell,) = saved.cells
    assert cell.time is not None and cell.time.cpu_s is not None
    # Every timed run records its CPU time too, beside its wall time.
    assert len(cell.time.cpu_s) == len(cell.time.total_s) == 4
    assert all(c > 0 for c in cell.time.cpu_s)
    # The files can be judged again, at fewer rounds: cut to 2 rounds, nothing is
    # judged (too few), so nothing regresses and the memory plant is no longer caught.
    cut = first_rounds(saved, 2).cells[0]
    assert cut.time is not None and cut.time.rounds == [0, 1]
    assert cut.memory is not None and cut.memory.rounds == [0, 1]
    assert cut.time.cpu_s == cell.time.cpu_s[:2]
    again = rejudge(settings, tmp_path, None, say=lambda _: None)
    assert [(r.hits, r.comparisons) for r in again] == [
        (r.hits, r.comparisons) for r in (interleaved, files, peak, slow)
    ]
    fewer = rejudge(settings, tmp_path, 2, say=lambda _: None)
    assert [(r.hits, r.comparisons) for r in fewer[:3]] == [(0, 3), (0, 3), (0, 3)]


def test_an_instructions_session_is_judged_again_from_its_files(tmp_path: Path) -> None:
    # `--only instructions` writes only the counted sides' files; judging them again
    # gives the instructions row, with how far apart each side's processes were.
    cell = read_cell("read-stream", "sqlite", "streamed", 10_000, random.Random(3))

    def counted(per_run: list[float]) -> RunResults:
        rounds = list(range(len(per_run)))
        samples = InstructionSamples(per_run, events=10_000, method="test", rounds=rounds)
        return RunResults(environment(), {}, [replace(cell, instructions=samples)])

    steady = [2.4560e8, 2.4561e8, 2.4559e8, 2.4560e8]
    spread = [2.4560e8, 2.6100e8, 2.4559e8, 2.4560e8]  # one process 6.3% off
    for trial, base in enumerate([steady, spread, steady]):
        save_results(counted(base), tmp_path / f"trial-{trial:02d}-instructions-A.json")
        head = counted([x * 1.05 for x in steady])
        save_results(head, tmp_path / f"trial-{trial:02d}-instructions-INSTR.json")
    settings = Settings(trials=20, rounds=4, others=False, real_ref=False, out=tmp_path)
    [row] = rejudge(settings, tmp_path, None, say=lambda _: None)
    assert row.judged_by == "instructions"
    # The spread of trial 1 raises its minimum effect past the planted 5%.
    assert (row.hits, row.comparisons) == (2, 3)
    assert row.note == "each side's processes within 6.275% of each other"
    assert not row.ok
