"""Streaming: a streamed read holds about one batch, not the stream, and yields its first
event before the whole stream was fetched and decoded.

This is the property eventbench exists to protect, so it is checked here, without the
runner. Each check measures reads of a short and a long stream (read_stream and
read_all, at the store's own default batch size) with `tracemalloc`: it counts every
allocation the interpreter makes, in every thread (a driver's I/O thread included),
and its figures are the same from run to run, unlike timings on a busy machine.

The long stream is ten times the short one. A streaming store's peak is about one batch
(plus what its driver prefetches) at both lengths; a buffering store's grows tenfold.
Growth is judged in "events' worth": the memory one more event costs in a collected
read of the same store, so the limits hold for small and large events alike and for
any store's batch size up to a few thousand events.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from harness.conformance import rules
from harness.conformance.core import CheckContext, Recorder, check, new_events
from harness.contract import EventStream, StreamWrite

SMALL = 2_000
LARGE = 20_000
GROWTH = 1.5
"""A streamed read of LARGE events may peak at GROWTH times that of SMALL events..."""
BATCH_ALLOWANCE = 2_500
"""...plus this many events' worth: room for a batch (or a driver's prefetch) of up to
about 5,000 events, which a read of SMALL events cannot fill."""
SHARE_OF_COLLECTED = 0.5
"""A streamed read of LARGE events peaks below this share of the collected read's peak."""
SEED_CHUNK = 1_000
READ_SECONDS = 60.0
"""A whole read of LARGE events under tracemalloc may take this long before it counts as
a hang (far more than any store needs; the operation timeout is meant for small steps)."""

SETTLE_ROUNDS = 5
READERS = ("read_stream", "read_all")


@dataclass(frozen=True, slots=True)
class StreamedCost:
    """Bytes allocated by a streamed read beyond what was allocated when it began."""

    peak: int
    """At the read's peak."""
    first: int
    """At the peak up to the moment its first event arrived."""


@dataclass(frozen=True, slots=True)
class Profile:
    """The memory of one reader's reads: streamed of SMALL and LARGE events, collected of
    LARGE events."""

    streamed_small: StreamedCost
    streamed_large: StreamedCost
    collected_large: int

    @property
    def per_event(self) -> float:
        """The memory one event costs in a collected read (at least one byte)."""
        return max(self.collected_large / LARGE, 1.0)

    def worth(self, nbytes: float) -> str:
        """``nbytes`` as a size and as a number of collected events."""
        # Imported on failure only: the report package is slow to import.
        from harness.report.format import fmt_bytes, fmt_count

        return f"{fmt_bytes(nbytes)} (~{fmt_count(nbytes / self.per_event)} events' worth)"

    def limit(self, small: int) -> str:
        from harness.report.format import fmt_bytes

        return fmt_bytes(self.allowed(small))

    def allowed(self, small: int) -> float:
        """The most a read of LARGE events may hold where one of SMALL events held ``small``."""
        return GROWTH * small + BATCH_ALLOWANCE * self.per_event

    def figures(self) -> str:
        from harness.report.format import fmt_bytes

        s, large = self.streamed_small, self.streamed_large
        return (
            f"Measured (tracemalloc, bytes allocated above the read's start): streamed "
            f"{SMALL} events: peak {fmt_bytes(s.peak)}, {fmt_bytes(s.first)} at the first "
            f"event; streamed {LARGE}: peak {fmt_bytes(large.peak)}, {fmt_bytes(large.first)} "
            f"at the first event; collected {LARGE}: peak {fmt_bytes(self.collected_large)} "
            f"(~{fmt_bytes(self.per_event)} an event)."
        )


