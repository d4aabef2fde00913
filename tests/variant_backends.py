"""Stores with a deliberate flaw, chosen per process by an environment variable.

Used by the end-to-end comparison tests and by ``nox -s verdicts`` as
``variant_backends:variant_store`` (the memory store) or
``variant_backends:sqlite_variant_store`` (SQLite in a temporary file): both sides of
a comparison name the same backend (so their cells match), and each side's worker
processes get ``EVENTBENCH_TEST_VARIANT`` set to one of `VARIANTS`:

``""``
    The plain store.
``"slow"``
    Every read waits `SLOW_READ_S` first.
``"hungry"``
    Every read holds an 8 MiB ballast buffer.
``"slow-25"``
    Streamed reads do 25% more work: after each batch the read spins until it has
    used a quarter more CPU time than the batch took (fetching it and consuming the
    one before), so the read costs 1.25 times the CPU, whatever the machine's speed,
    and meets other load as the real work does.
``"peak+25"``
    Streamed reads hold a `PEAK_BALLAST_BYTES` buffer throughout: +25% of the memory
    store's streamed peak (779 KiB here, at 10K and 100K events alike).
``"instr+5"``
    (SQLite) The streamed decode path sums `EXTRA_WORK_PER_EVENT` integers per event
    that nobody needs: about 5% more instructions per event (calibrated with
    cachegrind on a 10K-event streamed read).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from backends.memory import MemoryStore
from harness.contract import EventStream, RecordedEvent

VARIANT_ENV = "EVENTBENCH_TEST_VARIANT"
VARIANTS = ("", "slow", "hungry", "slow-25", "peak+25", "instr+5")
SLOW_READ_S = 0.03
BALLAST_BYTES = 8 * 1024 * 1024
SLOWDOWN = 0.25
PEAK_BALLAST_BYTES = 200 * 1024
EXTRA_WORK_PER_EVENT = 11
"""Measured with cachegrind on a 10K-event streamed read (`eventbench run --instructions`
of this store with and without the variant): after the decoder got cheaper, 14 gave
+6.2% (341.8M -> 362.9M instructions per read, 1.51M per unit); 11 gave +4.95%
(358.7M)."""


def chosen_variant() -> str:
    variant = os.environ.get(VARIANT_ENV, "")
    if variant not in VARIANTS:
        raise ValueError(f"{VARIANT_ENV} must be one of {VARIANTS}, not {variant!r}")
    return variant


def _spin(cpu_seconds: float) -> None:
    """Burn this much CPU time (work, as a real slow-down would be; not a sleep)."""
    until = time.process_time() + cpu_seconds
    while time.process_time() < until:
        pass


class VariantStore(MemoryStore):
    def __init__(self, variant: str) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"{VARIANT_ENV} must be one of {VARIANTS}, not {variant!r}")
        self.variant = variant

    async def _before_read(self) -> bytearray | None:
        if self.variant == "slow":
            await asyncio.sleep(SLOW_READ_S)
        if self.variant == "hungry":
            ballast = bytearray(BALLAST_BYTES)
            ballast[::4096] = b"x" * len(ballast[::4096])  # touch it: really resident
            return ballast
        return None

    def _vary(self, inner: EventStream) -> EventStream:
        async def batches() -> AsyncIterator[Sequence[RecordedEvent]]:
            ballast = await self._before_read()
            if self.variant == "peak+25":
                ballast = bytearray(PEAK_BALLAST_BYTES)
            mark = time.process_time()
            async for batch in inner.batches():
                if self.variant == "slow-25":
                    _spin(SLOWDOWN * (time.process_time() - mark))
                    mark = time.process_time()
                yield batch
            del ballast

        async def collect() -> list[RecordedEvent]:
            ballast = await self._before_read()
            events = await inner.collect()
            del ballast
            return events

        return EventStream(batches, collect)

    def read_stream(
        self, stream_id: str, *, from_version: int = 0, batch_size: int | None = None
    ) -> EventStream:
        inner = super().read_stream(stream_id, from_version=from_version, batch_size=batch_size)
        return self._vary(inner)

    def read_all(self, *, after_position: int = 0, batch_size: int | None = None) -> EventStream:
        return self._vary(super().read_all(after_position=after_position, batch_size=batch_size))


def variant_store() -> VariantStore:
    """The factory: the variant this process's environment asks for."""
    return VariantStore(chosen_variant())


def _plant_extra_decode_work() -> None:
    """Make SQLite's streamed decode path do a little more work per event."""
    from backends import sqlite

    decoder: Any = sqlite._Decoder
    if getattr(decoder, "_planted", False):
        return
    plain = decoder.stream_rows

    def stream_rows(self: Any, stream_id: str, rows: Any) -> list[RecordedEvent]:
        rows = list(rows)
        sum(range(EXTRA_WORK_PER_EVENT * len(rows)))  # work nobody needs
        return list(plain(self, stream_id, rows))

    decoder.stream_rows = stream_rows
    decoder._planted = True


async def sqlite_variant_store(location: str | None = None) -> AsyncIterator[Any]:
    """The factory: a fresh SQLite store in a temporary file, with this process's variant
    (only "" and "instr+5" apply). With ``location``, another instance over a store that
    another process seeded: the runner seeds it once, outside valgrind, as it does for
    the reference store, and each counted process only opens it."""
    from backends.sqlite import temporary_store

    if chosen_variant() == "instr+5":
        _plant_extra_decode_work()
    async with temporary_store(location) as store:
        yield store


class BufferingStore(MemoryStore):
    """A store whose "streamed" read is not streamed: it collects the whole stream, then
    yields it batch by batch. Every event is correct and in order, so only memory
    (peak growing with N) gives it away; the runner must say so."""

    def read_stream(
        self, stream_id: str, *, from_version: int = 0, batch_size: int | None = None
    ) -> EventStream:
        inner = super().read_stream(stream_id, from_version=from_version, batch_size=batch_size)
        size = batch_size or 500

        async def batches() -> AsyncIterator[Sequence[RecordedEvent]]:
            everything = await inner.collect()
            for start in range(0, len(everything), size):
                yield everything[start : start + size]

        async def collect() -> list[RecordedEvent]:
            return await inner.collect()

        return EventStream(batches, collect)


def buffering_store() -> BufferingStore:
    return BufferingStore()
