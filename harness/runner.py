"""The scenario runner: plans cells, seeds data, runs each cell in fresh worker
processes, and gathers one `RunResults` per side.

Library use (the CLI is a thin shell over this)::

    from harness.runner import Side, make_plan, run_plan

    plan = make_plan(scenarios=["read-stream"], backends=["sqlite"], sizes=[10_000])
    [results] = run_plan(plan)

A *side* is a Python interpreter with an eventbench installed: by default this one.
Give two sides (say, two venvs holding two git refs) and every measurement is made
for each side in turn, interleaved A B B A (the first side turns round by round), so
that both meet the same machine conditions; ``run_plan`` then returns one `RunResults`
per side, in order::

    base = Side("base", "/tmp/base-venv/bin/python")
    head = Side("head", sys.executable)
    before, after = run_plan(plan, sides=[base, head], rounds=5)

Each cell runs as two kinds of worker process (``python -m harness.worker``): a
timed one and a memory-tracked one, never both in one process; with
``Plan.instructions`` a third counts CPU instructions under cachegrind (see
`harness.instruments`). Samples keep the round (worker process) they came from. A
store that other processes can reopen (the two-instance hook,
`harness.contract.SupportsReopen`, with `Capabilities.multi_process`) is seeded once
per (side, backend, layout, N) by a worker that keeps it open while cells open other
instances over its data, reference and third-party stores alike; any other store is
seeded inside each worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

from harness.analysis.stats import fit_growth, summarize
from harness.redact import redact, redact_json
from harness.registry import InvalidBackendSpec, parse_backends, shadowing_notes
from harness.results import (
    Cell,
    ColdSamples,
    Environment,
    InstructionSamples,
    MemorySamples,
    RunResults,
    TimeSamples,
)
from harness.worker import PARENT_FD_ENV, PARENT_PID_ENV, PHASE_MARK
from scenarios import default_scenarios, get_scenario
from scenarios.base import Layout, ParamValue

__all__ = [
    "COMPARE_ROUNDS",
    "DEFAULT_BACKENDS",
    "DEFAULT_MEMORY_REPEATS",
    "DEFAULT_REPEATS",
    "DEFAULT_ROUNDS",
    "DEFAULT_SIZES",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "BackendUnavailable",
    "CellPlan",
    "FULL",
    "QUICK",
    "LeftOut",
    "Outline",
    "Plan",
    "PlanError",
    "Profile",
    "Progress",
    "RunStatus",
    "Side",
    "Stopped",
    "WorkerFailed",
    "WorkerTimedOut",
    "make_plan",
    "measured_nothing",
    "probe_side",
    "run_plan",
    "run_status",
    "slug",
    "worker_timeout_s",
]

DEFAULT_BACKENDS = ("sqlite", "memory")
DEFAULT_SIZES = (10_000, 100_000)
DEFAULT_ROUNDS = 4
"""Rounds (fresh processes per cell and kind) of ``eventbench run --full``: the fewest
with which `eventbench compare` can reach a verdict at 95% (`harness.analysis.compare.min_rounds`).
`make_plan` itself defaults to one round, as before rounds were recorded."""
COMPARE_ROUNDS = 6
"""Rounds per side of ``eventbench compare --ref``. Where a process's fastest run varies
by 5% (sd of its log), 6 rounds catch a 25% slowdown 98% of the time against 91% with 5
(``python scripts/verdict_power.py --sigma 0.05 --rho 0.5 --rounds 5,6``), for one
more worker process per side and kind. From `harness.analysis.compare.PAIRED_FROM` (8) rounds
the interleaved rounds are judged in pairs: pass ``--rounds 8`` or more on a busy
machine. Where processes vary by 15% (measured under a load average of 11 on 2 cores)
no handful of rounds catches it (see `harness.analysis.compare`)."""
DEFAULT_REPEATS = 2
"""Timed runs per round: a process's repeats share its luck, so rounds, not repeats,
buy confidence; two keep a round cheap and its median steady."""
DEFAULT_MEMORY_REPEATS = 1
"""Tracked runs per round: a memray peak repeats to the byte within a process."""
FULL_SIZES = (10_000, 100_000, 1_000_000)


@dataclass(frozen=True)
class Profile:
    """What ``eventbench run`` measures for each option not given."""

    scenarios: tuple[str, ...] | None
    """None: every default scenario."""
    backends: tuple[str, ...]
    optional_backends: tuple[str, ...]
    """Measured when they can run here, left out with a note otherwise."""
    sizes: tuple[int, ...]
    repeats: int
    memory_repeats: int
    rounds: int
    """Fewer than 4 (`harness.analysis.compare.min_rounds`) and two such runs cannot be compared."""


QUICK = Profile(
    scenarios=("read-stream",),
    backends=("sqlite",),
    optional_backends=(),
    sizes=DEFAULT_SIZES,
    repeats=3,
    memory_repeats=1,
    rounds=1,
)
"""A plain ``eventbench run``: the headline (collected vs streamed reads on SQLite at
10K and 100K events: time, first event, peak memory) in under two minutes. One round
keeps it there (4 rounds of 1 + 1 runs took 2.4 times as long); its results show
figures, and `eventbench compare` says two of them cannot be judged (use --rounds 4,
--full or ``compare --ref``)."""
FULL = Profile(
    scenarios=None,
    backends=("sqlite", "memory"),
    optional_backends=("postgres",),
    sizes=FULL_SIZES,
    repeats=DEFAULT_REPEATS,
    memory_repeats=DEFAULT_MEMORY_REPEATS,
    rounds=DEFAULT_ROUNDS,
)
"""``eventbench run --full``: every scenario, every reference backend, up to 1M events."""

EXIT_OK = 0
"""Every cell that could run was measured."""
EXIT_FAILED = 1
"""A cell failed, or nothing at all was measured."""
EXIT_USAGE = 2
"""Bad options: an unknown scenario or backend, or a named backend that cannot run here."""
# Stopped by a signal: 128 + its number (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Signals that stop a run the way Ctrl-C does: finished cells are kept."""

