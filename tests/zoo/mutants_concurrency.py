"""Zoo entries for races, cancellation, connection faults and
resources: one realistic bug each (see `zoo.mutants`)."""

from __future__ import annotations

from zoo.mutants import Mutant  # noqa: F401
