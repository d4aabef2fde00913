"""``eventbench merge``: join the results of ``eventbench run --shard i/n`` shards."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from harness.results import ResultsError, save_results
from harness.results_merge import MergeError, merge_files

__all__ = ["merge_command"]


@click.command("merge")
@click.argument("shards", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    required=True,
    help="The merged results file (.json); report and compare it like any run's.",
)
@click.option("--report/--no-report", default=False, help="Also write the reports beside it.")
def merge_command(shards: tuple[Path, ...], output: Path, report: bool) -> None:
    """Join shard results (`eventbench run --shard I/N -o shardI.json`) into one.

    Refuses shards of different commits, schema, options or software, and fails
    when a planned cell is missing or measured twice; warns when shards ran on
    different machines.
    """
    console = Console(stderr=True)
    try:
        merged = merge_files(shards)
    except (MergeError, ResultsError) as exc:
        raise click.ClickException(str(exc)) from None
    for warning in merged.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if output.suffix != ".json":
        raise click.BadParameter("write the merged results to a .json file", param_hint="-o")
    written = [save_results(merged.results, output)]
    if report:
        from harness.report import write_reports

        written.extend(write_reports(merged.results, output.parent, output.stem))
    console.print(
        f"merged {len(shards)} shards: {len(merged.results.cells)} cells; wrote "
        + ", ".join(map(str, written)),
        highlight=False,
    )
