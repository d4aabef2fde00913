"""Appends: expected-version forms, conditions, atomicity, results, duplicates."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from harness.conformance import rules
from harness.conformance.core import CheckContext, NotApplicable, Recorder, check, new_events
from harness.contract import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    DuplicateEventId,
    EventStoreError,
    ExpectedVersion,
    InvalidAppend,
    InvalidEvent,
    NewEvent,
    StreamWrite,
    WrongExpectedVersion,
)

_STATES = {
    "new-stream": "a stream never written",
    "empty-stream": "a stream only named by condition-only writes (no events)",
    "existing-stream": "a stream holding 2 events",
}


async def _prepare(rec: Recorder, state: str, stream: str) -> int:
    """Bring ``stream`` to ``state``; return its version."""
    if state == "empty-stream":
        await rec.append_ok(StreamWrite(stream, ANY))
        await rec.append_ok(
            StreamWrite(stream, NO_STREAM), StreamWrite("other", ANY, new_events(1))
        )
        return 0
    if state == "existing-stream":
        await rec.append_ok(StreamWrite(stream, NO_STREAM, new_events(2)))
        return 2
    return 0


def _form_cases(form: str, version: int) -> list[tuple[ExpectedVersion, bool]]:
    """(expected version, whether the append must succeed) for one form at one version."""
    if form == "exact-version":
        wrong = sorted({version + 1, max(version - 1, 0), version + 5} - {version})
        return [*((w, False) for w in wrong), (version, True)]
    if form == "no-stream":
        return [(NO_STREAM, version == 0)]
    if form == "stream-exists":
        return [(STREAM_EXISTS, version > 0)]
    return [(ANY, True)]


def _register_form(form: str, state: str) -> None:
    async def run(ctx: CheckContext) -> None:
        async with ctx.store() as rec:
            stream = "s-1"
            rec.case(f"{form} on {_STATES[state]}")
            version = await _prepare(rec, state, stream)
            for expected, succeeds in _form_cases(form, version):
                events = [NewEvent("Checked", {"expected": str(expected)})]
                write = StreamWrite(stream, expected, events)
                if succeeds:
                    await rec.append_ok(write)
                    break
                await rec.append_rejected(
                    WrongExpectedVersion,
                    write,
                    rule=rules.EXPECTED_VERSION,
                    wrong_version=(stream, expected, version),
                )
            await rec.verify_stream(stream, rule=rules.EXPECTED_VERSION)
            await rec.verify_all(rule=rules.EXPECTED_VERSION)

    outcome = {
        "exact-version": "the stream's version succeeds, any other raises",
        "no-stream": "succeeds only when the stream has no events",
        "stream-exists": "succeeds only when the stream has events",
        "any": "always succeeds",
    }[form]
    check(
        f"append.{form}.{state}",
        f"{form.replace('-', ' ')} on {_STATES[state]}: {outcome}",
        rules.EXPECTED_VERSION,
    )(run)


for _form in ("exact-version", "no-stream", "stream-exists", "any"):
    for _state in _STATES:
        _register_form(_form, _state)


@check(
    "append.error-details",
    "WrongExpectedVersion is an EventStoreError naming the first failing stream, expected, actual",
    rules.ERROR_DETAILS,
)
async def error_details(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        await rec.append_ok(StreamWrite("a", NO_STREAM, new_events(1)))
        await rec.append_ok(StreamWrite("b", NO_STREAM, new_events(3)))
        rec.case("two failing conditions: the first in the order given is named")
        error = await rec.append_rejected(
            WrongExpectedVersion,
            StreamWrite("ok", ANY, new_events(1)),
            StreamWrite("b", 7, new_events(1)),
            StreamWrite("a", NO_STREAM, new_events(1)),
            rule=rules.ERROR_DETAILS,
            wrong_version=("b", 7, 3),
        )
        rec.require(
            isinstance(error, EventStoreError),
            "WrongExpectedVersion is not an EventStoreError",
            rules.ERROR_DETAILS,
        )
        rec.case("STREAM_EXISTS on a new stream: the StreamState itself is carried")
        await rec.append_rejected(
            WrongExpectedVersion,
            StreamWrite("new", STREAM_EXISTS, new_events(1)),
            rule=rules.ERROR_DETAILS,
            wrong_version=("new", STREAM_EXISTS, 0),
        )


@check(
    "append.empty",
    "an append of no writes, or of writes with no events, writes nothing and creates no stream",
    rules.NO_EMPTY_STREAMS,
)
async def empty_appends(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        rec.case("append() with no writes at all")
        await rec.append_ok()
        rec.case("a write with no events on a new stream")
        await rec.append_ok(StreamWrite("s", ANY, []))
        await rec.append_ok(StreamWrite("s", 0))
        rec.require(
            await rec.stream_version("s") == 0,
            "a write with no events gave the stream a version",
            rules.NO_EMPTY_STREAMS,
        )
        await rec.verify_stream("s", form="stream", rule=rules.NO_EMPTY_STREAMS)
        rec.case("a stream touched only by empty writes still has no events")
        await rec.append_rejected(
            WrongExpectedVersion,
            StreamWrite("s", STREAM_EXISTS, new_events(1)),
            rule=rules.NO_EMPTY_STREAMS,
            wrong_version=("s", STREAM_EXISTS, 0),
        )
        await rec.append_ok(StreamWrite("s", NO_STREAM, new_events(1)))
        await rec.verify_all(rule=rules.NO_EMPTY_STREAMS)


@check(
    "append.condition-only",
    "a write with no events is a pure condition: it guards the other writes of the append",
    rules.EXPECTED_VERSION,
)
async def condition_only(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        await rec.append_ok(StreamWrite("guard", NO_STREAM, new_events(2)))
        cases: list[tuple[ExpectedVersion, bool]] = [
            (1, False),
            (3, False),
            (NO_STREAM, False),
            (2, True),
            (STREAM_EXISTS, True),
            (ANY, True),
        ]
        for expected, holds in cases:
            rec.case(f"condition-only guard ({expected}) on a stream at version 2")
            guard = StreamWrite("guard", expected)
            target = StreamWrite("target", ANY, new_events(1))
            if holds:
                result = await rec.append_ok(guard, target)
                rec.require(
                    result.versions.get("guard") == 2,
                    f"versions of the condition-only stream is {result.versions.get('guard')}, "
                    "expected 2",
                    rules.APPEND_RESULT,
                )
            else:
                await rec.append_rejected(
                    WrongExpectedVersion,
                    guard,
                    target,
                    rule=rules.EXPECTED_VERSION,
                    wrong_version=("guard", expected, 2),
                )
        rec.case("condition-only guard on a missing stream")
        await rec.append_rejected(
            WrongExpectedVersion,
            StreamWrite("target", ANY, new_events(1)),
            StreamWrite("missing", STREAM_EXISTS),
            rule=rules.EXPECTED_VERSION,
            wrong_version=("missing", STREAM_EXISTS, 0),
        )


@check(
    "append.stream-named-twice",
    "a stream named twice in one append raises InvalidAppend and writes nothing",
    rules.DUPLICATE_STREAM,
)
async def named_twice(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        pairs: list[tuple[ExpectedVersion, ExpectedVersion]] = [
            (NO_STREAM, ANY),
            (ANY, ANY),
            (0, 1),
        ]
        for first, second in pairs:
            rec.case(f"stream named twice ({first}, {second})")
            await rec.append_rejected(
                InvalidAppend,
                StreamWrite("s", first, new_events(1)),
                StreamWrite("t", ANY, new_events(1)),
                StreamWrite("s", second, new_events(1)),
                rule=rules.DUPLICATE_STREAM,
            )
        rec.case("named twice, once as a condition")
        await rec.append_rejected(
            InvalidAppend,
            StreamWrite("s", ANY, new_events(1)),
            StreamWrite("s", ANY),
            rule=rules.DUPLICATE_STREAM,
        )
        rec.case("named twice, both times as a condition (with no events)")
        await rec.append_rejected(
            InvalidAppend,
            StreamWrite("s", 0),
            StreamWrite("t", ANY, new_events(1)),
            StreamWrite("s", 5),
            rule=rules.DUPLICATE_STREAM,
        )
        await rec.append_rejected(
            InvalidAppend,
            StreamWrite("s", ANY),
            StreamWrite("s", ANY),
            StreamWrite("t", ANY, new_events(1)),
            rule=rules.DUPLICATE_STREAM,
        )


@check(
    "append.multi-stream-atomic",
    "one failing condition among several streams writes nothing anywhere",
    rules.ATOMIC,
)
async def multi_stream_atomic(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        await rec.append_ok(StreamWrite("a", NO_STREAM, new_events(1)))
        await rec.append_ok(StreamWrite("b", NO_STREAM, new_events(1)))
        for failing in range(3):
            rec.case(f"three streams, write #{failing + 1} fails its condition")
            writes = [
                StreamWrite("a", 1, new_events(2)),
                StreamWrite("b", STREAM_EXISTS, new_events(1)),
                StreamWrite("c", NO_STREAM, new_events(3)),
            ]
            bad = writes[failing]
            writes[failing] = StreamWrite(bad.stream_id, 9, bad.events)
            actual = rec.model.version(bad.stream_id)
            await rec.append_rejected(
                WrongExpectedVersion,
                *writes,
                rule=rules.ATOMIC,
                wrong_version=(bad.stream_id, 9, actual),
            )
        rec.case("the same three streams with every condition holding")
        await rec.append_ok(
            StreamWrite("a", 1, new_events(2)),
            StreamWrite("b", STREAM_EXISTS, new_events(1)),
            StreamWrite("c", NO_STREAM, new_events(3)),
        )
        for stream in ("a", "b", "c"):
            await rec.verify_stream(stream, rule=rules.ATOMIC)
        await rec.verify_all(rule=rules.ATOMIC)


@check(
    "append.result",
    "returned versions cover every stream named; positions are per event, increasing, as read",
    rules.APPEND_RESULT,
)
async def append_result(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        rec.case("positions and versions of single and multi-stream appends")
        await rec.append_ok(StreamWrite("x", NO_STREAM, new_events(3)))
        await rec.append_ok(
            StreamWrite("y", ANY, new_events(2)),
            StreamWrite("x", 3, new_events(1)),
            StreamWrite("z", ANY),
        )
        await rec.append_ok(StreamWrite("x", STREAM_EXISTS, new_events(1)))
        # append_ok compared versions and the positions' shape; the reads show the
        # returned positions are the ones the events were stored at.
        await rec.verify_all(rule=rules.APPEND_RESULT)
        for stream in ("x", "y", "z"):
            await rec.verify_stream(stream, rule=rules.APPEND_RESULT)
            version = await rec.stream_version(stream)
            rec.require(
                version == rec.model.version(stream),
                f"stream_version({stream!r}) is {version}, expected {rec.model.version(stream)}",
                rules.APPEND_RESULT,
            )


@check(
    "append.duplicate-event-id",
    "an id already stored, however long ago, raises DuplicateEventId naming it; an id twice "
    "in one append (or one write) InvalidAppend",
    rules.DUPLICATE_ID,
)
async def duplicate_event_id(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        if not rec.store.capabilities.unique_event_ids:
            raise NotApplicable(
                "the store does not declare Capabilities.unique_event_ids (it may identify "
                "events by stream and version only)"
            )
        rec.show_ids = True
        first = NewEvent("E", {"n": 1})
        rec.case("an id already stored, appended to another stream")
        await rec.append_ok(StreamWrite("a", NO_STREAM, [first]))
        error = await rec.append_rejected(
            DuplicateEventId,
            StreamWrite("b", ANY, [NewEvent("E"), NewEvent("E", id=first.id)]),
            rule=rules.DUPLICATE_ID,
        )
        _require_names(rec, error, first.id)
        # The error must name the duplicate wherever it stands, not the first or the
        # last event of the append (a variable left over from a loop over the events).
        placements: list[tuple[str, list[StreamWrite]]] = [
            ("first of three events", [StreamWrite("b", ANY, _around(first, 0, 2))]),
            ("the middle one of three events", [StreamWrite("b", ANY, _around(first, 1, 1))]),
            (
                "in the second stream of a multi-stream append, events after it",
                [
                    StreamWrite("c", NO_STREAM, new_events(2)),
                    StreamWrite("a", 1, _around(first, 1, 1)),
                    StreamWrite("f", ANY, new_events(1)),
                ],
            ),
        ]
        for where, writes in placements:
            rec.case(f"an id already stored, {where}")
            rec.note(f"stream 'a' holds an event with id={first.id!r}")
            error = await rec.append_rejected(DuplicateEventId, *writes, rule=rules.DUPLICATE_ID)
            _require_names(rec, error, first.id)
        twin = NewEvent("E")
        twice: list[tuple[str, list[StreamWrite]]] = [
            (
                "one id twice in one append, in two streams",
                [
                    StreamWrite("d", ANY, [twin]),
                    StreamWrite("e", ANY, [NewEvent("E", {"x": 1}, id=twin.id)]),
                ],
            ),
            (
                "one id twice in one StreamWrite",
                [StreamWrite("d", ANY, [twin, NewEvent("E", {"n": 1}), twin])],
            ),
        ]
        for where, writes in twice:
            rec.case(where)
            await rec.append_rejected(InvalidAppend, *writes, rule=rules.DUPLICATE_ID)
        rec.case(f"an id appended again after {_LONG_AFTER} other events")
        old = NewEvent("E", {"old": True})
        await rec.append_ok(StreamWrite("old", NO_STREAM, [old]))
        for lo in range(0, _LONG_AFTER, 1000):
            await rec.append_ok(StreamWrite("filler", ANY, new_events(1000, chunk=lo)))
        error = await rec.append_rejected(
            DuplicateEventId,
            StreamWrite("again", ANY, [NewEvent("E", id=old.id)]),
            rule=rules.DUPLICATE_ID,
        )
        _require_names(rec, error, old.id)


_LONG_AFTER = 2000
"""Events appended between an id and its duplicate: more than a window of recent ids
(an LRU or idempotency cache) holds, where a unique index holds them all."""


def _around(event: NewEvent, before: int, after: int) -> list[NewEvent]:
    """A fresh event with ``event``'s id, between ``before`` and ``after`` new events."""
    twin = NewEvent("E", {"again": True}, id=event.id)
    return [*new_events(before, "Before"), twin, *new_events(after, "After")]


