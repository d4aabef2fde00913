"""Worker processes: starting one for a `Side`, talking to it, stopping it.

Every measurement runs in a fresh ``python -m harness.worker``; a seeding worker can
keep its store open for the cells of a run (`hold_seed`). Here too: the timeouts, the
stop signals and the scheduling of timed workers.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from harness.redact import redact, redact_json
from harness.registry import shadowing_notes
from harness.worker import PARENT_FD_ENV, PARENT_PID_ENV, PHASE_MARK
from scenarios.base import Layout

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Signals that stop a run the way Ctrl-C does: finished cells are kept."""
TIMEOUT_MARGIN = 25.0
"""Generous: the model is fitted to a quiet machine and the reference stores, and a
worker is stopped only when it has clearly hung (the margin was 10 when the model was
2.7x slower than that run, so the default timeouts stay about where they were)."""
TIMEOUT_FLOOR_S = 120.0
"""No worker is stopped before this, however small its cell: a busy machine or a
slow third-party store must not fail a cell the timeout is not meant for."""
TIMEOUT_CEILING_S = 24 * 3600.0
"""However large the cell, a worker that has not answered in a day has hung."""
STOP_GRACE_S = 5.0
"""How long a worker asked to stop may take to close its connections before it is
killed."""


@dataclass(frozen=True)
class Side:
    """An interpreter to measure with: ``python`` must have eventbench importable."""

    label: str = ""
    python: str = sys.executable
    cwd: str | None = None
    """Working directory for its workers (e.g. that checkout's root); None: inherit."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment variables for its workers."""


class WorkerFailed(RuntimeError):
    """A worker process gave no answer (crashed, timed out, or eventbench is missing)."""


class WorkerTimedOut(WorkerFailed):
    """A worker did not answer within its timeout; it was stopped."""


class Stopped(KeyboardInterrupt):
    """The run was told to stop: Ctrl-C (SIGINT), SIGTERM or SIGHUP."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


REALTIME_ENV: Final = "EVENTBENCH_REALTIME"
"""Set to ``0`` to time runs under the normal scheduler (see `timed_scheduling`)."""
REALTIME_PRIORITY: Final = 1
"""The SCHED_FIFO priority of timed workers: the lowest, above every normal process but
below the kernel's own real-time threads."""


