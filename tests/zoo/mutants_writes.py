"""Zoo entries for appends, conditions, duplicate ids, bad input, JSON
fidelity, lifecycle: one realistic bug each (see `zoo.mutants`)."""

from __future__ import annotations

from zoo.mutants import Mutant  # noqa: F401
