"""Lifecycle: open and close twice, a closed store refuses work, reopening works."""

from __future__ import annotations

from typing import Any

from harness.conformance import rules
from harness.conformance.core import CheckContext, NotApplicable, check, new_events
from harness.contract import ANY, NO_STREAM, EventStream, NewEvent, StoreUnavailable, StreamWrite


@check(
    "store.close-and-reopen",
    "aclose() and open() are safe twice; a closed store raises StoreUnavailable (appends, "
    "collected and streamed reads) and never writes the refused append later",
    rules.LIFECYCLE,
)
async def close_and_reopen(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        store = rec.store
        await rec.append_ok(StreamWrite("s", NO_STREAM, new_events(1)))
        rec.case("open() on an open store is safe")
        rec.note("await store.open()")
        await rec.within(store.open(), "open() on an open store")
        await rec.verify_stream("s", rule=rules.LIFECYCLE)
        rec.case("aclose() twice, then use the closed store")
        rec.note("await store.aclose(); await store.aclose()")
        await rec.within(store.aclose(), "aclose()")
        await rec.within(store.aclose(), "a second aclose()")
        refused = NewEvent("AppendedWhileClosed")
        attempts: list[tuple[str, Any]] = [
            ("append", lambda: store.append(StreamWrite("s", ANY, [refused]))),
            ("stream_version", lambda: store.stream_version("s")),
            ("read_stream(...).collect()", lambda: store.read_stream("s").collect()),
            ("read_all().collect()", lambda: store.read_all().collect()),
            # A streamed read that ends at once would look like an empty stream.
            ("read_stream(...) by async for", lambda: _streamed(store.read_stream("s"))),
            ("read_all() by async for", lambda: _streamed(store.read_all())),
        ]
        for name, attempt in attempts:
            rec.note(f"await store.{name}  # on the closed store")
            try:
                await rec.within(attempt(), f"{name} on a closed store")
            except StoreUnavailable:
                continue
            except Exception as exc:
                rec.fail(
                    f"{name} on a closed store raised {type(exc).__name__}: {exc}; "
                    "expected StoreUnavailable",
                    rules.LIFECYCLE,
                )
            rec.fail(
                f"{name} on a closed store succeeded; expected StoreUnavailable", rules.LIFECYCLE
            )
        rec.case("open() again after aclose(): the store works")
        rec.note("await store.open()")
        await rec.within(store.open(), "open() after aclose()")
        if store.capabilities.persistent:
            await rec.verify_all(rule=rules.PERSISTENT)
        else:
            # A non-persistent store may come back empty: go on from what it holds.
            rec.model = _rebuild(await rec.collected(store.read_all()))
        held = [e for e in rec.model.read_all() if e.id == refused.id or e.type == refused.type]
        rec.require(
            not held,
            f"after reopening, the store holds {len(held)} event(s) of the append that "
            "raised StoreUnavailable on the closed store: a refused append must never be "
            "written, not even later",
            rules.LIFECYCLE,
        )
        await rec.append_ok(StreamWrite("after-reopen", NO_STREAM, new_events(2)))
        await rec.verify_stream("after-reopen", rule=rules.LIFECYCLE)


async def _streamed(stream: EventStream) -> list[Any]:
    return [event async for event in stream]


def _rebuild(events: list[Any]) -> Any:
    from harness.conformance.model import Model, ModelEvent

    model = Model()
    for event in events:
        recorded = ModelEvent(
            event.stream_id,
            event.stream_version,
            event.position,
            event.type,
            event.data,
            event.metadata,
            event.id,
        )
        model.streams.setdefault(event.stream_id, []).append(recorded)
        model.log.append(recorded)
    return model


@check(
    "store.persistent",
    "a store declaring persistent keeps its events across close and open",
    rules.PERSISTENT,
)
async def persistent(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        if not rec.store.capabilities.persistent:
            raise NotApplicable("the store does not declare Capabilities.persistent")
        rec.case("append, close, open, read")
        await rec.append_ok(StreamWrite("kept", NO_STREAM, new_events(3)))
        rec.note("await store.aclose(); await store.open()")
        await rec.within(rec.store.aclose(), "aclose()")
        await rec.within(rec.store.open(), "open()")
        await rec.verify_stream("kept", rule=rules.PERSISTENT)
        await rec.verify_all(rule=rules.PERSISTENT)
        await rec.append_ok(StreamWrite("kept", 3, new_events(1)))