def timed_scheduling(env: Mapping[str, str] | None = None) -> str:
    """How timed workers started with ``env`` (default: this process's environment; a
    `Side` may add to it) are scheduled: ``"SCHED_FIFO"`` or ``"normal"``.

    A timed worker (``measure: time``) runs under SCHED_FIFO at `REALTIME_PRIORITY`
    when this process may grant it (root or CAP_SYS_NICE, or an RLIMIT_RTPRIO of 1;
    Linux only) and ``EVENTBENCH_REALTIME`` is not ``0``; otherwise, and for every
    other worker, under the normal scheduler. Each timed worker reports what it really
    ran under in its cell's settings (``harness.worker.SCHEDULING_SETTING``).

    Why: on a shared machine a fresh process's wall time varies mostly by how long it
    waited for a core. The memory store's streamed read of 100K events, 16 fresh
    processes per config interleaved process by process, load average 3.7-6.0 on 2
    cores (``python scripts/process_noise.py --workload stream --procs 16 --configs
    default,nice,fifo,norand+pin``): a process's fastest run varied between processes
    (sd of log) by 0.25 in wall time under the normal scheduler, 0.21 at nice -20 (the
    other sessions' processes sit in other cgroups, which nice does not reach), 0.22
    with no address-space randomisation and the worker pinned to a core, and 0.03
    under SCHED_FIFO; wall time less the process's own wait for a core
    (/proc/self/schedstat run_delay) varied by 0.02, as CPU time did (0.02-0.03 under
    every config). Address-space randomisation off, pinning, glibc malloc, transparent
    huge pages for it, gc.freeze(): none narrowed CPU time's spread (0.03-0.08 against
    0.04; ``--configs default,norand,pin,malloc,thp,gcfreeze,norand+pin``, load 2.4-3.7).
    Through this runner, interleaved (``python scripts/time_variance.py --rounds 10
    --repeats 6 --size 100000 --normal-too``, load average 4.2-4.4): wall time's
    between-process spread 0.04-0.07 under SCHED_FIFO against 0.30-0.32 without, the
    paired log ratio of a 25% slower read +0.24 with sd 0.05 against +0.25 with sd
    0.39; CPU time 0.04-0.07 either way. ``python tests/verdicts.py --trials 20
    --no-real-ref --no-instructions`` then caught that slowdown 20 times in 20 (19 by
    total time), with no A/A comparison regressed.

    The kernel reserves 5% of each second for normal tasks (``sched_rt_runtime_us``
    950000 of 1000000): a timed run that computes for more than about a second
    without blocking is paused ~50 ms a second, which adds up to 5% to its time, on
    both sides of a comparison alike, and which the loop-stall instrument subtracts
    (it counts the loop thread's wait for a core out; see
    `harness.instruments.stall`).

    The policy is set on the worker's main thread (the event loop's, where the timed
    work runs) just after it starts, and threads it starts later inherit it; the
    worker's own helper threads started before stay normal. A worker that spins
    still leaves the other cores, and the kernel's reserve for normal tasks on its
    own, to everything else, and the runner's timeouts still stop it. Only timed
    workers get it: memory and instruction counts do not depend on the wait.
    """
    env = os.environ if env is None else env
    if env.get(REALTIME_ENV, "1") == "0" or not hasattr(os, "sched_setscheduler"):
        return "normal"
    return "SCHED_FIFO"


def _make_realtime(pid: int) -> None:
    """Put process ``pid`` (its main thread) under SCHED_FIFO, if this process may."""
    with contextlib.suppress(OSError):  # not permitted: it stays normal, and says so
        os.sched_setscheduler(pid, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))


