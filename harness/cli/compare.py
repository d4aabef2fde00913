"""``eventbench compare``: before/after verdicts of two results files, or of HEAD
against a git ref measured side by side (``--ref``): a thin shell over
`harness.analysis.compare`, the runner and `harness.report`."""

from __future__ import annotations

import math
import os
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from harness.analysis.compare import (
    DEFAULT_COUNT_THRESHOLD,
    DEFAULT_MEMORY_FLOOR_BYTES,
    DEFAULT_MEMORY_THRESHOLD,
    DEFAULT_TIME_THRESHOLD,
    METRICS,
    CompareError,
    Comparison,
    Thresholds,
    Verdict,
    compare_results,
    parse_bytes,
)
from harness.cli.main import EXIT_ERROR, CommandFailed, load_results_file, output_console
from harness.cli.run import plan_from_options, plan_options
from harness.redact import redact
from harness.report.format import fmt_ratio, fmt_size
from harness.results import RunResults, save_results
from harness.runner import COMPARE_ROUNDS, slug

__all__ = ["EXIT_REGRESSION", "compare_command"]

EXIT_REGRESSION = 1
"""A verdict of regression (2 is an error the user can fix, as for every command)."""


if TYPE_CHECKING:  # click's ParamType is generic only from click 8.2 on
    _FloatParam = click.ParamType[float]
    _IntParam = click.ParamType[int]
else:
    _FloatParam = _IntParam = click.ParamType


class Fraction(_FloatParam):
    """0.10 or 10%."""

    name = "FRACTION"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        text = str(value).strip()
        try:
            number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            self.fail(f"{value!r} is not a fraction; write 0.10 or 10%", param, ctx)
        if not 0 < number < 1 or math.isnan(number):
            self.fail(f"{value!r} must be between 0 and 1 (0.10 means 10%)", param, ctx)
        return number


class ByteSize(_IntParam):
    """256KiB, 1MiB, 500kB or a number of bytes."""

    name = "SIZE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_bytes(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _print_comparison(console: Console, comparison: Comparison) -> None:
    from harness.report.comparison import comparison_headline

    headline = comparison_headline(comparison)
    style = "bold red" if comparison.has_regression else "bold green"
    console.print(headline[0], style=style, highlight=False, markup=False)
    for line in headline[1:]:
        console.print(f"  {line}", highlight=False, markup=False)
    for warning in comparison.warnings:
        console.print(f"warning: {warning}", style="yellow", highlight=False, markup=False)
    notable = [c for c in comparison.cells if c.verdict is not Verdict.UNCHANGED]
    if not notable:
        return
    table = Table(
        title="cells that improved, regressed or could not be judged", title_justify="left"
    )
    for name in ("verdict", "cell", "metric", "head/base", "CI", "rounds", "why"):
        table.add_column(name, overflow="fold")
    colours = {"regressed": "red", "improved": "green", "inconclusive": "yellow"}
    labels = {m.name: m.label for m in METRICS}
    for cell in notable:
        name = f"{cell.scenario}/{cell.backend}/{cell.mode}/{fmt_size(cell.size)}"
        verdict = f"[{colours.get(cell.verdict.value, 'white')}]{cell.verdict.value}[/]"
        if not cell.metrics:
            table.add_row(verdict, name, "-", "-", "-", "-", cell.failure or "")
        for m in cell.metrics:
            if m.verdict is Verdict.UNCHANGED:
                continue
            table.add_row(
                f"[{colours.get(m.verdict.value, 'white')}]{m.verdict.value}[/]",
                name,
                labels.get(m.metric, m.metric),
                fmt_ratio(m.ratio),
                f"{m.ci_low:.3f}-{m.ci_high:.3f}" if math.isfinite(m.ci_low) else "-",
                f"{len(m.base_rounds)} vs {len(m.head_rounds)}",
                m.reason,
            )
    console.print(table)


def _write_comparison(
    comparison: Comparison, out_dir: Path, stem: str, console: Console
) -> list[Path]:
    from harness.report import write_comparison_reports
    from harness.report.comparison import render_comparison_markdown

    try:
        written = write_comparison_reports(comparison, out_dir, stem)
    except OSError as exc:
        raise CommandFailed(f"cannot write the comparison into {out_dir}: {exc}") from None
    # In a GitHub Actions job, the Markdown also becomes the job's summary page.
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        with open(summary_file, "a", encoding="utf-8") as out:
            out.write(redact(render_comparison_markdown(comparison)) + "\n")
    return written


