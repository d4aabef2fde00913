"""Splitting a plan into shards that run on separate machines (``eventbench run --shard i/n``).

A shard is a deterministic, cost-balanced part of the planned cells: every machine that
plans the same options computes the same split, with no coordination. Cells that read
the same seeded data (same backend, data layout and N) form a group that a shard seeds
once, as an unsharded run does. Groups are dealt out largest first to the least loaded
shard by the runner's own cost model (`estimate_s`, the one behind its ETA).

A group heavier than a shard's ideal share (total / n) is split into pieces of similar
cost, each seeding that data once in its shard, when that shortens the longest shard:
with groups kept whole, the 1M-event reads of one backend (about 3,000 s of the full
plan's 15,900 s estimate on SQLite, memory and PostgreSQL) made the longest of 8 shards
1.52x the ideal share and of 16 shards 3.04x; split, the longest is within 1.08x of it
for every n from 2 to 16, for 3 to 12 extra seedings (``python scripts/shard_balance.py``).

Each shard records in its results parameters which plan it belongs to (``shard``: its
index, the count and every planned cell key), so that `harness.results_merge` can check
that the shards it joins make up exactly one run.
"""

from __future__ import annotations

import math
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


def _cell_cost(cell: CellPlan, plan: Plan) -> float:
    # What the runner runs per cell (`harness.runner._tasks`), without seeding.
    kinds = ["time"] + (["memory"] if plan.memory_repeats and cell.tracks_memory else [])
    kinds += ["instructions"] if plan.instructions else []
    return sum(estimate_s(cell, kind, plan, seeded_here=False) * plan.rounds for kind in kinds)


def _group_weight(cells: list[CellPlan], plan: Plan) -> float:
    cost = sum(_cell_cost(cell, plan) for cell in cells)
    first = cells[0]
    if first.layout is not None:
        cost += seed_estimate_s(first.size)
    return cost


def _split(group: list[CellPlan], parts: int, plan: Plan) -> list[list[CellPlan]]:
    """``group`` dealt into ``parts`` pieces of similar cost (largest cell first)."""
    position = {cell.key: n for n, cell in enumerate(group)}
    order = sorted(group, key=lambda c: (-_cell_cost(c, plan), position[c.key]))
    loads = [0.0] * parts
    pieces: list[list[CellPlan]] = [[] for _ in range(parts)]
    for cell in order:
        target = min(range(parts), key=lambda p: (loads[p], p))
        loads[target] += _cell_cost(cell, plan)
        pieces[target].append(cell)
    return [sorted(piece, key=lambda c: position[c.key]) for piece in pieces if piece]


def _deal(pieces: list[list[CellPlan]], plan: Plan, count: int) -> list[list[int]]:
    """Longest-processing-time first: each piece, largest first, to the least loaded shard."""
    weights = [_group_weight(piece, plan) for piece in pieces]
    # Largest first, ties in plan order: the same split on every machine.
    order = sorted(range(len(pieces)), key=lambda i: (-weights[i], i))
    loads = [0.0] * count
    members: list[list[int]] = [[] for _ in range(count)]
    for i in order:
        target = min(range(count), key=lambda s: (loads[s], s))
        loads[target] += weights[i]
        members[target].append(i)
    return members


def _makespan(pieces: list[list[CellPlan]], members: list[list[int]], plan: Plan) -> float:
    return max(sum(_group_weight(pieces[i], plan) for i in chosen) for chosen in members)


def _assign(plan: Plan, count: int) -> list[list[CellPlan]]:
    groups = _groups(plan)
    ideal = sum(_group_weight(g, plan) for g in groups) / count
    # Candidates: groups whole, and groups heavier than the ideal share split into
    # ceil(weight / ideal) + extra pieces (each piece seeds its data again). The one
    # with the shortest longest shard wins; ties keep groups whole (fewer seedings).
    candidates = [groups]
    for extra in (0, 1, 2):
        pieces = []
        for group in groups:
            weight = _group_weight(group, plan)
            parts = min(len(group), math.ceil(weight / ideal) + extra) if weight > ideal else 1
            pieces.extend(_split(group, parts, plan) if parts > 1 else [group])
        candidates.append(pieces)
    best: tuple[float, list[list[CellPlan]], list[list[int]]] | None = None
    for pieces in candidates:
        members = _deal(pieces, plan, count)
        span = _makespan(pieces, members, plan)
        if best is None or span < best[0] * (1 - 1e-9):
            best = (span, pieces, members)
    assert best is not None
    _, pieces, members = best
    position = {cell.key: n for n, cell in enumerate(plan.cells)}
    return [
        sorted((cell for i in chosen for cell in pieces[i]), key=lambda c: position[c.key])
        for chosen in members
    ]


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
