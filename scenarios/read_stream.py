"""read-stream: read one stream of N events; the consumer just counts.

Collected reads the whole stream into a list first; streamed counts batch by batch
as events arrive; raw fetches the same rows through the store without decoding them
(where the store offers `SupportsRawScan`); floor reads them with the bare driver and
no store at all (`SupportsFloorScan`, the reference backends), the physical floor the
reports measure every mode against. See `scenarios.reads`.
"""

from __future__ import annotations

from scenarios.base import Layout, Outcome, Params, RunContext, Scenario, int_param
from scenarios.reads import READ_MODES, REQUIRES, read_one_stream

PARAMS: Params = {"payload_bytes": 250, "batch_size": 0, "seed": 0}
"""batch_size 0 means the backend's own default."""


def layout(params: Params) -> Layout:
    return Layout(
        streams=1, payload_bytes=int_param(params, "payload_bytes"), seed=int_param(params, "seed")
    )


async def run(ctx: RunContext) -> Outcome:
    count = 0

    def consume(_: object) -> None:
        nonlocal count
        count += 1

    events = await read_one_stream(ctx, consume)
    return Outcome(events=events, result=count)


SCENARIO = Scenario(
    name="read-stream",
    summary="read one stream of N events, collected vs streamed; the consumer counts",
    params=PARAMS,
    modes=lambda params: READ_MODES,
    run=run,
    layout=layout,
    requires=REQUIRES,
)
