"""Splitting a plan into shards that run on separate machines (``eventbench run --shard i/n``).

A shard is a deterministic, cost-balanced part of the planned cells: every machine that
plans the same options computes the same split, with no coordination. Cells that read
the same seeded data (same backend, data layout and N) stay in one shard, so that data is
seeded once per shard and backend, as in an unsharded run. Groups are dealt out largest
first to the least loaded shard (by the runner's own cost model, `estimate_s`).

Each shard records in its results parameters which plan it belongs to (``shard``: its
index, the count and every planned cell key), so that `harness.results_merge` can check
that the shards it joins make up exactly one run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from harness.runner import CellPlan, Plan, PlanError, estimate_s, seed_estimate_s

__all__ = ["Shard", "parse_shard", "plan_cell_keys", "shard_plan", "shard_weights"]


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"2/5"`` -> ``Shard(2, 5)``; anything else is a `PlanError` that says what to write."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if match is None:
        raise PlanError(f"--shard {text!r} is not I/N (e.g. --shard 1/4)")
    index, count = int(match[1]), int(match[2])
    if count < 1 or not 1 <= index <= count:
        raise PlanError(f"--shard {text!r}: I must be between 1 and N (e.g. 1/4 .. 4/4)")
    return Shard(index, count)


def plan_cell_keys(plan: Plan) -> list[list[str | int]]:
    """Every planned cell's key, in plan order, as JSON-ready lists."""
    return [list(cell.key) for cell in plan.cells]


def _groups(plan: Plan) -> list[list[CellPlan]]:
    # Cells reading the same seeded data: a shard seeds it once for all of them.
    groups: dict[tuple[str, ...], list[CellPlan]] = {}
    for cell in plan.cells:
        if cell.layout is not None:
            key: tuple[str, ...] = ("seed", cell.backend, cell.layout.key(cell.size))
        else:
            key = ("cell", *map(str, cell.key))
        groups.setdefault(key, []).append(cell)
    return list(groups.values())


def _group_weight(cells: list[CellPlan], plan: Plan) -> float:
    kinds = ["time"] + (["memory"] if plan.memory_repeats else [])
    cost = sum(
        estimate_s(cell, kind, plan, seeded_here=False) * plan.rounds
        for cell in cells
        for kind in kinds
    )
    first = cells[0]
    if first.layout is not None:
        cost += seed_estimate_s(first.size)
    return cost


def _assign(plan: Plan, count: int) -> list[list[CellPlan]]:
    groups = _groups(plan)
    weights = [_group_weight(group, plan) for group in groups]
    # Largest first, ties in plan order: the same split on every machine.
    order = sorted(range(len(groups)), key=lambda i: (-weights[i], i))
    loads = [0.0] * count
    members: list[list[int]] = [[] for _ in range(count)]
    for i in order:
        target = min(range(count), key=lambda s: (loads[s], s))
        loads[target] += weights[i]
        members[target].append(i)
    position = {cell.key: n for n, cell in enumerate(plan.cells)}
    shards = []
    for chosen in members:
        cells = [cell for i in chosen for cell in groups[i]]
        shards.append(sorted(cells, key=lambda c: position[c.key]))
    return shards


def shard_weights(plan: Plan, count: int) -> list[float]:
    """The estimated cost of each of ``count`` shards (what the split balances)."""
    return [
        sum(_group_weight(group, plan) for group in _groups(replace(plan, cells=tuple(cells))))
        for cells in _assign(plan, count)
    ]


def shard_plan(plan: Plan, shard: Shard) -> Plan:
    """The part of ``plan`` that ``shard`` runs, recording the whole plan it belongs to.

    A shard may be empty when there are more shards than groups of cells; its results
    then hold no cells, and merging still accounts for every planned cell.
    """
    cells = _assign(plan, shard.count)[shard.index - 1]
    parameters = {
        **plan.parameters,
        "shard": {
            "index": shard.index,
            "count": shard.count,
            "planned": plan_cell_keys(plan),
            "cells": [list(cell.key) for cell in cells],
        },
    }
    return replace(plan, cells=tuple(cells), parameters=parameters)
