"""Running checks against a store factory: one `asyncio.run` per check, results as data.

Each check runs in its own event loop, so the suite does not depend on how the
caller's pytest or application configures asyncio, and one check's leftovers cannot
leak into the next.

That loop is not ``asyncio.run``'s: a store that wraps a synchronous library with
``asyncio.to_thread`` may block a thread forever, and ``asyncio.run`` joins its
executor's threads on the way out (as the interpreter does at exit with a
``ThreadPoolExecutor``'s). Here every such call gets a daemon thread that is abandoned,
never joined, so a hung call fails its check after the timeout and the run goes on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from harness.conformance.core import (
    CHECKS,
    Check,
    CheckContext,
    ContractViolation,
    NotApplicable,
    Settings,
)
from harness.contract import EventStoreError
from harness.registry import StoreFactory

__all__ = [
    "CheckResult",
    "Outcome",
    "all_checks",
    "format_failure",
    "run_check",
    "run_checks",
    "run_isolated",
]

T = TypeVar("T")


GROUP_ORDER = (
    "append",
    "read",
    "store",
    "resources",
    "concurrency",
    "instances",
    "input",
    "faults",
    "streaming",
    "model",
)
"""Cheap, basic checks first: a store broken at its core fails fast and plainly."""


class Outcome(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_APPLICABLE = "n/a"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """How one check went against one backend."""

    check_id: str
    outcome: Outcome
    seconds: float
    message: str = ""
    """Why it failed (rule, what happened, smallest example) or why it does not apply."""


def all_checks() -> list[Check]:
    """Every check, in the order the suite runs them."""
    import harness.conformance.checks  # noqa: F401  (registers the checks)

    order = {group: index for index, group in enumerate(GROUP_ORDER)}
    return sorted(CHECKS.values(), key=lambda c: order.get(c.group, len(order)))


def format_failure(check: Check, problem: str, rule: str | None, example: str) -> str:
    lines = [problem, f"rule broken: {rule or check.rule}"]
    if example:
        lines.append("smallest example:")
        lines.extend(f"    {line}" for line in example.splitlines())
    return "\n".join(lines)


WATCHDOG_FACTOR = 20
"""A whole check may take this many operation timeouts before it counts as hung (the
fast profile's checks take seconds; most waits are bounded one by one as well)."""


async def _watched(awaitable: Awaitable[None], seconds: float | None) -> None:
    if seconds is None:
        await awaitable
        return
    try:
        async with asyncio.timeout(seconds):
            await awaitable
    except TimeoutError:
        raise ContractViolation(
            f"the check did not finish within {seconds:g} s: the store hung (a deadlock, an "
            "exhausted connection pool or a lock left held?)"
        ) from None


class _AbandoningExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs each call in its own daemon thread: a call that never returns is left behind,
    not joined (neither by the loop's shutdown nor at interpreter exit). A subclass only
    because asyncio accepts no other default executor; the pool itself is never used."""

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def work() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)

        threading.Thread(target=work, name="eventbench-check-call", daemon=True).start()
        return future


LEFTOVER_GRACE_S = 2.0
"""How long tasks a check left behind get to finish once cancelled, before the loop is
closed without them (a store's background task stuck on a blocked thread never does)."""


def run_isolated(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` in a fresh event loop whose blocking calls can be abandoned.

    Like ``asyncio.run``, but it never waits for a thread: leftover tasks get
    `LEFTOVER_GRACE_S` to finish once cancelled, and threads still blocked are left.
    """
    loop = asyncio.new_event_loop()
    executor = _AbandoningExecutor()
    loop.set_default_executor(executor)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            leftovers = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in leftovers:
                task.cancel()
            if leftovers:
                loop.run_until_complete(asyncio.wait(leftovers, timeout=LEFTOVER_GRACE_S))
            loop.run_until_complete(
                asyncio.wait(
                    [loop.create_task(loop.shutdown_asyncgens())], timeout=LEFTOVER_GRACE_S
                )
            )
        finally:
            executor.shutdown(wait=False)
            loop.close()


def run_check(check: Check, factory: StoreFactory, settings: Settings) -> CheckResult:
    """Run one check in a fresh event loop and say how it went."""
    ctx = CheckContext(factory, settings)
    started = time.perf_counter()
    try:
        # The thorough profile may legitimately run long; its steps are bounded one by one.
        watchdog = None if settings.thorough else settings.timeout * WATCHDOG_FACTOR
        run_isolated(_watched(check.run(ctx), watchdog))
    except NotApplicable as exc:
        return CheckResult(
            check.id, Outcome.NOT_APPLICABLE, time.perf_counter() - started, str(exc)
        )
    except ContractViolation as exc:
        message = format_failure(check, exc.problem, exc.rule, exc.example or ctx.example())
        return CheckResult(check.id, Outcome.FAILED, time.perf_counter() - started, message)
    except Exception as exc:
        where = "".join(traceback.format_exception(exc, limit=-3)).rstrip()
        if isinstance(exc, EventStoreError):
            why = "a typed error of the contract, but not one the contract allows at this step"
        else:
            why = "not one of the contract's typed errors (harness.contract.EventStoreError)"
        problem = f"the store raised {type(exc).__name__}: {exc} ({why})\n{where}"
        message = format_failure(check, problem, None, ctx.example())
        return CheckResult(check.id, Outcome.FAILED, time.perf_counter() - started, message)
    return CheckResult(check.id, Outcome.PASSED, time.perf_counter() - started)


def run_checks(
    factory: StoreFactory,
    checks: Sequence[Check],
    settings: Settings | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    on_start: Callable[[Check], None] | None = None,
) -> list[CheckResult]:
    """Run ``checks`` in order against stores from ``factory``."""
    settings = settings or Settings()
    results = []
    for check in checks:
        if on_start is not None:
            on_start(check)
        result = run_check(check, factory, settings)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
