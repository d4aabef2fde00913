"""Zoo entries for reads: stream ids, batch sizes, snapshots, long
streams, offsets, recorded_at: one realistic bug each (see `zoo.mutants`)."""

from __future__ import annotations

from zoo.mutants import Mutant  # noqa: F401
