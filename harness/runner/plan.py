"""Planning a run: which cells to measure, how often, and what they should cost.

`make_plan` resolves scenarios, backends, sizes, modes and parameters into a `Plan`
of `CellPlan` s; ``eventbench run`` and ``--full`` start from a `Profile`. The cost
model (`estimate_s`) drives the ETA, the split of shards and each worker's default
timeout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.redact import redact
from harness.registry import InvalidBackendSpec, parse_backends
from harness.runner.processes import timed_scheduling
from scenarios import default_scenarios, get_scenario
from scenarios.base import Layout, ParamValue

DEFAULT_BACKENDS = ("sqlite", "memory")


DEFAULT_SIZES = (10_000, 100_000)
DEFAULT_ROUNDS = 4
"""Rounds (fresh processes per cell and kind) of ``eventbench run --full``: the fewest
with which `eventbench compare` can reach a verdict at 95% (`harness.analysis.compare.min_rounds`).
`make_plan` itself defaults to one round, as before rounds were recorded."""
COMPARE_ROUNDS = 6
"""Rounds per side of ``eventbench compare --ref``. Where a process's fastest run varies
by 5% (sd of its log), 6 rounds catch a 25% slowdown 98% of the time against 91% with 5
(``python scripts/verdict_power.py --sigma 0.05 --rho 0.5 --rounds 5,6``), for one
more worker process per side and kind. From `harness.analysis.compare.PAIRED_FROM` (8) rounds
the interleaved rounds are judged in pairs: pass ``--rounds 8`` or more on a busy
machine. Where processes vary by 15% (measured under a load average of 11 on 2 cores)
no handful of rounds catches it (see `harness.analysis.compare`)."""
DEFAULT_REPEATS = 2
"""Timed runs per round: a process's repeats share its luck, so rounds, not repeats,
buy confidence; two keep a round cheap and its median steady."""
DEFAULT_MEMORY_REPEATS = 1
"""Tracked runs per round: a memray peak repeats to the byte within a process."""
FULL_SIZES = (10_000, 100_000, 1_000_000)


@dataclass(frozen=True)
class Profile:
    """What ``eventbench run`` measures for each option not given."""

    scenarios: tuple[str, ...] | None
    """None: every default scenario."""
    backends: tuple[str, ...]
    optional_backends: tuple[str, ...]
    """Measured when they can run here, left out with a note otherwise."""
    sizes: tuple[int, ...]
    repeats: int
    memory_repeats: int
    rounds: int
    """Fewer than 4 (`harness.analysis.compare.min_rounds`) and two such runs cannot be compared."""


QUICK = Profile(
    scenarios=("read-stream",),
    backends=("sqlite",),
    optional_backends=(),
    sizes=DEFAULT_SIZES,
    repeats=3,
    memory_repeats=1,
    rounds=1,
)
"""A plain ``eventbench run``: the headline (collected vs streamed reads on SQLite at
10K and 100K events: time, first event, peak memory) in under two minutes. One round
keeps it there (4 rounds of 1 + 1 runs took 2.4 times as long); its results show
figures, and `eventbench compare` says two of them cannot be judged (use --rounds 4,
--full or ``compare --ref``)."""
FULL = Profile(
    scenarios=None,
    backends=("sqlite", "memory"),
    optional_backends=("postgres",),
    sizes=FULL_SIZES,
    repeats=DEFAULT_REPEATS,
    memory_repeats=DEFAULT_MEMORY_REPEATS,
    rounds=DEFAULT_ROUNDS,
)
"""``eventbench run --full``: every scenario, every reference backend, up to 1M events."""


# A rough cost model of one worker process, in seconds, fitted to one `eventbench run
# --full` of the reference stores on this project's 2-core machine (quiet, 2026-12-02:
# it took 1 h 53 min; the model says 1 h 56 min, and said 5 h 11 min before). It drives
# the ETA, the split of shards and, times TIMEOUT_MARGIN, the default timeout of each worker.
# Per cell it is rough: in that run collected reads took 1.2-1.5x what it says and
# streamed, raw and floor reads about 0.7x (`eventbench run` prints the time left at the
# pace so far, in a CI log at every step).
WORKER_START_S = 0.5
"""Starting an interpreter, importing eventbench, opening the store."""
EVENT_RUN_S = {"time": 3e-6, "memory": 18e-6}
"""One event read in one untracked ("time") or memray-tracked ("memory") run."""
WRITE_EVENT_S = {"time": 2.5e-4, "memory": 4e-4}
"""One event appended by a scenario that writes (an append may wait for fsync)."""
SEED_EVENT_S = 20e-6
"""Seeding one event."""
INSTRUCTIONS_SLOWDOWN = 11.0
"""A process under cachegrind takes about this many times as long (measured: README)."""


class PlanError(ValueError):
    """A run cannot be planned as asked (unknown scenario, parameter, backend...)."""


@dataclass(frozen=True)
class CellPlan:
    """One cell to measure: scenario x backend x mode x N, with resolved parameters."""

    scenario: str
    backend: str
    mode: str
    size: int
    params: Mapping[str, ParamValue]
    layout: Layout | None
    requires: str | None = None
    """An optional protocol the store must implement for this mode (else skipped)."""
    events: int | None = None
    """Events one run handles (for the cost estimate); None: not known."""
    tracks_memory: bool = True
    """False: timed runs only (the scenario asks for no memray-tracked runs)."""

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.scenario, self.backend, self.mode, self.size)

    def describe(self) -> str:
        return f"{self.scenario} · {self.backend} · {self.mode} · N={self.size:,}"


@dataclass(frozen=True)
class Plan:
    """What to measure and how often."""

    cells: tuple[CellPlan, ...]
    repeats: int = 5
    """Timed runs per cell per round (after ``warmups``)."""
    memory_repeats: int = 2
    """Tracked runs per cell per round (0: no memory measurement)."""
    warmups: int = 1
    rounds: int = 1
    """Fresh processes per cell, kind and side. Each sample records its round: rounds,
    not repeats, are what `harness.analysis.compare` counts as independent observations."""
    instructions: bool = False
    """Also count each cell's CPU instructions under cachegrind (two slow processes per
    cell and round; see `harness.instruments.instructions`)."""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    """The options the plan was made from, recorded in the results."""
    optional: frozenset[str] = frozenset()
    """Backends measured when they can run here and left out (with a note) otherwise,
    like PostgreSQL in ``eventbench run --full``."""
    specs: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Backend label -> the spec that loads it (may hold a password: never shown)."""

    @property
    def backends(self) -> list[str]:
        """The backends' labels, in order."""
        return list(dict.fromkeys(cell.backend for cell in self.cells))

    def spec_of(self, label: str) -> str:
        """What the worker loads for a label (the label itself for plain names)."""
        return self.specs.get(label, label)


