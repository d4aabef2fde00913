"""`eventbench history add`: the results database, on an SQLite file and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import require_backend
from history_helpers import git_repo, write_run
from results_factory import environment, make_results

from harness import provision
from harness.analysis.changepoints import Thresholds, check_series, find_steps
from harness.cli import main
from harness.history import HistoryError, Series, add_run, list_runs, load_series, open_database
from harness.history.db import SCHEMA_VERSION
from harness.history.synthetic import PLANTED, planted_values, write_planted_history
from harness.results import Cell, load_results


@pytest.fixture(params=["sqlite", "postgres"])
def history_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty history database: an SQLite file or a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "history.sqlite")
        return
    require_backend("postgres")
    dsn = asyncio.run(provision.create_database())
    try:
        yield dsn
    finally:
        asyncio.run(provision.drop_database(dsn))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("repo")
    return path, git_repo(path, 4)


def _run_file(tmp_path: Path, commit: str | None, name: str, **env: object) -> Path:
    results = make_results(
        backends=("sqlite",), sizes=(10_000,), env=environment(**{"git_commit": commit, **env})
    )
    return write_run(replace(results, started_at=f"2026-01-01T{name}"), tmp_path / f"{name}.json")


def test_add_records_the_run_and_its_cells_unchanged(
    history_target: str, repo: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, commits = repo
    first = _run_file(tmp_path, commits[0], "a")
    later = _run_file(tmp_path, commits[2], "b", hostname="bench-2")
    db = open_database(history_target)
    try:
        record = add_run(db, later, repo=path)
        add_run(db, first, repo=path)
        assert record.order == 3 and record.commit == commits[2]
        assert [(r.commit, r.order) for r in list_runs(db)] == [(commits[0], 1), (commits[2], 3)]
        # Each cell's JSON is stored as the file has it (new schema fields flow through).
        doc = json.loads(later.read_text())
        stored = db.execute(
            "SELECT cell_json FROM eventbench_cells WHERE run_id = ? ORDER BY scenario, mode",
            (record.run_id,),
        )
        canonical = sorted(json.dumps(json.loads(s), sort_keys=True) for (s,) in stored)
        assert canonical == sorted(json.dumps(c, sort_keys=True) for c in doc["cells"])
        series = {(s.cell, s.metric): s for s in load_series(db)}
        total = series[("read-stream/sqlite/streamed/10000", "total_s")]
        assert total.commits == [commits[0], commits[2]]
        assert total.orders == [1, 3]
        assert ("read-stream/sqlite/streamed/10000", "peak_bytes") in series
        assert not any(metric.endswith("_q1") for _, metric in series)
        only_two = load_series(db, hostname="bench-2")
        assert {s.commits[0] for s in only_two} == {commits[2]}
        # The same run twice is refused and changes nothing.
        with pytest.raises(HistoryError, match="already in"):
            add_run(db, later, repo=path)
        assert len(list_runs(db)) == 2
    finally:
        db.close()


def test_bad_runs_are_refused_with_what_to_do(
    history_target: str, repo: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, commits = repo
    db = open_database(history_target)
    try:
        with pytest.raises(HistoryError, match=r"uncommitted changes.*--allow-dirty"):
            add_run(db, _run_file(tmp_path, commits[1], "d", git_dirty=True), repo=path)
        with pytest.raises(HistoryError, match="no git commit"):
            add_run(db, _run_file(tmp_path, None, "n"), repo=path)
        with pytest.raises(HistoryError, match="not in the git repository"):
            add_run(db, _run_file(tmp_path, "f" * 40, "f"), repo=path)
        shard = load_results(_run_file(tmp_path, commits[1], "s"))
        shard = replace(shard, parameters={"shard": {"index": 1, "count": 2}})
        with pytest.raises(HistoryError, match=r"shard 1/2 of a run; join the shards"):
            add_run(db, write_run(shard, tmp_path / "shard.json"), repo=path)
        assert list_runs(db) == []
    finally:
        db.close()


def test_a_newer_schema_is_refused(history_target: str) -> None:
    db = open_database(history_target)
    db.execute(
        "UPDATE eventbench_meta SET value = ? WHERE key = 'schema_version'",
        (str(SCHEMA_VERSION + 1),),
    )
    db.close()
    with pytest.raises(HistoryError, match=f"schema version {SCHEMA_VERSION + 1}, newer"):
        open_database(history_target)


def test_passwords_never_reach_messages() -> None:
    with pytest.raises(HistoryError) as caught:
        open_database("postgresql://user:s3cret@127.0.0.1:1/nowhere")
    assert "s3cret" not in str(caught.value)
    assert "user:***@127.0.0.1:1" in str(caught.value)


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database at all, " * 100)
    with pytest.raises(HistoryError, match=r"cannot use history database .*junk.sqlite"):
        open_database(junk)


def test_history_add_command(
    history_target: str, repo: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, commits = repo
    run = _run_file(tmp_path, commits[3], "c")
    cli = CliRunner()
    args = ["history", "add", str(run), "--db", history_target, "--repo", str(path)]
    got = cli.invoke(main, args)
    assert got.exit_code == 0, got.output
    assert f"commit {commits[3][:12]} (#4" in got.output
    again = cli.invoke(main, args)
    assert again.exit_code == 1
    assert "already in" in again.output and "Traceback" not in again.output
    missing = cli.invoke(main, ["history", "add", str(tmp_path / "x.json"), "--db", history_target])
    assert missing.exit_code == 1 and "no such results file" in missing.output


# ------------------------------------------------------------------ change points


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    return write_planted_history(tmp_path_factory.mktemp("planted"))


def test_check_finds_the_three_planted_steps_and_nothing_else(
    history_target: str, planted: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    repo_path, runs = planted
    commits = [json.loads(p.read_text())["environment"]["git_commit"] for p in runs]
    db = open_database(history_target)
    try:
        for path in runs:
            add_run(db, path, repo=repo_path)
        series = load_series(db)
    finally:
        db.close()
    thresholds = Thresholds()
    by_metric = {s.metric: s for s in series}
    for plant in PLANTED:
        s = by_metric[plant.metric]
        steps = find_steps(s, thresholds)
        assert [(step.commit, step.worse) for step in steps] == [
            (commits[plant.commit - 1], True)
        ], plant
        assert steps[0].change == pytest.approx(plant.change, rel=0.25)
        alarm = check_series(s, thresholds)
        assert alarm is not None and alarm.step.commit == commits[plant.commit - 1]
    # Every other series (first event, allocations, ...) raises nothing.
    planted_metrics = {p.metric for p in PLANTED}
    for s in series:
        if s.metric not in planted_metrics:
            assert find_steps(s, thresholds) == [] and check_series(s, thresholds) is None
    # The command: exit 1, naming each step's first commit.
    got = CliRunner().invoke(main, ["history", "check", "--db", history_target])
    assert got.exit_code == 1, got.output
    for plant in PLANTED:
        assert f"{plant.metric}: +" in got.output
        assert f"since commit {commits[plant.commit - 1][:12]} (#{plant.commit} " in got.output
    assert got.output.count("REGRESSION") == 3
    # The report: one chart per cell and metric, the steps in the tables.
    out = tmp_path / "report"
    got = CliRunner().invoke(main, ["history", "report", "--db", history_target, "-o", str(out)])
    assert got.exit_code == 0, got.output
    page = (out / "history.html").read_text()
    assert page.count('<img src="data:image/png;base64,') == len(series)
    assert "http://" not in page and "https://" not in page
    markdown = (out / "history.md").read_text()
    for plant in PLANTED:
        assert commits[plant.commit - 1][:12] in markdown


def test_no_alarm_before_the_steps_and_after_a_step_is_undone(
    planted: tuple[Path, list[Path]],
) -> None:
    values = planted_values()
    thresholds = Thresholds()
    commits = [f"c{i}" for i in range(1, 61)]

    def series(metric: str, upto: int, tail: list[float] | None = None) -> Series:
        vals = values[metric][:upto] + (tail or [])
        n = len(vals)
        return Series(
            "s", "b", "m", 1, metric, commits[:n], list(range(1, n + 1)), [""] * n, vals, [1] * n
        )

    for plant in PLANTED:
        assert check_series(series(plant.metric, plant.commit - 1), thresholds) is None
    # A regression undone by a later commit: no alarm.
    instr = values["instructions"]
    undone = series("instructions", 30, [v / 1.03 for v in instr[30:45]])
    assert find_steps(undone, thresholds) and check_series(undone, thresholds) is None
    # Faster is not an alarm.
    faster = series("instructions", 60)
    faster = Series(**{**faster.__dict__, "values": [1 / v for v in faster.values]})
    assert check_series(faster, thresholds) is None


def test_check_on_an_empty_history_says_what_to_do(history_target: str) -> None:
    got = CliRunner().invoke(main, ["history", "check", "--db", history_target])
    assert got.exit_code == 2
    assert "holds no runs" in got.output and "history add" in got.output


def test_each_machine_is_its_own_history(history_target: str, tmp_path: Path) -> None:
    # Twelve commits on bench-1; the last six also on bench-2, a machine 1.6x slower.
    # Pooled per commit, bench-2's runs looked like a step at commit 7.
    path = tmp_path / "repo"
    commits = git_repo(path, 12)

    def slower(cell: Cell) -> Cell:
        assert cell.time is not None
        return replace(cell, time=replace(cell.time, total_s=[x * 1.6 for x in cell.time.total_s]))

    db = open_database(history_target)
    try:
        for i, commit in enumerate(commits):
            for host, tweak in (("bench-1", None), ("bench-2", slower)):
                if host == "bench-2" and i < 6:
                    continue
                results = make_results(
                    seed=i, backends=("sqlite",), sizes=(10_000,), with_append=False,
                    env=environment(git_commit=commit, hostname=host), tweak=tweak,
                )  # fmt: skip
                run = replace(results, started_at=f"2026-01-01T{host}-{i}")
                add_run(db, write_run(run, tmp_path / f"{host}-{i}.json"), repo=path)
        pooled = [s for s in load_series(db) if s.metric == "total_s"]
    finally:
        db.close()
    assert any(check_series(s, Thresholds()) is not None for s in pooled)
    cli = CliRunner()
    got = cli.invoke(main, ["history", "check", "--db", history_target])
    assert got.exit_code == 0, got.output
    assert "from 2 machines, each on its own" in got.output
    # A report is one page of series: it asks which machine's.
    report = ["history", "report", "--db", history_target, "-o", str(tmp_path / "r")]
    got = cli.invoke(main, report)
    assert got.exit_code == 2, got.output
    assert "2 machines: bench-1 (12 runs), bench-2 (6 runs)" in got.output
    assert "--machine" in got.output
    got = cli.invoke(main, [*report, "--machine", "bench-2"])
    assert got.exit_code == 0, got.output


def test_runs_of_other_parameters_are_other_series(history_target: str, tmp_path: Path) -> None:
    # From commit 7 on, the job ran with -p payload_bytes=1024: twice the time, a new
    # workload, not a step.
    path = tmp_path / "repo"
    commits = git_repo(path, 12)

    def bigger(cell: Cell) -> Cell:
        assert cell.time is not None
        slower = replace(cell.time, total_s=[x * 2 for x in cell.time.total_s])
        return replace(cell, params={**cell.params, "payload_bytes": 1024}, time=slower)

    db = open_database(history_target)
    try:
        for i, commit in enumerate(commits):
            results = make_results(
                seed=i, backends=("sqlite",), sizes=(10_000,), with_append=False,
                env=environment(git_commit=commit), tweak=bigger if i >= 6 else None,
            )  # fmt: skip
            add_run(db, write_run(results, tmp_path / f"{i}.json"), repo=path)
        series = [s for s in load_series(db) if s.metric == "total_s"]
    finally:
        db.close()
    cells = {s.cell: len(s.commits) for s in series if s.scenario == "read-stream"}
    assert cells == {
        "read-stream/sqlite/collected/10000 [payload_bytes=100]": 6,
        "read-stream/sqlite/collected/10000 [payload_bytes=1024]": 6,
        "read-stream/sqlite/streamed/10000 [payload_bytes=100]": 6,
        "read-stream/sqlite/streamed/10000 [payload_bytes=1024]": 6,
    }
    assert all(check_series(s, Thresholds()) is None for s in series)
    got = CliRunner().invoke(main, ["history", "check", "--db", history_target])
    assert got.exit_code == 0, got.output
