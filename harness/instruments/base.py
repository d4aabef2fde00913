"""The one interface every instrument has, so that the worker needs to know none.

An `Instrument` measures one run of a workload and returns a `Measured`: what the
workload did (its `Outcome`) and the run's figures by name (``{"total_s": 0.41,
"first_event_s": 0.002, ...}``). The worker makes one instrument per worker kind
(`harness.instruments.instrument_for`) and gathers each figure into a list over runs;
a new instrument is a new module beside the others plus one line in that registry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from scenarios.base import Outcome, RunContext, Workload

__all__ = ["Instrument", "Measured"]


@dataclass(frozen=True, slots=True)
class Measured:
    """One run under an instrument."""

    outcome: Outcome
    figures: Mapping[str, float]
    """This run's figures by name (seconds, bytes or counts); absent when not measured."""
    files: tuple[str, ...] = field(default=())
    """Files the run wrote (a memray capture), for the runner to keep or remove."""


class Instrument(Protocol):
    """Measures one run of ``workload`` (the store is open, seeded and prepared)."""

    def measure(self, workload: Workload, ctx: RunContext) -> Awaitable[Measured]: ...
