"""``eventbench run``: measure scenarios on backends, print a summary, write results."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichBar
from rich.table import Table
from rich.text import Text

from harness.analysis.stats import NO_FIT_REASON
from harness.cli.main import debug_option
from harness.instruments import instructions as instruments_instructions
from harness.report.format import (
    fmt_bytes,
    fmt_count,
    fmt_relative,
    fmt_seconds,
    fmt_size,
    fmt_slope,
)
from harness.results import Cell, RunResults, export_pytest_benchmark, save_results
from harness.runner import (
    DEFAULT_BACKENDS,
    DEFAULT_MEMORY_REPEATS,
    DEFAULT_REPEATS,
    DEFAULT_ROUNDS,
    DEFAULT_SIZES,
    FULL,
    QUICK,
    Outline,
    Plan,
    PlanError,
    Profile,
    Progress,
    WorkerFailed,
    make_plan,
    run_plan,
    run_status,
)
from harness.runner.processes import TIMEOUT_FLOOR_S, TIMEOUT_MARGIN
from harness.text import about_duration
from scenarios import all_scenarios
from scenarios.base import ParamValue, parse_count

__all__ = ["run_command", "summary_tables"]


class RichProgress(Progress):
    """The runner's progress as a rich bar: the current cell, done/total and an ETA.

    Before the bar, a banner says what will be measured and what is left out and why
    (``title`` starts it); each cell's figures are printed as soon as it is finished.
    """

    def __init__(self, console: Console, title: str = "eventbench run") -> None:
        self.console = console
        self.title = title
        self.bar = RichBar(
            SpinnerColumn(),
            TextColumn("{task.description}", style="bold"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[done]}/{task.fields[tasks]} workers"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.task_id: TaskID | None = None
        self.done = 0
        self.tasks = 0
        self.started = time.monotonic()

    def planned(self, outline: Outline) -> None:
        self.console.print(banner(self.title, outline), highlight=False, markup=False)
        for entry in outline.left_out:
            self.console.print(f"[yellow]left out:[/] {escape(entry.describe())}", highlight=False)

    def start(self, total_weight: float, tasks: int) -> None:
        self.bar.start()
        self.tasks = tasks
        self.started = time.monotonic()
        self.task_id = self.bar.add_task("starting", total=total_weight, done=0, tasks=tasks)

    def task(self, description: str) -> None:
        if self.task_id is not None:
            # Descriptions hold "[base]"/"[head]" and user-given names: text, not markup.
            self.bar.update(self.task_id, description=escape(description))
        if not self.console.is_terminal:
            # No live bar in a CI log or a pipe: one line per step keeps progress visible.
            elapsed = time.monotonic() - self.started
            left = None
            if self.task_id is not None:
                weights = self.bar.tasks[self.task_id]  # the bar keeps the cost model's tally
                left = remaining_s(elapsed, weights.completed, weights.total or 0.0)
            eta = f", about {about_duration(left)} left" if left is not None else ""
            self.console.print(
                f"[{self.done}/{self.tasks} workers, {elapsed:.0f} s{eta}] {description}",
                highlight=False,
                markup=False,
            )

    def advance(self, weight: float) -> None:
        if self.task_id is not None:
            if not description_is_seed(self.bar, self.task_id):
                self.done += 1
            self.bar.update(self.task_id, advance=weight, done=self.done)

    def cell_done(self, cell: Cell, side: str) -> None:
        self.console.print(cell_line(cell, side), highlight=False)

    def note(self, message: str) -> None:
        self.console.print(f"[yellow]note:[/] {escape(message)}", highlight=False)

    def stop(self) -> None:
        self.bar.stop()


def remaining_s(elapsed_s: float, done_weight: float, total_weight: float) -> float | None:
    """Time left at the pace so far: the cost model's share still to run, scaled by how
    long its done share really took. None until enough has run to tell (6 s and 2% of
    the work): the first workers pay for imports and seeding."""
    if total_weight <= 0 or elapsed_s < 6 or done_weight < 0.02 * total_weight:
        return None
    return elapsed_s * max(0.0, total_weight - done_weight) / done_weight


def banner(title: str, outline: Outline) -> str:
    """The start line: how many cells will be measured, where, and how often."""
    plan = outline.plan
    count = len(outline.cells)
    sizes = [f"{size:,}" for size in outline.sizes]
    at = " and ".join([", ".join(sizes[:-1]), sizes[-1]] if len(sizes) > 1 else sizes)
    scenarios = ", ".join(dict.fromkeys(cell.scenario for cell in outline.cells))
    where = f" ({scenarios}) on {', '.join(outline.backends)} at {at} events" if count else ""
    runs = f"{plan.repeats} timed + {plan.memory_repeats} tracked runs each"
    if plan.rounds > 1:
        runs += f", in {plan.rounds} rounds"
    if outline.timeout_s is None:
        limit = "timeouts scale with each cell"
    elif outline.timeout_s > 0:
        limit = f"timeout {outline.timeout_s:g} s per worker"
    else:
        limit = "no timeout"
    estimate = (
        f", about {about_duration(outline.estimated_s)} at this project's speeds"
        if outline.estimated_s > 0
        else ""
    )
    return (
        f"{title}: {count} cell{'s' if count != 1 else ''}{where}; {runs} "
        f"({outline.workers} worker processes{estimate}, {limit}). Ctrl-C stops and keeps "
        "finished cells."
    )


def cell_line(cell: Cell, side: str = "") -> str:
    """One finished cell's headline figures, as rich markup."""
    what = escape(
        f"{cell.scenario} · {cell.backend} · {cell.mode} · N={cell.size:,}"
        + (f" [{side}]" if side else "")
    )
    s = cell.summary
    figures = []
    if "total_s" in s:
        figures.append(f"{fmt_seconds(s['total_s'])}")
    if "first_event_s" in s:
        figures.append(f"first event {fmt_seconds(s['first_event_s'])}")
    if "latency_p50_s" in s:
        figures.append(f"p50 latency {fmt_seconds(s['latency_p50_s'])}")
    if "peak_bytes" in s:
        figures.append(f"peak {fmt_bytes(s['peak_bytes'])}")
    if cell.error:  # the error itself was a note as it happened
        done = f" ({', '.join(figures)})" if figures else ""
        return f"[red]✗[/] {what}{done}: [red]failed[/]"
    return f"[green]✓[/] {what}: {', '.join(figures)}"


