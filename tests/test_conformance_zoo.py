"""The zoo: every deliberately broken store must fail the suite, on the checks meant
to catch its bug; the unbroken base must pass everything."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.conformance.core import Check, Settings, select_checks
from harness.conformance.runner import Outcome, all_checks, run_checks
from harness.registry import as_store_factory

sys.path.insert(0, str(Path(__file__).parent))

from zoo.base import ZooStore
from zoo.mutants import ZOO, Mutant

# Leaks show as hangs: a short timeout keeps them cheap. Shrinking the model-based
# test's failures is not what this test is about.
SETTINGS = Settings(timeout=1.0, shrink_seconds=2.0)


def test_the_zoo_is_large() -> None:
    assert len(ZOO) >= 25
    for mutant in ZOO:
        assert mutant.__doc__ and mutant.CAUGHT_BY, mutant.__name__
        known = {c.id for c in all_checks()}
        assert set(mutant.CAUGHT_BY) <= known, mutant.__name__


def test_the_unbroken_base_passes_every_check() -> None:
    results = run_checks(as_store_factory(ZooStore), all_checks(), SETTINGS)
    failures = [r.message for r in results if r.outcome is Outcome.FAILED]
    assert failures == []
    # It supports cut_connections, so the fault checks run (and pass) here; it cannot
    # be reopened (tests/zoo/instances.py has the base that can).
    assert {r.check_id for r in results if r.outcome is Outcome.NOT_APPLICABLE} == {
        "store.persistent",
        "instances.survives-reopen",
        "instances.racing-appends",
        "instances.read-beside-other-instance",
        "instances.multi-process",
        "instances.close-one",
        "instances.unique-ids",
    }


def checks_for(mutant: type[Mutant]) -> list[Check]:
    """Every check, but the streaming checks (seconds each: they read 20,000 events
    under tracemalloc) only where they are meant to catch the store or must not."""
    checks = all_checks()
    if mutant.ONLY_CAUGHT_BY or any(c.startswith("streaming.") for c in mutant.CAUGHT_BY):
        return checks
    return select_checks(checks, deselect=["streaming"])


@pytest.mark.parametrize("mutant", ZOO, ids=[m.__name__ for m in ZOO])
def test_every_broken_store_is_caught(mutant: type[Mutant]) -> None:
    results = run_checks(as_store_factory(mutant), checks_for(mutant), SETTINGS)
    failed = {r.check_id for r in results if r.outcome is Outcome.FAILED}
    assert failed & set(mutant.CAUGHT_BY), (
        f"{mutant.__name__} was not caught by {mutant.CAUGHT_BY}; failed: {sorted(failed)}"
    )
    for result in results:
        if result.outcome is Outcome.FAILED:
            assert "rule broken: " in result.message
    if mutant.ONLY_CAUGHT_BY:
        # A targeted store: its bug is found by the checks meant for it and by no other
        # (the model-based test may find anything, by chance of its seed).
        assert failed - {"model.stateful"} <= set(mutant.CAUGHT_BY), sorted(failed)
