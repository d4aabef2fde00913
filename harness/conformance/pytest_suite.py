"""The conformance checks as pytest tests: `ConformanceSuite`, and the module the
plugin collects when ``--eventbench-factory`` (or the ``eventbench_factory`` ini
option) names a factory. See `harness.conformance.plugin` for how to use it."""

from __future__ import annotations

from typing import Any

import pytest

from harness.conformance.core import CHECKS, Settings
from harness.conformance.runner import Outcome, all_checks, run_check
from harness.redact import redact
from harness.registry import StoreFactory, as_store_factory, load_factory

__all__ = ["ConformanceSuite"]

CHECK_IDS = [check.id for check in all_checks()]


def _as_factory(value: Any) -> StoreFactory:
    if isinstance(value, str):
        return load_factory(value)
    if not callable(value):
        raise TypeError(
            f"eventbench_store_factory gave {value!r}; return a zero-argument callable that "
            "gives a fresh, empty store (or a 'module:function' string)"
        )
    return as_store_factory(value)


def run_conformance_check(check_id: str, factory: Any, settings: Settings) -> None:
    """Run one check as a pytest test: fail with the rule and example, or skip as n/a."""
    result = run_check(CHECKS[check_id], _as_factory(factory), settings)
    # pytest prints this itself, past eventbench's masked output: mask it here.
    message = redact(result.message)
    if result.outcome is Outcome.FAILED:
        pytest.fail(f"{check_id}: {message}", pytrace=False)
    if result.outcome is Outcome.NOT_APPLICABLE:
        pytest.skip(f"n/a: {message}")


@pytest.mark.eventbench_conformance
class ConformanceSuite:
    """Every conformance check as a test against the ``eventbench_store_factory`` fixture.

    Subclass it under a ``Test`` name in one of your test modules.
    """

    @pytest.mark.parametrize("eventbench_check", CHECK_IDS)
    def test_conformance(
        self, eventbench_check: str, eventbench_store_factory: Any, eventbench_settings: Settings
    ) -> None:
        run_conformance_check(eventbench_check, eventbench_store_factory, eventbench_settings)


class TestEventbenchConformance(ConformanceSuite):
    """Collected when the plugin adds this module (--eventbench-factory)."""
