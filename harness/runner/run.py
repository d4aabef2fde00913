"""Running a plan: seeding, every cell's workers in interleaved rounds, and one
`RunResults` per side (`run_plan`), with what it reports as it goes (`Progress`).
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from harness.analysis.stats import fit_growth, summarize
from harness.redact import redact, redact_json
from harness.results import (
    Cell,
    ColdSamples,
    Environment,
    InstructionSamples,
    MemorySamples,
    RunResults,
    TimeSamples,
)
from harness.runner.plan import (
    BackendUnavailable,
    CellPlan,
    Plan,
    PlanError,
    estimate_s,
    json_params,
    seed_estimate_s,
)
from harness.runner.processes import (
    HeldSeeds,
    Side,
    WorkerFailed,
    call_worker,
    hold_seed,
    probe_side,
    signals_stop_the_run,
    worker_timeout_s,
)

EXIT_OK = 0
"""Every cell that could run was measured."""
EXIT_FAILED = 1
"""A cell failed, or nothing at all was measured."""
EXIT_USAGE = 2
"""Bad options: an unknown scenario or backend, or a named backend that cannot run here."""
# Stopped by a signal: 128 + its number (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).


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
            params=json_params(plan.params),
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
    seeds = HeldSeeds()
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

    with signals_stop_the_run():
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
                    "params": json_params(cell.params),
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
    seeds: HeldSeeds,
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