# A rough cost model of one worker process, in seconds, fitted to one `eventbench run
# --full` of the reference stores on this project's 2-core machine (quiet, 2026-12-02:
# it took 1 h 53 min; the model says 1 h 56 min, and said 5 h 11 min before). It drives
# the ETA, the split of shards and, times TIMEOUT_MARGIN, the default timeout of each worker.
# Per cell it is rough: in that run collected reads took 1.2-1.5x what it says and
# streamed, raw and floor reads about 0.7x (`eventbench run` prints the time left at the
# pace so far, in a CI log at every step).
WORKER_START_S = 0.5
"""Starting an interpreter, importing eventbench, opening the store."""
EVENT_RUN_S = {"time": 3e-6, "memory": 18e-6}
"""One event read in one untracked ("time") or memray-tracked ("memory") run."""
WRITE_EVENT_S = {"time": 2.5e-4, "memory": 4e-4}
"""One event appended by a scenario that writes (an append may wait for fsync)."""
SEED_EVENT_S = 20e-6
"""Seeding one event."""
TIMEOUT_MARGIN = 25.0
"""Generous: the model is fitted to a quiet machine and the reference stores, and a
worker is stopped only when it has clearly hung (the margin was 10 when the model was
2.7x slower than that run, so the default timeouts stay about where they were)."""
TIMEOUT_FLOOR_S = 120.0
"""No worker is stopped before this, however small its cell: a busy machine or a
slow third-party store must not fail a cell the timeout is not meant for."""
TIMEOUT_CEILING_S = 24 * 3600.0
"""However large the cell, a worker that has not answered in a day has hung."""
INSTRUCTIONS_SLOWDOWN = 11.0
"""A process under cachegrind takes about this many times as long (measured: README)."""
STOP_GRACE_S = 5.0
"""How long a worker asked to stop may take to close its connections before it is
killed."""


class PlanError(ValueError):
    """A run cannot be planned as asked (unknown scenario, parameter, backend...)."""


@dataclass(frozen=True)
class Side:
    """An interpreter to measure with: ``python`` must have eventbench importable."""

    label: str = ""
    python: str = sys.executable
    cwd: str | None = None
    """Working directory for its workers (e.g. that checkout's root); None: inherit."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment variables for its workers."""


@dataclass(frozen=True)
class CellPlan:
    """One cell to measure: scenario x backend x mode x N, with resolved parameters."""

    scenario: str
    backend: str
    mode: str
    size: int
    params: Mapping[str, ParamValue]
    layout: Layout | None
    requires: str | None = None
    """An optional protocol the store must implement for this mode (else skipped)."""
    events: int | None = None
    """Events one run handles (for the cost estimate); None: not known."""
    tracks_memory: bool = True
    """False: timed runs only (the scenario asks for no memray-tracked runs)."""

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.scenario, self.backend, self.mode, self.size)

    def describe(self) -> str:
        return f"{self.scenario} · {self.backend} · {self.mode} · N={self.size:,}"


@dataclass(frozen=True)
class Plan:
    """What to measure and how often."""

    cells: tuple[CellPlan, ...]
    repeats: int = 5
    """Timed runs per cell per round (after ``warmups``)."""
    memory_repeats: int = 2
    """Tracked runs per cell per round (0: no memory measurement)."""
    warmups: int = 1
    rounds: int = 1
    """Fresh processes per cell, kind and side. Each sample records its round: rounds,
    not repeats, are what `harness.analysis.compare` counts as independent observations."""
    instructions: bool = False
    """Also count each cell's CPU instructions under cachegrind (two slow processes per
    cell and round; see `harness.instruments.instructions`)."""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    """The options the plan was made from, recorded in the results."""
    optional: frozenset[str] = frozenset()
    """Backends measured when they can run here and left out (with a note) otherwise,
    like PostgreSQL in ``eventbench run --full``."""
    specs: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Backend label -> the spec that loads it (may hold a password: never shown)."""

    @property
    def backends(self) -> list[str]:
        """The backends' labels, in order."""
        return list(dict.fromkeys(cell.backend for cell in self.cells))

    def spec_of(self, label: str) -> str:
        """What the worker loads for a label (the label itself for plain names)."""
        return self.specs.get(label, label)


