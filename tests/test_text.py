"""Messages read as sentences: one stop each, and files named in errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from results_factory import make_results

from harness import provision
from harness.cli import main
from harness.registry import UnknownBackend, load_factory
from harness.report import write_reports
from harness.results import ResultsError, load_results, save_results
from harness.text import join_sentences

DOUBLED = re.compile(r"(?<!\.)\.\.(?!\.)|[?!:]\.|\.\s*\.(?!\.)")


@pytest.mark.parametrize(
    ("parts", "joined"),
    [
        (("no server", "Fix that."), "no server. Fix that."),
        (("port 5432.", "Fix that."), "port 5432. Fix that."),
        (("(or pip install it)?", "Then retry"), "(or pip install it)? Then retry."),
        (("ends with two..", "", "  next "), "ends with two. next."),
        (("wait...", "go"), "wait... go."),
    ],
)
def test_join_sentences_never_doubles_a_stop(parts: tuple[str, ...], joined: str) -> None:
    assert join_sentences(*parts) == joined


def test_a_missing_module_message_has_single_stops() -> None:
    with pytest.raises(UnknownBackend) as failed:
        load_factory("no_such_module_here:make")
    assert "pip install" in str(failed.value)
    assert not DOUBLED.search(str(failed.value)), str(failed.value)


def test_an_unavailable_server_message_has_single_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(provision.ENV_DSN, "postgresql://postgres@127.0.0.1:1/postgres")
    monkeypatch.setenv(provision.ENV_REQUIRE, "0")  # the message that says "Fix that"
    monkeypatch.setattr(provision, "_found", None)
    try:
        result = CliRunner().invoke(main, ["check", "postgres"], terminal_width=2000)
    finally:
        provision._found = None
    assert result.exit_code == 2
    assert "127.0.0.1:5432. Fix that" in result.output
    assert not DOUBLED.search(result.output.replace("...", "")), result.output


def test_a_json_file_that_is_not_results_is_named_in_the_error(tmp_path: Path) -> None:
    results = make_results()
    save_results(results, tmp_path / "run.json")
    write_reports(results, tmp_path, "run")
    for name, text in (
        ("run.summary.json", None),
        ("list.json", "[1, 2]"),
        ("other.json", json.dumps({"cells": []})),
        ("old.json", json.dumps({"schema_version": 0, "cells": []})),
        (
            "broken.json",
            json.dumps({**json.loads((tmp_path / "run.json").read_text()), "cells": 1}),
        ),
    ):
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        with pytest.raises(ResultsError) as failed:
            load_results(path)
        assert str(failed.value).startswith(f"{path}: "), str(failed.value)
    result = CliRunner().invoke(main, ["report", str(tmp_path / "run.summary.json")])
    assert result.exit_code == 2
    assert "run.summary.json: not an eventbench results file" in result.output