def description_is_seed(bar: RichBar, task_id: TaskID) -> bool:
    return str(bar.tasks[task_id].description).startswith("seeding")


# --------------------------------------------------------------------- formatting


def summary_tables(results: RunResults) -> list[Table]:
    """The cells' medians, streamed vs collected, the loop stall, cold runs and
    instructions where measured, the growth slopes, then the findings (the report's
    headline: its lead sentence as the title, one row per finding)."""
    title = "eventbench run" + (f" [{results.side}]" if results.side else "")
    if results.interrupted:
        title += " (interrupted: partial)"
    cells = Table(title=title, title_justify="left")
    for name, justify in (
        ("scenario", "left"),
        ("backend", "left"),
        ("mode", "left"),
        ("N", "right"),
        ("time (median)", "right"),
        ("first event (warm)", "right"),
        ("events/s", "right"),
        ("peak memory (warm)", "right"),
        ("allocations", "right"),
    ):
        cells.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    latencies = any("latency_p50_s" in cell.summary for cell in results.cells)
    if latencies:
        cells.add_column("op latency p50", justify="right", no_wrap=True)
    for cell in results.cells:
        s = cell.summary
        if cell.error and not s:
            cells.add_row(
                cell.scenario, cell.backend, cell.mode, f"{cell.size:,}", "[red]failed[/]"
            )
            continue
        cells.add_row(
            cell.scenario,
            cell.backend,
            cell.mode,
            f"{cell.size:,}",
            fmt_seconds(s.get("total_s")),
            fmt_seconds(s.get("first_event_s")),
            fmt_count(s.get("events_per_s")),
            fmt_bytes(s.get("peak_bytes")),
            fmt_count(s.get("allocations")),
            *([fmt_seconds(s.get("latency_p50_s"))] if latencies else []),
        )
    # Imported here: the report package loads matplotlib, which `run` needs only at the end.
    from harness.report.summary import summarize

    tables = [cells]
    # The same figures and sentences as the reports (one `RunSummary`), so the terminal
    # and the report can never disagree, and ratios read one way: streamed vs collected.
    summary = summarize(results)
    if summary.pairs:
        pairs = Table(
            title="streamed vs collected (streamed ÷ collected; below 1x is less)",
            title_justify="left",
        )
        for name in ("scenario", "backend", "N", "memory", "time", "first event"):
            pairs.add_column(name, justify="right" if name == "N" else "left", no_wrap=True)
        for p in summary.pairs:
            pairs.add_row(
                p.scenario,
                p.backend,
                f"{p.size:,}",
                fmt_relative(p.memory_ratio),
                fmt_relative(p.time_ratio),
                fmt_relative(p.first_event_ratio),
            )
        tables.append(pairs)
    # The event loop, cold runs and instructions in a table of their own (beside the
    # one above they would not fit a terminal); a column only where some cell has it.
    extra = [
        (key, label, fmt)
        for key, label, fmt in (
            ("stall_max_s", "loop stall max", fmt_seconds),
            ("stall_p99_s", "loop stall p99", fmt_seconds),
            ("cold_first_event_s", "first event (cold)", fmt_seconds),
            ("cold_peak_bytes", "peak memory (cold)", fmt_bytes),
            ("instructions_per_event", "instructions/event", fmt_count),
        )
        if any(key in cell.summary for cell in results.cells)
    ]
    if extra:
        more = Table(
            title="event loop, cold runs (first read after opening) and instructions",
            title_justify="left",
        )
        for name in ("scenario", "backend", "mode", "N"):
            more.add_column(name, justify="right" if name == "N" else "left", no_wrap=True)
        for _, label, _ in extra:
            more.add_column(label, justify="right", no_wrap=True)
        for cell in results.cells:
            if cell.error and not cell.summary:
                continue
            more.add_row(
                cell.scenario,
                cell.backend,
                cell.mode,
                f"{cell.size:,}",
                *(fmt(cell.summary.get(key)) for key, _, fmt in extra),
            )
        tables.append(more)
    if summary.fits:
        fits = Table(
            title="growth with N (log-log slope: ~1 grows with N, ~0 flat)", title_justify="left"
        )
        for name in ("scenario", "backend", "mode", "memory slope", "time slope", "sizes"):
            fits.add_column(name)
        by_key: dict[tuple[str, str, str], dict[str, Any]] = {}
        for fit in summary.fits:
            row = by_key.setdefault((fit.scenario, fit.backend, fit.mode), {"sizes": fit.sizes})
            row[fit.metric] = fmt_slope(fit.slope)
        for group in summary.unfitted:
            row = by_key.setdefault((group.scenario, group.backend, group.mode), {})
            row.update(sizes=group.sizes, peak_bytes=NO_FIT_REASON, total_s=NO_FIT_REASON)
        for (scenario, backend, mode), row in by_key.items():
            fits.add_row(
                scenario,
                backend,
                mode,
                row.get("peak_bytes", "-"),
                row.get("total_s", "-"),
                ", ".join(fmt_size(s) for s in row["sizes"]),
            )
        tables.append(fits)
    # Text, not markup: sentences carry user-given names.
    lead = Text(summary.lead, style="bold red" if summary.not_streaming else "bold")
    findings = Table(title=lead, title_justify="left", show_header=False, box=None)
    findings.add_column("finding", overflow="fold")
    for line in summary.headline:
        if line != summary.lead:
            findings.add_row(Text(f"• {line}"))
    if not summary.fits and (unfitted := summary.unfitted_sentence()):
        findings.add_row(Text(f"• {unfitted}"))
    tables.append(findings)
    return tables


