"""concurrent-readers: K readers at once in one process, each reading its own stream.

Every reader reads one stream of ``events_per_reader`` events (M) and hands each
event to a consumer that spins ``c`` microseconds of CPU (``consumer_us``; a busy
loop, as real work is, not a sleep). The store's connection pool is bounded to
``pool_size`` through `SupportsPoolSize` (SQLite: reader connections; PostgreSQL:
the asyncpg pool); a store without a pool reads as it always does.

One mode per (read, K, c): ``streamed-k32-c20us`` is 32 streamed readers with a
20 us consumer. What it shows: a streamed read holds its connection while its
consumer works, so with slow consumers and K above the pool size readers queue for
connections; a collected read gives its connection back after one fetch but every
reader holds its whole stream in memory at once.

N, the cell's size, is the data seeded: max(K) x M events. Per run: events = K x M
(so events/s is the total throughput), one latency per read
(start to last event), and counters: each read's time to first event (p50, p99),
the time spent waiting for a pooled connection as the store itself measured it
(`SupportsDiagnostics` ``pool_wait_s_total``: the sum over all reads and its mean per
connection handed out), and the pool size applied (0 where the store has no pool).
Every reader must see exactly M events, or the cell fails.

The data: ``max(readers)`` streams of M events each, interleaved in the global log,
seeded once per backend; a cell with K readers reads the first K streams.
"""

from __future__ import annotations

import asyncio
import re
import time

from scenarios._concurrent import busy_consumer, check_at_least, percentile, sampling, size_pool
from scenarios.base import Layout, Outcome, Params, RunContext, Scenario, int_param
from scenarios.reads import batch_size

PARAMS: Params = {
    "readers": (1, 8, 32),
    "events_per_reader": 1000,
    "consumer_us": (0, 20),
    "pool_size": 10,
    "payload_bytes": 250,
    "batch_size": 0,
    "seed": 0,
}
"""batch_size 0 means the backend's own default."""

READS = ("collected", "streamed")
_MODE = re.compile(r"(collected|streamed)-k(\d+)-c(\d+)us")


def _ints(params: Params, name: str) -> tuple[int, ...]:
    value = params[name]
    return value if isinstance(value, tuple) else (int_param(params, name),)


def check(params: Params) -> None:
    check_at_least(params, 1, "readers", "events_per_reader", "pool_size", "payload_bytes")
    check_at_least(params, 0, "consumer_us", "batch_size", "seed")


def modes(params: Params) -> tuple[str, ...]:
    return tuple(
        f"{read}-k{k}-c{c}us"
        for k in _ints(params, "readers")
        for c in _ints(params, "consumer_us")
        for read in READS
    )


def parse_mode(mode: str) -> tuple[str, int, int]:
    """(read, K, consumer microseconds) of a mode name such as ``streamed-k8-c20us``."""
    found = _MODE.fullmatch(mode)
    if found is None:
        raise ValueError(f"not a concurrent-readers mode: {mode!r} (e.g. 'streamed-k8-c20us')")
    return found[1], int(found[2]), int(found[3])


def layout(params: Params) -> Layout:
    return Layout(
        streams=max(_ints(params, "readers")),
        payload_bytes=int_param(params, "payload_bytes"),
        seed=int_param(params, "seed"),
    )


def total_events(params: Params) -> int:
    return max(_ints(params, "readers")) * int_param(params, "events_per_reader")


async def prepare(ctx: RunContext) -> bool:
    """Bound the pool before the clock starts (a no-op when it already has that size)."""
    return await size_pool(ctx.store, int_param(ctx.params, "pool_size"))


async def run(ctx: RunContext) -> Outcome:
    assert ctx.layout is not None
    read, k, cost_us = parse_mode(ctx.mode)
    m = int_param(ctx.params, "events_per_reader")
    size = batch_size(ctx)
    consume = busy_consumer(cost_us)
    store = ctx.store
    clock = time.perf_counter
    latencies: list[float] = []
    firsts: list[float] = []

    async def reader(index: int) -> int:
        stream_id = ctx.layout.stream_id(index) if ctx.layout else ""
        started = clock()
        first: float | None = None
        count = 0
        if read == "collected":
            events = await store.read_stream(stream_id, batch_size=size).collect()
            first = clock()
            ctx.probe.first()
            for event in events:
                consume(event)
            count = len(events)
            del events
        else:
            async with store.read_stream(stream_id, batch_size=size) as stream:
                async for event in stream:
                    if first is None:
                        first = clock()
                        ctx.probe.first()
                    consume(event)
                    count += 1
        ended = clock()
        if count != m:
            raise AssertionError(f"reader {index} read {count} events of {stream_id}, not {m}")
        latencies.append(ended - started)
        firsts.append((first or ended) - started)
        return count

    async with sampling(store, None) as sampler:
        counts = await asyncio.gather(*(reader(i) for i in range(k)))
    counters = {
        "first_event_p50_s": percentile(firsts, 0.5),
        "first_event_p99_s": percentile(firsts, 0.99),
        "pool_size": float(int_param(ctx.params, "pool_size") if ctx.prepared else 0),
    }
    waited = sampler.delta("pool_wait_s_total")
    handed = sampler.delta("pool_acquires_total")
    if waited is not None:
        counters["pool_wait_s"] = waited
        counters["pool_wait_mean_s"] = waited / handed if handed else 0.0
    return Outcome(events=sum(counts), latencies_s=tuple(latencies), counters=counters)


SCENARIO = Scenario(
    name="concurrent-readers",
    summary="K readers at once, each its own stream, slow consumers, a bounded connection pool",
    params=PARAMS,
    modes=modes,
    run=run,
    layout=layout,
    prepare=prepare,
    sized=False,
    size_param=total_events,
    expected_events=lambda size, params: None,  # each reader checks its own count
    check=check,
    default=False,
)
