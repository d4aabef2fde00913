"""What a check is, how checks are registered, and the recorder they drive stores through.

A check is an async function of a `CheckContext`. It opens fresh stores from the
context's factory, drives them through a `Recorder` (which logs every call as the
code that made it, and keeps a `Model` of what the store must answer) and raises
`ContractViolation` naming the rule it saw broken, with the calls of the current case
as the smallest example. A check that needs a capability the store lacks raises
`NotApplicable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from harness.conformance import rules
from harness.conformance.model import (
    Model,
    ModelEvent,
    describe_difference,
    first_field_difference,
    show,
)
from harness.contract import (
    AppendResult,
    EventStore,
    EventStream,
    InvalidStreamId,
    NewEvent,
    RecordedEvent,
    StreamState,
    StreamWrite,
    WrongExpectedVersion,
    validate_stream_id,
)
from harness.registry import StoreFactory

__all__ = [
    "CHECKS",
    "Check",
    "CheckContext",
    "ContractViolation",
    "NotApplicable",
    "Recorder",
    "Settings",
    "check",
    "select_checks",
]

E = TypeVar("E", bound=BaseException)
T = TypeVar("T")

MAX_EXAMPLE_LINES = 30


class ContractViolation(AssertionError):
    """A store broke a rule of the contract."""

    def __init__(self, problem: str, *, rule: str | None = None, example: str = "") -> None:
        self.problem = problem
        self.rule = rule
        self.example = example
        super().__init__(problem)


class NotApplicable(Exception):
    """The store does not declare the capability a check needs."""


@dataclass(frozen=True, slots=True)
class Settings:
    """How hard to check."""

    thorough: bool = False
    """Run the model-based test long (hundreds of examples) instead of the CI profile."""
    timeout: float = 30.0
    """Seconds any single store operation may take before the check calls it a hang."""
    shrink_seconds: float | None = None
    """How long the model-based test may spend shrinking a failure to its smallest
    example. None: 4 s (a failing store fails in about 5 s, with an example of a few
    steps), or Hypothesis's own limit when thorough (full shrinking). A hanging store
    makes every shrink step wait for the step timeout, so the default is bounded."""


CheckFunction = Callable[["CheckContext"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Check:
    """One conformance check: a stable id, one line saying what it checks, and the rule."""

    id: str
    description: str
    rule: str
    run: CheckFunction

    @property
    def group(self) -> str:
        return self.id.partition(".")[0]


CHECKS: dict[str, Check] = {}
"""Every registered check by id, in the order they run."""


def check(check_id: str, description: str, rule: str) -> Callable[[CheckFunction], CheckFunction]:
    """Register an async check function under a stable id."""

    def register(func: CheckFunction) -> CheckFunction:
        if check_id in CHECKS:
            raise ValueError(f"check id {check_id!r} is registered twice")
        CHECKS[check_id] = Check(check_id, description, rule, func)
        return func

    return register


def _matches(check_id: str, pattern: str) -> bool:
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(check_id, pattern)
    return check_id == pattern or check_id.startswith(pattern.rstrip(".") + ".")


def select_checks(
    checks: Sequence[Check],
    select: Sequence[str] = (),
    deselect: Sequence[str] = (),
    keyword: str | None = None,
) -> list[Check]:
    """Filter checks by id.

    A pattern is a glob (``read.*``), an exact id, or a dotted prefix (``append``
    selects every ``append.*`` check). ``keyword`` keeps checks whose id or description
    contains it (case-insensitive).
    """
    chosen = [c for c in checks if not select or any(_matches(c.id, p) for p in select)]
    chosen = [c for c in chosen if not any(_matches(c.id, p) for p in deselect)]
    if keyword:
        word = keyword.lower()
        chosen = [c for c in chosen if word in c.id.lower() or word in c.description.lower()]
    return chosen


# --------------------------------------------------------------------------- recording


def _short(value: Any, limit: int = 60) -> str:
    text = show(value)
    if len(text) > limit:
        text = f"{text[: limit - 16]}...{text[-8:]} ({len(text)} chars)"
    return text


def show_expected(expected: object) -> str:
    return expected.name if isinstance(expected, StreamState) else _short(expected)


def show_event(event: object, *, with_id: bool = False) -> str:
    """A `NewEvent` as code; ``with_id`` adds its id (where the id is the point)."""
    if not isinstance(event, NewEvent):
        return _short(event)
    parts = [_short(event.type)]
    if event.data:
        parts.append(_short(event.data))
    if event.metadata:
        parts.append(f"metadata={_short(event.metadata)}")
    if with_id:
        parts.append(f"id={event.id!r}")
    return f"NewEvent({', '.join(parts)})"


def show_write(write: object, *, with_ids: bool = False) -> str:
    if not isinstance(write, StreamWrite):
        return _short(write)
    events = ", ".join(show_event(e, with_id=with_ids) for e in write.events)
    tail = f", [{events}]" if write.events else ""
    return f"StreamWrite({_short(write.stream_id)}, {show_expected(write.expected)}{tail})"


def show_call(name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    shown = [_short(a) for a in args] + [f"{k}={_short(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(shown)})"


class Recorder:
    """A store as a check drives it: every call logged, a model kept alongside.

    ``case()`` starts a new example: the log then holds only the calls of that case,
    so a failure shows the few lines that reproduce it.
    """

    def __init__(self, store: EventStore, timeout: float) -> None:
        self.store = store
        self.model = Model()
        self.timeout = timeout
        self._log: list[str] = []
        self._dropped = 0
        self._title = ""
        self.failed = False
        self.show_ids = False
        """Write event ids into the example (for checks where the id is the point)."""

    # the log ------------------------------------------------------------------------

    def case(self, title: str = "") -> None:
        """Begin a new example (the store and model keep their contents)."""
        self._log = []
        self._dropped = 0
        self._title = title
        if self.model.log:
            self.note(f"store already holds {len(self.model.log)} events from earlier cases")

    def note(self, line: str) -> None:
        self._add(f"# {line}")

    def _add(self, line: str) -> None:
        if len(self._log) >= MAX_EXAMPLE_LINES:
            self._dropped += 1
            self._log[-1] = f"# ... and {self._dropped} more calls like the above"
            return
        self._log.append(line)

    def example(self) -> str:
        lines = ([f"# case: {self._title}"] if self._title else []) + self._log
        return "\n".join(lines)

    def fail(self, problem: str, rule: str | None = None) -> NoReturn:
        self.failed = True
        raise ContractViolation(problem, rule=rule, example=self.example())

    def require(self, condition: bool, problem: str, rule: str | None = None) -> None:
        if not condition:
            self.fail(problem, rule)

    # raw calls, logged ------------------------------------------------------------

    async def within(
        self, awaitable: Awaitable[Any], what: str, seconds: float | None = None
    ) -> Any:
        """Await ``awaitable``, calling it a hang after ``seconds`` (default: the timeout)."""
        limit = self.timeout if seconds is None else seconds
        try:
            async with asyncio.timeout(limit):
                return await awaitable
        except TimeoutError:
            self.fail(
                f"{what} did not finish within {limit:g} s: a hang (a deadlock, an "
                "exhausted connection pool or a lock left held?)"
            )

    async def append(self, *writes: StreamWrite) -> AppendResult:
        shown = ", ".join(show_write(w, with_ids=self.show_ids) for w in writes)
        self._add(f"await store.append({shown})")
        result: AppendResult = await self.within(self.store.append(*writes), "append")
        return result

    def read_stream(self, stream_id: Any, **kwargs: Any) -> EventStream:
        self._add(f"store.{show_call('read_stream', [stream_id], kwargs)}")
        return self.store.read_stream(stream_id, **kwargs)

    def read_all(self, **kwargs: Any) -> EventStream:
        self._add(f"store.{show_call('read_all', [], kwargs)}")
        return self.store.read_all(**kwargs)

    async def stream_version(self, stream_id: str) -> int:
        self._add(f"await store.stream_version({_short(stream_id)})")
        version: int = await self.within(self.store.stream_version(stream_id), "stream_version")
        return version

    async def streamed(self, stream: EventStream, what: str = "a streamed read") -> list[Any]:
        async def consume() -> list[Any]:
            return [event async for event in stream]

        events: list[Any] = await self.within(consume(), what)
        return events

    async def collected(self, stream: EventStream, what: str = "a collected read") -> list[Any]:
        events: list[Any] = await self.within(stream.collect(), what)
        return events

    # checked operations --------------------------------------------------------------

    async def append_ok(self, *writes: StreamWrite) -> AppendResult:
        """Append; the model says it must succeed. Checks the result and records it."""
        failure = self.model.first_failure(writes)
        assert failure is None, "append_ok used for an append the model says must fail"
        before = self.model.last_position
        try:
            result = await self.append(*writes)
        except Exception as exc:
            self.fail(
                f"the append raised {type(exc).__name__}: {exc}; every condition held, so "
                "it must succeed",
                rules.EXPECTED_VERSION,
            )
        self._check_result(writes, result, before)
        self.model.apply(writes, result.positions)
        return result

    def _check_result(
        self, writes: Sequence[StreamWrite], result: AppendResult, before: int
    ) -> None:
        rule = rules.APPEND_RESULT
        self.require(isinstance(result, AppendResult), f"append returned {result!r}", rule)
        want = self.model.expected_versions(writes)
        got = dict(result.versions)
        self.require(got == want, f"AppendResult.versions is {got}, expected {want}", rule)
        count = sum(len(w.events) for w in writes)
        positions = tuple(result.positions)
        self.require(
            len(positions) == count,
            f"AppendResult.positions has {len(positions)} positions for {count} events: "
            f"{positions}",
            rule,
        )
        previous = before
        for position in positions:
            # The message is built only on failure: with a thousand events an append,
            # formatting every position for every event took seconds.
            if not (isinstance(position, int) and position > previous):
                self.fail(
                    f"AppendResult.positions {_short(positions, 200)} do not strictly "
                    f"increase from the last position before the append ({before})",
                    rule,
                )
            previous = position

    async def append_rejected(
        self,
        error: type[E],
        *writes: StreamWrite,
        rule: str,
        wrong_version: tuple[str, Any, int] | None = None,
    ) -> E:
        """Append; it must raise ``error`` and write nothing anywhere."""
        try:
            result = await self.append(*writes)
        except error as exc:
            raised = exc
        except Exception as exc:
            self.fail(
                f"the append raised {type(exc).__name__}: {exc}; expected {error.__name__}", rule
            )
        else:
            self.fail(
                f"the append succeeded (versions {dict(result.versions)}); expected "
                f"{error.__name__}",
                rule,
            )
        if wrong_version is not None:
            assert isinstance(raised, WrongExpectedVersion)
            stream_id, expected, actual = wrong_version
            got = (raised.stream_id, raised.expected, raised.actual)
            self.require(
                got == (stream_id, expected, actual),
                f"WrongExpectedVersion carries (stream_id, expected, actual) = {got!r}, "
                f"expected {(stream_id, expected, actual)!r}",
                rules.ERROR_DETAILS,
            )
        await self.verify_nothing_written(writes, rule)
        return raised

    async def verify_nothing_written(self, writes: Sequence[Any], rule: str) -> None:
        for write in writes:
            stream_id = getattr(write, "stream_id", None)
            if isinstance(stream_id, str) and _valid_id(stream_id):
                version = await self.stream_version(stream_id)
                self.require(
                    version == self.model.version(stream_id),
                    f"after the rejected append, stream {stream_id!r} is at version "
                    f"{version}, expected {self.model.version(stream_id)}: something was "
                    "written",
                    rule,
                )
        events = await self.collected(self.store.read_all())
        difference = describe_difference(events, self.model.read_all())
        if difference is not None:
            self.fail(f"after the rejected append, read_all() differs: {difference}", rule)

    async def verify_stream(
        self,
        stream_id: str,
        *,
        from_version: int = 0,
        batch_size: int | None = None,
        form: str = "collect",
        rule: str | None = None,
    ) -> list[RecordedEvent]:
        """Read a stream in one form (collect, stream, batches) and compare with the model."""
        kwargs: dict[str, Any] = {}
        if from_version:
            kwargs["from_version"] = from_version
        if batch_size is not None:
            kwargs["batch_size"] = batch_size
        read = self.read_stream(stream_id, **kwargs)
        events = await self.consume(read, form, batch_size)
        expected = self.model.read_stream(stream_id, from_version)
        self.compare(events, expected, f"read_stream({stream_id!r}, {kwargs}) [{form}]", rule)
        return events

    async def verify_all(
        self,
        *,
        after_position: int = 0,
        batch_size: int | None = None,
        form: str = "collect",
        rule: str | None = None,
    ) -> list[RecordedEvent]:
        kwargs: dict[str, Any] = {}
        if after_position:
            kwargs["after_position"] = after_position
        if batch_size is not None:
            kwargs["batch_size"] = batch_size
        read = self.read_all(**kwargs)
        events = await self.consume(read, form, batch_size)
        expected = self.model.read_all(after_position)
        self.compare(events, expected, f"read_all({kwargs}) [{form}]", rule)
        return events

    async def consume(self, read: EventStream, form: str, batch_size: int | None) -> list[Any]:
        if form == "collect":
            return await self.collected(read)
        if form == "stream":
            return await self.streamed(read)
        if form == "batches":

            async def batched() -> list[Any]:
                out: list[Any] = []
                async for batch in read.batches():
                    batch = list(batch)
                    self.require(
                        len(batch) > 0,
                        "batches() yielded an empty batch",
                        rules.STREAMED_EQUALS_COLLECTED,
                    )
                    self.require(
                        batch_size is None or len(batch) <= batch_size,
                        f"batches() yielded a batch of {len(batch)} events with "
                        f"batch_size={batch_size}",
                        rules.STREAMED_EQUALS_COLLECTED,
                    )
                    out.extend(batch)
                return out

            events: list[Any] = await self.within(batched(), "a read by batches()")
            return events
        raise ValueError(f"unknown read form {form!r}")

    def require_same_reads(
        self, reads: Sequence[tuple[str, Sequence[RecordedEvent]]], rule: str | None = None
    ) -> None:
        """Fail unless every read (name, events) returned equal events, naming the first
        event and field that differ."""
        difference = first_field_difference(reads)
        if difference is not None:
            self.fail(f"the reads differ: {difference}", rule)

    def compare(
        self,
        events: Sequence[RecordedEvent],
        expected: Sequence[ModelEvent],
        what: str,
        rule: str | None = None,
    ) -> None:
        difference = describe_difference(events, expected)
        if difference is not None:
            self.fail(f"{what} returned {difference}", rule)


async def _bounded(awaitable: Awaitable[T], seconds: float, what: str) -> T:
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except TimeoutError:
        raise ContractViolation(
            f"{what} did not finish within {seconds:g} s: a hang (a call blocked in a "
            "thread, a deadlock or a lock left held?)"
        ) from None


def _valid_id(stream_id: str) -> bool:
    try:
        validate_stream_id(stream_id)
    except InvalidStreamId:
        return False
    return True


class CheckContext:
    """What a check runs with: the factory, the settings, and the recorders it opened."""

    def __init__(self, factory: StoreFactory, settings: Settings) -> None:
        self.factory = factory
        self.settings = settings
        self.recorders: list[Recorder] = []

    @contextlib.asynccontextmanager
    async def store(self) -> AsyncIterator[Recorder]:
        """A fresh, empty, open store from the factory, wrapped in a `Recorder`."""
        async with self.opened(self.factory(), "the factory") as recorder:
            yield recorder

    @contextlib.asynccontextmanager
    async def opened(
        self, opening: contextlib.AbstractAsyncContextManager[EventStore], what: str
    ) -> AsyncIterator[Recorder]:
        """Enter ``opening`` (a factory's store) and exit it, each within the timeout.

        A store hung on a blocked thread usually cannot close either: its check fails
        with the first hang, not after waiting for the close as long again.
        """
        timeout = self.settings.timeout
        store = await _bounded(opening.__aenter__(), timeout, f"opening a store from {what}")
        recorder = Recorder(store, timeout)
        self.recorders.append(recorder)
        try:
            yield recorder
        except BaseException as exc:
            # The check's own failure is the one to report, not a second one on closing.
            with contextlib.suppress(Exception):
                await _bounded(
                    opening.__aexit__(type(exc), exc, exc.__traceback__),
                    timeout,
                    "closing the store",
                )
            raise
        await _bounded(opening.__aexit__(None, None, None), timeout, "closing the store")

    def example(self) -> str:
        return self.recorders[-1].example() if self.recorders else ""


async def together(*awaitables: Coroutine[Any, Any, Any]) -> list[Any]:
    """Run coroutines as sibling tasks; if one fails, cancel the rest and raise its error.

    Unlike ``gather``, no task outlives a failure to touch a store that is closing.
    A `ContractViolation` is preferred over other errors when several tasks fail.
    """
    tasks: list[asyncio.Task[Any]] = []
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(a) for a in awaitables]
    except BaseExceptionGroup as failures:
        leaves = list(_leaves(failures))
        violations = [e for e in leaves if isinstance(e, ContractViolation)]
        raise (violations or leaves)[0] from None
    return [task.result() for task in tasks]


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            yield from _leaves(error)
        else:
            yield error


def new_events(count: int, type_: str = "E", **data: Any) -> list[NewEvent]:
    """``count`` small events, numbered in their data so a reordering shows."""
    return [NewEvent(type_, {"n": i, **data}) for i in range(count)]
