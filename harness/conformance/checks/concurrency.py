"""Concurrency: racing writers, multi-stream transfers under an invariant, a catch-up reader.

Writers yield to the loop between reading a version and appending (as real clients
do), so even a store whose calls never suspend sees interleaved requests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from harness.conformance import rules
from harness.conformance.core import CheckContext, Recorder, check, new_events, together
from harness.contract import (
    ANY,
    NO_STREAM,
    NewEvent,
    RecordedEvent,
    StreamWrite,
    WrongExpectedVersion,
)

WRITERS = 16
APPENDS_PER_WRITER = 5
MAX_ATTEMPTS = 2000


HOT_STREAMS = ("hot", "lane-1-a")
"""The one-stream race runs on each of these at once: no dash, and several dashes."""


def shaped_id(number: int) -> str:
    """A stream id of one of several shapes, each number in its own category (the part
    before the first '-'), so that stores which lock or number events per category are
    raced across categories."""
    shapes = ("order{n}-1", "acct{n}", "x{n}-y-z", "{n}-Batch")
    return shapes[number % len(shapes)].format(n=number)


@dataclass(frozen=True, slots=True)
class _Success:
    stream_id: str
    expected: int
    version: int
    position: int
    event_id: uuid.UUID


@check(
    "concurrency.one-stream-writers",
    f"{WRITERS} writers racing on one stream (two at once, ids of different shapes) with exact "
    "versions: no lost or doubled events",
    rules.CONCURRENCY,
)
async def one_stream_writers(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        store = rec.store
        rec.case(
            f"{WRITERS} tasks, each {APPENDS_PER_WRITER}x on s = {HOT_STREAMS[0]!r} or "
            f"{HOT_STREAMS[1]!r} (alternately): v = await store.stream_version(s); "
            "await store.append(StreamWrite(s, v, [event])), retrying on WrongExpectedVersion"
        )
        conflicts: list[WrongExpectedVersion] = []

        async def writer(number: int) -> list[_Success]:
            stream_id = HOT_STREAMS[number % len(HOT_STREAMS)]
            done: list[_Success] = []
            for attempt in range(MAX_ATTEMPTS + 1):
                if len(done) == APPENDS_PER_WRITER:
                    break
                rec.require(
                    attempt < MAX_ATTEMPTS,
                    f"writer {number} made no progress in {MAX_ATTEMPTS} attempts",
                    rules.CONCURRENCY,
                )
                version = await store.stream_version(stream_id)
                await asyncio.sleep(0)
                event = NewEvent("Wrote", {"writer": number, "seq": len(done)})
                try:
                    result = await store.append(StreamWrite(stream_id, version, [event]))
                except WrongExpectedVersion as exc:
                    conflicts.append(exc)
                    if exc.actual == version:
                        rec.fail(
                            f"WrongExpectedVersion for expected {version} reports actual "
                            f"{exc.actual}",
                            rules.ERROR_DETAILS,
                        )
                    continue
                done.append(
                    _Success(
                        stream_id,
                        version,
                        result.versions[stream_id],
                        result.positions[0],
                        event.id,
                    )
                )
            return done

        results = await rec.within(
            together(*(writer(n) for n in range(WRITERS))), "the racing writers"
        )
        for stream_id in HOT_STREAMS:
            successes = [s for batch in results for s in batch if s.stream_id == stream_id]
            writers = len(range(HOT_STREAMS.index(stream_id), WRITERS, len(HOT_STREAMS)))
            await _verify_one_stream(rec, stream_id, successes, writers * APPENDS_PER_WRITER)


async def _verify_one_stream(
    rec: Recorder, stream_id: str, successes: list[_Success], total: int
) -> None:
    store = rec.store
    for success in successes:
        rec.require(
            success.version == success.expected + 1,
            f"an append to {stream_id!r} with expected version {success.expected} returned "
            f"version {success.version}",
            rules.CONCURRENCY,
        )
    versions = sorted(s.version for s in successes)
    rec.require(
        versions == list(range(1, total + 1)),
        f"successful appends to {stream_id!r} returned versions {versions}; expected "
        f"1..{total} each once (two writers succeeded on one expected version)",
        rules.CONCURRENCY,
    )
    final = await rec.stream_version(stream_id)
    rec.require(
        final == total,
        f"{total} appends to {stream_id!r} succeeded but its final version is {final}",
        rules.CONCURRENCY,
    )
    events: list[RecordedEvent] = await rec.collected(store.read_stream(stream_id))
    by_version = {s.version: s for s in successes}
    for index, event in enumerate(events, start=1):
        found = by_version.get(event.stream_version)
        rec.require(
            event.stream_version == index and found is not None and found.event_id == event.id,
            f"event #{index} of the stream is {event.stream_id!r} v{event.stream_version} id "
            f"{event.id}; the append that returned version {index} wrote "
            f"{found.event_id if found else 'nothing'}",
            rules.CONCURRENCY,
        )
    rec.require(
        len(events) == total,
        f"{stream_id!r} holds {len(events)} events; {total} appends succeeded",
        rules.CONCURRENCY,
    )
    positions = [e.position for e in events]
    rec.require(
        positions == sorted(s.position for s in successes) and len(set(positions)) == total,
        f"the positions in {stream_id!r} are not those the appends returned, in order",
        rules.CONCURRENCY,
    )


ACCOUNTS = 8
TRANSFER_WORKERS = 8
TRANSFERS_PER_WORKER = 8
OPENING_BALANCE = 100


def _balance(events: list[RecordedEvent]) -> int:
    total = 0
    for event in events:
        amount = int(event.data.get("amount", 0))
        total += -amount if event.type == "Debited" else amount
    return total


def _audit(rec: Recorder, events: list[RecordedEvent], where: str) -> None:
    legs: dict[str, set[str]] = {}
    for event in events:
        if event.type in ("Debited", "Credited"):
            legs.setdefault(str(event.data["transfer"]), set()).add(event.type)
    torn = [t for t, kinds in legs.items() if kinds != {"Debited", "Credited"}]
    rec.require(
        not torn,
        f"{where}: transfer {torn[:1]} has one leg without the other (a multi-stream append "
        "was visible half-written or half-applied)",
        rules.ATOMIC,
    )
    opened = sum(1 for e in events if e.type == "Opened")
    total = _balance(events)
    rec.require(
        total == opened * OPENING_BALANCE,
        f"{where}: total balance is {total}, expected {opened * OPENING_BALANCE}",
        rules.ATOMIC,
    )


@check(
    "concurrency.transfers",
    "concurrent two-stream transfers keep the total balance; no reader sees half a transfer",
    rules.ATOMIC,
)
async def transfers(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        store = rec.store
        accounts = [f"account-{i}" for i in range(ACCOUNTS)]
        rec.case(
            f"{ACCOUNTS} accounts of {OPENING_BALANCE}; {TRANSFER_WORKERS} tasks move money with "
            "store.append(StreamWrite(src, v_src, [Debited]), StreamWrite(dst, v_dst, [Credited]))"
        )
        await rec.append_ok(
            *(
                StreamWrite(a, NO_STREAM, [NewEvent("Opened", {"amount": OPENING_BALANCE})])
                for a in accounts
            )
        )
        writers_done = asyncio.Event()

        async def worker(number: int) -> None:
            rng = random.Random(number)
            moved = 0
            for _ in range(MAX_ATTEMPTS):
                if moved == TRANSFERS_PER_WORKER:
                    return
                src, dst = rng.sample(accounts, 2)
                src_events = await store.read_stream(src).collect()
                await asyncio.sleep(0)
                dst_version = await store.stream_version(dst)
                balance = _balance(src_events)
                rec.require(balance >= 0, f"{src} has a negative balance {balance}", rules.ATOMIC)
                amount = min(balance, rng.randint(1, 40))
                transfer = f"{number}-{moved}"
                try:
                    await store.append(
                        StreamWrite(
                            src,
                            len(src_events),
                            [NewEvent("Debited", {"amount": amount, "transfer": transfer})],
                        ),
                        StreamWrite(
                            dst,
                            dst_version,
                            [NewEvent("Credited", {"amount": amount, "transfer": transfer})],
                        ),
                    )
                except WrongExpectedVersion:
                    continue
                moved += 1
            rec.fail(f"transfer worker {number} made no progress", rules.CONCURRENCY)

        async def auditor() -> int:
            audits = 0
            while not writers_done.is_set() or audits == 0:
                _audit(rec, await store.read_all().collect(), f"read_all snapshot #{audits + 1}")
                audits += 1
                await asyncio.sleep(0)
            return audits

        async def workers() -> None:
            try:
                await together(*(worker(n) for n in range(TRANSFER_WORKERS)))
            finally:
                writers_done.set()

        await rec.within(together(workers(), auditor()), "the transfers")
        everything: list[RecordedEvent] = await rec.collected(store.read_all())
        _audit(rec, everything, "after all transfers")
        moves = sum(1 for e in everything if e.type == "Debited")
        rec.require(
            moves == TRANSFER_WORKERS * TRANSFERS_PER_WORKER,
            f"{moves} transfers stored, {TRANSFER_WORKERS * TRANSFERS_PER_WORKER} succeeded",
            rules.CONCURRENCY,
        )
        for account in accounts:
            events: list[RecordedEvent] = await rec.collected(store.read_stream(account))
            rec.require(
                [e.stream_version for e in events] == list(range(1, len(events) + 1)),
                f"{account} has versions {[e.stream_version for e in events]}",
                rules.CONCURRENCY,
            )


CATCH_UP_WRITERS = 8
CATCH_UP_APPENDS = 25


@check(
    "concurrency.catch-up-reader",
    "a catch-up reader of read_all beside concurrent writers sees every event exactly once",
    rules.READ_ALL,
)
async def catch_up_reader(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        store = rec.store
        rec.case(
            f"{CATCH_UP_WRITERS} writers append {CATCH_UP_APPENDS} times each, each to its own "
            f"stream ({', '.join(repr(shaped_id(n)) for n in range(4))}, ...; some to two "
            "streams) while a reader loops: async for e in "
            "store.read_all(after_position=last, batch_size=3)"
        )
        appended: list[uuid.UUID] = []
        writers_done = asyncio.Event()

        async def writer(number: int) -> None:
            for seq in range(CATCH_UP_APPENDS):
                events = [NewEvent("Tick", {"writer": number, "seq": seq})]
                writes = [StreamWrite(shaped_id(number), ANY, events)]
                if seq % 5 == 0:
                    shared = NewEvent("Shared", {"writer": number, "seq": seq})
                    writes.append(StreamWrite(f"shared-{seq % 3}", ANY, [shared]))
                    events = [*events, shared]
                await store.append(*writes)
                appended.extend(e.id for e in events)
                await asyncio.sleep(0)

        seen: list[RecordedEvent] = []

        async def reader() -> None:
            last = 0
            while True:
                finished = writers_done.is_set()
                async for event in store.read_all(after_position=last, batch_size=3):
                    rec.require(
                        event.position > last,
                        f"read_all(after_position={last}) yielded position {event.position}",
                        rules.READ_ALL,
                    )
                    seen.append(event)
                    last = event.position
                if finished:
                    return
                await asyncio.sleep(0)

        async def writers() -> None:
            try:
                await together(*(writer(n) for n in range(CATCH_UP_WRITERS)))
            finally:
                writers_done.set()

        await rec.within(together(writers(), reader()), "the writers and the catch-up reader")
        seen_ids = [e.id for e in seen]
        doubled = len(seen_ids) - len(set(seen_ids))
        missed = set(appended) - set(seen_ids)
        rec.require(doubled == 0, f"the catch-up reader saw {doubled} events twice", rules.READ_ALL)
        rec.require(
            not missed,
            f"the catch-up reader missed {len(missed)} of {len(appended)} events (committed "
            "after a later position was already visible: late commits skipped)",
            rules.READ_ALL,
        )
        final: list[RecordedEvent] = await rec.collected(store.read_all())
        rec.require(
            [e.id for e in final] == seen_ids,
            "the catch-up reader saw the events in a different order than a final read_all()",
            rules.READ_ALL,
        )


CANCEL_STREAMS = 3
CANCEL_EVENTS = 3
CANCEL_TURNS = 10
"""Cancel after 0, 1, ... CANCEL_TURNS - 1 loop turns."""
CANCEL_FRACTIONS = 6
"""And after 1/6, 2/6, ... of an uncancelled append's duration (for stores whose append
waits on a network or a thread, where loop turns pass quickly)."""
HOLDER_EVENTS = 5


@dataclass(frozen=True, slots=True)
class _Victim:
    """One event of a cancelled append: its round, its stream and its place in its write."""

    round_: int
    stream_id: str
    index: int


@check(
    "concurrency.cancelled-append",
    f"an append to {CANCEL_STREAMS} streams cancelled after 0, 1, 2, ... loop turns (and "
    "while it waits behind another append) wrote all of its events or none, on every "
    "stream; the store stays usable",
    rules.CANCELLATION,
)
async def cancelled_append(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        store = rec.store
        loop = asyncio.get_running_loop()
        rec.case("an uncancelled append, timed")
        started = loop.time()
        await rec.append(
            *(StreamWrite(f"timing-{n}", ANY, new_events(CANCEL_EVENTS)) for n in range(3))
        )
        duration = loop.time() - started
        delays = [(turns, 0.0) for turns in range(CANCEL_TURNS)] + [
            (0, duration * k / CANCEL_FRACTIONS) for k in range(1, CANCEL_FRACTIONS + 1)
        ]
        victims: dict[uuid.UUID, _Victim] = {}
        round_ = 0
        for behind in (False, True):
            for turns, seconds in delays:
                round_ += 1
                streams = [f"cancel{round_}-{n}" for n in range(CANCEL_STREAMS)]
                writes = [
                    StreamWrite(s, ANY, new_events(CANCEL_EVENTS, round=round_)) for s in streams
                ]
                for write in writes:
                    for index, event in enumerate(write.events):
                        victims[event.id] = _Victim(round_, write.stream_id, index)
                when = f"{turns} loop turns" if not seconds else f"{seconds * 1000:.3g} ms"
                rec.case(
                    f"round {round_}: task = create_task(store.append("
                    + ", ".join(
                        f"StreamWrite({s!r}, ANY, [{CANCEL_EVENTS} events])" for s in streams
                    )
                    + f")); task.cancel() after {when}"
                    + (
                        f", while an append of {HOLDER_EVENTS} events to {streams[0]!r} started "
                        "just before it runs"
                        if behind
                        else ""
                    )
                )
                holder = (
                    asyncio.create_task(
                        store.append(StreamWrite(streams[0], ANY, new_events(HOLDER_EVENTS)))
                    )
                    if behind
                    else None
                )
                task = asyncio.create_task(store.append(*writes))
                try:
                    for _ in range(turns):
                        await asyncio.sleep(0)
                    if seconds:
                        await asyncio.sleep(seconds)
                    cancelled = not task.done()
                    task.cancel()
                    await rec.within(asyncio.wait({task}), "the cancelled append")
                    if holder is not None:
                        await rec.within(asyncio.wait({holder}), "the append beside it")
                finally:
                    task.cancel()
                    if holder is not None:
                        holder.cancel()
                if holder is not None and (holder.cancelled() or holder.exception()):
                    rec.fail(
                        f"the append to {streams[0]!r} beside the cancelled one failed "
                        f"({holder.exception() if not holder.cancelled() else 'cancelled'}); "
                        "with expected version ANY it must succeed",
                        rules.CANCELLATION,
                    )
                if cancelled and not task.cancelled():
                    error = task.exception()
                    rec.fail(
                        "the append was cancelled while in flight but "
                        + (
                            f"raised {type(error).__name__}: {error}"
                            if error
                            else "returned normally"
                        )
                        + "; a cancelled call must raise CancelledError (or asyncio.timeout() "
                        "cannot work)",
                        rules.CANCELLATION,
                    )
                committed = not task.cancelled() and task.exception() is None
                await _verify_cancelled(rec, victims, streams, committed, round_)
        rec.case("after the cancelled appends, an append at exact versions")
        versions = [await rec.stream_version(s) for s in streams]
        result = await rec.append(
            *(StreamWrite(s, v, new_events(1)) for s, v in zip(streams, versions, strict=True))
        )
        rec.require(
            dict(result.versions) == {s: v + 1 for s, v in zip(streams, versions, strict=True)},
            f"the append after the cancelled ones returned versions {dict(result.versions)}",
            rules.CANCELLATION,
        )


async def _verify_cancelled(
    rec: Recorder,
    victims: dict[uuid.UUID, _Victim],
    streams: list[str],
    committed: bool,
    round_: int,
) -> None:
    """Every read_all snapshot: every cancelled append so far is all there or not at
    all; and once the store settles, the other reads agree with it.

    A cancelled append's outcome is unknown to its caller, and a store may still commit
    it after the cancellation returned (the statement runs on in a thread or on the
    server). So the reads are compared again, for up to `SETTLE_S`, until they agree:
    what fails is a store whose reads never agree, not one that commits late.
    """
    deadline = time.monotonic() + SETTLE_S
    while True:
        disagreements = await _cancelled_reads(rec, victims, streams, committed, round_)
        if not disagreements or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.05)
    if disagreements:  # fail() raises: every disagreement is named in one message
        rec.fail("; ".join(disagreements), rules.CANCELLATION)


SETTLE_S = 2.0
"""How long the reads after a cancelled append may take to agree (a late commit)."""


async def _cancelled_reads(
    rec: Recorder,
    victims: dict[uuid.UUID, _Victim],
    streams: list[str],
    committed: bool,
    round_: int,
) -> list[str]:
    """Check one read_all snapshot for torn appends (failing at once); return how the
    other reads disagree with it."""
    store = rec.store
    everything: list[RecordedEvent] = await rec.collected(store.read_all())
    seen: dict[int, dict[str, list[int]]] = {}
    by_stream: dict[str, list[RecordedEvent]] = {}
    for event in everything:
        victim = victims.get(event.id)
        if victim is not None:
            seen.setdefault(victim.round_, {}).setdefault(victim.stream_id, []).append(victim.index)
            if victim.round_ == round_:
                by_stream.setdefault(victim.stream_id, []).append(event)
    for number, found in seen.items():
        names = [f"cancel{number}-{n}" for n in range(CANCEL_STREAMS)]
        counts = {s: len(found.get(s, [])) for s in names}
        whole = all(found.get(s) == list(range(CANCEL_EVENTS)) for s in names)
        rec.require(
            whole,
            f"read_all() holds {counts} of the {CANCEL_EVENTS} events the cancelled append of "
            f"round {number} wrote to each of its streams: a cancelled append was written in "
            "part (a transaction committed on cancellation, e.g. in a finally or an "
            "'except Exception' that misses CancelledError, or streams written one by one)",
            rules.CANCELLATION,
        )
    if committed:
        rec.require(
            round_ in seen,
            "the append returned normally, but read_all() holds none of its events",
            rules.CANCELLATION,
        )
    disagreements: list[str] = []
    for stream_id in streams:
        events: list[RecordedEvent] = await rec.collected(store.read_stream(stream_id))
        mine = [e for e in events if e.id in victims]
        expected = by_stream.get(stream_id, [])
        if [(e.id, e.stream_version, e.position) for e in mine] != [
            (e.id, e.stream_version, e.position) for e in expected
        ]:
            disagreements.append(
                f"read_stream({stream_id!r}) holds {len(mine)} events of the cancelled append, "
                f"read_all() {len(expected)} (or at other versions or positions), still "
                f"{SETTLE_S:g} s after the cancellation: the reads disagree about a cancelled "
                "append"
            )
        if [e.stream_version for e in events] != list(range(1, len(events) + 1)):
            disagreements.append(
                f"after the cancelled append, {stream_id!r} has versions "
                f"{[e.stream_version for e in events]}"
            )
        version = await rec.stream_version(stream_id)
        if version != len(events):
            disagreements.append(
                f"after the cancelled append, stream_version({stream_id!r}) is {version} but "
                f"the stream reads {len(events)} events"
            )
    return disagreements


MANY_READERS = 32
READER_BATCH = 3
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def identities(events: Sequence[RecordedEvent]) -> list[RecordedEvent]:
    """The events with only what says which events they are (stream, version, position,
    type, id): for checks about which events a read returns, leaving field-by-field
    equality of the forms to read.streamed-equals-collected."""
    return [dataclasses.replace(e, data={}, metadata={}, recorded_at=_EPOCH) for e in events]


@check(
    "concurrency.many-readers",
    f"{MANY_READERS} concurrent streamed reads (batch_size={READER_BATCH}, more than a "
    "connection pool holds) all finish, each equal to the collected read",
    rules.CONCURRENT_READS,
)
async def many_readers(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        store = rec.store
        await rec.append_ok(StreamWrite("s", NO_STREAM, new_events(20)))
        await rec.append_ok(StreamWrite("t", NO_STREAM, new_events(7)))
        rec.case(
            f"{MANY_READERS} tasks at once, half: [e async for e in store.read_stream('s', "
            f"batch_size={READER_BATCH})], half: the same with store.read_all(batch_size="
            f"{READER_BATCH}); each compared with the collected read"
        )
        stream = await rec.collected(store.read_stream("s"))
        everything = await rec.collected(store.read_all())

        async def reader(number: int) -> None:
            if number % 2:
                read, what, want = store.read_all(batch_size=READER_BATCH), "read_all", everything
            else:
                read = store.read_stream("s", batch_size=READER_BATCH)
                what, want = "read_stream('s')", stream
            events = [e async for e in read]
            rec.require_same_reads(
                [
                    (f"streamed {what} #{number + 1}", identities(events)),
                    (f"collected {what}", identities(want)),
                ],
                rules.CONCURRENT_READS,
            )

        await rec.within(
            together(*(reader(n) for n in range(MANY_READERS))),
            f"{MANY_READERS} concurrent streamed reads (a read that takes a second pooled "
            "connection while it holds one deadlocks once the pool is shared out)",
        )
