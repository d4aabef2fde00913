"""The results document: what a run measured, as one typed, versioned JSON file.

The runner writes it; statistics, reports and comparisons are pure functions of it,
so a report can be made again years later from the JSON alone. Every field is plain
data (str, int, float, lists, dicts) so that the file is readable by any tool.

Schema changes bump `SCHEMA_VERSION`; `load_results` refuses files it does not know.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "Cell",
    "Environment",
    "Fit",
    "MemorySamples",
    "ResultsError",
    "RunResults",
    "TimeSamples",
    "load_results",
    "save_results",
]

SCHEMA_VERSION = 1


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


@dataclass(frozen=True)
class MemorySamples:
    """memray-tracked runs of one cell (each in a fresh process)."""

    peak_bytes: list[int]
    allocations: list[int]
    captures: list[str] = field(default_factory=list)
    """Paths of kept memray capture files (``--keep-captures``), else empty."""


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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> RunResults:
        version = doc.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ResultsError(
                f"results schema version {version!r} is not {SCHEMA_VERSION}; "
                "use the eventbench version that wrote the file to read it"
            )
        try:
            cells = [
                Cell(
                    **{
                        **c,
                        "time": TimeSamples(**c["time"]) if c.get("time") else None,
                        "memory": MemorySamples(**c["memory"]) if c.get("memory") else None,
                    }
                )
                for c in doc["cells"]
            ]
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
            )
        except (KeyError, TypeError) as exc:
            raise ResultsError(f"malformed results document: {exc}") from exc


def save_results(results: RunResults, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(results.to_json(), indent=1, sort_keys=False) + "\n")
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
    if not isinstance(doc, dict):
        raise ResultsError(f"{path}: not a results document")
    return RunResults.from_json(doc)
