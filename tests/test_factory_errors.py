"""A user's store module that fails to load, for any reason, gives a short message
naming the module and the error (the traceback only with --debug), in `eventbench
check`, `eventbench run` and the pytest plugin; a folder that shadows an installed
package is named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.registry import FactoryImportError, UnknownBackend, load_factory

EVENTBENCH = Path(sys.executable).with_name("eventbench")

BROKEN = {
    # module name: (source, what the message must say)
    "broken_dep": ("import no_such_dependency_xyz\n", "No module named 'no_such_dependency_xyz'"),
    "broken_attr": ("import os\nos.no_such_attribute\n", "AttributeError"),
    "broken_syntax": ("def make_store(:\n    pass\n", "SyntaxError: invalid syntax"),
    "broken_body": ("raise RuntimeError('the body failed')\n", "RuntimeError: the body failed"),
    "broken_exit": ("import sys\nsys.exit(3)\n", "SystemExit"),
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, (source, _) in BROKEN.items():
        (tmp_path / f"{name}.py").write_text(source)
    (tmp_path / "no_factory.py").write_text("def other():\n    pass\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [*BROKEN, "no_factory"]:
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.delenv("EVENTBENCH_DEBUG", raising=False)
    return tmp_path


@pytest.mark.parametrize("module", list(BROKEN))
def test_a_module_that_fails_to_import_is_one_short_message(project: Path, module: str) -> None:
    with pytest.raises(FactoryImportError) as failed:
        load_factory(f"{module}:make_store")
    message = str(failed.value)
    assert f"cannot import {module!r}" in message
    assert BROKEN[module][1] in message
    assert "Traceback" not in message and len(message) < 400, message
    assert "Traceback" in failed.value.details


def test_a_missing_factory_names_the_module_and_the_attribute(project: Path) -> None:
    with pytest.raises(UnknownBackend, match=r"'no_factory' \(.*no_factory\.py\) has no attribute"):
        load_factory("no_factory:make_store")


@pytest.mark.parametrize("module", list(BROKEN))
def test_check_shows_the_traceback_only_with_debug(project: Path, module: str) -> None:
    quiet = CliRunner().invoke(main, ["check", f"{module}:make_store"])
    assert quiet.exit_code == 2, quiet.output
    assert f"cannot import {module!r}" in quiet.output and BROKEN[module][1] in quiet.output
    assert "Traceback" not in quiet.output
    assert "--debug" in quiet.output
    loud = CliRunner().invoke(main, ["check", "--debug", f"{module}:make_store"])
    assert loud.exit_code == 2
    assert "Traceback" in loud.output and f"{module}.py" in loud.output


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EVENTBENCH_DEBUG")}
    return {**env, **extra}


@pytest.mark.slow
@pytest.mark.skipif(not EVENTBENCH.exists(), reason="the eventbench script is not installed")
def test_run_names_the_failing_module_briefly_and_debug_adds_the_traceback(
    project: Path,
) -> None:
    args = [
        str(EVENTBENCH),
        "run",
        "--skip-unavailable",  # report both, not only the first
        "--backends",
        "syntax=broken_syntax:make_store,body=broken_body:make_store",
        "--scenarios",
        "read-stream",
        "--sizes",
        "100",
        "--repeats",
        "1",
        "--memory-repeats",
        "0",
        "-o",
        str(project / "out"),
    ]
    quiet = subprocess.run(args, cwd=project, capture_output=True, text=True, env=_env())
    output = quiet.stdout + quiet.stderr
    assert "cannot import 'broken_syntax'" in output and "SyntaxError" in output, output
    assert "cannot import 'broken_body'" in output and "the body failed" in output, output
    assert "Traceback" not in output, output
    loud = subprocess.run(
        args, cwd=project, capture_output=True, text=True, env=_env(EVENTBENCH_DEBUG="1")
    )
    assert "Traceback" in loud.stdout + loud.stderr


def test_the_pytest_plugin_makes_it_a_usage_error(project: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--eventbench-factory",
            "broken_body:make_store",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 4, output  # pytest's "usage error"
    assert "--eventbench-factory: cannot import 'broken_body'" in output, output
    assert "RuntimeError: the body failed" in output and "Traceback" not in output, output
    assert len(output.strip().splitlines()) <= 3, output


def test_a_folder_shadowing_eventbench_is_named(project: Path) -> None:
    (project / "eventbench").mkdir()  # e.g. a clone of eventbench beside the store
    (project / "eventbench" / "README.md").write_text("a clone\n")
    (project / "uses_eventbench.py").write_text(
        "from eventbench import MemoryStore\n\ndef make_store():\n    return MemoryStore()\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "check", "uses_eventbench:make_store"],
        cwd=project,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 2, output
    assert "cannot import 'uses_eventbench'" in output, output
    assert "The folder ./eventbench/ in the working directory shadows the installed" in output
