"""Two instances of one store: data that survives reopening, racing instances, racing
processes, and reads in one instance beside appends from another.

These checks need the two-instance hook (`harness.contract.SupportsReopen`): the
store names its ``location`` and its factory accepts ``location=`` to open another
instance over the same data. Without it they are n/a, and say how to opt in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from harness.conformance import rules
from harness.conformance.core import (
    CheckContext,
    ContractViolation,
    NotApplicable,
    Recorder,
    check,
    new_events,
    together,
)
from harness.conformance.model import ModelEvent
from harness.contract import (
    ANY,
    NO_STREAM,
    DuplicateEventId,
    EventStore,
    EventStream,
    NewEvent,
    RecordedEvent,
    StreamWrite,
    SupportsReopen,
    WrongExpectedVersion,
)
from harness.registry import Factory, reopener

__all__ = ["Instances", "RaceOutcome", "race_one_stream"]

HOW_TO_OPT_IN = (
    "the store does not name a location or its factory does not accept location= "
    "(the two-instance hook: see harness.contract.SupportsReopen)"
)


@dataclass
class Instances:
    """The first store (fresh, from the factory) and another instance over its data."""

    first: Recorder
    second: Recorder
    location: str


def _location(store: EventStore) -> str:
    if not isinstance(store, SupportsReopen):
        raise NotApplicable(HOW_TO_OPT_IN)
    location = store.location
    if not isinstance(location, str) or not location:
        raise ContractViolation(
            f"store.location is {location!r}; the two-instance hook needs a non-empty str "
            "that the factory accepts as location=",
            rule=rules.INSTANCES,
        )
    return location


def _reopener(ctx: CheckContext) -> Factory:
    factory = reopener(ctx.factory)
    if factory is None:
        raise NotApplicable(HOW_TO_OPT_IN)
    return factory


@contextlib.asynccontextmanager
async def two_instances(ctx: CheckContext) -> AsyncIterator[Instances]:
    """A fresh store and a second instance over its data, both open; n/a without the hook."""
    factory = _reopener(ctx)
    async with ctx.store() as first:
        location = _location(first.store)
        async with ctx.opened(factory.reopen(location), "factory(location=...)") as second:
            second.model = first.model  # one store, one model
            yield Instances(first, second, location)


@check(
    "instances.survives-reopen",
    "a persistent store's events survive closing it and opening another instance there",
    rules.PERSISTENT,
)
async def survives_reopen(ctx: CheckContext) -> None:
    factory = _reopener(ctx)
    async with ctx.store() as rec:
        if not rec.store.capabilities.persistent:
            raise NotApplicable("the store does not declare Capabilities.persistent")
        location = _location(rec.store)
        rec.case("append, close the store, open another instance at its location, read")
        await rec.append_ok(
            StreamWrite("kept-1", NO_STREAM, new_events(3)),
            StreamWrite("kept2", NO_STREAM, new_events(2)),
        )
        rec.note("await store.aclose()")
        await rec.within(rec.store.aclose(), "aclose()")
        rec.note("async with factory(location=store.location) as again: ...")
        async with ctx.opened(factory.reopen(location), "factory(location=...)") as again:
            again.model = rec.model
            again.case("the reopened instance reads what the closed one wrote")
            await again.verify_stream("kept-1", rule=rules.PERSISTENT)
            await again.verify_stream("kept2", form="stream", batch_size=2, rule=rules.PERSISTENT)
            await again.verify_all(rule=rules.PERSISTENT)
            await again.append_ok(StreamWrite("kept-1", 3, new_events(1)))
            await again.verify_stream("kept-1", rule=rules.PERSISTENT)


# --------------------------------------------------------------------------- races


@dataclass(frozen=True, slots=True)
class RaceOutcome:
    """One racing append that succeeded: the version it expected and got, and its event."""

    expected: int
    version: int
    position: int
    event_id: uuid.UUID


RACE_WRITERS = 8
RACE_APPENDS = 5
MAX_ATTEMPTS = 2000


async def race_one_stream(
    rec: Recorder,
    stores: Sequence[EventStore],
    stream_id: str,
    writers: int,
    appends: int,
    tag: str,
) -> list[RaceOutcome]:
    """``writers`` tasks spread over ``stores`` append ``appends`` events each to one
    stream under exact versions, retrying on WrongExpectedVersion. Anything else a store
    raises fails the check, named as the raw error it is."""

    async def writer(number: int) -> list[RaceOutcome]:
        store = stores[number % len(stores)]
        done: list[RaceOutcome] = []
        for attempt in range(MAX_ATTEMPTS + 1):
            if len(done) == appends:
                break
            rec.require(
                attempt < MAX_ATTEMPTS,
                f"writer {number} made no progress in {MAX_ATTEMPTS} attempts",
                rules.CONCURRENCY,
            )
            try:
                version = await store.stream_version(stream_id)
                await asyncio.sleep(0)
                event = NewEvent("Wrote", {"writer": f"{tag}{number}", "seq": len(done)})
                result = await store.append(StreamWrite(stream_id, version, [event]))
            except WrongExpectedVersion:
                continue
            except Exception as exc:
                rec.fail(
                    f"instance {number % len(stores) + 1} of {len(stores)} raised "
                    f"{type(exc).__name__}: {exc} while racing; racing appends may only "
                    "succeed or raise WrongExpectedVersion (a raw driver error such as "
                    "'database is locked' means busy handling is missing)",
                    rules.INSTANCES,
                )
            done.append(
                RaceOutcome(version, result.versions[stream_id], result.positions[0], event.id)
            )
        return done

    batches = await rec.within(together(*(writer(n) for n in range(writers))), "the racing writers")
    return [outcome for batch in batches for outcome in batch]


async def verify_race(
    rec: Recorder, stream_id: str, outcomes: Sequence[RaceOutcome], total: int
) -> None:
    """Every success took a distinct next version; the stream holds exactly them."""
    for outcome in outcomes:
        rec.require(
            outcome.version == outcome.expected + 1,
            f"an append with expected version {outcome.expected} returned version "
            f"{outcome.version}",
            rules.INSTANCES,
        )
    versions = sorted(o.version for o in outcomes)
    rec.require(
        versions == list(range(1, total + 1)),
        f"successful appends returned versions {versions}; expected 1..{total} each once "
        "(two writers succeeded on one expected version)",
        rules.INSTANCES,
    )
    events: list[RecordedEvent] = await rec.collected(rec.store.read_stream(stream_id))
    by_version = {o.version: o for o in outcomes}
    got = [(e.stream_version, e.id) for e in events]
    want = [(v, by_version[v].event_id) for v in range(1, total + 1)]
    rec.require(
        got == want,
        f"the stream holds {len(events)} events (versions "
        f"{[e.stream_version for e in events][:12]}...); the {total} successful appends "
        "wrote versions 1.. in order: events were lost, doubled or reordered",
        rules.INSTANCES,
    )


@check(
    "instances.racing-appends",
    "appends racing from two instances of one store: success or WrongExpectedVersion only, "
    "versions contiguous, nothing lost",
    rules.INSTANCES,
)
async def racing_appends(ctx: CheckContext) -> None:
    async with two_instances(ctx) as pair:
        rec = pair.first
        rec.case(
            f"{RACE_WRITERS} tasks on two instances (a = factory(), b = "
            f"factory(location=a.location)), each {RACE_APPENDS}x: v = await "
            "x.stream_version('race-1'); await x.append(StreamWrite('race-1', v, [event]))"
        )
        stores = [pair.first.store, pair.second.store]
        outcomes = await race_one_stream(rec, stores, "race-1", RACE_WRITERS, RACE_APPENDS, tag="w")
        total = RACE_WRITERS * RACE_APPENDS
        await verify_race(rec, "race-1", outcomes, total)
        pair.second.case("the second instance reads the same stream")
        events = await pair.second.collected(pair.second.store.read_stream("race-1"))
        rec.require(
            [e.id for e in events]
            == [o.event_id for o in sorted(outcomes, key=lambda o: o.version)],
            "the two instances read different events from one stream",
            rules.INSTANCES,
        )
        rec.case(
            f"{RACE_WRITERS} tasks on the two instances, each {ANY_APPENDS}x: await "
            "x.append(StreamWrite('race2', ANY, [event])) (no condition: all must succeed)"
        )
        appended = await rec.within(
            together(*(_append_any(rec, stores[n % 2], "race2", n) for n in range(RACE_WRITERS))),
            "the racing unconditional appends",
        )
        ids = [event_id for batch in appended for event_id in batch]
        events = await rec.collected(rec.store.read_stream("race2"))
        rec.require(
            [e.stream_version for e in events] == list(range(1, len(ids) + 1))
            and sorted(e.id for e in events) == sorted(ids),
            f"{len(ids)} appends with ANY succeeded; the stream holds {len(events)} events, "
            f"versions {[e.stream_version for e in events][:12]}...: events were lost, "
            "doubled or misnumbered",
            rules.INSTANCES,
        )


ANY_APPENDS = 10


async def _append_any(
    rec: Recorder, store: EventStore, stream_id: str, number: int
) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    for seq in range(ANY_APPENDS):
        event = NewEvent("Any", {"writer": number, "seq": seq})
        try:
            await store.append(StreamWrite(stream_id, ANY, [event]))
        except Exception as exc:
            rec.fail(
                f"an append with expected version ANY raised {type(exc).__name__}: {exc} "
                "while another instance appended; it must succeed (a raw driver error such "
                "as 'database is locked' means busy handling is missing)",
                rules.INSTANCES,
            )
        ids.append(event.id)
    return ids


@check(
    "instances.read-beside-other-instance",
    "a streamed read in one instance is unaffected by appends from another, which the "
    "first instance then sees",
    rules.INSTANCES,
)
async def read_beside_other_instance(ctx: CheckContext) -> None:
    async with two_instances(ctx) as pair:
        a, b = pair.first, pair.second
        await a.append_ok(
            StreamWrite("read-1", NO_STREAM, new_events(40)),
            StreamWrite("other", NO_STREAM, new_events(5)),
        )
        for what in ("read_stream('read-1', batch_size=4)", "read_all(batch_size=4)"):
            a.case(f"a streamed {what} in instance a while instance b appends")
            if what.startswith("read_stream"):
                expected: list[ModelEvent] = a.model.read_stream("read-1")
                read = a.read_stream("read-1", batch_size=4)
            else:
                expected = a.model.read_all()
                read = a.read_all(batch_size=4)
            seen = await a.within(_read_beside(read, b), f"the streamed {what}")
            a.compare(
                seen, expected, f"the streamed {what} (begun before b's appends)", rules.SNAPSHOT
            )
        a.case("instance a sees what instance b appended")
        await a.verify_stream("read-1", rule=rules.INSTANCES)
        await a.verify_stream("fresh", form="stream", rule=rules.INSTANCES)
        await a.verify_all(rule=rules.INSTANCES)
        version = await a.stream_version("read-1")
        a.require(
            version == a.model.version("read-1"),
            f"instance a says stream 'read-1' is at version {version}; instance b appended "
            f"up to {a.model.version('read-1')}",
            rules.INSTANCES,
        )
        await a.append_ok(StreamWrite("read-1", a.model.version("read-1"), new_events(1)))
        await b.verify_stream("read-1", rule=rules.INSTANCES)


async def _read_beside(read: EventStream, other: Recorder) -> list[RecordedEvent]:
    """Consume ``read``, appending through ``other`` twice part way."""
    seen: list[RecordedEvent] = []
    async with read as events:
        async for event in events:
            seen.append(event)
            if len(seen) in (3, 9):
                other.note(f"after {len(seen)} events, in instance b:")
                fresh = other.model.version("fresh")
                await other.append_ok(
                    StreamWrite("read-1", other.model.version("read-1"), new_events(3)),
                    StreamWrite("fresh", fresh or NO_STREAM, new_events(1)),
                )
    return seen


@check(
    "instances.close-one",
    "closing one instance of a store leaves another instance over the same data working",
    rules.INSTANCES,
)
async def close_one(ctx: CheckContext) -> None:
    async with two_instances(ctx) as pair:
        a, b = pair.first, pair.second
        await a.append_ok(StreamWrite("kept", NO_STREAM, new_events(2)))
        a.case("instance b is closed; instance a goes on")
        a.note("await b.aclose()")
        await b.within(b.store.aclose(), "aclose() of the second instance")
        try:
            version = await a.stream_version("kept")
            await a.verify_stream("kept", rule=rules.INSTANCES)
            await a.verify_all(form="stream", rule=rules.INSTANCES)
            await a.append(StreamWrite("kept", 2, new_events(1)))
        except ContractViolation:
            raise
        except Exception as exc:
            a.fail(
                f"after instance b was closed, instance a raised {type(exc).__name__}: {exc}; "
                "closing an instance closes its own connections, not those of every "
                "instance at its location (a shared pool closed by the first aclose?)",
                rules.INSTANCES,
            )
        a.require(version == 2, f"stream_version('kept') is {version}, expected 2", rules.INSTANCES)


@check(
    "instances.unique-ids",
    "with unique_event_ids, an id stored through one instance is a duplicate through another",
    rules.DUPLICATE_ID,
)
async def unique_ids(ctx: CheckContext) -> None:
    async with two_instances(ctx) as pair:
        a, b = pair.first, pair.second
        if not a.store.capabilities.unique_event_ids:
            raise NotApplicable("the store does not declare Capabilities.unique_event_ids")
        a.show_ids = b.show_ids = True
        event = NewEvent("Once")
        a.case("instance a stores an event; instance b appends its id again")
        await a.append_ok(StreamWrite("first", NO_STREAM, [event]))
        b.case("instance b appends an id that instance a stored")
        b.note(f"instance a stored id={event.id!r}")
        error = await b.append_rejected(
            DuplicateEventId,
            StreamWrite("second", ANY, [NewEvent("E"), NewEvent("Again", id=event.id)]),
            rule=rules.DUPLICATE_ID,
        )
        b.require(
            error.event_id == event.id,
            f"DuplicateEventId.event_id is {error.event_id}, expected {event.id}",
            rules.DUPLICATE_ID,
        )


# --------------------------------------------------------------------------- processes

PROCESSES = 2
PROCESS_WRITERS = 4
PROCESS_APPENDS = 15
PROCESS_STREAM = "proc-race"


@check(
    "instances.multi-process",
    f"appends racing from {PROCESSES} other processes and this one (Capabilities.multi_process):"
    " success or WrongExpectedVersion only, versions contiguous, nothing lost",
    rules.MULTI_PROCESS,
)
async def multi_process(ctx: CheckContext) -> None:
    factory = _reopener(ctx)
    async with ctx.store() as rec:
        if not rec.store.capabilities.multi_process:
            raise NotApplicable("the store does not declare Capabilities.multi_process")
        location = _location(rec.store)
        spec = factory.spec
        if spec is None:
            raise NotApplicable(
                f"the factory {factory.func!r} cannot be imported by name in another process; "
                "name a module-level function"
            )
        rec.case(
            f"{PROCESSES} processes (python -m harness.conformance.instance_worker) open "
            f"{spec}(location=...) and race {PROCESS_WRITERS} writers each on "
            f"{PROCESS_STREAM!r} beside {PROCESS_WRITERS} writers here"
        )
        answers: list[dict[str, Any]] = []
        # The other processes open their instance and say "ready"; then all start at once.
        request = {
            "factory": spec,
            "location": location,
            "stream": PROCESS_STREAM,
            "writers": PROCESS_WRITERS,
            "appends": PROCESS_APPENDS,
            "timeout": rec.timeout,
            "sys_path": sys.path,
        }
        children: list[asyncio.subprocess.Process] = []
        # stderr goes to files: a chatty child must not block on a full pipe.
        logs = [tempfile.TemporaryFile() for _ in range(PROCESSES)]  # noqa: SIM115
        try:
            for index in range(PROCESSES):
                child = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "harness.conformance.instance_worker",
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=logs[index],
                )
                children.append(child)
                assert child.stdin is not None
                child.stdin.write(json.dumps({**request, "tag": f"p{index}-"}).encode() + b"\n")
                await child.stdin.drain()
            ready = await rec.within(
                asyncio.gather(*(_readline(c) for c in children)),
                "the other processes opening their instances",
            )
            for index, line in enumerate(ready):
                if line != "ready":
                    await _fail_child(rec, index, children[index], line, logs[index])
            for child in children:
                assert child.stdin is not None
                child.stdin.write(b"go\n")
                child.stdin.close()
            ours, *outputs = await rec.within(
                asyncio.gather(
                    race_one_stream(
                        rec,
                        [rec.store],
                        PROCESS_STREAM,
                        PROCESS_WRITERS,
                        PROCESS_APPENDS,
                        tag="here-",
                    ),
                    *(_readline(c) for c in children),
                ),
                "the racing processes",
            )
            for index, line in enumerate(outputs):
                try:
                    answer = json.loads(line)
                except ValueError:
                    await _fail_child(rec, index, children[index], line, logs[index])
                if answer.get("error"):
                    rec.fail(f"in process {index + 1}: {answer['error']}", rules.MULTI_PROCESS)
                answers.append(answer)
        finally:
            for child in children:
                if child.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        child.kill()
                    await child.wait()
            for log in logs:
                log.close()
        outcomes = list(ours)
        for answer in answers:
            outcomes.extend(
                RaceOutcome(o[0], o[1], o[2], uuid.UUID(o[3])) for o in answer["outcomes"]
            )
        total = (PROCESSES + 1) * PROCESS_WRITERS * PROCESS_APPENDS
        await verify_race(rec, PROCESS_STREAM, outcomes, total)


async def _readline(child: asyncio.subprocess.Process) -> str:
    assert child.stdout is not None
    return (await child.stdout.readline()).decode(errors="replace").strip()


async def _fail_child(
    rec: Recorder, index: int, child: asyncio.subprocess.Process, line: str, log: IO[bytes]
) -> None:
    with contextlib.suppress(ProcessLookupError):
        child.kill()
    await child.wait()
    log.seek(0)
    tail = log.read().decode(errors="replace").strip().splitlines()[-6:]
    detail = "\n".join(tail) or "(nothing on stderr)"
    rec.fail(
        f"process {index + 1} did not take part in the race (it said {line!r}); its "
        f"stderr ends:\n{detail}",
        rules.MULTI_PROCESS,
    )