# --------------------------------------------------------------------- options


def split_list(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def parse_sizes(value: str | None) -> list[int]:
    sizes = []
    for item in split_list(value):
        try:
            sizes.append(parse_count(item))
        except ValueError:
            raise click.BadParameter(
                f"{item!r} is not a size; write sizes like 10k,100k,1m", param_hint="--sizes"
            ) from None
    return sizes


def parse_params(values: Sequence[str]) -> dict[str, ParamValue]:
    out: dict[str, ParamValue] = {}
    for item in values:
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise click.BadParameter(
                f"{item!r} is not NAME=VALUE (e.g. -p payload_bytes=512 or -p append.writers=8)",
                param_hint="--param",
            )
        out[name.strip()] = value.strip()
    return out


def list_scenarios(console: Console) -> None:
    table = Table(title="scenarios (eventbench run --scenarios NAME,...)", title_justify="left")
    for name in ("scenario", "modes", "parameters (override with -p NAME=VALUE)", "default"):
        table.add_column(name)
    for scenario in all_scenarios().values():
        params = ", ".join(
            f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}"
            for k, v in scenario.params.items()
        )
        table.add_row(
            f"[bold]{scenario.name}[/]\n{scenario.summary}",
            ", ".join(scenario.modes(scenario.params)),
            params,
            "yes" if scenario.default else "no",
        )
    console.print(table)


