"""Streaming: a streamed read holds a few batches, not the stream, and yields its first
event before the whole stream was fetched and decoded.

This is the property eventbench exists to protect, so it is checked here, without the
runner. Each check reads a short and a long stream (read_stream or read_all) with
`tracemalloc` on: it counts every allocation the interpreter makes, in every thread (a
driver's I/O thread included), and its figures are the same from run to run, unlike
timings on a busy machine.

The long stream is ten times the short one. A streaming store's peak is a few batches
at both lengths (measured: up to three, the one being consumed, the one being decoded
and a reference `EventStream` keeps while it fetches); a buffering store's grows
tenfold. Growth is judged in "events' worth":
the memory one event costs in a collected read of the same store, so the limits hold
for small and large events alike. The reads use the store's own default batch size,
as its users do; the batch size it yields is observed and allowed for.

A streamed read must also let the program's other tasks run while it reads: a read
that never gives the event loop a turn (a synchronous driver under ``async def``, or a
store that has everything in memory) holds every timer, health check and request of
the program until its last event. That is counted, not timed: a task that takes every
loop turn it is given runs beside the read, and the check counts the events the read
hands over between two of its turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from harness.conformance import rules
from harness.conformance.core import CheckContext, Recorder, check, new_events
from harness.conformance.model import ModelEvent, describe_difference, describe_event
from harness.contract import EventStream, RecordedEvent, StreamWrite

SMALL = 2_000
LARGE = 20_000
GROWTH = 1.5
"""A streamed read of LARGE events may peak at GROWTH times one of SMALL events..."""
BATCHES_HELD = 3
SLACK_EVENTS = 1_000
"""...plus BATCHES_HELD batches and SLACK_EVENTS events' worth (a driver's prefetch,
buffers): room for what a read of SMALL events could not fill."""
SHARE_OF_COLLECTED = 0.5
"""A streamed read of LARGE events peaks below this share of the collected read's peak
(plus the batches it may hold)."""
MAX_JUDGED_BATCH = 2_000
FALLBACK_BATCH = 1_000
"""A store whose default batch exceeds MAX_JUDGED_BATCH events cannot be told from a
buffering one at these lengths (three batches of 5,000 are most of 20,000 events); its
streamed reads are measured again with batch_size=FALLBACK_BATCH."""
SEED_CHUNK = 1_000
READ_SECONDS = 60.0
"""A whole read of LARGE events under tracemalloc may take this long before it counts as
a hang (far more than any store needs; the operation timeout is meant for small steps)."""
SETTLE_ROUNDS = 5
READERS = ("read_stream", "read_all")
ORDER_RULES = {"read_stream": rules.READ_STREAM, "read_all": rules.READ_ALL}
"""The rule a long read that yields other events than appended, or out of order, breaks."""
HOLD_BATCHES = 2
HOLD_EVENTS = 1_000
"""A streamed read may hand over HOLD_BATCHES batches (of the size it yields), or
HOLD_EVENTS events where that is more, without the event loop running another task.
A store's batch is its own unit of work (one that fetches three batches in one call and
yields them back to back holds the loop for three); 1,000 events take about 2 ms to
decode at the reference stores' ~2 us an event, the longest step issue 13 allows a
streamed read. A store that never gives the loop a turn hands over all 20,000."""


@dataclass(frozen=True, slots=True)
class StreamedCost:
    """Bytes allocated by a streamed read beyond what was allocated when it began."""

    peak: int
    """At the read's peak."""
    first: int
    """At the peak up to the moment its first event arrived."""
    batch: int
    """The largest batch the read yielded, in events."""


