"""Short races run many times: stale guards, multi-stream appends racing a single-stream
append, and multi-stream appends naming the same streams in opposite orders.

Each round starts two appends together, in alternating order and with a varying
number of loop turns before one of them, so that both interleavings occur; where the
store can be reopened (`harness.contract.SupportsReopen`), every other round races two
instances of it instead of one. Stream ids vary in shape (no dash, one, several),
since stores often lock or number events by the part of an id before the first dash.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from harness.conformance import rules
from harness.conformance.checks.concurrency import identities
from harness.conformance.core import (
    CheckContext,
    NotApplicable,
    Recorder,
    check,
    new_events,
    together,
)
from harness.contract import (
    ANY,
    NO_STREAM,
    AppendResult,
    DuplicateEventId,
    EventStore,
    EventStoreError,
    NewEvent,
    RecordedEvent,
    StreamWrite,
    SupportsReopen,
    WrongExpectedVersion,
)
from harness.registry import reopener

ROUNDS = 40
PAIRS = 2
"""Opposite-order appends in flight at once, per order."""


@contextlib.asynccontextmanager
async def stores_for_races(ctx: CheckContext) -> AsyncIterator[tuple[Recorder, list[EventStore]]]:
    """The recorder of a fresh store, and one or two instances over its data to race."""
    factory = reopener(ctx.factory)
    async with ctx.store() as rec:
        if factory is None or not isinstance(rec.store, SupportsReopen):
            yield rec, [rec.store]
            return
        opening = factory.reopen(rec.store.location)
        async with ctx.opened(opening, "factory(location=...)") as second:
            yield rec, [rec.store, second.store]


async def _outcome(
    rec: Recorder, delay: int, call: Coroutine[Any, Any, AppendResult]
) -> AppendResult | WrongExpectedVersion:
    for _ in range(delay):
        await asyncio.sleep(0)
    try:
        return await call
    except WrongExpectedVersion as exc:
        return exc
    except Exception as exc:
        rec.fail(
            f"a racing append raised {type(exc).__name__}: {exc}; it may only succeed or "
            "raise WrongExpectedVersion",
            rules.CONCURRENCY,
        )


def _where(stores: list[EventStore], round_: int) -> str:
    return " on two instances" if len(stores) > 1 and round_ % 2 else ""


def _pick(stores: list[EventStore], round_: int) -> tuple[EventStore, EventStore]:
    if len(stores) > 1 and round_ % 2:
        return stores[0], stores[1]
    return stores[0], stores[0]


@check(
    "concurrency.stale-guard",
    f"a guard (expected version on B, events on A) racing an append to B, {ROUNDS} rounds: "
    "never both succeed with the guard stale",
    rules.STALE_GUARD,
)
async def stale_guard(ctx: CheckContext) -> None:
    async with stores_for_races(ctx) as (rec, stores):
        for round_ in range(ROUNDS):
            guarded, target = f"guarded-{round_}", f"target{round_}"
            rec.case(
                f"round {round_ + 1}: racing{_where(stores, round_)}: "
                f"append(StreamWrite({guarded!r}, 1), StreamWrite({target!r}, ANY, [e])) and "
                f"append(StreamWrite({guarded!r}, 1, [e]))"
            )
            await rec.append(StreamWrite(guarded, NO_STREAM, [NewEvent("Opened")]))
            guard_store, move_store = _pick(stores, round_)
            guard = guard_store.append(
                StreamWrite(guarded, 1), StreamWrite(target, ANY, [NewEvent("Guarded")])
            )
            move = move_store.append(StreamWrite(guarded, 1, [NewEvent("Moved")]))
            delay = (round_ // 2) % 3
            if round_ % 4 < 2:
                guarded_result, moved = await rec.within(
                    together(_outcome(rec, delay, guard), _outcome(rec, 0, move)), "the race"
                )
            else:
                moved, guarded_result = await rec.within(
                    together(_outcome(rec, delay, move), _outcome(rec, 0, guard)), "the race"
                )
            rec.require(
                isinstance(moved, AppendResult),
                f"the append to {guarded!r} at its current version failed ({moved}); a guard "
                "on the stream writes nothing to it, so it must succeed",
                rules.EXPECTED_VERSION,
            )
            assert isinstance(moved, AppendResult)
            moved_at = moved.positions[0]
            guard_won = isinstance(guarded_result, AppendResult)
            if isinstance(guarded_result, AppendResult):
                guard_at = guarded_result.positions[0]
                rec.require(
                    guard_at < moved_at,
                    f"both appends succeeded, and the guarded append committed after the "
                    f"append that moved {guarded!r} to version 2 (positions {guard_at} > "
                    f"{moved_at}): its guard 'version 1' was stale when it committed",
                    rules.STALE_GUARD,
                )
            versions = (await rec.stream_version(guarded), await rec.stream_version(target))
            want = (2, 1 if guard_won else 0)
            rec.require(
                versions == want,
                f"after the race, ({guarded!r}, {target!r}) are at versions {versions}; the "
                f"appends that succeeded leave them at {want}",
                rules.ATOMIC,
            )


@check(
    "concurrency.multi-stream-race",
    f"a two-stream append racing a one-stream append on a shared stream, {ROUNDS} rounds: "
    "exactly one succeeds",
    rules.CONCURRENCY,
)
async def multi_stream_race(ctx: CheckContext) -> None:
    async with stores_for_races(ctx) as (rec, stores):
        for round_ in range(ROUNDS):
            solo, shared = f"x{round_}-solo", f"shared-{round_}-y"
            rec.case(
                f"round {round_ + 1}: racing{_where(stores, round_)} "
                f"append(StreamWrite({solo!r}, 1, [e]), "
                f"StreamWrite({shared!r}, 1, [e])) and append(StreamWrite({shared!r}, 1, [e]))"
            )
            await rec.append(
                StreamWrite(solo, NO_STREAM, [NewEvent("Opened")]),
                StreamWrite(shared, NO_STREAM, [NewEvent("Opened")]),
            )
            both_store, one_store = _pick(stores, round_)
            both = both_store.append(
                StreamWrite(solo, 1, [NewEvent("Both")]),
                StreamWrite(shared, 1, [NewEvent("Both")]),
            )
            one = one_store.append(StreamWrite(shared, 1, [NewEvent("One")]))
            delay = (round_ // 2) % 3
            if round_ % 4 < 2:
                both_result, one_result = await rec.within(
                    together(_outcome(rec, delay, both), _outcome(rec, 0, one)), "the race"
                )
            else:
                one_result, both_result = await rec.within(
                    together(_outcome(rec, delay, one), _outcome(rec, 0, both)), "the race"
                )
            won = [isinstance(r, AppendResult) for r in (both_result, one_result)]
            rec.require(
                won != [True, True],
                f"both appends succeeded, each expecting {shared!r} at version 1: one of "
                "them wrote on a version that had moved on (a condition checked outside "
                "the write's lock or transaction)",
                rules.CONCURRENCY,
            )
            rec.require(
                won != [False, False],
                "both appends failed with WrongExpectedVersion; the first to commit must "
                f"succeed (results: {both_result}; {one_result})",
                rules.CONCURRENCY,
            )
            versions = (
                await rec.stream_version(solo),
                await rec.stream_version(shared),
            )
            want = (2, 2) if won[0] else (1, 2)
            rec.require(
                versions == want,
                f"after the race, ({solo!r}, {shared!r}) are at versions {versions}; the "
                f"appends that succeeded leave them at {want}",
                rules.ATOMIC,
            )


def _opposite_streams() -> list[tuple[str, str]]:
    # Pairs whose parts before the first dash differ (categories), in several shapes.
    return [
        ("left-1", "right-1"),
        ("alpha", "beta-2-x"),
        ("cat-a-b-c", "dog"),
        ("a-1", "b-1"),
    ]


@check(
    "concurrency.opposite-order",
    f"multi-stream appends naming the same streams in opposite orders, {ROUNDS} rounds: "
    "no deadlock, no raw error, nothing lost",
    rules.NO_DEADLOCK,
)
async def opposite_order(ctx: CheckContext) -> None:
    async with stores_for_races(ctx) as (rec, stores):
        pairs = _opposite_streams()
        counts: dict[str, int] = {s: 0 for pair in pairs for s in pair}
        for round_ in range(ROUNDS):
            first, second = pairs[round_ % len(pairs)]
            rec.case(
                f"round {round_ + 1}{_where(stores, round_)}: {PAIRS}x append(StreamWrite("
                f"{first!r}, ANY, [e]), StreamWrite({second!r}, ANY, [e])) racing {PAIRS}x "
                "the same with the streams in the opposite order"
            )
            store_a, store_b = _pick(stores, round_)
            calls = []
            for n in range(PAIRS):
                calls.append(
                    _outcome(
                        rec,
                        0,
                        store_a.append(
                            StreamWrite(first, ANY, [NewEvent("Forward", {"round": round_})]),
                            StreamWrite(second, ANY, [NewEvent("Forward", {"round": round_})]),
                        ),
                    )
                )
                calls.append(
                    _outcome(
                        rec,
                        n % 2,
                        store_b.append(
                            StreamWrite(second, ANY, [NewEvent("Backward", {"round": round_})]),
                            StreamWrite(first, ANY, [NewEvent("Backward", {"round": round_})]),
                        ),
                    )
                )
            results = await rec.within(
                together(*calls),
                "appends naming the same streams in opposite orders (a deadlock?)",
            )
            failed = [r for r in results if not isinstance(r, AppendResult)]
            rec.require(
                not failed,
                f"appends with expected version ANY failed: {failed[:1]}; with no condition "
                "they must succeed",
                rules.NO_DEADLOCK,
            )
            counts[first] += 2 * PAIRS
            counts[second] += 2 * PAIRS
        rec.case("every stream holds every appended event, versions 1, 2, 3, ...")
        for stream_id, count in counts.items():
            events = await rec.collected(rec.store.read_stream(stream_id))
            rec.require(
                [e.stream_version for e in events] == list(range(1, count + 1)),
                f"{stream_id!r} holds versions {[e.stream_version for e in events][:10]}... "
                f"({len(events)} events); {count} appends to it succeeded",
                rules.NO_DEADLOCK,
            )


DUPLICATE_ROUNDS = 12


def _unique_ids(rec: Recorder) -> None:
    if not rec.store.capabilities.unique_event_ids:
        raise NotApplicable("the store does not declare Capabilities.unique_event_ids")


@check(
    "concurrency.duplicate-id-race",
    f"two appends racing with the same event id to different streams, {DUPLICATE_ROUNDS} "
    "rounds: exactly one succeeds, the other raises DuplicateEventId",
    rules.DUPLICATE_ID,
)
async def duplicate_id_race(ctx: CheckContext) -> None:
    async with stores_for_races(ctx) as (rec, stores):
        _unique_ids(rec)
        rec.show_ids = True
        for round_ in range(DUPLICATE_ROUNDS):
            left, right = f"dup{round_}-left", f"dup-{round_}-right"
            twin = NewEvent("Delivered", {"round": round_})
            rec.case(
                f"round {round_ + 1}: racing{_where(stores, round_)} "
                f"append(StreamWrite({left!r}, ANY, [e])) and "
                f"append(StreamWrite({right!r}, ANY, [e])), one event e (id={twin.id}) "
                "in both"
            )
            store_a, store_b = _pick(stores, round_)
            first = store_a.append(StreamWrite(left, ANY, [twin]))
            second = store_b.append(
                StreamWrite(
                    right,
                    ANY,
                    [NewEvent("Delivered", {"round": round_, "id": twin.id.hex}, id=twin.id)],
                )
            )
            delay = (round_ // 2) % 2
            if round_ % 4 < 2:
                results = await rec.within(
                    together(
                        _duplicate_outcome(rec, delay, first), _duplicate_outcome(rec, 0, second)
                    ),
                    "the race",
                )
            else:
                results = await rec.within(
                    together(
                        _duplicate_outcome(rec, delay, second), _duplicate_outcome(rec, 0, first)
                    ),
                    "the race",
                )
            won = sum(isinstance(r, AppendResult) for r in results)
            rec.require(
                won < 2,
                f"both appends succeeded: event id {twin.id} is now stored twice, in "
                f"{left!r} and {right!r} (the id was checked outside the write's "
                "transaction, or by a read before it, with no unique index)",
                rules.DUPLICATE_ID,
            )
            rec.require(
                won == 1,
                "both appends raised DuplicateEventId; the id was stored nowhere before "
                "them, so the first to commit must succeed",
                rules.DUPLICATE_ID,
            )
            versions = (await rec.stream_version(left), await rec.stream_version(right))
            rec.require(
                sum(versions) == 1,
                f"after the race, ({left!r}, {right!r}) are at versions {versions}; exactly "
                "one of them holds the event",
                rules.DUPLICATE_ID,
            )
        everything = await rec.collected(rec.store.read_all())
        ids = [e.id for e in everything]
        rec.require(
            len(ids) == len(set(ids)),
            f"read_all() holds {len(ids) - len(set(ids))} event ids twice after the races",
            rules.DUPLICATE_ID,
        )


async def _duplicate_outcome(
    rec: Recorder, delay: int, call: Coroutine[Any, Any, AppendResult]
) -> AppendResult | DuplicateEventId:
    for _ in range(delay):
        await asyncio.sleep(0)
    try:
        return await call
    except DuplicateEventId as exc:
        return exc
    except Exception as exc:
        rec.fail(
            f"a racing append raised {type(exc).__name__}: {exc}; it may only succeed or "
            "raise DuplicateEventId",
            rules.DUPLICATE_ID,
        )


GAP_ROUNDS = 6
GAP_EVENTS = 5


@check(
    "concurrency.gapped-positions",
    "after appends lost races (positions may then have gaps), a streamed read_all with "
    "batch_size 3 and 1 equals the collected read_all",
    rules.STREAMED_EQUALS_COLLECTED,
)
async def gapped_positions(ctx: CheckContext) -> None:
    async with stores_for_races(ctx) as (rec, stores):
        unique = rec.store.capabilities.unique_event_ids
        rec.case(
            f"{GAP_ROUNDS} rounds racing two appends of {GAP_EVENTS} events with NO_STREAM "
            "to one new stream"
            + (" and two appends of a shared event id" if unique else "")
            + ", each followed by an append that wins; then read_all streamed and collected"
        )
        for round_ in range(GAP_ROUNDS):
            store_a, store_b = _pick(stores, round_)
            stream_id = f"gap-{round_}"
            calls = [
                _any_outcome(
                    rec,
                    0,
                    store_a.append(StreamWrite(stream_id, NO_STREAM, new_events(GAP_EVENTS))),
                ),
                _any_outcome(
                    rec,
                    0,
                    store_b.append(StreamWrite(stream_id, NO_STREAM, new_events(GAP_EVENTS))),
                ),
            ]
            if unique:
                twin = new_events(GAP_EVENTS)
                calls += [
                    _any_outcome(rec, 0, store_a.append(StreamWrite(f"gapa{round_}", ANY, twin))),
                    _any_outcome(rec, 0, store_b.append(StreamWrite(f"gapb{round_}", ANY, twin))),
                ]
            await rec.within(together(*calls), "the racing appends")
            await rec.append(StreamWrite(f"after-{round_}", ANY, new_events(2)))
        collected = identities(await rec.collected(rec.store.read_all()))
        positions = [e.position for e in collected]
        rec.note(f"positions now: {_short_positions(positions)}")
        reads: list[tuple[str, list[RecordedEvent]]] = [("read_all().collect()", collected)]
        for size in (3, 1):
            streamed = await rec.streamed(rec.read_all(batch_size=size))
            reads.append((f"async for e in read_all(batch_size={size})", identities(streamed)))
        rec.require_same_reads(reads, rules.STREAMED_EQUALS_COLLECTED)
        middle = positions[len(positions) // 2] if positions else 0
        tail = await rec.streamed(rec.read_all(after_position=middle, batch_size=2))
        rec.require_same_reads(
            [
                (
                    f"read_all().collect() after position {middle}",
                    [e for e in collected if e.position > middle],
                ),
                (
                    f"async for e in read_all(after_position={middle}, batch_size=2)",
                    identities(tail),
                ),
            ],
            rules.STREAMED_EQUALS_COLLECTED,
        )


def _short_positions(positions: list[int]) -> str:
    shown = ", ".join(map(str, positions[:40]))
    return f"[{shown}{', ...' if len(positions) > 40 else ''}]"


async def _any_outcome(
    rec: Recorder, delay: int, call: Coroutine[Any, Any, AppendResult]
) -> AppendResult | EventStoreError:
    for _ in range(delay):
        await asyncio.sleep(0)
    try:
        return await call
    except (WrongExpectedVersion, DuplicateEventId) as exc:
        return exc
    except Exception as exc:
        rec.fail(
            f"a racing append raised {type(exc).__name__}: {exc}; it may only succeed, "
            "raise WrongExpectedVersion or DuplicateEventId",
            rules.CONCURRENCY,
        )