def _require_names(rec: Recorder, error: DuplicateEventId, event_id: uuid.UUID) -> None:
    rec.require(
        error.event_id == event_id,
        f"DuplicateEventId.event_id is {error.event_id}, expected {event_id} (the id "
        "already stored, not another event of the append)",
        rules.DUPLICATE_ID,
    )


@check(
    "append.invalid-expected-version",
    "a negative, bool or non-version expected value, also on a condition-only write, raises "
    "InvalidAppend, writes nothing",
    rules.INVALID_APPEND,
)
async def invalid_expected(ctx: CheckContext) -> None:
    bad_values: list[tuple[Any, str]] = [
        (-1, "-1"),
        (True, "True"),
        ("0", "'0'"),
        (None, "None"),
        (1.0, "1.0"),
    ]
    make: Callable[[Any], StreamWrite] = lambda expected: StreamWrite(  # noqa: E731
        "s", expected, new_events(1)
    )
    async with ctx.store() as rec:
        await rec.append_ok(StreamWrite("s", NO_STREAM, new_events(1)))
        for value, shown in bad_values:
            rec.case(f"expected version {shown}")
            await rec.append_rejected(
                InvalidAppend,
                StreamWrite("ok", ANY, new_events(1)),
                make(value),
                rule=rules.INVALID_APPEND,
            )
            rec.case(f"expected version {shown} on a condition-only write (no events)")
            await rec.append_rejected(
                InvalidAppend,
                StreamWrite("s", value),
                StreamWrite("ok", ANY, new_events(1)),
                rule=rules.INVALID_APPEND,
            )