def _run_against_ref(
    ref: str,
    console: Console,
    run_options: dict[str, Any],
    out_dir: Path,
    stem: str,
) -> tuple[RunResults, RunResults, str, str]:
    """Measure REF (installed in its own venv) and this checkout, interleaved."""
    from harness.cli.run import RichProgress
    from harness.runner import PlanError, Side, measured_nothing, run_plan
    from harness.runner.gitref import RefError, prepare_ref, repo_root

    plan = plan_from_options(**run_options)
    try:
        here = repo_root(Path.cwd())
        with console.status(f"preparing {ref} in its own environment..."):
            env = prepare_ref(
                ref, repo=here, note=lambda m: console.print(m, style="dim", highlight=False)
            )
    except RefError as exc:
        raise CommandFailed(str(exc)) from None
    base_label = f"{ref} ({env.commit[:12]})"
    head_label = "working tree"
    sides = [
        # The base's workers run from its own source tree, with no PYTHONPATH, so
        # that nothing of this checkout can shadow the ref's code.
        Side("base", str(env.python), cwd=str(env.source), env={"PYTHONPATH": ""}),
        Side("head", sys.executable, cwd=str(here)),
    ]
    title = f"eventbench compare ({base_label} vs {head_label}, interleaved)"
    try:
        base, head = run_plan(
            plan,
            sides=sides,
            progress=RichProgress(console, title),
            timeout_s=run_options["timeout"],
            skip_unavailable=run_options["skip_unavailable"],
        )
    except PlanError as exc:  # a backend that cannot run on a side
        raise click.UsageError(str(exc)) from None
    for side, results in (("base", base), ("head", head)):
        if not results.interrupted and measured_nothing(results):
            raise CommandFailed(
                f"nothing was measured on the {side} side: every cell was left out or failed"
            )
    # The ref's files are an export, not a checkout: record the commit they came from.
    base = replace(
        base, environment=replace(base.environment, git_commit=env.commit, git_dirty=False)
    )
    if head.environment.git_commit:
        dirty = "+dirty" if head.environment.git_dirty else ""
        head_label = f"working tree ({head.environment.git_commit[:12]}{dirty})"
    for side, results in (("base", base), ("head", head)):
        save_results(results, out_dir / f"{stem}.{side}.json")
    if base.interrupted:
        console.print("[yellow]interrupted:[/] comparing the cells measured on both sides")
    return base, head, base_label, head_label


