"""The ``eventbench`` command line: a thin shell over the library.

Each subcommand is a module of this package (``check`` is the conformance suite's
own, `harness.conformance.cli`) and is imported only when it is run,
so ``eventbench --help`` stays fast and a missing optional dependency breaks only the
command that needs it.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from harness.redact import RedactingStream, remember_environment
from harness.registry import DEBUG_ENV, REFERENCE_BACKENDS, backend_info
from harness.results import ResultsError, RunResults, load_results

# name -> "module:attribute" of a click.Command; listed in this order in --help.
SUBCOMMANDS: dict[str, str] = {
    "backends": "harness.cli.main:backends_command",
    "check": "harness.conformance.cli:check_command",
    "run": "harness.cli.run:run_command",
    "report": "harness.cli.report:report_command",
    "compare": "harness.cli.compare:compare_command",
    "merge": "harness.cli.merge:merge_command",
    "history": "harness.cli.history:history_group",
}

EXIT_ERROR = 2
"""An error the user can fix: bad usage, an unreadable file, a backend that cannot run."""


class CommandFailed(click.ClickException):
    """An error the user can fix, said in one line; exits `EXIT_ERROR`."""

    exit_code = EXIT_ERROR


def output_console() -> Console:
    """A console for a command's tables: the terminal's width, or 160 columns when
    piped or logged (CI), where there is no width to respect."""
    console = Console(stderr=False)
    return console if console.is_terminal else Console(width=160)


def load_results_file(path: Path) -> RunResults:
    """`load_results`, with a results file that cannot be read as a `CommandFailed`."""
    try:
        return load_results(path)
    except ResultsError as exc:
        raise CommandFailed(str(exc)) from None


def package_version() -> str:
    try:
        return version("eventbench")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "0+unknown"


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use, and whose output is
    masked (`mask_output`) from the first byte, usage errors included."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        mask_output()
        return super().main(*args, **kwargs)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in SUBCOMMANDS if self._load(name) is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # the command is not built yet
                return None
            raise
        command: Any = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command


def mask_output() -> None:
    """Send everything this process prints through `harness.redact`: a password in a
    store URL (on the command line, in ``EVENTBENCH_PG_DSN``, or quoted by a driver's
    error) never reaches the terminal or a log."""
    remember_environment()
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream))


_F = TypeVar("_F", bound=Callable[..., Any])


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        os.environ[DEBUG_ENV] = "1"  # workers inherit it


def debug_option(command: _F) -> _F:
    """``--debug``: full tracebacks for errors that are otherwise one short message."""
    return click.option(
        "--debug",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_debug,
        help=f"Show full tracebacks (e.g. of a store module that fails to import); "
        f"also {DEBUG_ENV}=1.",
    )(command)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_version(), prog_name="eventbench")
@debug_option
def main() -> None:
    """Benchmark and check event-store backends: streamed vs collected reads.

    \b
    Quick start:
      eventbench run              measure SQLite and memory, write a report
      eventbench check sqlite     run the conformance suite against a store
      eventbench backends         which stores can run here
    """


@click.command("backends")
def backends_command() -> None:
    """List the reference backends and whether each can run here."""
    table = Table(title="eventbench backends")
    table.add_column("backend", style="bold")
    table.add_column("available")
    table.add_column("what it is / why not")
    for name in REFERENCE_BACKENDS:
        info = backend_info(name)
        mark = "[green]yes[/]" if info.available else "[red]no[/]"
        table.add_row(name, mark, info.summary if info.available else (info.reason or ""))
    Console().print(table)


if __name__ == "__main__":  # pragma: no cover
    main()