def spawn_worker(
    side: Side, *, stderr: int | IO[str] = subprocess.PIPE, timed: bool = False
) -> tuple[subprocess.Popen[str], int]:
    """Start one ``python -m harness.worker`` for ``side``, its stdin and stdout piped.

    The worker runs in its own session and process group, so a Ctrl-C at the terminal
    reaches only the runner, and stopping the group stops whatever the worker started.
    It inherits one end of a pipe whose other end only this process holds: when the
    runner dies, however it dies, the worker sees end of file and stops (see
    `harness.worker`). Returns the process and this end of the pipe, to close once
    the worker has ended.

    A ``timed`` worker (one that measures time) runs under SCHED_FIFO where this
    runner may grant it (see `timed_scheduling`): it is set here, by the runner, so
    that every side's worker gets it, whichever eventbench version the side runs.
    """
    env = {**os.environ, **side.env}
    env.setdefault("PYTHONHASHSEED", "0")
    watch_read, watch_write = os.pipe()
    env[PARENT_FD_ENV] = str(watch_read)
    env[PARENT_PID_ENV] = str(os.getpid())
    try:
        proc = subprocess.Popen(
            [side.python, "-m", "harness.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=side.cwd,
            env=env,
            text=True,
            start_new_session=True,
            pass_fds=(watch_read,),
        )
    except BaseException:
        os.close(watch_write)
        raise
    finally:
        os.close(watch_read)
    if timed and timed_scheduling(env) == "SCHED_FIFO":
        _make_realtime(proc.pid)
    return proc, watch_write


def call_worker(
    side: Side, request: Mapping[str, Any], timeout_s: float | None = None, *, doing: str = ""
) -> Any:
    """Run one worker for ``side`` (see `spawn_worker`) and return its JSON answer.

    After ``timeout_s`` seconds (None: no limit) the worker is stopped and
    `WorkerTimedOut` raised, saying how long it ran and what it was ``doing``. Any
    exception in between (Ctrl-C, `Stopped`) stops the worker before it propagates.
    """
    proc, watch = spawn_worker(side, timed=request.get("measure") == "time")
    try:
        with proc:
            try:
                out, err = proc.communicate(json.dumps(request) + "\n", timeout=timeout_s)
            except subprocess.TimeoutExpired:
                out, err = _stop_worker(proc)
                assert timeout_s is not None
                raise WorkerTimedOut(timed_out(timeout_s, doing, err)) from None
            except BaseException:
                _stop_worker(proc)
                raise
    finally:
        os.close(watch)
    lines = [line for line in out.splitlines() if line.strip()]
    try:
        answer = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = redact("\n".join(_stderr_lines(err)[-15:]))
        notes = shadowing_notes([], Path(side.cwd or os.getcwd()))
        raise WorkerFailed(
            f"worker ({side.python}) exited with status {proc.returncode} without an answer; "
            + (" ".join(notes) if notes else "is eventbench installed there?")
            + f" Its stderr ended:\n{tail}"
        ) from None
    if not answer.get("ok") and "error" in answer:
        tail = "\n".join(_stderr_lines(err)[-6:])
        answer["error"] = redact(answer["error"] + (f"\n{tail}" if tail else ""))
        if answer.get("timed_out") and timeout_s is not None:
            # The worker stopped its cell itself, early enough to say what it waited on.
            answer["error"] = redact(f"{timed_out(timeout_s, doing, err)} {answer['error']}")
    result: Any = redact_json(answer)
    return result


def timed_out(timeout_s: float, doing: str, stderr: str) -> str:
    """Why a worker was stopped: how long it ran, what it was doing, what to do."""
    where = last_phase(stderr)
    return (
        f"timed out after {timeout_s:.0f} s while {doing or 'working'}"
        + (f" ({where})" if where else "")
        + "; the worker was stopped. If the store is only slow, raise --timeout."
    )


def _signal_group(proc: subprocess.Popen[str], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)


def _stop_worker(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Stop a worker and everything it started; its output so far.

    SIGTERM first, so that it can cancel its queries and close its connections (a
    killed client can leave a PostgreSQL backend running its statement), then, after
    `STOP_GRACE_S`, SIGKILL to its whole process group.
    """
    _signal_group(proc, signal.SIGTERM)
    out, err = "", ""
    try:
        out, err = proc.communicate(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired, ValueError, OSError):
            out, err = proc.communicate(timeout=STOP_GRACE_S)
    except (ValueError, OSError):  # pipes left unusable by an interrupted communicate()
        pass
    _signal_group(proc, signal.SIGKILL)  # anything it started and left behind
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_GRACE_S)
    return out or "", err or ""


def last_phase(stderr: str) -> str | None:
    """The last phase a worker reported on ``stderr`` (e.g. "timed run 2 of 5")."""
    for line in reversed(stderr.splitlines()):
        if line.startswith(PHASE_MARK):
            return line[len(PHASE_MARK) :].strip()
    return None


def _stderr_lines(stderr: str) -> list[str]:
    return [line for line in stderr.strip().splitlines() if not line.startswith(PHASE_MARK)]


def probe_side(side: Side, backends: Sequence[str]) -> dict[str, Any]:
    """What ``side`` is (Python, packages, git) and what each backend can do there."""
    answer = call_worker(
        side,
        {"op": "probe", "backends": list(backends)},
        timeout_s=TIMEOUT_FLOOR_S,
        doing=f"probing {', '.join(backends)}",
    )
    if not answer.get("ok"):
        raise WorkerFailed(f"cannot probe {side.python}: {answer.get('error')}")
    result: dict[str, Any] = answer
    return result


def worker_timeout_s(estimate_s: float) -> float:
    """The default timeout of a worker expected to take ``estimate_s`` seconds."""
    return min(TIMEOUT_CEILING_S, max(TIMEOUT_FLOOR_S, TIMEOUT_MARGIN * estimate_s))


@contextlib.contextmanager
def signals_stop_the_run() -> Iterator[None]:
    """SIGTERM and SIGHUP stop a run as Ctrl-C does: `Stopped` is raised in the runner.

    A second signal while the run is stopping is ignored, so that the workers are
    stopped and the temporary databases dropped rather than left half-done.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise Stopped(signum)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass
class HeldSeed:
    """A worker keeping one seeded store open (``op: hold``) for cells to reopen."""

    proc: subprocess.Popen[str]
    log: IO[str]
    watch: int
    """The runner's end of the pipe the worker watches (see `spawn_worker`)."""
    location: str | None = None
    error: str | None = None
    seconds: float = 0.0

    def release(self, timeout_s: float = 120.0, *, interrupt: bool = False) -> None:
        """Let the worker close its store (the factory then removes the data) and end.

        ``interrupt``: it may be busy seeding, so Ctrl-C it first (it still cleans up).
        Only a worker that does not end after that is killed.
        """
        with contextlib.suppress(OSError, ValueError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        for sig, wait_s in ((None, timeout_s), (signal.SIGINT, 30.0), (signal.SIGKILL, None)):
            if sig is None and interrupt:
                continue
            if sig is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(OSError):
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        self.log.close()
        with contextlib.suppress(OSError):
            os.close(self.watch)


def hold_seed(
    side: Side,
    backend: str,
    layout: Layout,
    size: int,
    timeout_s: float | None,
    *,
    doing: str = "seeding",
) -> HeldSeed:
    """Start a worker that seeds a fresh store of ``backend`` and keeps it open.

    Only the store's factory knows where its data can live and how to remove it, so
    the runner never makes a location itself: the worker opens a fresh store, seeds
    it, answers with ``store.location``, and keeps it until `HeldSeed.release`. One that
    has not answered within ``timeout_s`` is stopped, with what it was ``doing``.
    """
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by release)
    try:
        proc, watch = spawn_worker(side, stderr=log)
    except BaseException:
        log.close()
        raise
    held = HeldSeed(proc, log, watch)
    assert proc.stdin is not None
    assert proc.stdout is not None
    request = {"op": "hold", "backend": backend, "layout": layout.to_json(), "size": size}
    lines: queue.Queue[str] = queue.Queue()
    stdout = proc.stdout

    def read() -> None:
        for line in stdout:
            lines.put(line)
        lines.put("")

    try:
        proc.stdin.write(json.dumps(request) + "\n")
        proc.stdin.flush()
        threading.Thread(target=read, daemon=True).start()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                line = lines.get(timeout=wait)
            except queue.Empty:
                assert timeout_s is not None
                log.seek(0)
                held.error = redact(timed_out(timeout_s, doing, log.read()))
                break
            if not line:
                log.seek(0)
                tail = redact("\n".join(_stderr_lines(log.read())[-6:]))
                held.error = f"the seeding worker exited without an answer:\n{tail}"
                break
            with contextlib.suppress(ValueError):
                answer = json.loads(line)
                if isinstance(answer, dict) and "ok" in answer:
                    if answer["ok"]:
                        held.location = str(answer["location"])
                        held.seconds = float(answer.get("seconds", 0.0))
                    else:
                        held.error = redact(str(answer.get("error")))
                    break
    except BaseException:
        held.release(interrupt=True)
        raise
    if held.error is not None:
        held.release(interrupt=True)
    return held


@dataclass
class HeldSeeds:
    """Seeded stores held for this run, and how long seeding took."""

    made: dict[tuple[str, str, str, int], HeldSeed] = field(default_factory=dict)
    timings: list[dict[str, Any]] = field(default_factory=list)

    def release(self, key: tuple[str, str, str, int]) -> None:
        held = self.made.get(key)
        if held is not None and held.proc.returncode is None:
            held.release()

    def cleanup(self) -> None:
        for key in list(self.made):
            self.release(key)
