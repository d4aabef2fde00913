"""The per-cell worker: ``python -m harness.worker`` reads one JSON request on stdin
and prints one JSON answer as the last line of stdout.

It is the only door between the runner and the code being measured, so that any
interpreter with an eventbench installed (another venv holding another git ref, for a
before/after comparison) can measure a cell exactly as this one does. Requests:

``{"op": "cell", ...}``
    Measure one cell: open the store (another instance at a seeded location, or fresh
    and seeded here), warm up, then measure ``repeats`` runs with the instrument of the
    kind asked for (`harness.instruments`: time, memory or instructions). A read's
    first warm-up is its cold run, measured and reported apart. The answer also
    carries the store's settings (`harness.contract.ReportsSettings`). See
    `CellRequest` for the fields.
``{"op": "hold", "backend": ..., "layout": {...}, "size": N}``
    Open a fresh store from the backend's factory, seed it, answer with its
    ``location`` at once, and keep it (so its data) until stdin is closed; then close
    it, and the factory removes what it made. Cells then open other instances there
    (the two-instance hook, `harness.contract.SupportsReopen`): every store, reference
    or third-party, is seeded once and reopened the same way, by no backend's name.
``{"op": "probe", "backends": [...]}``
    Describe this interpreter (Python, packages, git commit) and each backend: can it
    run here, is it persistent, can it be reopened in other processes, which optional
    protocols it has, its server version (a ``server_version()`` in the factory's module).

The request is one line on stdin. Answers always carry ``"ok"``; a failure has
``"error"`` (what went wrong and what to do), a cell the store cannot run has
``"skipped"`` (why).

A worker never outlives its runner. SIGTERM, SIGHUP or SIGINT cancel the request in
flight, so that the store closes its connections (a cancelled asyncpg query is
cancelled on the server too) and its factory removes what it made; whoever sent the
signal kills the worker if that hangs. When the runner dies (the end of file on the
pipe named by ``EVENTBENCH_WORKER_PARENT_FD``; on Linux also the parent-death
signal) the worker does the same, and exits regardless after `ORPHAN_GRACE_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import faulthandler
import inspect
import json
import os
import platform
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, packages_distributions, requires, version
from pathlib import Path
from typing import Any

from harness import contract, seed
from harness.contract import EventStore, SupportsReopen
from harness.instruments import (
    DEFAULT_TICK_S,
    Measured,
    instructions,
    instrument_for,
    timer_resolution_s,
)
from harness.redact import redact, redact_json, remember, remember_environment
from harness.registry import (
    REFERENCE_BACKENDS,
    FactoryImportError,
    UnknownBackend,
    backend_info,
    backend_module,
    debug_enabled,
    load_factory,
    reopener,
    shadowing_notes,
)
from harness.text import join_sentences
from scenarios import get_scenario
from scenarios.base import Layout, Outcome, Probe, RunContext, Scenario

__all__ = ["PARENT_FD_ENV", "PARENT_PID_ENV", "PHASE_MARK", "CellRequest", "handle", "main"]

OPTIONAL_PROTOCOLS = (
    "BulkLoader",
    "SupportsRawScan",
    "SupportsFloorScan",
    "SupportsConnectionCut",
    "SupportsPoolSize",
    "SupportsDiagnostics",
)
SOURCE_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("eventbench", "aiosqlite", "asyncpg", "orjson", "memray", "numpy", "scipy")

PARENT_FD_ENV = "EVENTBENCH_WORKER_PARENT_FD"
"""This worker's end of a pipe whose other end only its runner holds: end of file on it
means the runner died."""
PARENT_PID_ENV = "EVENTBENCH_WORKER_PARENT_PID"
PHASE_MARK = "eventbench-worker phase: "
"""Starts the stderr lines that say what the worker is doing (see `phase`)."""
ORPHAN_GRACE_S = 10.0
"""Once its runner died, how long the request may take to unwind (close its store and
remove its data) before the worker exits regardless: nobody else will stop it."""


def phase(text: str) -> None:
    """Tell the runner what this worker is doing now; a timeout's message names it."""
    sys.stderr.write(f"{PHASE_MARK}{text}\n")
    sys.stderr.flush()


