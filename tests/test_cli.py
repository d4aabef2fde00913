"""The CLI skeleton: help, version, and the backends listing."""

from __future__ import annotations

from click.testing import CliRunner

from harness.cli import main, package_version


def test_help_lists_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "backends" in result.output


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert package_version() in result.output


def test_backends_lists_every_reference_backend() -> None:
    result = CliRunner().invoke(main, ["backends"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for name in ("memory", "sqlite", "postgres"):
        assert name in result.output