@dataclass(frozen=True, slots=True)
class Profile:
    """One reader's reads: streamed of SMALL and LARGE events, collected of LARGE."""

    streamed_small: StreamedCost
    streamed_large: StreamedCost
    collected_large: int
    batch_size: int | None
    """The batch_size passed to the streamed reads (None: the store's default)."""

    @property
    def per_event(self) -> float:
        """The memory one event costs in a collected read (at least one byte)."""
        return max(self.collected_large / LARGE, 1.0)

    @property
    def batch(self) -> int:
        return max(self.streamed_small.batch, self.streamed_large.batch)

    @property
    def room(self) -> float:
        """Bytes a streamed read may hold beyond what it held at SMALL events."""
        return (BATCHES_HELD * self.batch + SLACK_EVENTS) * self.per_event

    def allowed(self, small: int) -> float:
        """The most a read of LARGE events may hold where one of SMALL events held ``small``."""
        return GROWTH * small + self.room

    def rule(self) -> str:
        return (
            f"{GROWTH:g}x plus {BATCHES_HELD} batches of {self.batch} and {SLACK_EVENTS} "
            "events' worth"
        )

    def worth(self, nbytes: float) -> str:
        """``nbytes`` as a size and as a number of collected events."""
        # Imported on failure only: the report package is slow to import.
        from harness.report.format import fmt_bytes, fmt_count

        return f"{fmt_bytes(nbytes)} (~{fmt_count(nbytes / self.per_event)} events' worth)"

    def figures(self) -> str:
        from harness.report.format import fmt_bytes

        s, large = self.streamed_small, self.streamed_large
        size = (
            "the default batch size" if self.batch_size is None else f"batch_size={self.batch_size}"
        )
        return (
            f"Measured (tracemalloc, bytes allocated above the read's start; {size}, "
            f"batches of up to {self.batch} events): streamed {SMALL} events: peak "
            f"{fmt_bytes(s.peak)}, {fmt_bytes(s.first)} at the first event; streamed "
            f"{LARGE}: peak {fmt_bytes(large.peak)}, {fmt_bytes(large.first)} at the first "
            f"event; collected {LARGE}: peak {fmt_bytes(self.collected_large)} "
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


def _check_batch(
    rec: Recorder,
    batch: Sequence[RecordedEvent],
    expected: Sequence[ModelEvent],
    seen: int,
    what: str,
    rule: str,
) -> None:
    """Fail unless ``batch`` holds ``expected[seen:]``'s next events (their stream,
    version, position and id), in order.

    Checked batch by batch as the read goes, keeping nothing: the streaming checks
    measure the read's memory meanwhile (the expected events exist before it begins).
    A read that yields more events than expected is left for its count to report.
    """
    index = seen
    for event in batch:
        if index >= len(expected):
            return
        want = expected[index]
        if (
            event.stream_version != want.stream_version
            or event.position != want.position
            or event.id != want.id
            or event.stream_id != want.stream_id
        ):
            rec.fail(
                f"{what}: event #{index + 1} is {describe_event(event)}, expected "
                f"{describe_event(want)}: a long read must yield every event as appended "
                "(its stream, version, position and id), in order, past every length "
                "where a key, a counter or a page changes width (9,999, 2**16, ...)",
                rule,
            )
        index += 1


async def _streamed(
    rec: Recorder, read: EventStream, expected: Sequence[ModelEvent], what: str, rule: str
) -> StreamedCost:
    count = len(expected)

    async def consume() -> tuple[StreamedCost, int]:
        seen = 0
        first = 0
        largest = 0
        base = await _start()
        async with read as events:
            # batches(): what async for consumes, with the batch sizes visible.
            async for batch in events.batches():
                if not seen:
                    first = tracemalloc.get_traced_memory()[1] - base
                _check_batch(rec, batch, expected, seen, what, rule)
                seen += len(batch)
                largest = max(largest, len(batch))
                del batch
        peak = tracemalloc.get_traced_memory()[1] - base
        return StreamedCost(peak, first, largest), seen

    cost, seen = await rec.within(consume(), what, max(rec.timeout, READ_SECONDS))
    rec.require(
        seen == count,
        f"{what} yielded {seen} events, expected {count}",
        rules.STREAMED_EQUALS_COLLECTED,
    )
    result: StreamedCost = cost
    return result


async def _collected(
    rec: Recorder, read: EventStream, expected: Sequence[ModelEvent], what: str
) -> int:
    async def collect() -> tuple[int, str | None]:
        base = await _start()
        events = await read.collect()
        peak = tracemalloc.get_traced_memory()[1] - base
        # Compared once measured: the comparison's own allocations are not the read's.
        return peak, describe_difference(events, expected)

    peak, difference = await rec.within(collect(), what, max(rec.timeout, READ_SECONDS))
    if difference is not None:
        rec.fail(f"{what} returned {difference}", rules.STREAMED_EQUALS_COLLECTED)
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


def _expected(rec: Recorder, reader: str, count: int) -> Sequence[ModelEvent]:
    """What `_open`'s read of ``count`` events must yield (taken before it is measured)."""
    if reader == "read_stream":
        return rec.model.streams["short" if count == SMALL else "long"]
    log = rec.model.log
    return log[SMALL:] if count == LARGE else log[-SMALL:]


def _open(
    rec: Recorder, reader: str, count: int, batch_size: int | None = None
) -> Callable[[], EventStream]:
    """A read of exactly ``count`` events (SMALL or LARGE) by ``reader``."""
    kwargs = {} if batch_size is None else {"batch_size": batch_size}
    if reader == "read_stream":
        stream = "short" if count == SMALL else "long"
        return lambda: rec.read_stream(stream, **kwargs)
    log = rec.model.log
    # After the short stream: the long one's LARGE events; else its last SMALL events.
    after = log[SMALL - 1].position if count == LARGE else log[-SMALL - 1].position
    return lambda: rec.read_all(after_position=after, **kwargs)


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
        batch_size: int | None = None
        streamed = await _streamed_pair(rec, reader, batch_size)
        if max(c.batch for c in streamed) > MAX_JUDGED_BATCH:
            batch_size = FALLBACK_BATCH
            rec.note(
                f"its default batch exceeds {MAX_JUDGED_BATCH} events: read again with "
                f"batch_size={batch_size}"
            )
            streamed = await _streamed_pair(rec, reader, batch_size)
        collected = await _collected(
            rec,
            _open(rec, reader, LARGE)(),
            _expected(rec, reader, LARGE),
            f"a collected {reader} of {LARGE} events",
        )
    return Profile(streamed[0], streamed[1], collected, batch_size)


async def _streamed_pair(
    rec: Recorder, reader: str, batch_size: int | None
) -> tuple[StreamedCost, StreamedCost]:
    costs = []
    for count in (SMALL, LARGE):
        read = _open(rec, reader, count, batch_size)()
        expected = _expected(rec, reader, count)
        what = f"a streamed {reader} of {count} events"
        costs.append(await _streamed(rec, read, expected, what, ORDER_RULES[reader]))
    small, large = costs
    return small, large


def _judge(rec: Recorder, reader: str, profile: Profile) -> None:
    """Fail on the first of the three properties the reads break, most telling first."""
    from harness.report.format import fmt_bytes

    small, large = profile.streamed_small, profile.streamed_large
    if large.first > profile.allowed(small.first):
        rec.fail(
            f"a streamed {reader} of {LARGE} events had allocated "
            f"{profile.worth(large.first)} when its first event arrived, one of {SMALL} "
            f"events {profile.worth(small.first)} (allowed: {profile.rule()}, "
            f"{fmt_bytes(profile.allowed(small.first))}): the first event waits for the "
            "whole stream to be fetched and decoded. Yield each batch as soon as it is "
            f"fetched. {profile.figures()}",
            rules.STREAMING,
        )
    if large.peak > profile.allowed(small.peak):
        rec.fail(
            f"a streamed {reader} of {LARGE} events peaked at {profile.worth(large.peak)}, "
            f"one of {SMALL} events at {profile.worth(small.peak)} (allowed: "
            f"{profile.rule()}, {fmt_bytes(profile.allowed(small.peak))}): its memory grows "
            "with the stream. A streamed read holds a few batches whatever the stream's "
            "length: let go of each batch, and of every decoded event, once it is yielded. "
            f"{profile.figures()}",
            rules.STREAMING,
        )
    limit = SHARE_OF_COLLECTED * profile.collected_large + profile.room
    if large.peak > limit:
        rec.fail(
            f"a streamed {reader} of {LARGE} events peaked at {profile.worth(large.peak)}, "
            f"{large.peak / max(profile.collected_large, 1):.0%} of the collected read's "
            f"peak (allowed: {SHARE_OF_COLLECTED:.0%} of it plus {BATCHES_HELD} batches, "
            f"{fmt_bytes(limit)}): it holds the stream, not a batch. Fetch and decode one "
            f"batch at a time. {profile.figures()}",
            rules.STREAMING,
        )


def _register(reader: str) -> None:
    async def run(ctx: CheckContext) -> None:
        async with ctx.store() as rec:
            await _seed(rec)
            rec.case(
                f"streams of {SMALL} and {LARGE} small events (appended {SEED_CHUNK} at a "
                f"time), each read by {reader} at the default batch size: streamed (by "
                f"batches()), then the {LARGE} collected, under tracemalloc"
            )
            _judge(rec, reader, await _profile(rec, reader))

    check(
        f"streaming.{reader.replace('_', '-')}",
        f"a streamed {reader} yields its first event after one batch and holds a few "
        f"batches ({SMALL:,} vs {LARGE:,} events, well below the collected read)",
        rules.STREAMING,
    )(run)


for _reader in READERS:
    _register(_reader)


@dataclass(frozen=True, slots=True)
class LoopHold:
    """How a streamed read shared the event loop with a task that takes every turn."""

    longest: int
    """The most events handed over in a row with no loop turn between them."""
    batch: int
    """The largest batch the read yielded."""
    events: int
    turns: int
    """Loop turns the other task had during the read."""

    @property
    def allowed(self) -> int:
        return max(HOLD_BATCHES * self.batch, HOLD_EVENTS)


async def _loop_hold(
    rec: Recorder, read: EventStream, expected: Sequence[ModelEvent], what: str, rule: str
) -> LoopHold:
    turns = 0

    async def other_task() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    async def consume() -> LoopHold:
        seen = largest = run = longest = 0
        seen_turns = -1
        async with read as events:
            async for batch in events.batches():
                if turns != seen_turns:  # the loop ran the other task since the last batch
                    seen_turns, run = turns, 0
                _check_batch(rec, batch, expected, seen, what, rule)
                run += len(batch)
                longest = max(longest, run)
                largest = max(largest, len(batch))
                seen += len(batch)
        return LoopHold(longest, largest, seen, turns)

    task = asyncio.create_task(other_task())
    try:
        hold: LoopHold = await rec.within(consume(), what, max(rec.timeout, READ_SECONDS))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return hold


@check(
    "streaming.loop-turns",
    f"a streamed read_stream and read_all of {LARGE:,} events let other tasks run between "
    f"batches (at most {HOLD_BATCHES} batches, or {HOLD_EVENTS:,} events, without a loop turn)",
    rules.LOOP_TURNS,
)
async def loop_turns(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        await _seed(rec)
        rec.case(
            f"a stream of {LARGE} small events, read streamed (by batches()) by read_stream "
            "and by read_all at the default batch size, beside a task that takes every "
            "turn of the event loop it is given"
        )
        for reader in READERS:
            what = f"a streamed {reader} of {LARGE} events"
            expected = _expected(rec, reader, LARGE)
            rule = ORDER_RULES[reader]
            hold = await _loop_hold(rec, _open(rec, reader, LARGE)(), expected, what, rule)
            if hold.batch > MAX_JUDGED_BATCH:
                # Two batches of 10,000 would be the whole read: judged in smaller ones.
                rec.note(
                    f"its default batch exceeds {MAX_JUDGED_BATCH} events: read again with "
                    f"batch_size={FALLBACK_BATCH}"
                )
                what = f"{what} (batch_size={FALLBACK_BATCH})"
                read = _open(rec, reader, LARGE, FALLBACK_BATCH)()
                hold = await _loop_hold(rec, read, expected, what, rule)
            rec.require(
                hold.events == LARGE,
                f"{what} yielded {hold.events} events, expected {LARGE}",
                rules.STREAMED_EQUALS_COLLECTED,
            )
            rec.require(
                hold.longest <= hold.allowed,
                f"{what} handed over {hold.longest:,} events in a row (batches of up to "
                f"{hold.batch:,}) without letting the event loop run another task (allowed: "
                f"{hold.allowed:,}; the other task had {hold.turns:,} turns in the whole "
                "read): every timer, health check and request of the program waits while "
                "it reads. Await the storage for each batch, or give the loop a turn "
                "(await asyncio.sleep(0)) between batches.",
                rules.LOOP_TURNS,
            )
