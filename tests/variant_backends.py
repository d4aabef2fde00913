"""A memory store with a deliberate flaw, chosen per process by an environment variable.

Used by the end-to-end comparison tests as ``variant_backends:variant_store``: both
sides of a comparison name the same backend (so their cells match), and each side's
worker processes get ``EVENTBENCH_TEST_VARIANT`` set to "" (the plain memory store),
"slow" (every read waits first) or "hungry" (every read holds a ballast buffer).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence

from backends.memory import MemoryStore
from harness.contract import EventStream, RecordedEvent

VARIANT_ENV = "EVENTBENCH_TEST_VARIANT"
SLOW_READ_S = 0.03
BALLAST_BYTES = 8 * 1024 * 1024


class VariantStore(MemoryStore):
    def __init__(self, variant: str) -> None:
        super().__init__()
        if variant not in ("", "slow", "hungry"):
            raise ValueError(f"{VARIANT_ENV} must be '', 'slow' or 'hungry', not {variant!r}")
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
            async for batch in inner.batches():
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
    return VariantStore(os.environ.get(VARIANT_ENV, ""))


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
