"""Reads: order, isolation, resumption, streamed vs collected, batches, single use, snapshots."""

from __future__ import annotations

import itertools

from harness.conformance import rules
from harness.conformance.core import CheckContext, Recorder, check, new_events
from harness.contract import (
    ANY,
    DEFAULT_BATCH_SIZE,
    NO_STREAM,
    EventStream,
    InvalidStreamId,
    NewEvent,
    StreamAlreadyConsumed,
    StreamWrite,
)

FORMS = ("collect", "stream", "batches")


async def _three_streams(rec: Recorder) -> None:
    """Interleaved appends to three streams (7, 4 and 2 events)."""
    for round_ in range(7):
        writes = [StreamWrite("alpha", ANY, [NewEvent("A", {"round": round_})])]
        if round_ < 4:
            writes.append(StreamWrite("beta", ANY, [NewEvent("B", {"round": round_})]))
        if round_ % 3 == 0 and round_ < 6:
            writes.insert(0, StreamWrite("gamma", ANY, [NewEvent("G", {"round": round_})]))
        await rec.append_ok(*writes)


@check(
    "read.missing-stream",
    "a stream never written reads as empty and has version 0",
    rules.READ_STREAM,
)
async def missing_stream(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        await rec.append_ok(StreamWrite("present", NO_STREAM, new_events(2)))
        rec.case("reads of a stream that was never written")
        for form in FORMS:
            await rec.verify_stream("absent", form=form, rule=rules.READ_STREAM)
            await rec.verify_stream("absent", from_version=3, form=form, rule=rules.READ_STREAM)
        version = await rec.stream_version("absent")
        rec.require(
            version == 0, f"stream_version of a missing stream is {version}", rules.READ_STREAM
        )
        rec.case("reading a missing stream does not create it")
        await rec.append_ok(StreamWrite("absent", NO_STREAM, new_events(1)))


@check(
    "read.stream-order",
    "a stream reads back in append order with versions 1, 2, 3, ...",
    rules.READ_STREAM,
)
async def stream_order(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        rec.case("several appends to one stream")
        for size in (1, 3, 2, 5):
            await rec.append_ok(StreamWrite("s", ANY, new_events(size, size=size)))
        for form in FORMS:
            await rec.verify_stream("s", form=form, batch_size=4, rule=rules.READ_STREAM)


@check(
    "read.stream-isolation",
    "reading one stream never yields another stream's events",
    rules.ISOLATION,
)
async def stream_isolation(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        rec.case("interleaved appends to three streams")
        await _three_streams(rec)
        for stream in ("alpha", "beta", "gamma", "alph", "alphabet"):
            for form in FORMS:
                await rec.verify_stream(stream, form=form, batch_size=3, rule=rules.ISOLATION)


@check(
    "read.exact-stream-ids",
    "ids differing only in case, whitespace, normalization or by a prefix are distinct streams",
    rules.ISOLATION,
)
async def exact_ids(ctx: CheckContext) -> None:
    families = [
        ["Order-1", "order-1", "ORDER-1"],
        ["acct", "acct ", " acct", "acct\u00a0"],
        ["caf\u00e9", "cafe\u0301", "CAF\u00c9"],
        ["stra\u00dfe", "strasse"],
        ["user", "user-1", "user-10", "use"],
        ["\u0130", "i", "I"],
    ]
    async with ctx.store() as rec:
        for family in families:
            rec.case(f"streams {family}: each created with NO_STREAM")
            for index, stream in enumerate(family):
                await rec.append_ok(StreamWrite(stream, NO_STREAM, new_events(index + 1)))
            for stream in family:
                await rec.verify_stream(stream, form="collect", rule=rules.ISOLATION)
                await rec.verify_stream(stream, form="stream", rule=rules.ISOLATION)
                version = await rec.stream_version(stream)
                rec.require(
                    version == rec.model.version(stream),
                    f"stream_version({stream!r}) is {version}, "
                    f"expected {rec.model.version(stream)}",
                    rules.ISOLATION,
                )


@check(
    "read.from-version",
    "read_stream(from_version=v) yields exactly the events after version v",
    rules.READ_STREAM,
)
async def from_version(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        await rec.append_ok(StreamWrite("s", NO_STREAM, new_events(3)))
        await rec.append_ok(StreamWrite("other", NO_STREAM, new_events(2)))
        await rec.append_ok(StreamWrite("s", 3, new_events(4)))
        for version in range(10):
            rec.case(f"from_version={version} on a stream of 7 events")
            for form in FORMS:
                await rec.verify_stream(
                    "s", from_version=version, batch_size=2, form=form, rule=rules.READ_STREAM
                )


@check(
    "read.all-order",
    "read_all yields every event once, in strictly increasing commit order",
    rules.READ_ALL,
)
async def all_order(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        rec.case("interleaved appends to three streams, then read_all")
        await _three_streams(rec)
        for form in FORMS:
            for batch_size in (None, 1, 4):
                events = await rec.verify_all(batch_size=batch_size, form=form, rule=rules.READ_ALL)
                positions = [e.position for e in events]
                rec.require(
                    all(a < b for a, b in itertools.pairwise(positions)),
                    f"read_all positions do not strictly increase: {positions}",
                    rules.READ_ALL,
                )


@check(
    "read.all-resume",
    "read_all(after_position=p) resumes exactly after p, for every p",
    rules.READ_ALL,
)
async def all_resume(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        await _three_streams(rec)
        positions = [e.position for e in rec.model.log]
        probes = sorted({0, *positions, *(p + 1 for p in positions), positions[-1] + 100})
        for after in probes:
            rec.case(f"read_all(after_position={after}) of {len(positions)} events")
            for form in ("collect", "stream"):
                await rec.verify_all(
                    after_position=after, batch_size=3, form=form, rule=rules.READ_ALL
                )


@check(
    "read.streamed-equals-collected",
    "for every stream, async for, batches() and collect() return the same events",
    rules.STREAMED_EQUALS_COLLECTED,
)
async def streamed_equals_collected(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        await _three_streams(rec)
        await rec.append_ok(StreamWrite("big", NO_STREAM, new_events(40, pad="x" * 100)))
        for stream in (*rec.model.streams, "none"):
            rec.case(f"stream {stream!r} read in every form")
            for batch_size in (None, 1, 2, 7, 1000):
                reads = []
                for form in FORMS:
                    reads.append(
                        await rec.verify_stream(
                            stream,
                            batch_size=batch_size,
                            form=form,
                            rule=rules.STREAMED_EQUALS_COLLECTED,
                        )
                    )
                rec.require_same_reads(
                    list(zip(("collected", "streamed", "batches()"), reads, strict=True)),
                    rules.STREAMED_EQUALS_COLLECTED,
                )


@check(
    "read.batch-boundaries",
    "streams of 0, 1, b-1, b, b+1, 2b, 2b+1 events read whole with batch size b",
    rules.STREAMED_EQUALS_COLLECTED,
)
async def batch_boundaries(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        for b in (1, 2, 3, 5, 16):
            lengths = sorted({0, 1, b - 1, b, b + 1, 2 * b, 2 * b + 1})
            writes = [StreamWrite(f"b{b}-n{n}", NO_STREAM, new_events(n)) for n in lengths]
            await rec.append_ok(*writes)
            for n in lengths:
                stream = f"b{b}-n{n}"
                rec.case(f"a stream of {n} events read with batch_size={b}")
                for form in FORMS:
                    await rec.verify_stream(
                        stream, batch_size=b, form=form, rule=rules.STREAMED_EQUALS_COLLECTED
                    )
                rec.case(f"the same stream from version 1, batch_size={b}")
                await rec.verify_stream(
                    stream,
                    from_version=1,
                    batch_size=b,
                    form="stream",
                    rule=rules.STREAMED_EQUALS_COLLECTED,
                )
        rec.case("read_all across many small streams with small batches")
        for b in (1, 3, 16):
            await rec.verify_all(batch_size=b, form="stream", rule=rules.STREAMED_EQUALS_COLLECTED)


@check(
    "read.default-batch-size",
    f"with no batch_size, streams around {DEFAULT_BATCH_SIZE} and "
    f"{2 * DEFAULT_BATCH_SIZE} events read whole",
    rules.STREAMED_EQUALS_COLLECTED,
)
async def default_batch_size(ctx: CheckContext) -> None:
    b = DEFAULT_BATCH_SIZE
    async with ctx.store() as rec:
        rec.case(f"a stream of {2 * b + 1} events, read from versions around the default batch")
        await rec.append_ok(StreamWrite("long", NO_STREAM, new_events(2 * b + 1)))
        for remaining in (2 * b + 1, 2 * b, b + 1, b, b - 1, 1):
            await rec.verify_stream(
                "long",
                from_version=2 * b + 1 - remaining,
                form="stream",
                rule=rules.STREAMED_EQUALS_COLLECTED,
            )
        await rec.verify_stream("long", form="batches", rule=rules.STREAMED_EQUALS_COLLECTED)
        await rec.verify_all(form="stream", rule=rules.STREAMED_EQUALS_COLLECTED)


@check(
    "read.single-use",
    "an EventStream read to its end, collected or closed raises StreamAlreadyConsumed",
    rules.SINGLE_USE,
)
async def single_use(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        await rec.append_ok(StreamWrite("s", NO_STREAM, new_events(3)))

        async def again(read: EventStream, how: str) -> None:
            for label, use in (
                ("collect()", lambda: read.collect()),
                ("async for", lambda: rec.streamed(read)),
            ):
                try:
                    got = await use()
                except StreamAlreadyConsumed:
                    continue
                except Exception as exc:
                    rec.fail(
                        f"{label} after {how} raised {type(exc).__name__}: {exc}", rules.SINGLE_USE
                    )
                rec.fail(
                    f"{label} after {how} returned {len(got)} events instead of raising "
                    "StreamAlreadyConsumed",
                    rules.SINGLE_USE,
                )

        for reader in ("read_stream", "read_all"):

            def open_read(reader: str = reader) -> EventStream:
                return (
                    rec.read_stream("s", batch_size=2)
                    if reader == "read_stream"
                    else rec.read_all(batch_size=2)
                )

            rec.case(f"{reader}: collect() twice")
            read = open_read()
            await rec.collected(read)
            await again(read, "collect()")
            rec.case(f"{reader}: iterated to its end, then used again")
            read = open_read()
            await rec.streamed(read)
            await again(read, "iterating to the end")
            rec.case(f"{reader}: closed after one event, then used again")
            read = open_read()
            async with read as events:
                async for _ in events:
                    break
            await again(read, "leaving async with")


@check(
    "read.snapshot",
    "events appended while a streamed read is open are not in it; none missing or twice",
    rules.SNAPSHOT,
)
async def snapshot(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        await rec.append_ok(StreamWrite("s", NO_STREAM, new_events(5)))
        await rec.append_ok(StreamWrite("t", NO_STREAM, new_events(2)))
        for reader in ("read_stream", "read_all"):
            rec.case(f"{reader}, batch_size=2: take one event, append 3 more, read on")
            expected = (
                rec.model.read_stream("s") if reader == "read_stream" else rec.model.read_all()
            )
            read = (
                rec.read_stream("s", batch_size=2)
                if reader == "read_stream"
                else rec.read_all(batch_size=2)
            )
            seen = []
            async with read as events:
                async for event in events:
                    seen.append(event)
                    if len(seen) == 1:
                        rec.note("async with read as events: one event taken; with it open:")
                        await rec.append_ok(StreamWrite("s", ANY, new_events(3, late=True)))
                        await rec.append_ok(StreamWrite("u", ANY, new_events(1, late=True)))
                        rec.note("then the rest of the read, by async for")
            rec.compare(seen, expected, f"the streamed {reader}", rules.SNAPSHOT)
            rec.case(f"{reader}: the snapshot is taken on entering async with")
            expected = (
                rec.model.read_stream("s") if reader == "read_stream" else rec.model.read_all()
            )
            read = (
                rec.read_stream("s", batch_size=2)
                if reader == "read_stream"
                else rec.read_all(batch_size=2)
            )
            async with read as events:
                rec.note("async with read as events:  # nothing taken yet; with it open:")
                await rec.append_ok(StreamWrite("s", ANY, new_events(2, late=True)))
                rec.note("then the whole read, by async for")
                seen = await rec.streamed(events)
            rec.compare(seen, expected, f"the streamed {reader}", rules.SNAPSHOT)


@check(
    "read.snapshot-at-first-use",
    "a read begins at first use: events appended before that are in it",
    rules.SNAPSHOT,
)
async def snapshot_at_first_use(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        await rec.append_ok(StreamWrite("s", NO_STREAM, new_events(2)))
        for form in FORMS:
            rec.case(f"read created, then an append, then read by {form}")
            read = rec.read_stream("s", batch_size=2)
            read_all = rec.read_all(batch_size=2)
            await rec.append_ok(StreamWrite("s", ANY, new_events(1, after_creation=True)))
            seen = await rec.consume(read, form, 2)
            rec.compare(seen, rec.model.read_stream("s"), f"read_stream [{form}]", rules.SNAPSHOT)
            seen = await rec.consume(read_all, form, 2)
            rec.compare(seen, rec.model.read_all(), f"read_all [{form}]", rules.SNAPSHOT)


@check(
    "read.invalid-arguments",
    "invalid ids raise InvalidStreamId at once; bad positions and batch sizes ValueError",
    rules.READ_ARGUMENTS,
)
async def invalid_arguments(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        await rec.append_ok(StreamWrite("s", NO_STREAM, new_events(1)))
        for bad_id in ("", "a\x00b", 42, "x" * 256):
            rec.case(f"read_stream({bad_id!r})")
            try:
                rec.read_stream(bad_id)
            except InvalidStreamId:
                pass
            except Exception as exc:
                rec.fail(
                    f"read_stream raised {type(exc).__name__}: {exc}; expected InvalidStreamId",
                    rules.READ_ARGUMENTS,
                )
            else:
                rec.fail(
                    "read_stream returned a read instead of raising InvalidStreamId at once",
                    rules.READ_ARGUMENTS,
                )
            try:
                await rec.stream_version(bad_id)  # type: ignore[arg-type]
            except InvalidStreamId:
                pass
            except Exception as exc:
                rec.fail(
                    f"stream_version raised {type(exc).__name__}: {exc}; expected InvalidStreamId",
                    rules.READ_ARGUMENTS,
                )
            else:
                rec.fail("stream_version accepted an invalid stream id", rules.READ_ARGUMENTS)
        bad_args: list[tuple[str, dict[str, object]]] = [
            ("read_stream", {"from_version": -1}),
            ("read_stream", {"batch_size": 0}),
            ("read_stream", {"batch_size": -5}),
            ("read_all", {"after_position": -1}),
            ("read_all", {"batch_size": 0}),
        ]
        for reader, kwargs in bad_args:
            rec.case(f"{reader}(**{kwargs})")
            try:
                read = (
                    rec.read_stream("s", **kwargs)
                    if reader == "read_stream"
                    else rec.read_all(**kwargs)
                )
                await rec.collected(read)
            except ValueError:
                continue
            except Exception as exc:
                rec.fail(
                    f"{reader} raised {type(exc).__name__}: {exc}; expected ValueError",
                    rules.READ_ARGUMENTS,
                )
            rec.fail(
                f"{reader} with {kwargs} read events instead of raising ValueError",
                rules.READ_ARGUMENTS,
            )


@check(
    "read.stored-data-is-immutable",
    "mutating appended or read data afterwards does not change stored events",
    rules.IMMUTABLE_RESULTS,
)
async def stored_data_immutable(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        rec.case("append, mutate the appended dict, mutate a read event's dict, read again")
        event = NewEvent("E", {"items": [1, 2], "nested": {"k": "v"}}, {"m": 1})
        await rec.append_ok(StreamWrite("s", NO_STREAM, [event]))
        event.data["items"].append(3)
        event.data["new"] = True
        event.metadata["m"] = 2
        first = await rec.collected(rec.read_stream("s"))
        if first:
            first[0].data["items"].append(4)
            first[0].data["nested"]["k"] = "changed"
        await rec.verify_stream("s", form="collect", rule=rules.IMMUTABLE_RESULTS)
        await rec.verify_stream("s", form="stream", rule=rules.IMMUTABLE_RESULTS)
