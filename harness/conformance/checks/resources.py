"""Resources: reads abandoned early, and failed appends, leave the store fully usable.

A store that leaks a connection, cursor, transaction or lock per abandoned read runs
out after a few dozen; a thousand of each kind finds it. Every read is bounded by the
settings' timeout, so an exhausted pool shows as a failure, not a hung suite.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from harness.conformance import rules
from harness.conformance.core import CheckContext, Recorder, check, new_events
from harness.contract import ANY, NO_STREAM, EventStream, StreamWrite, WrongExpectedVersion

ABANDONED_READS = 1000
STREAM_LENGTH = 20


class _Abandon(Exception):
    """Raised inside a read loop to leave it by exception."""


def _open(rec: Recorder, index: int) -> EventStream:
    # Alternate stream and global reads; batch size 1 so the read is mid-way when left.
    if index % 2:
        return rec.store.read_all(batch_size=1)
    return rec.store.read_stream("s", batch_size=1)


async def _prepare(rec: Recorder, how: str) -> None:
    await rec.append_ok(StreamWrite("s", NO_STREAM, new_events(STREAM_LENGTH)))
    rec.case(
        f"{ABANDONED_READS} reads (read_stream and read_all, batch_size=1) left after one "
        f"event by {how}"
    )


async def _usable_after(rec: Recorder, how: str, count: int = ABANDONED_READS) -> None:
    """The store must answer every kind of call, promptly, after the abandoned reads."""
    gc.collect()
    await asyncio.sleep(0)
    rec.note(f"after {count} reads abandoned by {how}, the store must still work:")
    await rec.append_ok(StreamWrite("s", STREAM_LENGTH, new_events(1, after=how)))
    await rec.append_ok(StreamWrite("s", ANY, new_events(1)), StreamWrite("t", ANY, new_events(1)))
    await rec.verify_stream("s", form="stream", batch_size=1, rule=rules.RESOURCES)
    await rec.verify_all(form="stream", batch_size=2, rule=rules.RESOURCES)
    await rec.verify_all(form="collect", rule=rules.RESOURCES)
    version = await rec.stream_version("s")
    want = STREAM_LENGTH + 2
    rec.require(version == want, f"stream_version is {version}, expected {want}", rules.RESOURCES)


async def _read_one(rec: Recorder, index: int, how: str) -> None:
    read = _open(rec, index)
    if how == "break":
        if index % 4 < 2:
            # A bare async for: the read is released once the stream is garbage.
            async for _ in read:
                break
        else:
            async with read as events:
                async for _ in events:
                    break
    else:
        try:
            if index % 4 < 2:
                async for _ in read:
                    raise _Abandon
            else:
                async with read as events:
                    async for _ in events:
                        raise _Abandon
        except _Abandon:
            pass


@check(
    "resources.abandon-by-break",
    f"{ABANDONED_READS} reads left by break after one event leave the store usable",
    rules.RESOURCES,
)
async def abandon_by_break(ctx: CheckContext) -> None:
    await _abandon(ctx, "break")


@check(
    "resources.abandon-by-exception",
    f"{ABANDONED_READS} reads left by an exception after one event leave the store usable",
    rules.RESOURCES,
)
async def abandon_by_exception(ctx: CheckContext) -> None:
    await _abandon(ctx, "exception")


async def _abandon(ctx: CheckContext, how: str) -> None:
    async with ctx.store() as rec:
        await _prepare(rec, how)
        for index in range(ABANDONED_READS):
            await rec.within(_read_one(rec, index, how), f"abandoned read #{index + 1} (by {how})")
        await _usable_after(rec, how)


@check(
    "resources.abandon-by-cancellation",
    f"{ABANDONED_READS} reading tasks cancelled after one event leave the store usable",
    rules.RESOURCES,
)
async def abandon_by_cancellation(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        await _prepare(rec, "task cancellation")

        async def reader(index: int, got_one: asyncio.Event) -> None:
            # Half the tasks are cancelled while they wait after their first event,
            # half while they read on (so mostly inside the store, fetching a batch).
            read = _open(rec, index)
            hold = index % 4 < 2
            if index % 2:
                async for _ in read:
                    got_one.set()
                    if hold:
                        await asyncio.Event().wait()
            else:
                async with read as events:
                    async for _ in events:
                        got_one.set()
                        if hold:
                            await asyncio.Event().wait()

        for index in range(ABANDONED_READS):
            got_one = asyncio.Event()
            task = asyncio.create_task(reader(index, got_one))
            waiter = asyncio.create_task(got_one.wait())
            try:
                await rec.within(
                    asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED),
                    f"reading task #{index + 1} waiting for its first event",
                )
            finally:
                waiter.cancel()
                task.cancel()
            await rec.within(asyncio.wait({task}), f"cancelling reading task #{index + 1}")
            if not task.cancelled() and task.exception() is not None:
                error = task.exception()
                assert error is not None
                raise error
        await _usable_after(rec, "task cancellation")


@check(
    "resources.failed-appends",
    "hundreds of rejected appends leave the store usable (nothing held on error paths)",
    rules.RESOURCES,
)
async def failed_appends(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        await rec.append_ok(StreamWrite("s", NO_STREAM, new_events(STREAM_LENGTH)))
        rec.case("300 appends rejected with WrongExpectedVersion, then normal use")
        for index in range(300):
            try:
                await rec.within(
                    rec.store.append(
                        StreamWrite("t", ANY, new_events(1)),
                        StreamWrite("s", index % 3, new_events(1)),
                    ),
                    f"rejected append #{index + 1}",
                )
            except WrongExpectedVersion:
                continue
            rec.fail(
                f"append #{index + 1} with expected version {index % 3} on a stream at "
                f"{STREAM_LENGTH} succeeded",
                rules.EXPECTED_VERSION,
            )
        await _usable_after(rec, "rejected appends")


CANCEL_BATCH = 2
CANCEL_AFTER = 7
"""Events a streamed read yields before it is cancelled (mid-batch: the next await is
the store's fetch of the following batch)."""
CANCEL_TURNS = 4
CANCELLED_COLLECTS = 20
"""More than a connection pool holds."""


def _cancel_reads(rec: Recorder) -> list[tuple[str, EventStream]]:
    return [
        (
            f"read_stream('s', batch_size={CANCEL_BATCH})",
            rec.read_stream("s", batch_size=CANCEL_BATCH),
        ),
        (f"read_all(batch_size={CANCEL_BATCH})", rec.read_all(batch_size=CANCEL_BATCH)),
    ]


def _ended(rec: Recorder, task: asyncio.Task[Any], what: str, got: int) -> None:
    """``task`` was cancelled while in flight: it must end cancelled."""
    if task.cancelled():
        return
    error = task.exception()
    rec.fail(
        f"{what}, cancelled in flight, "
        + (
            f"raised {type(error).__name__}: {error}"
            if error is not None
            else f"finished normally after {got} of {STREAM_LENGTH} events"
        )
        + ", not CancelledError: the store swallowed the cancellation (an except clause "
        "catching CancelledError or BaseException around a fetch), so the caller takes a "
        "cut-short read for the whole stream and asyncio.timeout() cannot work",
        rules.CANCELLATION,
    )


@check(
    "resources.cancelled-reads",
    "streamed and collected reads cancelled mid-way (task.cancel(), asyncio.timeout()) raise "
    f"CancelledError or TimeoutError, never end short; {CANCELLED_COLLECTS} cancelled "
    "collects leave the store usable",
    rules.CANCELLATION,
)
async def cancelled_reads(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        await rec.append_ok(StreamWrite("s", NO_STREAM, new_events(STREAM_LENGTH)))
        loop = asyncio.get_running_loop()
        for kind in range(2):
            # A task cancelling itself after CANCEL_AFTER events.
            what, read = _cancel_reads(rec)[kind]
            rec.case(
                f"a task reading [e async for e in {what}] calls task.cancel() on itself "
                f"after {CANCEL_AFTER} events"
            )
            got: list[Any] = []

            async def consume(read: EventStream, got: list[Any]) -> None:
                async for event in read:
                    got.append(event)
                    if len(got) == CANCEL_AFTER:
                        task = asyncio.current_task()
                        assert task is not None
                        task.cancel()

            task = asyncio.create_task(consume(read, got))
            await rec.within(asyncio.wait({task}), f"the cancelled {what}")
            _ended(rec, task, f"[e async for e in {what}]", len(got))

            # The same under asyncio.timeout(), its deadline reached after CANCEL_AFTER events.
            what, read = _cancel_reads(rec)[kind]
            rec.case(
                f"async with asyncio.timeout(None) as deadline: async for e in {what}: ... "
                f"deadline.reschedule(now) after {CANCEL_AFTER} events"
            )
            timed: list[Any] = []

            async def under_timeout(read: EventStream, got: list[Any]) -> str:
                try:
                    async with asyncio.timeout(None) as deadline:
                        async for event in read:
                            got.append(event)
                            if len(got) == CANCEL_AFTER:
                                deadline.reschedule(loop.time())
                except TimeoutError:
                    return "TimeoutError"
                return "expired" if deadline.expired() else "in time"

            ended = await rec.within(under_timeout(read, timed), f"{what} under asyncio.timeout()")
            rec.require(
                ended != "expired",
                f"{what} under asyncio.timeout() finished normally after {len(timed)} of "
                f"{STREAM_LENGTH} events, though the deadline passed while it read: the "
                "store swallowed the cancellation, and the caller takes a cut-short read for "
                "the whole stream instead of a TimeoutError",
                rules.CANCELLATION,
            )

            # Cancelled from outside after a few loop turns, streamed and collected.
            for turns in range(CANCEL_TURNS):
                for form in ("stream", "collect"):
                    what, read = _cancel_reads(rec)[kind]
                    shown = (
                        f"[e async for e in {what}]"
                        if form == "stream"
                        else f"await {what}.collect()"
                    )
                    rec.case(f"task = create_task({shown}); task.cancel() after {turns} loop turns")
                    reading = asyncio.create_task(_read(read, form))
                    for _ in range(turns):
                        await asyncio.sleep(0)
                    in_flight = not reading.done()
                    reading.cancel()
                    await rec.within(asyncio.wait({reading}), f"the cancelled {shown}")
                    if in_flight:
                        done = (
                            0
                            if reading.cancelled() or reading.exception()
                            else len(reading.result())
                        )
                        _ended(rec, reading, shown, done)

        rec.case(
            f"{CANCELLED_COLLECTS} tasks, one after another: task = create_task(store."
            "read_stream('s').collect(), or read_all().collect()); one loop turn; "
            "task.cancel()"
        )
        for index in range(CANCELLED_COLLECTS):
            read = rec.store.read_stream("s") if index % 2 else rec.store.read_all()
            collecting = asyncio.create_task(read.collect())
            await asyncio.sleep(0)
            collecting.cancel()
            await rec.within(asyncio.wait({collecting}), f"cancelled collect #{index + 1}")
        await _usable_after(rec, "cancellation", CANCELLED_COLLECTS)


async def _read(read: EventStream, form: str) -> list[Any]:
    if form == "collect":
        return await read.collect()
    return [event async for event in read]
