"""fold: rebuild state from one stream (a running aggregate over the event data).

Collected reads every event, then folds the list; streamed folds while reading, so
it never holds more than a batch. Raw and floor fetch the same rows without events
to fold (see `scenarios.reads`): the cost of fetching alone. The state is a small
account: a balance, counts per event type, and the last sequence number seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.contract import RecordedEvent
from scenarios.base import Layout, Outcome, Params, RunContext, Scenario, int_param
from scenarios.reads import READ_MODES, REQUIRES, read_one_stream

PARAMS: Params = {"payload_bytes": 250, "batch_size": 0, "seed": 0}


@dataclass
class Account:
    balance: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    last_seq: int = -1

    def apply(self, event: RecordedEvent) -> None:
        data = event.data
        amount = data["amount"]
        self.balance += -amount if event.type == "Withdrawn" else amount
        self.by_type[event.type] = self.by_type.get(event.type, 0) + 1
        self.last_seq = data["seq"]


def layout(params: Params) -> Layout:
    return Layout(
        streams=1, payload_bytes=int_param(params, "payload_bytes"), seed=int_param(params, "seed")
    )


async def run(ctx: RunContext) -> Outcome:
    state = Account()
    events = await read_one_stream(ctx, state.apply)
    return Outcome(events=events, result=state)


SCENARIO = Scenario(
    name="fold",
    summary="rebuild state from one stream: collected-then-fold vs fold-while-streaming",
    params=PARAMS,
    modes=lambda params: READ_MODES,
    run=run,
    layout=layout,
    requires=REQUIRES,
)
