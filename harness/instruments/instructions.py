"""CPU instructions, counted by valgrind's cachegrind: a figure that noise cannot move.

Wall time on a shared machine moves by tens of percent between identical runs; the
number of instructions the client process executes does not (two processes doing the
same work differ by about 0.00001%), as long as the code's path does not depend on
time. Where it does, the spread of the rounds shows it and widens what compare will
call a change: the SQLite store's loop-fetch valve once judged fetches by time alone,
and its streamed reads' counts varied by up to 9% between processes; it now also needs
reads from storage, and the counts of a 10K-event read agree to about 0.01% (README,
"Verdicts you can trust"). A PostgreSQL read's varied by 0.65% (4 processes, in two
clusters); what of the client's work depends on time there was not pinned down (how
the server's rows arrive does: a 10K-event read woke the loop 340-344 times). It counts
the client process only: a PostgreSQL server's own work is not in it.

valgrind 3.19 (Debian 12's) has no way to start and stop cachegrind's counting from
Python (its client requests are machine-code sequences, and cachegrind's
``--instr-at-start`` only arrived in 3.22), so the measured region is isolated by
subtraction: the same worker request runs twice under ``valgrind --tool=cachegrind
--cache-sim=no``, once doing ``runs`` measured runs and once (the baseline) doing
everything but the work of those runs. Imports, opening the store, seeding, warm-ups
and each run's preparation and garbage collection are identical in both and cancel
out; ``(with - without) / runs`` is the instructions of one run. ``PYTHONHASHSEED`` is
fixed in both so that dict and set layouts (and so the work) are the same.

Under cachegrind a process runs about 10x slower, and every cell costs two such
processes: that is why instruction counts are opt-in (``eventbench run
--instructions``), see the README for the measured cost.
"""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from harness.instruments.base import Measured
from scenarios.base import Outcome, RunContext, Workload

__all__ = ["METHOD", "Counted", "availability", "count_cell", "read_count", "valgrind_command"]

METHOD = "cachegrind --cache-sim=no; (runs - baseline without the work) / runs"
"""How the count was isolated, recorded in the results with each count."""
HASH_SEED = "0"

_SUMMARY = re.compile(r"^summary:\s+(\d+)", re.MULTILINE)


def availability() -> str | None:
    """None when valgrind can count instructions here, else what to install."""
    if shutil.which("valgrind") is None:
        return (
            "valgrind is not installed, so instructions cannot be counted; install it "
            "(Debian/Ubuntu: apt-get install valgrind) or leave out --instructions"
        )
    return None


def valgrind_command(out_file: Path) -> list[str]:
    """The command prefix that runs a process under cachegrind, counting instructions."""
    return [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--branch-sim=no",
        f"--cachegrind-out-file={out_file}",
        "--quiet",
    ]


def read_count(out_file: Path) -> int | None:
    """The instructions a cachegrind run counted, from its output file (None: none)."""
    found = _SUMMARY.search(out_file.read_text()) if out_file.exists() else None
    return int(found.group(1)) if found else None


SKIPPED: Final = Outcome(events=-1)
"""What a baseline run reports: it did everything but the work."""


@dataclass(frozen=True, slots=True)
class Counted:
    """The instrument inside a counted process: it only runs the workload (the counting
    happens outside, in valgrind), or, in the baseline process, everything but it.

    It collects garbage first, as the clock does, and the baseline does too, so that
    neither the collection nor the per-run preparation counts.
    """

    run_work: bool = True

    async def measure(self, workload: Workload, ctx: RunContext) -> Measured:
        gc.collect()
        if not self.run_work:
            return Measured(SKIPPED, {})
        return Measured(await workload(ctx), {})


def _counted_process(request: Mapping[str, Any], timeout_s: float | None) -> tuple[int, Any]:
    """Run one worker request under cachegrind: (instructions executed, its answer)."""
    with tempfile.TemporaryDirectory(prefix="eventbench-cachegrind-") as directory:
        out_file = Path(directory) / "cachegrind.out"
        env = {**os.environ, "PYTHONHASHSEED": HASH_SEED}
        proc = subprocess.run(
            [*valgrind_command(out_file), sys.executable, "-m", "harness.worker"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout_s,
            check=False,
        )
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        try:
            answer = json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError):
            tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
            raise RuntimeError(
                f"the worker under cachegrind exited with status {proc.returncode} without "
                f"an answer; its stderr ended:\n{tail}"
            ) from None
        if not answer.get("ok"):
            return 0, answer
        count = read_count(out_file)
        if count is None:
            raise RuntimeError(f"cachegrind wrote no instruction count to {out_file}")
        return count, answer


def count_cell(request: Mapping[str, Any], timeout_s: float | None = None) -> dict[str, Any]:
    """Instructions per measured run of a cell request (``measure: "instructions"``).

    The answer has ``instructions`` (one figure: the mean of ``repeats`` runs, which are
    identical to within a few hundred instructions) and the worker's usual fields.
    """
    reason = availability()
    if reason is not None:
        return {"ok": False, "error": reason}
    runs = int(request.get("repeats", 1))
    if runs < 1:
        return {"ok": False, "error": "counting instructions needs at least one run"}
    inner = {**request, "op": "cell", "counted": True}
    with_runs, answer = _counted_process(inner, timeout_s)
    if not answer.get("ok"):
        return dict(answer)
    without, baseline = _counted_process({**inner, "baseline": True}, timeout_s)
    if not baseline.get("ok"):
        return dict(baseline)
    per_run = (with_runs - without) / runs
    return {
        **{k: v for k, v in answer.items() if k not in ("wall_s",)},
        "instructions": [per_run],
        "instructions_method": METHOD,
        "instructions_process": [with_runs, without],
    }