@check(
    "append.rejected-reserves-nothing",
    "a rejected append reserves none of its event ids: the same events appended again succeed",
    rules.ATOMIC,
)
async def rejected_reserves_nothing(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        unique = rec.store.capabilities.unique_event_ids
        rec.show_ids = True
        await rec.append_ok(StreamWrite("s", NO_STREAM, new_events(1)))
        rec.case("WrongExpectedVersion, then the very same events with the right version")
        events = [NewEvent("Retried", {"n": n}) for n in range(3)]
        await rec.append_rejected(
            WrongExpectedVersion,
            StreamWrite("s", 0, events),
            rule=rules.ATOMIC,
            wrong_version=("s", 0, 1),
        )
        await _retry(rec, StreamWrite("s", 1, events))
        rec.case("a rejection naming two streams: the other stream's events are free too")
        guarded = [NewEvent("Guarded")]
        await rec.append_rejected(
            WrongExpectedVersion,
            StreamWrite("t", NO_STREAM, guarded),
            StreamWrite("s", 1, new_events(1)),
            rule=rules.ATOMIC,
            wrong_version=("s", 1, 4),
        )
        await _retry(rec, StreamWrite("t", NO_STREAM, guarded))
        rec.case("InvalidEvent for one event: the valid events of the append are free")
        valid = [NewEvent("Valid")]
        await rec.append_rejected(
            InvalidEvent,
            StreamWrite("u", ANY, valid),
            StreamWrite("v", ANY, [NewEvent("E", {"x": float("nan")})]),
            rule=rules.ATOMIC,
        )
        await _retry(rec, StreamWrite("u", ANY, valid))
        rec.case("InvalidAppend (a stream named twice): the events of the append are free")
        named = [NewEvent("Named")]
        await rec.append_rejected(
            InvalidAppend,
            StreamWrite("w", ANY, named),
            StreamWrite("w", ANY),
            rule=rules.ATOMIC,
        )
        await _retry(rec, StreamWrite("w", ANY, named))
        if unique:
            rec.case("DuplicateEventId for one event: the other events of the append are free")
            stored = rec.model.read_stream("s")[0].id
            fresh = [NewEvent("Fresh"), NewEvent("Fresh2")]
            error = await rec.append_rejected(
                DuplicateEventId,
                StreamWrite("x", ANY, fresh[:1]),
                StreamWrite("y", ANY, [fresh[1], NewEvent("E", id=stored)]),
                rule=rules.DUPLICATE_ID,
            )
            _require_names(rec, error, stored)
            await _retry(rec, StreamWrite("x", ANY, fresh[:1]), StreamWrite("y", ANY, fresh[1:]))
        await rec.verify_all(rule=rules.ATOMIC)


async def _retry(rec: Recorder, *writes: StreamWrite) -> None:
    rec.note("the same events (same ids) again, every condition holding:")
    try:
        result = await rec.append(*writes)
    except Exception as exc:
        rec.fail(
            f"appending the events of the rejected append again raised {type(exc).__name__}: "
            f"{exc}; a rejected append writes nothing, so it reserves no event id either",
            rules.ATOMIC,
        )
    rec.model.apply(writes, result.positions)


LARGE_APPEND = 1200
"""Events in one append whose last event is bad: more than a store that inserts in
chunks (of 500 or 1,000 rows, say) puts in one statement."""
HUGE_APPEND = 10_000
"""Events in one append: more rows than one multi-row INSERT may bind parameters for
(SQLite allows 32,766, PostgreSQL 65,535)."""


@check(
    "append.large-atomic",
    f"an append of {LARGE_APPEND} events failing at its last event writes nothing; one of "
    f"{HUGE_APPEND:,} succeeds or raises a typed error",
    rules.ATOMIC,
)
async def large_atomic(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        first = NewEvent("First")
        await rec.append_ok(StreamWrite("small", NO_STREAM, [first]))
        if rec.store.capabilities.unique_event_ids:
            rec.case(f"{LARGE_APPEND} events, the last one's id already stored")
            events = [*new_events(LARGE_APPEND - 1), NewEvent("E", id=first.id)]
            await rec.append_rejected(
                DuplicateEventId, StreamWrite("big", NO_STREAM, events), rule=rules.ATOMIC
            )
            rec.case(f"{LARGE_APPEND} events in two streams, the last one's id already stored")
            await rec.append_rejected(
                DuplicateEventId,
                StreamWrite("big", NO_STREAM, new_events(LARGE_APPEND - 2)),
                StreamWrite("big-2", NO_STREAM, [NewEvent("E"), NewEvent("E", id=first.id)]),
                rule=rules.ATOMIC,
            )
        rec.case(f"{LARGE_APPEND} events, the last one not JSON")
        bad = NewEvent("E", {"x": float("inf")})
        await rec.append_rejected(
            InvalidEvent,
            StreamWrite("big", NO_STREAM, [*new_events(LARGE_APPEND - 1), bad]),
            rule=rules.ATOMIC,
        )
        rec.case(f"{HUGE_APPEND:,} events in one append")
        write = StreamWrite("huge", NO_STREAM, new_events(HUGE_APPEND))
        try:
            result = await rec.append(write)
        except EventStoreError:
            await rec.verify_nothing_written([write], rules.ATOMIC)
            return
        except Exception as exc:
            rec.fail(
                f"the append of {HUGE_APPEND:,} events raised {type(exc).__name__}: {exc}; the "
                "contract sets no limit on events per append, so it must succeed (or, for a "
                "store that has one, raise a typed EventStoreError such as InvalidAppend)",
                rules.ATOMIC,
            )
        rec.require(
            result.versions.get("huge") == HUGE_APPEND and len(result.positions) == HUGE_APPEND,
            f"the append of {HUGE_APPEND:,} events returned versions {dict(result.versions)} "
            f"and {len(result.positions)} positions, expected version {HUGE_APPEND:,}",
            rules.APPEND_RESULT,
        )
        rec.model.apply([write], result.positions)
        version = await rec.stream_version("huge")
        rec.require(
            version == HUGE_APPEND,
            f"stream_version('huge') is {version} after an append of {HUGE_APPEND:,} events",
            rules.ATOMIC,
        )
        await rec.verify_stream("huge", from_version=HUGE_APPEND - 3, rule=rules.ATOMIC)


@check(
    "append.huge-expected-version",
    "an expected version of 2**63-1 is judged like any other; above it: InvalidAppend or "
    "WrongExpectedVersion, never a driver's overflow",
    rules.INVALID_APPEND,
)
async def huge_expected_version(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        await rec.append_ok(StreamWrite("s", NO_STREAM, new_events(1)))
        rec.case("expected version 2**63 - 1, the largest a store must judge")
        await rec.append_rejected(
            WrongExpectedVersion,
            StreamWrite("s", 2**63 - 1, new_events(1)),
            rule=rules.EXPECTED_VERSION,
            wrong_version=("s", 2**63 - 1, 1),
        )
        for shown, huge in (("2**63", 2**63), ("2**100", 2**100)):
            for condition_only in (False, True):
                form = "a condition-only write" if condition_only else "a write with events"
                rec.case(f"expected version {shown}, on {form}")
                writes = (
                    StreamWrite("ok", ANY, new_events(1)),
                    StreamWrite("s", huge, [] if condition_only else new_events(1)),
                )
                try:
                    await rec.append(*writes)
                except (InvalidAppend, WrongExpectedVersion):
                    await rec.verify_nothing_written(writes, rules.INVALID_APPEND)
                    continue
                except Exception as exc:
                    rec.fail(
                        f"the append raised {type(exc).__name__}: {exc}; an expected version "
                        "above 2**63 - 1 raises InvalidAppend (validate_writes does; "
                        "WrongExpectedVersion is tolerated), never an untyped error",
                        rules.INVALID_APPEND,
                    )
                rec.fail(
                    f"the append with expected version {shown} succeeded on a stream at "
                    "version 1; expected InvalidAppend",
                    rules.INVALID_APPEND,
                )