@contextlib.contextmanager
def tracing() -> Iterator[None]:
    """tracemalloc on for the block (left as it was found: a caller may trace already)."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        yield
    finally:
        if started:
            tracemalloc.stop()


async def _start() -> int:
    """Settle, then start measuring: the bytes allocated now (the base of the peak).

    What the previous read left behind must be freed first, or it would be freed during
    the next read and hide that much of its peak: a finished read's generator, a worker
    thread's future, reference cycles. That takes loop turns as well as collections.
    """
    current = tracemalloc.get_traced_memory()[0]
    for _ in range(SETTLE_ROUNDS):
        await asyncio.sleep(0)
        gc.collect()
        before, current = current, tracemalloc.get_traced_memory()[0]
        if before - current < 64 * 1024:
            break
    tracemalloc.reset_peak()
    return tracemalloc.get_traced_memory()[0]


async def _streamed(rec: Recorder, read: EventStream, count: int, what: str) -> StreamedCost:
    async def consume() -> tuple[StreamedCost, int]:
        seen = 0
        first = 0
        base = await _start()
        async with read as events:
            async for _event in events:
                if not seen:
                    first = tracemalloc.get_traced_memory()[1] - base
                seen += 1
        return StreamedCost(tracemalloc.get_traced_memory()[1] - base, first), seen

    cost, seen = await rec.within(consume(), what, max(rec.timeout, READ_SECONDS))
    rec.require(
        seen == count,
        f"{what} yielded {seen} events, expected {count}",
        rules.STREAMED_EQUALS_COLLECTED,
    )
    result: StreamedCost = cost
    return result


async def _collected(rec: Recorder, read: EventStream, count: int, what: str) -> int:
    async def collect() -> tuple[int, int]:
        base = await _start()
        events = await read.collect()
        peak = tracemalloc.get_traced_memory()[1] - base
        return peak, len(events)

    peak, seen = await rec.within(collect(), what, max(rec.timeout, READ_SECONDS))
    rec.require(
        seen == count,
        f"{what} returned {seen} events, expected {count}",
        rules.STREAMED_EQUALS_COLLECTED,
    )
    result: int = peak
    return result


async def _seed(rec: Recorder) -> None:
    # Straight to the store, not through append_ok: logging and checking 22,000 events
    # one by one would cost more than the reads measured (appends have their own checks).
    for stream, total in (("short", SMALL), ("long", LARGE)):
        for lo in range(0, total, SEED_CHUNK):
            writes = [StreamWrite(stream, lo, new_events(min(SEED_CHUNK, total - lo)))]
            result = await rec.within(rec.store.append(*writes), "an append")
            positions = tuple(result.positions)
            rec.require(
                len(positions) == len(writes[0].events),
                f"an append of {len(writes[0].events)} events returned {len(positions)} positions",
                rules.APPEND_RESULT,
            )
            rec.model.apply(writes, positions)


def _open(rec: Recorder, reader: str, count: int) -> Callable[[], EventStream]:
    """A read of exactly ``count`` events (SMALL or LARGE) by ``reader``."""
    if reader == "read_stream":
        stream = "short" if count == SMALL else "long"
        return lambda: rec.read_stream(stream)
    log = rec.model.log
    # After the short stream: the long one's LARGE events; else its last SMALL events.
    after = log[SMALL - 1].position if count == LARGE else log[-SMALL - 1].position
    return lambda: rec.read_all(after_position=after)


async def _profile(rec: Recorder, reader: str) -> Profile:
    # What exists now is not garbage: frozen, the collections that make each measured
    # read start clean stay cheap (a full one over the seeded store took 0.3 s).
    gc.collect()
    gc.freeze()
    try:
        return await _measured(rec, reader)
    finally:
        gc.unfreeze()


async def _measured(rec: Recorder, reader: str) -> Profile:
    with tracing():
        streamed = [
            await _streamed(
                rec, _open(rec, reader, count)(), count, f"a streamed {reader} of {count} events"
            )
            for count in (SMALL, LARGE)
        ]
        collected = await _collected(
            rec, _open(rec, reader, LARGE)(), LARGE, f"a collected {reader} of {LARGE} events"
        )
    return Profile(streamed[0], streamed[1], collected)


def _judge(rec: Recorder, reader: str, profile: Profile) -> None:
    """Fail on the first of the three properties the reads break, most telling first."""
    small, large = profile.streamed_small, profile.streamed_large
    allowed = f"{GROWTH:g}x plus {BATCH_ALLOWANCE} events' worth for a batch"
    if large.first > profile.allowed(small.first):
        rec.fail(
            f"a streamed {reader} of {LARGE} events had allocated "
            f"{profile.worth(large.first)} when its first event arrived, one of {SMALL} "
            f"events {profile.worth(small.first)} (allowed: {allowed}, "
            f"{profile.limit(small.first)}): the first event waits for the whole "
            "stream to be fetched and decoded. Yield each batch as soon as it is fetched. "
            f"{profile.figures()}",
            rules.STREAMING,
        )
    if large.peak > profile.allowed(small.peak):
        rec.fail(
            f"a streamed {reader} of {LARGE} events peaked at {profile.worth(large.peak)}, "
            f"one of {SMALL} events at {profile.worth(small.peak)} (allowed: {allowed}, "
            f"{profile.limit(small.peak)}): its memory grows with the stream. A "
            "streamed read holds about one batch whatever the stream's length: let go of "
            f"each batch, and of every decoded event, once it is yielded. {profile.figures()}",
            rules.STREAMING,
        )
    share = large.peak / max(profile.collected_large, 1)
    if share > SHARE_OF_COLLECTED:
        rec.fail(
            f"a streamed {reader} of {LARGE} events peaked at {profile.worth(large.peak)}, "
            f"{share:.0%} of the collected read's peak (allowed: {SHARE_OF_COLLECTED:.0%}): "
            "it holds the stream, not a batch. Fetch and decode one batch at a time. "
            f"{profile.figures()}",
            rules.STREAMING,
        )


def _register(reader: str) -> None:
    async def run(ctx: CheckContext) -> None:
        async with ctx.store() as rec:
            await _seed(rec)
            rec.case(
                f"streams of {SMALL} and {LARGE} small events (appended {SEED_CHUNK} at a "
                f"time), each read by {reader} at the default batch size: streamed, then the "
                f"{LARGE} collected, under tracemalloc"
            )
            _judge(rec, reader, await _profile(rec, reader))

    check(
        f"streaming.{reader.replace('_', '-')}",
        f"a streamed {reader} yields its first event after one batch and holds about one "
        f"batch ({SMALL:,} vs {LARGE:,} events, well below the collected read)",
        rules.STREAMING,
    )(run)


for _reader in READERS:
    _register(_reader)
