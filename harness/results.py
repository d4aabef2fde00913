"""The results document: what a run measured, as one typed, versioned JSON file.

The runner writes it; statistics, reports and comparisons are pure functions of it,
so a report can be made again years later from the JSON alone. Every field is plain
data (str, int, float, lists, dicts) so that the file is readable by any tool.

Schema changes bump `SCHEMA_VERSION`. `load_results` reads the current schema and
upgrades older ones it knows (`UPGRADABLE_VERSIONS`), leaving what they never recorded
as None (a schema 1 file has no round index per sample, so `compare` refuses to judge
it and says so); it refuses newer schemas and anything else with a message that says
what to do.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from harness.redact import redact_json

__all__ = [
    "SCHEMA_VERSION",
    "UPGRADABLE_VERSIONS",
    "Cell",
    "ColdSamples",
    "Environment",
    "Fit",
    "MemorySamples",
    "InstructionSamples",
    "ResultsError",
    "RunResults",
    "TimeSamples",
    "export_pytest_benchmark",
    "load_results",
    "save_results",
    "to_pytest_benchmark",
]

SCHEMA_VERSION = 2
"""2: each sample carries the round (fresh worker process) it came from."""
UPGRADABLE_VERSIONS = (1,)
"""Older schemas `RunResults.from_json` still reads (fields they lack become None)."""


class ResultsError(ValueError):
    """A results file is missing, unreadable, or of a schema this version cannot read."""


@dataclass(frozen=True)
class Environment:
    """Where a run happened: enough to tell whether two runs are comparable."""

    hostname: str
    platform: str
    machine: str
    cpu_model: str
    cpu_count: int
    memory_bytes: int
    python: str
    packages: dict[str, str]
    """Distribution name -> version, for eventbench and the libraries it measures through."""
    servers: dict[str, str]
    """Backend name -> database server version (e.g. "PostgreSQL 15.20"); no secrets."""
    git_commit: str | None
    git_dirty: bool | None


@dataclass(frozen=True)
class TimeSamples:
    """Untracked timing of repeated runs of one cell, after warm-up; raw samples in seconds."""

    total_s: list[float]
    first_event_s: list[float] | None
    """Time from starting the read to holding the first event (None where not a read)."""
    events: int
    """Events handled by one run (read, or appended): events/s = events / total_s."""
    warmups: int
    latency_s: list[float] | None = None
    """Per-operation latencies over all runs (e.g. each append call), where there are any."""
    counters: dict[str, list[float]] = field(default_factory=dict)
    """Other per-run figures, one value per run (e.g. {"retries": [...]} under contention)."""
    timer_resolution_s: float | None = None
    rounds: list[int] | None = None
    """The round (fresh worker process, 0-based) of each sample, parallel to ``total_s``
    and ``first_event_s``: rounds, not repeats, are the independent observations.
    None in files written before rounds were recorded (schema 1)."""
    stall_max_s: list[float] | None = None
    """Per run: the longest the event loop was held (how late a 1 ms ticker woke at worst);
    parallel to ``total_s``. None where not measured (older results, ticker off)."""
    stall_p99_s: list[float] | None = None
    """Per run: 99% of the ticker's wake-ups were less late than this."""
    stall_tick_s: float | None = None
    """The ticker's interval (None: no ticker ran)."""
    cpu_s: list[float] | None = None
    """Per run: CPU time the worker process used (every thread), parallel to
    ``total_s``. Other load on the machine stretches wall time by the time the worker
    waits for a core; CPU time does not wait, so it spreads several times less between
    processes on a loaded machine (see `harness.analysis.compare`). It does not see time spent
    in other processes (a database server) or waiting on I/O: ``total_s`` does.
    None where not measured (older results)."""


@dataclass(frozen=True)
class ColdSamples:
    """Cold runs of a read cell: in each worker process, the first read after the store
    was opened, before any warm-up (connections, page and statement caches still empty).
    One value per process (time figures from timed processes, peaks from tracked ones);
    every other figure of a cell is warm (after warm-up)."""

    total_s: list[float] = field(default_factory=list)
    first_event_s: list[float] = field(default_factory=list)
    stall_max_s: list[float] = field(default_factory=list)
    peak_bytes: list[int] = field(default_factory=list)
    time_rounds: list[int] | None = None
    """The round (worker process) each time figure came from, parallel to ``total_s``."""
    memory_rounds: list[int] | None = None
    """The round each ``peak_bytes`` came from."""


