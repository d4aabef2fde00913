"""The conformance suite itself: selection, the CLI, reports, the pytest plugin, and a
third-party factory defined outside the package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from harness.conformance.cli import check_command
from harness.conformance.core import Settings, select_checks
from harness.conformance.report import render_markdown
from harness.conformance.runner import CheckResult, Outcome, all_checks, run_check, run_checks
from harness.registry import as_store_factory, load_factory

TESTS = Path(__file__).parent
EVENTBENCH = Path(sys.executable).with_name("eventbench")

THIRD_PARTY = textwrap.dedent(
    '''
    """A third-party store package: it knows eventbench only through the contract."""
    import contextlib

    from backends.memory import MemoryStore


    class AcmeStore(MemoryStore):
        """Pretend this is someone else's store."""


    @contextlib.asynccontextmanager
    async def make_store():
        async with AcmeStore() as store:
            yield store


    class CaseBlindStore(MemoryStore):
        """A bug: stream ids compared case-insensitively."""

        def read_stream(self, stream_id, **kwargs):
            return super().read_stream(stream_id.lower(), **kwargs)

        async def stream_version(self, stream_id):
            return await super().stream_version(stream_id.lower())

        async def append(self, *writes):
            from harness.contract import StreamWrite

            lowered = [
                StreamWrite(w.stream_id.lower() if isinstance(w.stream_id, str) else w.stream_id,
                            w.expected, w.events)
                for w in writes
            ]
            return await super().append(*lowered)


    def make_broken():
        return CaseBlindStore()
    '''
)


def test_check_ids_are_unique_stable_and_described() -> None:
    checks = all_checks()
    ids = [c.id for c in checks]
    assert len(ids) == len(set(ids))
    assert len(checks) >= 50
    for check in checks:
        assert check.id == check.id.lower() and " " not in check.id
        assert check.description and "\n" not in check.description
        assert check.rule
    groups = {c.group for c in checks}
    assert {"append", "read", "resources", "concurrency", "input", "faults", "model"} <= groups
    # The example id exists, and checks run in group order.
    assert "append.exact-version.new-stream" in ids
    assert ids.index("append.exact-version.new-stream") < ids.index("model.stateful")


def test_selection_by_prefix_glob_deselect_and_keyword() -> None:
    checks = all_checks()
    reads = select_checks(checks, select=["read"])
    assert reads and all(c.id.startswith("read.") for c in reads)
    assert [c.id for c in select_checks(checks, select=["read.snapshot"])] == ["read.snapshot"]
    globbed = select_checks(checks, select=["*snapshot*"])
    assert {c.id for c in globbed} == {
        "read.snapshot",
        "read.snapshot-at-first-use",
        "read.snapshot-long-read",
    }
    kept = select_checks(checks, select=["append"], deselect=["append.exact-version"])
    assert kept and not any(c.id.startswith("append.exact-version.") for c in kept)
    assert {c.id for c in select_checks(checks, keyword="NUL")} >= {"input.nul"}
    assert select_checks(checks, select=["nothing-like-this"]) == []


def test_memory_passes_and_capability_checks_are_not_applicable() -> None:
    results = run_checks(load_factory("memory"), all_checks(), Settings(timeout=10))
    failed = [r.message for r in results if r.outcome is Outcome.FAILED]
    assert failed == []
    not_applicable = {r.check_id for r in results if r.outcome is Outcome.NOT_APPLICABLE}
    assert not_applicable == {
        "store.persistent",
        "faults.cut-read-stream",
        "faults.cut-read-all",
        "faults.cut-idle",
        "faults.cut-any-read",
        "instances.survives-reopen",
        "instances.racing-appends",
        "instances.close-one",
        "instances.unique-ids",
        "instances.read-beside-other-instance",
        "instances.multi-process",
    }


def test_failure_names_the_rule_and_the_smallest_example() -> None:
    sys.path.insert(0, str(TESTS))
    try:
        from zoo.mutants import EmptyWriteUnchecked
    finally:
        sys.path.remove(str(TESTS))
    check = next(c for c in all_checks() if c.id == "append.condition-only")
    result = run_check(check, as_store_factory(EmptyWriteUnchecked), Settings(timeout=2))
    assert result.outcome is Outcome.FAILED
    problem, rule, heading, *example = result.message.splitlines()
    assert problem.startswith("the append succeeded")
    assert rule.startswith("rule broken: EventStore.append: every write's expected version")
    assert heading == "smallest example:"
    assert example[-1].strip() == (
        "await store.append(StreamWrite('guard', 1), "
        "StreamWrite('target', ANY, [NewEvent('E', {'n': 0})]))"
    )


def _zoo(name: str) -> type:
    sys.path.insert(0, str(TESTS))
    try:
        import zoo.mutants
    finally:
        sys.path.remove(str(TESTS))
    store: type = getattr(zoo.mutants, name)
    return store


def _run(check_id: str, store: type) -> CheckResult:
    check = next(c for c in all_checks() if c.id == check_id)
    return run_check(check, as_store_factory(store), Settings(timeout=2))


def test_the_duplicate_id_example_shows_the_ids() -> None:
    result = _run("append.duplicate-event-id", _zoo("DuplicateIdAccepted"))
    assert result.outcome is Outcome.FAILED
    # The stored event and the one repeating its id both show it: reproducible as read.
    lines = [line for line in result.message.splitlines() if "store.append" in line]
    stored_id = lines[0].split("id=")[1].split(")")[0]
    assert stored_id.startswith("UUID('") and stored_id in lines[1]


def test_event_id_uniqueness_is_a_capability() -> None:
    from backends.memory import MemoryStore
    from harness.contract import Capabilities

    class ByStreamAndVersion(MemoryStore):
        @property
        def capabilities(self) -> Capabilities:
            return Capabilities()

    result = _run("append.duplicate-event-id", ByStreamAndVersion)
    assert result.outcome is Outcome.NOT_APPLICABLE
    assert "unique_event_ids" in result.message


def test_a_difference_between_reads_names_the_event_and_the_field() -> None:
    result = _run("read.streamed-equals-collected", _zoo("StampedOnRead"))
    assert result.outcome is Outcome.FAILED
    first_line = result.message.splitlines()[0]
    assert "event #1" in first_line and "recorded_at is" in first_line
    assert "in the collected read" in first_line and "in the streamed read" in first_line


def test_ids_that_print_alike_are_shown_apart() -> None:
    from harness.conformance.model import show, show_pair

    assert show("caf\u00e9") == "'caf\u00e9'"  # one code point, NFC: readable as is
    assert show("cafe\u0301") == "'cafe\\u0301'"  # a combining mark: ascii()
    assert show_pair("a", "\u0430") == ("'a'", "'\\u0430'")  # Latin and Cyrillic a
    assert show_pair("x", "y") == ("'x'", "'y'")


def test_a_typed_error_where_none_is_allowed_is_not_called_untyped() -> None:
    from harness.conformance.core import Check, CheckContext
    from harness.contract import WrongExpectedVersion

    async def raises(ctx: CheckContext) -> None:
        raise WrongExpectedVersion("s", 1, 2)

    check = Check("x.typed", "raises a typed error", "a rule", raises)
    result = run_check(check, load_factory("memory"), Settings(timeout=2))
    assert result.outcome is Outcome.FAILED
    assert "a typed error of the contract" in result.message
    assert "not one of the contract's typed errors" not in result.message


def test_a_streaming_failure_gives_its_figures() -> None:
    result = _run("streaming.read-stream", _zoo("KeepsDecodedEvents"))
    assert result.outcome is Outcome.FAILED
    problem = result.message.splitlines()[0]
    assert "its memory grows with the stream" in problem
    assert "Measured (tracemalloc" in problem and "collected 20000: peak" in problem


def test_a_store_with_large_batches_still_streams() -> None:
    """Batches of 5,000 are judged at batch_size=1000 (at 20,000 events three of them
    would look like the whole stream); a buffering store with them is still caught."""
    sys.path.insert(0, str(TESTS))
    try:
        from zoo.base import ZooStore
        from zoo.mutants import KeepsDecodedEvents
    finally:
        sys.path.remove(str(TESTS))

    def with_batch(cls: type[ZooStore]) -> type[ZooStore]:
        class LargeBatches(cls):  # type: ignore[misc,valid-type]
            def read_stream(self, stream_id: str, **kwargs: Any) -> Any:
                kwargs["batch_size"] = kwargs.get("batch_size") or 5000
                return super().read_stream(stream_id, **kwargs)

        return LargeBatches

    assert _run("streaming.read-stream", with_batch(ZooStore)).outcome is Outcome.PASSED
    caught = _run("streaming.read-stream", with_batch(KeepsDecodedEvents))
    assert caught.outcome is Outcome.FAILED
    assert "batch_size=1000" in caught.message


def test_markdown_report_is_a_matrix_with_one_column_per_backend() -> None:
    checks = all_checks()[:3]
    results = {
        "memory": [CheckResult(c.id, Outcome.PASSED, 0.01) for c in checks],
        "acme": [
            CheckResult(checks[0].id, Outcome.FAILED, 0.01, "it broke | badly"),
            CheckResult(checks[1].id, Outcome.NOT_APPLICABLE, 0.0, "no capability"),
            CheckResult(checks[2].id, Outcome.PASSED, 0.01),
        ],
    }
    text = render_markdown(checks, results, Settings())
    assert "| check | memory | acme | what it checks |" in text
    assert f"| `{checks[0].id}` | pass | **FAIL** |" in text
    assert f"| `{checks[1].id}` | pass | n/a |" in text
    assert "| acme | 1 | 1 | 1 |" in text
    assert f"### `{checks[0].id}` on acme" in text


def test_cli_lists_and_selects_checks() -> None:
    runner = CliRunner()
    result = runner.invoke(check_command, ["--list", "-s", "faults"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "faults.cut-read-stream" in result.output
    assert "append.any.new-stream" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "name at least one backend"),
        (["memory", "--report", "out.txt"], "name the report .md or .json"),
        (["no_such_module_xyz:factory"], "cannot import"),
        (["memory", "-s", "nothing-like-this"], "no check matches"),
        (["oracle"], "no reference backend named 'oracle'"),
    ],
)
def test_cli_usage_errors_say_what_to_do(args: list[str], message: str) -> None:
    result = CliRunner().invoke(check_command, args)
    assert result.exit_code == 2
    assert message in result.output


def test_cli_runs_backends_and_writes_both_reports(tmp_path: Path) -> None:
    md, js = tmp_path / "conf.md", tmp_path / "conf.json"
    args = ["memory", "-s", "append", "-s", "faults", "--report", str(md), "--report", str(js)]
    result = CliRunner().invoke(check_command, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    document = json.loads(js.read_text())
    memory = document["backends"]["memory"]
    appends = len(select_checks(all_checks(), select=["append"]))
    assert memory["summary"] == {"passed": appends, "failed": 0, "n/a": 4}
    assert memory["results"]["faults.cut-idle"]["outcome"] == "n/a"
    assert "| `append.any.new-stream` | pass |" in md.read_text()


def _third_party(tmp_path: Path) -> Path:
    (tmp_path / "acme_store.py").write_text(THIRD_PARTY)
    return tmp_path


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


@pytest.mark.skipif(not EVENTBENCH.exists(), reason="the eventbench script is not installed")
def test_eventbench_check_on_a_third_party_factory(tmp_path: Path) -> None:
    project = _third_party(tmp_path)
    good = subprocess.run(
        [str(EVENTBENCH), "check", "acme_store:make_store", "--report", "conformance.json"],
        cwd=project,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert good.returncode == 0, good.stdout + good.stderr
    summary = json.loads((project / "conformance.json").read_text())["backends"]
    assert summary["acme_store:make_store"]["summary"]["failed"] == 0

    bad = subprocess.run(
        [str(EVENTBENCH), "check", "acme_store:make_broken", "-s", "read", "--timeout", "5"],
        cwd=project,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "FAILED read.exact-stream-ids" in bad.stderr
    assert "rule broken: " in bad.stderr and "smallest example:" in bad.stderr


def test_pytest_plugin_runs_the_suite_without_a_test_file(tmp_path: Path) -> None:
    project = _third_party(tmp_path)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rs",
            "--eventbench-factory",
            "acme_store:make_store",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    count = len(all_checks())
    assert f"{count - 11} passed, 11 skipped" in run.stdout
    assert "n/a: the store does not offer cut_connections()" in run.stdout


def test_pytest_plugin_with_a_conftest_fixture_reports_failures(tmp_path: Path) -> None:
    project = _third_party(tmp_path)
    (project / "conftest.py").write_text(
        textwrap.dedent(
            """
            import pytest
            import acme_store

            @pytest.fixture
            def eventbench_store_factory():
                return acme_store.make_broken
            """
        )
    )
    (project / "test_acme.py").write_text(
        "from harness.conformance.pytest_suite import ConformanceSuite\n\n"
        "class TestAcme(ConformanceSuite):\n    pass\n"
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-k",
            "exact-stream-ids or any",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    # "any" also matches faults.cut-any-read (n/a here) and concurrency.many-readers.
    assert "1 failed, 5 passed, 1 skipped" in run.stdout
    assert "read.exact-stream-ids: " in run.stdout
    assert "smallest example:" in run.stdout
