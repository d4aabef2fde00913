"""What a scenario is: a small declarative definition the runner reads as data.

A scenario names its parameters (with defaults the CLI can override), the modes it
compares ("collected", "streamed", ...), the data it reads (a `Layout`, seeded once
per backend and size and reused by every cell), and one async workload that the
runner times and memory-tracks. It knows nothing of processes, timers or memray:
adding a workload is adding one file to ``scenarios/``, never editing the engine.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from harness.contract import EventStore

__all__ = [
    "Layout",
    "Series",
    "Outcome",
    "ParamValue",
    "Params",
    "Probe",
    "RunContext",
    "Scenario",
    "float_param",
    "int_param",
]

ParamValue: TypeAlias = int | float | str | bool | tuple[int, ...]
Params: TypeAlias = Mapping[str, ParamValue]
Series: TypeAlias = Mapping[str, Sequence[tuple[float, float]]]
"""Named time series: name -> [(seconds since the run began, value), ...]."""


EVENT_TYPES: tuple[str, ...] = ("Deposited", "Withdrawn", "Deposited", "Noted")
"""The types seeded events take in turn (see `Layout.event_type`)."""


@dataclass(frozen=True, slots=True)
class Layout:
    """The data a read scenario needs: ``size`` events spread over ``streams`` streams.

    Event ``i`` (0-based, in append order) goes to stream ``i % streams``, so a
    multi-stream layout interleaves streams in the global log as real traffic does.
    Generation is deterministic in (streams, size, payload_bytes, seed): two runs, or
    two sides of a comparison, read identical data.
    """

    streams: int = 1
    payload_bytes: int = 250
    seed: int = 0

    def stream_id(self, index: int) -> str:
        return f"bench-{index:06d}"

    def event_type(self, index: int) -> str:
        """The type of event number ``index`` (0-based, over all streams)."""
        return EVENT_TYPES[index % len(EVENT_TYPES)]

    def event_amount(self, index: int) -> int:
        """The ``amount`` in the data of event number ``index``: with `event_type`,
        what a scenario needs to know the answer a correct read gives (fold's
        balance) without reading the store."""
        return (index * 7919 + self.seed) % 1000

    def events_in(self, stream: int, size: int) -> int:
        """How many of the first ``size`` events stream number ``stream`` holds."""
        full, extra = divmod(size, self.streams)
        return full + (1 if stream < extra else 0)

    def key(self, size: int) -> str:
        """A name for the seeded data, unique per layout and size (safe in paths)."""
        return f"s{self.streams}-n{size}-p{self.payload_bytes}-r{self.seed}"

    def to_json(self) -> dict[str, int]:
        return {"streams": self.streams, "payload_bytes": self.payload_bytes, "seed": self.seed}


class Probe:
    """Marks when the workload first holds an event (time to first event).

    Call `first` as soon as the first event (or batch) is in hand; later calls are
    ignored, so a workload may call it unconditionally when that is simpler.
    """

    __slots__ = ("first_ns",)

    def __init__(self) -> None:
        self.first_ns: int | None = None

    def first(self) -> None:
        if self.first_ns is None:
            self.first_ns = time.perf_counter_ns()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one run of a workload did (the runner checks ``events`` against expectations)."""

    events: int
    """Events read, folded or appended by this run."""
    latencies_s: tuple[float, ...] = ()
    """Per-operation latencies (for example each append call), when the workload has any."""
    counters: Mapping[str, float] = field(default_factory=dict)
    """Anything else worth keeping per run, e.g. {"retries": 12}."""
    result: Any = None
    """The workload's answer (a fold's state); kept alive until timing stops, then dropped."""
    series: Series = field(default_factory=dict)
    """Figures sampled over the run (e.g. a WAL file's size), when the workload has any."""


@dataclass(frozen=True, slots=True)
class RunContext:
    """Everything a workload may use. ``prepared`` is what `Scenario.prepare` returned."""

    store: EventStore
    mode: str
    size: int
    params: Params
    probe: Probe
    run_index: int
    """0, 1, 2... across warm-ups and measured runs in one process (unique names)."""
    layout: Layout | None
    prepared: Any = None


Workload: TypeAlias = Callable[[RunContext], Awaitable[Outcome]]
Prepare: TypeAlias = Callable[[RunContext], Awaitable[Any]]