def json_params(params: Mapping[str, ParamValue]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def make_plan(
    *,
    scenarios: Sequence[str] | None = None,
    backends: Sequence[str] = DEFAULT_BACKENDS,
    sizes: Sequence[int] = DEFAULT_SIZES,
    overrides: Mapping[str, ParamValue] | None = None,
    repeats: int = 5,
    memory_repeats: int = 2,
    warmups: int = 1,
    rounds: int = 1,
    modes: Sequence[str] | None = None,
    optional_backends: Sequence[str] = (),
    instructions: bool = False,
) -> Plan:
    """Plan every (scenario x backend x mode x size) cell.

    ``backends`` are specs, optionally labelled (``LABEL=SPEC``, see
    `harness.registry.parse_backend`). ``overrides`` maps ``NAME`` (every scenario with
    that parameter) or ``SCENARIO.NAME`` (one scenario) to a value. ``modes`` keeps only
    those modes. ``optional_backends`` are added to ``backends`` but left out, not failed, where
    they cannot run. Raises `PlanError` with what to do when something asked for
    does not exist.
    """
    names = list(scenarios) if scenarios else default_scenarios()
    optional = [b for b in optional_backends if b not in backends]
    backends = [*backends, *optional]
    if not backends:
        raise PlanError("no backends given; name at least one (e.g. --backends sqlite)")
    try:
        refs = parse_backends(backends)
    except InvalidBackendSpec as exc:
        raise PlanError(str(exc)) from None
    for ref in refs:
        check_backend_name(ref.spec)
    if not sizes or any(size < 1 for size in sizes):
        raise PlanError(f"sizes must be positive event counts, got {list(sizes)}")
    for label, count in (("repeats", repeats), ("rounds", rounds)):
        if count < 1:
            raise PlanError(f"{label} must be at least 1, got {count}")
    if warmups < 0 or memory_repeats < 0:
        raise PlanError("warmups and memory repeats cannot be negative")
    overrides = dict(overrides or {})
    used: set[str] = set()
    cells: list[CellPlan] = []
    resolved_params: dict[str, dict[str, Any]] = {}
    for name in names:
        try:
            scenario = get_scenario(name)
        except LookupError as exc:
            raise PlanError(str(exc)) from None
        mine: dict[str, ParamValue] = {}
        for key, value in overrides.items():
            target, dot, param = key.rpartition(".")
            if dot and target == scenario.name and param in scenario.params:
                mine[param] = value
                used.add(key)
            elif not dot and key in scenario.params:
                mine.setdefault(key, value)
                used.add(key)
        try:
            params = scenario.resolve(mine)
        except ValueError as exc:
            raise PlanError(str(exc)) from None
        resolved_params[scenario.name] = json_params(params)
        layout = scenario.layout(params) if scenario.layout else None
        scenario_modes = scenario.modes(params)
        if modes:
            scenario_modes = tuple(m for m in scenario_modes if m in modes)
        for size in scenario.sizes(tuple(sizes), params):
            events = scenario.expected_events(size, params) if scenario.expected_events else size
            for ref in refs:
                for mode in scenario_modes:
                    cells.append(
                        CellPlan(
                            scenario.name,
                            ref.label,
                            mode,
                            size,
                            params,
                            layout,
                            scenario.requires.get(mode),
                            events,
                            scenario.tracks_memory,
                        )
                    )
    unused = sorted(set(overrides) - used)
    if unused:
        raise PlanError(
            f"no selected scenario has parameter(s) {', '.join(unused)}; "
            "see `eventbench run --list` for each scenario's parameters"
        )
    if not cells:
        raise PlanError("the plan has no cells: check --scenarios and --modes")
    return Plan(
        cells=tuple(cells),
        repeats=repeats,
        memory_repeats=memory_repeats,
        warmups=warmups,
        rounds=rounds,
        optional=frozenset(optional),
        instructions=instructions,
        specs={ref.label: ref.spec for ref in refs},
        parameters={
            "scenarios": names,
            "backends": [ref.label for ref in refs],
            "backend_specs": {ref.label: ref.shown for ref in refs if ref.spec != ref.label},
            "sizes": list(sizes),
            "repeats": repeats,
            "memory_repeats": memory_repeats,
            "warmups": warmups,
            "rounds": rounds,
            "optional_backends": optional,
            "instructions": instructions,
            "timed_scheduling": timed_scheduling(),
            "modes": list(modes) if modes else None,
            "overrides": json_params(overrides),
            "scenario_params": resolved_params,
        },
    )


def check_backend_name(spec: str) -> None:
    """Refuse a backend that is neither a reference backend nor a ``module:function``."""
    from harness.registry import REFERENCE_BACKENDS

    if spec in REFERENCE_BACKENDS or ":" in spec:
        return
    raise PlanError(
        f"no backend named {redact(spec)!r}; known: {', '.join(REFERENCE_BACKENDS)}, or name your "
        "own store's factory as module:function (e.g. mypackage.store:make_store)"
    )


class BackendUnavailable(PlanError):
    """A backend the run must measure cannot run here (see `run_plan`'s ``skip_unavailable``)."""


def estimate_s(cell: CellPlan, kind: str, plan: Plan, seeded_here: bool) -> float:
    """A rough duration of one worker process measuring ``cell`` (see `EVENT_RUN_S`)."""
    runs = plan.warmups + {"time": plan.repeats, "memory": plan.memory_repeats}.get(kind, 1)
    per_event = (WRITE_EVENT_S if cell.layout is None else EVENT_RUN_S)[
        "memory" if kind == "memory" else "time"
    ]
    cost = WORKER_START_S + (cell.events or 0) * runs * per_event
    if seeded_here and cell.layout is not None:
        cost += seed_estimate_s(cell.size)
    if kind == "instructions":
        # Two processes (with and without the run), each much slower under valgrind.
        return 2 * INSTRUCTIONS_SLOWDOWN * cost
    return cost


def seed_estimate_s(size: int) -> float:
    return WORKER_START_S + size * SEED_EVENT_S
