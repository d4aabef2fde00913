"""catch-up: a projection catches up over read_all across many streams.

N events in total, spread round-robin over ``streams`` streams. The projection keeps
one small record per stream (events seen, last version), as a read model would.
Collected fetches the whole log as one list; streamed applies events as pages arrive.
"""

from __future__ import annotations

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


SCENARIO = Scenario(
    name="catch-up",
    summary="a projection catches up over read_all across many streams: collected vs streamed",
    params=PARAMS,
    modes=lambda params: ("collected", "streamed"),
    run=run,
    layout=layout,
)
