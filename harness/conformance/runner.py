"""Running checks against a store factory: one `asyncio.run` per check, results as data.

Each check runs in its own event loop, so the suite does not depend on how the
caller's pytest or application configures asyncio, and one check's leftovers cannot
leak into the next.
"""

from __future__ import annotations

import asyncio
import enum
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from harness.conformance.core import (
    CHECKS,
    Check,
    CheckContext,
    ContractViolation,
    NotApplicable,
    Settings,
)
from harness.registry import StoreFactory

__all__ = ["CheckResult", "Outcome", "all_checks", "format_failure", "run_check", "run_checks"]


GROUP_ORDER = ("append", "read", "store", "resources", "concurrency", "input", "faults", "model")
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


def run_check(check: Check, factory: StoreFactory, settings: Settings) -> CheckResult:
    """Run one check in a fresh event loop and say how it went."""
    ctx = CheckContext(factory, settings)
    started = time.perf_counter()
    try:
        # The thorough profile may legitimately run long; its steps are bounded one by one.
        watchdog = None if settings.thorough else settings.timeout * WATCHDOG_FACTOR
        asyncio.run(_watched(check.run(ctx), watchdog))
    except NotApplicable as exc:
        return CheckResult(
            check.id, Outcome.NOT_APPLICABLE, time.perf_counter() - started, str(exc)
        )
    except ContractViolation as exc:
        message = format_failure(check, exc.problem, exc.rule, exc.example or ctx.example())
        return CheckResult(check.id, Outcome.FAILED, time.perf_counter() - started, message)
    except Exception as exc:
        where = "".join(traceback.format_exception(exc, limit=-3)).rstrip()
        problem = (
            f"the store raised {type(exc).__name__}: {exc} (the contract allows only its "
            f"typed errors here)\n{where}"
        )
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