@dataclass(frozen=True)
class CellRequest:
    """One cell to measure, as the runner sends it (all plain JSON)."""

    scenario: str
    backend: str
    mode: str
    size: int
    params: dict[str, Any]
    measure: str
    """"time", "memory" or "instructions" (see `harness.instruments.KINDS`)."""
    repeats: int
    warmups: int
    url: str | None = None
    """The ``location`` a ``hold`` answered (open another instance there), or None to open
    a fresh store and seed it here. (Named ``url`` since before locations.)"""
    layout: dict[str, int] | None = None
    """The layout to seed in this worker when ``url`` is None (and the scenario reads)."""
    capture_dir: str | None = None
    """Where memray captures go; kept there only when ``keep_captures``."""
    keep_captures: bool = False
    capture_stem: str = "capture"
    counted: bool = False
    """True inside the process cachegrind counts (see `harness.instruments.instructions`)."""
    baseline: bool = False
    """With ``counted``: do everything but the measured work (the count to subtract)."""
    timeout_s: float | None = None
    """Stop the cell after this long and report what each task was waiting on (the
    runner's own, harder timeout comes a little later)."""


@contextlib.asynccontextmanager
async def open_backend(backend: str, location: str | None) -> AsyncIterator[EventStore]:
    """A store of ``backend``: another instance at ``location``, else a fresh one."""
    factory = load_factory(backend)
    if location is None:
        async with factory() as store:
            yield store
        return
    again = reopener(factory)
    if again is None:
        raise ValueError(f"{backend} cannot open a store at a location (no location= hook)")
    async with again.reopen(location) as store:
        yield store


def lacks(store: EventStore, scenario: Scenario, mode: str) -> str | None:
    protocol_name = scenario.requires.get(mode)
    if protocol_name is None:
        return None
    protocol = getattr(contract, protocol_name)
    if isinstance(store, protocol):
        return None
    return f"{type(store).__name__} does not implement {protocol_name}"


def stall_tick_s() -> float | None:
    """The loop-stall ticker's interval: ``EVENTBENCH_STALL_TICK_S`` (0: no ticker)."""
    raw = os.environ.get("EVENTBENCH_STALL_TICK_S")
    if raw is None or not raw.strip():
        return DEFAULT_TICK_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(
            f"EVENTBENCH_STALL_TICK_S must be a number of seconds (0: off), not {raw!r}"
        ) from None
    return value if value > 0 else None


def gathered(runs: list[Measured]) -> dict[str, list[float]]:
    """Each figure's values over ``runs``, kept only when every run has it."""
    names = dict.fromkeys(name for run in runs for name in run.figures)
    return {
        name: [run.figures[name] for run in runs]
        for name in names
        if all(name in run.figures for run in runs)
    }