@click.command("compare")
@click.argument("files", nargs=-1, metavar="[BASE.json HEAD.json]", type=click.Path(path_type=Path))
@click.option(
    "--ref",
    metavar="REF",
    help="Instead of two files: install git REF in its own environment and measure it "
    "and this checkout, interleaved, on this machine.",
)
@click.option(
    "--report-only",
    is_flag=True,
    help="Always exit 0: report regressions and errors without failing the job.",
)
@click.option(
    "--time-threshold",
    type=Fraction(),
    default=DEFAULT_TIME_THRESHOLD,
    show_default=True,
    help="Smallest change in time worth reporting (0.10 or 10%).",
)
@click.option(
    "--memory-threshold",
    type=Fraction(),
    default=DEFAULT_MEMORY_THRESHOLD,
    show_default=True,
    help="Smallest relative change in peak memory worth reporting...",
)
@click.option(
    "--memory-floor",
    type=ByteSize(),
    default=str(DEFAULT_MEMORY_FLOOR_BYTES),
    show_default=True,
    help="...which must also be at least this many bytes (0: none; the cell's own "
    "spread between processes always counts).",
)
@click.option(
    "--count-threshold",
    "--instructions-threshold",
    "count_threshold",
    type=Fraction(),
    default=DEFAULT_COUNT_THRESHOLD,
    show_default=True,
    help="Smallest relative change in a count (instructions, allocations, bytes "
    "allocated) worth reporting, raised to the cell's spread between processes "
    "(--instructions-threshold is the same option).",
)
@click.option(
    "--alpha",
    type=Fraction(),
    default=0.05,
    show_default=True,
    help="Error rate of the rank interval (0.05: 95% confidence).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Directory for the comparison reports.",
)
@click.option("--stem", default=None, help="File name stem of the reports.")
@plan_options(rounds_default=COMPARE_ROUNDS, prefix="--ref: ")
def compare_command(
    files: tuple[Path, ...],
    ref: str | None,
    report_only: bool,
    time_threshold: float,
    memory_threshold: float,
    memory_floor: int,
    count_threshold: float,
    alpha: float,
    output: Path,
    stem: str | None,
    **run_options: Any,
) -> None:
    """Did HEAD get faster or leaner than BASE, or worse? Judge every shared cell.

    \b
    eventbench compare BASE.json HEAD.json    two results files (e.g. from CI)
    eventbench compare --ref main             measure main and this checkout now

    Rounds (fresh worker processes) are the observations. Per cell and metric: the
    head/base ratio over pairs of rounds with an exact rank (Mann-Whitney) interval,
    or, for an interleaved --ref run of 8+ rounds, over the rounds measured side by
    side (signed-rank interval), and a verdict (improved, regressed, unchanged,
    inconclusive) against a minimum effect. Time is judged as wall and CPU time. A
    verdict needs at least 4 rounds per side. Writes Markdown, HTML and JSON.

    Exit status: 0 no regression, 1 regression, 2 error (or too few rounds to judge
    anything); --report-only always exits 0.
    """
    try:
        _compare(
            files,
            ref,
            report_only,
            time_threshold,
            memory_threshold,
            memory_floor,
            count_threshold,
            alpha,
            output,
            stem,
            run_options,
        )
    except CommandFailed as exc:
        if not report_only:
            raise
        # A reporting-only CI step must never fail the build, but the error stays loud.
        exc.show()
        click.echo("--report-only: exiting 0 although the comparison could not be made", err=True)


def _compare(
    files: tuple[Path, ...],
    ref: str | None,
    report_only: bool,
    time_threshold: float,
    memory_threshold: float,
    memory_floor: int,
    count_threshold: float,
    alpha: float,
    output: Path,
    stem: str | None,
    run_options: dict[str, Any],
) -> None:
    console = output_console()
    try:
        thresholds = Thresholds(
            time=time_threshold,
            memory=memory_threshold,
            memory_floor_bytes=memory_floor,
            count=count_threshold,
            alpha=alpha,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    if ref is not None:
        if files:
            raise click.UsageError("give either BASE.json HEAD.json or --ref REF, not both")
        stem = stem or f"compare-{slug(ref, 'ref')}-{stamp}"
        base, head, base_label, head_label = _run_against_ref(
            ref, console, run_options, output, stem
        )
    else:
        ctx = click.get_current_context()
        given = [
            name
            for name in run_options
            if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
        ]
        if given:
            options = ", ".join("--" + name.replace("_", "-") for name in given)
            raise click.UsageError(f"{options}: only with --ref (they say what to measure)")
        if len(files) != 2:
            raise click.UsageError(
                "give two results files (BASE.json HEAD.json), or --ref REF to measure a git "
                "ref against this checkout"
            )
        base_path, head_path = files
        base, head = load_results_file(base_path), load_results_file(head_path)
        base_label, head_label = str(base_path), str(head_path)
        stem = stem or f"compare-{slug(base_path.stem, 'base')}-vs-{slug(head_path.stem, 'head')}"
    try:
        comparison = compare_results(
            base, head, thresholds, base_label=base_label, head_label=head_label
        )
    except CompareError as exc:
        raise CommandFailed(str(exc)) from None
    _print_comparison(console, comparison)
    written = _write_comparison(comparison, output, stem, console)
    console.print("wrote " + ", ".join(map(str, written)), highlight=False)
    if ref is not None and not report_only:
        from harness.runner import run_status

        status = run_status([base, head])
        if status.exit_code > EXIT_ERROR:  # stopped by a signal: say so in the status too
            console.print(f"[yellow]{status.message}[/]", highlight=False)
            raise SystemExit(status.exit_code)
    if comparison.has_regression and not report_only:
        raise SystemExit(EXIT_REGRESSION)
    if comparison.undecidable:
        raise CommandFailed(
            "no metric of any cell had enough rounds on both sides for a verdict; "
            + " ".join(comparison.too_few_rounds)
        )