def _json_params(params: Mapping[str, ParamValue]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def make_plan(
    *,
    scenarios: Sequence[str] | None = None,
    backends: Sequence[str] = DEFAULT_BACKENDS,
    sizes: Sequence[int] = DEFAULT_SIZES,
    overrides: Mapping[str, ParamValue] | None = None,
    repeats: int = 5,
    memory_repeats: int = 2,
    warmups: int = 1,
    rounds: int = 1,
    modes: Sequence[str] | None = None,
    optional_backends: Sequence[str] = (),
    instructions: bool = False,
) -> Plan:
    """Plan every (scenario x backend x mode x size) cell.

    ``backends`` are specs, optionally labelled (``LABEL=SPEC``, see
    `harness.registry.parse_backend`). ``overrides`` maps ``NAME`` (every scenario with
    that parameter) or ``SCENARIO.NAME`` (one scenario) to a value. ``modes`` keeps only
    those modes. ``optional_backends`` are added to ``backends`` but left out, not failed, where
    they cannot run. Raises `PlanError` with what to do when something asked for
    does not exist.
    """
    names = list(scenarios) if scenarios else default_scenarios()
    optional = [b for b in optional_backends if b not in backends]
    backends = [*backends, *optional]
    if not backends:
        raise PlanError("no backends given; name at least one (e.g. --backends sqlite)")
    try:
        refs = parse_backends(backends)
    except InvalidBackendSpec as exc:
        raise PlanError(str(exc)) from None
    for ref in refs:
        check_backend_name(ref.spec)
    if not sizes or any(size < 1 for size in sizes):
        raise PlanError(f"sizes must be positive event counts, got {list(sizes)}")
    for label, count in (("repeats", repeats), ("rounds", rounds)):
        if count < 1:
            raise PlanError(f"{label} must be at least 1, got {count}")
    if warmups < 0 or memory_repeats < 0:
        raise PlanError("warmups and memory repeats cannot be negative")
    overrides = dict(overrides or {})
    used: set[str] = set()
    cells: list[CellPlan] = []
    resolved_params: dict[str, dict[str, Any]] = {}
    for name in names:
        try:
            scenario = get_scenario(name)
        except LookupError as exc:
            raise PlanError(str(exc)) from None
        mine: dict[str, ParamValue] = {}
        for key, value in overrides.items():
            target, dot, param = key.rpartition(".")
            if dot and target == scenario.name and param in scenario.params:
                mine[param] = value
                used.add(key)
            elif not dot and key in scenario.params:
                mine.setdefault(key, value)
                used.add(key)
        try:
            params = scenario.resolve(mine)
        except ValueError as exc:
            raise PlanError(str(exc)) from None
        resolved_params[scenario.name] = _json_params(params)
        layout = scenario.layout(params) if scenario.layout else None
        scenario_modes = scenario.modes(params)
        if modes:
            scenario_modes = tuple(m for m in scenario_modes if m in modes)
        for size in scenario.sizes(tuple(sizes), params):
            events = scenario.expected_events(size, params) if scenario.expected_events else size
            for ref in refs:
                for mode in scenario_modes:
                    cells.append(
                        CellPlan(
                            scenario.name,
                            ref.label,
                            mode,
                            size,
                            params,
                            layout,
                            scenario.requires.get(mode),
                            events,
                            scenario.tracks_memory,
                        )
                    )
    unused = sorted(set(overrides) - used)
    if unused:
        raise PlanError(
            f"no selected scenario has parameter(s) {', '.join(unused)}; "
            "see `eventbench run --list` for each scenario's parameters"
        )
    if not cells:
        raise PlanError("the plan has no cells: check --scenarios and --modes")
    return Plan(
        cells=tuple(cells),
        repeats=repeats,
        memory_repeats=memory_repeats,
        warmups=warmups,
        rounds=rounds,
        optional=frozenset(optional),
        instructions=instructions,
        specs={ref.label: ref.spec for ref in refs},
        parameters={
            "scenarios": names,
            "backends": [ref.label for ref in refs],
            "backend_specs": {ref.label: ref.shown for ref in refs if ref.spec != ref.label},
            "sizes": list(sizes),
            "repeats": repeats,
            "memory_repeats": memory_repeats,
            "warmups": warmups,
            "rounds": rounds,
            "optional_backends": optional,
            "instructions": instructions,
            "timed_scheduling": timed_scheduling(),
            "modes": list(modes) if modes else None,
            "overrides": _json_params(overrides),
            "scenario_params": resolved_params,
        },
    )


def check_backend_name(spec: str) -> None:
    """Refuse a backend that is neither a reference backend nor a ``module:function``."""
    from harness.registry import REFERENCE_BACKENDS

    if spec in REFERENCE_BACKENDS or ":" in spec:
        return
    raise PlanError(
        f"no backend named {redact(spec)!r}; known: {', '.join(REFERENCE_BACKENDS)}, or name your "
        "own store's factory as module:function (e.g. mypackage.store:make_store)"
    )


# --------------------------------------------------------------------- workers


class WorkerFailed(RuntimeError):
    """A worker process gave no answer (crashed, timed out, or eventbench is missing)."""


class WorkerTimedOut(WorkerFailed):
    """A worker did not answer within its timeout; it was stopped."""


class BackendUnavailable(PlanError):
    """A backend the run must measure cannot run here (see `run_plan`'s ``skip_unavailable``)."""


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
    ``harness.worker``). Returns the process and this end of the pipe, to close once
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


def estimate_s(cell: CellPlan, kind: str, plan: Plan, seeded_here: bool) -> float:
    """A rough duration of one worker process measuring ``cell`` (see `EVENT_RUN_S`)."""
    runs = plan.warmups + {"time": plan.repeats, "memory": plan.memory_repeats}.get(kind, 1)
    per_event = (WRITE_EVENT_S if cell.layout is None else EVENT_RUN_S)[
        "memory" if kind == "memory" else "time"
    ]
    cost = WORKER_START_S + (cell.events or 0) * runs * per_event
    if seeded_here and cell.layout is not None:
        cost += seed_estimate_s(cell.size)
    if kind == "instructions":
        # Two processes (with and without the run), each much slower under valgrind.
        return 2 * INSTRUCTIONS_SLOWDOWN * cost
    return cost


def seed_estimate_s(size: int) -> float:
    return WORKER_START_S + size * SEED_EVENT_S


@contextlib.contextmanager
def _signals_stop_the_run() -> Iterator[None]:
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


# --------------------------------------------------------------------- progress


