"""Backend labels (``LABEL=SPEC``) and the versions of third-party stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.registry import BackendRef, InvalidBackendSpec, parse_backend, parse_backends
from harness.runner import make_plan

EVENTBENCH = Path(sys.executable).with_name("eventbench")

ACME = textwrap.dedent(
    """
    import contextlib

    from backends.memory import MemoryStore


    class AcmeStore(MemoryStore):
        pass


    @contextlib.asynccontextmanager
    async def make_store():
        async with AcmeStore() as store:
            yield store
    """
)


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A third-party store, installed as a distribution (acme-store 1.2.3, needing rich)."""
    (tmp_path / "acme_store.py").write_text(ACME)
    info = tmp_path / "acme_store-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-store\nVersion: 1.2.3\n"
        "Requires-Dist: rich\nRequires-Dist: no-such-dependency-xyz\n"
        'Requires-Dist: pytest ; extra == "test"\n'
    )
    (info / "top_level.txt").write_text("acme_store\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(
    ("text", "label", "spec"),
    [
        ("mystore=pkg.mod:factory", "mystore", "pkg.mod:factory"),
        ("pkg.mod:factory", "pkg.mod:factory", "pkg.mod:factory"),
        ("sqlite", "sqlite", "sqlite"),
        ("pg-2=postgres", "pg-2", "postgres"),
        (" pg = postgresql://u:pw@h/db?schema=x ", "pg", "postgresql://u:pw@h/db?schema=x"),
        ("postgresql://u:pw@h/db?schema=x", "postgresql://u:***@h/db?schema=x", None),
    ],
)
def test_a_label_names_a_spec(text: str, label: str, spec: str | None) -> None:
    ref = parse_backend(text)
    assert ref.label == label
    assert ref.spec == (spec or text)
    assert "pw" not in repr(ref)


@pytest.mark.parametrize(
    ("texts", "error"),
    [
        (["my store=pkg:f"], "is not usable"),
        (["1st=pkg:f"], "starts with a letter"),
        (["a=pkg:f", "a=pkg:g"], "two backends are labelled 'a'"),
        (["sqlite", "sqlite"], "two backends are labelled 'sqlite'"),
        (["memory=pkg:f"], "name of a reference backend"),
        (["x="], "names nothing"),
        (["x" * 41 + "=pkg:f"], "at most 40"),
    ],
)
def test_bad_labels_are_refused_with_what_to_do(texts: list[str], error: str) -> None:
    with pytest.raises(InvalidBackendSpec, match=error):
        parse_backends(texts)


def test_the_plan_uses_labels_and_records_what_they_name() -> None:
    plan = make_plan(
        scenarios=["read-stream"], backends=["mem=memory", "sqlite"], sizes=[100], modes=["raw"]
    )
    assert plan.backends == ["mem", "sqlite"]
    assert plan.spec_of("mem") == "memory" and plan.spec_of("sqlite") == "sqlite"
    assert plan.parameters["backends"] == ["mem", "sqlite"]
    assert plan.parameters["backend_specs"] == {"mem": "memory"}
    assert BackendRef("x", "y").shown == "y"


def test_check_shows_the_label_in_its_table_and_reports(acme: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["check", "mystore=acme_store:make_store", "-k", "snapshot", "--report", "c.json"],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert "mystore: 3 passed" in result.output  # the three read.snapshot* checks
    assert "acme_store:make_store" not in result.output
    report = json.loads((acme / "c.json").read_text())
    assert list(report["backends"]) == ["mystore"]
    bad = CliRunner().invoke(main, ["check", "a=memory", "a=sqlite"])
    assert bad.exit_code == 2 and "two backends are labelled 'a'" in bad.output


@pytest.mark.slow
@pytest.mark.skipif(not EVENTBENCH.exists(), reason="the eventbench script is not installed")
def test_run_labels_a_foreign_store_and_records_its_distribution(acme: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [
            str(EVENTBENCH),
            "run",
            "--backends",
            "acme=acme_store:make_store",
            "--scenarios",
            "read-stream",
            "--modes",
            "streamed",
            "--sizes",
            "100",
            "--repeats",
            "1",
            "--memory-repeats",
            "0",
            "-o",
            str(acme / "out" / "run.json"),
        ],
        cwd=acme,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((acme / "out" / "run.json").read_text())
    assert [cell["backend"] for cell in results["cells"]] == ["acme"]
    packages = results["environment"]["packages"]
    assert packages["acme-store"] == "1.2.3"
    assert packages["rich"]  # what acme-store requires, where installed
    assert "no-such-dependency-xyz" not in packages and "eventbench" in packages
    [info] = results["parameters"]["backend_info"]
    assert info["name"] == "acme" and info["spec"] == "acme_store:make_store"
    assert info["packages"]["acme-store"] == "1.2.3"
    markdown = (acme / "out" / "run.md").read_text()
    assert "acme" in markdown
    assert "acme_store:make_store" not in done.stdout


@pytest.mark.parametrize("spec", ["memory://", "sqlite:events.db", "sqlite::memory:"])
def test_a_url_of_a_one_store_backend_says_to_name_the_backend(spec: str) -> None:
    from harness.registry import UnknownBackend, load_factory

    with pytest.raises(UnknownBackend, match="name the backend"):
        load_factory(spec)
    assert load_factory("memory") is not None
