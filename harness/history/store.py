"""Recording runs in the history database and reading them back as series per cell and metric.

A run is stored as it is: its environment, parameters and every cell's JSON (samples
and summary) unchanged, so that fields later schemas add (rounds, instructions, time
series) are kept without a change here. What the history needs to order and find runs
is put in columns beside: the commit, its place in first-parent order, the machine.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.analysis.changepoints import Series, lower_is_better
from harness.analysis.stats import summarize
from harness.history.db import Database, DuplicateRow, HistoryError
from harness.results import RunResults, load_results

__all__ = [
    "CommitInfo",
    "RunRecord",
    "Series",
    "add_run",
    "commit_info",
    "list_runs",
    "load_series",
    "lower_is_better",
    "machines",
    "tracked_metrics",
]


@dataclass(frozen=True)
class CommitInfo:
    commit: str
    order: int
    """Commits from the root to this one along first parents: the history's x axis."""
    time: str
    subject: str


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    commit: str
    order: int
    hostname: str
    started_at: str
    cells: int


def _git(repo: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False, timeout=60
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def commit_info(repo: Path, commit: str) -> CommitInfo:
    """Where ``commit`` sits in ``repo``'s first-parent history; `HistoryError` if unknown."""
    count = _git(repo, "rev-list", "--first-parent", "--count", f"{commit}^{{commit}}")
    shown = _git(repo, "show", "-s", "--format=%H%n%cI%n%s", f"{commit}^{{commit}}")
    if count is None or shown is None:
        raise HistoryError(
            f"commit {commit} is not in the git repository at {repo}: run `eventbench history "
            "add` from a clone that has it (git fetch), or point --repo at one"
        )
    full, when, subject = [*shown.split("\n", 2), "", ""][:3]
    return CommitInfo(full, int(count), when, subject)


def _run_id(doc: dict[str, Any]) -> str:
    # The document itself is the run's identity: the same file added twice is the same run.
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def add_run(
    db: Database, path: Path, *, repo: Path = Path("."), allow_dirty: bool = False
) -> RunRecord:
    """Record the results file at ``path``; refuses a run already recorded."""
    results = load_results(path)  # validates: schema, shape
    doc = json.loads(Path(path).read_text())
    env = results.environment
    if not env.git_commit:
        raise HistoryError(
            f"{path}: the run records no git commit (it ran outside a git checkout); "
            "the history orders runs by commit: run from a clone"
        )
    if env.git_dirty and not allow_dirty:
        raise HistoryError(
            f"{path}: the run measured uncommitted changes on top of {env.git_commit[:12]}; "
            "commit them and run again, or pass --allow-dirty to record it as that commit"
        )
    if isinstance(results.parameters.get("shard"), dict):
        shard = results.parameters["shard"]
        raise HistoryError(
            f"{path}: this is shard {shard.get('index')}/{shard.get('count')} of a run; join "
            "the shards with `eventbench merge` and add the merged file"
        )
    # Summaries as the run computed them; recomputed only where a file has none.
    measured = [
        (c, cell.summary or summarize(cell))
        for c, cell in zip(doc["cells"], results.cells, strict=True)
        if not cell.error or cell.summary
    ]
    measured = [(c, summary) for c, summary in measured if summary]
    if not measured:
        raise HistoryError(f"{path}: no measured cell to record")
    info = commit_info(repo, env.git_commit)
    run_id = _run_id(doc)
    already = HistoryError(
        f"{path}: this run (commit {info.commit[:12]}, started {results.started_at}) is "
        f"already in {db.label}; nothing was added"
    )
    try:
        _insert(db, run_id, info, results, doc, measured)
    except DuplicateRow:  # found by our check, or added by another runner at the same moment
        raise already from None
    return RunRecord(
        run_id, info.commit, info.order, env.hostname, results.started_at, len(measured)
    )


def _insert(
    db: Database,
    run_id: str,
    info: CommitInfo,
    results: RunResults,
    doc: dict[str, Any],
    measured: list[tuple[dict[str, Any], dict[str, float]]],
) -> None:
    env = results.environment
    with db.transaction():
        if db.execute("SELECT 1 FROM eventbench_runs WHERE run_id = ?", (run_id,)):
            raise DuplicateRow(run_id)
        db.execute(
            "INSERT INTO eventbench_runs (run_id, git_commit, commit_order, commit_time, "
            "commit_subject, hostname, started_at, results_schema, environment_json, "
            "parameters_json, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                info.commit,
                info.order,
                info.time,
                info.subject,
                env.hostname,
                results.started_at,
                results.schema_version,
                json.dumps(doc["environment"]),
                json.dumps(doc["parameters"], default=str),
                datetime.now(UTC).isoformat(timespec="seconds"),
            ),
        )
        db.executemany(
            "INSERT INTO eventbench_cells (run_id, scenario, backend, mode, size, "
            "summary_json, cell_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    run_id,
                    c["scenario"],
                    c["backend"],
                    c["mode"],
                    int(c["size"]),
                    json.dumps(summary),
                    json.dumps(c),
                )
                for c, summary in measured
            ],
        )