def output_paths(output: Path | None, stamp: str) -> tuple[Path, Path, str]:
    """(results JSON path, report directory, report stem) for ``--output``."""
    if output is not None and output.suffix == ".json":
        return output, output.parent, output.stem
    out_dir = output or Path("reports")
    stem = stamp
    return out_dir / f"{stem}.json", out_dir, stem


def write_outputs(results: RunResults, output: Path | None, console: Console) -> list[Path]:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    json_path, out_dir, stem = output_paths(output, stamp)
    written = [save_results(results, json_path)]
    if output is None or output.suffix != ".json":
        latest = out_dir / "latest.json"
        shutil.copyfile(json_path, latest)
        written.append(latest)
    try:
        from harness.report import write_reports
    except ImportError as exc:
        console.print(f"[yellow]note:[/] reports not written ({exc}); the JSON has everything")
        return written
    written.extend(write_reports(results, out_dir, stem))
    return written


_F = TypeVar("_F", bound=Callable[..., Any])

TIMEOUT_HELP = (
    "Seconds each worker process may take before it is stopped and its cell recorded as "
    f"failed; 0: no limit. Default: {TIMEOUT_MARGIN:g}x the cell's expected duration (from "
    f"its size, repeats and kind; seeding from its size), at least {TIMEOUT_FLOOR_S:g} s."
)


def plan_options(
    *, rounds_default: int | None, prefix: str = "", profiles: bool = False
) -> Callable[[_F], _F]:
    """The options that say what to measure, shared by `run` and `compare --ref`.

    They arrive as the keyword arguments ``scenarios, backends, sizes, modes, repeats,
    memory_repeats, warmups, rounds, params, timeout, skip_unavailable, instructions``;
    `plan_from_options` turns them into a plan. ``prefix`` starts each help text
    (compare says "--ref: "). With ``profiles`` (run), options not given come from the
    quick or the ``--full`` profile (repeats arrive as None then).
    """
    if profiles:
        scenarios_default = (
            f"{','.join(QUICK.scenarios or ())}; --full: every scenario but calibration"
        )
        backends_default = (
            f"{','.join(QUICK.backends)}; --full: "
            f"{','.join(FULL.backends + FULL.optional_backends)} (postgres when available)"
        )
        sizes_default = f"{sizes_text(QUICK.sizes)}; --full: {sizes_text(FULL.sizes)}"
        repeats: dict[str, Any] = {
            "default": None,
            "help_default": f"{QUICK.repeats}; --full: {FULL.repeats}",
        }
        memory_repeats: dict[str, Any] = {
            "default": None,
            "help_default": f"{QUICK.memory_repeats}; --full: {FULL.memory_repeats}",
        }
        rounds_help = f"{QUICK.rounds}; --full: {FULL.rounds}"
    else:
        scenarios_default = "read-stream,fold,catch-up,append"
        backends_default = ",".join(DEFAULT_BACKENDS)
        sizes_default = sizes_text(DEFAULT_SIZES)
        repeats = {"default": DEFAULT_REPEATS, "help_default": str(DEFAULT_REPEATS)}
        memory_repeats = {
            "default": DEFAULT_MEMORY_REPEATS,
            "help_default": str(DEFAULT_MEMORY_REPEATS),
        }
        rounds_help = str(rounds_default)
    options = [
        click.option(
            "--scenarios",
            metavar="LIST",
            help=f"{prefix}Comma-separated scenarios (default: {scenarios_default}). "
            "See `eventbench run --list`.",
        ),
        click.option(
            "--backends",
            metavar="LIST",
            help=f"{prefix}Comma-separated backends: memory, sqlite, postgres, "
            "module:function factories or postgresql:// URLs, each optionally as LABEL=SPEC "
            f"(e.g. mystore=mypkg.store:make_store; default: {backends_default}).",
        ),
        click.option(
            "--sizes",
            metavar="LIST",
            help=f"{prefix}Event counts, e.g. 10k,100k,1m (default: {sizes_default}).",
        ),
        click.option(
            "--modes", metavar="LIST", help=f"{prefix}Only these modes (e.g. collected,streamed)."
        ),
        click.option(
            "--repeats",
            type=click.IntRange(1),
            default=repeats["default"],
            help=f"{prefix}Timed runs per cell (and side, and round), after warm-up "
            f"(default: {repeats['help_default']}).",
        ),
        click.option(
            "--memory-repeats",
            type=click.IntRange(0),
            default=memory_repeats["default"],
            help=f"{prefix}memray-tracked runs per cell (0: skip memory; default: "
            f"{memory_repeats['help_default']}).",
        ),
        click.option(
            "--warmups",
            type=click.IntRange(0),
            default=1,
            show_default=True,
            help=f"{prefix}Untimed runs before the timed ones.",
        ),
        click.option(
            "--rounds",
            type=click.IntRange(1),
            default=rounds_default,
            help=f"{prefix}Rounds of fresh worker processes per cell (and side, alternating "
            "A B A B): the observations compare counts; a verdict needs 4 per side "
            f"(default: {rounds_help}).",
        ),
        click.option(
            "-p",
            "--param",
            "params",
            multiple=True,
            metavar="NAME=VALUE",
            help=f"{prefix}Override a scenario parameter (NAME or SCENARIO.NAME); repeatable.",
        ),
        click.option(
            "--timeout",
            "--worker-timeout",
            "timeout",
            type=click.FloatRange(min=0),
            default=None,
            metavar="SECONDS",
            help=f"{prefix}{TIMEOUT_HELP}",
        ),
        click.option(
            "--skip-unavailable",
            is_flag=True,
            help=f"{prefix}Leave out backends that cannot run here instead of failing "
            "(never PostgreSQL under EVENTBENCH_REQUIRE_POSTGRES=1).",
        ),
        click.option(
            "--instructions",
            is_flag=True,
            help=f"{prefix}Also count CPU instructions per cell with valgrind's cachegrind "
            "(deterministic, but two ~10x slower processes per cell and round).",
        ),
    ]

    def decorate(command: _F) -> _F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def sizes_text(sizes: Sequence[int]) -> str:
    return ",".join(fmt_size(size).lower() for size in sizes)