@dataclass(frozen=True)
class LeftOut:
    """Cells a run will not measure, and the one reason why."""

    reason: str
    cells: tuple[CellPlan, ...]
    side: str = ""
    """The side they are left out on; "" when on every side."""

    def describe(self) -> str:
        """E.g. "4 cells (read-stream raw, fold raw; N=10,000 and 100,000): memory does
        not implement SupportsRawScan"."""
        modes: dict[str, list[str]] = {}
        for cell in self.cells:
            if cell.mode not in modes.setdefault(cell.scenario, []):
                modes[cell.scenario].append(cell.mode)
        what = ", ".join(f"{scenario} {'/'.join(m)}" for scenario, m in modes.items())
        sizes = [f"{size:,}" for size in sorted({cell.size for cell in self.cells})]
        at = " and ".join([", ".join(sizes[:-1]), sizes[-1]] if len(sizes) > 1 else sizes)
        count = len({cell.key for cell in self.cells})
        side = f"[{self.side}] " if self.side else ""
        return f"{side}{count} cell{'s' if count != 1 else ''} ({what}; N={at}): {self.reason}"


@dataclass(frozen=True)
class Outline:
    """What a run will measure, known once every side was probed: the start banner."""

    plan: Plan
    cells: tuple[CellPlan, ...]
    """The cells that will be measured (on at least one side)."""
    workers: int
    """Worker processes that will measure them (seeding not counted)."""
    left_out: tuple[LeftOut, ...]
    """What will not be measured, one entry per reason."""
    sides: tuple[str, ...]
    timeout_s: float | None
    """The timeout every worker gets; None when it scales with the cell."""
    estimated_s: float = 0.0
    """How long the run should take by the runner's cost model (`estimate_s`, seeding
    included), at the speeds measured on this project's machine; 0 when unknown."""

    @property
    def backends(self) -> list[str]:
        return list(dict.fromkeys(cell.backend for cell in self.cells))

    @property
    def sizes(self) -> list[int]:
        return sorted({cell.size for cell in self.cells})


class Progress:
    """What the runner reports as it goes; the CLI draws it with rich."""

    def planned(self, outline: Outline) -> None:
        """Called once, before anything runs, with what will run and what will not."""

    def start(self, total_weight: float, tasks: int) -> None:
        """Called once with the planned work."""

    def task(self, description: str) -> None:
        """A task (seeding, or one worker process) begins."""

    def advance(self, weight: float) -> None:
        """A task finished; ``weight`` of the total is done."""

    def cell_done(self, cell: Cell, side: str) -> None:
        """Every worker of ``cell`` (on ``side``) finished: its figures are final."""

    def note(self, message: str) -> None:
        """Something the user should know (a skipped backend, a failed cell)."""

    def stop(self) -> None:
        """The run ended (finished, failed or interrupted)."""


# --------------------------------------------------------------------- environment


def machine_facts() -> dict[str, Any]:
    cpu_model = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    memory = 0
    with contextlib.suppress(ImportError):
        import psutil

        memory = int(psutil.virtual_memory().total)
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count() or 0,
        "memory_bytes": memory,
    }


def environment_of(probe: Mapping[str, Any], machine: Mapping[str, Any]) -> Environment:
    servers = {
        b["name"]: b["server"] for b in probe.get("backends", []) if b.get("server") is not None
    }
    python = f"{probe.get('implementation', 'CPython')} {probe.get('python', '?')}"
    return Environment(
        hostname=machine["hostname"],
        platform=machine["platform"],
        machine=machine["machine"],
        cpu_model=machine["cpu_model"],
        cpu_count=machine["cpu_count"],
        memory_bytes=machine["memory_bytes"],
        python=python,
        # Third-party stores' distributions (and what they require) beside ours.
        packages={
            **{k: v for b in probe.get("backends", []) for k, v in b.get("packages", {}).items()},
            **probe.get("packages", {}),
        },
        servers=servers,
        git_commit=probe.get("git_commit"),
        git_dirty=probe.get("git_dirty"),
    )


# --------------------------------------------------------------------- seeding


@dataclass
class _Held:
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
) -> _Held:
    """Start a worker that seeds a fresh store of ``backend`` and keeps it open.

    Only the store's factory knows where its data can live and how to remove it, so
    the runner never makes a location itself: the worker opens a fresh store, seeds
    it, answers with ``store.location``, and keeps it until `_Held.release`. One that
    has not answered within ``timeout_s`` is stopped, with what it was ``doing``.
    """
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by release)
    try:
        proc, watch = spawn_worker(side, stderr=log)
    except BaseException:
        log.close()
        raise
    held = _Held(proc, log, watch)
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
class _Seeds:
    """Seeded stores held for this run, and how long seeding took."""

    made: dict[tuple[str, str, str, int], _Held] = field(default_factory=dict)
    timings: list[dict[str, Any]] = field(default_factory=list)

    def release(self, key: tuple[str, str, str, int]) -> None:
        held = self.made.get(key)
        if held is not None and held.proc.returncode is None:
            held.release()

    def cleanup(self) -> None:
        for key in list(self.made):
            self.release(key)


# --------------------------------------------------------------------- the run


