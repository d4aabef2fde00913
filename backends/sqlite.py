"""The SQLite reference store: embedded, no server, from a file or in memory.

Layout
------
One ``events`` table holds everything: ``position`` (the global position, the rowid),
``stream_id``, ``stream_version``, ``event_id``, ``type``, ``data`` and ``metadata``
(JSON text) and ``recorded_at`` (ISO-8601, UTC). ``UNIQUE (stream_id, stream_version)``
is the index a stream read walks (an index range scan, in version order) and
``UNIQUE (event_id)`` refuses duplicate ids. Triggers refuse UPDATE and DELETE. The
schema is versioned with ``PRAGMA user_version`` and marked with ``PRAGMA
application_id``, so opening an existing file is safe and opening someone else's
database is refused instead of altered.

Connections
-----------
A store holds one writer connection and a small pool of reader connections, each an
aiosqlite connection (one thread each). Every ``append`` is one ``BEGIN IMMEDIATE``
transaction on the writer; the file is in WAL mode with a busy timeout, so two store
instances or processes on one file queue for the write lock and then either succeed
or get `WrongExpectedVersion`, never "database is locked".

A streamed read borrows a reader connection for its whole life and holds a read
transaction on it: the cursor is read with ``fetchmany(batch_size)`` (never relying on
aiosqlite's ``arraysize`` of 1 or its ``iter_chunk_size`` of 64), so the read returns
the snapshot taken when it opened. The statement and the first row run in the
connection's thread (that step starts the read transaction and may wait on the busy
timeout); the rest of the rows are fetched on the event loop's thread, one batch per
loop step, for as long as each fetch is quick (see "Where a streamed read's time
goes"). In WAL mode readers never block
the writer, so an undrained stream and an append in the same task cannot deadlock.
Leaving a read early closes its cursor and ends its transaction at once; the
connection goes back to the pool (or is closed if the pool is full or the cleanup
itself was interrupted).

The reader pool is unbounded by default (a read opens a connection when none is
idle). ``max_readers`` (or `set_pool_size`) bounds it: reads beyond the bound wait
their turn, first come first served, and the time they wait is counted
(`diagnostics`). A held read transaction stops checkpoints, so the WAL grows while a
long streamed read lasts; ``journal_size_limit`` (`WAL_SIZE_LIMIT`) cuts the file
back once the WAL restarts after the read.

``sqlite::memory:`` is an in-memory database (SQLite's ``memdb`` VFS) shared by the
store's own connections. ``memdb`` has no WAL, so there a pending read *would* block
commits; an in-memory streamed read therefore pages through its snapshot instead, one
short statement per batch, bounded by the stream version (or global position) seen when
it opened. Events are immutable and positions only grow, so the pages are exactly the
snapshot.

Where a streamed read's time goes
---------------------------------
Project issue 13 asks a streamed read for at most 2.0x the floor (bare sqlite3
``fetchmany``, no decoding) and a streamed fold for at most 1.5x raw, with peak memory
flat, the first event under 25 ms and no loop step over 2 ms at the default batch.
Before the changes below, cProfile of ``async for`` over a 100K-event stream gave:
fetching rows in the connection's thread 44% (epoll wait and queue hand-off),
decoding rows into RecordedEvent 40%, ``EventStream.__anext__`` and the consumer's
loop 9%, asyncio and aiosqlite 7%. Two changes, each measured:

- *Cheaper decoding* (the decoder alone on rows already fetched, thread CPU, least
  of 9 passes: ``python scripts/sqlite_side_by_side.py --sizes 100000 --rounds 3
  --base /tmp/base --modes floor,decode,decode@base``): 1.17x -> 0.62x the floor's
  CPU time (about 1,750 -> 920 ns a row, against ~1,430 ns for the floor to fetch
  one, in the workers' output). Ids are parsed by asyncpg's UUID, a uuid.UUID subclass in C (instead
  of Python setting a bare UUID's slots), checked against ``uuid.UUID`` at import;
  events are built by the contract's `new_recorded_event`, which stores the fields on
  a plain object of RecordedEvent's slots layout and then sets its class (see
  harness/contract.py). Metadata was already parsed once per distinct text (each
  event still gets its own dict, a shallow copy, used only when every value is an
  immutable scalar).
- *Rows fetched on the loop's thread.* A thread hop per batch cost more than fetching
  the batch: the worker thread's wake-up, the GIL handed over and back, and the loop's
  wake-up, about 40 us a hop on this shared machine (raw against raw@base below, at
  100K: 0.28x the floor's ~143 ms of CPU over 1,000 hops). The first row still comes
  from the connection's thread (its step starts the read transaction, which may wait
  for the busy timeout); after it, the sqlite3 cursor under aiosqlite's is read
  directly, ``fetchmany(batch)`` per loop step, with an ``asyncio.sleep(0)`` between
  batches so that the loop runs between them. Once the read transaction holds its WAL
  snapshot a step takes no lock and waits for nothing but the pages it reads (from the
  OS page cache, in these runs). From a cold disk a step would wait for those reads,
  so two fetches in a row on the loop that read blocks from storage (the thread's
  ``ru_inblock``, see `_blocks_read`) and waited for them longer than
  `LOOP_FETCH_LIMIT_S` (2 ms, the step bound of issue 13; waited = wall time less the
  thread's CPU time) send the rest of that read back to the connection's thread: a
  slow disk costs the loop two steps, not one per batch. Wall time alone decided this
  at first, and under cachegrind (a fetch there takes about 2 ms of CPU) where a read
  left the loop varied, and so did its instruction count: 247.0-256.0 M a run of a
  10K-event read between processes, against 245.29 M (0.0005% apart) with the valve
  off. Requiring blocks from storage was not enough on this project's VM, which evicts
  the page cache within minutes: while ``drop_caches`` ran every second, 4 processes
  counted 245.5-251.3 M (2.4% apart) with "slow and from storage", 245.55-245.58 M
  (0.014%) with "waited and from storage" (``python scripts/instruction_spread.py
  --drop-caches 1``). A cold 100K-event read there had 11 of 1,001 fetches read
  blocks, and at most one of them waited over 2 ms (``python
  scripts/cold_fetch_waits.py``, 4 runs): on such a disk no read leaves the loop. A
  read whose connection is cut never touches it again (its close may be running in the
  connection's thread). Fetching the next rows in the thread while the loop decodes (a
  prefetch) was measured before and was no faster: both threads need the GIL for most
  of the work. Chunks of 1,000 rows per hop (2.33x -> 2.12x the floor at 100K) were
  rejected: the ~0.7 MiB a chunk holds more than tripled a streamed read's peak (283
  KiB -> 991 KiB).
- ``EventStream.__anext__`` already serves events from the current batch without
  awaiting anything. An async generator under ``__aiter__``, or an iterator over the
  batch instead of an index, saved a few tens of nanoseconds per event in throwaway
  measurements (a percent or two of a read), not worth a second path through the
  stream's state (and an abandoned bare ``async for`` would be released two loop
  turns later).

After them, cProfile of the same read (``python scripts/sqlite_side_by_side.py
--profile 100000``; shares of own time): ``fetchmany`` on the loop thread 37%, the
decode loop 18%, building events 9%, orjson 7%, copying metadata 3%, the consumer's
loop 8%, ``__anext__`` 5%, the batch generators, ``asyncio.sleep(0)`` and the loop's
poll 1-2% each.

Measured side by side (fresh process per read, interleaved, median of 5; ``@base`` is
main before these changes, ``@c1`` with the cheaper decoding only (``git archive
fc261c5``), plain modes with both, each tree a copy; floor is bare sqlite3
``fetchmany(1000)``, no decoding). The shared 2-core machine was running another
project's test suite (load 6-7), which inflates wall times by whatever waiting for a
core costs each process, the floor's included, so CPU ratios (the process's CPU time)
are the ones to read; the wall ratios of that run put streamed at 1.20x the floor and
fold at 2.35x at 100K, fold at 1.63x at 1M: noise::

    python scripts/sqlite_side_by_side.py --sizes 100000,1000000 --rounds 5 \
        --base base=/tmp/base,c1=/tmp/c1 --modes floor,raw,raw@base,streamed,\
    streamed@c1,streamed@base,fold,fold@c1,fold@base                  (one line)

         N mode          cpu/floor  cpu/raw  first   max step
    100000 raw                1.17     1.00   1.4 ms  0.8 ms
    100000 raw@base           1.45          2.4 ms  0.3 ms
    100000 streamed           1.85     1.58   2.2 ms  0.9 ms
    100000 streamed@c1        2.23          3.5 ms  0.6 ms
    100000 streamed@base      2.74     1.89   5.7 ms  0.6 ms   (cpu/raw: over raw@base)
    100000 fold               2.15     1.83   7.1 ms  1.1 ms
    100000 fold@c1            2.33          1.8 ms  0.6 ms
    100000 fold@base          3.01     2.08   2.9 ms  0.7 ms
   1000000 raw                1.19     1.00   1.5 ms  1.1 ms
   1000000 raw@base           1.65          4.1 ms  0.4 ms
   1000000 streamed           2.00     1.68   5.1 ms  1.2 ms
   1000000 streamed@c1        2.54          2.3 ms  0.7 ms
   1000000 streamed@base      3.13     1.90   4.9 ms  0.8 ms
   1000000 fold               2.21     1.86   8.2 ms  1.7 ms
   1000000 fold@c1            2.51          5.7 ms  0.7 ms
   1000000 fold@base          3.17     1.92   3.7 ms  1.0 ms

An earlier run of the same kind at load 2-3 (the tree before the first row moved to
the connection's thread alone, as ``@c2``; no raw@base) gave wall ratios close to
these CPU ones: streamed 1.85x the floor at 100K and 2.07x at 1M (main 2.70x and
3.12x), fold 1.77x and 1.81x raw, longest step 0.6-1.0 ms.

"max step" is the longest single loop step in the loop thread's CPU time (the
script's StepWatch; LoopWatch's wall-clock stall on a shared machine mostly measures
waiting for a core): a step of a streamed read is fetching, decoding and consuming one
batch.

Against issue 13: streamed 1.85x the floor at 100K and 2.00x at 1M in CPU (goal
2.0x: met, at 1M only just); fold 1.83x and 1.86x raw (goal 1.5x: not met; main was
at 2.08x and 1.92x, because the fetch path got faster too: raw went from 1.45-1.65x
to 1.17-1.19x the floor). The first event came after 1-9 ms and the longest step
took at most 1.7 ms of CPU (goals: 25 ms, 2 ms).

Why fold stays above 1.5x raw, and why payloads are still decoded eagerly: a streamed
read built up a step at a time, each variant's decoder stopping after one more step
(the script's stand-ins: what the read would cost if the steps after it were free, as
lazily decoded fields would make them until first touched). Instructions of one warm
read, counted by cachegrind (``python scripts/sqlite_side_by_side.py --breakdown
100000 --instructions``; steady to about 1% between processes when measured, while
the loop-fetch valve below still judged by time, against steps of 15-30%), and the least
CPU time of 9 rounds in one process beside them (``--breakdown 100000 --rounds
9``, load average 0.7-1.5)::

    read              instructions/event  x raw     ns/event  x raw
    floor                  11,723         0.92        1,228   1.03
    raw                    12,677         1.00        1,191   1.00
    streamed rows          14,824         1.17        1,320   1.11   the rows as events: the stream
    streamed events        17,861         1.41        1,502   1.26   + events built, nothing parsed
    streamed data          21,946         1.73        1,849   1.55   + data parsed (orjson)
    streamed full          24,982         1.97        2,083   1.75   + metadata, id, time: the store
    fold data              24,742         1.95        2,053   1.72   fold, metadata/id/time lazy
    fold full              27,791         2.19        2,288   1.92   fold, the store

A fold reads ``data`` of every event, so lazy payloads would leave it at "fold data":
1.72-1.95x raw, still above 1.5x, while making every event a lazy object whose
decoding errors surface wherever a consumer first touches a field instead of in the
read (the contract raises them from the read). Even free events would leave the
stream (2,100 instructions an event: ``async for`` and ``EventStream.__anext__``),
parsing the data (4,100) and the fold's own Python (2,800) at 1.7x raw. So the 1.5x
goal is out of reach for any store that hands over parsed dict payloads to a Python
consumer one event at a time, and eager decoding stays. (An async generator under
``__anext__`` would save about 65 of the stream's ~175 ns an event, 3% of a fold:
measured, not kept, see above.)

Memory (the script's ``--memory`` pass: tracemalloc peak above the read's start,
streamed, median of 3; ``--sizes 10000 --rounds 0 --modes floor --memory
--memory-sizes 10000,1000000``, and the same from a copy of main): 277 KiB at 10K
events and 317 KiB at 1M (1.14x); main gave 283 KiB and 590 KiB in the same session.
The first batch's first row is fetched in the connection's thread and the rest of it
on the loop's, into a new list: aiosqlite's thread keeps its last result until its
next job, and with the whole first batch fetched there the peak was 351 KiB at 10K.

Default batch size: 100
-----------------------
Measured with the benchmark itself (before later batches were fetched on the loop's
thread), one stream of ~250-byte events, memray peaks (which repeat to the byte
between processes) and the event loop's longest stall::

    eventbench run --scenarios read-stream --backends sqlite --sizes 10k,100k \
        --modes collected,streamed -p batch_size=100      # then -p batch_size=1000

    streamed, batch      peak warm   peak cold   loop stall at 100K (median of 5 runs)
    100                  282 KiB     2.22 MiB    15.7 ms
    1000                 2.61 MiB    4.56 MiB    62.2 ms
    collected (10K/100K) 15.5/155 MiB  17.4/157 MiB  1.84 s

Warm is after one warm-up read in the same process; cold is the first read after the
store opened, which also fills SQLite's page cache and opens a reader connection (the
~2 MiB between the two). Neither grows with N.

Why 100 and not more: memory and the event loop grow with the batch, and the cyclic
garbage collector: a decoded batch is several GC-tracked objects per event (the event,
its dicts and lists); at 100 rows a batch stays under the young generation's
700-object threshold, while larger batches set off collections of older generations
during the read. Smaller batches only add loop steps (one per batch). Times on the
shared 2-core machine these were measured on moved by tens of percent between runs,
so no time ratio is quoted here; `eventbench compare` judges such changes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import sqlite3
import tempfile
import time
import uuid
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeAlias, TypeVar, cast

import aiosqlite
import orjson

from harness.contract import (
    AppendResult,
    Capabilities,
    DuplicateEventId,
    EventStoreError,
    EventStream,
    NewEvent,
    ReadInterrupted,
    RecordedEvent,
    StoreUnavailable,
    StreamWrite,
    ValidatedWrite,
    check_expected_version,
    new_recorded_event,
    validate_batch_size,
    validate_event,
    validate_from,
    validate_stream_id,
    validate_writes,
)
from harness.text import join_sentences

try:
    import resource
except ImportError:  # Windows: no getrusage
    resource = None  # type: ignore[assignment]

_SYNCHRONOUS_NAMES: Final = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}

__all__ = [
    "DEFAULT_BATCH_SIZE_SQLITE",
    "SCHEMA_VERSION",
    "SqliteStore",
    "availability",
    "open_store",
    "temporary_store",
]

DEFAULT_BATCH_SIZE_SQLITE: Final = 100
"""Rows per ``fetchmany`` in a streamed read when the caller gives none (measured: see
the module docstring)."""

LOOP_FETCH_LIMIT_S: Final = 0.002
LOOP_FETCH_SLOW_IN_A_ROW: Final = 2
"""A streamed read fetches its batches on the event loop's thread; this many fetches in
a row that read blocks from storage and waited for them longer than
`LOOP_FETCH_LIMIT_S` (from the page cache a batch of 100 rows takes ~0.15 ms), as a
slow disk gives, send the rest of the read to the connection's thread, so a slow disk
never holds the loop batch after batch. A fetch slow for any other reason stays: a
process that waits for a core, a real-time worker paused by the kernel's throttling (a
1M-event read saw one 3.5-6.6 ms fetch in its first 500, at load ~3) or a run under
cachegrind makes fetches slow, and falling back on that cost the rest of the read its
speed and made its path (and its instruction count) depend on time. Where disk reads
are not counted (`_blocks_read` is None) the wait alone decides (wall time less the
thread's CPU time, which a wait for a core still adds to), and one slow fetch is still
not enough. 2 ms is issue 13's bound on a streamed read's loop step."""

SCHEMA_VERSION: Final = 1
"""The layout this module writes (``PRAGMA user_version``)."""

APPLICATION_ID: Final = 0x45564E42  # "EVNB": marks a file as an eventbench event store
MEMORY: Final = ":memory:"
WAL_SIZE_LIMIT: Final = 4 * 1024 * 1024
"""``journal_size_limit``: the WAL file is cut back to this size when it restarts. A
read transaction held open stops checkpoints, so the WAL grows while it lasts; without
a limit the file then keeps that size until the last connection closes. 4 MiB is just
above what the default auto-checkpoint (1,000 pages) lets it reach in steady use."""

Synchronous: TypeAlias = Literal["OFF", "NORMAL", "FULL", "EXTRA"]

_SCHEMA: Final = (
    """
    CREATE TABLE IF NOT EXISTS events (
        position       INTEGER PRIMARY KEY AUTOINCREMENT,
        stream_id      TEXT    NOT NULL,
        stream_version INTEGER NOT NULL CHECK (stream_version >= 1),
        event_id       TEXT    NOT NULL UNIQUE,
        type           TEXT    NOT NULL,
        data           TEXT    NOT NULL,
        metadata       TEXT    NOT NULL,
        recorded_at    TEXT    NOT NULL,
        UNIQUE (stream_id, stream_version)
    )
    """,
    """
    CREATE TRIGGER IF NOT EXISTS events_refuse_update BEFORE UPDATE ON events
    BEGIN
        SELECT RAISE(ABORT, 'eventbench events are immutable: UPDATE is refused');
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS events_refuse_delete BEFORE DELETE ON events
    BEGIN
        SELECT RAISE(ABORT, 'eventbench events are immutable: DELETE is refused');
    END
    """,
)
"""Run one statement at a time inside the schema transaction (``executescript`` would
commit the transaction first)."""

_INSERT: Final = (
    "INSERT INTO events (position, stream_id, stream_version, event_id, type, data, "
    "metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

# The first row is the last position ever given (NULL stream id); then one row per
# named stream that has events. json_each keeps it one statement for any stream count.
_VERSIONS: Final = """
SELECT NULL, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)
UNION ALL
SELECT stream_id, max(stream_version) FROM events
WHERE stream_id IN (SELECT value FROM json_each(?))
GROUP BY stream_id
"""

_STREAM_COLUMNS: Final = "stream_version, position, type, data, metadata, event_id, recorded_at"
_ALL_COLUMNS: Final = f"stream_id, {_STREAM_COLUMNS}"
_READ_STREAM: Final = (
    f"SELECT {_STREAM_COLUMNS} FROM events "
    "WHERE stream_id = ? AND stream_version > ? ORDER BY stream_version"
)
_READ_ALL: Final = f"SELECT {_ALL_COLUMNS} FROM events WHERE position > ? ORDER BY position"
# In-memory pages: bounded by the snapshot seen at open (see the module docstring).
_PAGE_STREAM: Final = (
    f"SELECT {_STREAM_COLUMNS} FROM events WHERE stream_id = ? AND stream_version > ? "
    "AND stream_version <= ? ORDER BY stream_version LIMIT ?"
)
_PAGE_ALL: Final = (
    f"SELECT {_ALL_COLUMNS} FROM events WHERE position > ? AND position <= ? "
    "ORDER BY position LIMIT ?"
)
_STREAM_VERSION: Final = "SELECT max(stream_version) FROM events WHERE stream_id = ?"
_LAST_POSITION: Final = "SELECT max(position) FROM events"

_Row: TypeAlias = tuple[Any, ...]
_CLOSED: Final = (sqlite3.ProgrammingError, ValueError)
"""What a closed connection raises: sqlite3's ProgrammingError, aiosqlite's ValueError."""
_T = TypeVar("_T")


# --------------------------------------------------------------------------- decoding


# Decoding is the hot path of a read (about 1.7 us of Python per row against about 1.4 us
# for SQLite to fetch it), so the two costliest constructors are bypassed where that is
# provably equivalent: uuid.UUID(str) parses defensively (about 1.1 us), and events
# are built with the contract's new_recorded_event. Ids are parsed by asyncpg's UUID
# (a uuid.UUID subclass written in C, the very type PostgreSQL reads return: 0.13 us),
# else by setting a bare UUID's slots (0.5 us); each is checked against the ordinary
# constructor at import and the next one used if they ever differ.

_new = object.__new__
_set = object.__setattr__
_SAFE_UNKNOWN = uuid.SafeUUID.unknown


def _uuid_fast(text: str) -> uuid.UUID:
    value = _new(uuid.UUID)
    _set(value, "int", int(text.replace("-", ""), 16))
    _set(value, "is_safe", _SAFE_UNKNOWN)
    return value


def _uuid_maker() -> Callable[[str], uuid.UUID]:
    candidates: list[Callable[[str], uuid.UUID]] = [_uuid_fast]
    try:
        from asyncpg.pgproto.pgproto import UUID as CUuid
    except ImportError:  # pragma: no cover (asyncpg is a dependency of eventbench)
        pass
    else:
        candidates.insert(0, CUuid)
    sample = uuid.uuid4()
    text = str(sample)
    for candidate in candidates:
        try:
            made = candidate(text)
        except Exception:  # pragma: no cover (a changed library: use the next one)
            continue
        if (
            isinstance(made, uuid.UUID)
            and made == sample
            and sample == made
            and hash(made) == hash(sample)
            and str(made) == text
        ):
            return candidate
    return uuid.UUID  # pragma: no cover


_make_uuid: Final = _uuid_maker()
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


class _Decoder:
    """Turns rows into `RecordedEvent` values, reusing what repeats from row to row.

    Events appended together share one ``recorded_at``, and metadata often repeats
    (empty, or the same few keys): those are parsed once per distinct value rather
    than once per row. Metadata is a mutable dict, so each event gets its own: a
    shallow copy of the parsed one, which is an exact copy only when every value is
    an immutable scalar (otherwise each row is parsed again). A copy is about a third
    of what parsing costs.
    """

    __slots__ = ("_at", "_at_raw", "_meta", "_meta_raw")

    def __init__(self) -> None:
        self._at_raw: str | None = None
        self._at = datetime.min.replace(tzinfo=UTC)
        self._meta_raw: str | None = None
        self._meta: dict[str, Any] = {}

    def _metadata(self, text: str) -> dict[str, Any]:
        """Parse ``text``; remember it when a shallow copy of it is an exact copy."""
        meta: dict[str, Any] = orjson.loads(text)
        if all(type(value) in _SCALARS for value in meta.values()):
            self._meta_raw, self._meta = text, meta
            return meta.copy()
        self._meta_raw = None
        return meta

    def stream_rows(self, stream_id: str, rows: Iterable[_Row]) -> list[RecordedEvent]:
        """Rows of `_STREAM_COLUMNS`, all of one stream."""
        # The same loop as all_rows, less the stream id column: this is the hot path of
        # read_stream, where widening each row tuple first costs ~9% of decoding (measured).
        # Ids are parsed by one C call (_make_uuid), no longer inlined Python.
        loads = orjson.loads
        new_event = new_recorded_event
        make_uuid = _make_uuid
        at_raw, at = self._at_raw, self._at
        out: list[RecordedEvent] = []
        append = out.append
        for version, position, type_, data, metadata, event_id, raw in rows:
            if raw != at_raw:
                at_raw, at = raw, datetime.fromisoformat(raw)
            meta = self._meta.copy() if metadata == self._meta_raw else self._metadata(metadata)
            append(
                new_event(
                    stream_id, version, position, type_, loads(data), meta, make_uuid(event_id), at
                )
            )
        self._at_raw, self._at = at_raw, at
        return out

    def all_rows(self, rows: Iterable[_Row]) -> list[RecordedEvent]:
        """Rows of `_ALL_COLUMNS`."""
        loads = orjson.loads
        new_event = new_recorded_event
        make_uuid = _make_uuid
        at_raw, at = self._at_raw, self._at
        out: list[RecordedEvent] = []
        append = out.append
        for stream_id, version, position, type_, data, metadata, event_id, raw in rows:
            if raw != at_raw:
                at_raw, at = raw, datetime.fromisoformat(raw)
            meta = self._meta.copy() if metadata == self._meta_raw else self._metadata(metadata)
            append(
                new_event(
                    stream_id, version, position, type_, loads(data), meta, make_uuid(event_id), at
                )
            )
        self._at_raw, self._at = at_raw, at
        return out


# --------------------------------------------------------------------------- connections


@dataclass(eq=False)
class _Lease:
    """A reader connection lent to one read; ``cut`` is set when the store cuts it."""

    conn: aiosqlite.Connection
    cut: bool = False
    slot: bool = False
    """True while this lease counts against the reader bound (``max_readers``)."""


@dataclass(frozen=True, slots=True)
class _Query:
    """What a read asks for: its SQL (full and paged), parameters and row decoder."""

    full_sql: str
    full_params: tuple[Any, ...]
    decode: Callable[[_Decoder, Sequence[_Row]], list[RecordedEvent]]
    # In-memory paging: the snapshot bound, then each page's SQL and parameters.
    bound_sql: str
    bound_params: tuple[Any, ...]
    page_sql: str
    page_params: Callable[[int, int, int], tuple[Any, ...]]  # (after, bound, limit)
    key_of: Callable[[Sequence[_Row]], int]  # the paging key of a page's last row
    start: int


def _interrupted(what: str, exc: BaseException | None = None) -> ReadInterrupted:
    detail = f" ({exc})" if exc is not None else ""
    return ReadInterrupted(
        f"{what} lost its SQLite connection part way{detail}; the events seen so far "
        "are not the whole result. Start the read again (resume from the last version "
        "or position you processed)."
    )


def _unavailable(path: str, exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(
        join_sentences(
            f"SQLite database {path!r} cannot be used: {exc}",
            "Check that the directory exists and is writable, that the file is a SQLite "
            "database, and that no other program holds it locked.",
        )
    )


@dataclass(eq=False)
class _Pool:
    """Reader connections: idle ones ready for the next read, and every open one."""

    idle: list[aiosqlite.Connection] = field(default_factory=list)
    leased: set[_Lease] = field(default_factory=set)
    limit: int | None = None
    """At most this many readers at once (None: as many as reads ask for)."""
    out: int = 0
    """Reader slots taken (leases counting against ``limit``)."""
    waiters: collections.deque[asyncio.Future[None]] = field(default_factory=collections.deque)
    wait_s: float = 0.0
    acquires: int = 0


class SqliteStore:
    """An `EventStore` in one SQLite file (or in memory), read and written via aiosqlite.

    ``SqliteStore("events.db")`` or ``SqliteStore(":memory:")``; open it with
    ``async with``. ``synchronous`` is SQLite's durability setting: ``"FULL"`` (the
    default) survives power loss; ``"NORMAL"`` is faster and survives a crash of the
    program but may lose the last appends on power loss.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        default_batch_size: int = DEFAULT_BATCH_SIZE_SQLITE,
        busy_timeout: float = 30.0,
        synchronous: Synchronous = "FULL",
        max_idle_readers: int = 4,
        max_readers: int | None = None,
        wal_size_limit: int = WAL_SIZE_LIMIT,
    ) -> None:
        raw = os.fspath(path)
        if not isinstance(raw, str) or not raw:
            raise ValueError(f"a SQLite path must be a non-empty str or path, not {path!r}")
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(
                f"synchronous must be one of OFF, NORMAL, FULL, EXTRA, not {synchronous!r}"
            )
        if busy_timeout <= 0:
            raise ValueError(
                f"busy_timeout must be a positive number of seconds, not {busy_timeout!r}"
            )
        self._memory = raw == MEMORY
        self.path = raw if self._memory else str(Path(raw).expanduser())
        self._default_batch_size = validate_batch_size(
            default_batch_size, DEFAULT_BATCH_SIZE_SQLITE
        )
        self._busy_timeout = float(busy_timeout)
        self._synchronous = synchronous
        self._max_idle = max(0, max_idle_readers)
        if max_readers is not None:
            _check_pool_size(max_readers)
        self._wal_size_limit = int(wal_size_limit)
        # A memdb database lives while a connection to it is open; the anchor (which
        # is never used for I/O and never cut) keeps it alive across cut_connections.
        self._target = (
            f"file:/eventbench-{uuid.uuid4().hex}?vfs=memdb" if self._memory else self.path
        )
        self._anchor: sqlite3.Connection | None = None
        self._writer: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._open_lock = asyncio.Lock()
        self._pool = _Pool(limit=max_readers)
        if max_readers is not None:
            self._max_idle = max(self._max_idle, max_readers)
        self._background: set[asyncio.Task[None]] = set()
        self._is_open = False

    def __repr__(self) -> str:
        state = "open" if self._is_open else "closed"
        return f"SqliteStore({self.path!r}, {state})"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            persistent=not self._memory,
            multi_process=not self._memory,
            # JSON escapes U+0000 as \\u0000, so NUL in data round-trips exactly.
            nul_in_strings=True,
            unique_event_ids=True,
        )

    @property
    def default_batch_size(self) -> int:
        return self._default_batch_size

    @property
    def location(self) -> str:
        """``sqlite:PATH``, which ``open_store`` and ``temporary_store(location=)`` accept
        (an in-memory database has no location another instance could open)."""
        return f"sqlite:{self.path}"

    def floor_scan(self, stream_id: str, *, batch_size: int | None = None) -> AsyncIterator[int]:
        """`SupportsFloorScan`: the stream's rows through ``sqlite3`` alone, counted per
        batch (the benchmark floor; see `_floor_scan` at the end of this module)."""
        return _floor_scan(self, stream_id, batch_size)

    # lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and create (or check) the schema. Safe to call twice."""
        async with self._open_lock:
            if self._is_open:
                return
            if self._memory:
                self._anchor = sqlite3.connect(self._target, uri=True, check_same_thread=False)
            try:
                self._writer = await self._connect(writer=True)
                await self._create_schema(self._writer)
            except BaseException:
                await self._close_all()
                raise
            self._is_open = True

    async def aclose(self) -> None:
        """Close every connection (reads in flight then fail). Safe to call twice."""
        async with self._open_lock:
            self._is_open = False
            _close_floor(self)
            await self._close_all()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _check_open(self) -> None:
        if not self._is_open:
            raise StoreUnavailable(
                f"this SqliteStore ({self.path}) is not open; use `async with store:` "
                "or `await store.open()` first"
            )

    async def _connect(self, *, writer: bool) -> aiosqlite.Connection:
        if not self._memory and not Path(self.path).parent.is_dir():
            raise StoreUnavailable(
                f"cannot create SQLite database {self.path!r}: the directory "
                f"{str(Path(self.path).parent)!r} does not exist; create it first"
            )
        pending = aiosqlite.connect(
            self._target,
            uri=self._memory,
            isolation_level=None,  # autocommit: this module issues BEGIN itself
            timeout=self._busy_timeout,
            check_same_thread=False,
        )
        try:
            conn = await pending
        except sqlite3.Error as exc:
            # aiosqlite stops its thread without waiting; wait here, or the thread may
            # report to an event loop that has closed in the meantime.
            thread = getattr(pending, "_thread", None)
            if thread is not None:
                await asyncio.to_thread(thread.join, 5.0)
            raise _unavailable(self.path, exc) from exc
        try:
            if writer:
                if not self._memory:
                    async with conn.execute("PRAGMA journal_mode = WAL") as cursor:
                        row = await cursor.fetchone()
                    if row is None or str(row[0]).lower() != "wal":
                        raise StoreUnavailable(
                            f"SQLite database {self.path!r} cannot use WAL mode (got "
                            f"{row!r}); put it on a local file system"
                        )
                await conn.execute(f"PRAGMA synchronous = {self._synchronous}")
                if not self._memory:
                    await conn.execute(f"PRAGMA journal_size_limit = {self._wal_size_limit}")
            else:
                await conn.execute("PRAGMA query_only = ON")
        except sqlite3.Error as exc:
            await conn.close()
            raise _unavailable(self.path, exc) from exc
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _create_schema(self, conn: aiosqlite.Connection) -> None:
        try:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                version = await _scalar(conn, "PRAGMA user_version")
                app_id = await _scalar(conn, "PRAGMA application_id")
                tables = await _scalar(
                    conn, "SELECT count(*) FROM sqlite_master WHERE name = 'events'"
                )
                if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables):
                    raise StoreUnavailable(
                        f"{self.path!r} is a SQLite database that eventbench did not "
                        "create; refusing to change it. Give a new file name."
                    )
                if version > SCHEMA_VERSION:
                    raise StoreUnavailable(
                        f"{self.path!r} has eventbench schema version {version}, newer "
                        f"than this eventbench understands ({SCHEMA_VERSION}); upgrade "
                        "eventbench"
                    )
                if version < SCHEMA_VERSION:
                    for statement in _SCHEMA:
                        await conn.execute(statement)
                    await conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    await conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                await conn.commit()
            except BaseException:
                await conn.rollback()
                raise
        except sqlite3.Error as exc:
            raise _unavailable(self.path, exc) from exc

    async def _close_all(self) -> None:
        writer, self._writer = self._writer, None
        idle, self._pool.idle = self._pool.idle, []
        for lease in self._pool.leased:
            lease.cut = True
        conns = [lease.conn for lease in self._pool.leased]
        self._pool.leased = set()
        for conn in [*([writer] if writer else []), *idle, *conns]:
            with contextlib.suppress(Exception):
                await conn.close()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self._anchor is not None:
            self._anchor.close()
            self._anchor = None

    async def cut_connections(self) -> None:
        """Close every connection as a failure would; reads in flight raise ReadInterrupted.

        An append in flight fails with `StoreUnavailable` and writes nothing (or, if its
        COMMIT got there first, succeeds). The store stays open: the next append or read
        connects again.
        """
        writer, self._writer = self._writer, None
        idle, self._pool.idle = self._pool.idle, []
        leased = list(self._pool.leased)
        for lease in leased:
            lease.cut = True
        for conn in [*([writer] if writer else []), *idle, *(lease.conn for lease in leased)]:
            with contextlib.suppress(Exception):
                await conn.close()

    def _in_background(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            with contextlib.suppress(Exception):
                await work

        task = asyncio.ensure_future(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # reader pool -------------------------------------------------------------------

    async def _lease(self) -> _Lease:
        self._check_open()
        await self._take_slot()
        try:
            self._check_open()
            conn = self._pool.idle.pop() if self._pool.idle else await self._connect(writer=False)
        except BaseException:
            self._release_slot()
            raise
        lease = _Lease(conn, slot=True)
        self._pool.leased.add(lease)
        return lease

    async def _take_slot(self) -> None:
        """Wait for a reader slot under ``max_readers`` (first come, first served)."""
        pool = self._pool
        pool.acquires += 1
        if pool.limit is None or (pool.out < pool.limit and not pool.waiters):
            pool.out += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        pool.waiters.append(waiter)
        started = time.perf_counter()
        try:
            await waiter  # a releasing reader hands its slot over (``out`` unchanged)
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release_slot()  # handed over just as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    pool.waiters.remove(waiter)
            raise
        finally:
            pool.wait_s += time.perf_counter() - started

    def _release_slot(self) -> None:
        pool = self._pool
        over = pool.limit is not None and pool.out > pool.limit  # the bound was lowered
        while pool.waiters and not over:
            waiter = pool.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        pool.out = max(0, pool.out - 1)

    async def set_pool_size(self, size: int) -> None:
        """Allow at most ``size`` reader connections at once; reads beyond wait their turn.

        (`harness.contract.SupportsPoolSize`.) Appends use the one writer connection and
        are not counted. Idle readers are kept up to the bound, as a pool keeps its
        connections.
        """
        _check_pool_size(size)
        pool = self._pool
        pool.limit = size
        self._max_idle = max(self._max_idle, size)
        while pool.waiters and pool.out < size:
            pool.out += 1
            self._release_slot()  # hands the new slot to the first waiter

    async def diagnostics(self) -> dict[str, float]:
        """Reader-pool counters and the WAL file's size on disk (`SupportsDiagnostics`)."""
        pool = self._pool
        out = {
            "pool_wait_s_total": pool.wait_s,
            "pool_acquires_total": float(pool.acquires),
            "connections_in_use": float(len(pool.leased)),
            "pool_waiting": float(len(pool.waiters)),
        }
        if not self._memory:
            try:
                out["wal_bytes"] = float(os.stat(self.path + "-wal").st_size)
            except FileNotFoundError:
                out["wal_bytes"] = 0.0
        return out

    def _give_back(self, lease: _Lease, *, clean: bool) -> None:
        """Return a reader to the pool, or close it if it is dirty, cut or surplus."""
        if lease.slot:
            lease.slot = False
            self._release_slot()
        owned = lease in self._pool.leased
        self._pool.leased.discard(lease)
        if lease.cut:
            return  # whoever cut it closes it
        if owned and clean and self._is_open and len(self._pool.idle) < self._max_idle:
            self._pool.idle.append(lease.conn)
        else:
            # Closing a connection also ends whatever transaction it still holds.
            self._in_background(lease.conn.close())

    async def _end_read(self, lease: _Lease, cursor: aiosqlite.Cursor | None) -> None:
        """Close the cursor and end the read transaction now, then give the reader back."""
        clean = False
        try:
            if not lease.cut:
                if cursor is not None:
                    await cursor.close()
                await lease.conn.rollback()
                clean = True
        except Exception:
            pass  # a reader that cannot be cleaned is closed instead
        finally:
            # Runs on cancellation too: an interrupted cleanup closes the connection.
            self._give_back(lease, clean=clean)

    # writes ------------------------------------------------------------------------

    async def _writer_conn(self) -> aiosqlite.Connection:
        """The writer connection (reconnecting after a cut); the caller holds the write lock."""
        self._check_open()
        if self._writer is None:
            self._writer = await self._connect(writer=True)
        return self._writer

    async def append(self, *writes: StreamWrite) -> AppendResult:
        self._check_open()
        checked = validate_writes(writes, self.capabilities.max_event_bytes)
        if not checked:
            return AppendResult(versions={}, positions=())
        recorded_at = datetime.now(UTC).isoformat()
        async with self._write_lock:
            conn = await self._writer_conn()
            return await self._transaction(
                conn, lambda: self._append_in(conn, checked, recorded_at)
            )

    async def _append_in(
        self, conn: aiosqlite.Connection, checked: list[ValidatedWrite], recorded_at: str
    ) -> AppendResult:
        last_position, current = await _versions(conn, [w.stream_id for w in checked])
        for write in checked:
            check_expected_version(write.stream_id, write.expected, current.get(write.stream_id, 0))
        rows: list[_Row] = []
        versions: dict[str, int] = {}
        position = last_position
        for write in checked:
            version = current.get(write.stream_id, 0)
            for event, (data, metadata) in zip(write.events, write.encoded, strict=True):
                position += 1
                version += 1
                rows.append(
                    _row(position, write.stream_id, version, event, data, metadata, recorded_at)
                )
            versions[write.stream_id] = version
        if rows:
            await _insert(conn, iter(rows))
        return AppendResult(
            versions=versions, positions=tuple(range(last_position + 1, position + 1))
        )

    async def analyze(self) -> None:
        """Refresh SQLite's planner statistics (``ANALYZE``), as after a bulk load."""
        self._check_open()
        writer = self._writer
        assert writer is not None
        async with self._write_lock:
            await writer.execute("ANALYZE")

    async def settings(self) -> dict[str, str]:
        """The settings that move a measured figure: durability, journal, batch and
        pool sizes, page cache, and whether the planner has statistics (``ANALYZE``)."""
        self._check_open()
        writer = self._writer
        assert writer is not None
        synchronous = await _scalar(writer, "PRAGMA synchronous")
        journal = await _scalar(writer, "PRAGMA journal_mode")
        cache = await _scalar(writer, "PRAGMA cache_size")
        analyzed = await _scalar(
            writer,
            "SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_stat1' AND type = 'table'",
        )
        if analyzed:
            analyzed = await _scalar(writer, "SELECT count(*) FROM sqlite_stat1")
        return {
            "synchronous": _SYNCHRONOUS_NAMES.get(int(synchronous or 0), str(synchronous)),
            "journal_mode": str(journal).upper(),
            "default_batch_size": str(self._default_batch_size),
            "max_idle_readers": str(self._max_idle),
            "cache_size": str(cache),
            "busy_timeout_s": f"{self._busy_timeout:g}",
            "analyzed": "yes" if analyzed else "no",
            "sqlite_version": sqlite3.sqlite_version,
        }

    async def bulk_load(self, events: Sequence[tuple[str, NewEvent]]) -> None:
        """Seed data fast: like `append` with ANY for each event, in one transaction.

        Events are checked and encoded as SQLite consumes them, so memory stays flat
        however many there are; a bad event rolls the whole load back.
        """
        self._check_open()
        streams = {validate_stream_id(stream_id) for stream_id, _ in events}
        max_bytes = self.capabilities.max_event_bytes
        recorded_at = datetime.now(UTC).isoformat()

        async def load(conn: aiosqlite.Connection) -> None:
            last_position, versions = await _versions(conn, list(streams))

            def rows() -> Iterator[_Row]:
                position = last_position
                for stream_id, event in events:
                    data, metadata = validate_event(event, max_bytes)
                    position += 1
                    version = versions[stream_id] = versions.get(stream_id, 0) + 1
                    yield _row(position, stream_id, version, event, data, metadata, recorded_at)

            await _insert(conn, rows())

        async with self._write_lock:
            conn = await self._writer_conn()
            await self._transaction(conn, lambda: load(conn))

    async def _transaction(
        self, conn: aiosqlite.Connection, body: Callable[[], Awaitable[_T]]
    ) -> _T:
        """Run ``body`` inside BEGIN IMMEDIATE ... COMMIT; any failure writes nothing."""
        try:
            try:
                await conn.execute("BEGIN IMMEDIATE")
                result = await body()
                await conn.commit()
            except Exception:
                await self._abandon(conn)  # a no-op if BEGIN itself failed
                raise
            except BaseException:
                # Cancelled part way (even while BEGIN was queued): the transaction may
                # be open on the writer, so the writer is dropped; closing it rolls the
                # transaction back.
                self._drop_writer(conn)
                raise
        except EventStoreError:
            raise  # the contract's own errors (InvalidEvent is also a ValueError)
        except _CLOSED as exc:
            self._drop_writer(conn)
            raise StoreUnavailable(
                "the SQLite connection was closed during an append; nothing was written. "
                "Retry the append."
            ) from exc
        except sqlite3.Error as exc:
            raise self._write_failed(exc) from exc
        return result

    def _drop_writer(self, conn: aiosqlite.Connection) -> None:
        if self._writer is conn:
            self._writer = None
        self._in_background(conn.close())

    async def _abandon(self, conn: aiosqlite.Connection) -> None:
        """Roll back after a failed append (or drop the writer if even that fails)."""
        try:
            await conn.rollback()
        except Exception:
            self._drop_writer(conn)

    def _write_failed(self, exc: sqlite3.Error) -> StoreUnavailable:
        if "locked" in str(exc) or "busy" in str(exc):
            return StoreUnavailable(
                f"another connection held the write lock on {self.path!r} for more than "
                f"{self._busy_timeout:g} s; nothing was written. Retry, or raise "
                "busy_timeout if long writes are expected."
            )
        return StoreUnavailable(
            f"SQLite refused the append on {self.path!r}: {exc}; nothing was written. "
            "Check free disk space and file permissions, then retry."
        )

    # reads -------------------------------------------------------------------------

    async def stream_version(self, stream_id: str) -> int:
        validate_stream_id(stream_id)
        lease = await self._lease()
        clean = False
        try:
            async with lease.conn.execute(_STREAM_VERSION, (stream_id,)) as cursor:
                row = await cursor.fetchone()
            clean = True
        except (sqlite3.Error, ValueError) as exc:
            raise StoreUnavailable(
                join_sentences(
                    f"could not read the version of stream {stream_id!r}: {exc}", "Retry."
                )
            ) from exc
        finally:
            self._give_back(lease, clean=clean)
        return int(row[0]) if row is not None and row[0] is not None else 0

    def read_stream(
        self, stream_id: str, *, from_version: int = 0, batch_size: int | None = None
    ) -> EventStream:
        validate_stream_id(stream_id)
        start = validate_from(from_version, "from_version")
        size = validate_batch_size(batch_size, self._default_batch_size)
        query = _Query(
            full_sql=_READ_STREAM,
            full_params=(stream_id, start),
            decode=lambda decoder, rows: decoder.stream_rows(stream_id, rows),
            bound_sql=_STREAM_VERSION,
            bound_params=(stream_id,),
            page_sql=_PAGE_STREAM,
            page_params=lambda after, bound, limit: (stream_id, after, bound, limit),
            key_of=lambda rows: int(rows[-1][0]),
            start=start,
        )
        return self._read(query, size, f"read_stream({stream_id!r})")

    def read_all(self, *, after_position: int = 0, batch_size: int | None = None) -> EventStream:
        start = validate_from(after_position, "after_position")
        size = validate_batch_size(batch_size, self._default_batch_size)
        query = _Query(
            full_sql=_READ_ALL,
            full_params=(start,),
            decode=lambda decoder, rows: decoder.all_rows(rows),
            bound_sql=_LAST_POSITION,
            bound_params=(),
            page_sql=_PAGE_ALL,
            page_params=lambda after, bound, limit: (after, bound, limit),
            key_of=lambda rows: int(rows[-1][2]),
            start=start,
        )
        return self._read(query, size, "read_all()")

    def _read(self, query: _Query, size: int, what: str) -> EventStream:
        async def batches() -> AsyncIterator[Sequence[RecordedEvent]]:
            decoder = _Decoder()
            # aclosing: leaving this generator must release the cursor now, not when
            # the inner generator happens to be finalized.
            async with contextlib.aclosing(self._row_batches(query, size, what)) as row_batches:
                async for rows in row_batches:
                    yield query.decode(decoder, rows)

        async def collect() -> list[RecordedEvent]:
            lease = await self._lease()
            clean = False
            try:
                rows = await lease.conn.execute_fetchall(query.full_sql, query.full_params)
                await _drop_last_result(lease.conn)
                clean = not lease.cut
            except (sqlite3.Error, ValueError) as exc:
                raise _interrupted(what, exc) from exc
            finally:
                self._give_back(lease, clean=clean)
            return query.decode(_Decoder(), cast("list[_Row]", rows))

        return EventStream(batches, collect)

    def _row_batches(
        self, query: _Query, size: int, what: str
    ) -> AsyncGenerator[Sequence[_Row], None]:
        if self._memory:
            return self._paged_rows(query, size, what)
        return self._cursor_rows(query, size, what)

    async def _cursor_rows(
        self, query: _Query, size: int, what: str
    ) -> AsyncGenerator[Sequence[_Row], None]:
        """One cursor in one read transaction, yielded ``size`` rows at a time.

        The statement and the first row run in the connection's thread: that step
        starts the read transaction, the one step of a read that may wait (for the
        busy timeout). The rest is read on the event loop's own thread, one
        ``fetchmany(size)`` per loop step, with no thread hop (see the module
        docstring).
        """
        lease = await self._lease()
        cursor: aiosqlite.Cursor | None = None
        try:
            try:
                await lease.conn.execute("BEGIN")
                cursor = await lease.conn.execute(query.full_sql, query.full_params)
                fetch = _in_loop_fetchmany(cursor)
                if fetch is None:
                    rows = cast("list[_Row]", await cursor.fetchmany(size))
                else:
                    # One row in the thread starts the transaction; the rest of the
                    # batch is fetched here, into a new list: aiosqlite's thread keeps
                    # its last result until its next job (the cursor's close), and a
                    # whole batch held for the whole read raised the peak by a quarter.
                    rows = cast("list[_Row]", await cursor.fetchmany(1))
                    if rows and size > 1 and not lease.cut:  # (cut: raised below)
                        rows = rows + fetch(size - 1)
            except (sqlite3.Error, ValueError) as exc:
                raise _interrupted(what, exc) from exc
            slow = 0  # loop fetches in a row that waited for the disk (LOOP_FETCH_*)
            # Blocks the loop's thread had read from storage when its last fetch ended
            # (one count per fetch; what the loop reads between two fetches counts
            # towards the next, which must still be slow to count).
            blocks = _blocks_read()
            while True:
                if lease.cut:  # even an empty batch may be short: never end quietly
                    raise _interrupted(what)
                if not rows:
                    return
                yield rows
                # One batch per loop step: the fetch below does not wait on anything.
                await asyncio.sleep(0)
                if lease.cut:
                    # Cut meanwhile: its close may be running in the connection's
                    # thread, so this read never touches the connection again.
                    raise _interrupted(what)
                try:
                    if fetch is not None:
                        began, cpu_began, before = time.perf_counter(), _thread_cpu(), blocks
                        rows = fetch(size)
                        # Blocks are read after every fetch, slow or not, so that a warm
                        # read's work does not depend on how long its fetches took; the
                        # CPU clock is read again only for a slow fetch from storage.
                        took, blocks = time.perf_counter() - began, _blocks_read()
                        waited = (
                            took > LOOP_FETCH_LIMIT_S
                            and (blocks is None or blocks != before)
                            and took - (_thread_cpu() - cpu_began) > LOOP_FETCH_LIMIT_S
                        )
                        slow = slow + 1 if waited else 0
                        if slow >= LOOP_FETCH_SLOW_IN_A_ROW:
                            # Pages not in memory (a cold disk): the rest of this read
                            # goes back to the connection's thread, off the loop.
                            fetch = None
                    else:
                        rows = cast("list[_Row]", await cursor.fetchmany(size))
                except (sqlite3.Error, ValueError) as exc:
                    raise _interrupted(what, exc) from exc
        finally:
            await self._end_read(lease, cursor)

    async def _paged_rows(
        self, query: _Query, size: int, what: str
    ) -> AsyncGenerator[Sequence[_Row], None]:
        """In memory: short statements, each a page below the bound seen at open."""
        lease = await self._lease()

        async def fetch(sql: str, params: tuple[Any, ...]) -> list[_Row]:
            try:
                rows = await lease.conn.execute_fetchall(sql, params)
            except (sqlite3.Error, ValueError) as exc:
                raise _interrupted(what, exc) from exc
            if lease.cut:
                raise _interrupted(what)
            return list(rows)  # type: ignore[arg-type]

        try:
            bound_rows = await fetch(query.bound_sql, query.bound_params)
            bound = int(bound_rows[0][0] or 0) if bound_rows else 0
            after = query.start
            while after < bound:
                rows = await fetch(query.page_sql, query.page_params(after, bound, size))
                if not rows:
                    # Below the bound every row is committed and immutable: a missing
                    # page means the read was cut, not that the stream is shorter.
                    raise _interrupted(what)
                after = query.key_of(rows)
                yield rows
        finally:
            self._give_back(lease, clean=not lease.cut)

    async def raw_scan(
        self, stream_id: str, *, batch_size: int | None = None
    ) -> AsyncGenerator[int, None]:
        """The benchmark floor: the rows `read_stream` fetches, counted, never decoded."""
        validate_stream_id(stream_id)
        size = validate_batch_size(batch_size, self._default_batch_size)
        query = _Query(
            full_sql=_READ_STREAM,
            full_params=(stream_id, 0),
            decode=lambda decoder, rows: [],
            bound_sql=_STREAM_VERSION,
            bound_params=(stream_id,),
            page_sql=_PAGE_STREAM,
            page_params=lambda after, bound, limit: (stream_id, after, bound, limit),
            key_of=lambda rows: int(rows[-1][0]),
            start=0,
        )
        row_batches = self._row_batches(query, size, f"raw_scan({stream_id!r})")
        async with contextlib.aclosing(row_batches):
            async for rows in row_batches:
                yield len(rows)


# --------------------------------------------------------------------------- helpers


def _in_loop_fetchmany(cursor: aiosqlite.Cursor) -> Callable[[int], list[_Row]] | None:
    """``fetchmany`` of the sqlite3 cursor under aiosqlite's, to run on the caller's thread.

    aiosqlite keeps the cursor it wraps as ``_cursor`` (and reads its ``rowcount``
    from the caller's thread itself); the connection is opened with
    ``check_same_thread=False``. None if that ever changes: reads then stay in the
    connection's thread, slower but as correct.
    """
    inner = getattr(cursor, "_cursor", None)
    if not isinstance(inner, sqlite3.Cursor):
        return None
    fetchmany: Callable[[int], list[_Row]] = inner.fetchmany
    return fetchmany


_thread_cpu = time.thread_time
"""CPU time of the calling thread: what a fetch spent computing, not waiting."""


# Linux counts a thread's reads from storage (``ru_inblock``) only with task I/O
# accounting, which is also what gives every process its /proc/<pid>/io. (No
# ``resource`` at all, on Windows, has no RUSAGE_THREAD either.)
_DISK_READS_COUNTED: Final = hasattr(resource, "RUSAGE_THREAD") and os.path.exists("/proc/self/io")


def _blocks_read() -> int | None:
    """Blocks this thread has read from storage so far, or None where that is not counted.

    Pages served from the OS page cache never move it, however long a fetch takes:
    that is what keeps a warm read's path (and its instruction count) independent of
    time. None (no ``resource``, no per-thread counts, no I/O accounting) leaves the
    loop-fetch valve to the wait alone. A filesystem that does not account its reads to
    the reading thread (some FUSE and network filesystems) never moves it either:
    there slow fetches stay on the loop.
    """
    if not _DISK_READS_COUNTED:
        return None
    return resource.getrusage(resource.RUSAGE_THREAD).ru_inblock


def _check_pool_size(size: object) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"a reader pool holds at least 1 connection, not {size!r}")


async def _drop_last_result(conn: aiosqlite.Connection) -> None:
    """Make the connection's thread let go of the last result it returned.

    aiosqlite's worker keeps a reference to its last result until it runs the next
    job, so without this an idle pooled reader would keep a whole collected result
    alive (hundreds of MB at 1M events), and the next read on it would pay to free it.
    ``commit()`` outside a transaction is a no-op job that costs one thread hop.
    """
    await conn.commit()


async def _scalar(conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    async with conn.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    return None if row is None else row[0]


async def _versions(conn: aiosqlite.Connection, streams: list[str]) -> tuple[int, dict[str, int]]:
    """The last position given so far and the current version of each stream named."""
    rows = await conn.execute_fetchall(_VERSIONS, (orjson.dumps(streams).decode(),))
    last_position = 0
    versions: dict[str, int] = {}
    for stream_id, value in rows:
        if stream_id is None:
            last_position = int(value)
        else:
            versions[stream_id] = int(value)
    return last_position, versions


def _row(
    position: int,
    stream_id: str,
    version: int,
    event: NewEvent,
    data: bytes,
    metadata: bytes,
    recorded_at: str,
) -> _Row:
    return (
        position,
        stream_id,
        version,
        str(event.id),
        event.type,
        data.decode(),
        metadata.decode(),
        recorded_at,
    )


async def _insert(conn: aiosqlite.Connection, rows: Iterator[_Row]) -> None:
    """Insert rows with one executemany; a duplicate event id raises `DuplicateEventId`."""
    last: list[_Row] = []

    def tracked() -> Iterator[_Row]:
        # executemany steps each row as soon as it is drawn, so the last row drawn is
        # the one a constraint refused.
        for row in rows:
            last[:] = [row]
            yield row

    try:
        await conn.executemany(_INSERT, tracked())
    except sqlite3.IntegrityError as exc:
        if "event_id" in str(exc) and last:
            raise DuplicateEventId(uuid.UUID(last[0][3])) from None
        raise


# --------------------------------------------------------------------------- registry


def open_store(url: str) -> SqliteStore:
    """A store at ``sqlite:PATH`` (relative or absolute) or ``sqlite::memory:``; not yet opened."""
    if not isinstance(url, str) or not url.startswith("sqlite:"):
        raise ValueError(
            f"a SQLite store URL looks like 'sqlite:events.db', 'sqlite:/abs/path.db' or "
            f"'sqlite::memory:', not {url!r}"
        )
    location = url.removeprefix("sqlite:")
    if location.startswith("//"):
        raise ValueError(
            f"{url!r}: write 'sqlite:PATH' (e.g. 'sqlite:events.db' or 'sqlite:/abs/path.db'), "
            "without '//'"
        )
    if not location:
        raise ValueError(
            f"{url!r} names no file; write e.g. 'sqlite:events.db' or 'sqlite::memory:'"
        )
    return SqliteStore(location)


@contextlib.asynccontextmanager
async def temporary_store(location: str | None = None) -> AsyncIterator[SqliteStore]:
    """A fresh, empty, open store in a temporary file, deleted on exit.

    It has the settings a user gets from ``SqliteStore(path)`` (``synchronous=FULL``):
    the benchmarks run on it, so they measure the defaults. With ``location`` (a store's
    `SqliteStore.location`): another instance over that store's file, with the same
    settings, left in place.
    """
    if location is not None:
        path = open_store(location).path
        async with SqliteStore(path) as other:
            yield other
        return
    with tempfile.TemporaryDirectory(prefix="eventbench-sqlite-") as directory:
        async with SqliteStore(Path(directory) / "events.db") as store:
            yield store


def server_version() -> str:
    """The SQLite library's version, as results record it."""
    return f"SQLite {sqlite3.sqlite_version}"


def availability() -> str | None:
    """None: SQLite ships with Python and aiosqlite is a dependency of eventbench."""
    if sqlite3.sqlite_version_info < (3, 36, 0):
        return (
            f"SQLite {sqlite3.sqlite_version} is too old (3.36 or newer is needed); "
            "use a Python built with a newer SQLite"
        )
    return None


# --------------------------------------------------------------------------- the floor
#
# `SupportsFloorScan`, kept apart from the store's read path on purpose: nothing here
# goes through aiosqlite, the reader pool, the decoder or `_Query`. The store's only
# ties to it are the `floor_scan` method that calls `_floor_scan` and the line in
# `aclose` that closes the floor's connection.


_floor_connections: weakref.WeakKeyDictionary[SqliteStore, sqlite3.Connection] = (
    weakref.WeakKeyDictionary()
)
"""Each store's floor connection, opened on its first floor read and closed with the
store (kept outside the store, so that the store's own state stays as it was)."""


async def _floor_scan(
    store: SqliteStore, stream_id: str, batch_size: int | None
) -> AsyncGenerator[int, None]:
    """The physical floor of a stream read: the standard library's ``sqlite3`` alone.

    The statement is the store's own (`_READ_STREAM`: the same columns, the same index
    range scan in version order) on the store's file, over a connection of the floor's
    own made as the store makes its readers (autocommit, the same busy timeout,
    ``query_only``), kept open across reads as the store keeps its pooled readers. Rows
    are taken with ``fetchmany(batch)`` (the read's batch size, else the store's
    default) and counted, never decoded.

    The driver is synchronous and the floor calls it directly, as a program without
    a store would: no thread hop per batch (aiosqlite's price for not blocking the
    event loop). So the floor holds the event loop for the whole read, and its loop
    stall is no target. Why ``fetchmany`` of the store's batch (100 by default): 100K
    rows, 9 interleaved rounds, medians relative to the fastest (``python
    scripts/floor_variants.py sqlite 100000 9``; a loaded machine, so ratios only):
    ``fetchmany(100)`` 1.00x, ``fetchmany(1000)`` 1.12x, ``fetchall`` 1.30x.
    """
    store._check_open()
    validate_stream_id(stream_id)
    size = validate_batch_size(batch_size, store.default_batch_size)
    conn = _floor_connections.get(store)
    if conn is None:
        conn = sqlite3.connect(
            store._target,
            uri=store._memory,
            isolation_level=None,
            timeout=store._busy_timeout,
            check_same_thread=False,
        )
        conn.execute("PRAGMA query_only = ON")
        _floor_connections[store] = conn
    cursor = conn.execute(_READ_STREAM, (stream_id, 0))
    try:
        while rows := cursor.fetchmany(size):
            yield len(rows)
    finally:
        cursor.close()


def _close_floor(store: SqliteStore) -> None:
    conn = _floor_connections.pop(store, None)
    if conn is not None:
        conn.close()