def plan_from_options(
    *,
    scenarios: str | None,
    backends: str | Sequence[str] | None,
    sizes: str | Sequence[int] | None,
    modes: str | None,
    repeats: int | None,
    memory_repeats: int | None,
    warmups: int,
    rounds: int | None,
    params: tuple[str, ...],
    profile: Profile | None = None,
    instructions: bool = False,
    **_: Any,
) -> Plan:
    """A plan from `plan_options` values; a bad one is a usage error that says why.

    Options not given come from ``profile`` (run's quick or full one), else from the
    library's defaults.
    """
    chosen_backends = split_list(backends) if isinstance(backends, str | None) else backends
    chosen_sizes = parse_sizes(sizes) if isinstance(sizes, str | None) else sizes
    chosen_scenarios = split_list(scenarios)
    optional: Sequence[str] = ()
    if profile is not None:
        chosen_scenarios = chosen_scenarios or list(profile.scenarios or ())
        if not chosen_backends:
            chosen_backends, optional = profile.backends, profile.optional_backends
        chosen_sizes = chosen_sizes or profile.sizes
        repeats = profile.repeats if repeats is None else repeats
        memory_repeats = profile.memory_repeats if memory_repeats is None else memory_repeats
        rounds = profile.rounds if rounds is None else rounds
    try:
        return make_plan(
            scenarios=chosen_scenarios or None,
            backends=list(chosen_backends or DEFAULT_BACKENDS),
            sizes=list(chosen_sizes or DEFAULT_SIZES),
            overrides=parse_params(params),
            repeats=DEFAULT_REPEATS if repeats is None else repeats,
            memory_repeats=DEFAULT_MEMORY_REPEATS if memory_repeats is None else memory_repeats,
            warmups=warmups,
            rounds=DEFAULT_ROUNDS if rounds is None else rounds,
            modes=split_list(modes) or None,
            optional_backends=optional,
            instructions=instructions,
        )
    except PlanError as exc:
        raise click.UsageError(str(exc)) from None


EXIT_STATUS_HELP = """\b
Exit status:
  0    every cell that could run was measured
  1    a cell failed, or nothing was measured (every cell left out or failed)
  2    bad usage: unknown scenario or backend, or a backend that cannot run
       here (unless --skip-unavailable)
  128+N  stopped by signal N (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP); the
       finished cells are written"""


