"""``eventbench history``: record runs in a results database, report trends, check steps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console

from harness.history.db import DEFAULT_PATH, Database, HistoryError, open_database
from harness.history.store import add_run
from harness.results import ResultsError

__all__ = ["history_group"]

DB_OPTION = click.option(
    "--db",
    "target",
    metavar="PATH|URL",
    envvar="EVENTBENCH_HISTORY",
    default=str(DEFAULT_PATH),
    show_default=True,
    help="History database: an SQLite file, or a postgresql:// URL shared by a team "
    "(also $EVENTBENCH_HISTORY).",
)


@contextmanager
def _database(target: str) -> Iterator[Database]:
    try:
        db = open_database(target)
    except HistoryError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield db
    finally:
        db.close()


@click.group("history", context_settings={"help_option_names": ["-h", "--help"]})
def history_group() -> None:
    """A results history across commits: add runs, report trends, check for steps."""


@history_group.command("add")
@click.argument("results_files", nargs=-1, required=True, type=click.Path(path_type=Path))
@DB_OPTION
@click.option(
    "--repo",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default=True,
    help="The git clone that orders the commits (first-parent history).",
)
@click.option("--allow-dirty", is_flag=True, help="Record runs of uncommitted changes too.")
def add_command(
    results_files: tuple[Path, ...], target: str, repo: Path, allow_dirty: bool
) -> None:
    """Record runs (RESULTS.json of `eventbench run` or `merge`) in the history."""
    console = Console(stderr=True)
    with _database(target) as db:
        for path in results_files:
            try:
                record = add_run(db, path, repo=repo, allow_dirty=allow_dirty)
            except (HistoryError, ResultsError) as exc:
                raise click.ClickException(str(exc)) from None
            console.print(
                f"added {path}: commit {record.commit[:12]} (#{record.order} on the first-parent "
                f"line), {record.cells} cells from {record.hostname} to {db.label}",
                highlight=False,
            )