@dataclass
class _Gathered:
    total_s: list[float] = field(default_factory=list)
    first_event_s: list[float] | None = field(default_factory=list)
    cpu_s: list[float] | None = field(default_factory=list)
    time_rounds: list[int] = field(default_factory=list)
    latency_s: list[float] = field(default_factory=list)
    counters: dict[str, list[float]] = field(default_factory=dict)
    peak_bytes: list[int] = field(default_factory=list)
    allocations: list[int] = field(default_factory=list)
    memory_rounds: list[int] = field(default_factory=list)
    captures: list[str] = field(default_factory=list)
    series: dict[str, list[list[float]]] | None = None
    events: int = 0
    timer_resolution_s: float | None = None
    stall: dict[str, list[float]] = field(default_factory=dict)
    stall_tick_s: float | None = None
    allocated_bytes: list[int] | None = field(default_factory=list)
    instructions: list[float] = field(default_factory=list)
    instruction_rounds: list[int] = field(default_factory=list)
    instructions_method: str = ""
    cold: dict[str, list[float]] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    skipped: str | None = None
    measured: bool = False

    def add(self, answer: Mapping[str, Any], round_index: int = 0) -> None:
        """Pool one worker's answer; its samples are tagged with ``round_index``."""
        if "skipped" in answer:
            self.skipped = answer["skipped"]
            return
        if not answer.get("ok"):
            self.errors.append(str(answer.get("error", "unknown error")))
            return
        self.measured = True
        self.events = int(answer.get("events") or 0)
        self.settings.update(answer.get("settings") or {})
        if "instructions" in answer:
            self.instructions.extend(float(x) for x in answer["instructions"])
            self.instruction_rounds.extend(round_index for _ in answer["instructions"])
            self.instructions_method = str(answer.get("instructions_method", ""))
            return
        cold = answer.get("cold") or {}
        for name, value in cold.items():
            self.cold.setdefault(name, []).append(float(value))
        kind = "time" if "total_s" in answer else "memory"
        if cold:
            self.cold.setdefault(f"{kind}_rounds", []).append(float(round_index))
        if "total_s" in answer:
            runs = len(answer["total_s"])
            for name in ("stall_max_s", "stall_p99_s"):
                values = answer.get(name)
                if values is not None and len(values) == runs:
                    self.stall.setdefault(name, []).extend(values)
            self.stall_tick_s = answer.get("stall_tick_s")
            self.total_s.extend(answer["total_s"])
            self.time_rounds.extend([round_index] * len(answer["total_s"]))
            cpu = answer.get("cpu_s")
            if cpu is None or self.cpu_s is None or len(cpu) != runs:
                self.cpu_s = None  # a side's older worker does not measure it
            else:
                self.cpu_s.extend(cpu)
            firsts = answer.get("first_event_s")
            if firsts is None or self.first_event_s is None:
                self.first_event_s = None
            else:
                self.first_event_s.extend(firsts)
            self.latency_s.extend(answer.get("latencies_s") or [])
            for name, values in (answer.get("counters") or {}).items():
                self.counters.setdefault(name, []).extend(values)
            self.timer_resolution_s = answer.get("timer_resolution_s")
            if self.series is None and answer.get("series"):
                self.series = answer["series"]
        if "peak_bytes" in answer:
            self.peak_bytes.extend(answer["peak_bytes"])
            self.memory_rounds.extend([round_index] * len(answer["peak_bytes"]))
            self.allocations.extend(answer["allocations"])
            self.captures.extend(answer.get("captures") or [])
            allocated = answer.get("allocated_bytes")
            if allocated is None or self.allocated_bytes is None:
                self.allocated_bytes = None  # a side's older worker does not count it
            else:
                self.allocated_bytes.extend(allocated)

    def cell(self, plan: CellPlan, warmups: int) -> Cell:
        time_samples = None
        if self.total_s:
            time_samples = TimeSamples(
                total_s=self.total_s,
                first_event_s=self.first_event_s or None,
                events=self.events,
                warmups=warmups,
                latency_s=self.latency_s or None,
                counters=self.counters,
                timer_resolution_s=self.timer_resolution_s,
                rounds=self.time_rounds,
                cpu_s=self.cpu_s or None,
                **self._stall(),
            )
        memory = None
        if self.peak_bytes:
            memory = MemorySamples(
                self.peak_bytes,
                self.allocations,
                self.captures,
                rounds=self.memory_rounds,
                allocated_bytes=self.allocated_bytes or None,
            )
        instructions = None
        if self.instructions:
            instructions = InstructionSamples(
                per_run=self.instructions,
                events=self.events,
                method=self.instructions_method,
                rounds=self.instruction_rounds,
            )
        cell = Cell(
            scenario=plan.scenario,
            backend=plan.backend,
            mode=plan.mode,
            size=plan.size,
            params=_json_params(plan.params),
            time=time_samples,
            memory=memory,
            error="\n".join(self.errors) or None,
            instructions=instructions,
            cold=self._cold(),
            settings=dict(sorted(self.settings.items())),
            series=self.series,
        )
        return replace(cell, summary=summarize(cell))

    def _stall(self) -> dict[str, Any]:
        runs = len(self.total_s)
        found = {k: v for k, v in self.stall.items() if len(v) == runs}
        if not found:
            return {}
        return {**found, "stall_tick_s": self.stall_tick_s}

    def _cold(self) -> ColdSamples | None:
        c = self.cold
        if not c:
            return None
        time_rounds = [int(r) for r in c.get("time_rounds", [])]
        memory_rounds = [int(r) for r in c.get("memory_rounds", [])]
        return ColdSamples(
            total_s=c.get("total_s", []),
            first_event_s=c.get("first_event_s", []),
            stall_max_s=c.get("stall_max_s", []),
            peak_bytes=[int(v) for v in c.get("peak_bytes", [])],
            time_rounds=time_rounds or None,
            memory_rounds=memory_rounds or None,
        )