@click.command("run", epilog=EXIT_STATUS_HELP)
@plan_options(rounds_default=None, profiles=True)
@click.option(
    "--full",
    is_flag=True,
    help="The full picture: every scenario on SQLite, memory and PostgreSQL (when "
    "available) at 10K, 100K and 1M events, 4 rounds of 2 timed + 1 tracked runs per cell "
    "(about 2 hours on a 2-core machine; --shard splits it across machines).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="Results file (.json) or directory (default: reports/).",
)
@click.option(
    "--keep-captures",
    is_flag=True,
    help="Keep memray capture files (open one with `memray flamegraph FILE`).",
)
@click.option(
    "--export-pytest-benchmark",
    "pytest_benchmark",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the timings in pytest-benchmark's JSON format.",
)
@click.option(
    "--shard",
    metavar="I/N",
    default=None,
    help="Run only part I of N of the planned cells (cost-balanced, the same split on "
    "every machine); join the N results with `eventbench merge`.",
)
@click.option("--list", "list_only", is_flag=True, help="List scenarios and parameters; exit.")
@debug_option
def run_command(
    scenarios: str | None,
    backends: str | None,
    sizes: str | None,
    modes: str | None,
    repeats: int | None,
    memory_repeats: int | None,
    warmups: int,
    rounds: int | None,
    params: tuple[str, ...],
    timeout: float | None,
    skip_unavailable: bool,
    full: bool,
    output: Path | None,
    keep_captures: bool,
    pytest_benchmark: Path | None,
    instructions: bool,
    shard: str | None,
    list_only: bool,
) -> None:
    """Measure collected vs streamed reads (and appends) on each backend.

    With no options, a quick run (about a minute): read-stream on SQLite at
    10K and 100K events, collected vs streamed vs raw vs floor, 3 timed and 1 memory-tracked
    run per cell: time, first event and peak memory of each read. Each cell's
    figures are printed as it finishes; then a summary, reports/<time>.json (also
    reports/latest.json) and a report beside it. --full measures everything;
    any option given replaces that part of either.

    Press Ctrl-C (or send SIGTERM or SIGHUP) to stop early: the finished cells are
    kept and written.
    """
    console = Console()
    if not console.is_terminal:
        # Piped or logged: no terminal width to respect, so do not squeeze the table.
        console = Console(width=160)
    if list_only:
        list_scenarios(console)
        return
    plan = plan_from_options(
        scenarios=scenarios,
        backends=backends,
        sizes=sizes,
        modes=modes,
        repeats=repeats,
        memory_repeats=memory_repeats,
        warmups=warmups,
        rounds=rounds,
        params=params,
        profile=FULL if full else QUICK,
        instructions=instructions,
    )
    if instructions and (reason := instruments_instructions.availability()) is not None:
        raise click.UsageError(reason)
    if shard is not None:
        from harness.runner.shards import parse_shard, shard_plan

        try:
            plan = shard_plan(plan, parse_shard(shard))
        except PlanError as exc:
            raise click.BadParameter(str(exc), param_hint="--shard") from None
        console.print(
            f"shard {shard}: {len(plan.cells)} of "
            f"{len(plan.parameters['shard']['planned'])} planned cells"
        )
    capture_dir = None
    if keep_captures:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        capture_dir = (output if output and output.suffix != ".json" else Path("reports")) / (
            f"captures-{stamp}"
        )
    try:
        [results] = run_plan(
            plan,
            progress=RichProgress(console),
            keep_captures=keep_captures,
            capture_dir=capture_dir,
            timeout_s=timeout,
            skip_unavailable=skip_unavailable,
        )
    except PlanError as exc:  # a backend that cannot run here
        raise click.UsageError(str(exc)) from None
    except WorkerFailed as exc:
        raise click.ClickException(str(exc)) from None
    for table in summary_tables(results):
        console.print(table)
    failed = [c for c in results.cells if c.error]
    for cell in failed:
        console.print(f"[red]failed:[/] {cell.scenario}/{cell.backend}/{cell.mode}/{cell.size}:")
        console.print(f"  {cell.error}", highlight=False, markup=False)
    written = write_outputs(results, output, console)
    if pytest_benchmark is not None:
        written.append(export_pytest_benchmark(results, pytest_benchmark))
    console.print(f"took {results.duration_s:.0f} s; wrote " + ", ".join(map(str, written)))
    if keep_captures and capture_dir is not None:
        console.print(f"memray captures in {capture_dir}: `memray flamegraph FILE` to explore")
    status = run_status([results])
    if shard is not None and not plan.cells and not results.interrupted:
        # More shards than groups of cells: this one has nothing to do, and its file
        # still completes the set that `eventbench merge` checks.
        console.print(f"shard {shard} has no cells: nothing to measure; merge it with the others")
        return
    if status.exit_code:
        console.print(f"[bold red]{escape(status.message)}[/]", highlight=False)
        raise SystemExit(status.exit_code)
