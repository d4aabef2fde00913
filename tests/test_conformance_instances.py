"""Two instances of one store, racing guards, shapes of stream ids, hung threads: the
checks catch their zoo entries (those checks and no others), pass the reopenable zoo
base, and a store that blocks a thread forever cannot hang `eventbench check`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.conformance.core import Settings, select_checks
from harness.conformance.runner import Outcome, all_checks, run_checks
from harness.registry import as_store_factory, load_factory, reopener

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))

from zoo.instances import ENTRIES, Entry, SharedZooStore  # noqa: E402
from zoo.mutants import ZOO  # noqa: E402

SETTINGS = Settings(timeout=1.0, shrink_seconds=2.0)
NEW_CHECKS = {
    "instances.survives-reopen",
    "instances.racing-appends",
    "instances.read-beside-other-instance",
    "instances.multi-process",
    "concurrency.stale-guard",
    "concurrency.multi-stream-race",
    "concurrency.opposite-order",
}


def test_the_new_checks_are_registered() -> None:
    assert {c.id for c in all_checks()} >= NEW_CHECKS


def test_the_reopenable_base_passes_every_check() -> None:
    factory = as_store_factory(SharedZooStore)
    assert reopener(factory) is not None
    results = run_checks(factory, all_checks(), SETTINGS)
    assert [r.message for r in results if r.outcome is Outcome.FAILED] == []
    # An in-process store: everything but the other-process race applies.
    assert {r.check_id for r in results if r.outcome is Outcome.NOT_APPLICABLE} == {
        "instances.multi-process"
    }


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_each_entry_is_caught_by_its_checks_only(entry: Entry) -> None:
    settings = Settings(timeout=entry.timeout, shrink_seconds=2.0)
    # The streaming checks take seconds each and none of these entries is about streaming
    # (tests/test_conformance_zoo.py runs them on the streaming entries).
    checks = select_checks(all_checks(), deselect=["streaming"])
    results = run_checks(as_store_factory(entry.factory), checks, settings)
    failed = {r.check_id for r in results if r.outcome is Outcome.FAILED}
    messages = {r.check_id: r.message for r in results if r.outcome is Outcome.FAILED}
    assert set(entry.caught_by) <= failed <= set(entry.caught_by + entry.may_also), messages


def test_the_sqlite_entries_fail_for_the_raw_driver_error() -> None:
    deferred = next(e for e in ENTRIES if e.name == "DeferredBeginStore")
    checks = [c for c in all_checks() if c.id == "instances.racing-appends"]
    [result] = run_checks(as_store_factory(deferred.factory), checks, SETTINGS)
    assert "OperationalError" in result.message and "locked" in result.message


def test_the_older_zoo_stores_are_not_reopenable() -> None:
    # Their two-instance checks are n/a, so the older zoo's expectations hold unchanged.
    for mutant in ZOO:
        assert reopener(as_store_factory(mutant)) is None


def test_a_thread_blocked_forever_fails_its_checks_and_the_run_ends(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from harness.cli import main; main()",
            "check",
            "zoo.instances:HangsInThread",
            "memory",
            "-s",
            "append.condition-only",
            "-s",
            "read.missing-stream",
            "--timeout",
            "1",
            "--report",
            str(report),
        ],
        cwd=TESTS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr[-2000:]
    assert elapsed < 60
    written = json.loads(report.read_text())
    hung = written["backends"]["zoo.instances:HangsInThread"]["results"]
    assert hung["append.condition-only"]["outcome"] == "failed"
    assert "did not finish within 1 s" in hung["append.condition-only"]["message"]
    assert written["backends"]["memory"]["summary"]["failed"] == 0


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_reference_stores_on_disk_declare_and_pass_the_instance_checks(backend: str) -> None:
    from conftest import require_backend

    require_backend(backend)
    factory = load_factory(backend)
    assert reopener(factory) is not None
    chosen = select_checks(all_checks(), select=["instances", "concurrency", "store"])
    results = run_checks(factory, chosen, Settings(timeout=30))
    assert {r.check_id: r.outcome for r in results} == {c.id: Outcome.PASSED for c in chosen}, [
        r.message for r in results if r.outcome is not Outcome.PASSED
    ]