def run_plan(
    plan: Plan,
    *,
    sides: Sequence[Side] = (Side(),),
    rounds: int | None = None,
    progress: Progress | None = None,
    keep_captures: bool = False,
    capture_dir: Path | None = None,
    work_dir: Path | None = None,
    timeout_s: float | None = None,
    skip_unavailable: bool = False,
) -> list[RunResults]:
    """Measure every cell of ``plan`` for every side; one `RunResults` per side, in order.

    Measurements alternate between sides (A B, then B A) cell by cell and round by round.
    ``rounds`` overrides ``plan.rounds``.

    Each side is probed first. A backend that cannot run on a side raises
    `BackendUnavailable` before anything is measured, unless ``skip_unavailable`` (or
    the backend is in ``plan.optional``): then its cells are left out, and so are
    cells whose mode needs a protocol the store lacks; `Progress.planned` hears what
    will run and what will not, and the results record it (``left_out``). PostgreSQL
    is never left out under ``EVENTBENCH_REQUIRE_POSTGRES=1``.

    Each worker gets ``timeout_s`` seconds (None: a timeout scaled to its cell, see
    `worker_timeout_s`; 0: no limit); one that overruns is stopped and its cell
    recorded as failed, and the run goes on.

    Ctrl-C, SIGTERM and SIGHUP stop the worker in flight, and the results hold every
    cell measured so far, with ``interrupted=True`` and the signal's name in
    ``parameters["stopped_by"]`` (see `run_status`). Temporary databases and seed
    files are removed however the run ends.
    """
    if not sides:
        raise PlanError("give at least one side to measure")
    labels = [side.label for side in sides]
    if len(set(labels)) != len(labels):
        raise PlanError(f"side labels must differ, got {labels}")
    rounds = plan.rounds if rounds is None else rounds
    progress = progress or Progress()
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    own_work_dir = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="eventbench-")) if work_dir is None else work_dir
    work.mkdir(parents=True, exist_ok=True)
    captures = capture_dir or (work / "captures")
    seeds = _Seeds()
    machine = machine_facts()
    gathered: dict[tuple[str, tuple[str, str, str, int]], _Gathered] = {}
    probes: dict[str, dict[str, Any]] = {}
    skipped_backends: dict[str, dict[str, str]] = {}
    left_out: list[LeftOut] = []
    interrupted = False
    stopped_by: str | None = None

    def limit(estimate: float) -> float | None:
        if timeout_s is None:
            return worker_timeout_s(estimate)
        return timeout_s if timeout_s > 0 else None

    with _signals_stop_the_run():
        try:
            for side in sides:
                probe = probe_side(side, [plan.spec_of(label) for label in plan.backends])
                # The worker answers in the order asked, naming each backend by its spec.
                for label, info in zip(plan.backends, probe.get("backends", []), strict=False):
                    if info.get("name") != label:
                        info["spec"] = redact(str(info.get("name")))
                    info["name"] = label
                probes[side.label] = probe
            usable = _usable_backends(plan, sides, probes, skip_unavailable)
            for label, backends in usable.items():
                for name, info in backends.items():
                    if not info.get("available"):
                        skipped_backends.setdefault(label, {})[name] = str(info.get("reason"))

            def seeded_once(side: Side, cell: CellPlan) -> bool:
                # A store another process can reopen is seeded once, by a worker that
                # holds it (see hold_seed); any other store is seeded inside each worker.
                info = usable[side.label][cell.backend]
                return cell.layout is not None and bool(
                    info.get("reopenable") and info.get("multi_process")
                )

            def seed_key(side: Side, cell: CellPlan) -> tuple[str, str, str, int]:
                assert cell.layout is not None
                return (side.label, cell.backend, cell.layout.key(cell.size), cell.size)

            runnable, left_out = _runnable(plan, sides, rounds, usable)
            # The last task reading each seed, so that its holder is released right after.
            last_use = {
                seed_key(s, c): index
                for index, (s, c, _, _) in enumerate(runnable)
                if seeded_once(s, c)
            }
            will_run = {c.key for _, c, _, _ in runnable}
            total = sum(estimate_s(c, k, plan, not seeded_once(s, c)) for s, c, k, _ in runnable)
            total += sum(seed_estimate_s(key[3]) for key in last_use)
            progress.planned(
                Outline(
                    plan=plan,
                    cells=tuple(c for c in plan.cells if c.key in will_run),
                    workers=len(runnable),
                    left_out=tuple(left_out),
                    sides=tuple(labels),
                    timeout_s=timeout_s,
                    estimated_s=total,
                )
            )
            progress.start(total, len(runnable))
            remaining: dict[tuple[str, tuple[str, str, str, int]], int] = {}
            for side, cell, _, _ in runnable:
                remaining[(side.label, cell.key)] = remaining.get((side.label, cell.key), 0) + 1
            for index, (side, cell, kind, round_index) in enumerate(runnable):
                url: str | None = None
                bucket = gathered.setdefault((side.label, cell.key), _Gathered())
                if seeded_once(side, cell):
                    key = seed_key(side, cell)
                    if key not in seeds.made:
                        _seed(side, plan.spec_of(cell.backend), cell, key, seeds, progress, limit)
                    url = seeds.made[key].location
                    if url is None:
                        bucket.errors.append(f"seeding failed: {seeds.made[key].error}")
                        if last_use[key] == index:
                            seeds.release(key)
                        _task_done(remaining, side, cell, bucket, plan, progress)
                        continue
                label = f" [{side.label}]" if side.label else ""
                progress.task(f"{cell.describe()} · {kind}{label}")
                request = {
                    "op": "cell",
                    "scenario": cell.scenario,
                    "backend": plan.spec_of(cell.backend),
                    "mode": cell.mode,
                    "size": cell.size,
                    "params": _json_params(cell.params),
                    "measure": kind,
                    # One counted run: instruction counts repeat to a few hundred.
                    "repeats": {"time": plan.repeats, "memory": plan.memory_repeats}.get(kind, 1),
                    "warmups": plan.warmups,
                    "url": url,
                    "layout": cell.layout.to_json() if cell.layout else None,
                    "capture_dir": str(captures),
                    "keep_captures": keep_captures,
                    "capture_stem": slug(
                        f"{side.label}-{cell.scenario}-{cell.backend}-{cell.mode}-{cell.size}"
                    ),
                }
                cost = estimate_s(cell, kind, plan, url is None)
                request["timeout_s"] = cell_deadline(limit(cost))
                try:
                    answer = call_worker(
                        side,
                        request,
                        limit(cost),
                        doing=f"measuring {cell.describe()} ({kind}){label}",
                    )
                except WorkerFailed as exc:
                    answer = {"ok": False, "error": str(exc)}
                bucket.add(answer, round_index)
                if answer.get("error"):
                    first_line = str(answer["error"]).splitlines()[0]
                    progress.note(f"{cell.describe()} ({kind}){label} failed: {first_line}")
                elif "skipped" in answer:
                    progress.note(f"{cell.describe()}{label} left out: {answer['skipped']}")
                progress.advance(cost)
                if url is not None and last_use.get(seed_key(side, cell)) == index:
                    seeds.release(seed_key(side, cell))
                _task_done(remaining, side, cell, bucket, plan, progress)
        except KeyboardInterrupt as exc:
            # Ctrl-C, SIGTERM or SIGHUP: the worker in flight is already stopped.
            interrupted = True
            stopped_by = signal.Signals(getattr(exc, "signum", signal.SIGINT)).name
        finally:
            progress.stop()
            seeds.cleanup()
            if own_work_dir:
                shutil.rmtree(work, ignore_errors=True)

    finished_at = datetime.now(UTC)
    duration = time.perf_counter() - started
    results: list[RunResults] = []
    for side in sides:
        cells = []
        skipped_here: list[CellPlan] = []
        for cell in plan.cells:
            found = gathered.get((side.label, cell.key))
            if found is not None and found.skipped and not found.errors:
                skipped_here.append(cell)
            if found is None or found.skipped or not (found.measured or found.errors):
                continue
            cells.append(found.cell(cell, plan.warmups))
        mine = [entry for entry in left_out if entry.side in ("", side.label)]
        probe = probes.get(side.label) or {"backends": []}
        parameters = {
            **plan.parameters,
            "side": {"label": side.label, "python": side.python, "cwd": side.cwd},
            "seeding": [t for t in seeds.timings if t["side"] == side.label],
            "skipped_backends": skipped_backends.get(side.label, {}),
            "left_out": [
                {"reason": entry.reason, "cells": [list(c.key) for c in entry.cells]}
                for entry in mine
            ]
            + [
                {"reason": str(gathered[(side.label, c.key)].skipped), "cells": [list(c.key)]}
                for c in skipped_here
            ],
            "timeout_s": timeout_s,
            "stopped_by": stopped_by,
            "backend_info": probe.get("backends", []),
            "keep_captures": keep_captures,
        }
        results.append(
            _redacted(
                RunResults(
                    environment=environment_of(probe, machine),
                    parameters=parameters,
                    cells=cells,
                    fits=fit_growth(cells),
                    started_at=started_at.isoformat(timespec="seconds"),
                    finished_at=finished_at.isoformat(timespec="seconds"),
                    duration_s=duration,
                    interrupted=interrupted,
                    side=side.label,
                )
            )
        )
    return results


