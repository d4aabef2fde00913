"""The scenario runner: plans cells, seeds data, runs each cell in fresh worker
processes, and gathers one `RunResults` per side.

=============  ===============================================================
``plan``       what to measure: cells, rounds, profiles, the cost model
``processes``  worker processes: start, talk to, time out, stop; held seeds
``run``        running a plan: seeding, interleaved rounds, results, progress
``shards``     splitting a plan into shards that take about as long
``gitref``     another git ref's eventbench, in a venv of its own
=============  ===============================================================

The worker process (`harness.worker`, with the data it seeds, `harness.seed`, and
`harness.instruments`) stays outside this package: a worker imports nothing of the
runner, because what its process holds is part of what it measures (the garbage
collector walks every object of it), and ``python -m harness.worker`` must stay the
command in every version, since a runner starts the workers of other versions with it
(``compare --ref``, ``history backfill``).

Library use (the CLI is a thin shell over this)::

    from harness.runner import Side, make_plan, run_plan

    plan = make_plan(scenarios=["read-stream"], backends=["sqlite"], sizes=[10_000])
    [results] = run_plan(plan)

A *side* is a Python interpreter with an eventbench installed: by default this one.
Give two sides (say, two venvs holding two git refs) and every measurement is made
for each side in turn, interleaved A B B A (the first side turns round by round), so
that both meet the same machine conditions; ``run_plan`` then returns one `RunResults`
per side, in order::

    base = Side("base", "/tmp/base-venv/bin/python")
    head = Side("head", sys.executable)
    before, after = run_plan(plan, sides=[base, head], rounds=5)

Each cell runs as two kinds of worker process (``python -m harness.worker``): a
timed one and a memory-tracked one, never both in one process; with
``Plan.instructions`` a third counts CPU instructions under cachegrind (see
`harness.instruments`). Samples keep the round (worker process) they came from. A
store that other processes can reopen (the two-instance hook,
`harness.contract.SupportsReopen`, with `Capabilities.multi_process`) is seeded once
per (side, backend, layout, N) by a worker that keeps it open while cells open other
instances over its data, reference and third-party stores alike; any other store is
seeded inside each worker.
"""

from harness.runner.plan import (
    COMPARE_ROUNDS,
    DEFAULT_BACKENDS,
    DEFAULT_MEMORY_REPEATS,
    DEFAULT_REPEATS,
    DEFAULT_ROUNDS,
    DEFAULT_SIZES,
    FULL,
    QUICK,
    BackendUnavailable,
    CellPlan,
    Plan,
    PlanError,
    Profile,
    make_plan,
)
from harness.runner.processes import (
    Side,
    Stopped,
    WorkerFailed,
    WorkerTimedOut,
    probe_side,
    worker_timeout_s,
)
from harness.runner.run import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    LeftOut,
    Outline,
    Progress,
    RunStatus,
    measured_nothing,
    run_plan,
    run_status,
    slug,
)

__all__ = [
    "COMPARE_ROUNDS",
    "DEFAULT_BACKENDS",
    "DEFAULT_MEMORY_REPEATS",
    "DEFAULT_REPEATS",
    "DEFAULT_ROUNDS",
    "DEFAULT_SIZES",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "BackendUnavailable",
    "CellPlan",
    "FULL",
    "QUICK",
    "LeftOut",
    "Outline",
    "Plan",
    "PlanError",
    "Profile",
    "Progress",
    "RunStatus",
    "Side",
    "Stopped",
    "WorkerFailed",
    "WorkerTimedOut",
    "make_plan",
    "measured_nothing",
    "probe_side",
    "run_plan",
    "run_status",
    "slug",
    "worker_timeout_s",
]
