"""The rules of the contract, as the suite quotes them in failure messages.

Each rule paraphrases a sentence of `harness.contract`; a failure names the rule it
broke so a backend author knows which promise to read up on, not just which check.
"""

from __future__ import annotations

from typing import Final

EXPECTED_VERSION: Final = (
    "EventStore.append: every write's expected version is checked (exact: the stream has "
    "that many events; NO_STREAM: none; STREAM_EXISTS: at least one; ANY: no condition); "
    "if one fails, WrongExpectedVersion is raised and nothing is written anywhere"
)
ERROR_DETAILS: Final = (
    "WrongExpectedVersion names the first failing stream (in the order given) and carries "
    "stream_id, expected and actual"
)
ATOMIC: Final = (
    "EventStore.append is atomic: if any write's condition fails or the request is "
    "invalid, nothing is written to any stream"
)
APPEND_RESULT: Final = (
    "AppendResult.versions holds every stream named in the append (conditions included) "
    "with its version after it; positions holds one global position per appended event, "
    "in the order given, greater than every earlier position"
)
NO_EMPTY_STREAMS: Final = (
    "A stream exists once it holds at least one event; a write with no events is a pure "
    "condition and creates nothing"
)
RECORDED_AT: Final = (
    "RecordedEvent.recorded_at is a timezone-aware datetime in UTC, within the wall-clock "
    "window of the append call that wrote it, and every read of the event (streamed, "
    "collected, after reopening) returns the same value"
)
DUPLICATE_STREAM: Final = (
    "A stream named twice in one append raises InvalidAppend and writes nothing"
)
DUPLICATE_ID: Final = (
    "Capabilities.unique_event_ids: event ids are unique across the store: an id already "
    "stored raises DuplicateEventId, an id given twice in one append raises InvalidAppend; "
    "nothing is written"
)
INVALID_APPEND: Final = (
    "An expected version is an int >= 0 or a StreamState; anything else raises "
    "InvalidAppend and writes nothing"
)
READ_STREAM: Final = (
    "read_stream(s, from_version=v) yields exactly the events of s with stream_version > v, "
    "in order (versions 1, 2, 3, ...); a stream with no events reads as empty"
)
ISOLATION: Final = (
    "Stream ids are compared exactly (case, whitespace and Unicode normalization count): "
    "a read of one stream never yields another stream's events"
)
READ_ALL: Final = (
    "read_all(after_position=p) yields every event with position > p exactly once, in "
    "strictly increasing position (commit) order"
)
STREAMED_EQUALS_COLLECTED: Final = (
    "EventStream: the streamed form (async for, batches()) and the collected form "
    "(collect()) of a read return the same events; batches are non-empty and hold at "
    "most batch_size events"
)
SINGLE_USE: Final = (
    "EventStream is single-use: after it was read to its end, collected or closed, any "
    "further use raises StreamAlreadyConsumed"
)
STREAMING: Final = (
    "EventStream: a streamed read (async for, batches()) holds about one batch in memory "
    "whatever the stream's length, and yields its first event once the first batch is "
    "fetched and decoded, not the whole stream"
)
LOOP_TURNS: Final = (
    "EventStream: a streamed read lets the event loop run other tasks between its "
    "batches (it awaits its storage, or gives the loop a turn), so no read holds the "
    "loop for more than a couple of batches, whatever the stream's length"
)
SNAPSHOT: Final = (
    "EventStream: a read takes its snapshot when it begins (entering async with, the "
    "first __anext__, batches() or collect()) and returns exactly the events that "
    "existed then: nothing appended later, nothing missing, nothing twice"
)
READ_ARGUMENTS: Final = (
    "read_stream raises InvalidStreamId at once for an invalid id; a negative "
    "from_version/after_position or a batch_size < 1 raises ValueError"
)
IMMUTABLE_RESULTS: Final = (
    "Stored events do not change: mutating an appended NewEvent's data or a read "
    "RecordedEvent's data afterwards does not change what later reads return"
)
RESOURCES: Final = (
    "EventStream: leaving a read early (break, exception, cancellation) releases its "
    "cursor, transaction and connection; the store stays fully usable"
)
CONCURRENCY: Final = (
    "Appends are atomic and checked under optimistic concurrency: concurrent writers with "
    "exact expected versions never both succeed on one version; nothing is lost or doubled"
)
STREAM_ID: Final = (
    "validate_stream_id: a stream id is a str of 1 to 255 characters with no control "
    "characters and no lone surrogates; anything else raises InvalidStreamId (nothing "
    "written); every valid id is stored and read back exactly"
)
EVENT_DATA: Final = (
    "NewEvent data and metadata are JSON objects, stored and read back exactly; anything "
    "that is not JSON raises InvalidEvent and nothing is written"
)
EVENT_SHAPE: Final = (
    "An event type is a non-empty str of at most 255 characters with no control "
    "characters; an event id is a uuid.UUID; anything else raises InvalidEvent"
)
NUL: Final = (
    "Capabilities.nul_in_strings: strings containing U+0000 are stored exactly (True) "
    "or refused with InvalidEvent and nothing written (False)"
)
SIZE: Final = (
    "Capabilities.max_event_bytes: an event whose encoded data plus metadata is at most "
    "this many bytes is stored exactly; a larger one raises InvalidEvent, nothing written"
)
FAULTS: Final = (
    "SupportsConnectionCut: after cut_connections(), a read in flight raises "
    "ReadInterrupted (never ends early in silence) and the store works again afterwards"
)
LIFECYCLE: Final = (
    "EventStore lifecycle: open() and aclose() are safe to call twice; a closed store "
    "raises StoreUnavailable; a store opened again works"
)
PERSISTENT: Final = "Capabilities.persistent: events survive closing the store and opening it again"
INSTANCES: Final = (
    "SupportsReopen: instances opened over one store's data (factory(location=...)) are "
    "one store: appends racing between them succeed or raise WrongExpectedVersion, "
    "nothing is lost or doubled, and each sees what the other committed; a read keeps "
    "its snapshot whatever another instance appends"
)
MULTI_PROCESS: Final = (
    "Capabilities.multi_process: instances in several processes at one location append "
    "and read as safely as one instance (success or WrongExpectedVersion, nothing lost)"
)
STALE_GUARD: Final = (
    "EventStore.append: every condition, including a write with no events (a guard), "
    "holds when the append commits: an append that commits after its guarded stream "
    "moved on raises WrongExpectedVersion"
)
NO_DEADLOCK: Final = (
    "Concurrent appends naming the same streams in any order all finish (no deadlock) "
    "with success or a typed error; nothing is lost"
)
MODEL: Final = "The whole contract, compared step by step against a plain in-memory model"
CANCELLATION: Final = (
    "Cancellation (task.cancel(), asyncio.timeout) propagates out of every call: a "
    "cancelled read raises CancelledError (TimeoutError under asyncio.timeout), never ends "
    "as if the stream were shorter, and releases what it holds; a cancelled append either "
    "committed entirely or wrote nothing, on every stream it names"
)
CONCURRENT_READS: Final = (
    "Any number of concurrent reads all finish (waiting for a pooled connection if need "
    "be, never deadlocking), each returning what it would alone"
)
