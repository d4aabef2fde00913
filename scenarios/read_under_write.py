"""read-under-write: slow readers of a long stream while writers keep appending.

``writers`` tasks (W) append one event at a time, in turn to the stream being read
and to a stream of their own, pausing ``write_pause_ms`` between appends. Each run
has three phases: writers alone for ``baseline_s`` (the baseline), then ``readers``
readers each read the long stream (N = ``events`` events, written afresh for each
run before the clock starts, as writers change it) with a consumer
spinning ``consumer_us`` of CPU per event and then letting the event loop run (as an
async handler does: the writers' latency is then the store's, not the consumer's
hold on the loop), streamed or collected (the mode), then
writers alone again for ``tail_s`` (does the store return to normal?).

Per run: append latency p50/p99 in each phase (counters ``append_p50_baseline_s``,
``append_p99_reading_s``...; an append belongs to the reading phase if any of it
overlapped the reads, and those are the cell's own latencies); read correctness:
every reader must see exactly its snapshot, the events 1..n with ``version before
opening <= n <= version just after opening``, identical to the store's first n
events, or the cell fails; and the store's own figures
(`SupportsDiagnostics`) sampled every ``sample_ms`` as time series: on SQLite the WAL
file's size on disk (a read transaction held open stops checkpoints), on PostgreSQL
whether a session holds back the server's xmin horizon (``pg_stat_activity``), with
their peaks during the reads and values at the end as counters.

Each reader briefly takes a second connection (to read the stream's version) while
its read is open, so ``readers`` must be below ``pool_size``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

from harness.contract import ANY, NewEvent, RecordedEvent, StreamWrite
from scenarios._concurrent import (
    Sampler,
    busy_consumer,
    check_at_least,
    percentile,
    sampling,
    size_pool,
)
from scenarios.base import Outcome, Params, RunContext, Scenario, float_param, int_param
from scenarios.reads import batch_size

PARAMS: Params = {
    "events": 6000,
    "readers": 2,
    "writers": 4,
    "consumer_us": 50,
    "write_pause_ms": 2,
    "baseline_s": 0.3,
    "tail_s": 0.5,
    "sample_ms": 50,
    "pool_size": 10,
    "payload_bytes": 250,
    "batch_size": 0,
    "seed": 0,
}
"""batch_size 0 means the backend's own default."""

PHASES = ("baseline", "reading", "after")


def check(params: Params) -> None:
    check_at_least(params, 1, "events", "readers", "writers", "sample_ms", "pool_size")
    check_at_least(params, 1, "payload_bytes")
    check_at_least(params, 0, "consumer_us", "write_pause_ms", "batch_size", "seed")
    for name in ("baseline_s", "tail_s"):
        if float_param(params, name) < 0:
            raise ValueError(f"{name} cannot be negative, got {params[name]}")
    if int_param(params, "readers") >= int_param(params, "pool_size"):
        raise ValueError(
            f"readers ({params['readers']}) must be below pool_size ({params['pool_size']}): "
            "each reader takes a second connection to check its snapshot"
        )


LOAD_CHUNK = 1000


@dataclass(frozen=True)
class Prepared:
    stream_id: str
    pooled: bool


async def prepare(ctx: RunContext) -> Prepared:
    """A fresh stream of N events for this run (writers append to it, so no two runs,
    and no other cell, may share one), and the pool bounded; untimed."""
    pooled = await size_pool(ctx.store, int_param(ctx.params, "pool_size"))
    stream_id = f"rw-read-{ctx.run_index}-{uuid.uuid4().hex[:8]}"
    note = "x" * max(0, int_param(ctx.params, "payload_bytes") - 40)
    for lo in range(0, ctx.size, LOAD_CHUNK):
        chunk = [
            NewEvent("Seeded", {"seq": i, "amount": i % 1000, "note": note})
            for i in range(lo, min(ctx.size, lo + LOAD_CHUNK))
        ]
        await ctx.store.append(StreamWrite(stream_id, ANY, chunk))
    return Prepared(stream_id, pooled)


