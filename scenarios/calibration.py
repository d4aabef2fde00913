"""calibration: workloads with known answers, to prove the instruments.

``alloc-bulk`` holds one buffer of ``alloc_bytes`` bytes; ``alloc-small`` holds many
small objects adding up to about ``alloc_bytes`` (so that tracing Python's own
allocator is checked too); ``sleep`` waits ``sleep_s`` seconds, marking the first
event half way. `truth` gives the right answers; tests/test_calibration.py compares
what the runner measured against them.
"""

from __future__ import annotations

import sys
import time

from scenarios.base import Outcome, Params, RunContext, Scenario, float_param, int_param

PARAMS: Params = {"alloc_bytes": 16_000_000, "small_bytes": 200, "sleep_s": 0.05}


def small_objects(params: Params) -> int:
    per_object = sys.getsizeof(bytes(int_param(params, "small_bytes")))
    return max(1, int_param(params, "alloc_bytes") // per_object)


def truth(mode: str, params: Params) -> dict[str, float]:
    """The true peak bytes held (alloc modes: by Python's own accounting, sys.getsizeof),
    allocations made, or seconds waited (sleep)."""
    if mode == "alloc-bulk":
        return {"peak_bytes": float(sys.getsizeof(bytearray(int_param(params, "alloc_bytes"))))}
    if mode == "alloc-small":
        count = small_objects(params)
        per_object = sys.getsizeof(bytes(int_param(params, "small_bytes")))
        holder = sys.getsizeof([None] * count)
        return {"peak_bytes": float(count * per_object + holder), "allocations": count + 1.0}
    sleep_s = float_param(params, "sleep_s")
    return {"total_s": sleep_s, "first_event_s": sleep_s / 2}


async def run(ctx: RunContext) -> Outcome:
    params = ctx.params
    if ctx.mode == "alloc-bulk":
        held = bytearray(int_param(params, "alloc_bytes"))
        ctx.probe.first()
        return Outcome(events=1, result=len(held))
    if ctx.mode == "alloc-small":
        size = int_param(params, "small_bytes")
        count = small_objects(params)
        # bytes(n) with n > 1 is a fresh object each time (no interning), so the
        # list holds `count` distinct objects of a known size. The indices were made
        # before tracking (see prepare): looping over range() here would allocate an
        # int per index and blur the allocation count.
        indices: list[int] = ctx.prepared
        objects: list[bytes | None] = [None] * count
        for i in indices:
            objects[i] = bytes(size)
        ctx.probe.first()
        return Outcome(events=count, result=len(objects))
    if ctx.mode == "sleep":
        half = float_param(params, "sleep_s") / 2
        # A blocking sleep on purpose: the known answer must not depend on how
        # promptly the event loop wakes a task.
        time.sleep(half)  # noqa: ASYNC251
        ctx.probe.first()
        time.sleep(half)  # noqa: ASYNC251
        return Outcome(events=1)
    raise ValueError(f"calibration has modes alloc-bulk, alloc-small and sleep, not {ctx.mode!r}")


async def prepare(ctx: RunContext) -> list[int] | None:
    if ctx.mode == "alloc-small":
        return list(range(small_objects(ctx.params)))
    return None


SCENARIO = Scenario(
    name="calibration",
    summary="known answers (bytes held, time waited) that prove the instruments",
    params=PARAMS,
    modes=lambda params: ("alloc-bulk", "alloc-small", "sleep"),
    run=run,
    prepare=prepare,
    sized=False,
    size_param="alloc_bytes",
    default=False,
    expected_events=lambda size, params: None,
)
