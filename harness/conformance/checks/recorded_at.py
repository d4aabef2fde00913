"""recorded_at: timezone-aware UTC, inside the append call that wrote it, the same in
every read of the event."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

from harness.conformance import rules
from harness.conformance.core import CheckContext, Recorder, check, new_events
from harness.conformance.model import describe_event
from harness.contract import ANY, NO_STREAM, RecordedEvent, StreamWrite
from harness.registry import reopener

FORMS = (("collect", "collected"), ("stream", "streamed"))
TOLERANCE = timedelta(seconds=1)
"""Slack on each side of an append's wall-clock window: clock granularity, and a
database server whose clock is a little apart from this process's."""


LOCAL_ZONE = "Asia/Kolkata"
"""The process's local time zone while the check runs (UTC+05:30, no daylight saving):
local time stored as UTC, invisible on a UTC machine, is then hours off."""
APART = timedelta(seconds=1.1)
"""The last append waits until this long after the one before it ended..."""
SOON = timedelta(seconds=0.25)
GRANULARITY = timedelta(seconds=0.05)
"""An append SOON after another is stamped at least SOON - GRANULARITY later by a clock
with fine steps (a coarser one is given the APART append below)."""
MOVES = timedelta(seconds=1)
"""...and its recorded_at must be at least this much later (a clock with whole seconds
moves by one at least): a clock read once per session or transaction does not move."""


@contextlib.contextmanager
def local_zone(zone: str) -> Iterator[None]:
    """The process's local time zone set to ``zone`` for the block (TZ and tzset()),
    restored after. Where tzset() does not exist (Windows) nothing changes."""
    tzset = getattr(time, "tzset", None)
    if tzset is None:
        yield
        return
    before = os.environ.get("TZ")
    os.environ["TZ"] = zone
    tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        tzset()


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
        if not start - TOLERANCE <= at <= end + TOLERANCE:
            rec.fail(
                f"{where}: recorded_at is {at.isoformat()}, outside the append call that "
                f"wrote it ({start.isoformat()} to {end.isoformat()}, give or take "
                f"{TOLERANCE.total_seconds():g} s){_zone_hint(at - start)}. Record the time "
                "of the append, in UTC.",
                rules.RECORDED_AT,
            )


def _zone_hint(off: timedelta) -> str:
    """Where ``off`` is about the local zone's offset: say so (local time taken for UTC)."""
    local = datetime.now().astimezone().utcoffset() or timedelta(0)
    if local and any(abs(off - sign * local) <= 2 * TOLERANCE for sign in (1, -1)):
        return (
            f"; it is off by about the local time zone's offset ({local}, TZ="
            f"{os.environ.get('TZ')} during the check): is local time taken for UTC"
        )
    return ""


@check(
    "append.recorded-at",
    "recorded_at is aware UTC (offset zero in every read form), within its append call, "
    "moving with the clock, the same in every read and instance",
    rules.RECORDED_AT,
)
async def recorded_at(ctx: CheckContext) -> None:
    # Under a non-UTC local zone: a store that takes local wall-clock time for UTC is
    # hours off here, where on a UTC machine (CI, a container) it would not show.
    with local_zone(LOCAL_ZONE):
        await _recorded_at(ctx)


async def _recorded_at(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        rec.case(
            f"appends of one and several events, to one and several streams (local time "
            f"zone {LOCAL_ZONE}); every read"
        )
        windows: dict[object, tuple[datetime, datetime]] = {}
        appends = [
            (StreamWrite("a", NO_STREAM, new_events(1)),),
            (StreamWrite("a", 1, new_events(3)), StreamWrite("b", ANY, new_events(2))),
            (StreamWrite("b", 2, new_events(1)),),
        ]
        end = datetime.now(UTC)
        for writes in appends:
            start = datetime.now(UTC)
            await rec.append_ok(*writes)
            end = datetime.now(UTC)
            for write in writes:
                for event in write.events:
                    windows[event.id] = (start, end)
        reads: list[tuple[str, Sequence[RecordedEvent]]] = []
        for form, name in FORMS:
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
        # Every read path converts recorded_at, not the main one only: resumed reads
        # (how projections read) and collected ones (how aggregates load) are often
        # other statements or other driver calls.
        rec.case("recorded_at in resumed and collected reads: aware UTC, offset zero")
        after = rec.model.log[0].position
        for form, name in FORMS:
            for stream, version in (("a", 0), ("a", 1), (None, after)):
                if stream is None:
                    what = f"read_all(after_position={version}) [{name}]"
                    events = await rec.verify_all(after_position=version, form=form)
                else:
                    what = f"read_stream({stream!r}, from_version={version}) [{name}]"
                    events = await rec.verify_stream(stream, from_version=version, form=form)
                _check_events(rec, events, windows, what)
                _same_times(rec, reads[0][1], events, f"in {what}")
        await _clock_moves(rec, windows, end)
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


async def _clock_moves(
    rec: Recorder, windows: dict[object, tuple[datetime, datetime]], ended: datetime
) -> None:
    """Appends made a while after the last one ended are stamped that much later.

    First SOON after it, where a fine clock must have moved by nearly as much; a store
    whose clock has coarser steps (whole seconds) is given one more append, APART after
    it, which must be at least MOVES later. A clock that never moves fails both.
    """
    earlier = rec.model.log[-1]
    rec.case(
        f"appends {SOON.total_seconds():g} s (and if need be {APART.total_seconds():g} s) "
        "after the last one: their recorded_at moved with the clock"
    )
    moved, gap, events = await _append_after(rec, windows, earlier.id, ended, SOON)
    if moved < SOON - GRANULARITY:
        moved, gap, events = await _append_after(rec, windows, earlier.id, ended, APART)
        rec.require(
            moved >= MOVES,
            f"an event appended {gap.total_seconds():.2f} s after another was has a "
            f"recorded_at only {moved.total_seconds():g} s later; expected at least "
            f"{MOVES.total_seconds():g} s: the store's clock does not move (a time read once "
            "per session or connection, now() inside a transaction left open, a timestamp "
            "cached at open()). Record the time of each append.",
            rules.RECORDED_AT,
        )
    _check_events(rec, events, windows, "read_all() [collected]")


async def _append_after(
    rec: Recorder,
    windows: dict[object, tuple[datetime, datetime]],
    earlier: uuid.UUID,
    ended: datetime,
    after: timedelta,
) -> tuple[timedelta, timedelta, list[RecordedEvent]]:
    """Append one event ``after`` the append that wrote ``earlier`` ended; return how
    much later than ``earlier``'s its recorded_at is, the time between the two appends,
    and read_all() (collected) after it."""
    wait = (ended + after - datetime.now(UTC)).total_seconds()
    rec.note(f"await asyncio.sleep({max(wait, 0):.2f})  # {after.total_seconds():g} s after it")
    if wait > 0:
        await asyncio.sleep(wait)
    start = datetime.now(UTC)
    write = StreamWrite("c", ANY, new_events(1))
    await rec.append_ok(write)
    windows[write.events[0].id] = (start, datetime.now(UTC))
    events = await rec.verify_all(form="collect")
    times = {e.id: e.recorded_at for e in events}
    first, last = times.get(earlier), times.get(write.events[0].id)
    # verify_all found every event.
    assert first is not None
    assert last is not None
    return last - first, start - ended, events


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
