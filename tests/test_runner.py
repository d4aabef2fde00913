"""The runner end to end on tiny sizes: planning, worker processes, results, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backends.memory import MemoryStore
from harness.contract import EventStream
from harness.registry import backend_info
from harness.results import RunResults, load_results, save_results
from harness.runner import PlanError, Progress, Side, make_plan, run_plan
from harness.worker import SCHEDULING_SETTING


def test_plan_has_every_scenario_backend_mode_and_size() -> None:
    plan = make_plan(
        scenarios=["read-stream", "append"],
        backends=["memory", "sqlite"],
        sizes=[10, 20],
        overrides={"append.events": 30, "batch_sizes": "1,10"},
    )
    keys = {cell.key for cell in plan.cells}
    for backend in ("memory", "sqlite"):
        for size in (10, 20):
            for mode in ("collected", "streamed", "raw", "floor"):
                assert ("read-stream", backend, mode, size) in keys
        # append is measured at its own size, once per batch size and contention
        for mode in ("batch-1", "batch-10", "contention"):
            assert ("append", backend, mode, 30) in keys
    assert len(keys) == len(plan.cells) == 2 * (2 * 4 + 3)
    assert plan.parameters["scenario_params"]["append"]["batch_sizes"] == [1, 10]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scenarios": ["nope"]}, "no scenario named 'nope'"),
        ({"overrides": {"no_such": 1}}, "no_such"),
        ({"overrides": {"append.events": "many"}}, "append.events"),
        ({"sizes": [0]}, "positive"),
        ({"backends": []}, "backends"),
        ({"modes": ["sideways"]}, "no cells"),
    ],
)
def test_bad_plans_say_what_to_do(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        make_plan(**kwargs)  # type: ignore[arg-type]


class Recorder(Progress):
    def __init__(self, interrupt_after: int | None = None) -> None:
        self.tasks: list[str] = []
        self.notes: list[str] = []
        self.advanced = 0
        self.interrupt_after = interrupt_after

    def task(self, description: str) -> None:
        self.tasks.append(description)

    def advance(self, weight: float) -> None:
        self.advanced += 1
        if self.interrupt_after is not None and self.advanced >= self.interrupt_after:
            raise KeyboardInterrupt

    def note(self, message: str) -> None:
        self.notes.append(message)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> RunResults:
    info = backend_info("sqlite")
    assert info.available, info.reason
    plan = make_plan(
        scenarios=["read-stream", "fold", "catch-up"],
        backends=["memory", "sqlite"],
        sizes=[300, 1000, 3000],  # three sizes: a growth slope needs them
        repeats=2,
        memory_repeats=1,
        rounds=1,  # what each worker measures; rounds are tested below
        overrides={"catch-up.streams": 20},
    )
    [results] = run_plan(plan, progress=Recorder())
    return results


def test_every_cell_is_measured_for_time_and_memory(small_run: RunResults) -> None:
    assert not small_run.interrupted
    # memory has no raw scan and no floor: those cells are skipped, not failed
    assert {c.backend for c in small_run.cells if c.mode == "raw"} == {"sqlite"}
    assert {c.backend for c in small_run.cells if c.mode == "floor"} == {"sqlite"}
    assert len(small_run.cells) == 2 * (4 + 4 + 2) * 3 - 2 * 2 * 3
    for cell in small_run.cells:
        assert cell.error is None, cell.error
        assert cell.time is not None and len(cell.time.total_s) == 2
        assert cell.time.events == cell.size
        assert cell.time.first_event_s is not None
        assert all(
            0 < f <= t for f, t in zip(cell.time.first_event_s, cell.time.total_s, strict=True)
        )
        assert cell.memory is not None and len(cell.memory.peak_bytes) == 1
        assert cell.summary["total_s"] > 0 and cell.summary["peak_bytes"] > 0


def test_collected_reads_hold_more_memory_than_streamed(small_run: RunResults) -> None:
    peaks = {c.key: c.summary["peak_bytes"] for c in small_run.cells}
    for scenario in ("read-stream", "fold", "catch-up"):
        for backend in ("memory", "sqlite"):
            collected = peaks[(scenario, backend, "collected", 3000)]
            streamed = peaks[(scenario, backend, "streamed", 3000)]
            # 3000 decoded events held at once against one batch of 500 at a time
            assert collected > 2 * streamed, (scenario, backend, collected, streamed)


def test_read_cells_carry_cold_and_warm_figures_stall_and_settings(small_run: RunResults) -> None:
    for cell in small_run.cells:
        # One cold run per worker process: the first read after the store opened.
        assert cell.cold is not None, cell.key
        assert len(cell.cold.total_s) == len(cell.cold.first_event_s) == 1
        assert len(cell.cold.peak_bytes) == 1 and cell.cold.peak_bytes[0] > 0
        assert cell.cold.time_rounds == [0] and cell.cold.memory_rounds == [0]
        assert cell.time is not None and cell.time.stall_max_s is not None
        assert len(cell.time.stall_max_s) == len(cell.time.total_s)
        assert all(
            0 <= p99 <= top
            for p99, top in zip(cell.time.stall_p99_s or [], cell.time.stall_max_s, strict=True)
        )
        assert {"cold_peak_bytes", "cold_first_event_s", "stall_max_s"} <= set(cell.summary)
        assert cell.memory is not None and cell.memory.allocated_bytes
        assert cell.memory.allocated_bytes[0] >= cell.memory.peak_bytes[0]
        if cell.backend == "sqlite":
            # The defaults a user gets, and statistics of the seeded data.
            assert cell.settings["synchronous"] == "FULL"
            assert cell.settings["analyzed"] == "yes"
            assert cell.settings["default_batch_size"] == "100"
        else:
            # The memory store reports none: only the worker's, how timed runs ran.
            assert set(cell.settings) == {SCHEDULING_SETTING}


def test_growth_fits_cover_every_group(small_run: RunResults) -> None:
    fitted = {(f.scenario, f.backend, f.mode, f.metric) for f in small_run.fits}
    for cell in small_run.cells:
        for metric in ("peak_bytes", "total_s"):
            assert (cell.scenario, cell.backend, cell.mode, metric) in fitted
    collected = [f for f in small_run.fits if f.mode == "collected" and f.metric == "peak_bytes"]
    assert all(0.7 < f.slope < 1.3 for f in collected), collected


def test_results_record_the_environment_and_round_trip(
    small_run: RunResults, tmp_path: Path
) -> None:
    env = small_run.environment
    assert env.python.startswith("CPython 3.")
    assert "eventbench" in env.packages and "memray" in env.packages
    assert env.servers["sqlite"].startswith("SQLite 3.")
    assert env.git_commit is None or len(env.git_commit) == 40
    assert small_run.parameters["seeding"], "sqlite data is seeded once per (N, layout)"
    path = save_results(small_run, tmp_path / "r.json")
    assert load_results(path) == small_run


def test_pytest_benchmark_export_is_readable_by_pytest_benchmark(
    small_run: RunResults, tmp_path: Path
) -> None:
    from harness.results import export_pytest_benchmark

    path = export_pytest_benchmark(small_run, tmp_path / "bench.json")
    doc = json.loads(path.read_text())
    assert len(doc["benchmarks"]) == len(small_run.cells)
    tool = Path(sys.executable).with_name("pytest-benchmark")
    shown = subprocess.run(
        [str(tool), "compare", str(path), "--group-by", "group"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert "read-stream[sqlite-streamed-3000]" in shown.stdout


def test_interrupt_keeps_the_finished_cells() -> None:
    plan = make_plan(
        scenarios=["read-stream"],
        backends=["memory"],
        sizes=[50],
        repeats=1,
        memory_repeats=1,
        rounds=1,
    )
    [results] = run_plan(plan, progress=Recorder(interrupt_after=3))
    assert results.interrupted
    # collected: time and memory finished; streamed: time only; nothing else
    assert [(c.mode, c.time is not None, c.memory is not None) for c in results.cells] == [
        ("collected", True, True),
        ("streamed", True, False),
    ]


def test_two_sides_alternate_and_each_gets_its_results() -> None:
    plan = make_plan(
        scenarios=["read-stream"],
        backends=["memory"],
        sizes=[50],
        repeats=2,
        memory_repeats=1,
        modes=["streamed"],
    )
    progress = Recorder()
    a, b = run_plan(plan, sides=[Side("a"), Side("b")], rounds=2, progress=progress)
    # Time, then memory, each side in turn; the side that goes first turns by round.
    assert [t[-3:] for t in progress.tasks] == ["[a]", "[b]"] * 2 + ["[b]", "[a]"] * 2
    assert (a.side, b.side) == ("a", "b")
    for side in (a, b):
        [cell] = side.cells
        assert cell.time is not None and len(cell.time.total_s) == 4
        # Each sample says which round (fresh process) it came from.
        assert cell.time.rounds == [0, 0, 1, 1]
        assert cell.memory is not None and cell.memory.rounds == [0, 1]


class ShortStore(MemoryStore):
    """A broken store whose streamed reads end one event early."""

    def read_stream(
        self, stream_id: str, *, from_version: int = 0, batch_size: int | None = None
    ) -> EventStream:
        full = super().read_stream(stream_id, from_version=from_version, batch_size=batch_size)

        async def batches():  # type: ignore[no-untyped-def]
            events = await full.collect()
            yield events[:-1]

        return EventStream(batches, full.collect)


def short_store() -> ShortStore:
    return ShortStore()


def test_a_short_read_fails_its_cell_and_the_run_goes_on() -> None:
    plan = make_plan(
        scenarios=["read-stream"],
        backends=["test_runner:short_store"],
        sizes=[50],
        repeats=1,
        memory_repeats=0,
        rounds=1,
    )
    here = Side(env={"PYTHONPATH": str(Path(__file__).parent)})
    [results] = run_plan(plan, sides=[here])
    by_mode = {c.mode: c for c in results.cells}
    assert by_mode["collected"].error is None
    assert "handled 49 events, expected 50" in (by_mode["streamed"].error or "")


class StaleStore(MemoryStore):
    """A broken store whose streamed reads hand over the right number of events, the
    last one replaced by a second copy of the first (a stale cache, say)."""

    @staticmethod
    def _stale(full: EventStream) -> EventStream:
        async def batches():  # type: ignore[no-untyped-def]
            events = await full.collect()
            yield events[:-1] + events[:1]

        return EventStream(batches, full.collect)

    def read_stream(
        self, stream_id: str, *, from_version: int = 0, batch_size: int | None = None
    ) -> EventStream:
        return self._stale(
            super().read_stream(stream_id, from_version=from_version, batch_size=batch_size)
        )

    def read_all(self, *, after_position: int = 0, batch_size: int | None = None) -> EventStream:
        return self._stale(super().read_all(after_position=after_position, batch_size=batch_size))


def stale_store() -> StaleStore:
    return StaleStore()


def test_a_read_of_the_right_count_with_wrong_events_fails_its_cell() -> None:
    plan = make_plan(
        scenarios=["fold", "catch-up"],
        backends=["test_runner:stale_store"],
        sizes=[50],
        repeats=1,
        memory_repeats=0,
        rounds=1,
        overrides={"catch-up.streams": 5},
    )
    here = Side(env={"PYTHONPATH": str(Path(__file__).parent)})
    [results] = run_plan(plan, sides=[here])
    by_cell = {(c.scenario, c.mode): c for c in results.cells}
    # Collected reads are the store's own, correct: the answer is checked, and right.
    assert by_cell["fold", "collected"].error is None
    assert by_cell["catch-up", "collected"].error is None
    fold = by_cell["fold", "streamed"].error or ""
    assert "wrong content" in fold and "last seq 0" in fold and "49" in fold, fold
    catch_up = by_cell["catch-up", "streamed"].error or ""
    assert "2 of 5 streams read wrongly" in catch_up, catch_up
    assert "bench-000000: 11 events, the last at 1, expected 10" in catch_up, catch_up
    assert "bench-000004: 9 events, the last at 9, expected 10" in catch_up, catch_up


def test_an_interpreter_without_eventbench_is_a_clear_error() -> None:
    plan = make_plan(scenarios=["read-stream"], backends=["memory"], sizes=[50])
    with pytest.raises(RuntimeError, match="is eventbench installed there"):
        run_plan(plan, sides=[Side("x", "/bin/false")])


def test_ctrl_c_stops_eventbench_run_and_writes_partial_results(tmp_path: Path) -> None:
    out = tmp_path / "partial.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            "--scenarios",
            "calibration",
            "--backends",
            "memory",
            "--modes",
            "sleep",
            "-p",
            "sleep_s=0.5",
            "--repeats",
            "3",
            "--memory-repeats",
            "10",
            "-o",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    # The timed worker sleeps 2 s (warm-up and 3 runs); the tracked one 5.5 s: stop the
    # run once the tracked one has begun (a line says so), however busy the machine.
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "sleep" in line and line.rstrip().endswith("· memory"):
            break
    else:
        pytest.fail("the tracked worker never started:\n" + "".join(seen))
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    output = "".join(seen) + rest
    assert proc.returncode == 130, output
    assert "interrupted" in output
    results = load_results(out)
    assert results.interrupted
    [cell] = results.cells
    assert cell.mode == "sleep" and cell.time is not None and len(cell.time.total_s) == 3
    assert cell.memory is None
    # no worker is left behind
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _is_worker_of(int(p), proc.pid)]


def _is_worker_of(pid: int, parent: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().split()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return int(stat[3]) == parent and b"harness.worker" in cmdline


THIRD_PARTY_STORE = '''
"""A third-party-style store: SQLite under another name, with the two-instance hook,
counting every seeding in a file beside this module."""

import contextlib
import tempfile
from pathlib import Path

from backends.sqlite import SqliteStore

SEEDINGS = Path(__file__).with_name("seedings.txt")


class CountingStore(SqliteStore):
    async def bulk_load(self, events):
        with SEEDINGS.open("a") as out:
            out.write(f"{len(events)}\\n")
        await super().bulk_load(events)


@contextlib.asynccontextmanager
async def make_store(location=None):
    if location is not None:  # store.location is "sqlite:PATH"
        async with CountingStore(location.removeprefix("sqlite:")) as store:
            yield store
        return
    with tempfile.TemporaryDirectory() as directory:
        async with CountingStore(Path(directory) / "events.db", synchronous="NORMAL") as store:
            yield store


def server_version():
    return "Counting 1.0"
'''


def test_a_reopenable_third_party_store_is_seeded_once_per_run(tmp_path: Path) -> None:
    (tmp_path / "countingstore.py").write_text(THIRD_PARTY_STORE)
    seedings = tmp_path / "seedings.txt"
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).parent.parent)])}
    plan = make_plan(
        scenarios=["read-stream"],
        backends=["countingstore:make_store"],
        sizes=[400],
        repeats=1,
        memory_repeats=1,
    )
    [results] = run_plan(plan, sides=[Side(env=env)], progress=Recorder())
    cells = results.cells
    # A SqliteStore subclass inherits its raw scan and its floor.
    assert {c.mode for c in cells} == {"collected", "streamed", "raw", "floor"}
    assert all(c.error is None for c in cells), [c.error for c in cells]
    # Eight workers (four modes, timed and tracked) read one seeding.
    assert seedings.read_text().split() == ["400"]
    assert results.parameters["seeding"][0]["backend"] == "countingstore:make_store"
    assert results.environment.servers["countingstore:make_store"] == "Counting 1.0"
    [info] = results.parameters["backend_info"]
    assert info["reopenable"] and info["multi_process"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_while_a_holder_seeds_leaves_no_worker_and_no_data(
    signum: signal.Signals, tmp_path: Path
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            "--scenarios",
            "read-stream",
            "--backends",
            "sqlite",
            "--sizes",
            "1m",
            "-o",
            str(tmp_path / "r.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    # Wait for the worker that seeds (and would hold) the SQLite store to have made it.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(scratch.glob("eventbench-sqlite-*")):
        time.sleep(0.2)
    assert list(scratch.glob("eventbench-sqlite-*")), "the holder never made its store"
    proc.send_signal(signum)  # SIGTERM (what CI sends) stops a run as Ctrl-C does
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, output
    # No process of this run is left, orphaned or not (they all carry its TMPDIR).
    marker = f"TMPDIR={scratch}".encode()
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _has_env(int(p), marker)]
    # The holder was interrupted, not killed: its factory removed the store's files.
    assert not list(scratch.glob("eventbench-sqlite-*"))


def _has_env(pid: int, entry: bytes) -> bool:
    try:
        return entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
