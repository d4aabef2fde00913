"""What a run says and how it exits: unknown and unavailable backends, cells left out
(and counted out of the banner), runs that measured nothing, `compare --ref` sides."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from harness.cli import main
from harness.results import Cell, load_results
from harness.runner import (
    EXIT_FAILED,
    EXIT_OK,
    BackendUnavailable,
    Outline,
    Progress,
    Side,
    make_plan,
    run_plan,
    run_status,
)
from harness.runner.gitref import RefEnvironment

TINY = ["--sizes", "40", "--repeats", "1", "--memory-repeats", "0", "--warmups", "0"]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), terminal_width=240)


@pytest.fixture
def no_postgres(monkeypatch: pytest.MonkeyPatch) -> str:
    """PostgreSQL pointed at a closed port on this machine (the workers inherit it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    monkeypatch.setenv("EVENTBENCH_PG_DSN", dsn)
    monkeypatch.delenv("EVENTBENCH_REQUIRE_POSTGRES", raising=False)
    # This process looks for a server once; look again (and, afterwards, forget this).
    from harness import provision

    monkeypatch.setattr(provision, "_found", None)
    return dsn


def test_an_unknown_backend_is_a_usage_error_naming_the_known_ones(tmp_path: Path) -> None:
    for command in (["run"], ["compare", "--ref", "HEAD"]):
        result = invoke(*command, "--backends", "sqlite,nosuch", "-o", str(tmp_path / "x"))
        assert result.exit_code == 2, result.output
        assert "no backend named 'nosuch'" in result.output
        assert "memory, sqlite, postgres" in result.output
        assert "module:function" in result.output
        assert not (tmp_path / "x").exists()


def test_an_unreachable_postgres_fails_the_run_before_measuring(
    no_postgres: str, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    result = invoke("run", "--backends", "memory,postgres", *TINY, "-o", str(out))
    assert result.exit_code == 2, result.output
    assert "backend 'postgres' cannot run here" in result.output
    assert "does not answer" in result.output
    assert "--skip-unavailable" in result.output
    assert not out.exists()


def test_skip_unavailable_leaves_it_out_and_says_so(no_postgres: str, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = invoke(
        "run", "--backends", "memory,postgres", *TINY, "--skip-unavailable", "-o", str(out)
    )
    assert result.exit_code == EXIT_OK, result.output
    # The banner counts what runs: memory's collected and streamed, not its raw and
    # floor modes and nothing of PostgreSQL; each reason left out is one line.
    assert "eventbench run: 2 cells (read-stream) on memory at 40 events" in result.output
    left = [line for line in result.output.splitlines() if line.startswith("left out:")]
    assert len(left) == 3, result.output
    assert left[0] == (
        "left out: 1 cell (read-stream raw; N=40): memory does not implement SupportsRawScan"
    )
    assert left[1].startswith(
        "left out: 1 cell (read-stream floor; N=40): memory does not implement "
        "SupportsFloorScan (the floor reads the rows with a reference backend's bare driver"
    )
    assert left[2].startswith(
        "left out: 4 cells (read-stream collected/streamed/raw/floor; N=40): postgres cannot "
        "run here"
    )
    results = load_results(out)
    assert [c.mode for c in results.cells] == ["collected", "streamed"]
    assert "does not answer" in results.parameters["skipped_backends"]["postgres"]
    reasons = [entry["reason"] for entry in results.parameters["left_out"]]
    assert reasons[0] == "memory does not implement SupportsRawScan"


def test_required_postgres_is_never_skipped(
    no_postgres: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTBENCH_REQUIRE_POSTGRES", "1")
    result = invoke(
        "run", "--backends", "memory,postgres", *TINY, "--skip-unavailable", "-o", str(tmp_path)
    )
    assert result.exit_code == 2, result.output
    assert "EVENTBENCH_REQUIRE_POSTGRES=1 requires it" in result.output
    # `check` follows the same rule
    result = invoke("check", "postgres", "memory", "--skip-unavailable", "-s", "append")
    assert result.exit_code == 2, result.output
    assert "EVENTBENCH_REQUIRE_POSTGRES=1 requires it" in result.output


def test_a_run_that_measures_nothing_never_exits_0(no_postgres: str, tmp_path: Path) -> None:
    # Every backend skipped...
    result = invoke(
        "run", "--backends", "postgres", *TINY, "--skip-unavailable", "-o", str(tmp_path / "a")
    )
    assert result.exit_code == EXIT_FAILED, result.output
    assert "0 cells" in result.output
    assert "nothing was measured: every cell was left out or failed" in result.output
    # ...or every mode left out.
    result = invoke("run", "--backends", "memory", "--modes", "raw", *TINY, "-o", str(tmp_path))
    assert result.exit_code == EXIT_FAILED, result.output
    assert "left out: 1 cell (read-stream raw; N=40): memory does not implement" in result.output
    assert "nothing was measured" in result.output


class Recorder(Progress):
    def __init__(self) -> None:
        self.outline: Outline | None = None
        self.done: list[str] = []

    def planned(self, outline: Outline) -> None:
        self.outline = outline

    def cell_done(self, cell: Cell, side: str) -> None:
        self.done.append(f"{cell.backend}/{cell.mode}/{side}")


def test_the_outline_counts_the_cells_that_run_and_each_cell_is_shown_when_done() -> None:
    plan = make_plan(
        scenarios=["read-stream"],
        backends=["memory", "sqlite"],
        sizes=[30, 60],
        repeats=1,
        memory_repeats=0,
        warmups=0,
    )
    assert len(plan.cells) == 16
    progress = Recorder()
    [results] = run_plan(plan, progress=progress)
    outline = progress.outline
    assert outline is not None
    assert len(outline.cells) == len(results.cells) == 12
    assert outline.workers == 12
    raw, floor = outline.left_out
    assert raw.reason == "memory does not implement SupportsRawScan"
    assert raw.describe() == (
        "2 cells (read-stream raw; N=30 and 60): memory does not implement SupportsRawScan"
    )
    assert floor.describe().startswith(
        "2 cells (read-stream floor; N=30 and 60): memory does not implement SupportsFloorScan"
    )
    # cells appear one by one, as each finishes, in plan order
    assert len(progress.done) == 12
    assert progress.done[:3] == ["memory/collected/", "memory/streamed/", "sqlite/collected/"]
    assert run_status([results]).exit_code == EXIT_OK


def test_two_sides_fail_when_a_backend_cannot_run_on_one(no_postgres: str) -> None:
    plan = make_plan(scenarios=["read-stream"], backends=["postgres"], sizes=[10])
    with pytest.raises(BackendUnavailable, match=r"'postgres' cannot run here \(side a\)"):
        run_plan(plan, sides=[Side("a"), Side("b")])


@pytest.fixture
def ref_is_this_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """`compare --ref` with this checkout standing in for the ref (nothing installed)."""
    import harness.runner.gitref

    root = Path(__file__).resolve().parent.parent

    def prepare_ref(ref: str, **_: object) -> RefEnvironment:
        import sys

        return RefEnvironment(ref, "0" * 40, root, Path(sys.executable))

    monkeypatch.setattr(harness.runner.gitref, "prepare_ref", prepare_ref)


def test_compare_ref_fails_when_a_side_cannot_run_or_measures_nothing(
    no_postgres: str, ref_is_this_checkout: None, tmp_path: Path
) -> None:
    args = ["compare", "--ref", "HEAD", "--scenarios", "read-stream", *TINY, "--rounds", "1"]
    args += ["-o", str(tmp_path)]
    result = invoke(*args, "--backends", "memory,postgres")
    assert result.exit_code == 2, result.output
    assert "backend 'postgres' cannot run here (side base)" in result.output
    result = invoke(*args, "--backends", "memory", "--modes", "raw")
    assert result.exit_code == 2, result.output
    assert "nothing was measured on the base side" in result.output
    # skipped on request: the other backend is measured and compared (with the 4
    # rounds a side a verdict needs: with one, compare cannot judge and exits 2)
    result = invoke(
        *args, "--rounds", "4", "--backends", "memory,postgres", "--skip-unavailable", "--stem", "c"
    )
    assert result.exit_code == 0, result.output
    assert "left out: 4 cells (read-stream collected/streamed/raw/floor; N=40): postgres" in (
        result.output
    )
    compared = json.loads((tmp_path / "c.json").read_text())
    assert compared


def test_help_says_what_the_default_covers_the_timeouts_and_the_exit_codes() -> None:
    text = " ".join(invoke("run", "--help").output.split())
    assert "read-stream on SQLite at 10K and 100K events" in text
    assert "--full" in text and "every scenario" in text
    assert "--timeout, --worker-timeout SECONDS" in text
    assert "Default: 25x the cell's expected duration" in text and "at least 120 s" in text
    assert "--skip-unavailable" in text
    for line in ("0 every cell that could run", "1 a cell failed, or nothing was measured"):
        assert line in text
    assert "128+N stopped by signal N (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP)" in text
