"""Joining the results of shards (``eventbench run --shard i/n``) into one results file.

The merged document is what one unsharded run of the same plan would have written: the
cells in plan order, growth fits recomputed over all of them, the parameters without the
``shard`` record, seeding timings of every shard. The environment is the first shard's;
``started_at``/``finished_at`` span all shards and ``duration_s`` is the longest shard
(the wall time of shards that ran side by side).

Merging refuses anything that would make that document a lie: shards of different
commits, schema, plan parameters or measured software; a shard file given twice; a
planned cell no shard measured, or measured twice. Shards from different machines are
joined with a warning (their timings are then not comparable with each other).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.analysis.stats import fit_growth
from harness.results import RunResults, load_results

__all__ = ["MergeError", "Merged", "merge_results", "merge_files"]

PER_SHARD_PARAMETERS = ("shard", "seeding", "skipped_backends", "backend_info")
"""Parameters that legitimately differ between shards of one plan."""

MACHINE_FIELDS = ("hostname", "platform", "machine", "cpu_model", "cpu_count", "memory_bytes")


class MergeError(ValueError):
    """The given shards do not make up exactly one run; the message says which file and why."""


@dataclass(frozen=True)
class Merged:
    results: RunResults
    warnings: list[str] = field(default_factory=list)


def _shard_of(name: str, results: RunResults) -> dict[str, Any]:
    shard = results.parameters.get("shard")
    if not isinstance(shard, dict) or not {"index", "count", "planned", "cells"} <= set(shard):
        raise MergeError(
            f"{name}: not a shard's results (no `shard` record in its parameters); "
            "make shards with `eventbench run --shard I/N`"
        )
    return shard


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON values differ (the first few, for a message)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in a or key not in b:
                out.append(path)
            else:
                out.extend(_differences(a[key], b[key], path))
        return out
    return [] if a == b else [prefix or "(value)"]


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def merge_results(shards: Sequence[tuple[str, RunResults]]) -> Merged:
    """Merge ``(name, results)`` pairs, ``name`` being how messages call each (its path)."""
    if not shards:
        raise MergeError("give at least one shard results file to merge")
    warnings: list[str] = []
    records = [(name, results, _shard_of(name, results)) for name, results in shards]
    first_name, first, first_shard = min(records, key=lambda r: int(r[2]["index"]))
    count = int(first_shard["count"])
    planned = [tuple(key) for key in first_shard["planned"]]
    base_params = {k: v for k, v in first.parameters.items() if k not in PER_SHARD_PARAMETERS}
    by_index: dict[int, str] = {}
    for name, results, shard in records:
        if results.schema_version != first.schema_version:
            raise MergeError(
                f"{name}: results schema {results.schema_version} differs from "
                f"{first_name}'s {first.schema_version}; rerun the shards with one eventbench"
            )
        env, env0 = results.environment, first.environment
        if (env.git_commit, env.git_dirty) != (env0.git_commit, env0.git_dirty):
            raise MergeError(
                f"{name}: commit {env.git_commit}{' (dirty)' if env.git_dirty else ''} differs "
                f"from {first_name}'s {env0.git_commit}{' (dirty)' if env0.git_dirty else ''}; "
                "merge only shards of one commit"
            )
        if shard["count"] != count or [tuple(k) for k in shard["planned"]] != planned:
            raise MergeError(
                f"{name}: shard {shard['index']}/{shard['count']} belongs to a different plan "
                f"than {first_name} (shard {first_shard['index']}/{count}); "
                "run every shard with the same options"
            )
        params = {k: v for k, v in results.parameters.items() if k not in PER_SHARD_PARAMETERS}
        diff = _differences(base_params, params)
        if diff:
            where = diff[0]
            one: Any = first.parameters
            other: Any = results.parameters
            for part in where.split("."):
                one = one.get(part) if isinstance(one, dict) else None
                other = other.get(part) if isinstance(other, dict) else None
            raise MergeError(
                f"{name}: parameters differ from {first_name}'s: {where} is {_show(other)} "
                f"there, {_show(one)} in {first_name}"
                + (f" (and {len(diff) - 1} more)" if len(diff) > 1 else "")
                + "; run every shard with the same options"
            )
        for label, mine, theirs in (
            ("python", env.python, env0.python),
            ("packages", env.packages, env0.packages),
        ):
            if mine != theirs:
                what = ", ".join(_differences(theirs, mine)) or label
                raise MergeError(
                    f"{name}: {label} differ from {first_name}'s ({what}); the shards measured "
                    "different software: run them in one environment"
                )
        if results.interrupted:
            raise MergeError(f"{name}: this shard was interrupted (Ctrl-C); run it again")
        index = int(shard["index"])
        if index in by_index:
            raise MergeError(
                f"{name}: shard {index}/{count} is also given as {by_index[index]}; "
                "give each shard once"
            )
        by_index[index] = name
        moved = [f for f in MACHINE_FIELDS if getattr(env, f) != getattr(env0, f)]
        if moved:
            warnings.append(
                f"{name} ran on another machine than {first_name} ({', '.join(moved)} "
                "differ): timings of cells from different shards are not comparable"
            )
    missing_shards = sorted(set(range(1, count + 1)) - set(by_index))
    if missing_shards:
        raise MergeError(
            f"shard(s) {', '.join(f'{i}/{count}' for i in missing_shards)} missing: "
            f"{len(planned)} planned cells need all {count} shard files"
        )

    owner: dict[tuple[Any, ...], str] = {}
    measured: dict[tuple[Any, ...], Any] = {}
    for name, results, shard in records:
        for key in map(tuple, shard["cells"]):
            if key in owner:
                raise MergeError(
                    f"{name}: cell {'/'.join(map(str, key))} is planned in both {owner[key]} "
                    "and this shard; the shards were split differently: rerun with one version"
                )
            owner[key] = name
        assigned = {tuple(k) for k in shard["cells"]}
        for cell in results.cells:
            if cell.key not in assigned:
                raise MergeError(
                    f"{name}: holds cell {'/'.join(map(str, cell.key))} that its shard "
                    "was not given; the file was edited or is from another plan"
                )
            if cell.key in measured:
                raise MergeError(
                    f"{name}: cell {'/'.join(map(str, cell.key))} is measured twice; "
                    "give each shard once"
                )
            measured[cell.key] = cell
        skipped = results.parameters.get("skipped_backends") or {}
        for key in assigned:
            if key not in {c.key for c in results.cells} and key[1] in skipped:
                raise MergeError(
                    f"{name}: planned cell {'/'.join(map(str, key))} was not measured: backend "
                    f"{key[1]} was unavailable there ({skipped[key[1]]}); rerun that shard "
                    "where it is available"
                )
    unowned = [key for key in planned if key not in owner]
    if unowned:
        raise MergeError(
            f"planned cell {'/'.join(map(str, unowned[0]))} is in no shard"
            + (f" (and {len(unowned) - 1} more)" if len(unowned) > 1 else "")
        )

    cells = [measured[key] for key in planned if key in measured]
    ordered = sorted(records, key=lambda r: int(r[2]["index"]))
    parameters = dict(first.parameters)
    parameters.pop("shard", None)
    parameters["seeding"] = [t for _, r, _ in ordered for t in r.parameters.get("seeding", [])]
    parameters["skipped_backends"] = {
        k: v for _, r, _ in ordered for k, v in (r.parameters.get("skipped_backends") or {}).items()
    }
    infos: dict[str, Any] = {}
    for _, r, _ in ordered:
        for info in r.parameters.get("backend_info") or []:
            infos.setdefault(str(info.get("name")), info)
    parameters["backend_info"] = [
        infos[b] for b in first.parameters.get("backends", []) if b in infos
    ] + [info for name, info in infos.items() if name not in first.parameters.get("backends", [])]
    found: dict[str, str] = {}
    for _, r, _ in ordered:
        found.update({k: v for k, v in r.environment.servers.items() if k not in found})
    # In the order an unsharded run probes them: the plan's backends.
    rank = {b: n for n, b in enumerate(first.parameters.get("backends", []))}
    servers = dict(sorted(found.items(), key=lambda kv: rank.get(kv[0], len(rank))))
    times = [r for _, r, _ in ordered]
    merged = replace(
        first,
        environment=replace(first.environment, servers=servers),
        parameters=parameters,
        cells=cells,
        fits=fit_growth(cells),
        started_at=min((r.started_at for r in times if r.started_at), default=""),
        finished_at=max((r.finished_at for r in times if r.finished_at), default=""),
        duration_s=max(r.duration_s for r in times),
        interrupted=False,
    )
    return Merged(merged, warnings)


def merge_files(paths: Sequence[Path]) -> Merged:
    """`merge_results` of results files (a missing or unreadable one is a `ResultsError`)."""
    return merge_results([(str(path), load_results(path)) for path in paths])
