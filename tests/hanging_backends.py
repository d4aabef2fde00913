"""A store that hangs, for the runner's timeout and "no worker outlives its run" tests.

Named ``hanging_backends:hanging_store`` (with ``tests/`` on PYTHONPATH). Environment
variables, read in the worker, choose how it hangs:

``EVENTBENCH_TEST_HANG``
    ``seed``: appends and bulk loads never return (seeding hangs);
    ``streamed`` / ``collected``: reads of that form never return (the other works);
    ``read``: every read hangs; ``block``: reads block the event loop itself
    (``time.sleep``), as a deadlocked synchronous driver would, so cancelling cannot
    reach them.
``EVENTBENCH_TEST_HANG_MARK``
    A file created when the store starts hanging, so a test knows the worker is stuck.
``EVENTBENCH_TEST_HANG_PG_APP``
    When set, the store holds a PostgreSQL connection with this ``application_name``
    and hangs inside ``SELECT pg_sleep(3600)`` on it, like a driver stuck in a
    statement: the server-side backend only ends if the worker cleans up (a killed
    client leaves the statement running).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from backends.memory import MemoryStore
from harness.contract import AppendResult, EventStream, NewEvent, RecordedEvent, StreamWrite

HANG_ENV = "EVENTBENCH_TEST_HANG"
MARK_ENV = "EVENTBENCH_TEST_HANG_MARK"
PG_APP_ENV = "EVENTBENCH_TEST_HANG_PG_APP"


class HangingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.hang = os.environ.get(HANG_ENV, "read")
        self.conn: Any = None

    async def open(self) -> None:
        await super().open()
        app = os.environ.get(PG_APP_ENV)
        if app:
            import asyncpg

            from harness import provision

            server = await asyncio.to_thread(provision.find_server)
            self.conn = await asyncpg.connect(server.dsn, server_settings={"application_name": app})

    async def aclose(self) -> None:
        if self.conn is not None:
            await self.conn.close()
            self.conn = None
        await super().aclose()

    async def _hang(self) -> None:
        mark = os.environ.get(MARK_ENV)
        if mark:
            Path(mark).write_text(str(os.getpid()))  # noqa: ASYNC240 (a test's signal)
        if self.hang == "block":
            time.sleep(3600)  # noqa: ASYNC251 (blocking the loop is the point)
        if self.conn is not None:
            await self.conn.fetchval("SELECT pg_sleep(3600)")
        await asyncio.Event().wait()

    async def append(self, *writes: StreamWrite) -> AppendResult:
        if self.hang == "seed":
            await self._hang()
        return await super().append(*writes)

    async def bulk_load(self, events: Sequence[tuple[str, NewEvent]]) -> None:
        if self.hang == "seed":
            await self._hang()
        await super().bulk_load(events)

    def read_stream(
        self, stream_id: str, *, from_version: int = 0, batch_size: int | None = None
    ) -> EventStream:
        inner = super().read_stream(stream_id, from_version=from_version, batch_size=batch_size)
        hang_streamed = self.hang in ("streamed", "read", "block")
        hang_collected = self.hang in ("collected", "read", "block")

        async def batches() -> AsyncIterator[Sequence[RecordedEvent]]:
            if hang_streamed:
                await self._hang()
            async for batch in inner.batches():
                yield batch

        async def collect() -> list[RecordedEvent]:
            if hang_collected:
                await self._hang()
            return await inner.collect()

        return EventStream(batches, collect)


def hanging_store() -> HangingStore:
    return HangingStore()