async def measure_cell(req: CellRequest) -> dict[str, Any]:
    if req.measure == "instructions" and not req.counted:
        # Counted from outside: this worker runs the request twice under cachegrind.
        return await asyncio.to_thread(instructions.count_cell, dataclasses.asdict(req))
    scenario = get_scenario(req.scenario)
    params = scenario.resolve(req.params)
    layout = scenario.layout(params) if scenario.layout else None
    expected = scenario.expected_events(req.size, params) if scenario.expected_events else req.size
    out: dict[str, Any] = {"ok": True, "events": expected}
    capture_dir = Path(req.capture_dir or ".")
    captures = 0

    def capture_path() -> Path:
        nonlocal captures
        os.makedirs(capture_dir, exist_ok=True)
        captures += 1
        return capture_dir / f"{req.capture_stem}-{os.getpid()}-{captures - 1}.bin"

    tick = stall_tick_s()
    instrument = instrument_for(
        req.measure, capture_path=capture_path, stall_tick_s=tick, baseline=req.baseline
    )
    phase("opening the store")
    async with open_backend(req.backend, req.url) as store:
        _measured.append(store)
        reason = lacks(store, scenario, req.mode)
        if reason is not None:
            return {"ok": False, "skipped": reason}
        if layout is not None and req.url is None:
            phase(f"seeding {req.size:,} events")
            out["seed_s"] = await seed.load(store, layout, req.size)
        elif layout is not None:
            phase("checking the seeded data")
            await seed.verify(store, layout, req.size)
        run_index = 0

        async def context() -> RunContext:
            nonlocal run_index
            ctx = RunContext(store, req.mode, req.size, params, Probe(), run_index, layout)
            run_index += 1
            if scenario.prepare is not None:
                prepared = await scenario.prepare(ctx)
                ctx = RunContext(store, req.mode, req.size, params, ctx.probe, ctx.run_index,
                                 layout, prepared)  # fmt: skip
            return ctx

        def check(ctx: RunContext, outcome: Outcome) -> None:
            out["events"] = events = outcome.events
            if expected is not None and events != expected:
                raise AssertionError(
                    f"{req.scenario}/{req.mode} on {req.backend} handled {events} events, "
                    f"expected {expected}: the store returned a wrong result"
                )
            if scenario.verify is not None and outcome.result is not None:
                wrong = scenario.verify(ctx, outcome.result)
                if wrong is not None:
                    raise AssertionError(
                        f"{req.scenario}/{req.mode} on {req.backend} at {req.size:,} events "
                        f"read the right number of events with the wrong content: {wrong}. "
                        "The store returned a wrong result; its conformance checks "
                        "(eventbench check) may say where."
                    )

        files: list[str] = []

        def keep(run: Measured, ctx: RunContext) -> Measured:
            if not req.baseline:
                check(ctx, run.outcome)
            for name in run.files:
                if req.keep_captures:
                    files.append(str(Path(name).resolve()))
                else:
                    Path(name).unlink(missing_ok=True)
            return run

        # A read's first run after the store opened is its cold run (connections and
        # caches still empty): measured like the others, reported apart, and it counts
        # as the first warm-up. Counted processes skip it: they subtract set-up anyway.
        cold_run = layout is not None and req.warmups > 0 and not req.counted
        for i in range(req.warmups):
            if i == 0 and cold_run:
                phase(f"warm-up run 1 of {req.warmups} (the cold run, measured)")
                ctx = await context()
                cold = keep(await instrument.measure(scenario.run, ctx), ctx)
                out["cold"] = dict(cold.figures)
                continue
            phase(f"warm-up run {i + 1} of {req.warmups}")
            ctx = await context()
            warm = await scenario.run(ctx)
            check(ctx, warm)
            del warm
        runs = []
        for i in range(req.repeats):
            what = {"time": "timed", "memory": "tracked"}.get(req.measure, "counted")
            phase(f"{what} run {i + 1} of {req.repeats}")
            ctx = await context()
            runs.append(keep(await instrument.measure(scenario.run, ctx), ctx))
        series = gathered(runs)
        if req.measure == "time":
            latencies = [x for run in runs for x in run.outcome.latencies_s]
            counters: dict[str, list[float]] = {}
            over_time: dict[str, list[list[float]]] | None = None
            for run in runs:
                for name, value in run.outcome.counters.items():
                    counters.setdefault(name, []).append(float(value))
                if over_time is None and run.outcome.series:
                    # One run's series is kept (the first measured): a picture, not a sample.
                    over_time = {
                        name: [[float(t), float(v)] for t, v in points]
                        for name, points in run.outcome.series.items()
                    }
            out.update(
                total_s=series.get("total_s", []),
                cpu_s=series.get("cpu_s"),
                first_event_s=series.get("first_event_s"),
                latencies_s=latencies or None,
                counters=counters,
                timer_resolution_s=timer_resolution_s(),
                stall_tick_s=tick,
                series=over_time,
            )
            out.update({k: v for k, v in series.items() if k.startswith("stall_")})
        elif req.measure == "memory":
            out.update(
                peak_bytes=[int(v) for v in series.get("peak_bytes", [])],
                allocations=[int(v) for v in series.get("allocations", [])],
                allocated_bytes=[int(v) for v in series.get("allocated_bytes", [])],
                captures=files,
            )
        out["settings"] = await store_settings(store)
        if req.measure == "time":
            out["settings"][SCHEDULING_SETTING] = scheduling()
    return out


SCHEDULING_SETTING = "timed runs scheduled"
"""The setting a timed cell reports: the scheduler its runs met (see `scheduling`)."""


def scheduling() -> str:
    """The scheduling policy of this thread, as read back from the kernel: what the
    timed runs really met (the runner asks for SCHED_FIFO where it may, see
    `harness.runner.timed_scheduling`)."""
    if not hasattr(os, "sched_getscheduler"):
        return "unknown (no sched_getscheduler here)"
    policy = os.sched_getscheduler(0)
    if policy == os.SCHED_FIFO:
        return f"SCHED_FIFO priority {os.sched_getparam(0).sched_priority}"
    if policy == os.SCHED_OTHER:
        return f"normal (nice {os.getpriority(os.PRIO_PROCESS, 0)})"
    return f"policy {policy}"


