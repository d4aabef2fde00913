"""The ways a read scenario reads one stream: collected, streamed, raw and floor.

Shared by read-stream and fold so that both measure exactly the same read and
differ only in what the consumer does with each event.

* ``collected``: ``await read_stream(...).collect()``, then every event;
* ``streamed``: ``async for`` over the same read, batch by batch;
* ``raw``: the store's own fetch path without decoding (`SupportsRawScan`);
* ``floor``: the bare driver alone, no store in between (`SupportsFloorScan`): the
  physical floor every other mode is reported against ("streamed: 1.9x the floor").

Raw and floor rows have no events to consume: they measure fetching alone, so the
consumer is not called and fold's state stays empty there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from harness.contract import RecordedEvent, SupportsFloorScan, SupportsRawScan
from scenarios.base import RunContext, int_param

__all__ = ["READ_MODES", "REQUIRES", "batch_size", "read_one_stream"]

READ_MODES = ("collected", "streamed", "raw", "floor")
REQUIRES = {"raw": "SupportsRawScan", "floor": "SupportsFloorScan"}
"""The optional protocol each mode needs; a store without it has the cell left out."""


def batch_size(ctx: RunContext) -> int | None:
    value = int_param(ctx.params, "batch_size") if "batch_size" in ctx.params else 0
    return value or None


async def read_one_stream(ctx: RunContext, consume: Callable[[RecordedEvent], None]) -> int:
    """Read the layout's first stream in ``ctx.mode``, feeding each event to ``consume``.

    Returns the number of events (rows, for raw and floor) read.
    """
    assert ctx.layout is not None
    stream_id = ctx.layout.stream_id(0)
    size = batch_size(ctx)
    probe = ctx.probe
    if ctx.mode == "collected":
        events = await ctx.store.read_stream(stream_id, batch_size=size).collect()
        probe.first()
        for event in events:
            consume(event)
        return len(events)
    if ctx.mode == "streamed":
        count = 0
        async with ctx.store.read_stream(stream_id, batch_size=size) as stream:
            async for event in stream:
                if not count:
                    probe.first()
                consume(event)
                count += 1
        return count
    if ctx.mode in ("raw", "floor"):
        # Rows with no events to consume: the cost of fetching alone, through the
        # store's own fetch path (raw) or the bare driver under it (floor).
        scan = (
            cast(SupportsRawScan, ctx.store).raw_scan
            if ctx.mode == "raw"
            else cast(SupportsFloorScan, ctx.store).floor_scan
        )
        rows = 0
        async for batch_rows in scan(stream_id, batch_size=size):
            probe.first()
            rows += batch_rows
        return rows
    raise ValueError(f"unknown read mode {ctx.mode!r}; use one of {', '.join(READ_MODES)}")
