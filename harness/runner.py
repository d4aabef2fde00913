"""The scenario runner: plans cells, seeds data, runs each cell in fresh worker
processes, and gathers one `RunResults` per side.

Library use (the CLI is a thin shell over this)::

    from harness.runner import Side, make_plan, run_plan

    plan = make_plan(scenarios=["read-stream"], backends=["sqlite"], sizes=[10_000])
    [results] = run_plan(plan)

A *side* is a Python interpreter with an eventbench installed: by default this one.
Give two sides (say, two venvs holding two git refs) and every measurement is made
for each side in turn, interleaved A B A B, so that both meet the same machine
conditions; ``run_plan`` then returns one `RunResults` per side, in order::

    base = Side("base", "/tmp/base-venv/bin/python")
    head = Side("head", sys.executable)
    before, after = run_plan(plan, sides=[base, head], rounds=3)

Each cell runs as two kinds of worker process (``python -m harness.worker``): a
timed one and a memory-tracked one, never both in one process. A store that other
processes can reopen (the two-instance hook, `harness.contract.SupportsReopen`, with
`Capabilities.multi_process`) is seeded once per (side, backend, layout, N) by a
worker that keeps it open while cells open other instances over its data, reference
and third-party stores alike; any other store is seeded inside each worker.
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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from harness.results import Cell, Environment, MemorySamples, RunResults, TimeSamples
from harness.stats import fit_growth, summarize
from scenarios import default_scenarios, get_scenario
from scenarios.base import Layout, ParamValue

__all__ = [
    "DEFAULT_BACKENDS",
    "DEFAULT_SIZES",
    "CellPlan",
    "Plan",
    "PlanError",
    "Progress",
    "Side",
    "WorkerFailed",
    "make_plan",
    "probe_side",
    "run_plan",
    "slug",
]

DEFAULT_BACKENDS = ("sqlite", "memory")
DEFAULT_SIZES = (10_000, 100_000)
FULL_SIZES = (10_000, 100_000, 1_000_000)
SEED_WEIGHT = 4.0
"""Seeding an event costs about this many reads of one, for the ETA."""


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
    """Fresh processes per cell and kind; samples from all rounds are pooled."""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    """The options the plan was made from, recorded in the results."""

    @property
    def backends(self) -> list[str]:
        return list(dict.fromkeys(cell.backend for cell in self.cells))


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
) -> Plan:
    """Plan every (scenario x backend x mode x size) cell.

    ``overrides`` maps ``NAME`` (every scenario with that parameter) or
    ``SCENARIO.NAME`` (one scenario) to a value. ``modes`` keeps only those modes.
    Raises `PlanError` with what to do when something asked for does not exist.
    """
    names = list(scenarios) if scenarios else default_scenarios()
    if not backends:
        raise PlanError("no backends given; name at least one (e.g. --backends sqlite)")
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
            for backend in backends:
                for mode in scenario_modes:
                    cells.append(
                        CellPlan(
                            scenario.name,
                            backend,
                            mode,
                            size,
                            params,
                            layout,
                            scenario.requires.get(mode),
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
        parameters={
            "scenarios": names,
            "backends": list(backends),
            "sizes": list(sizes),
            "repeats": repeats,
            "memory_repeats": memory_repeats,
            "warmups": warmups,
            "rounds": rounds,
            "modes": list(modes) if modes else None,
            "overrides": _json_params(overrides),
            "scenario_params": resolved_params,
        },
    )


# --------------------------------------------------------------------- workers


class WorkerFailed(RuntimeError):
    """A worker process gave no answer (crashed, timed out, or eventbench is missing)."""


class Interrupted(Exception):
    """Raised out of a worker call when the user pressed Ctrl-C."""


def call_worker(side: Side, request: Mapping[str, Any], timeout_s: float | None = None) -> Any:
    """Run one ``python -m harness.worker`` for ``side`` and return its JSON answer.

    The worker gets its own session, so Ctrl-C reaches only this process; on Ctrl-C
    the worker (and only it) is killed and `Interrupted` raised.
    """
    env = {**os.environ, **side.env}
    env.setdefault("PYTHONHASHSEED", "0")
    with subprocess.Popen(
        [side.python, "-m", "harness.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=side.cwd,
        env=env,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(json.dumps(request), timeout=timeout_s)
        except KeyboardInterrupt:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise Interrupted() from None
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise WorkerFailed(
                f"worker timed out after {timeout_s:.0f}s; raise the timeout or use smaller sizes"
            ) from None
    lines = [line for line in out.splitlines() if line.strip()]
    try:
        answer = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = "\n".join(err.strip().splitlines()[-15:])
        raise WorkerFailed(
            f"worker ({side.python}) exited with status {proc.returncode} without an answer; "
            f"is eventbench installed there? Its stderr ended:\n{tail}"
        ) from None
    if not answer.get("ok") and "error" in answer:
        tail = "\n".join(err.strip().splitlines()[-6:])
        answer["error"] = answer["error"] + (f"\n{tail}" if tail else "")
    return answer


def probe_side(side: Side, backends: Sequence[str]) -> dict[str, Any]:
    """What ``side`` is (Python, packages, git) and what each backend can do there."""
    answer = call_worker(side, {"op": "probe", "backends": list(backends)}, timeout_s=120)
    if not answer.get("ok"):
        raise WorkerFailed(f"cannot probe {side.python}: {answer.get('error')}")
    result: dict[str, Any] = answer
    return result


# --------------------------------------------------------------------- progress


class Progress:
    """What the runner reports as it goes; the CLI draws it with rich."""

    def start(self, total_weight: float, tasks: int) -> None:
        """Called once with the planned work."""

    def task(self, description: str) -> None:
        """A task (seeding, or one worker process) begins."""

    def advance(self, weight: float) -> None:
        """A task finished; ``weight`` of the total is done."""

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
        packages=dict(probe.get("packages", {})),
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


def hold_seed(
    side: Side, backend: str, layout: Layout, size: int, timeout_s: float | None
) -> _Held:
    """Start a worker that seeds a fresh store of ``backend`` and keeps it open.

    Only the store's factory knows where its data can live and how to remove it, so
    the runner never makes a location itself: the worker opens a fresh store, seeds
    it, answers with ``store.location``, and keeps it until `_Held.release`.
    """
    env = {**os.environ, **side.env}
    env.setdefault("PYTHONHASHSEED", "0")
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by release)
    proc = subprocess.Popen(
        [side.python, "-m", "harness.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        cwd=side.cwd,
        env=env,
        text=True,
        start_new_session=True,
    )
    held = _Held(proc, log)
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
                held.error = f"seeding took longer than {timeout_s:.0f}s; raise the timeout"
                break
            if not line:
                log.seek(0)
                tail = "\n".join(log.read().strip().splitlines()[-6:])
                held.error = f"the seeding worker exited without an answer:\n{tail}"
                break
            with contextlib.suppress(ValueError):
                answer = json.loads(line)
                if isinstance(answer, dict) and "ok" in answer:
                    if answer["ok"]:
                        held.location = str(answer["location"])
                        held.seconds = float(answer.get("seconds", 0.0))
                    else:
                        held.error = str(answer.get("error"))
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
    latency_s: list[float] = field(default_factory=list)
    counters: dict[str, list[float]] = field(default_factory=dict)
    peak_bytes: list[int] = field(default_factory=list)
    allocations: list[int] = field(default_factory=list)
    captures: list[str] = field(default_factory=list)
    events: int = 0
    timer_resolution_s: float | None = None
    errors: list[str] = field(default_factory=list)
    skipped: str | None = None
    measured: bool = False

    def add(self, answer: Mapping[str, Any]) -> None:
        if "skipped" in answer:
            self.skipped = answer["skipped"]
            return
        if not answer.get("ok"):
            self.errors.append(str(answer.get("error", "unknown error")))
            return
        self.measured = True
        self.events = int(answer.get("events") or 0)
        if "total_s" in answer:
            self.total_s.extend(answer["total_s"])
            firsts = answer.get("first_event_s")
            if firsts is None or self.first_event_s is None:
                self.first_event_s = None
            else:
                self.first_event_s.extend(firsts)
            self.latency_s.extend(answer.get("latencies_s") or [])
            for name, values in (answer.get("counters") or {}).items():
                self.counters.setdefault(name, []).extend(values)
            self.timer_resolution_s = answer.get("timer_resolution_s")
        if "peak_bytes" in answer:
            self.peak_bytes.extend(answer["peak_bytes"])
            self.allocations.extend(answer["allocations"])
            self.captures.extend(answer.get("captures") or [])

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
            )
        memory = None
        if self.peak_bytes:
            memory = MemorySamples(self.peak_bytes, self.allocations, self.captures)
        cell = Cell(
            scenario=plan.scenario,
            backend=plan.backend,
            mode=plan.mode,
            size=plan.size,
            params=_json_params(plan.params),
            time=time_samples,
            memory=memory,
            error="\n".join(self.errors) or None,
        )
        return replace(cell, summary=summarize(cell))


def _weight(cell: CellPlan, kind: str, plan: Plan, seeded_here: bool) -> float:
    """A rough cost of one worker process, for the ETA: events handled plus start-up."""
    runs = plan.warmups + (plan.repeats if kind == "time" else plan.memory_repeats)
    cost = cell.size * runs * (3.0 if kind == "memory" else 1.0)
    if seeded_here and cell.layout is not None:
        cost += cell.size * SEED_WEIGHT
    return 30_000.0 + cost


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
) -> list[RunResults]:
    """Measure every cell of ``plan`` for every side; one `RunResults` per side, in order.

    Measurements alternate between sides (A B A B) cell by cell and round by round.
    On Ctrl-C the running worker is stopped and the results hold every cell measured
    so far, with ``interrupted=True``. ``rounds`` overrides ``plan.rounds``.
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
    interrupted = False
    try:
        for side in sides:
            probes[side.label] = probe_side(side, plan.backends)
        usable: dict[str, dict[str, dict[str, Any]]] = {}
        for side in sides:
            usable[side.label] = {}
            for info in probes[side.label]["backends"]:
                if info.get("available"):
                    usable[side.label][info["name"]] = info
                else:
                    reason = str(info.get("reason"))
                    skipped_backends.setdefault(side.label, {})[info["name"]] = reason
                    progress.note(f"skipping backend {info['name']}: {reason}")

        def seeded_once(side: Side, cell: CellPlan) -> bool:
            # A store another process can reopen is seeded once, by a worker that holds
            # it (see hold_seed); any other store is seeded inside each worker.
            info = usable[side.label][cell.backend]
            return cell.layout is not None and bool(
                info.get("reopenable") and info.get("multi_process")
            )

        def seed_key(side: Side, cell: CellPlan) -> tuple[str, str, str, int]:
            assert cell.layout is not None
            return (side.label, cell.backend, cell.layout.key(cell.size), cell.size)

        tasks = list(_tasks(plan, sides, rounds))
        runnable = []
        for side, cell, kind in tasks:
            info = usable[side.label].get(cell.backend)
            if info is None:
                continue
            if cell.requires and cell.requires not in info.get("protocols", []):
                continue
            runnable.append((side, cell, kind))
        # The last task reading each seed, so that its holder is released right after.
        last_use = {
            seed_key(s, c): index for index, (s, c, _) in enumerate(runnable) if seeded_once(s, c)
        }
        seeded = {key: key[3] for key in last_use}
        total = sum(_weight(c, k, plan, not seeded_once(s, c)) for s, c, k in runnable)
        total += sum(size * SEED_WEIGHT for size in seeded.values())
        progress.start(total, len(runnable))
        for index, (side, cell, kind) in enumerate(runnable):
            url: str | None = None
            if seeded_once(side, cell) and cell.layout is not None:
                key = seed_key(side, cell)
                if key not in seeds.made:
                    progress.task(f"seeding {cell.backend} with {cell.size:,} events {side.label}")
                    held = seeds.made[key] = hold_seed(
                        side, cell.backend, cell.layout, cell.size, timeout_s
                    )
                    if held.error is not None:
                        progress.note(f"seeding failed: {held.error}")
                    else:
                        seeds.timings.append(
                            {
                                "side": side.label,
                                "backend": cell.backend,
                                "layout": cell.layout.key(cell.size),
                                "seconds": held.seconds,
                            }
                        )
                    progress.advance(cell.size * SEED_WEIGHT)
                url = seeds.made[key].location
                if url is None:
                    bucket = gathered.setdefault((side.label, cell.key), _Gathered())
                    bucket.errors.append("seeding failed; see the note above")
                    if last_use[key] == index:
                        seeds.release(key)
                    continue
            label = f" [{side.label}]" if side.label else ""
            progress.task(f"{cell.describe()} · {kind}{label}")
            request = {
                "op": "cell",
                "scenario": cell.scenario,
                "backend": cell.backend,
                "mode": cell.mode,
                "size": cell.size,
                "params": _json_params(cell.params),
                "measure": kind,
                "repeats": plan.repeats if kind == "time" else plan.memory_repeats,
                "warmups": plan.warmups,
                "url": url,
                "layout": cell.layout.to_json() if cell.layout else None,
                "capture_dir": str(captures),
                "keep_captures": keep_captures,
                "capture_stem": slug(
                    f"{side.label}-{cell.scenario}-{cell.backend}-{cell.mode}-{cell.size}"
                ),
            }
            try:
                answer = call_worker(side, request, timeout_s)
            except WorkerFailed as exc:
                answer = {"ok": False, "error": str(exc)}
            bucket = gathered.setdefault((side.label, cell.key), _Gathered())
            bucket.add(answer)
            if answer.get("error"):
                first_line = str(answer["error"]).splitlines()[0]
                progress.note(f"{cell.describe()} ({kind}) failed: {first_line}")
            progress.advance(_weight(cell, kind, plan, url is None))
            if url is not None and last_use.get(seed_key(side, cell)) == index:
                seeds.release(seed_key(side, cell))
    except (Interrupted, KeyboardInterrupt):
        # Ctrl-C: the worker in flight is already stopped; keep what is finished.
        interrupted = True
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
        for cell in plan.cells:
            found = gathered.get((side.label, cell.key))
            if found is None or found.skipped or not (found.measured or found.errors):
                continue
            cells.append(found.cell(cell, plan.warmups))
        probe = probes.get(side.label) or {"backends": []}
        parameters = {
            **plan.parameters,
            "side": {"label": side.label, "python": side.python, "cwd": side.cwd},
            "seeding": [t for t in seeds.timings if t["side"] == side.label],
            "skipped_backends": skipped_backends.get(side.label, {}),
            "backend_info": probe.get("backends", []),
            "keep_captures": keep_captures,
        }
        results.append(
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
    return results


def _tasks(plan: Plan, sides: Sequence[Side], rounds: int) -> Iterator[tuple[Side, CellPlan, str]]:
    # Cells that read the same data run together, so a seed is made just before use.
    kinds = ["time"] + (["memory"] if plan.memory_repeats else [])
    for cell in plan.cells:
        for _ in range(rounds):
            for kind in kinds:
                for side in sides:
                    yield side, cell, kind


def slug(text: str, default: str = "x") -> str:
    """``text`` made safe for file and schema names: runs of anything else become "-"."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or default
