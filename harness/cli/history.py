"""``eventbench history``: record runs in a results database, report trends, check steps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from harness.analysis.changepoints import Alarm, Thresholds, check_series, metric_kind
from harness.cli.run import plan_options
from harness.history.db import DEFAULT_PATH, Database, HistoryError, open_database
from harness.history.store import Series, add_run, load_series, machines
from harness.report.format import fmt_bytes, fmt_count, fmt_seconds
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


def _threshold_options(command: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--time-threshold",
                type=click.FloatRange(0, 1, min_open=True, max_open=True),
                default=Thresholds.time,
                show_default=True,
                help="Minimum step of a time metric (0.10 = 10%).",
            ),
            click.option(
                "--memory-threshold",
                type=click.FloatRange(0, 1, min_open=True, max_open=True),
                default=Thresholds.memory,
                show_default=True,
                help="Minimum step of a memory metric.",
            ),
            click.option(
                "--count-threshold",
                type=click.FloatRange(0, 1, min_open=True, max_open=True),
                default=Thresholds.count,
                show_default=True,
                help="Minimum step of a deterministic count (instructions, allocations).",
            ),
            click.option(
                "--machine",
                metavar="HOSTNAME",
                default=None,
                help="Only runs from this machine (default: all, pooled per commit).",
            ),
        ]
    ):
        command = option(command)
    return command


def _series(db: Database, machine: str | None) -> list[Series]:
    if machine is None:
        hosts = machines(db)
        if len(hosts) > 1:
            held = ", ".join(f"{host} ({runs} runs)" for host, runs in hosts.items())
            raise click.UsageError(
                f"{db.label} holds runs from {len(hosts)} machines: {held}. Times and "
                "memory from different machines are not comparable, and one series "
                "mixing them shows a change of machine as a step. Pass --machine HOST "
                "(once for each machine)"
            )
    series = load_series(db, hostname=machine)
    if not series:
        where = f" from machine {machine}" if machine else ""
        raise click.UsageError(
            f"{db.label} holds no runs{where}; record some with `eventbench history add "
            "RESULTS.json`"
        )
    return series


def fmt_value(metric: str, value: float) -> str:
    kind = metric_kind(metric)
    if kind == "time":
        return fmt_seconds(value)
    if kind == "memory":
        return fmt_bytes(value)
    return fmt_count(value)


def describe_alarm(alarm: Alarm) -> str:
    s, step = alarm.series, alarm.step
    subject = s.subjects[step.index]
    return (
        f"{s.cell} {s.metric}: {alarm.change:+.1%} since commit {step.commit[:12]} "
        f"(#{s.orders[step.index]} {subject!r}): {fmt_value(s.metric, step.before)} -> "
        f"{fmt_value(s.metric, alarm.newest)}"
    )


@history_group.command("check")
@DB_OPTION
@_threshold_options
def check_command(
    target: str,
    time_threshold: float,
    memory_threshold: float,
    count_threshold: float,
    machine: str | None,
) -> None:
    """Exit 1 when a series' newest commit sits after a change point that made it worse.

    Each cell's metric across commits is searched for change points (E-Divisive);
    a series alarms when its newest level is still worse than the level before a
    worsening change point by the minimum effect. The first commit of that step is
    named. Exit 0 without alarm, 1 with one, 2 on an error.
    """
    thresholds = Thresholds(time=time_threshold, memory=memory_threshold, count=count_threshold)
    console = Console()
    with _database(target) as db:
        # Each machine is its own history: its runs are only compared with each other.
        hosts: list[str | None] = [machine] if machine is not None else [*machines(db)]
        hosts = hosts or [None]
        by_host = [(host, _series(db, host)) for host in hosts]
    series = [s for _, of_host in by_host for s in of_host]
    found = [
        (host, a) for host, of_host in by_host for s in of_host
        if (a := check_series(s, thresholds)) is not None
    ]  # fmt: skip
    alarms = [a for _, a in found]
    commits = len({c for s in series for c in s.commits})
    for host, alarm in found:
        on = f"on {host}: " if len(hosts) > 1 else ""
        console.print(
            f"[red]REGRESSION[/] {escape(on + describe_alarm(alarm))}",
            highlight=False,
            soft_wrap=True,
        )
    if alarms:
        console.print(
            f"{len(alarms)} of {len(series)} series got worse and stayed worse "
            f"({commits} commits).",
            highlight=False,
        )
        raise SystemExit(1)
    machines_said = f" from {len(hosts)} machines, each on its own" if len(hosts) > 1 else ""
    console.print(
        f"no lasting regression in {len(series)} series{machines_said} across {commits} commits "
        f"(minimum effects: time {time_threshold:.0%}, memory {memory_threshold:.0%}, "
        f"counts {count_threshold:.0%}).",
        highlight=False,
    )


@history_group.command("report")
@DB_OPTION
@_threshold_options
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("reports/history"),
    show_default=True,
    help="Directory for history.html and history.md.",
)
def report_command(
    target: str,
    time_threshold: float,
    memory_threshold: float,
    count_threshold: float,
    machine: str | None,
    output: Path,
) -> None:
    """Write a page (HTML, and Markdown) with one chart per cell and metric across
    commits, change points marked."""
    from harness.report.history import write_history_reports

    thresholds = Thresholds(time=time_threshold, memory=memory_threshold, count=count_threshold)
    console = Console(stderr=True)
    with _database(target) as db:
        label = db.label
        series = _series(db, machine)
    with console.status(f"finding change points in {len(series)} series and drawing them"):
        written = write_history_reports(series, thresholds, output, source=label)
    console.print("wrote " + ", ".join(map(str, written)), highlight=False)


@history_group.command("backfill")
@click.argument("commit_range", metavar="OLD..NEW")
@DB_OPTION
@click.option(
    "--every",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Measure every k-th first-parent commit, counted back from NEW.",
)
@click.option(
    "--repo",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default=True,
    help="The git clone to take the commits from.",
)
@click.option(
    "--runs-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("reports/history-runs"),
    show_default=True,
    help="Where each commit's results file is written.",
)
@plan_options(rounds_default=1)
def backfill_command(
    commit_range: str,
    target: str,
    every: int,
    repo: Path,
    runs_dir: Path,
    **run_options: Any,
) -> None:
    """Measure past commits (each in its own cached environment) and add them.

    Each finished commit is added before the next starts: Ctrl-C or a crash loses no
    finished commit, and running the command again skips the commits already in the
    history. Run options are those of `eventbench run`.
    """
    from harness.cli.run import RichProgress, plan_from_options
    from harness.history.backfill import backfill, commits_to_backfill
    from harness.runner.gitref import RefError

    console = Console()
    from harness.runner import QUICK, PlanError

    plan = plan_from_options(**run_options, profile=QUICK)
    with _database(target) as db:
        try:
            commits = commits_to_backfill(repo, commit_range, every)
            console.print(
                f"backfill: {len(commits)} commits of {commit_range} (every {every}), "
                f"{len(plan.cells)} cells each, into {db.label}. Ctrl-C stops; finished "
                "commits are kept and skipped next time.",
                highlight=False,
            )
            outcome = backfill(
                db,
                plan,
                commits,
                repo=repo,
                runs_dir=runs_dir,
                note=lambda m: console.print(m, highlight=False, markup=False),
                progress=lambda: RichProgress(console),
                timeout_s=run_options.get("timeout"),
            )
        except (HistoryError, RefError, PlanError) as exc:
            raise click.ClickException(str(exc)) from None
    console.print(
        f"added {len(outcome.added)} commits, {len(outcome.skipped)} already in the history, "
        f"{len(outcome.failed)} failed.",
        highlight=False,
    )
    for commit, why in outcome.failed.items():
        console.print(f"[red]failed:[/] {commit[:12]}: {escape(why)}", highlight=False)
    if outcome.interrupted:
        console.print("[yellow]interrupted:[/] run the same command again to continue")
        raise SystemExit(130)
    if outcome.failed:
        raise SystemExit(1)
