"""Benchmark data: generated deterministically, loaded fast, made once per run and reused.

Event ``i`` of a `Layout` is the same on every machine and in every run: its id,
type and data derive from (seed, i) alone. Loading goes through the contract's
optional `BulkLoader` (COPY on PostgreSQL, one transaction on SQLite) in chunks, so
that a million events never sit in memory at once; a store without it gets plain
appends of ``APPEND_CHUNK`` events. A store with `SupportsAnalyze` then refreshes its
planner statistics, so that reads are planned from the data they read.

A store that other processes can reopen is seeded once, by a worker that keeps it open
for the run while every cell reading that data opens another instance at its
``location`` (see `harness.runner.hold_seed`). Any other store (memory, or a factory
without the two-instance hook) is seeded inside each worker before measuring, untimed
and untracked.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from harness.contract import ANY, BulkLoader, EventStore, NewEvent, StreamWrite, SupportsAnalyze
from scenarios.base import Layout

__all__ = [
    "LOAD_CHUNK",
    "SeedError",
    "SeededData",
    "generate",
    "load",
    "verify",
]

LOAD_CHUNK = 50_000
"""Events per bulk_load call: large enough to amortize, small enough to stay light."""
APPEND_CHUNK = 1_000
FORMAT_VERSION = 1
"""Bump when generation changes, so that no one compares data of two formats."""


class SeedError(RuntimeError):
    """Seeding failed or seeded data is not what it should be."""


@dataclass(frozen=True, slots=True)
class SeededData:
    """What the runner hands a worker: where the seeded data lives (or None)."""

    layout: Layout
    size: int
    url: str | None
    """A store's ``location`` to open another instance at, or None when the worker
    seeds itself."""


def event_id(seed: int, index: int) -> uuid.UUID:
    # A version-4-shaped UUID from (seed, index): unique per event and stable across
    # runs, so that two runs store byte-identical data.
    digest = hashlib.blake2b(f"{FORMAT_VERSION}:{seed}:{index}".encode(), digest_size=16).digest()
    return uuid.UUID(bytes=digest, version=4)


def generate(layout: Layout, size: int, start: int = 0) -> Iterator[tuple[str, NewEvent]]:
    """Yield (stream id, event) for events ``start`` .. ``size - 1`` of the layout."""
    streams = layout.streams
    # The note pads each event's data to about payload_bytes of JSON.
    note = ("abcdefghijklmnopqrstuvwxyz0123456789" * (layout.payload_bytes // 36 + 1))[
        : max(0, layout.payload_bytes - 40)
    ]
    ids = [layout.stream_id(s) for s in range(min(streams, size))]
    seed = layout.seed
    for i in range(start, size):
        yield (
            ids[i % streams],
            NewEvent(
                type=layout.event_type(i),
                data={"seq": i, "amount": layout.event_amount(i), "note": note},
                metadata={"seed": seed},
                id=event_id(seed, i),
            ),
        )


def _chunks(layout: Layout, size: int, chunk: int) -> Iterator[list[tuple[str, NewEvent]]]:
    events = generate(layout, size)
    while True:
        batch = [item for _, item in zip(range(chunk), events, strict=False)]
        if not batch:
            return
        yield batch


async def load(store: EventStore, layout: Layout, size: int) -> float:
    """Seed an empty store with the layout's ``size`` events; returns seconds taken.

    The garbage collector runs as usual meanwhile. Pausing it halved a 1M-event memory
    seed (commit ae042ed) but changed what a worker then measures: each full collection
    during the memory store's reads cost about twice as much (a 100K collected read:
    ~440 ms against ~355 ms), though seeding left no cyclic garbage; reverted.
    """
    started = time.perf_counter()
    if isinstance(store, BulkLoader):
        for batch in _chunks(layout, size, LOAD_CHUNK):
            await store.bulk_load(batch)
    else:
        for batch in _chunks(layout, size, APPEND_CHUNK):
            by_stream: dict[str, list[NewEvent]] = {}
            for stream_id, event in batch:
                by_stream.setdefault(stream_id, []).append(event)
            await store.append(*(StreamWrite(s, ANY, evs) for s, evs in by_stream.items()))
    if isinstance(store, SupportsAnalyze):
        # As an operator would after a bulk load: reads are then planned from
        # statistics of the data they read, the same on every run and machine.
        await store.analyze()
    await verify(store, layout, size)
    return time.perf_counter() - started


def expected_version(layout: Layout, size: int, stream: int) -> int:
    """How many of the layout's events stream number ``stream`` holds."""
    return layout.events_in(stream, size)


async def verify(store: EventStore, layout: Layout, size: int) -> None:
    """Check through the contract that the store holds the layout's data (cheaply).

    Raises SeedError when it does not, for example when a seeding run was cut short.
    """
    if size < 1:
        return
    # The first and last streams, and the one the last event went to: a load cut
    # short (loading goes in order) always lacks that last event.
    for stream in sorted({0, min(layout.streams, size) - 1, (size - 1) % layout.streams}):
        want = expected_version(layout, size, stream)
        got = await store.stream_version(layout.stream_id(stream))
        if got != want:
            raise SeedError(
                f"stream {layout.stream_id(stream)} holds {got} events, expected {want}; "
                "the seeded data is incomplete or not this layout's. Delete it and run again."
            )