async def store_settings(store: EventStore) -> dict[str, str]:
    """The store's own account of the settings that move its figures, if it gives one."""
    if not isinstance(store, contract.ReportsSettings):
        return {}
    return {str(k): str(v) for k, v in (await store.settings()).items()}


def emit(answer: Mapping[str, Any]) -> None:
    """Write one answer line to the real stdout (measured code prints to stderr)."""
    out = sys.__stdout__
    assert out is not None, "the worker needs a stdout to answer on"
    if "error" in answer:  # (a location is for the runner only, and stays whole)
        answer = {**answer, "error": redact(str(answer["error"]))}
    out.write("\n" + json.dumps(answer) + "\n")
    out.flush()


async def hold(request: Mapping[str, Any]) -> dict[str, Any]:
    """Seed a fresh store, tell its location, keep it until stdin closes (see the docstring)."""
    layout = Layout(**request["layout"])
    size = int(request["size"])
    factory = load_factory(request["backend"])
    phase("opening the store")
    async with factory() as store:
        if reopener(factory) is None or not isinstance(store, SupportsReopen):
            return {
                "ok": False,
                "error": f"{request['backend']} cannot be reopened at a location; seed per worker",
            }
        phase(f"seeding {size:,} events")
        seconds = await seed.load(store, layout, size)
        emit({"ok": True, "location": store.location, "seconds": seconds})
        phase("holding the seeded store")
        # Until the runner is done with this data (it closes stdin, or it died).
        await asyncio.to_thread(sys.stdin.read)
        phase("closing the store")
    return {"ok": True, "released": True}


# --------------------------------------------------------------------- environment


def package_versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    found["sqlite"] = sqlite3.sqlite_version
    return found


def git_state(directory: Path) -> tuple[str | None, bool | None]:
    """The commit checked out where this code lives, and whether the tree is dirty."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return commit.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


_REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def store_packages(spec: str) -> dict[str, str]:
    """The distribution that provides a ``module:function`` store's module, with its
    version, and the installed versions of what it requires (extras left out), as
    {name: version}. Empty when the module is not from an installed distribution
    (a file in the working directory, say) or ``spec`` is no ``module:function``."""
    module, colon, _ = spec.partition(":")
    if not colon or "/" in spec or "@" in spec:
        return {}
    found: dict[str, str] = {}
    for dist in packages_distributions().get(module.split(".")[0], []):
        try:
            found[dist] = version(dist)
            requirements = requires(dist) or []
        except PackageNotFoundError:
            continue
        for requirement in requirements:
            if "extra ==" in requirement:
                continue
            match = _REQUIREMENT_NAME.match(requirement.strip())
            if match is None:
                continue
            with contextlib.suppress(PackageNotFoundError):
                found.setdefault(match.group(), version(match.group()))
    return found


async def server_version(backend: str) -> str | None:
    """What the backend's module says its server is (``server_version()``), if it says."""
    if backend.startswith(("postgresql://", "postgres://")):  # a server named by URL
        try:
            from harness import provision

            store = backend_module("postgres").open_store(backend)
            return str(await provision.server_version(store.dsn))
        except Exception:
            return None
    try:
        getter = getattr(backend_module(backend), "server_version", None)
        if getter is None:
            return None
        result = getter()
        if inspect.isawaitable(result):
            result = await result
    except Exception:  # a version is a nicety; its absence must not stop a run
        return None
    return None if result is None else str(result)


async def probe_backend(name: str) -> dict[str, Any]:
    info: dict[str, Any] = {"name": name}
    if name in REFERENCE_BACKENDS:
        status = backend_info(name)
        if not status.available:
            return {**info, "available": False, "reason": status.reason}
    try:
        factory = load_factory(name)
        async with factory() as store:
            capabilities = store.capabilities
            info["persistent"] = capabilities.persistent
            info["multi_process"] = capabilities.multi_process
            info["reopenable"] = reopener(factory) is not None and isinstance(store, SupportsReopen)
            info["protocols"] = [
                p for p in OPTIONAL_PROTOCOLS if isinstance(store, getattr(contract, p))
            ]
            info["store_type"] = f"{type(store).__module__}.{type(store).__qualname__}"
    except UnknownBackend as exc:  # cannot be loaded: the message says why, briefly
        reason = str(exc)
        if isinstance(exc, FactoryImportError) and debug_enabled():
            reason += "\n" + exc.details
        return {**info, "available": False, "reason": reason}
    except Exception as exc:  # a backend that cannot open is reported, not fatal
        reason = join_sentences(f"{type(exc).__name__}: {exc}", *shadowing_notes([], Path.cwd()))
        if debug_enabled():
            reason += "\n" + "".join(traceback.format_exception(exc))
        return {**info, "available": False, "reason": reason}
    info["available"] = True
    info["server"] = await server_version(name)
    if name not in REFERENCE_BACKENDS:
        info["packages"] = store_packages(name)
    return info


