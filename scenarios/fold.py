"""fold: rebuild state from one stream (a running aggregate over the event data).

Collected reads every event, then folds the list; streamed folds while reading, so
it never holds more than a batch. Raw and floor fetch the same rows without events
to fold (see `scenarios.reads`): the cost of fetching alone. The state is a small
account: a balance, counts per event type, and the last sequence number seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from harness.contract import RecordedEvent
from scenarios.base import EVENT_TYPES, Layout, Outcome, Params, RunContext, Scenario, int_param
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


@lru_cache(maxsize=4)
def expected_account(size: int, seed: int) -> Account:
    """The state a correct fold of the layout's stream of ``size`` events ends in,
    worked out from the seed's formulas rather than by reading anything."""
    seeded = Layout(streams=1, seed=seed)
    by_type: dict[str, int] = {}
    balance = 0
    kinds = len(EVENT_TYPES)
    for first in range(min(kinds, size)):
        indices = range(first, size, kinds)
        kind = seeded.event_type(first)
        by_type[kind] = by_type.get(kind, 0) + len(indices)
        total = sum(seeded.event_amount(i) for i in indices)
        balance += -total if kind == "Withdrawn" else total
    return Account(balance=balance, by_type=by_type, last_seq=size - 1)


def verify(ctx: RunContext, result: Any) -> str | None:
    """A collected or streamed fold must end in `expected_account`; raw and floor
    fold nothing (their rows are counted by the runner)."""
    if ctx.mode not in ("collected", "streamed"):
        return None
    assert ctx.layout is not None
    want = expected_account(ctx.size, ctx.layout.seed)
    if result == want:
        return None
    got = result if isinstance(result, Account) else Account()
    return (
        f"the fold ended with balance {got.balance}, events by type {got.by_type} and "
        f"last seq {got.last_seq}; the stream as seeded gives {want.balance}, "
        f"{want.by_type} and {want.last_seq}"
    )


SCENARIO = Scenario(
    name="fold",
    summary="rebuild state from one stream: collected-then-fold vs fold-while-streaming",
    params=PARAMS,
    modes=lambda params: READ_MODES,
    run=run,
    layout=layout,
    requires=REQUIRES,
    verify=verify,
)
