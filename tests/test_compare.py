"""Before/after statistics and `eventbench compare` on synthetic results files."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from results_factory import environment, make_results

from harness.analysis.compare import (
    METRICS,
    PAIRED_FROM,
    CompareError,
    Samples,
    Thresholds,
    Verdict,
    compare_metric,
    compare_results,
    min_pairs,
    min_rounds,
    parse_bytes,
)
from harness.cli import main
from harness.results import Cell, ResultsError, RunResults, load_results, save_results

TIME, FIRST, MEMORY, CPU = (
    {m.name: m for m in METRICS}[n] for n in ("total_s", "first_event_s", "peak_bytes", "cpu_s")
)
MiB = 1024**2


def noisy(centre: float, n: int, noise: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [centre * (1 + rng.gauss(0, noise)) for _ in range(n)]


# --------------------------------------------------------------------------- one metric


def test_identical_samples_are_unchanged() -> None:
    samples = noisy(0.1, 7, 0.02, 1)
    result = compare_metric(TIME, samples, samples)
    assert result.verdict is Verdict.UNCHANGED
    assert result.ratio == pytest.approx(1.0)
    assert result.ci_low <= 1.0 <= result.ci_high


def test_a_clear_slow_down_is_a_regression() -> None:
    result = compare_metric(TIME, noisy(0.1, 7, 0.02, 1), noisy(0.13, 7, 0.02, 2))
    assert result.verdict is Verdict.REGRESSED
    assert result.ratio == pytest.approx(1.3, rel=0.05)
    assert result.p_value is not None and result.p_value < 0.01
    assert 1.1 < result.ci_low <= result.ratio <= result.ci_high < 1.5


def test_a_clear_speed_up_is_an_improvement() -> None:
    result = compare_metric(TIME, noisy(0.1, 7, 0.02, 1), noisy(0.07, 7, 0.02, 2))
    assert result.verdict is Verdict.IMPROVED
    assert result.ci_high < 0.9


def test_a_small_real_change_is_unchanged() -> None:
    # 3% slower, and surely so, but below the 10% minimum effect: not worth reporting.
    result = compare_metric(TIME, noisy(0.1, 15, 0.005, 1), noisy(0.103, 15, 0.005, 2))
    assert result.p_value is not None and result.p_value < 0.05
    assert result.verdict is Verdict.UNCHANGED


def test_noise_is_inconclusive_not_a_regression() -> None:
    result = compare_metric(TIME, noisy(0.1, 5, 0.3, 1), noisy(0.1, 5, 0.3, 2))
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "--rounds" in result.reason


def test_too_few_rounds_cannot_prove_a_regression() -> None:
    result = compare_metric(TIME, [0.1], [0.2])
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.p_value is None
    assert result.reason.startswith("inconclusive (1 round per side)")
    # Three rounds a side, every head round twice as slow: a rank interval cannot reach
    # 95% with 3 against 3 (the best two-sided p is 2/20), so it is not a regression.
    three = compare_metric(TIME, [0.10, 0.101, 0.099], [0.2, 0.21, 0.19])
    assert three.verdict is Verdict.INCONCLUSIVE
    assert three.reason.startswith("inconclusive (3 rounds per side)")
    assert "--rounds 5" in three.reason
    # One more round each and the same evidence decides.
    four = compare_metric(TIME, [0.10, 0.101, 0.099, 0.1], [0.2, 0.21, 0.19, 0.2])
    assert four.verdict is Verdict.REGRESSED
    assert min_rounds() == 4


def test_repeats_within_one_process_are_not_rounds() -> None:
    # Twelve repeats a side, but from two processes a side: two rounds, not twelve
    # observations. The head's processes were slow; that cannot be a verdict.
    base = Samples((0.100,) * 6 + (0.101,) * 6, (0,) * 6 + (1,) * 6)
    head = Samples((0.150,) * 6 + (0.152,) * 6, (0,) * 6 + (1,) * 6)
    result = compare_metric(TIME, base, head)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "2 rounds per side" in result.reason
    assert result.base_rounds == (0.100, 0.101)
    # The same values read as one value per process would (wrongly) be a regression.
    assert compare_metric(TIME, base.values, head.values).verdict is Verdict.REGRESSED


def test_a_burst_of_load_on_one_side_is_not_blamed_on_the_code() -> None:
    # One worker process of the head side ran while something else hogged the CPU:
    # its runs are all slow, the other processes' are as fast as the base's.
    base = Samples((0.036, 0.037, 0.036, 0.035, 0.036, 0.037, 0.036, 0.036), tuple(range(8)))
    head = Samples(
        (0.058, 0.082, 0.056, 0.0375, 0.0365, 0.036, 0.035, 0.037), (0, 0, 0, 1, 2, 3, 4, 5)
    )
    result = compare_metric(TIME, base, head)
    assert result.verdict is not Verdict.REGRESSED
    # Every round of the head slowed, but its fastest run did not: inconclusive.
    slow = Samples((*(x * 1.3 for x in base.values[:5]), 0.035), tuple(range(6)))
    result = compare_metric(TIME, base, slow)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "fastest runs" in result.reason
    assert result.best_ratio == pytest.approx(1.0)


def test_a_quarter_more_on_a_small_streamed_peak_is_a_regression() -> None:
    # A 300 KiB streamed peak, identical in every process, rises by 25%: the old fixed
    # 256 KiB floor called this unchanged; the cell's own spread (none) does not.
    KiB = 1024
    base = [300 * KiB] * 5
    result = compare_metric(MEMORY, base, [375 * KiB] * 5)
    assert result.verdict is Verdict.REGRESSED
    assert result.minimum_effect == pytest.approx(0.02)
    assert (result.ci_low, result.ci_high) == pytest.approx((1.25, 1.25))
    # A 1.78x rise with a tight interval is never "unchanged".
    grown = compare_metric(MEMORY, [288 * KiB + i for i in range(5)], [513 * KiB] * 5)
    assert grown.verdict is Verdict.REGRESSED


def test_memory_is_judged_against_the_cells_own_spread() -> None:
    KiB = 1024
    # Processes of one side differ by up to ~14% (say, a GC ran in some): a 10% rise
    # is within that and not a regression, but neither is it "unchanged", since its
    # whole interval lies beyond the 2% threshold.
    base = [300 * KiB, 340 * KiB, 300 * KiB, 301 * KiB, 300 * KiB, 302 * KiB]
    head = [x * 1.10 for x in base]
    result = compare_metric(MEMORY, base, head)
    assert result.spread == pytest.approx(340 / 300 - 1)
    assert result.minimum_effect == pytest.approx(result.spread)
    assert result.ci_low > 1.02
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "processes differ" in result.reason
    # A rise beyond the spread is a regression.
    assert compare_metric(MEMORY, base, [x * 1.25 for x in base]).verdict is Verdict.REGRESSED
    # A change within both the threshold and the spread is unchanged.
    steady = compare_metric(MEMORY, [100 * MiB] * 5, [101 * MiB] * 5)
    assert steady.verdict is Verdict.UNCHANGED
    lean = compare_metric(MEMORY, [10 * MiB, 10.01 * MiB] * 2, [4 * MiB, 4.02 * MiB] * 2)
    assert lean.verdict is Verdict.IMPROVED


def test_thresholds_are_configurable() -> None:
    base, head = noisy(0.1, 7, 0.02, 1), noisy(0.13, 7, 0.02, 2)
    assert compare_metric(TIME, base, head, Thresholds(time=0.5)).verdict is Verdict.UNCHANGED
    floor = Thresholds(memory_floor_bytes=4 * MiB)
    hungry = compare_metric(MEMORY, [10 * MiB] * 4, [12 * MiB] * 4, floor)
    assert hungry.verdict is Verdict.INCONCLUSIVE  # real, but below the 4 MiB floor
    assert compare_metric(MEMORY, [10 * MiB] * 4, [12 * MiB] * 4).verdict is Verdict.REGRESSED
    strict = Thresholds(memory=0.01)
    slight = compare_metric(MEMORY, [100 * MiB] * 4, [101.5 * MiB] * 4, strict)
    assert slight.verdict is Verdict.REGRESSED
    with pytest.raises(ValueError, match="count threshold"):
        Thresholds(count=2)


def test_bootstrap_is_reproducible() -> None:
    base, head = noisy(0.1, 9, 0.05, 1), noisy(0.11, 9, 0.05, 2)
    first, again = compare_metric(TIME, base, head), compare_metric(TIME, base, head)
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)


def test_bad_thresholds_are_refused_with_a_hint() -> None:
    with pytest.raises(ValueError, match=r"0\.10 means 10%"):
        Thresholds(time=10)
    with pytest.raises(ValueError, match="floor"):
        Thresholds(memory_floor_bytes=-1)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(1e-6, 1e3, allow_nan=False), min_size=1, max_size=12),
    st.sampled_from(METRICS),
)
def test_a_run_compared_with_itself_never_changes(samples: list[float], metric: object) -> None:
    result = compare_metric(metric, samples, list(reversed(samples)))  # type: ignore[arg-type]
    assert result.verdict in (Verdict.UNCHANGED, Verdict.INCONCLUSIVE)
    assert result.ratio == pytest.approx(1.0)


@settings(max_examples=40, deadline=None)
@given(st.floats(1.5, 20), st.integers(5, 12), st.integers(0, 10_000))
def test_any_large_clean_slow_down_is_caught(factor: float, n: int, seed: int) -> None:
    base = noisy(0.05, n, 0.02, seed)
    head = noisy(0.05 * factor, n, 0.02, seed + 1)
    assert compare_metric(TIME, base, head).verdict is Verdict.REGRESSED


# --------------------------------------------------------------------------- whole runs


def slowed(factor: float, backend: str = "sqlite", mode: str = "streamed"):  # type: ignore[no-untyped-def]
    def tweak(cell: Cell) -> Cell:
        if cell.backend == backend and cell.mode == mode and cell.time:
            scaled = [x * factor for x in cell.time.total_s]
            return replace(cell, time=replace(cell.time, total_s=scaled))
        return cell

    return tweak


def hungry(extra: int, backend: str = "postgres", mode: str = "streamed"):  # type: ignore[no-untyped-def]
    def tweak(cell: Cell) -> Cell:
        if cell.backend == backend and cell.mode == mode and cell.memory:
            peaks = [x + extra for x in cell.memory.peak_bytes]
            return replace(cell, memory=replace(cell.memory, peak_bytes=peaks))
        return cell

    return tweak


def test_a_slowed_variant_is_a_regression_and_a_rerun_is_not() -> None:
    base = make_results(seed=1, with_append=False)
    rerun = compare_results(base, make_results(seed=2, with_append=False))
    assert not rerun.has_regression
    assert rerun.counts()["unchanged"] >= len(rerun.cells) - 2

    slow = compare_results(base, make_results(seed=3, with_append=False, tweak=slowed(1.3)))
    assert slow.has_regression
    regressed = {c.key for c in slow.regressions}
    expected = {
        (s, "sqlite", "streamed", n)
        for s in ("read-stream", "catch-up")
        for n in (10_000, 100_000, 1_000_000)
    }
    assert regressed == expected
    for cell in slow.regressions:
        [time] = [m for m in cell.metrics if m.verdict is Verdict.REGRESSED]
        assert time.metric == "total_s"
        assert time.ratio == pytest.approx(1.3, rel=0.05)


def test_a_memory_hungry_variant_is_a_regression() -> None:
    base = make_results(seed=1, with_append=False)
    head = make_results(seed=2, with_append=False, tweak=hungry(2 * MiB))
    comparison = compare_results(base, head)
    regressed = {c.key for c in comparison.regressions}
    assert regressed == {
        (s, "postgres", "streamed", n)
        for s in ("read-stream", "catch-up")
        for n in (10_000, 100_000, 1_000_000)
    }
    # The collected reads' extra 2 MiB is below 2% of their hundreds of MiB... at 1M
    # events; at 10K (6 MiB) it would not be, but they were not touched.
    peak = next(g for g in comparison.groups if g.metric == "peak_bytes" and g.backend == "sqlite")
    assert peak.geometric_mean == pytest.approx(1.0, abs=0.01)


def test_geometric_mean_per_group() -> None:
    base = make_results(seed=1, sizes=(10_000, 100_000), with_append=False)
    head = make_results(seed=1, sizes=(10_000, 100_000), with_append=False, tweak=slowed(2.0))
    comparison = compare_results(base, head)
    group = next(
        g
        for g in comparison.groups
        if (g.scenario, g.backend, g.metric) == ("read-stream", "sqlite", "total_s")
    )
    # Two modes x two sizes: collected unchanged (1.0), streamed doubled (2.0).
    assert group.cells == 4
    assert group.geometric_mean == pytest.approx(math.sqrt(2.0), rel=1e-6)
    assert group.counts["regressed"] == 2


def test_a_new_failure_is_a_regression() -> None:
    base = make_results(seed=1, with_append=False, sizes=(10_000,))

    def fail(cell: Cell) -> Cell:
        if cell.backend == "sqlite" and cell.mode == "collected":
            return replace(cell, time=None, memory=None, error="OperationalError: disk I/O")
        return cell

    head = make_results(seed=2, with_append=False, sizes=(10_000,), tweak=fail)
    comparison = compare_results(base, head)
    failed = [c for c in comparison.regressions if c.failure]
    assert {c.key[:3] for c in failed} == {
        ("read-stream", "sqlite", "collected"),
        ("catch-up", "sqlite", "collected"),
    }
    assert all("disk I/O" in (c.failure or "") for c in failed)


def test_a_cell_that_failed_on_both_sides_is_never_unchanged_or_improved() -> None:
    # A worker that failed in its last round leaves the rounds before it: head's
    # figures are then part of a cell that did not finish, and say nothing good.
    def failing(cell: Cell) -> Cell:
        if cell.backend == "sqlite" and cell.mode == "collected":
            return replace(cell, error="timed out after 120 s")
        return cell

    base = make_results(seed=1, with_append=False, sizes=(10_000,), tweak=failing)
    same = make_results(seed=1, with_append=False, sizes=(10_000,))
    halved = make_results(
        seed=1,
        with_append=False,
        sizes=(10_000,),
        tweak=lambda c: failing(
            replace(c, time=replace(c.time, total_s=[x / 2 for x in c.time.total_s]))
            if c.time is not None
            else c
        ),
    )
    for other in (same, halved):
        comparison = compare_results(base, replace(other, cells=[failing(c) for c in other.cells]))
        both = [c for c in comparison.cells if c.key[1:3] == ("sqlite", "collected")]
        assert both and all(c.verdict == "inconclusive" for c in both), [c.verdict for c in both]
        assert all(c.failure == "base: timed out after 120 s; head: timed out after 120 s"
                   for c in both)  # fmt: skip
        assert not comparison.regressions


@pytest.mark.parametrize(
    ("path", "value", "says"),
    [
        (("time", "total_s", 0), "fast", "total_s[0] is 'fast', not a figure"),
        (("time", "total_s", 0), -0.5, "total_s[0] is -0.5, not a figure"),
        (("time", "first_event_s", 1), None, "first_event_s[1] is None, not a figure"),
        (("time", "rounds", 0), "x", "rounds[0] is 'x', not a round number"),
        (("memory", "peak_bytes"), "lots", "peak_bytes is 'lots', not a list of numbers"),
        (("memory", "allocations", 0), True, "allocations[0] is True, not a figure"),
        (("size",), "10k", "a cell's size is '10k'"),
        (("params",), [1], "a cell's params is [1]"),
    ],
)
def test_a_damaged_results_file_is_refused_with_what_is_wrong(
    tmp_path: Path, path: tuple[str | int, ...], value: object, says: str
) -> None:
    good = save_results(make_results(seed=1, with_append=False), tmp_path / "good.json")
    doc = json.loads(good.read_text())
    target = doc["cells"][0]
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    damaged = tmp_path / "damaged.json"
    damaged.write_text(json.dumps(doc))
    with pytest.raises(ResultsError, match="edited or damaged") as refused:
        load_results(damaged)
    assert says in str(refused.value)
    result = CliRunner().invoke(main, ["compare", str(good), str(damaged)])
    assert result.exit_code == 2 and says in result.output, result.output


def test_cells_of_different_workloads_are_not_judged() -> None:
    # Head measured 10x the payload: twice the time is no verdict on the code.
    def bigger(cell: Cell) -> Cell:
        assert cell.time is not None
        slower = replace(cell.time, total_s=[x * 2 for x in cell.time.total_s])
        return replace(cell, params={**cell.params, "payload_bytes": 1024}, time=slower)

    base = make_results(seed=1, with_append=False, sizes=(10_000,))
    head = make_results(seed=1, with_append=False, sizes=(10_000,), tweak=bigger)
    comparison = compare_results(base, head)
    assert not comparison.regressions
    for cell in comparison.cells:
        assert cell.verdict == "inconclusive"
        assert all("payload_bytes: 100 vs 1024" in m.reason for m in cell.metrics)
    assert any("parameters differ (payload_bytes)" in w for w in comparison.warnings)

    # A parameter only head names (a scenario gained it, with a default): warned
    # about, and judged.
    def gained(cell: Cell) -> Cell:
        return replace(bigger(cell), params={**cell.params, "new_knob": 1})

    head = make_results(seed=1, with_append=False, sizes=(10_000,), tweak=gained)
    comparison = compare_results(base, head)
    assert len(comparison.regressions) == len(comparison.cells)
    assert any("parameters differ (new_knob)" in w for w in comparison.warnings)


def test_cells_only_on_one_side_are_listed_not_judged() -> None:
    base = make_results(seed=1, sizes=(10_000, 100_000), with_append=False)
    head = make_results(seed=2, sizes=(10_000, 1_000_000), with_append=False)
    comparison = compare_results(base, head)
    assert {k[3] for k in comparison.only_in_base} == {100_000}
    assert {k[3] for k in comparison.only_in_head} == {1_000_000}
    assert {c.size for c in comparison.cells} == {10_000}


def test_runs_sharing_no_cell_cannot_be_compared() -> None:
    base = make_results(seed=1, backends=("sqlite",), with_append=False)
    head = make_results(seed=1, backends=("postgres",), with_append=False)
    with pytest.raises(CompareError, match="share no cell"):
        compare_results(base, head)


def test_warns_about_different_machines_and_versions() -> None:
    base = make_results(seed=1, with_append=False)
    other = environment(
        hostname="laptop",
        cpu_model="Other CPU",
        packages={"eventbench": "0.2.0", "aiosqlite": "0.21.0", "asyncpg": "0.29.0"},
        servers={"postgres": "PostgreSQL 16.1"},
    )
    head = make_results(seed=2, with_append=False, env=other)
    warnings = compare_results(base, head).warnings
    text = "\n".join(warnings)
    assert "different machines" in text and "laptop" in text
    assert "aiosqlite 0.20.0 vs 0.21.0" in text
    assert "PostgreSQL 15.20 vs PostgreSQL 16.1" in text
    assert "asyncpg" not in text
    assert "eventbench" not in text.replace("eventbench compare", "")  # what changed on purpose
    same = compare_results(base, make_results(seed=2, with_append=False)).warnings
    assert [w for w in same if "separate runs" not in w] == []  # nothing about machines


def test_warns_when_the_workloads_differ() -> None:
    base = make_results(seed=1, with_append=False, sizes=(10_000,))
    head = make_results(
        seed=2,
        with_append=False,
        sizes=(10_000,),
        tweak=lambda c: replace(c, params={**c.params, "payload_bytes": 1024}),
    )
    assert any("payload_bytes" in w for w in compare_results(base, head).warnings)


def test_parse_bytes() -> None:
    assert parse_bytes("256KiB") == 262_144
    assert parse_bytes("1.5 MiB") == 1_572_864
    assert parse_bytes("500kB") == 500_000
    assert parse_bytes("4096") == 4096
    for bad in ("", "lots", "12 parsecs", "-1MiB"):
        with pytest.raises(ValueError, match="size"):
            parse_bytes(bad)


# --------------------------------------------------------------------------- the CLI


def write(results: RunResults, path: Path) -> Path:
    return save_results(results, path)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "base": write(make_results(seed=1), tmp_path / "base.json"),
        "rerun": write(make_results(seed=2), tmp_path / "rerun.json"),
        "slow": write(make_results(seed=3, tweak=slowed(1.4)), tmp_path / "slow.json"),
        "hungry": write(make_results(seed=4, tweak=hungry(3 * MiB)), tmp_path / "hungry.json"),
    }


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_cli_exit_codes(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, text = run("compare", str(files["base"]), str(files["rerun"]), "-o", str(out))
    assert code == 0, text
    assert "No regression" in text
    code, text = run("compare", str(files["base"]), str(files["slow"]), "-o", str(out))
    assert code == 1, text
    assert "REGRESSION" in text and "total time" in text
    code, text = run("compare", str(files["base"]), str(files["hungry"]), "-o", str(out))
    assert code == 1, text
    assert "peak memory" in text
    code, text = run(
        "compare", str(files["base"]), str(files["slow"]), "-o", str(out), "--report-only"
    )
    assert code == 0, text
    assert "REGRESSION" in text
    # --report-only never fails the job, not even on an error, but it says what went wrong.
    missing = str(tmp_path / "missing.json")
    code, text = run("compare", str(files["base"]), missing, "-o", str(out))
    assert code == 2, text
    code, text = run("compare", str(files["base"]), missing, "-o", str(out), "--report-only")
    assert code == 0, text
    assert "missing.json" in text
    # A looser minimum effect lets a 40% slow-down through.
    code, text = run(
        "compare", str(files["base"]), str(files["slow"]), "-o", str(out), "--time-threshold", "50%"
    )
    assert code == 0, text
    code, text = run(
        "compare",
        str(files["base"]),
        str(files["hungry"]),
        "-o",
        str(out),
        "--memory-floor",
        "8MiB",
    )
    assert code == 0, text


def test_cli_writes_the_three_reports(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, text = run("compare", str(files["base"]), str(files["slow"]), "-o", str(out))
    assert code == 1, text
    stem = "compare-base-vs-slow"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{stem}{suffix}" for suffix in (".md", ".html", ".json")
    )
    doc = json.loads((out / f"{stem}.json").read_text(), parse_constant=_no_nan)
    assert doc["has_regression"] is True
    assert doc["counts"]["regressed"] == 6
    assert doc["headline"][0].startswith("REGRESSION")
    md = (out / f"{stem}.md").read_text()
    assert md.startswith("# eventbench comparison")
    assert "**REGRESSION" in md
    html = (out / f"{stem}.html").read_text()
    # One ratio chart per metric measured: time, first event, peak memory, allocations.
    assert html.count("data:image/png;base64,") == 4


def _no_nan(name: str) -> object:
    raise AssertionError(f"JSON must not contain {name}")


def test_cli_appends_to_the_github_job_summary(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, _ = run("compare", str(files["base"]), str(files["rerun"]), "-o", str(tmp_path / "o"))
    assert code == 0
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "# eventbench comparison" in text


def test_cli_errors_exit_2_with_advice(files: dict[str, Path], tmp_path: Path) -> None:
    code, text = run("compare", str(tmp_path / "missing.json"), str(files["base"]))
    assert code == 2 and "eventbench run" in text
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, text = run("compare", str(bad), str(files["base"]))
    assert code == 2 and "not JSON" in text
    code, text = run("compare", str(files["base"]))
    assert code == 2 and "two results files" in text
    code, text = run("compare", str(files["base"]), str(files["slow"]), "--ref", "main")
    assert code == 2 and "not both" in text
    code, text = run("compare", str(files["base"]), str(files["slow"]), "--sizes", "10k")
    assert code == 2 and "only with --ref" in text
    code, text = run("compare", str(files["base"]), str(files["slow"]), "--time-threshold", "2")
    assert code == 2 and "between 0 and 1" in text
    code, text = run("compare", str(files["base"]), str(files["slow"]), "--memory-floor", "lots")
    assert code == 2 and "256KiB" in text
    other = write(make_results(seed=1, backends=("memory",)), tmp_path / "other.json")
    code, text = run("compare", str(files["base"]), str(other), "-o", str(tmp_path / "o"))
    assert code == 2 and "share no cell" in text


def test_cli_ref_outside_a_git_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, text = run("compare", "--ref", "HEAD~1", "--sizes", "1k")
    assert code == 2 and "not inside a git repository" in text


# --------------------------------------------------------------------------- bad input


def test_an_old_results_file_is_named_and_refused(tmp_path: Path) -> None:
    new = write(make_results(seed=1), tmp_path / "new.json")
    doc = make_results(seed=2).to_json()
    doc["schema_version"] = 1
    for cell in doc["cells"]:
        for kind in ("time", "memory"):
            if cell[kind]:
                del cell[kind]["rounds"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    # It still loads (reports of old runs keep working)...
    assert load_results(old).cells[0].time.rounds is None  # type: ignore[union-attr]
    # ...but compare says which file cannot be judged and what to do, and exits 2.
    code, text = run("compare", str(new), str(old), "-o", str(tmp_path / "o"))
    assert code == 2, text
    assert "old.json" in text and "results schema 1" in text and "round" in text
    assert "eventbench run" in text and "Traceback" not in text
    doc["schema_version"] = 99
    old.write_text(json.dumps(doc))
    code, text = run("compare", str(new), str(old), "-o", str(tmp_path / "o"))
    assert code == 2 and "old.json" in text and "upgrade eventbench" in text


def test_a_side_with_one_round_is_named_and_exits_2(tmp_path: Path) -> None:
    def one_round(cell: Cell) -> Cell:
        time = replace(cell.time, rounds=[0] * len(cell.time.total_s)) if cell.time else None
        memory = (
            replace(cell.memory, rounds=[0] * len(cell.memory.peak_bytes)) if cell.memory else None
        )
        return replace(cell, time=time, memory=memory)

    base = write(make_results(seed=1), tmp_path / "base.json")
    single = write(make_results(seed=2, tweak=one_round), tmp_path / "single.json")
    code, text = run("compare", str(base), str(single), "-o", str(tmp_path / "o"))
    assert code == 2, text
    assert "single.json: 1 round" in text and "--rounds 5" in text
    assert "Traceback" not in text
    # The reports are written all the same, every metric inconclusive, none regressed.
    doc = json.loads((tmp_path / "o" / "compare-base-vs-single.json").read_text())
    assert doc["counts"]["regressed"] == 0
    assert doc["too_few_rounds"] and "single.json" in doc["too_few_rounds"][0]
    # Even a doubled time cannot be a regression from one process a side.
    slow = write(
        make_results(seed=3, tweak=lambda c: one_round(slowed(2.0)(c))), tmp_path / "s.json"
    )
    code, text = run("compare", str(base), str(slow), "-o", str(tmp_path / "o"))
    assert code == 2 and "REGRESSION" not in text


def test_different_metric_sets_are_named(tmp_path: Path) -> None:
    def no_memory(cell: Cell) -> Cell:
        return replace(cell, memory=None)

    def no_time(cell: Cell) -> Cell:
        return replace(cell, time=None)

    base = write(make_results(seed=1), tmp_path / "base.json")
    lean = write(make_results(seed=2, tweak=no_memory), tmp_path / "timeonly.json")
    code, text = run("compare", str(base), str(lean), "-o", str(tmp_path / "o"))
    assert code == 0, text
    assert "timeonly.json: no peak memory (measured in" in text
    assert "--memory-repeats" in text
    memonly = write(make_results(seed=3, tweak=no_time), tmp_path / "memonly.json")
    code, text = run("compare", str(lean), str(memonly), "-o", str(tmp_path / "o"))
    assert code == 2, text
    assert "measured no metric in common" in text and "memonly.json" in text
    assert "Traceback" not in text


def test_runs_made_apart_judge_time_against_their_own_spread() -> None:
    # The machine got busier between two separate runs of identical code: every
    # round of the later run is slower, as much as its rounds differ among themselves.
    def timed(values: list[float]) -> Cell:
        cell = make_results(seed=1, backends=("sqlite",), sizes=(10_000,)).cells[0]
        assert cell.time is not None
        time = replace(cell.time, total_s=values, first_event_s=None, rounds=[0, 1, 2, 3, 4])
        return replace(cell, time=time, memory=None)

    earlier = [0.066, 0.042, 0.062, 0.043, 0.039]
    later = [0.087, 0.090, 0.085, 0.065, 0.089]
    base = replace(make_results(seed=1), cells=[timed(earlier)], side="")
    head = replace(make_results(seed=1), cells=[timed(later)], side="")
    apart = compare_results(base, head)
    assert not apart.interleaved and not apart.has_regression
    [metric] = apart.cells[0].metrics
    assert metric.minimum_effect == pytest.approx(0.066 / 0.039 - 1)
    assert any("separate runs" in w and "--ref" in w for w in apart.warnings)
    # The same figures from one interleaved run (the sides met the same load round by
    # round) are a regression: nothing but the code differs between the sides.
    together = compare_results(replace(base, side="base"), replace(head, side="head"))
    assert together.interleaved and together.has_regression


def test_the_comparison_markdown_reads_arrows_as_written() -> None:
    from harness.report.comparison import render_comparison_markdown

    base = make_results(seed=1, with_append=False)
    slow = compare_results(base, make_results(seed=3, with_append=False, tweak=slowed(1.3)))
    md = render_comparison_markdown(slow)
    assert " -> " in md
    assert "&gt;" not in md and "&amp;" not in md


# --------------------------------------------------------------------------- paired rounds


def _signed_rank_tail(n: int, t: int) -> float:
    """P(T <= t) by enumerating all 2^n sign patterns (independent of the recursion)."""
    hits = sum(
        1
        for signs in range(2**n)
        if sum(rank for rank in range(1, n + 1) if signs >> (rank - 1) & 1) <= t
    )
    return hits / 2**n


def test_the_paired_interval_rank_is_the_exact_signed_rank_critical_value() -> None:
    from harness.analysis.compare import _paired_interval_rank

    # Five pairs cannot reach 95%: the most extreme pattern has P = 2/32 two-sided.
    assert min_pairs() == 6
    assert _paired_interval_rank(5, 0.05) == 0
    # Published two-sided 5% critical values T (n = 6..12) are 0 2 3 5 8 10 13; the
    # interval starts at the (T + 1)-th Walsh average.
    assert [_paired_interval_rank(n, 0.05) for n in range(6, 13)] == [1, 3, 4, 6, 9, 11, 14]
    for n in range(6, 13):
        c = _paired_interval_rank(n, 0.05)
        assert _signed_rank_tail(n, c - 1) <= 0.025 < _signed_rank_tail(n, c)


def _rounds(values: list[float]) -> Samples:
    return Samples(tuple(values), tuple(range(len(values))))


# Load that drifts between rounds (a busy neighbour comes and goes): both sides of a
# round meet the same load, as an interleaved run measures them side by side.
DRIFT = [1.00, 1.45, 0.95, 1.70, 1.10, 1.30, 1.00, 1.55]
JITTER = [1.00, 1.03, 0.98, 1.02, 0.99, 1.01, 0.97, 1.02]


def test_pairing_sees_through_load_that_drifts_between_rounds() -> None:
    base = _rounds([0.5 * d for d in DRIFT])
    head = _rounds([0.5 * 1.25 * d * j for d, j in zip(DRIFT, JITTER, strict=True)])
    paired = compare_metric(CPU, base, head, interleaved=True)
    assert paired.paired
    assert paired.verdict is Verdict.REGRESSED, paired.reason
    assert paired.ratio == pytest.approx(1.25, rel=0.03)
    assert 1.1 < paired.ci_low <= paired.ratio <= paired.ci_high < 1.35
    assert "8 paired rounds" in paired.reason
    # The same figures, not measured side by side, cannot be paired: the drift hides it.
    apart = compare_metric(CPU, base, head, interleaved=False)
    assert not apart.paired
    assert apart.verdict is not Verdict.REGRESSED


def test_identical_code_under_drifting_load_is_never_a_paired_regression() -> None:
    base = _rounds([0.5 * d for d in DRIFT])
    head = _rounds([0.5 * d * j for d, j in zip(DRIFT, JITTER, strict=True)])
    result = compare_metric(TIME, base, head, interleaved=True)
    assert result.paired
    assert result.verdict is Verdict.UNCHANGED, result.reason
    assert result.ci_low < 1 < result.ci_high


def test_rounds_that_do_not_line_up_are_judged_unpaired() -> None:
    base = _rounds([0.5 * d for d in DRIFT])
    # Five rounds: too few pairs for a 95% signed-rank interval; six or seven: an
    # interval exists but is wider than Mann-Whitney's unless neighbours correlate
    # strongly (PAIRED_FROM). Both are judged unpaired.
    for k in (5, 6, 7):
        few = compare_metric(TIME, _rounds(list(base.values[:k])), _rounds(list(base.values[:k])))
        assert not few.paired and few.ci_low <= 1 <= few.ci_high
    assert PAIRED_FROM == 8
    # A round missing on one side: no pairs at all.
    gap = Samples(base.values[:7], (0, 1, 2, 3, 4, 5, 7))
    assert not compare_metric(TIME, base, gap, interleaved=True).paired
    # Paired needs repeats grouped into rounds, not one value per process of unknown order.
    assert not compare_metric(TIME, list(base.values), list(base.values)).paired


def test_time_to_first_event_of_identical_code_under_load_is_not_a_regression() -> None:
    # Milliseconds to the first of 100K streamed events, 8 rounds of 2, sides A and A2
    # of one interleaved run of identical code under a load average of 11 on 2 cores
    # (`tests/verdicts.py`): a preemption before the first event turns 1.5 ms into
    # 20 ms, so the figure is very noisy, but a noisy figure must be inconclusive,
    # never a regression, in either direction and however it is paired.
    a = [
        1.58,
        2.71,
        22.3,
        22.8,
        2.71,
        11.7,
        18.7,
        2.79,
        5.44,
        5.45,
        10.7,
        9.66,
        11.0,
        19.4,
        10.1,
        4.46,
    ]
    b = [
        1.53,
        9.99,
        11.7,
        14.4,
        10.5,
        1.63,
        12.4,
        14.6,
        16.6,
        12.7,
        12.0,
        10.7,
        2.45,
        6.84,
        18.0,
        6.15,
    ]
    rounds = tuple(i // 2 for i in range(16))
    one, other = (
        Samples(tuple(x / 1e3 for x in a), rounds),
        Samples(tuple(x / 1e3 for x in b), rounds),
    )
    for base, head in ((one, other), (other, one)):
        for interleaved in (True, False):
            result = compare_metric(FIRST, base, head, interleaved=interleaved)
            assert result.paired is interleaved
            assert result.verdict is not Verdict.REGRESSED, result.reason
            assert result.ci_low < 1 < result.ci_high
            if interleaved:
                assert result.verdict is Verdict.INCONCLUSIVE, result.reason
