"""``eventbench report``: the reports of a run, made from its results file alone."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.main import CommandFailed, load_results_file, output_console

__all__ = ["report_command"]


@click.command("report")
@click.argument("results_file", metavar="RESULTS.json", type=click.Path(path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for the reports (default: beside RESULTS.json).",
)
@click.option("--stem", default=None, help="File name stem (default: RESULTS.json's).")
def report_command(results_file: Path, output: Path | None, stem: str | None) -> None:
    """Write the Markdown, HTML (with charts) and JSON summary reports of a run.

    The reports are made from the results file alone, so this works on any run, from
    any machine, at any later time: RESULTS.md, RESULTS.html, RESULTS.summary.json.
    """
    from harness.report import write_reports
    from harness.report.summary import summarize

    console = output_console()
    results = load_results_file(results_file)
    out_dir = output or results_file.parent
    try:
        written = write_reports(results, out_dir, stem or results_file.stem)
    except OSError as exc:
        raise CommandFailed(f"cannot write the reports into {out_dir}: {exc}") from None
    summary = summarize(results)
    console.print(summary.lead, style="bold", highlight=False, markup=False)
    for line in summary.headline:
        if line != summary.lead:
            console.print(f"• {line}", highlight=False, markup=False)
    console.print("wrote " + ", ".join(map(str, written)), highlight=False)
