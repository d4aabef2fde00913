"""Faults, where the store offers `SupportsConnectionCut`: a cut read fails loudly, and
the store recovers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from harness.conformance import rules
from harness.conformance.core import CheckContext, NotApplicable, Recorder, check, new_events
from harness.conformance.model import describe_difference
from harness.contract import (
    ANY,
    NO_STREAM,
    EventStore,
    EventStream,
    ReadInterrupted,
    RecordedEvent,
    StreamWrite,
    SupportsConnectionCut,
)

EVENTS = 60
BATCH = 5
CUT_AFTER = 7
FROM_VERSION = 10


def _cuttable(store: EventStore) -> SupportsConnectionCut:
    if not isinstance(store, SupportsConnectionCut):
        raise NotApplicable("the store does not offer cut_connections() (SupportsConnectionCut)")
    return store


async def _cut_mid_read(rec: Recorder, read: EventStream, expected_count: int, what: str) -> None:
    cutter = _cuttable(rec.store)
    seen: list[RecordedEvent] = []
    interrupted: ReadInterrupted | None = None

    async def consume() -> None:
        nonlocal interrupted
        try:
            async with read as events:
                async for event in events:
                    seen.append(event)
                    if len(seen) == CUT_AFTER:
                        rec.note("await store.cut_connections()  # mid-read")
                        await cutter.cut_connections()
        except ReadInterrupted as exc:
            interrupted = exc
        except Exception as exc:
            rec.fail(
                f"{what} cut mid-way raised {type(exc).__name__}: {exc}; expected ReadInterrupted",
                rules.FAULTS,
            )

    await rec.within(consume(), f"{what} after cut_connections()")
    if interrupted is None:
        rec.require(
            len(seen) == expected_count,
            f"{what} cut after {CUT_AFTER} events ended in silence after {len(seen)} of "
            f"{expected_count} events instead of raising ReadInterrupted",
            rules.FAULTS,
        )
        # A read that went on to its end was not cut: either cut_connections() cuts
        # nothing, or the read does not hold the connection it streams from.
        rec.fail(
            f"{what} went on to its end ({len(seen)} events, batch_size={BATCH}) after "
            f"cut_connections() was called mid-read: nothing was cut. cut_connections() "
            "must close every connection the store holds, so that a read in flight raises "
            "ReadInterrupted",
            rules.FAULTS,
        )
    else:
        rec.note(f"ReadInterrupted after {len(seen)} events, as the contract requires")
        try:
            await read.collect()
        except ReadInterrupted:
            pass
        except Exception as exc:
            rec.fail(
                f"using the interrupted read again raised {type(exc).__name__}, "
                "not ReadInterrupted",
                rules.FAULTS,
            )
        else:
            rec.fail(
                "using the interrupted read again did not raise ReadInterrupted again", rules.FAULTS
            )


async def _recovers(rec: Recorder) -> None:
    rec.note("the store must work again after the cut:")
    await rec.append_ok(StreamWrite("after-cut", ANY, new_events(2)))
    await rec.verify_stream("s", form="stream", batch_size=BATCH, rule=rules.FAULTS)
    await rec.verify_all(rule=rules.FAULTS)


@check(
    "faults.cut-read-stream",
    "a read_stream (from the start and from_version > 0) cut mid-way raises ReadInterrupted, "
    "never ends short; the store recovers",
    rules.FAULTS,
)
async def cut_read_stream(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        _cuttable(rec.store)
        await rec.append_ok(StreamWrite("s", NO_STREAM, new_events(EVENTS)))
        rec.case(
            f"a streamed read_stream of {EVENTS} events, batch_size={BATCH}, cut after {CUT_AFTER}"
        )
        await _cut_mid_read(rec, rec.read_stream("s", batch_size=BATCH), EVENTS, "read_stream")
        await _recovers(rec)
        what = f"read_stream('s', from_version={FROM_VERSION}, batch_size={BATCH})"
        rec.case(f"a streamed {what}, cut after {CUT_AFTER} events")
        read = rec.read_stream("s", from_version=FROM_VERSION, batch_size=BATCH)
        await _cut_mid_read(rec, read, EVENTS - FROM_VERSION, what)
        await _recovers(rec)


@check(
    "faults.cut-read-all",
    "a read_all (from the start and after_position > 0) cut mid-way raises ReadInterrupted, "
    "never ends short; the store recovers",
    rules.FAULTS,
)
async def cut_read_all(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        _cuttable(rec.store)
        await rec.append_ok(
            StreamWrite("s", NO_STREAM, new_events(EVENTS // 2)),
            StreamWrite("t", NO_STREAM, new_events(EVENTS // 2)),
        )
        rec.case(
            f"a streamed read_all of {EVENTS} events, batch_size={BATCH}, cut after {CUT_AFTER}"
        )
        await _cut_mid_read(rec, rec.read_all(batch_size=BATCH), EVENTS, "read_all")
        await _recovers(rec)
        after = rec.model.read_all()[FROM_VERSION - 1].position
        what = f"read_all(after_position={after}, batch_size={BATCH})"
        rec.case(f"a streamed {what}, cut after {CUT_AFTER} events")
        read = rec.read_all(after_position=after, batch_size=BATCH)
        await _cut_mid_read(rec, read, len(rec.model.read_all(after)), what)
        await _recovers(rec)


@check(
    "faults.cut-idle",
    "after cut_connections() with nothing in flight, every call works again (and it cut)",
    rules.FAULTS,
)
async def cut_idle(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        cutter = _cuttable(rec.store)
        await rec.append_ok(StreamWrite("s", NO_STREAM, new_events(3)))
        await rec.append_ok(StreamWrite("witness", NO_STREAM, new_events(EVENTS)))
        for round_ in range(3):
            rec.case(f"cut_connections() #{round_ + 1}, then append and read")
            rec.note("await store.cut_connections()")
            await rec.within(cutter.cut_connections(), "cut_connections()")
            await _recovers(rec)
        # Recovering proves nothing if nothing was cut: a read left open across one more
        # cut must show that it happened.
        rec.case(f"a read left open ({CUT_AFTER} events taken) across cut_connections()")
        await _cut_mid_read(
            rec, rec.read_stream("witness", batch_size=BATCH), EVENTS, "a read_stream"
        )
        await _recovers(rec)


SWEEP_EVENTS = 250
SWEEP_TURNS = (1, 2)
"""Cut after this many loop turns of the read (at 0 the read has not begun): its first
fetch, or a later one, in a store that gives the loop a turn per fetch. A cut takes
about 0.1 s on PostgreSQL, so the sweep is short."""


@check(
    "faults.cut-any-read",
    "a read cut at any moment (its first fetch, later ones), collected or streamed, from "
    "the start or from_version/after_position > 0, raises ReadInterrupted or returns every "
    "event, never a short list",
    rules.FAULTS,
)
async def cut_any_read(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        cutter = _cuttable(rec.store)
        await rec.append_ok(StreamWrite("s", NO_STREAM, new_events(SWEEP_EVENTS)))
        await rec.append_ok(StreamWrite("other", NO_STREAM, new_events(EVENTS // 3)))
        after = rec.model.read_stream("s")[FROM_VERSION - 1].position
        reads: list[tuple[str, Callable[[], EventStream], list[Any]]] = [
            (
                f"read_stream('s', batch_size={BATCH})",
                lambda: rec.read_stream("s", batch_size=BATCH),
                list(rec.model.read_stream("s")),
            ),
            (
                f"read_stream('s', from_version={FROM_VERSION}, batch_size={BATCH})",
                lambda: rec.read_stream("s", from_version=FROM_VERSION, batch_size=BATCH),
                list(rec.model.read_stream("s", FROM_VERSION)),
            ),
            (
                f"read_all(batch_size={BATCH})",
                lambda: rec.read_all(batch_size=BATCH),
                list(rec.model.read_all()),
            ),
            (
                f"read_all(after_position={after}, batch_size={BATCH})",
                lambda: rec.read_all(after_position=after, batch_size=BATCH),
                list(rec.model.read_all(after)),
            ),
        ]
        for what, make, expected in reads:
            for form in ("collect", "stream"):
                for turns in SWEEP_TURNS:
                    shown = (
                        f"await {what}.collect()"
                        if form == "collect"
                        else f"[e async for e in {what}]"
                    )
                    rec.case(
                        f"{shown} in a task; await store.cut_connections() after {turns} loop "
                        "turns of it"
                    )
                    await _cut_during(rec, cutter, make, form, turns, expected, shown)


async def _cut_during(
    rec: Recorder,
    cutter: SupportsConnectionCut,
    make: Callable[[], EventStream],
    form: str,
    turns: int,
    expected: list[Any],
    what: str,
) -> None:
    read = make()

    async def consume() -> list[RecordedEvent]:
        if form == "collect":
            return await read.collect()
        return [event async for event in read]

    task = asyncio.create_task(consume())
    try:
        for _ in range(turns):
            await asyncio.sleep(0)
        rec.note("await store.cut_connections()")
        await rec.within(cutter.cut_connections(), "cut_connections()")
        await rec.within(asyncio.wait({task}), f"{what} across cut_connections()")
    finally:
        task.cancel()
    error = None if task.cancelled() else task.exception()
    if isinstance(error, ReadInterrupted):
        return
    if error is not None:
        rec.fail(
            f"{what}, cut by cut_connections(), raised {type(error).__name__}: {error}; "
            "expected ReadInterrupted (or every event, if the read was done before the cut)",
            rules.FAULTS,
        )
    rec.require(not task.cancelled(), f"{what} was cancelled by no one", rules.FAULTS)
    difference = describe_difference(task.result(), expected)
    if difference is not None:
        rec.fail(
            f"{what}, cut by cut_connections() after {turns} loop turn(s), returned "
            f"{difference}, without raising: a read that lost its connection must raise "
            "ReadInterrupted, never return what it had as if the stream ended there",
            rules.FAULTS,
        )