@dataclass(frozen=True)
class Scenario:
    """A workload definition. See the modules beside this one for examples."""

    name: str
    summary: str
    params: Mapping[str, ParamValue]
    """Named parameters and their defaults; the CLI overrides them with -p NAME=VALUE."""
    modes: Callable[[Params], tuple[str, ...]]
    """The modes compared, given the parameters (e.g. one per batch size)."""
    run: Workload
    """The measured work. Untracked for time runs; inside memray's Tracker for memory."""
    layout: Callable[[Params], Layout] | None = None
    """The data it reads, seeded before measuring; None when it writes its own."""
    prepare: Prepare | None = None
    """Untimed, untracked set-up before every run (e.g. building the events to append)."""
    sized: bool = True
    """True: measured at each of the run's sizes. False: at the size in `size_param`."""
    size_param: str | Callable[[Params], int] | None = None
    """For an unsized scenario: the parameter holding its N, or a function of the
    parameters giving it (N is also how many events a scenario's layout is seeded with)."""
    requires: Mapping[str, str] = field(default_factory=dict)
    """Mode -> name of an optional protocol in harness.contract the store must
    implement (e.g. {"raw": "SupportsRawScan"}); the mode is skipped where it does not."""
    default: bool = True
    """Part of a plain `eventbench run` (False for instrument checks like calibration)."""
    expected_events: Callable[[int, Params], int | None] | None = None
    """Events a run must report at size N (default: N; None: not checked). A run that
    reports another count fails its cell: a short read must never pass as fast."""
    verify: Callable[[RunContext, Any], str | None] | None = None
    """Checks one run's answer (`Outcome.result`) against the data of its layout:
    returns what is wrong, or None. The worker calls it after each run, outside every
    measurement (never for a memray-tracked run, whose answer is dropped inside the
    tracker), and a wrong answer fails the cell: a store that returns the right number
    of wrong events (stale, reordered, another stream's) must not pass as fast."""
    tracks_memory: bool = True
    """False: measured by timed runs only (its figures are latencies and series, and a
    memray-tracked run would only add minutes)."""
    check: Callable[[Params], None] | None = None
    """Refuses bad parameter values (raise ValueError saying what is accepted); called
    by `resolve`, so a bad value stops a run before anything is measured."""

    def resolve(self, overrides: Params) -> dict[str, ParamValue]:
        """The defaults with ``overrides`` applied, each coerced to its default's type.

        Raises ValueError naming the parameter and what it accepts.
        """
        out: dict[str, ParamValue] = dict(self.params)
        for name, value in overrides.items():
            if name not in self.params:
                known = ", ".join(sorted(self.params)) or "none"
                raise ValueError(
                    f"scenario {self.name!r} has no parameter {name!r}; its parameters: {known}"
                )
            out[name] = coerce(self.params[name], value, f"{self.name}.{name}")
        if self.check is not None:
            try:
                self.check(out)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"scenario {self.name!r}: {exc}") from None
        return out

    def sizes(self, run_sizes: tuple[int, ...], params: Params) -> tuple[int, ...]:
        if self.sized:
            return run_sizes
        assert self.size_param is not None, f"{self.name}: unsized scenarios name size_param"
        if callable(self.size_param):
            return (self.size_param(params),)
        value = params[self.size_param]
        assert isinstance(value, int)
        return (value,)


def int_param(params: Params, name: str) -> int:
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"parameter {name!r} must be an int, not {value!r}")
    return value


def float_param(params: Params, name: str) -> float:
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"parameter {name!r} must be a number, not {value!r}")
    return float(value)


def coerce(default: ParamValue, value: object, where: str) -> ParamValue:
    """Turn ``value`` (often a CLI string) into the type of ``default``."""
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if isinstance(default, int):
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            return parse_count(str(value))
        if isinstance(default, float):
            return float(value)  # type: ignore[arg-type]
        if isinstance(default, tuple):
            if isinstance(value, list | tuple):
                return tuple(int(v) for v in value)
            return tuple(parse_count(v) for v in str(value).split(",") if v.strip())
        return str(value)
    except ValueError:
        kind = "a comma-separated list of ints" if isinstance(default, tuple) else None
        kind = kind or type(default).__name__
        raise ValueError(f"{where}: {value!r} is not a valid {kind}") from None


def parse_count(text: str) -> int:
    """Parse "10000", "10k", "1m", "1_000": counts as people write them."""
    text = text.strip().lower().replace("_", "")
    scale = 1
    if text.endswith("k"):
        scale, text = 1_000, text[:-1]
    elif text.endswith("m"):
        scale, text = 1_000_000, text[:-1]
    number = float(text) if "." in text else int(text)
    result = int(number * scale)
    if result != number * scale:
        raise ValueError(text)
    return result
