"""eventbench: a benchmarking and conformance harness for event-store backends.

This module is the public surface a backend author needs: the contract's types and
errors, `EventStream` (built from two callables, never subclassed), and the checks
every store should run the same way (`validate_writes`, `validate_event`,
`validate_stream_id`, `validate_from`, `validate_batch_size`,
`check_expected_version`, `encode_json`). docs/write-your-own-store.md shows them
in use::

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
    DEFAULT_BATCH_SIZE,
    MAX_EVENT_TYPE_LENGTH,
    MAX_STREAM_ID_LENGTH,
    MAX_VERSION,
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
    SupportsRawScan,
    SupportsReopen,
    ValidatedWrite,
    WrongExpectedVersion,
    check_expected_version,
    encode_json,
    new_recorded_event,
    validate_batch_size,
    validate_event,
    validate_from,
    validate_stream_id,
    validate_writes,
)

__all__ = [
    "ANY",
    "DEFAULT_BATCH_SIZE",
    "MAX_EVENT_TYPE_LENGTH",
    "MAX_STREAM_ID_LENGTH",
    "MAX_VERSION",
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
    "SupportsRawScan",
    "SupportsReopen",
    "ValidatedWrite",
    "WrongExpectedVersion",
    "check_expected_version",
    "encode_json",
    "new_recorded_event",
    "validate_batch_size",
    "validate_event",
    "validate_from",
    "validate_stream_id",
    "validate_writes",
]
