"""Do eventbench's verdicts hold on this machine? Planted variants through the real
runner and `harness.analysis.compare`, interleaved, and a table of how often each was caught.

``nox -s verdicts`` runs this (``python tests/verdicts.py``; ``--help`` for options).
Each trial is one interleaved run (A B A B ...) of several sides that all name the
same backend, a store whose flaw is chosen per side by an environment variable (see
``variant_backends``); every side's results are written to a file and read back, and:

* A/A, interleaved (the ``compare --ref`` shape): side A against side A' of the same
  trial, identical code measured together: no comparison may regress;
* A/A, two results files: side A of one trial against side A' of the next, files
  made minutes apart: no comparison may regress;
* A/B, streamed peak +25%: the ``peak+25`` side against A, judged on the streamed
  peak at the memory size: every comparison must catch it;
* A/B, streamed reads 25% slower: the ``slow-25`` side against A, judged on total
  time at the time size: at least 90% of the comparisons must catch it;
* A/B, 5% more instructions per event in SQLite's streamed decode path: judged on
  instructions counted under cachegrind (``make_plan(instructions=True)``, what
  ``eventbench run --instructions`` sets);
* one real ``eventbench compare --ref HEAD`` of a scratch clone against itself.

Every run uses the defaults of ``eventbench compare --ref`` (rounds, repeats) unless
told otherwise. The exit status is 1 when any row misses its expectation.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from variant_backends import VARIANT_ENV  # noqa: E402

from harness.analysis.compare import METRICS, Comparison, Verdict, compare_results  # noqa: E402
from harness.results import RunResults, load_results, save_results  # noqa: E402
from harness.runner import (  # noqa: E402
    COMPARE_ROUNDS,
    DEFAULT_MEMORY_REPEATS,
    DEFAULT_REPEATS,
    Side,
    make_plan,
    run_plan,
)

MEMORY_STORE = "variant_backends:variant_store"
SQLITE_STORE = "variant_backends:sqlite_variant_store"
INSTRUCTION_METRIC = "instructions"
assert any(m.name == INSTRUCTION_METRIC for m in METRICS), "compare judges instructions"


@dataclass(frozen=True)
class Settings:
    trials: int = 20
    time_size: int = 100_000
    memory_size: int = 10_000
    instruction_size: int = 10_000
    rounds: int = COMPARE_ROUNDS
    repeats: int = DEFAULT_REPEATS
    memory_repeats: int = DEFAULT_MEMORY_REPEATS
    real_ref: bool = True
    instructions: bool = True
    """Run the instructions row (cachegrind: the slowest row by far)."""
    others: bool = True
    """Run the A/A, peak and slowdown rows (``--only`` turns them off, to run the
    instructions row or the real ``compare --ref`` row on its own: instruction counts
    do not depend on the machine's load, so that row can even run beside other work)."""
    out: Path = Path("reports/verdicts")


@dataclass
class Row:
    case: str
    judged_by: str
    expectation: str
    passes: Callable[[int, int], bool]
    """(hits, comparisons) -> whether the row meets its expectation."""
    hits: int = 0
    comparisons: int = 0
    ratios: list[float] = field(default_factory=list)
    note: str = ""

    def add(self, hit: bool, ratio: float | None = None) -> None:
        self.comparisons += 1
        self.hits += int(hit)
        if ratio is not None and math.isfinite(ratio):
            self.ratios.append(ratio)

    @property
    def available(self) -> bool:
        return not self.note.startswith("not available")

    @property
    def ok(self) -> bool:
        return not self.available or self.passes(self.hits, self.comparisons)


def _side(label: str, variant: str) -> Side:
    pythonpath = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    return Side(label, env={"PYTHONPATH": pythonpath, VARIANT_ENV: variant})


def _measure(
    settings: Settings,
    backend: str,
    size: int,
    sides: Sequence[Side],
    memory: bool,
    trial: int,
    name: str,
    **extra: Any,
) -> dict[str, RunResults]:
    """One interleaved run; each side's results go through a file and back."""
    plan = make_plan(
        scenarios=["read-stream"],
        backends=[backend],
        sizes=[size],
        modes=["streamed"],
        repeats=settings.repeats,
        memory_repeats=settings.memory_repeats if memory else 0,
        rounds=settings.rounds,
        **extra,
    )
    out: dict[str, RunResults] = {}
    for results in run_plan(plan, sides=sides):
        failed = [c.error for c in results.cells if c.error]
        if failed or not results.cells:
            raise SystemExit(f"trial {trial}, {name}, side {results.side} failed: {failed}")
        path = settings.out / f"trial-{trial:02d}-{name}-{results.side}.json"
        save_results(results, path)
        out[results.side] = load_results(path)
    return out


def _metric(comparison: Comparison, metric: str, size: int) -> tuple[bool, float | None]:
    """Whether ``metric`` of the cell at ``size`` regressed, and its ratio."""
    for cell in comparison.cells:
        if cell.size != size:
            continue
        for m in cell.metrics:
            if m.metric == metric:
                return m.verdict is Verdict.REGRESSED, m.ratio
    return False, None


def _count_spread(run: RunResults, size: int) -> float:
    """(max - min) / min of the instruction counts of the cell at ``size``, one per
    round (process pair): 0 where nothing was counted."""
    for cell in run.cells:
        if cell.size == size and cell.instructions is not None and cell.instructions.per_run:
            counts = cell.instructions.per_run
            return (max(counts) - min(counts)) / min(counts)
    return 0.0


def _summary(comparison: Comparison, metrics: Sequence[str] | None = None) -> str:
    """Each metric's ratio and verdict (every metric that was not unchanged, or the
    named ones), so a session's log shows what moved and what was blamed."""
    parts = [
        f"{m.metric} {m.ratio:.3f} [{m.ci_low:.3f}-{m.ci_high:.3f}]"
        f"{' paired' if m.paired else ''} {m.verdict.value}"
        for cell in comparison.cells
        for m in cell.metrics
        if (m.metric in metrics if metrics else m.verdict is not Verdict.UNCHANGED)
    ]
    return ", ".join(parts) or "every metric unchanged"


def _real_compare_ref(settings: Settings) -> tuple[bool, str]:
    """``eventbench compare --ref HEAD`` in a scratch clone whose tree equals HEAD."""
    ignore = shutil.ignore_patterns(
        ".git",
        ".venv",
        ".ci-venv",
        ".nox",
        "__pycache__",
        "*_cache",
        ".hypothesis",
        "*.egg-info",
        "reports",
    )
    with tempfile.TemporaryDirectory(prefix="eventbench-verdicts-") as scratch:
        repo = Path(scratch) / "clone"
        shutil.copytree(ROOT, repo, ignore=ignore)
        git = ["git", "-c", "user.name=verdicts", "-c", "user.email=verdicts@example.invalid"]
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "A/A"]):
            subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
        env.pop("GITHUB_STEP_SUMMARY", None)
        env["EVENTBENCH_CACHE"] = str(Path(scratch) / "cache")
        out = Path(scratch) / "out"
        command = [
            sys.executable,
            "-m",
            "harness.cli",
            "compare",
            "--ref",
            "HEAD",
            "--scenarios",
            "read-stream",
            "--backends",
            "sqlite,memory",
            "--sizes",
            "10k",
            "--stem",
            "aa",
            "-o",
            str(out),
        ]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)
        took = time.perf_counter() - started
        if done.returncode not in (0, 1):
            raise SystemExit(
                f"compare --ref failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            )
        doc = json.loads((out / "aa.json").read_text())
        settings.out.mkdir(parents=True, exist_ok=True)
        shutil.copy(out / "aa.md", settings.out / "compare-ref-aa.md")
        counts = ", ".join(f"{n} {v}" for v, n in doc["counts"].items() if n)
        return bool(doc["has_regression"]), (
            f"{len(doc['cells'])} cells ({counts}), exit {done.returncode}, {took:.0f} s"
        )


class Judge:
    """The rows judged from the trials' results files (measured now or read back)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        n = settings.trials
        need_time = math.ceil(0.9 * n)
        self.interleaved = Row(
            "A/A identical code, interleaved (--ref style)",
            "any metric, any cell",
            f"0 of {n} regressed",
            lambda hits, _: hits == 0,
        )
        self.files = Row(
            "A/A identical code, two results files",
            "any metric, any cell",
            f"0 of {n} regressed",
            lambda hits, _: hits == 0,
        )
        self.peak = Row(
            f"A/B streamed peak +25% ({settings.memory_size:,} events)",
            "peak memory",
            f"{n} of {n} detected",
            lambda hits, total: hits == total,
        )
        self.slow = Row(
            f"A/B streamed read 25% slower ({settings.time_size:,} events)",
            "total time or CPU time",
            f">= {need_time} of {n} detected",
            lambda hits, _: hits >= need_time,
        )
        self.wall_hits = self.cpu_hits = 0
        self.cpu_ratios: list[float] = []
        self.instr = Row(
            f"A/B +5% instructions per event, SQLite streamed decode "
            f"({settings.instruction_size:,} events)",
            "instructions",
            f"{n} of {n} detected",
            lambda hits, total: hits == total,
        )
        self.instr_spread = 0.0

    @property
    def plans(self) -> tuple[str, ...]:
        same_size = self.settings.time_size == self.settings.memory_size
        return ("t",) if same_size else ("t", "m")

    def instructions(self, got: dict[str, RunResults], say: Callable[[str], None]) -> None:
        """Judge one trial of the instructions row (sides ``A`` and ``INSTR``)."""
        size = self.settings.instruction_size
        compared = compare_results(got["A"], got["INSTR"])
        hit, ratio = _metric(compared, INSTRUCTION_METRIC, size)
        self.instr.add(hit, ratio)
        self.instr_spread = max(self.instr_spread, *(_count_spread(r, size) for r in got.values()))
        self.instr.note = f"each side's processes within {self.instr_spread:.3%} of each other"
        say(
            f"  instructions {'caught' if hit else 'MISSED'}: "
            f"{_summary(compared, (INSTRUCTION_METRIC,))}"
        )

    def trial(self, runs: dict[str, RunResults], say: Callable[[str], None]) -> None:
        """Judge one trial's interleaved comparisons: A/A, peak+25 and slow-25."""
        settings = self.settings
        aa = [compare_results(runs[f"{p}:A"], runs[f"{p}:A2"]) for p in self.plans]
        regressed = any(c.has_regression for c in aa)
        self.interleaved.add(regressed)
        for c in aa:
            say(f"  A/A interleaved: {_summary(c)}")
        memory = "t" if self.plans == ("t",) else "m"
        hit, ratio = _metric(
            compare_results(runs[f"{memory}:A"], runs[f"{memory}:PEAK"]),
            "peak_bytes",
            settings.memory_size,
        )
        self.peak.add(hit, ratio)
        slowed = compare_results(runs["t:A"], runs["t:SLOW"])
        by_wall, ratio = _metric(slowed, "total_s", settings.time_size)
        by_cpu, cpu_ratio = _metric(slowed, "cpu_s", settings.time_size)
        self.slow.add(by_wall or by_cpu, ratio)
        self.wall_hits += by_wall
        self.cpu_hits += by_cpu
        if cpu_ratio is not None:
            self.cpu_ratios.append(cpu_ratio)
        median_cpu = sorted(self.cpu_ratios)[len(self.cpu_ratios) // 2] if self.cpu_ratios else 0
        self.slow.note = f"{self.wall_hits} by total time, {self.cpu_hits} by CPU time" + (
            f", median CPU ratio {median_cpu:.3f}" if self.cpu_ratios else ""
        )
        say(f"  slow-25: {_summary(slowed, ('total_s', 'cpu_s'))}")
        say(
            f"  A/A interleaved {'REGRESSED' if regressed else 'ok'}; peak+25 "
            f"{'caught' if hit else 'MISSED'}; slow-25 "
            f"{'caught' if by_wall or by_cpu else 'missed'} "
            f"({self.slow.hits}/{self.slow.comparisons} so far)"
        )

    def apart(self, trials: Sequence[dict[str, RunResults]], say: Callable[[str], None]) -> None:
        """Two files made minutes apart: A of one trial against A2 of the next."""
        for trial, runs in enumerate(trials):
            later = trials[(trial + 1) % len(trials)]
            found = [compare_results(runs[f"{p}:A"], later[f"{p}:A2"]) for p in self.plans]
            self.files.add(any(c.has_regression for c in found))
            say(f"A/A two files, trial {trial + 1}: " + "; ".join(_summary(c) for c in found))


def first_rounds(run: RunResults, k: int) -> RunResults:
    """``run`` as if it had measured only its first ``k`` rounds (every figure recorded
    per round is cut to match), to judge a session's files at fewer rounds."""

    def cut(values: list[Any] | None, rounds: Sequence[int] | None) -> Any:
        if values is None or rounds is None or len(values) != len(rounds):
            return values
        return [v for v, r in zip(values, rounds, strict=True) if r < k]

    cells = []
    for cell in run.cells:
        t, m, c = cell.time, cell.memory, cell.cold
        if t is not None:
            r = t.rounds
            t = replace(
                t,
                total_s=cut(t.total_s, r),
                first_event_s=cut(t.first_event_s, r),
                cpu_s=cut(t.cpu_s, r),
                stall_max_s=cut(t.stall_max_s, r),
                stall_p99_s=cut(t.stall_p99_s, r),
                counters={name: cut(v, r) for name, v in t.counters.items()},
                rounds=cut(r, r),
            )
        if m is not None:
            r = m.rounds
            m = replace(
                m,
                peak_bytes=cut(m.peak_bytes, r),
                allocations=cut(m.allocations, r),
                allocated_bytes=cut(m.allocated_bytes, r),
                rounds=cut(r, r),
            )
        if c is not None:
            tr, mr = c.time_rounds, c.memory_rounds
            c = replace(
                c,
                total_s=cut(c.total_s, tr),
                first_event_s=cut(c.first_event_s, tr),
                stall_max_s=cut(c.stall_max_s, tr),
                peak_bytes=cut(c.peak_bytes, mr),
                time_rounds=cut(tr, tr),
                memory_rounds=cut(mr, mr),
            )
        cells.append(replace(cell, time=t, memory=m, cold=c))
    return replace(run, cells=cells)


def rejudge(
    settings: Settings, directory: Path, rounds: int | None, say: Callable[[str], None]
) -> list[Row]:
    """Judge the results files a session wrote to ``directory`` again (e.g. with a
    changed `harness.analysis.compare`), optionally at only their first ``rounds`` rounds."""
    trials: list[dict[str, RunResults]] = []
    counted: list[dict[str, RunResults]] = []
    for trial in range(settings.trials):
        found = sorted(directory.glob(f"trial-{trial:02d}-*.json"))
        if not found:
            break
        runs: dict[str, RunResults] = {}
        got: dict[str, RunResults] = {}
        for path in found:
            _, _, name, side = path.stem.split("-", 3)
            kind = {"time": "t", "memory": "m", "time+memory": "t"}.get(name)
            if kind is None and name != "instructions":
                continue
            run = load_results(path)
            run = run if rounds is None else first_rounds(run, rounds)
            if kind is None:
                got[side] = run
            else:
                runs[f"{kind}:{side}"] = run
        if runs:
            trials.append(runs)
        if got:
            counted.append(got)
    if max(len(trials), len(counted)) < 2:
        raise SystemExit(f"{directory}: fewer than two trials' results files to judge")
    judge = Judge(replace(settings, trials=max(len(trials), len(counted))))
    rows: list[Row] = []
    if trials:
        for index, runs in enumerate(trials):
            say(f"trial {index + 1}/{len(trials)}")
            judge.trial(runs, say)
        judge.apart(trials, say)
        rows += [judge.interleaved, judge.files, judge.peak, judge.slow]
    for index, got in enumerate(counted):
        say(f"instructions trial {index + 1}/{len(counted)}")
        judge.instructions(got, say)
    if counted:
        rows.append(judge.instr)
    return rows


def _measure_others(
    settings: Settings, base: Side, other: Side, trial: int
) -> dict[str, RunResults]:
    """One trial of the A/A, peak and slowdown rows: every side's results, keyed
    ``t:SIDE`` (timed) and ``m:SIDE`` (memory)."""

    def measure(size: int, flawed: list[Side], memory: bool, label: str) -> dict[str, RunResults]:
        return _measure(settings, MEMORY_STORE, size, [base, other, *flawed], memory, trial, label)

    peak, slow = _side("PEAK", "peak+25"), _side("SLOW", "slow-25")
    if settings.time_size == settings.memory_size:
        timed = memory = measure(settings.time_size, [peak, slow], True, "time+memory")
    else:
        timed = measure(settings.time_size, [slow], False, "time")
        memory = measure(settings.memory_size, [peak], True, "memory")
    return {
        f"{kind}:{side}": r
        for kind, got in (("t", timed), ("m", memory))
        for side, r in got.items()
    }


def run_session(settings: Settings, say: Callable[[str], None] | None = None) -> list[Row]:
    """Run every trial and return the table's rows; ``say`` gets progress lines."""
    say = say or (lambda line: print(line, flush=True))
    n = settings.trials
    judge = Judge(settings)
    real_ref = Row(
        "A/A real `eventbench compare --ref HEAD`",
        "any metric, any cell",
        "0 of 1 regressed",
        lambda hits, _: hits == 0,
    )
    instr = judge.instr
    if not settings.instructions:
        instr.note = "not available: left out (--no-instructions)"
    elif shutil.which("valgrind") is None:
        instr.note = "not available: valgrind is not installed (apt-get install valgrind)"
    settings.out.mkdir(parents=True, exist_ok=True)
    base, other = _side("A", ""), _side("A2", "")
    trials: list[dict[str, RunResults]] = []
    started = time.perf_counter()
    for trial in range(n):
        say(f"trial {trial + 1}/{n} ({time.perf_counter() - started:.0f} s so far)")
        if settings.others:
            runs = _measure_others(settings, base, other, trial)
            trials.append(runs)
            judge.trial(runs, say)
        if instr.available:
            got = _measure(
                settings,
                SQLITE_STORE,
                settings.instruction_size,
                [_side("A", ""), _side("INSTR", "instr+5")],
                False,
                trial,
                "instructions",
                instructions=True,
            )
            judge.instructions(got, say)
    rows: list[Row] = []
    if settings.others:
        judge.apart(trials, say)
        rows += [judge.interleaved, judge.files]
    if settings.real_ref:
        say("a real `eventbench compare --ref HEAD` of identical code...")
        regressed, note = _real_compare_ref(settings)
        real_ref.add(regressed)
        real_ref.note = note
        rows.append(real_ref)
    if settings.others:
        rows += [judge.peak, judge.slow]
    if settings.instructions or settings.others:
        rows.append(instr)
    say(f"done in {time.perf_counter() - started:.0f} s")
    return rows


def render(rows: Sequence[Row], settings: Settings) -> str:
    lines = [
        "| case | judged by | expected | result | median head/base | verdict |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        if not row.available:
            lines.append(
                f"| {row.case} | {row.judged_by} | {row.expectation} | {row.note} | - | n/a |"
            )
            continue
        word = "regressed" if row.case.startswith("A/A") else "detected"
        result = f"{row.hits} of {row.comparisons} {word}"
        if row.note:
            result += f" ({row.note})"
        ratio = f"{sorted(row.ratios)[len(row.ratios) // 2]:.3f}" if row.ratios else "-"
        lines.append(
            f"| {row.case} | {row.judged_by} | {row.expectation} | {result} | "
            f"{ratio} | {'PASS' if row.ok else 'FAIL'} |"
        )
    lines.append("")
    if settings.others or settings.instructions:
        lines.append(
            f"{settings.trials} trials; each side {settings.rounds} rounds (fresh processes) "
            f"of {settings.repeats} timed + {settings.memory_repeats} memray-tracked runs, "
            "interleaved (A B, then B A); default thresholds."
        )
    else:
        lines.append("One `eventbench compare --ref HEAD` with its defaults.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=Settings.trials)
    parser.add_argument("--time-size", type=int, default=Settings.time_size)
    parser.add_argument("--memory-size", type=int, default=Settings.memory_size)
    parser.add_argument("--instruction-size", type=int, default=Settings.instruction_size)
    parser.add_argument("--rounds", type=int, default=Settings.rounds)
    parser.add_argument("--repeats", type=int, default=Settings.repeats)
    parser.add_argument(
        "--no-real-ref",
        action="store_true",
        help="skip the real `eventbench compare --ref HEAD` A/A run",
    )
    parser.add_argument(
        "--no-instructions",
        action="store_true",
        help="skip the instructions row (cachegrind, the slowest row)",
    )
    parser.add_argument(
        "--only",
        choices=("instructions", "real-ref"),
        help="run only this row (instruction counts do not depend on the load, so that "
        "row can run beside other work)",
    )
    parser.add_argument("--out", type=Path, default=Settings.out)
    parser.add_argument(
        "--rejudge",
        type=Path,
        metavar="DIR",
        help="measure nothing: judge the results files an earlier session wrote to DIR "
        "(its --out) again, with this harness.analysis.compare",
    )
    parser.add_argument(
        "--use-rounds",
        type=int,
        metavar="K",
        help="with --rejudge: judge only each file's first K rounds",
    )
    args = parser.parse_args(argv)
    if args.use_rounds is not None and (args.rejudge is None or args.use_rounds < 1):
        parser.error("--use-rounds needs --rejudge and at least 1 round")
    if (args.only, args.no_instructions, args.no_real_ref) in (
        ("instructions", True, False),
        ("real-ref", False, True),
    ):
        parser.error(f"--only {args.only} and --no-{args.only} leave nothing to run")
    if args.trials < 2:
        parser.error("--trials must be at least 2 (the two-file rows pair trials)")
    settings = Settings(
        trials=args.trials,
        time_size=args.time_size,
        memory_size=args.memory_size,
        instruction_size=args.instruction_size,
        rounds=args.rounds,
        repeats=args.repeats,
        real_ref=args.only in (None, "real-ref") and not args.no_real_ref,
        instructions=args.only in (None, "instructions") and not args.no_instructions,
        others=args.only is None,
        out=args.out,
    )
    if args.rejudge is not None:
        rows = rejudge(settings, args.rejudge, args.use_rounds, say=print)
        settings = replace(
            settings,
            trials=rows[0].comparisons,
            rounds=args.use_rounds or settings.rounds,
            real_ref=False,
        )
    else:
        rows = run_session(settings)
    table = render(rows, settings)
    if args.rejudge is not None:
        cut = f", cut to their first {args.use_rounds} rounds" if args.use_rounds else ""
        table += f"\n\nJudged again from the results files in {args.rejudge}{cut}."
    print(table)
    settings.out.mkdir(parents=True, exist_ok=True)
    (settings.out / "verdicts.md").write_text(table + "\n")
    print(f"wrote {settings.out / 'verdicts.md'}")
    return 0 if all(row.ok for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
