"""Model-based: hypothesis drives the store and a plain model side by side.

Random appends (every expected-version form, several streams at once, condition-only
writes), reads of every kind and form, reads abandoned part way and reads interleaved
with appends; every answer is compared with the model. The fast profile suits CI; the
thorough one (``--thorough``) runs far longer.

Hypothesis runs synchronously, so the state machine owns an event loop (made in
``__init__``, closed in ``teardown``) and runs each store call to completion on it;
the check runs the machine in a worker thread so that it can itself be a coroutine.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.internal.conjecture import engine
from hypothesis.reporting import with_reporter
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from harness.conformance import rules
from harness.conformance.core import CheckContext, ContractViolation, Recorder, Settings, check
from harness.contract import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    EventStore,
    ExpectedVersion,
    NewEvent,
    StreamWrite,
    WrongExpectedVersion,
)
from harness.registry import StoreFactory

T = TypeVar("T")

# Few streams, so appends collide and conditions fail often; two differ only in case
# and two hold pattern metacharacters, so a store that matches ids loosely shows it.
STREAMS = ["a", "b", "A", "a%", "c_"]
EXPECTED_KINDS = ["right", "wrong", "no_stream", "stream_exists", "any"]
BATCH_SIZES = [None, 1, 2, 3]
FORMS = ["collect", "stream", "batches"]

FAST = settings(
    max_examples=30,
    stateful_step_count=25,
    derandomize=True,
    deadline=None,
    database=None,
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
)
THOROUGH = settings(FAST, max_examples=400, stateful_step_count=60, derandomize=False)

writes_strategy = st.lists(
    st.tuples(
        st.sampled_from(STREAMS),
        st.sampled_from(EXPECTED_KINDS),
        st.integers(min_value=0, max_value=3),
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda write: write[0],
)


class _Abandon(Exception):
    pass


DEFAULT_SHRINK_SECONDS = 4.0
"""Shrinking budget of the default profile. Measured on zoo stores that only the
model-based test catches: 20 s gave 2-5 step examples; 4 s gives 4-5 steps; 2 s left
examples of up to 19 steps."""

STEP_TIMEOUT = 5.0
"""Seconds one step may take. Steps are small, so a store that takes longer is hung,
and a short limit keeps shrinking a hang affordable."""


class StoreMachine(RuleBasedStateMachine):
    """One fresh store per run, with a model beside it."""

    factory: ClassVar[StoreFactory]
    check_settings: ClassVar[Settings] = Settings()

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.opened: AbstractAsyncContextManager[EventStore] = type(self).factory()
        store = self.loop.run_until_complete(self.opened.__aenter__())
        self.rec = Recorder(store, min(type(self).check_settings.timeout, STEP_TIMEOUT))
        self.rec.case("a fresh store, then these steps")
        self.counter = 0

    def teardown(self) -> None:
        try:
            self.loop.run_until_complete(self.opened.__aexit__(None, None, None))
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        try:
            return self.loop.run_until_complete(coroutine)
        except ContractViolation:
            raise
        except Exception as exc:
            raise ContractViolation(
                f"the store raised {type(exc).__name__}: {exc}",
                rule=rules.MODEL,
                example=self.rec.example(),
            ) from exc

    def _expected(self, stream: str, kind: str) -> ExpectedVersion:
        version = self.rec.model.version(stream)
        forms: dict[str, ExpectedVersion] = {
            "right": version,
            "wrong": version + 1 if version == 0 or self.counter % 2 else version - 1,
            "no_stream": NO_STREAM,
            "stream_exists": STREAM_EXISTS,
            "any": ANY,
        }
        return forms[kind]

    def _events(self, count: int) -> list[NewEvent]:
        events = []
        for _ in range(count):
            self.counter += 1
            events.append(NewEvent(f"T{self.counter % 3}", {"n": self.counter}, {"k": "m"}))
        return events

    @rule(writes=writes_strategy)
    def append(self, writes: list[tuple[str, str, int]]) -> None:
        request = [
            StreamWrite(s, self._expected(s, kind), self._events(n)) for s, kind, n in writes
        ]
        failure = self.rec.model.first_failure(request)
        if failure is None:
            self.run(self.rec.append_ok(*request))
            return
        stream, actual = failure
        expected = next(w.expected for w in request if w.stream_id == stream)
        self.run(
            self.rec.append_rejected(
                WrongExpectedVersion,
                *request,
                rule=rules.EXPECTED_VERSION,
                wrong_version=(stream, expected, actual),
            )
        )

    @rule(
        stream=st.sampled_from(STREAMS),
        from_version=st.integers(min_value=0, max_value=8),
        batch_size=st.sampled_from(BATCH_SIZES),
        form=st.sampled_from(FORMS),
    )
    def read_stream(
        self, stream: str, from_version: int, batch_size: int | None, form: str
    ) -> None:
        self.run(
            self.rec.verify_stream(
                stream,
                from_version=from_version,
                batch_size=batch_size,
                form=form,
                rule=rules.MODEL,
            )
        )

    @rule(
        pick=st.integers(min_value=0, max_value=40),
        past=st.booleans(),
        batch_size=st.sampled_from(BATCH_SIZES),
        form=st.sampled_from(FORMS),
    )
    def read_all(self, pick: int, past: bool, batch_size: int | None, form: str) -> None:
        log = self.rec.model.log
        after = 0
        if log and pick:
            after = log[min(pick, len(log)) - 1].position + (1 if past else 0)
        self.run(
            self.rec.verify_all(
                after_position=after, batch_size=batch_size, form=form, rule=rules.MODEL
            )
        )

    @rule(stream=st.sampled_from(STREAMS))
    def stream_version(self, stream: str) -> None:
        version = self.run(self.rec.stream_version(stream))
        self.rec.require(
            version == self.rec.model.version(stream),
            f"stream_version({stream!r}) is {version}, the model says "
            f"{self.rec.model.version(stream)}",
            rules.MODEL,
        )

    @rule(
        stream=st.sampled_from([*STREAMS, None]),
        take=st.integers(min_value=0, max_value=3),
        how=st.sampled_from(["break", "exception", "aclose", "bare-break"]),
    )
    def abandon_read(self, stream: str | None, take: int, how: str) -> None:
        async def abandon() -> None:
            read = (
                self.rec.read_all(batch_size=1)
                if stream is None
                else self.rec.read_stream(stream, batch_size=1)
            )
            self.rec.note(f"  ... left after {take} events by {how}")
            seen = 0
            if how == "bare-break":
                async for _ in read:
                    seen += 1
                    if seen >= take:
                        break
                return
            try:
                async with read as events:
                    async for _ in events:
                        seen += 1
                        if seen >= take:
                            if how == "exception":
                                raise _Abandon
                            if how == "aclose":
                                await events.aclose()
                            break
            except _Abandon:
                pass

        self.run(self.rec.within(abandon(), "an abandoned read"))

    @rule(stream=st.sampled_from(STREAMS), count=st.integers(min_value=1, max_value=3))
    def read_interleaved_with_append(self, stream: str, count: int) -> None:
        expected = list(self.rec.model.read_stream(stream))

        async def interleave() -> list[Any]:
            seen: list[Any] = []
            async with self.rec.read_stream(stream, batch_size=1) as events:
                async for event in events:
                    seen.append(event)
                    if len(seen) == 1:
                        await self.rec.append_ok(StreamWrite(stream, ANY, self._events(count)))
            return seen

        seen = self.run(self.rec.within(interleave(), "a read interleaved with an append"))
        self.rec.compare(
            seen, expected, f"read_stream({stream!r}) open across an append", rules.SNAPSHOT
        )


def run_machine(factory: StoreFactory, check_settings: Settings) -> None:
    """Run the state machine to completion (or to its smallest failing example)."""
    budget = check_settings.shrink_seconds
    if budget is None and not check_settings.thorough:
        budget = DEFAULT_SHRINK_SECONDS
    machine = type(
        "StoreMachine",
        (StoreMachine,),
        {"factory": staticmethod(factory), "check_settings": check_settings},
    )
    # Hypothesis has no public limit on shrinking time, and a hanging store makes each
    # shrink step wait for the step timeout; its engine reads this module constant
    # when shrinking starts. Without the constant (a future hypothesis) shrinking is
    # merely slower. Its notice about stopping early is not for our users.
    with _SHRINK_LOCK, with_reporter(lambda _message: None):
        saved = getattr(engine, "MAX_SHRINKING_SECONDS", None)
        if budget is not None:
            engine.MAX_SHRINKING_SECONDS = math.ceil(budget)
        try:
            run_state_machine_as_test(
                machine, settings=THOROUGH if check_settings.thorough else FAST
            )
        finally:
            if saved is not None:
                engine.MAX_SHRINKING_SECONDS = saved


_SHRINK_LOCK = threading.Lock()


@check(
    "model.stateful",
    "random appends, reads and abandoned reads agree with a plain model at every step",
    rules.MODEL,
)
async def stateful(ctx: CheckContext) -> None:
    await asyncio.to_thread(run_machine, ctx.factory, ctx.settings)
