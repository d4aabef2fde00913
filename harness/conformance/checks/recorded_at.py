"""recorded_at: timezone-aware UTC, inside the append call that wrote it, the same in
every read of the event."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from harness.conformance import rules
from harness.conformance.core import CheckContext, Recorder, check, new_events
from harness.conformance.model import describe_event
from harness.contract import ANY, NO_STREAM, RecordedEvent, StreamWrite
from harness.registry import reopener

TOLERANCE = timedelta(seconds=1)
"""Slack on each side of an append's wall-clock window: clock granularity, and a
database server whose clock is a little apart from this process's."""


def _aware_utc(value: object) -> bool:
    return (
        isinstance(value, datetime)
        and value.tzinfo is not None
        and value.utcoffset() == timedelta(0)
    )


def _check_events(
    rec: Recorder,
    events: Sequence[RecordedEvent],
    windows: dict[object, tuple[datetime, datetime]],
    what: str,
) -> None:
    for index, event in enumerate(events):
        at = event.recorded_at
        where = f"{what}: event #{index + 1} {describe_event(event)}"
        rec.require(
            _aware_utc(at),
            f"{where}: recorded_at is {at!r}, not a timezone-aware datetime in UTC "
            "(tzinfo set, utcoffset() zero). Return datetime values with tzinfo=UTC "
            "(datetime.now(UTC), or a timestamptz column converted to UTC).",
            rules.RECORDED_AT,
        )
        start, end = windows[event.id]
        rec.require(
            start - TOLERANCE <= at <= end + TOLERANCE,
            f"{where}: recorded_at is {at.isoformat()}, outside the append call that wrote "
            f"it ({start.isoformat()} to {end.isoformat()}, give or take "
            f"{TOLERANCE.total_seconds():g} s): record the time of the append, in UTC",
            rules.RECORDED_AT,
        )


@check(
    "append.recorded-at",
    "recorded_at is aware UTC, within its append call, the same in every read and instance",
    rules.RECORDED_AT,
)
async def recorded_at(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        rec.case("appends of one and several events, to one and several streams; every read")
        windows: dict[object, tuple[datetime, datetime]] = {}
        appends = [
            (StreamWrite("a", NO_STREAM, new_events(1)),),
            (StreamWrite("a", 1, new_events(3)), StreamWrite("b", ANY, new_events(2))),
            (StreamWrite("b", 2, new_events(1)),),
        ]
        for writes in appends:
            start = datetime.now(UTC)
            await rec.append_ok(*writes)
            end = datetime.now(UTC)
            for write in writes:
                for event in write.events:
                    windows[event.id] = (start, end)
        reads: list[tuple[str, Sequence[RecordedEvent]]] = []
        for form, name in (("collect", "collected"), ("stream", "streamed")):
            for batch_size in (None, 1):
                events = await rec.verify_all(form=form, batch_size=batch_size)
                _check_events(rec, events, windows, f"read_all() [{name}]")
                reads.append((f"{name} read_all(batch_size={batch_size})", events))
        by_stream = [
            e
            for stream in ("a", "b")
            for e in await rec.verify_stream(stream, form="stream", batch_size=2)
        ]
        _check_events(rec, by_stream, windows, "read_stream() [streamed]")
        order = {e.id: i for i, e in enumerate(reads[0][1])}
        reads.append(("read_stream", sorted(by_stream, key=lambda e: order.get(e.id, -1))))
        rec.require_same_reads(reads, rules.RECORDED_AT)
        # Events missing after a reopen are the persistence checks' business; here only
        # the times of the events that are there are compared.
        if rec.store.capabilities.persistent:
            rec.case("the same events after closing and opening the store again")
            rec.note("await store.aclose(); await store.open()")
            await rec.within(rec.store.aclose(), "aclose()")
            await rec.within(rec.store.open(), "open()")
            again = await rec.collected(rec.read_all())
            _same_times(rec, reads[0][1], again, "after reopening")
        factory = reopener(ctx.factory)
        location = getattr(rec.store, "location", None)
        if factory is not None and isinstance(location, str) and location:
            # The two-instance hook: another instance over the same data reads the
            # same times (a store converting on read by its own clock or zone would not).
            rec.case("the same events read by another instance at store.location")
            rec.note("async with factory(location=store.location) as other: ...")
            async with ctx.opened(factory.reopen(location), "factory(location=...)") as other:
                elsewhere = await other.collected(other.read_all())
            _same_times(rec, reads[0][1], elsewhere, "read by another instance")


def _same_times(
    rec: Recorder, first: Sequence[RecordedEvent], later: Sequence[RecordedEvent], how: str
) -> None:
    times = {e.id: e.recorded_at for e in first}
    for index, event in enumerate(later):
        at = times.get(event.id)
        if at is not None and event.recorded_at != at:
            rec.fail(
                f"event #{index + 1} {describe_event(event)} {how}: recorded_at is "
                f"{event.recorded_at!r}, it was {at!r} (in a collected read_all)",
                rules.RECORDED_AT,
            )
