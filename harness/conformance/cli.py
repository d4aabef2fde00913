"""``eventbench check``: run the conformance suite against named stores, no test file needed."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.cli.main import debug_option
from harness.conformance.core import Check, Settings, select_checks
from harness.conformance.report import write_report
from harness.conformance.runner import CheckResult, Outcome, all_checks, run_checks, run_isolated
from harness.redact import redact
from harness.registry import (
    FactoryImportError,
    InvalidBackendSpec,
    StoreFactory,
    UnknownBackend,
    backend_info,
    debug_enabled,
    load_factory,
    must_run,
    parse_backends,
    shadowing_notes,
)
from harness.text import join_sentences

STYLE = {Outcome.PASSED: "green", Outcome.FAILED: "bold red", Outcome.NOT_APPLICABLE: "dim"}


def _list(checks: list[Check], console: Console) -> None:
    """The checks, as a table on a terminal wide enough for one, else one line each.

    Piped (to grep, a file, a CI log) a line is never wrapped; on a narrow terminal it
    is cut to the width with an ellipsis, so each check stays one line.
    """
    width = max((len(c.id) for c in checks), default=0)
    widest = width + max((len(c.description) for c in checks), default=0)
    if console.is_terminal and console.width >= widest + 7:  # 7: the table's borders
        table = Table(title=f"eventbench conformance checks ({len(checks)})")
        table.add_column("id", style="bold", no_wrap=True)
        table.add_column("what it checks", no_wrap=True)
        for check in checks:
            table.add_row(check.id, check.description)
        console.print(table)
        return
    for check in checks:
        line = f"{check.id:<{width}}  {check.description}"
        if console.is_terminal and len(line) > console.width:
            line = line[: max(console.width - 1, len(check.id))] + "…"
        console.print(line, soft_wrap=True, markup=False, highlight=False)


def _resolve(
    specs: tuple[str, ...], skip_unavailable: bool, err: Console
) -> dict[str, StoreFactory]:
    # A console script does not put the working directory on sys.path; a backend
    # author runs `eventbench check mypkg.store:make_store` from their project root.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        refs = parse_backends(specs)
    except InvalidBackendSpec as exc:
        raise click.UsageError(str(exc)) from None
    factories: dict[str, StoreFactory] = {}
    for ref in refs:
        if ref.is_reference:
            info = backend_info(ref.spec)
            if not info.available:
                if skip_unavailable and not must_run(ref.spec):
                    err.print(
                        f"[yellow]skipping {escape(ref.label)}: {escape(info.reason or '')}[/]"
                    )
                    continue
                if must_run(ref.spec):
                    raise click.UsageError(
                        f"backend {ref.label!r} cannot run here, and EVENTBENCH_REQUIRE_POSTGRES=1 "
                        f"requires it: {info.reason}"
                    )
                raise click.UsageError(
                    join_sentences(
                        f"backend {ref.label!r} cannot run here: {info.reason}",
                        "Fix that, or pass --skip-unavailable to check the other backends.",
                    )
                )
        try:
            factories[ref.label] = load_factory(ref.spec)
        except UnknownBackend as exc:
            if isinstance(exc, FactoryImportError) and debug_enabled():
                # soft_wrap: a traceback's lines stay whole, so its paths can be copied.
                err.print(exc.details, highlight=False, markup=False, soft_wrap=True)
            raise click.UsageError(str(exc)) from None
    return factories


async def _open_once(factory: StoreFactory, seconds: float) -> None:
    async with asyncio.timeout(seconds), factory():
        pass


def _preflight(name: str, factory: StoreFactory, timeout: float) -> str | None:
    """None if the factory gives a store, else why not, in words."""
    try:
        run_isolated(_open_once(factory, timeout))
    except TimeoutError:
        return f"the factory did not give a store within {timeout:g} s"
    except Exception as exc:
        notes = shadowing_notes([], Path.cwd())
        return redact(join_sentences(f"the factory raised {type(exc).__name__}: {exc}", *notes))
    return None


@click.command("check")
@click.argument("backends", nargs=-1, metavar="[[LABEL=]BACKEND | module:function | URL]...")
@click.option(
    "--list", "list_only", is_flag=True, help="List the checks (after selection) and exit."
)
@click.option(
    "-s",
    "--select",
    "select",
    multiple=True,
    metavar="PATTERN",
    help=(
        "Run only checks matching: an id, a dotted prefix (`read`) or a glob "
        "(`*snapshot*`). Repeatable."
    ),
)
@click.option(
    "-d",
    "--deselect",
    "deselect",
    multiple=True,
    metavar="PATTERN",
    help="Skip checks matching PATTERN (as --select). Repeatable.",
)
@click.option(
    "-k", "keyword", metavar="TEXT", help="Run only checks whose id or description contains TEXT."
)
@click.option(
    "--thorough",
    is_flag=True,
    help="Run the model-based test long (hundreds of random programs), not the fast CI profile.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Seconds a single store operation may take before it counts as a hang.",
)
@click.option(
    "--report",
    "reports",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Write the checks x backends matrix to PATH (.md or .json). Repeatable.",
)
@click.option(
    "--skip-unavailable",
    is_flag=True,
    help="Leave out reference backends that cannot run here instead of failing "
    "(never PostgreSQL under EVENTBENCH_REQUIRE_POSTGRES=1).",
)
@click.option("-x", "--exitfirst", is_flag=True, help="Stop a backend's run at its first failure.")
@debug_option
def check_command(
    backends: tuple[str, ...],
    list_only: bool,
    select: tuple[str, ...],
    deselect: tuple[str, ...],
    keyword: str | None,
    thorough: bool,
    timeout: float,
    reports: tuple[Path, ...],
    skip_unavailable: bool,
    exitfirst: bool,
) -> None:
    """Run the conformance suite against one or more event stores.

    Name reference backends (memory, sqlite, postgres), a PostgreSQL server as a
    postgresql:// URL (each store is a fresh schema there), or your own store factory
    as module:function: a zero-argument callable giving a fresh, empty store (an async
    context manager, an async generator, or a function returning an EventStore).
    Run it from your project root so that your module imports. LABEL=SPEC names a
    backend in the tables and reports (e.g. mystore=mypackage.store:make_store).

    \b
    Examples:
      eventbench check memory sqlite postgres --report reports/conformance.md
      eventbench check mystore=mypackage.store:make_store
      eventbench check sqlite -s read -d read.default-batch-size
      eventbench check --list -k snapshot

    Exits 0 when every check passed or was n/a, 1 when any failed, 2 on bad usage.
    """
    console = Console()
    err = Console(stderr=True)
    checks = select_checks(all_checks(), select, deselect, keyword)
    if list_only:
        _list(checks, console)
        return
    for path in reports:
        if path.suffix not in (".md", ".markdown", ".json"):
            raise click.BadParameter(f"{path}: name the report .md or .json", param_hint="--report")
    if not backends:
        raise click.UsageError(
            "name at least one backend: e.g. `eventbench check memory` or "
            "`eventbench check mypackage.store:make_store` (see --help)"
        )
    if not checks:
        raise click.UsageError("no check matches that selection; see `eventbench check --list`")
    factories = _resolve(backends, skip_unavailable, err)
    if not factories:
        raise click.UsageError("no backend left to check (all were unavailable)")
    settings = Settings(thorough=thorough, timeout=timeout)
    results: dict[str, list[CheckResult]] = {}
    for name, factory in factories.items():
        results[name] = _run_backend(name, factory, checks, settings, exitfirst, console, err)
    _summary(checks, results, console)
    for path in reports:
        write_report(path, checks, results, settings)
        console.print(f"report written to [bold]{escape(str(path))}[/]")
    if any(r.outcome is Outcome.FAILED for rs in results.values() for r in rs):
        sys.exit(1)


def _run_backend(
    name: str,
    factory: StoreFactory,
    checks: list[Check],
    settings: Settings,
    exitfirst: bool,
    console: Console,
    err: Console,
) -> list[CheckResult]:
    problem = _preflight(name, factory, settings.timeout)
    if problem is not None:
        message = join_sentences(
            f"could not open a store from {name!r}: {problem}",
            "Check the factory and that its database is reachable.",
        )
        err.print(f"[bold red]{escape(message)}[/]")
        return [CheckResult(c.id, Outcome.FAILED, 0.0, message) for c in checks]
    results: list[CheckResult] = []
    progress = Progress(
        TextColumn("[bold]{task.fields[backend]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=err,
        transient=True,
    )
    with progress:
        task = progress.add_task("", total=len(checks), backend=name)
        for check in checks:
            progress.update(task, description=check.id)
            (result,) = run_checks(factory, [check], settings)
            results.append(result)
            progress.advance(task)
            if result.outcome is Outcome.FAILED:
                progress.console.print(
                    f"[bold red]FAILED[/] [bold]{escape(check.id)}[/] on {escape(name)}\n"
                    f"{escape(result.message)}\n"
                )
                if exitfirst:
                    break
    return results


def _summary(checks: list[Check], results: dict[str, list[CheckResult]], console: Console) -> None:
    table = Table(title="eventbench conformance")
    table.add_column("check", no_wrap=True)
    for name in results:
        table.add_column(name, justify="center")
    by_backend = {b: {r.check_id: r for r in rs} for b, rs in results.items()}
    for check in checks:
        cells = []
        for name in results:
            result = by_backend[name].get(check.id)
            cells.append(
                f"[{STYLE[result.outcome]}]{result.outcome.value}[/]" if result else "[dim]-[/]"
            )
        table.add_row(check.id, *cells)
    console.print(table)
    for name, backend_results in results.items():
        counts = {o: sum(1 for r in backend_results if r.outcome is o) for o in Outcome}
        seconds = sum(r.seconds for r in backend_results)
        colour = "red" if counts[Outcome.FAILED] else "green"
        console.print(
            f"[bold {colour}]{escape(name)}[/]: {counts[Outcome.PASSED]} passed, "
            f"{counts[Outcome.FAILED]} failed, {counts[Outcome.NOT_APPLICABLE]} n/a "
            f"in {seconds:.1f} s"
        )
