"""append: throughput and latency of appends, by batch size and under contention.

``batch-B`` appends ``events`` events to a fresh stream in appends of B events, each
with the exact expected version (optimistic concurrency as an application uses it).
``contention`` has ``writers`` tasks appending one event at a time to one shared
stream; each reads the stream's version, appends expecting it, and on
`WrongExpectedVersion` backs off (jittered, exponential from ``backoff_s``), reads
again and retries. Retries are counted per run.

The events are built before the clock starts (see ``prepare``), so the time is the
store's, not the cost of making UUIDs.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid

from harness.contract import NO_STREAM, NewEvent, StreamWrite, WrongExpectedVersion
from scenarios.base import Outcome, Params, RunContext, Scenario, float_param, int_param

PARAMS: Params = {
    "events": 2000,
    "batch_sizes": (1, 10, 100, 1000),
    "writers": 4,
    "payload_bytes": 250,
    "max_retries": 1000,
    "backoff_s": 0.0001,
}


def modes(params: Params) -> tuple[str, ...]:
    sizes = params["batch_sizes"]
    assert isinstance(sizes, tuple)
    return (*(f"batch-{size}" for size in sizes), "contention")


def make_events(count: int, payload_bytes: int) -> list[NewEvent]:
    note = "x" * payload_bytes
    return [
        NewEvent("Deposited", {"seq": i, "amount": i % 1000, "note": note}) for i in range(count)
    ]


async def prepare(ctx: RunContext) -> list[NewEvent]:
    return make_events(ctx.size, int_param(ctx.params, "payload_bytes"))


async def run(ctx: RunContext) -> Outcome:
    events: list[NewEvent] = ctx.prepared
    stream_id = f"append-{ctx.run_index}-{uuid.uuid4().hex[:12]}"
    if ctx.mode == "contention":
        return await contended(ctx, stream_id, events)
    batch = int(ctx.mode.removeprefix("batch-"))
    latencies: list[float] = []
    version = 0
    clock = time.perf_counter
    for lo in range(0, len(events), batch):
        chunk = events[lo : lo + batch]
        started = clock()
        result = await ctx.store.append(StreamWrite(stream_id, version or NO_STREAM, chunk))
        latencies.append(clock() - started)
        if not lo:
            ctx.probe.first()
        version = result.versions[stream_id]
    return Outcome(events=version, latencies_s=tuple(latencies))


async def contended(ctx: RunContext, stream_id: str, events: list[NewEvent]) -> Outcome:
    writers = int_param(ctx.params, "writers")
    max_retries = int_param(ctx.params, "max_retries")
    backoff_s = float_param(ctx.params, "backoff_s")
    latencies: list[float] = []
    retries = 0
    clock = time.perf_counter

    async def writer(mine: list[NewEvent]) -> int:
        nonlocal retries
        written = 0
        for event in mine:
            started = clock()
            for attempt in range(max_retries + 1):
                version = await ctx.store.stream_version(stream_id)
                try:
                    await ctx.store.append(StreamWrite(stream_id, version or NO_STREAM, [event]))
                    break
                except WrongExpectedVersion:
                    retries += 1
                    # Jittered exponential back-off, as a real client would: without
                    # it one unlucky writer can lose the race again and again.
                    await asyncio.sleep(random.uniform(0, backoff_s * 2 ** min(attempt, 8)))
            else:
                raise RuntimeError(
                    f"a writer gave up after {max_retries} retries; raise -p max_retries"
                )
            latencies.append(clock() - started)
            ctx.probe.first()
            written += 1
        return written

    shares = [events[i::writers] for i in range(writers)]
    written = await asyncio.gather(*(writer(share) for share in shares))
    return Outcome(events=sum(written), latencies_s=tuple(latencies), counters={"retries": retries})


SCENARIO = Scenario(
    name="append",
    summary="append throughput and latency by batch size, and contended appends with retries",
    params=PARAMS,
    modes=modes,
    run=run,
    prepare=prepare,
    sized=False,
    size_param="events",
)
