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
    RecordedEvent,
    StreamAlreadyConsumed,
    StreamWrite,
)

FORMS = ("collect", "stream", "batches")
LONG_STREAM = 5_000
LARGE_BATCH_SIZES = (2_000, 5_000, 2**31 - 1)
"""Batch sizes past a server's page cap (1,000 rows is common), the stream's length,
and the largest 32-bit int. The first is also read by batches() (each batch at most
batch_size), and read_all by the first and the last."""
SNAPSHOT_STREAM = 2_500
"""Longer than a driver's prefetch (often 1,000 rows) or a store's first page."""
MANY_STREAMS = 1_500
MANY_PER_APPEND = 500
"""Streams in one multi-stream append: three appends seed the check."""
HUGE_OFFSETS = (2**31 - 1, 2**31, 2**32, 2**32 + 3, 2**53 + 1, 2**63 - 1)
"""from_version / after_position values far past any small store's end (a 64-bit
column's largest value included): a store binding them as 32-bit ints (or as floats)
reads from the wrong place instead of returning nothing."""


async def _long_stream(rec: Recorder, stream: str, total: int, chunk: int = 1_000) -> None:
    """``total`` small events appended to ``stream``, ``chunk`` an append."""
    rec.case(f"a stream of {total} events, appended {chunk} at a time")
    for lo in range(0, total, chunk):
        await rec.append_ok(
            StreamWrite(stream, lo or NO_STREAM, new_events(min(chunk, total - lo)))
        )


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
        # Key-value and SQL stores: a separator or a LIKE wildcard inside an id (a
        # prefix scan of "a:" must not reach "a:b"), and ids whose hashes collide
        # (CRC32, Java's String.hashCode) where a hash is used as the key.
        ["a", "a:b", "a/b", "a|b", "a.b", "a%", "a_", "ab", "a:", "a\\b", "a-b", "a#b"],
        ["plumless", "buckeroo"],
        ["Aa", "BB", "AaAa", "BBBB", "AaBB"],
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
        # Past 2**31 and 2**32: a from_version bound as a 32-bit int wraps around.
        for version in (*range(10), *HUGE_OFFSETS):
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
        probes = sorted(
            {0, *positions, *(p + 1 for p in positions), positions[-1] + 100, *HUGE_OFFSETS}
        )
        for after in probes:
            rec.case(f"read_all(after_position={after}) of {len(positions)} events")
            for form in ("collect", "stream"):
                await rec.verify_all(
                    after_position=after, batch_size=3, form=form, rule=rules.READ_ALL
                )


@check(
    "read.all-many-streams",
    f"read_all yields every event of {MANY_STREAMS:,} one-event streams (past listing "
    "and page limits of 1,000)",
    rules.READ_ALL,
)
async def all_many_streams(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        rec.case(
            f"{MANY_STREAMS} streams of one event each, appended {MANY_PER_APPEND} streams "
            "an append, then read_all"
        )
        for lo in range(0, MANY_STREAMS, MANY_PER_APPEND):
            hi = min(lo + MANY_PER_APPEND, MANY_STREAMS)
            writes = [
                StreamWrite(f"many-{i}", NO_STREAM, [NewEvent("E", {"n": i})])
                for i in range(lo, hi)
            ]
            # Straight to the store: the log would hold 500 writes on one line.
            rec.note(
                f"await store.append(StreamWrite('many-{lo}', NO_STREAM, [NewEvent('E', "
                f"{{'n': {lo}}})]), ... one such write for each of 'many-{lo}' to "
                f"'many-{hi - 1}')"
            )
            result = await rec.within(rec.store.append(*writes), "an append")
            positions = tuple(result.positions)
            rec.require(
                len(positions) == len(writes)
                and all(
                    a < b for a, b in itertools.pairwise((rec.model.last_position, *positions))
                ),
                f"an append of {len(writes)} events (one to each of {len(writes)} streams) "
                f"returned positions {positions[:5]}... ({len(positions)} in all): expected "
                f"{len(writes)} positions increasing from {rec.model.last_position}",
                rules.APPEND_RESULT,
            )
            rec.model.apply(writes, positions)
        for form in ("collect", "stream"):
            await rec.verify_all(form=form, rule=rules.READ_ALL)
        last = f"many-{MANY_STREAMS - 1}"
        await rec.verify_stream(last, form="collect", rule=rules.READ_STREAM)


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
    "read.large-batch-sizes",
    f"batch sizes above 1,000 (up to 2**31-1) on a stream of {LONG_STREAM:,} events read "
    "it whole, streamed as collected",
    rules.STREAMED_EQUALS_COLLECTED,
)
async def large_batch_sizes(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        await _long_stream(rec, "long", LONG_STREAM)
        await rec.append_ok(StreamWrite("other", NO_STREAM, new_events(3)))
        for batch_size in LARGE_BATCH_SIZES:
            rec.case(f"a stream of {LONG_STREAM} events read with batch_size={batch_size}")
            for form in (
                ("stream", "batches") if batch_size == LARGE_BATCH_SIZES[0] else ("stream",)
            ):
                await rec.verify_stream(
                    "long", batch_size=batch_size, form=form, rule=rules.STREAMED_EQUALS_COLLECTED
                )
        rec.case(f"read_all of {LONG_STREAM + 3} events with large batch sizes")
        for batch_size in (LARGE_BATCH_SIZES[0], LARGE_BATCH_SIZES[-1]):
            await rec.verify_all(
                batch_size=batch_size, form="stream", rule=rules.STREAMED_EQUALS_COLLECTED
            )


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
    "read.snapshot-long-read",
    f"a streamed read of {SNAPSHOT_STREAM:,} events, appended to all along (past its first "
    "batches, near its end), yields exactly the events present when it began",
    rules.SNAPSHOT,
)
async def snapshot_long_read(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        await _long_stream(rec, "s", SNAPSHOT_STREAM)
        await rec.append_ok(StreamWrite("t", NO_STREAM, new_events(2)))
        for reader, batch_size in (("read_stream", 100), ("read_stream", None), ("read_all", 100)):
            expected = (
                rec.model.read_stream("s") if reader == "read_stream" else rec.model.read_all()
            )
            total = len(expected)
            marks = sorted({1, 2 * (batch_size or 1), total // 2, total - 5, total - 1})
            rec.case(
                f"{reader}(batch_size={batch_size}) of {total} events: 3 events appended to "
                f"'s' (and 1 to 'u') after taking events {marks}"
            )
            kwargs = {} if batch_size is None else {"batch_size": batch_size}
            read = (
                rec.read_stream("s", **kwargs)
                if reader == "read_stream"
                else rec.read_all(**kwargs)
            )

            async def consume(
                read: EventStream = read, marks: list[int] = marks
            ) -> list[RecordedEvent]:
                seen: list[RecordedEvent] = []
                async with read as events:
                    async for event in events:
                        seen.append(event)
                        if len(seen) in marks:
                            await rec.append_ok(StreamWrite("s", ANY, new_events(3, late=True)))
                            await rec.append_ok(StreamWrite("u", ANY, new_events(1, late=True)))
                return seen

            rec.note("async with read as events: async for event in events: ... (appending)")
            seen = await rec.within(consume(), f"a streamed {reader} of {total} events")
            rec.compare(seen, expected, f"the streamed {reader}", rules.SNAPSHOT)


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
