"""Faults, where the store offers `SupportsConnectionCut`: a cut read fails loudly, and
the store recovers."""

from __future__ import annotations

from harness.conformance import rules
from harness.conformance.core import CheckContext, NotApplicable, Recorder, check, new_events
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
    "a read_stream cut mid-way raises ReadInterrupted, never ends short; the store recovers",
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


@check(
    "faults.cut-read-all",
    "a read_all cut mid-way raises ReadInterrupted, never ends short; the store recovers",
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