def list_runs(db: Database) -> list[RunRecord]:
    rows = db.execute(
        "SELECT r.run_id, r.git_commit, r.commit_order, r.hostname, r.started_at, "
        "(SELECT COUNT(*) FROM eventbench_cells c WHERE c.run_id = r.run_id) "
        "FROM eventbench_runs r ORDER BY r.commit_order, r.started_at"
    )
    return [RunRecord(str(a), str(b), int(c), str(d), str(e), int(f)) for a, b, c, d, e, f in rows]


# ------------------------------------------------------------------ series

_NOT_TRACKED_SUFFIXES = ("_q1", "_q3", "_min", "_max", "_p99_s")
# Not costs of their own: the same figure as total_s or instructions rescaled, or a count
# of samples.
_NOT_TRACKED = {"events_per_s", "instructions_per_event", "repeats"}


def tracked_metrics(summary: dict[str, Any]) -> list[str]:
    """The summary's figures worth a series: medians of costs (time, memory, counts),
    including ones later schemas add; quartiles and the rate derived from total_s are not."""
    return [
        key
        for key, value in summary.items()
        if isinstance(value, int | float)
        and key not in _NOT_TRACKED
        and not key.endswith(_NOT_TRACKED_SUFFIXES)
    ]


def machines(db: Database) -> dict[str, int]:
    """The machines runs were recorded from, with how many runs each."""
    rows = db.execute("SELECT hostname, COUNT(*) FROM eventbench_runs GROUP BY hostname")
    return {str(host): int(count) for host, count in sorted(rows)}


def load_series(db: Database, *, hostname: str | None = None) -> list[Series]:
    """Every (cell, metric) series in the database, optionally from one machine only.

    Runs of one cell with different scenario parameters (``-p payload_bytes=1024`` on
    some commits) measured different workloads: they are separate series, labelled by
    the parameters that differ (`Series.params`), never points of one series, where the
    change of workload would look like a step.
    """
    sql = (
        "SELECT r.git_commit, r.commit_order, r.commit_subject, c.scenario, c.backend, "
        "c.mode, c.size, c.summary_json, c.cell_json FROM eventbench_cells c "
        "JOIN eventbench_runs r ON r.run_id = c.run_id"
    )
    params: tuple[Any, ...] = ()
    if hostname is not None:
        sql += " WHERE r.hostname = ?"
        params = (hostname,)
    points: dict[tuple[str, str, str, int, str, str], dict[tuple[int, str], list[float]]] = {}
    subjects: dict[str, str] = {}
    workloads: dict[tuple[str, str, str, int], dict[str, dict[str, Any]]] = {}
    for (
        commit,
        order,
        subject,
        scenario,
        backend,
        mode,
        size,
        summary_json,
        cell_json,
    ) in db.execute(sql, params):
        subjects[str(commit)] = str(subject)
        summary = json.loads(summary_json)
        cell_params = json.loads(cell_json).get("params") or {}
        workload = json.dumps(cell_params, sort_keys=True, default=str)
        cell = (str(scenario), str(backend), str(mode), int(size))
        workloads.setdefault(cell, {})[workload] = cell_params
        for metric in tracked_metrics(summary):
            key = (*cell, metric, workload)
            points.setdefault(key, {}).setdefault((int(order), str(commit)), []).append(
                float(summary[metric])
            )
    out = []
    for key in sorted(points):
        by_commit = sorted(points[key].items())
        scenario, backend, mode, size, metric, workload = key
        out.append(
            Series(
                scenario,
                backend,
                mode,
                size,
                metric,
                commits=[c for (_, c), _ in by_commit],
                orders=[o for (o, _), _ in by_commit],
                subjects=[subjects[c] for (_, c), _ in by_commit],
                values=[statistics.median(v) for _, v in by_commit],
                runs=[len(v) for _, v in by_commit],
                params=_differing(workloads[scenario, backend, mode, size], workload),
            )
        )
    return out


def _differing(workloads: dict[str, dict[str, Any]], workload: str) -> str:
    """``workload``'s values of the parameters that differ between a cell's workloads
    ("payload_bytes=1024"); "" when the cell was only ever run one way."""
    if len(workloads) < 2:
        return ""
    names = sorted({k for p in workloads.values() for k in p})
    differ = [k for k in names if len({repr(p.get(k)) for p in workloads.values()}) > 1]
    mine = workloads[workload]
    return ", ".join(f"{k}={mine[k]!r}" if k in mine else f"{k} unset" for k in differ)