async def run(ctx: RunContext) -> Outcome:
    store = ctx.store
    params = ctx.params
    read_id = ctx.prepared.stream_id
    consume = busy_consumer(int_param(params, "consumer_us"))
    pause_s = int_param(params, "write_pause_ms") / 1000
    size = batch_size(ctx)
    clock = time.perf_counter
    tag = f"rw-{ctx.run_index}-{uuid.uuid4().hex[:8]}"
    note = "x" * max(0, int_param(params, "payload_bytes") - 40)
    spans: list[tuple[float, float]] = []  # (started, ended) of every append
    stop = asyncio.Event()

    async def writer(index: int) -> None:
        own = f"{tag}-w{index}"
        count = 0
        while not stop.is_set():
            target = read_id if count % 2 == 0 else own
            event = NewEvent("Written", {"writer": index, "seq": count, "note": note})
            started = clock()
            await store.append(StreamWrite(target, ANY, [event]))
            spans.append((started, clock()))
            count += 1
            await asyncio.sleep(pause_s)

    async def reader() -> list[RecordedEvent]:
        before = await store.stream_version(read_id)
        seen: list[RecordedEvent] = []
        if ctx.mode == "streamed":
            async with store.read_stream(read_id, batch_size=size) as stream:
                after = await store.stream_version(read_id)
                async for event in stream:
                    ctx.probe.first()
                    consume(event)
                    seen.append(event)
                    await asyncio.sleep(0)
        elif ctx.mode == "collected":
            events = await store.read_stream(read_id, batch_size=size).collect()
            after = await store.stream_version(read_id)
            ctx.probe.first()
            for event in events:
                consume(event)
                await asyncio.sleep(0)
            seen = events
        else:
            raise ValueError(f"unknown mode {ctx.mode!r}; use streamed or collected")
        check_snapshot(seen, before, after, read_id)
        return seen

    interval = int_param(params, "sample_ms") / 1000
    tasks: list[asyncio.Task[None]] = []
    async with sampling(store, interval) as sampler:
        began = clock()
        try:
            count = int_param(params, "writers")
            tasks = [asyncio.create_task(writer(i), name=f"writer {i}") for i in range(count)]
            await _sleep_unless_failed(float_param(params, "baseline_s"), tasks)
            sampler.mark("reads_began")
            reads_began = clock()
            reads = await asyncio.gather(*(reader() for _ in range(int_param(params, "readers"))))
            reads_ended = clock()
            sampler.mark("reads_ended")
            await _sleep_unless_failed(float_param(params, "tail_s"), tasks)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
    latencies = _by_phase(spans, reads_began, reads_ended)
    timeline = [(ended, ended - started) for started, ended in spans]
    reference = await store.read_stream(read_id).collect()
    for seen in reads:
        if [e.id for e in seen] != [e.id for e in reference[: len(seen)]]:
            raise AssertionError(f"a reader of {read_id} saw events the store does not hold")
    return Outcome(
        events=sum(len(seen) for seen in reads),
        latencies_s=tuple(latencies["reading"]),
        counters=_counters(latencies, sampler),
        series=_series(sampler, timeline, began, interval, int_param(params, "readers")),
    )


def _by_phase(
    spans: list[tuple[float, float]], reads_began: float, reads_ended: float
) -> dict[str, list[float]]:
    """Each append's latency under the phase it met: "reading" if any of it overlapped
    the reads (an append in flight when they began waited on them too, and short reads
    may well begin and end between two appends' starts), else the phase it ran in."""
    latencies: dict[str, list[float]] = {name: [] for name in PHASES}
    for started, ended in spans:
        if ended < reads_began:
            latencies["baseline"].append(ended - started)
        elif started > reads_ended:
            latencies["after"].append(ended - started)
        else:
            latencies["reading"].append(ended - started)
    return latencies


async def _sleep_unless_failed(seconds: float, tasks: list[asyncio.Task[None]]) -> None:
    """Wait ``seconds``, but raise at once if a writer failed meanwhile."""
    done, _ = await asyncio.wait(tasks, timeout=seconds, return_when=asyncio.FIRST_EXCEPTION)
    for task in done:
        task.result()


def check_snapshot(seen: list[RecordedEvent], before: int, after: int, stream_id: str) -> None:
    """The reader saw versions 1..n in order, with before <= n <= after: its snapshot."""
    for expected, event in enumerate(seen, start=1):
        if event.stream_version != expected:
            raise AssertionError(
                f"a read of {stream_id} gave version {event.stream_version} where "
                f"{expected} was due: events missing or out of order"
            )
    if not before <= len(seen) <= after:
        raise AssertionError(
            f"a read of {stream_id} returned {len(seen)} events; its snapshot held "
            f"between {before} and {after}: it read past its snapshot or ended short"
        )


def _counters(latencies: dict[str, list[float]], sampler: Sampler) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in PHASES:
        values = latencies[name]
        if values:
            out[f"append_p50_{name}_s"] = percentile(values, 0.5)
            out[f"append_p99_{name}_s"] = percentile(values, 0.99)
    began = sampler.marks.get("reads_began", 0.0)
    ended = sampler.marks.get("reads_ended", began)
    out["read_phase_s"] = ended - began
    for name in ("wal_bytes", "xmin_age", "xmin_held", "connections_in_use"):
        points = sampler.series.get(name)
        if not points:
            continue
        out[f"{name}_before"] = points[0][1]
        during = sampler.peak(name, began, ended)
        if during is not None:
            out[f"{name}_peak_reading"] = during
        out[f"{name}_end"] = points[-1][1]
    return out


def _series(
    sampler: Sampler,
    timeline: list[tuple[float, float]],
    began: float,
    interval: float,
    readers: int,
) -> dict[str, Any]:
    series: dict[str, Any] = dict(sampler.series)
    # The slowest append in each sampling window: a few hundred points, not thousands.
    windows: dict[int, float] = {}
    offset = began - sampler.started
    for ended, latency in timeline:
        window = int((ended - began + offset) / interval)
        windows[window] = max(windows.get(window, 0.0), latency)
    series["append_latency_max_s"] = [
        (round(w * interval, 4), value) for w, value in sorted(windows.items())
    ]
    start = sampler.marks.get("reads_began")
    end = sampler.marks.get("reads_ended")
    if start is not None and end is not None:
        last = sampler.now()
        start, end = round(start, 4), round(end, 4)
        series["readers_active"] = [
            (0.0, 0.0),
            (start, 0.0),
            (start, float(readers)),
            (end, float(readers)),
            (end, 0.0),
            (round(last, 4), 0.0),
        ]
    return series


SCENARIO = Scenario(
    name="read-under-write",
    summary="slow streamed readers of a long stream while W writers append (WAL, xmin, latency)",
    params=PARAMS,
    modes=lambda params: ("streamed", "collected"),
    run=run,
    prepare=prepare,
    sized=False,
    size_param="events",
    expected_events=lambda size, params: None,  # each reader checks its own snapshot
    check=check,
    tracks_memory=False,
    default=False,
)