async def probe(request: Mapping[str, Any]) -> dict[str, Any]:
    here = SOURCE_ROOT
    commit, dirty = git_state(here)
    backends = [await probe_backend(name) for name in request.get("backends", [])]
    return {
        "ok": True,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "source": str(here),
        "packages": package_versions(),
        "git_commit": commit,
        "git_dirty": dirty,
        "backends": backends,
        "timer_resolution_s": timer_resolution_s(),
    }


# --------------------------------------------------------------------- deadlines


class CellTimedOut(TimeoutError):
    """A cell ran past its deadline (a deadlock, or simply too slow for the timeout)."""


_measured: list[EventStore] = []
"""The store a cell opened, so that a cell past its deadline can say what it holds."""


async def store_state() -> str:
    """The measured store's own account of its connections (`SupportsDiagnostics`)."""
    if not _measured or not isinstance(_measured[-1], contract.SupportsDiagnostics):
        return ""
    try:
        figures = await asyncio.wait_for(_measured[-1].diagnostics(), 5.0)
    except Exception as exc:  # the report of a hang must not hang or fail itself
        return f"  the store could not describe itself: {type(exc).__name__}: {exc}"
    shown = ", ".join(f"{k}={v:g}" for k, v in figures.items() if not k.endswith("_total"))
    return f"  the store: {shown}"


def waiting_on(limit: int = 12) -> str:
    """What every other task of this loop is doing now: its name and innermost frames."""
    lines: list[str] = []
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    for task in sorted(tasks, key=lambda t: t.get_name())[:limit]:
        frames = _awaited_frames(task.get_coro())
        where = [
            f"{Path(f.f_code.co_filename).name}:{f.f_lineno} {f.f_code.co_name}"
            for f in frames[-4:]
        ]
        lines.append(f"  {task.get_name()}: " + " <- ".join(reversed(where)))
    if len(tasks) > limit:
        lines.append(f"  ... and {len(tasks) - limit} more tasks")
    return "\n".join(lines) or "  (no other task: the loop itself was blocked)"


def _awaited_frames(awaitable: object) -> list[Any]:
    """The frames of a suspended coroutine and of everything it awaits, outermost first
    (a task's own stack shows only its outermost frame)."""
    frames: list[Any] = []
    seen = 0
    while awaitable is not None and seen < 200:
        seen += 1
        frame = next(
            (
                getattr(awaitable, a)
                for a in ("cr_frame", "gi_frame", "ag_frame")
                if getattr(awaitable, a, None) is not None
            ),
            None,
        )
        if frame is not None:
            frames.append(frame)
        awaitable = next(
            (
                getattr(awaitable, a)
                for a in ("cr_await", "gi_yieldfrom", "ag_await")
                if getattr(awaitable, a, None) is not None
            ),
            None,
        )
    return frames


async def within(seconds: float, work: Awaitable[dict[str, Any]], what: str) -> dict[str, Any]:
    """``work``, or `CellTimedOut` after ``seconds`` naming what each task waited on.

    A loop blocked by synchronous code cannot notice its deadline, so a thread also
    dumps every thread's stack to stderr a little later (the runner shows its tail).
    """
    faulthandler.dump_traceback_later(seconds + 2.0, exit=False)
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
        if task in done:
            return task.result()
        stuck = "\n".join(filter(None, [await store_state(), waiting_on()]))
        task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 2.0)
        raise CellTimedOut(
            f"{what} was stopped after {seconds:g} s, before the run's timeout, to say what "
            f"it was waiting on (a deadlock, or too slow: raise --timeout or use smaller "
            f"parameters). Waiting:\n{stuck}"
        )
    finally:
        faulthandler.cancel_dump_traceback_later()


# --------------------------------------------------------------------- entry point


