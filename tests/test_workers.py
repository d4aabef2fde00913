"""Worker processes: default timeouts, and no worker outliving its run however the run
ends (a timeout, SIGTERM, SIGHUP, or the runner SIGKILLed), connections included."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from conftest import require_backend
from hanging_backends import HANG_ENV, MARK_ENV, PG_APP_ENV

from harness.results import load_results
from harness.runner import EXIT_FAILED, Side, make_plan, run_plan, run_status, worker_timeout_s
from harness.runner.plan import estimate_s, seed_estimate_s
from harness.runner.processes import TIMEOUT_FLOOR_S

TESTS = Path(__file__).resolve().parent
HANGING = "hanging_backends:hanging_store"


def test_the_default_timeout_scales_with_the_cell_and_has_a_floor() -> None:
    def timeout(
        size: int, kind: str = "time", repeats: int = 5, seeded_here: bool = False
    ) -> float:
        plan = make_plan(
            scenarios=["read-stream"], backends=["sqlite"], sizes=[size], repeats=repeats
        )
        return worker_timeout_s(estimate_s(plan.cells[0], kind, plan, seeded_here))

    assert timeout(10_000) == TIMEOUT_FLOOR_S  # small cells: the floor
    big = timeout(1_000_000)
    assert big > TIMEOUT_FLOOR_S
    assert timeout(2_000_000) > big  # size
    assert timeout(1_000_000, repeats=20) > big  # repeats
    assert timeout(1_000_000, kind="memory") > big  # memray-tracked runs are slower
    assert timeout(1_000_000, seeded_here=True) > big  # seeding in the worker
    assert worker_timeout_s(seed_estimate_s(10_000_000)) > worker_timeout_s(
        seed_estimate_s(1_000_000)
    )


def workers_of(pid: int) -> list[psutil.Process]:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [p for p in children if _is_worker(p)]


def _is_worker(process: psutil.Process) -> bool:
    try:
        return "harness.worker" in process.cmdline()
    except psutil.Error:
        return False


def wait_gone(processes: list[psutil.Process], seconds: float = 30.0) -> list[psutil.Process]:
    """The processes still alive (zombies count as gone) after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    alive = processes
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _alive(p)]
        time.sleep(0.1)
    return alive


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize(
    ("hang", "where"),
    [
        ("streamed", "timed run 1 of 1"),  # cancellable: the worker unwinds at once
        ("seed", "seeding 20 events"),
        ("block", "timed run 1 of 1"),  # blocks its event loop: only killing ends it
    ],
)
def test_a_worker_past_its_timeout_is_stopped_and_the_run_goes_on(
    hang: str, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HANG_ENV, hang)
    plan = make_plan(
        scenarios=["read-stream"],
        backends=[HANGING],
        sizes=[20],
        repeats=1,
        memory_repeats=0,
        warmups=0,
        modes=["collected", "streamed"],
    )
    here = Side(env={"PYTHONPATH": str(TESTS)})
    started = time.monotonic()
    [results] = run_plan(plan, sides=[here], timeout_s=1.0)
    elapsed = time.monotonic() - started
    by_mode = {c.mode: c for c in results.cells}
    assert set(by_mode) == {"collected", "streamed"}  # the run went on after a timeout
    expected = f"timed out after 1 s while measuring read-stream · {HANGING} · streamed"
    assert expected in (by_mode["streamed"].error or "")
    assert f"({where})" in (by_mode["streamed"].error or "")
    if hang == "streamed":
        assert by_mode["collected"].error is None
    assert run_status([results]).exit_code == EXIT_FAILED
    assert elapsed < 60
    assert not workers_of(os.getpid())


@pytest.fixture
def pg_app(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """An application_name for the hanging store's PostgreSQL connection (None: no
    PostgreSQL here, and it is not required)."""
    try:
        require_backend("postgres")
    except pytest.skip.Exception:
        yield None
        return
    yield f"eventbench-hang-{uuid.uuid4().hex[:12]}"


def pg_backends(app: str) -> int:
    """How many server processes serve connections named ``app``."""
    import asyncpg

    from harness import provision

    async def count() -> int:
        conn = await asyncpg.connect(provision.find_server().dsn)
        try:
            found = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app
            )
            return int(found)
        finally:
            await conn.close()

    return asyncio.run(count())


def start_run(
    tmp_path: Path, hang: str, pg_app: str | None, *extra: str
) -> tuple[subprocess.Popen[str], Path, Path]:
    """`eventbench run` on the hanging store, once its worker hangs: (process, mark, out)."""
    mark = tmp_path / "hanging"
    out = tmp_path / "results.json"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
        HANG_ENV: hang,
        MARK_ENV: str(mark),
        "TMPDIR": str(scratch),
    }
    if pg_app:
        env[PG_APP_ENV] = pg_app
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "harness.cli", "run", "--backends", HANGING, "--sizes", "20"),
            *("--repeats", "1", "--memory-repeats", "0", "--warmups", "0", "-o", str(out)),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 120
    while not mark.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the worker never hung:\n{proc.communicate()[0]}")
        time.sleep(0.05)
    return proc, mark, out


@pytest.mark.slow
@pytest.mark.parametrize("hang", ["read", "block"])
def test_a_sigkilled_runner_leaves_no_worker_and_no_connection(
    hang: str, pg_app: str | None, tmp_path: Path
) -> None:
    app = pg_app if hang == "read" else None
    proc, mark, _ = start_run(tmp_path, hang, app)
    workers = workers_of(proc.pid)
    assert [w.pid for w in workers] == [int(mark.read_text())]
    if app:
        assert pg_backends(app) == 1  # the store's connection, inside pg_sleep
    proc.kill()
    proc.communicate()
    assert not wait_gone(workers), "a worker outlived its SIGKILLed runner"
    if app:
        # The worker cancelled its statement and closed its connection as it went: a
        # merely killed client would leave pg_sleep(3600) running on the server.
        deadline = time.monotonic() + 30
        while pg_backends(app) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert pg_backends(app) == 0


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_a_run_as_ctrl_c_does(
    signum: signal.Signals, pg_app: str | None, tmp_path: Path
) -> None:
    # collected works and finishes first; streamed hangs
    proc, _, out = start_run(tmp_path, "streamed", pg_app, "--modes", "collected,streamed")
    workers = workers_of(proc.pid)
    assert len(workers) == 1
    proc.send_signal(signum)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, output
    assert f"stopped by {signum.name}: kept 1 finished cells" in output
    results = load_results(out)  # the partial results were written
    assert results.interrupted
    assert results.parameters["stopped_by"] == signum.name
    assert [c.mode for c in results.cells] == ["collected"]
    assert results.cells[0].time is not None
    assert not wait_gone(workers, seconds=5)
    if pg_app:
        assert pg_backends(pg_app) == 0
    assert not list((tmp_path / "tmp").iterdir())  # the run's scratch space is gone


def test_a_worker_imports_nothing_of_the_runner() -> None:
    """What a worker process holds is part of what it measures (the garbage collector
    walks all of it), so ``python -m harness.worker`` must not pull in the runner, the
    statistics or the reports."""
    banned = "('harness.runner', 'harness.analysis', 'harness.report', 'harness.cli')"
    code = (
        "import sys, harness.worker; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'scipy', 'rich')"
        f" or m.startswith({banned})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]", out