def _redacted(results: RunResults) -> RunResults:
    """The results with every secret masked: the terminal tables, the JSON and every
    report are made from this, so nothing a worker or a store said can leak a password."""
    return RunResults.from_json(redact_json(results.to_json()))


def _usable_backends(
    plan: Plan,
    sides: Sequence[Side],
    probes: Mapping[str, Mapping[str, Any]],
    skip_unavailable: bool,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Each side's probe of each backend; raises `BackendUnavailable` for one that
    cannot run and may not be left out."""
    from harness.registry import must_run

    usable: dict[str, dict[str, dict[str, Any]]] = {}
    for side in sides:
        usable[side.label] = {}
        for info in probes[side.label]["backends"]:
            name = info["name"]
            usable[side.label][name] = info
            if info.get("available"):
                continue
            where = f" (side {side.label})" if side.label else ""
            reason = str(info.get("reason")).rstrip(". ")
            if must_run(plan.spec_of(name)):
                raise BackendUnavailable(
                    f"backend {name!r} cannot run here{where}, and EVENTBENCH_REQUIRE_POSTGRES=1 "
                    f"requires it: {reason}"
                )
            if not (skip_unavailable or name in plan.optional):
                raise BackendUnavailable(
                    f"backend {name!r} cannot run here{where}: {reason}. Fix that, or pass "
                    "--skip-unavailable to measure the other backends."
                )
    return usable


_WHY_MISSING: Final = {
    "SupportsFloorScan": (
        " (the floor reads the rows with a reference backend's bare driver, SQLite's or "
        "PostgreSQL's, and no store in between; a store with no such driver under it "
        "has no floor)"
    ),
}
"""What a missing optional protocol means, where the name alone does not say."""


def _runnable(
    plan: Plan,
    sides: Sequence[Side],
    rounds: int,
    usable: Mapping[str, Mapping[str, Mapping[str, Any]]],
) -> tuple[list[tuple[Side, CellPlan, str, int]], list[LeftOut]]:
    """The worker tasks (side, cell, kind, round) that will run, and the cells left
    out, grouped by reason."""
    runnable: list[tuple[Side, CellPlan, str, int]] = []
    why: dict[str, dict[str, list[CellPlan]]] = {}
    for side, cell, kind, round_index in _tasks(plan, sides, rounds):
        info = usable[side.label][cell.backend]
        reason = None
        if not info.get("available"):
            reason = f"{cell.backend} cannot run here: {info.get('reason')}"
        elif cell.requires and cell.requires not in info.get("protocols", []):
            reason = f"{cell.backend} does not implement {cell.requires}"
            reason += _WHY_MISSING.get(cell.requires, "")
        if reason is None:
            runnable.append((side, cell, kind, round_index))
            continue
        bucket = why.setdefault(reason, {}).setdefault(side.label, [])
        if cell not in bucket:
            bucket.append(cell)
    left_out: list[LeftOut] = []
    for reason, by_side in why.items():
        first = next(iter(by_side.values()))
        if len(by_side) == len(sides) and all(cells == first for cells in by_side.values()):
            left_out.append(LeftOut(reason, tuple(first)))
            continue
        for label, cells in by_side.items():
            left_out.append(LeftOut(reason, tuple(cells), side=label))
    return runnable, left_out


def _seed(
    side: Side,
    spec: str,
    cell: CellPlan,
    key: tuple[str, str, str, int],
    seeds: _Seeds,
    progress: Progress,
    limit: Callable[[float], float | None],
) -> None:
    """Have a worker seed ``cell``'s data and hold it; record where it is, or why not."""
    assert cell.layout is not None
    label = f" [{side.label}]" if side.label else ""
    doing = f"seeding {cell.backend} with {cell.size:,} events{label}"
    progress.task(doing)
    cost = seed_estimate_s(cell.size)
    held = seeds.made[key] = hold_seed(side, spec, cell.layout, cell.size, limit(cost), doing=doing)
    if held.error is not None:
        progress.note(f"{doing} failed: {held.error.splitlines()[0]}")
    else:
        seeds.timings.append(
            {
                "side": side.label,
                "backend": cell.backend,
                "layout": cell.layout.key(cell.size),
                "seconds": held.seconds,
            }
        )
    progress.advance(cost)


def _task_done(
    remaining: dict[tuple[str, tuple[str, str, str, int]], int],
    side: Side,
    cell: CellPlan,
    bucket: _Gathered,
    plan: Plan,
    progress: Progress,
) -> None:
    """Count one task of ``cell`` done; after its last, show the cell's figures."""
    key = (side.label, cell.key)
    remaining[key] -= 1
    if remaining[key] == 0 and not bucket.skipped and (bucket.measured or bucket.errors):
        progress.cell_done(bucket.cell(cell, plan.warmups), side.label)


def measured_nothing(results: RunResults) -> bool:
    """True when no cell was measured without error: all were left out or failed."""
    return not any(cell.summary for cell in results.cells if not cell.error)


@dataclass(frozen=True)
class RunStatus:
    """How a run ended, for a command's exit status."""

    exit_code: int
    """`EXIT_OK`, `EXIT_FAILED`, or 128 + the signal that stopped the run."""
    message: str
    """What went wrong, in one line; "" when nothing did."""


def run_status(results: Sequence[RunResults]) -> RunStatus:
    """The exit status of a run (one `RunResults` per side) and why.

    Stopped by a signal: 128 + its number (130 for Ctrl-C, 143 for SIGTERM). Nothing
    measured on a side (every cell left out or failed) or any cell failed:
    `EXIT_FAILED`. Otherwise `EXIT_OK`; cells left out for a stated reason (a mode the
    store does not offer, a backend skipped on request) are not failures.
    """
    kept = sum(1 for r in results for c in r.cells if not c.error)
    for r in results:
        if r.interrupted:
            name = str(r.parameters.get("stopped_by") or "SIGINT")
            signum = getattr(signal.Signals, name, signal.SIGINT)
            return RunStatus(128 + int(signum), f"stopped by {name}: kept {kept} finished cells")
    for r in results:
        side = f"[{r.side}] " if r.side else ""
        if measured_nothing(r):
            return RunStatus(
                EXIT_FAILED, f"{side}nothing was measured: every cell was left out or failed"
            )
    failed = [c for r in results for c in r.cells if c.error]
    if failed:
        count = len(failed)
        return RunStatus(EXIT_FAILED, f"{count} cell{'s' if count != 1 else ''} failed")
    return RunStatus(EXIT_OK, "")


def cell_deadline(timeout_s: float | None) -> float | None:
    """The worker's own deadline for a cell: early enough before the runner kills it to
    stop the cell itself and say what its tasks were waiting on."""
    if timeout_s is None:
        return None
    return max(timeout_s * 0.5, timeout_s - 20.0)


def _tasks(
    plan: Plan, sides: Sequence[Side], rounds: int
) -> Iterator[tuple[Side, CellPlan, str, int]]:
    """(side, cell, kind, round) in the order they run.

    Cells that read the same data run together, so a seed is made just before use.
    Each round is a fresh worker process per kind and side, and the sides alternate
    within a round, so that both meet the same machine conditions round by round.
    The side that goes first turns round by round (A B, B A, A B, ...): a process
    that follows another kind of process, or goes first after a seed, may run
    faster or slower for it, and in a fixed order that would always favour the same
    side; CI once failed an identical-code comparison that way (4 rounds, every one
    of head's slower).
    """
    for cell in plan.cells:
        kinds = ["time"] + (["memory"] if plan.memory_repeats and cell.tracks_memory else [])
        kinds += ["instructions"] if plan.instructions else []
        for round_index in range(rounds):
            turn = round_index % len(sides) if sides else 0
            order = [*sides[turn:], *sides[:turn]]
            for kind in kinds:
                for side in order:
                    yield side, cell, kind, round_index


def slug(text: str, default: str = "x") -> str:
    """``text`` made safe for file and schema names: runs of anything else become "-"."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or default