async def handle(request: Mapping[str, Any]) -> dict[str, Any]:
    """Answer one request (see the module docstring)."""
    op = request.get("op")
    if op == "cell":
        fields = {k: v for k, v in request.items() if k != "op"}
        req = CellRequest(**fields)
        if req.timeout_s is None:
            return await measure_cell(req)
        return await within(req.timeout_s, measure_cell(req), f"{req.scenario}/{req.mode}")
    if op == "hold":
        return await hold(request)
    if op == "probe":
        return await probe(request)
    raise ValueError(f"unknown op {op!r}; expected cell, hold or probe")


class _Guard:
    """Stops this worker when it is told to or its runner dies (see the module docstring)."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.parent: int | None = None
        self.orphaned = False
        self.lock = threading.RLock()  # a signal may arrive while stop() holds it
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[Any] | None = None

    def watch(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        parent = os.environ.pop(PARENT_PID_ENV, None)
        fd = os.environ.pop(PARENT_FD_ENV, None)
        if parent is None:
            return  # run by hand, not by a runner
        self.parent = int(parent)
        _die_with_parent()
        if os.getppid() != self.parent:
            self.stop("its runner died", orphaned=True)  # before it could be watched
        threading.Thread(
            target=self._watch_parent, args=(self.parent, fd), name="parent-watch", daemon=True
        ).start()

    def _on_signal(self, signum: int, frame: object) -> None:
        # The parent-death signal is SIGTERM too: then the parent is no longer ours.
        orphaned = self.parent is not None and os.getppid() != self.parent
        self.stop(f"stopped by {signal.Signals(signum).name}", orphaned=orphaned)

    def _watch_parent(self, parent: int, fd: str | None) -> None:
        try:
            if fd is None:
                raise OSError("no pipe to watch")
            while os.read(int(fd), 1):
                pass  # the runner never writes: only end of file (its death) returns
        except (OSError, ValueError):
            while os.getppid() == parent:
                time.sleep(0.5)
        self.stop("its runner died", orphaned=True)

    def stop(self, reason: str, *, orphaned: bool = False) -> None:
        """Cancel the request in flight. An orphan (its runner died, so nobody will kill
        it) also exits regardless after `ORPHAN_GRACE_S`."""
        with self.lock:
            first = self.reason is None
            if first:
                self.reason = reason
            deadline = orphaned and not self.orphaned
            self.orphaned = self.orphaned or orphaned
        if deadline:
            threading.Thread(target=self._exit_later, name="orphan-deadline", daemon=True).start()
        if not first:
            return
        loop, task = self.loop, self.task
        if loop is None or task is None:
            os._exit(1)  # nothing started yet, so nothing to close
        with contextlib.suppress(RuntimeError):  # the loop already closed: we are ending
            loop.call_soon_threadsafe(task.cancel)

    @staticmethod
    def _exit_later() -> None:
        time.sleep(ORPHAN_GRACE_S)
        with contextlib.suppress(Exception):  # stderr may be a pipe nobody reads any more
            sys.stderr.write(f"worker: runner gone, not stopped after {ORPHAN_GRACE_S:g} s\n")
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)  # and whatever this worker started
        os._exit(1)

    async def run(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        if self.reason is not None:
            raise asyncio.CancelledError
        return await handle(request)


def _die_with_parent() -> None:
    """On Linux, have the kernel send SIGTERM when the parent dies (however it dies)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)


def main() -> int:
    guard = _Guard()
    guard.watch()
    raw = sys.stdin.readline()  # one line: a "hold" keeps reading stdin afterwards
    started = time.perf_counter()
    # Backend specs and URLs may hold passwords: whatever this worker says is masked.
    remember_environment()
    remember(raw)
    try:
        request = json.loads(raw)
        # Anything the measured code prints goes to stderr: stdout carries the answer.
        with contextlib.redirect_stdout(sys.stderr):
            answer = asyncio.run(guard.run(request))
    except (KeyboardInterrupt, asyncio.CancelledError):
        answer = {"ok": False, "error": f"interrupted: {guard.reason or 'cancelled'}"}
    except Exception as exc:
        sys.stderr.write(redact("".join(traceback.format_exception(exc))))
        answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        if isinstance(exc, CellTimedOut):
            answer["timed_out"] = True
    answer["wall_s"] = time.perf_counter() - started
    try:
        sys.stdout.write("\n" + json.dumps(redact_json(answer)) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # the runner is gone; nobody to answer
        os._exit(1)
    return 0 if answer.get("ok") or "skipped" in answer else 1


if __name__ == "__main__":
    sys.exit(main())