@dataclass(frozen=True)
class MemorySamples:
    """memray-tracked runs of one cell (each in a fresh process)."""

    peak_bytes: list[int]
    allocations: list[int]
    captures: list[str] = field(default_factory=list)
    """Paths of kept memray capture files (``--keep-captures``), else empty."""
    rounds: list[int] | None = None
    """The round (fresh worker process, 0-based) of each sample, parallel to
    ``peak_bytes``; None in files written before rounds were recorded (schema 1)."""
    allocated_bytes: list[int] | None = None
    """Per run: bytes allocated however soon freed (memray's total); near-deterministic
    like ``allocations``. None in older results."""


@dataclass(frozen=True)
class InstructionSamples:
    """CPU instructions the client process executed in one measured run (cachegrind).

    Deterministic to a few hundred instructions between processes, so one figure per
    round suffices. Counts the client process only: a database server's own work (for
    PostgreSQL) is not in it.
    """

    per_run: list[float]
    """One figure per round: instructions of one run of the cell's work."""
    events: int
    """Events one run handled: per event = per_run / events."""
    method: str
    """How the measured region was isolated (see `harness.instruments.instructions`)."""
    rounds: list[int] | None = None
    """The round each figure came from, parallel to ``per_run``."""


@dataclass(frozen=True)
class Cell:
    """One measured combination: scenario x backend x mode x size."""

    scenario: str
    backend: str
    mode: str
    """What is compared within a scenario: "collected", "streamed", "batch-100", ..."""
    size: int
    """N: events in the stream (or in total), or events appended."""
    params: dict[str, Any]
    time: TimeSamples | None = None
    memory: MemorySamples | None = None
    error: str | None = None
    """Why the cell failed, if it did; its samples are then absent or partial."""
    summary: dict[str, float] = field(default_factory=dict)
    """Medians and rates computed from the samples (see `harness.analysis.stats.summarize`)."""
    instructions: InstructionSamples | None = None
    cold: ColdSamples | None = None
    """Read cells: the first read of each worker process, before warm-up."""
    settings: dict[str, str] = field(default_factory=dict)
    """Every store and server setting that can move this cell's figures, as the store
    reported them (`harness.contract.ReportsSettings`): durability, batch and pool sizes,
    whether the seeded tables were analyzed, server settings. Empty when not reported."""
    series: dict[str, list[list[float]]] | None = None
    """Figures sampled over one timed run, where the workload records any: name ->
    [[seconds since the run began, value], ...] (e.g. a WAL file's size over time)."""

    @property
    def key(self) -> tuple[str, str, str, int]:
        """Identifies the cell across runs (what compare matches on)."""
        return (self.scenario, self.backend, self.mode, self.size)


@dataclass(frozen=True)
class Fit:
    """How a metric grows with N: ``metric ~ exp(intercept) * N ** slope`` (log-log fit)."""

    scenario: str
    backend: str
    mode: str
    metric: str
    """"peak_bytes" or "total_s" (medians per size)."""
    slope: float
    intercept: float
    r_squared: float
    sizes: list[int]


