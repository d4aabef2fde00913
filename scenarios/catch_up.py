"""catch-up: a projection catches up over read_all across many streams.

N events in total, spread round-robin over ``streams`` streams. The projection keeps
one small record per stream (events seen, last version), as a read model would.
Collected fetches the whole log as one list; streamed applies events as pages arrive.
"""

from __future__ import annotations

from typing import Any

from harness.contract import RecordedEvent
from scenarios.base import Layout, Outcome, Params, RunContext, Scenario, int_param
from scenarios.reads import batch_size

PARAMS: Params = {"streams": 1000, "payload_bytes": 250, "batch_size": 0, "seed": 0}


def layout(params: Params) -> Layout:
    return Layout(
        streams=int_param(params, "streams"),
        payload_bytes=int_param(params, "payload_bytes"),
        seed=int_param(params, "seed"),
    )


async def run(ctx: RunContext) -> Outcome:
    projection: dict[str, list[int]] = {}
    count = 0

    def apply(event: RecordedEvent) -> None:
        row = projection.get(event.stream_id)
        if row is None:
            projection[event.stream_id] = [1, event.stream_version]
        else:
            row[0] += 1
            row[1] = event.stream_version

    read = ctx.store.read_all(batch_size=batch_size(ctx))
    if ctx.mode == "collected":
        events = await read.collect()
        ctx.probe.first()
        for event in events:
            apply(event)
        count = len(events)
    elif ctx.mode == "streamed":
        async with read as stream:
            async for event in stream:
                if not count:
                    ctx.probe.first()
                apply(event)
                count += 1
    else:
        raise ValueError(f"catch-up has modes collected and streamed, not {ctx.mode!r}")
    return Outcome(events=count, result=projection, counters={"streams": len(projection)})


def verify(ctx: RunContext, result: Any) -> str | None:
    """Every stream of the layout seen exactly as often as it holds events, its last
    event seen last: a read of all streams that returns the right total with an
    event missing here and doubled there, or a stream's events out of order, fails."""
    assert ctx.layout is not None
    layout = ctx.layout
    if not isinstance(result, dict):
        return f"the projection is a {type(result).__name__}, not a dict"
    streams = min(layout.streams, ctx.size)
    wrong: list[str] = []
    for number in range(streams):
        stream_id = layout.stream_id(number)
        want = layout.events_in(number, ctx.size)
        got = result.get(stream_id)
        if got != [want, want]:
            seen = "never seen" if got is None else f"{got[0]} events, the last at {got[1]}"
            wrong.append(f"{stream_id}: {seen}, expected {want} events, the last at {want}")
    strangers = set(result) - {layout.stream_id(number) for number in range(streams)}
    wrong.extend(f"{stream_id}: not a stream of the layout" for stream_id in sorted(strangers))
    if not wrong:
        return None
    shown = "; ".join(wrong[:3]) + (f"; and {len(wrong) - 3} more" if len(wrong) > 3 else "")
    return f"{len(wrong)} of {streams} streams read wrongly ({shown})"


SCENARIO = Scenario(
    name="catch-up",
    summary="a projection catches up over read_all across many streams: collected vs streamed",
    params=PARAMS,
    modes=lambda params: ("collected", "streamed"),
    run=run,
    layout=layout,
    verify=verify,
)
