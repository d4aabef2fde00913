"""Splitting a plan into shards that run on separate machines (``eventbench run --shard i/n``).

A shard is a deterministic, cost-balanced part of the planned cells: every machine that
plans the same options computes the same split, with no coordination. Cells that read
the same seeded data (same backend, data layout and N) form a group that a shard seeds
once, as an unsharded run does. Groups are dealt out largest first to the least loaded
shard by the runner's own cost model (`estimate_s`, the one behind its ETA).

A group heavier than a shard's ideal share (total / n) is split into pieces of similar
cost, each seeding that data once in its shard, when that shortens the longest shard,
and lighter groups are split too when whole ones leave gaps; after dealing, pieces are
moved or swapped off the longest shard while that shortens it. With groups kept whole,
the 1M-event reads of one backend (about 4,000 s of the full plan's 19,300 s estimate
on SQLite, memory and PostgreSQL) made the longest of 8 shards 1.67x the ideal share
and of 16 shards 3.34x; split, the longest is within 1.06x of it for every n from 2 to
16 except 14 (1.11x: thirty indivisible 500-s cells, so two shards run three), for 3 to
30 extra seedings (``python scripts/shard_balance.py``).

Each shard records in its results parameters which plan it belongs to (``shard``: its
index, the count and every planned cell key), so that `harness.results_merge` can check
that the shards it joins make up exactly one run.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from harness.runner.plan import CellPlan, Plan, PlanError, estimate_s, seed_estimate_s

__all__ = ["Shard", "cell_cost_s", "parse_shard", "plan_cell_keys", "shard_plan", "shard_weights"]


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


def cell_cost_s(cell: CellPlan, plan: Plan) -> float:
    """Estimated seconds of the workers one cell runs (as `harness.runner._tasks` plans
    them), without seeding."""
    kinds = ["time"] + (["memory"] if plan.memory_repeats and cell.tracks_memory else [])
    kinds += ["instructions"] if plan.instructions else []
    return sum(estimate_s(cell, kind, plan, seeded_here=False) * plan.rounds for kind in kinds)


def _group_weight(cells: list[CellPlan], plan: Plan) -> float:
    cost = sum(cell_cost_s(cell, plan) for cell in cells)
    first = cells[0]
    if first.layout is not None:
        cost += seed_estimate_s(first.size)
    return cost


def _split(group: list[CellPlan], parts: int, plan: Plan) -> list[list[CellPlan]]:
    """``group`` dealt into ``parts`` pieces of similar cost (largest cell first)."""
    position = {cell.key: n for n, cell in enumerate(group)}
    order = sorted(group, key=lambda c: (-cell_cost_s(c, plan), position[c.key]))
    loads = [0.0] * parts
    pieces: list[list[CellPlan]] = [[] for _ in range(parts)]
    for cell in order:
        target = min(range(parts), key=lambda p: (loads[p], p))
        loads[target] += cell_cost_s(cell, plan)
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
    _improve(weights, loads, members)
    return members


def _improve(weights: list[float], loads: list[float], members: list[list[int]]) -> None:
    """Move or swap pieces off the longest shard while that shortens it (LPT alone can
    leave a shard 10-15% over the ideal share when a few heavy pieces fit badly)."""
    for _ in range(10 * len(weights) + 10):
        longest = max(range(len(loads)), key=lambda s: (loads[s], -s))
        best: tuple[float, float, int, int, int | None] | None = None
        for other in range(len(loads)):
            if other == longest:
                continue
            for a in members[longest]:
                # Move a, or swap it with a lighter piece b of the other shard.
                for b in [None, *members[other]]:
                    delta = weights[a] - (weights[b] if b is not None else 0.0)
                    if delta <= 0:
                        continue
                    span = max(loads[longest] - delta, loads[other] + delta)
                    if span < loads[longest] - 1e-9 and (best is None or span < best[0]):
                        best = (span, delta, other, a, b)
        if best is None:
            return
        _, delta, other, a, b = best
        members[longest].remove(a)
        members[other].append(a)
        if b is not None:
            members[other].remove(b)
            members[longest].append(b)
        loads[longest] -= delta
        loads[other] += delta


def _makespan(pieces: list[list[CellPlan]], members: list[list[int]], plan: Plan) -> float:
    return max(sum(_group_weight(pieces[i], plan) for i in chosen) for chosen in members)


def _assign(plan: Plan, count: int) -> list[list[CellPlan]]:
    groups = _groups(plan)
    ideal = sum(_group_weight(g, plan) for g in groups) / count
    # Candidates: groups whole, and groups heavier than the ideal share split into
    # ceil(weight / ideal) + extra pieces (each piece seeds its data again). The one
    # with the shortest longest shard wins; ties keep groups whole (fewer seedings).
    # Splitting groups a little lighter than the ideal share too lets LPT fill the
    # gaps that a few indivisible heavy pieces leave (e.g. 11 or 15 shards of --full).
    candidates = [groups]
    for heavy in (1.0, 0.75, 0.5, 0.25):
        for extra in (0, 1, 2, 3, len(plan.cells)):
            pieces = []
            for group in groups:
                weight = _group_weight(group, plan)
                parts = (
                    min(len(group), math.ceil(weight / ideal) + extra)
                    if weight > heavy * ideal
                    else 1
                )
                pieces.extend(_split(group, parts, plan) if parts > 1 else [group])
            candidates.append(pieces)
    best: tuple[float, list[list[CellPlan]], list[list[int]]] | None = None
    tried: set[tuple[tuple[tuple[str, str, str, int], ...], ...]] = set()
    for pieces in candidates:
        # Several settings often split the same way: deal each distinct split once.
        shape = tuple(tuple(cell.key for cell in piece) for piece in pieces)
        if shape in tried:
            continue
        tried.add(shape)
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