@dataclass(frozen=True)
class RunResults:
    environment: Environment
    parameters: dict[str, Any]
    """The run's options and each scenario's parameters, as given."""
    cells: list[Cell]
    fits: list[Fit] = field(default_factory=list)
    started_at: str = ""
    finished_at: str = ""
    duration_s: float = 0.0
    interrupted: bool = False
    """True when the run was stopped (Ctrl-C) before every cell was measured."""
    schema_version: int = SCHEMA_VERSION
    side: str = ""
    """Which side of an interleaved comparison this is ("" for a plain run)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> RunResults:
        version = doc.get("schema_version")
        if isinstance(version, int) and version > SCHEMA_VERSION:
            raise ResultsError(
                f"results schema version {version} is newer than this eventbench reads "
                f"({SCHEMA_VERSION}); upgrade eventbench to read it"
            )
        if version != SCHEMA_VERSION and version not in UPGRADABLE_VERSIONS:
            raise ResultsError(
                f"results schema version {version!r} is not one this eventbench reads "
                f"({', '.join(map(str, (*UPGRADABLE_VERSIONS, SCHEMA_VERSION)))}); "
                "is it an eventbench results file?"
            )
        try:
            cells = [_cell_from_json(c) for c in doc["cells"]]
            return cls(
                environment=Environment(**doc["environment"]),
                parameters=doc["parameters"],
                cells=cells,
                fits=[Fit(**f) for f in doc.get("fits", [])],
                started_at=doc.get("started_at", ""),
                finished_at=doc.get("finished_at", ""),
                duration_s=doc.get("duration_s", 0.0),
                interrupted=doc.get("interrupted", False),
                schema_version=version,
                side=doc.get("side", ""),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ResultsError(f"malformed results document: {exc}") from exc


def _cell_from_json(c: dict[str, Any]) -> Cell:
    time, memory, instructions, cold = (
        c.get("time"),
        c.get("memory"),
        c.get("instructions"),
        c.get("cold"),
    )
    cell = Cell(
        **{
            **c,
            "time": TimeSamples(**time) if time else None,
            "memory": MemorySamples(**memory) if memory else None,
            "instructions": InstructionSamples(**instructions) if instructions else None,
            "cold": ColdSamples(**cold) if cold else None,
        }
    )
    _check_identity(cell)
    for part in (cell.time, cell.memory, cell.instructions, cell.cold):
        if part is not None:
            _check_samples(cell, part)
    return cell


def _check_identity(cell: Cell) -> None:
    """What a cell is matched and labelled by must have the types a run writes: a size
    written as text would match nothing and drop the cell out of a comparison unseen."""
    wrong = [
        f"{name} is {value!r}"
        for name, value, ok in (
            ("scenario", cell.scenario, isinstance(cell.scenario, str)),
            ("backend", cell.backend, isinstance(cell.backend, str)),
            ("mode", cell.mode, isinstance(cell.mode, str)),
            ("size", cell.size, type(cell.size) is int and cell.size >= 0),
            ("params", cell.params, isinstance(cell.params, dict)),
            ("settings", cell.settings, isinstance(cell.settings, dict)),
            ("summary", cell.summary, isinstance(cell.summary, dict)),
            ("error", cell.error, cell.error is None or isinstance(cell.error, str)),
        )
        if not ok
    ]
    if wrong:
        raise ResultsError(
            f"a cell's {'; '.join(wrong)}, which no eventbench run writes: the file was "
            "edited or damaged. Measure again (`eventbench run`) or restore the file"
        )


def _check_samples(cell: Cell, part: Any) -> None:
    """Refuse samples no worker writes (text, negative or infinite figures, rounds that
    are not counts): a damaged or hand-edited file must stop a comparison with a clear
    error, not crash it or slip a made-up figure into a verdict."""
    assert is_dataclass(part)
    where = f"cell {'/'.join(map(str, cell.key))}, {type(part).__name__}"

    def bad(name: str, what: str) -> ResultsError:
        return ResultsError(
            f"{where}.{name} {what}; no eventbench run writes that: the file was edited "
            "or damaged. Measure again (`eventbench run`) or restore the file"
        )

    for spec in fields(part):
        value = getattr(part, spec.name)
        if spec.name == "counters" and isinstance(value, dict):
            items = [(f"counters[{k!r}]", v) for k, v in value.items()]
        elif value is not None and "list[" in str(spec.type) and spec.name != "captures":
            items = [(spec.name, value)]
        else:
            continue
        for name, samples in items:
            if not isinstance(samples, list):
                raise bad(name, f"is {samples!r}, not a list of numbers")
            counts = name == "rounds" or name.endswith("_rounds")
            for i, x in enumerate(samples):
                number = isinstance(x, int | float) and not isinstance(x, bool)
                if counts and not (isinstance(x, int) and not isinstance(x, bool) and x >= 0):
                    raise bad(f"{name}[{i}]", f"is {x!r}, not a round number (0, 1, ...)")
                if not number or not math.isfinite(x) or x < 0:
                    raise bad(f"{name}[{i}]", f"is {x!r}, not a figure (a finite number >= 0)")


def save_results(results: RunResults, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    # Masked again here: a results file must never hold a password, however made.
    doc = redact_json(results.to_json())
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    tmp.replace(path)  # never leave a half-written results file behind
    return path


def load_results(path: Path) -> RunResults:
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ResultsError(
            f"{path}: no such results file; make one with `eventbench run`"
        ) from None
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(doc, dict) or "schema_version" not in doc:
        raise ResultsError(
            f"{path}: not an eventbench results file (it has no schema_version); give "
            "the .json that `eventbench run` wrote (e.g. reports/latest.json), not a "
            "report's .summary.json or another JSON file"
        )
    try:
        # A file written before secrets were masked must not show them in a new report.
        return RunResults.from_json(redact_json(doc))
    except ResultsError as exc:
        raise ResultsError(f"{path}: {exc}") from exc.__cause__


# --------------------------------------------------------------------------- pytest-benchmark


def _benchmark_stats(samples: list[float]) -> dict[str, Any]:
    """pytest-benchmark's ``stats`` block for one list of timings (seconds)."""
    data = sorted(samples)
    n = len(data)
    mean = statistics.fmean(data)
    stddev = statistics.stdev(data) if n > 1 else 0.0
    if n > 1:
        q1, _, q3 = statistics.quantiles(data, n=4, method="inclusive")
    else:
        q1 = q3 = data[0]
    iqr = q3 - q1
    low, high = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    inside = [v for v in data if low <= v <= high] or data
    iqr_outliers = n - len(inside)
    stddev_outliers = sum(1 for v in data if v < mean - stddev or v > mean + stddev)
    total = sum(data)
    return {
        "min": data[0],
        "max": data[-1],
        "mean": mean,
        "stddev": stddev,
        "rounds": n,
        "median": statistics.median(data),
        "iqr": iqr,
        "q1": q1,
        "q3": q3,
        "iqr_outliers": iqr_outliers,
        "stddev_outliers": stddev_outliers,
        "outliers": f"{stddev_outliers};{iqr_outliers}",
        "ld15iqr": min(inside),
        "hd15iqr": max(inside),
        "ops": n / total if total > 0 else 0.0,
        "total": total,
        "iterations": 1,
        "data": list(samples),
    }


