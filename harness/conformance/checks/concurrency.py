"""Concurrency: racing writers, multi-stream transfers under an invariant, a catch-up reader.

Writers yield to the loop between reading a version and appending (as real clients
do), so even a store whose calls never suspend sees interleaved requests.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass

from harness.conformance import rules
from harness.conformance.core import CheckContext, Recorder, check, together
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
