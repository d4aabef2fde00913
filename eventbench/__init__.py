"""eventbench: a benchmarking and conformance harness for event-store backends.

This module is the public surface a backend author needs::

    import eventbench as eb

    async with eb.MemoryStore() as store:
        await store.append(eb.StreamWrite("order-1", eb.NO_STREAM, [eb.NewEvent("Placed")]))
        async with store.read_stream("order-1") as events:
            async for event in events:
                print(event.stream_version, event.type)
"""

from backends.memory import MemoryStore
from harness.contract import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    AppendResult,
    BulkLoader,
    Capabilities,
    DuplicateEventId,
    EventStore,
    EventStoreError,
    EventStream,
    ExpectedVersion,
    InvalidAppend,
    InvalidEvent,
    InvalidStreamId,
    NewEvent,
    ReadInterrupted,
    RecordedEvent,
    StoreUnavailable,
    StreamAlreadyConsumed,
    StreamState,
    StreamWrite,
    SupportsConnectionCut,
    WrongExpectedVersion,
)

__all__ = [
    "ANY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "AppendResult",
    "BulkLoader",
    "Capabilities",
    "DuplicateEventId",
    "EventStore",
    "EventStoreError",
    "EventStream",
    "ExpectedVersion",
    "InvalidAppend",
    "InvalidEvent",
    "InvalidStreamId",
    "MemoryStore",
    "NewEvent",
    "ReadInterrupted",
    "RecordedEvent",
    "StoreUnavailable",
    "StreamAlreadyConsumed",
    "StreamState",
    "StreamWrite",
    "SupportsConnectionCut",
    "WrongExpectedVersion",
]