def to_pytest_benchmark(results: RunResults) -> dict[str, Any]:
    """The run in pytest-benchmark's JSON format (``--benchmark-json``), so that tools
    which read that format (``pytest-benchmark compare``, CI dashboards) can read it.

    One benchmark per timed cell: group ``scenario[backend]``, name
    ``scenario[backend-mode-N]``; peak memory and other figures go in ``extra_info``.
    """
    env = results.environment
    benchmarks: list[dict[str, Any]] = []
    for cell in results.cells:
        if cell.time is None or not cell.time.total_s:
            continue
        param = f"{cell.backend}-{cell.mode}-{cell.size}"
        extra: dict[str, Any] = {"events": cell.time.events, **cell.summary}
        if cell.memory is not None:
            extra["peak_bytes"] = cell.memory.peak_bytes
            extra["allocations"] = cell.memory.allocations
        benchmarks.append(
            {
                "group": f"{cell.scenario}[{cell.backend}]",
                "name": f"{cell.scenario}[{param}]",
                "fullname": f"eventbench::{cell.scenario}[{param}]",
                "params": {"backend": cell.backend, "mode": cell.mode, "size": cell.size},
                "param": param,
                "extra_info": extra,
                "options": {
                    "disable_gc": False,
                    "timer": "perf_counter",
                    "min_rounds": len(cell.time.total_s),
                    "max_time": 0,
                    "min_time": 0,
                    "warmup": cell.time.warmups > 0,
                },
                "stats": _benchmark_stats(cell.time.total_s),
            }
        )
    return {
        "machine_info": {
            "node": env.hostname,
            "processor": env.cpu_model,
            "machine": env.machine,
            "python_implementation": env.python.split(" ")[0],
            "python_version": env.python.split(" ")[-1],
            "platform": env.platform,
            "cpu": {"brand_raw": env.cpu_model, "count": env.cpu_count},
        },
        "commit_info": {
            "id": env.git_commit,
            "dirty": env.git_dirty,
            "project": "eventbench",
        },
        "benchmarks": benchmarks,
        "datetime": results.finished_at or results.started_at,
        "version": "4.0.0",
    }


def export_pytest_benchmark(results: RunResults, path: Path) -> Path:
    """Write `to_pytest_benchmark` of ``results`` to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(redact_json(to_pytest_benchmark(results)), indent=1) + "\n")
    return path
