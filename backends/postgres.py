"""The PostgreSQL reference store (asyncpg): the store production users run.

Layout (one schema per store, ``eventbench`` unless the URL says ``?schema=``)::

    events(position PK, stream_id, stream_version, type, data json, metadata json,
           id UNIQUE, recorded_at)          UNIQUE (stream_id, stream_version)
    streams(stream_id PK, version)          a stream's current version
    global_position(last)                   one row: the last position handed out
    schema_info(version)                    the layout version (`SCHEMA_VERSION`)
    append_events(...)                      an append in one call (layout 2)

Triggers refuse UPDATE, DELETE and TRUNCATE of ``events``: stored events are
immutable. Creating the schema is idempotent and safe to race (it runs under an
advisory lock and checks ``schema_info``). An older layout is upgraded in place
when a store opens it (layout 1 lacks only ``append_events``; the events are not
touched, so a seeded database need not be loaded again); a newer one is refused
with a message, since this code cannot know what it changed.

**Global order without gaps.** With a plain sequence, a transaction can take a lower
position and commit after one with a higher position; a reader that already passed
the higher one never sees the lower one. Here positions come from the
``global_position`` row, updated in the appending transaction and so locked until
it commits: positions are handed out in commit order, the committed events are
always exactly positions ``1..last`` (a rolled-back append gives its numbers back),
and a reader that resumes after the last position it saw can never skip an event.
The price is that commits are serialized (one append commits at a time); the lock
is taken as late as possible, after stream locks and version checks, so it is held
only for the insert and the commit.

**Appends** run in one transaction: advisory locks on every named stream are taken
in a fixed order (sorted 64-bit keys hashed from schema and stream id), so two
appends naming the same streams in different orders cannot deadlock, and a stream
that does not exist yet is locked as well as one that does. Versions are then read,
judged by the contract's rule, and the events written with one statement (``unnest``
of arrays). All of it is one call of the schema's ``append_events`` function, sent
as one statement outside any explicit transaction: one round trip per append (it
was four: BEGIN, locks and versions, write, COMMIT). A failed expectation raises
SQLSTATE ``EB409`` naming the write and the actual version, which becomes
`WrongExpectedVersion`. Appends of `COPY_THRESHOLD` events or more keep the
transaction with ``COPY`` (round trips do not matter at that size). A unique
violation can then only come from something outside these rules; it is still
reported as `WrongExpectedVersion` (or `DuplicateEventId`), never as a driver error.
`bulk_load` takes an exclusive lock that appends take shared, so seeding and
appending never interleave.

**Reads.** A collected read is one ``fetch`` (of a streamed read's batch statement,
unbounded: see "Generic plans"). A streamed read holds one pooled connection and reads
keyset batches up to a bound taken when it opens (the stream's version, or
``global_position.last``): rows below the bound are immutable and all committed, so
the batches return exactly the snapshot at open without holding a transaction open.
A stream's batch is ``(stream_id, stream_version) > ($1, last) AND (stream_id,
stream_version) <= ($1, bound) ORDER BY stream_id, stream_version LIMIT n``; a read of
all streams asks for ``position > last ORDER BY position LIMIT n`` and drops rows past
the bound itself. Both forms are planned as an index range
scan in key order with or without statistics (a test EXPLAINs them right after a
bulk load, after ANALYZE and as generic plans); the plain form ``stream_id = $1 AND
stream_version > $2 AND stream_version <= $3`` is costed without statistics as a
handful of rows, so right after a large import every batch read the rest of the
stream through a bitmap scan and sorted it (see the figures below). The next batch is
requested before the current one is decoded and handed over, so the server and the
network work while the consumer does. A batch is fetched in one round trip but decoded
and handed over `DECODE_CHUNK` rows at a time, with a loop turn between slices, so
that no step of the read holds the event loop for a whole batch; the first round trip
fetches a single slice, so that the first event does not wait for a whole batch.
Leaving early waits for the one batch in flight (cheaper than cancelling a query) and
returns the connection to the pool. A lost connection raises `ReadInterrupted`; a read
never ends short.

**Chosen defaults, by measurement.** One stream of ~260-byte JSON events, local
PostgreSQL 15.20, 2 cores shared with other work (so figures moved by +-30% between
runs; only side-by-side medians of one run are compared):

* *Keyset batches, not a server-side cursor.* With JIT on (the server default) a
  cursor over a 100K stream gave its first event after 44-49 ms against 1.1-1.5 ms
  for keyset batches; totals were within noise. Keyset batches also hold no
  transaction (and no old snapshot) open while a slow consumer works. The store's
  sessions set ``jit = off``: every query it runs is short or a plain index scan.
* *``json``, not ``jsonb``.* Raw scans of 100K rows, same run: 155-163 ms from a
  json column, 238-251 ms from jsonb, which the server turns back into text for
  every row. json also stores U+0000 exactly (jsonb refuses it), so
  ``nul_in_strings`` holds and nothing has to be refused.
* *Prefetch one batch.* Keyset batches of 250 at 1M events: 3.03 s with the next
  batch requested before decoding the current one, 3.19 s without (raw asyncpg,
  same run); with jsonb 2.91 s against 3.40 s.
* *Batches of 250* (`DEFAULT_BATCH_SIZE`; 1000 was measured again under "Reads near
  the floor" below, and is faster but doubles the streamed peak). Store end to end,
  interleaved medians (streamed = every event through ``async for``; raw =
  `raw_scan`, no decoding)::

      batch   10K streamed / raw    100K streamed / raw    1M streamed / raw
      250     58.7 / 31.7 ms        740 / 319 ms           7.02 / 3.10 s
      500     32.8 / 31.0 ms        628 / 272 ms           8.32 / 2.57 s
      1000    33.3 / 28.2 ms        779 / 298 ms           9.24 / 2.50 s
      collected (one fetch): 54.7 ms, 1.55 s, 17.1 s

  250 and 500 are level within the noise (an earlier run had 250 ahead at 100K and
  500 at 10K); 250 has the smaller peak (0.4 MiB against 0.6 MiB at every N, memray)
  and the earliest first event (1-4 ms at every N). 5,000 and up were slower at 1M
  (3.3-4.5 s against 2.7-3.0 s, raw asyncpg) and first events took 14-27 ms. The
  collected read of 1M events peaks at 1.9 GiB.

With the defaults then chosen (batches of 250), the runner (``eventbench run
--backends postgres --scenarios read-stream --sizes 10k,100k,1m -p payload_bytes=250
--repeats 5 --memory-repeats 1``; 1M with ``--repeats 3``) measured, median time /
first event / peak memory, all warm (after one warm-up read; the cold first read is in
the README's Figures), before seeded tables were analyzed::

      N       collected                   streamed                   raw_scan
      10K     35.0 ms / 30.5 ms / 14.0 MiB   24.8 ms / 1.1 ms / 0.78 MiB   17.9 ms
      100K    492 ms / 439 ms / 140 MiB      257 ms / 1.3 ms / 0.78 MiB    178 ms
      1M      6.01 s / 5.48 s / 1.4 GiB      2.99 s / 1.1 ms / 0.91 MiB    1.54 s

Streamed over raw: 1.39x, 1.45x and 1.94x; memory at 1M is 1.17x that at 10K.

**Reads near the floor** (issue 13). Where a streamed read's time goes, CPU per event
of each part alone (thread time, best of 5, 100K rows already fetched; the machine was
loaded, so only the proportions count)::

    python scripts/pg_side_by_side.py seed-reads     # once: 10K, 100K, 1M, ANALYZEd
    python scripts/pg_side_by_side.py decode-costs 100000

    unpack a row (7 fields)        0.22 us
    orjson.loads data + metadata   1.02 us
    build a RecordedEvent          1.21 us    (the contract's builder)
    decode (all of the above)      2.56 us
    whole raw read                 3.49 us    (asyncpg's parsing, sockets, the loop)
    whole streamed read            7.23 us
    whole fold read                9.39 us

So a streamed read costs the client about twice a raw one: decoding adds 2.6 us to
raw's 3.5 us, and handing each event through ``EventStream.__anext__`` and the
consumer's ``async for`` about 1.2 us more (cProfile agrees: at 100K, asyncpg's
receive and parse 26% of the streamed read, orjson 16%, the decode loop 13%, building
events 12%, the consumer and ``__anext__`` 17%). Changes, each measured:

* *json through asyncpg's own bytea codec.* json's binary form is its text, so the
  builtin bytea codec hands it over as bytes in C; the identity function it replaces
  was a Python call per value, 200,000 calls in a 100K read (0.1 s of 8.8 s profiled).
* *Batches of 1000, decoded 250 at a time* (`DEFAULT_BATCH_SIZE`, `DECODE_CHUNK`).
  On the shared machine each round trip costs a wake-up of the server and then of the
  client. Profiled (``python scripts/pg_side_by_side.py profile streamed 100000
  --batch 250``, then without ``--batch``): at batches of 250, 3.1 s of a 10.8 s read
  went to ``send`` and 1.7 s to waiting in ``epoll``; at 1000, 0.70 s to ``send`` and
  under 0.13 s waiting: the client is then the bottleneck, the server's work hidden
  behind it. Handed over in slices of 250 with a loop turn between, the read's own
  steps took 0.49 ms (batches of 250) and 1.24 ms (1000, sliced) of thread time at the
  median on that loaded machine; asyncpg parses what one ``recv`` brings (at most 256
  KiB, about 700 rows) in one step: 0.80 and 1.24 ms at the median, at most 1.6 and
  3.8 ms. Peak memory of a streamed read (memray) is 1.89 MiB at 10K and 1.90 MiB at
  1M (1.01x; batches of 250 held 0.78-0.91 MiB).
* *The first round trip fetches one slice*, so the first event waits for 250 rows, not
  1000 (for 150 at the default since batches of 150, below).
* *The default stays at batches of 250* (`DEFAULT_BATCH_SIZE`): 1000 doubles a
  streamed read's peak (0.78-0.91 MiB to 1.89 MiB, memray, above), and a streamed read
  that holds more memory is the regression this project exists to catch; issue 13
  asks for its speed with no regression in memory. Pass ``batch_size=1000`` (or
  ``?batch_size=1000`` in the URL) where throughput matters more than a MiB per read:
  a batch of 1000 is still handed over 250 rows at a time. The figures below were
  measured at 1000 (``new``) against the store before these changes at 250 (``old-``);
  at 250, what remains of the changes is the codec.

Side by side after these changes (bare = asyncpg alone, keyset pages of 1,000, same
columns, no decoding; raw = `raw_scan`; streamed = every event through ``async for``;
fold = scenarios.fold's Account; ``old-`` = the store before these changes, at its
batches of 250; every read in a fresh process after a warm-up read, order rotated
each round, medians; max stall = the runner's loop ticker, max step CPU = the longest
loop callback in thread time, max GC = the longest garbage collection)::

    git show 7d2b29d:backends/postgres.py > /tmp/old_postgres.py
    python scripts/pg_side_by_side.py reads --old /tmp/old_postgres.py --sizes 100000
        --rounds 3 --memory ''                                    (one line)
    python scripts/pg_side_by_side.py reads --sizes 1000000 --rounds 2 --memory ''
    python scripts/pg_side_by_side.py reads --sizes '' --memory 10000,1000000

          N read             median  x bare  x raw  first event  max stall  max step CPU     max GC
    100,000 bare             4.011s   1.00x  0.80x      17.1 ms   106.2 ms       15.9 ms     13.7 ms
    100,000 raw              5.008s   1.25x  1.00x      49.9 ms   177.4 ms       13.5 ms     11.3 ms
    100,000 streamed        11.553s   2.88x  2.31x      69.4 ms   259.9 ms       17.5 ms     15.7 ms
    100,000 fold             9.559s   2.38x  1.91x      58.4 ms   271.3 ms       18.5 ms     16.0 ms
    100,000 old-raw          6.677s   1.66x  1.00x      41.3 ms    86.3 ms        2.0 ms      0.0 ms
    100,000 old-streamed    13.247s   3.30x  1.98x      69.1 ms   259.8 ms       17.6 ms     16.4 ms
    100,000 old-fold        12.740s   3.18x  1.91x      55.2 ms   267.7 ms       16.7 ms     15.0 ms
    1,000,000 bare          28.918s   1.00x  0.80x      30.8 ms   350.9 ms       19.0 ms     16.4 ms
    1,000,000 raw           36.077s   1.25x  1.00x      66.8 ms   371.5 ms       19.4 ms     17.3 ms
    1,000,000 streamed      76.466s   2.64x  2.12x      53.2 ms   326.2 ms       21.9 ms     19.1 ms
    1,000,000 fold          78.458s   2.71x  2.17x      45.4 ms   447.5 ms       20.4 ms     18.5 ms

The machine was far busier than for the figures above (load average 10-12 on 2 cores,
other benchmarks running: a 100K read took 4-13 s instead of 0.2-0.7 s), so only the
ratios of one run count, and even they move by +-20% (1M was measured without the
old store: a 1M read took 30-80 s). At 100K, against bare asyncpg, the store's raw
scan went from 1.66x to 1.25x, the streamed read from 3.30x to 2.88x and the fold
from 3.18x to 2.38x. **The issue's targets are not reached**: streamed is 2.1-2.3x raw
(target 1.3x), fold 1.9-2.2x (1.5x), raw 1.25x bare at both sizes (1.2x); the first
event came after 53-69 ms (25 ms), but bare asyncpg's first page of 1,000 took 17-31 ms
on the same machine. Peak memory is flat (1.01x from 10K to 1M, above). The decode costs above say
why: a streamed read must build every event, and orjson alone costs a third of what
the whole raw read does; no batching removes that from a single Python process. The
contract's part (building a `RecordedEvent`, ``__anext__`` per event) is as large as
the JSON; building an equal, still frozen RecordedEvent through a plain slots class
and a ``__class__`` swap measured 0.4-0.6x the current builder's time.

That builder is now the contract's `new_recorded_event` (harness/contract.py), so
this store builds events that way with no change here. CPU per event against main
(``/tmp/base`` from ``git archive main``; thread time, best of 5 or of 3 as above;
the two trees alternated three times, medians; load average 5-6 from other work)::

    python scripts/pg_side_by_side.py decode-costs 100000      # in each tree:
    (cd /tmp/base && PYTHONPATH=/tmp/base python scripts/pg_side_by_side.py decode-costs 100000)

                                   main     now
    build a RecordedEvent         0.68 us  0.43 us
    decode (all of the above)     1.34 us  0.99 us
    whole raw read                1.91 us  1.96 us
    whole streamed read           4.39 us  4.23 us   (2.30x -> 2.16x raw)
    whole fold read               4.13 us  3.83 us   (2.16x -> 1.95x raw)

Wall-clock medians, side by side with main (``reads --base /tmp/base --sizes
100000,1000000 --rounds 5 --memory 10000,1000000``; ``old-`` = main): at 100K,
streamed 1.19x raw (main 1.31x) and fold 1.34x (main 2.08x); at 1M, streamed 1.42x
(1.86x) and fold 1.94x (1.75x). The machine was running another project's test suite
(load 5-6): raw reads took 1.6x bare instead of 1.25x, the server's wake-ups hide
part of the client's work, and fold and streamed swapped places between sizes, so
these wall figures are noise around the CPU figures above, not a second result. An
earlier 3-round run at 100K (load ~3) gave streamed 1.70x raw against main's 1.99x
and fold 1.60x against 1.92x. Peak memory of a streamed read (memray): 0.78 MiB at
10K, 0.92 MiB at 1M (1.17x); first events 5-13 ms.

**Still short of issue 13's targets** (streamed 1.3x raw, fold 1.5x): in CPU a
streamed read is 2.2x raw. Of the 2.3 us a streamed event costs beyond raw, decoding
is 1.0 us (orjson 0.45, building 0.43, unpacking 0.19); the rest is ``__anext__``, the
consumer's loop and garbage collection (an event and its id are two GC-tracked
objects, so a read sets off a young collection every few hundred events and now and
then a full one: the "max GC" column). Also tried and not kept, each a few percent
of a streamed read's CPU in throwaway measurements: an async generator under
``EventStream.__aiter__`` (it delays releasing an abandoned bare ``async for`` by two
loop turns), and metadata parsed once per distinct text as SQLite does (a gain only
on this benchmark's constant metadata, a loss wherever metadata differs per event).

The loop stall and the longest step are garbage collections, not the read's own
steps: every variant, bare asyncpg included, had a full collection of 11-16 ms in its
read (Records and events that outlive a young collection pile up in the oldest
generation until one runs); without one (old-raw) the longest step was 2.0 ms.
Wall-clock stalls (86-271 ms) here measure the scheduler of the busy machine.

**Batches of 150** (`DEFAULT_BATCH_SIZE`, from 250). The longest loop steps above were
garbage collections, and the read set them off itself: each row in flight is an
asyncpg ``Record`` and a ``UUID`` (both tracked by the cyclic collector), and each
event a tracked ``RecordedEvent``, so a batch of 250 with the next one prefetched put
more than the young generation's threshold (700 net new tracked objects) in flight at
once. Every batch then set off a young collection; whatever was in flight survived it,
moved to older generations and set off a full collection every ~30,000 events, each
a walk over every object of the process (the worker's ~24,000): 10-19 ms holding the
loop. Batches of 150 or fewer stay under the threshold; 200 does not. Counted in one
process after a warm-up read (``python scripts/pg_side_by_side.py gc-costs 1000000
--rounds 3``, at 250; ``frozen`` = everything alive before the read moved out of the
collector's reach with ``gc.freeze()``, which halves the collections' cost but not
their number)::

    1M events, batch 250   collections (gen 0/1/2)   all collections   longest
    raw                           0/0/0                   0 ms            0 ms
    streamed                   3640/330/30               634 ms           17 ms
    streamed (frozen)          3640/330/30               292 ms          0.9 ms
    fold                       3640/330/30               660 ms           16 ms
    (batches of 100 or 150: 1/0/0 for streamed and fold, 0.1 ms at most)

At 100 rows the read pays for more round trips than it saves; 150 is the largest
size under the knee (7,000 round trips for 1M events instead of 4,000). Side by side
in fresh processes, interleaved (``python scripts/pg_side_by_side.py read-once
MODE N --batch B``, medians of 7 rounds at 100K and 3 at 1M, a cachegrind job
sharing the machine), the longest step of a read's loop (thread CPU) and its time::

                       longest step           whole read (wall)
                       batch 150   250        batch 150   250
    100K streamed        0.8 ms   15.0 ms       613 ms   589 ms
    100K fold            0.8 ms   15.3 ms       647 ms   681 ms
    100K raw             0.4 ms    0.7 ms       383 ms   356 ms
    1M streamed          3.0 ms   17.2 ms      4.86 s   6.07 s
    1M fold              1.2 ms   15.0 ms      4.71 s   5.66 s
    1M raw               0.5 ms    1.8 ms      2.79 s   2.52 s

A second 1M run of the same kind (3 rounds, batches of 100, 150 and 250) put streamed
at 5.00, 4.94 and 5.22 s and fold at 6.36, 5.41 and 8.10 s, with the same longest
steps; in one process (every read alternating, ``gc`` counted) streamed took 5.81,
5.46 and 5.06 s at the median. So whole reads are level within this machine's noise,
raw scans (more round trips, no garbage) are 5-10% slower, and the loop is no longer
held for 15-19 ms at a time: the step bound of issue 13 (2 ms) holds at 100K, and at
1M but for asyncpg's parsing of one large receive now and then. The margin is for
flat payloads (about four tracked objects per row at the peak): events whose data
holds lists or nested objects are tracked objects themselves, and a stream of those
crosses the threshold again at a smaller batch. ``scripts/pg_side_by_side.py
gc-costs`` measures it for any seeded stream.

Then through the benchmark, against the store at 250 (``eventbench compare --ref
4212888 --backends postgres --scenarios read-stream,fold --modes streamed,raw,floor``
with ``--sizes 1m --memory-repeats 0``, then ``--sizes 10k,100k``; 6 rounds a side,
interleaved, a cachegrind job sharing the machine): at 1M no cell regressed (all 6
inconclusive at the 10% minimum effect); head/base medians: streamed CPU time 0.87x
(interval 0.73-0.99) and total 0.94x, fold CPU 0.92x (0.75-1.00) and total 0.97x, raw
0.91x and 0.95x; the loop's longest stall per read (median of the runs) 19.2 -> 5.0 ms
streamed and 20.8 -> 6.0 ms fold, while the bare-driver floor stayed at 16-19 ms (its
pages of 1000 still collect). At 10K and 100K every time verdict was inconclusive
(geometric mean 0.99x total, 0.96x CPU), peaks fell (improved in 6 cells: 0.72-0.79x;
0.83x over all cells), and the gate exits 1: allocations rose 3.6% in the raw cells
and bytes allocated 6% in the streamed ones and ~30% in the raw ones. That is the
price of 1.67x the round trips: each receive allocates asyncio's 256 KiB buffer and
shrinks it at once, which memray counts in full; no more memory is held (the peaks
above), and the time it costs is inside the CPU figures.

**A batch as one row of arrays** (measured, not adopted). Batches of 150 make a raw
scan 1.6-1.8x the floor (issue 13 asks 1.2x): the server's fixed cost per query, not
the client, sets the pace of a 150-row round trip. Fetched as one row of seven arrays
(``array_agg`` of each column over the same keyset query, ids as ``uuid_send`` bytes),
a batch of 1,000 holds a handful of tracked objects instead of 1,000 Records and UUIDs,
so it would stay under the collector's threshold at the floor's page size. Every read
in a fresh process, shapes rotated each round, medians, no decoding (``python
scripts/pg_side_by_side.py batch-shapes 1000000 --rounds 5``, then ``100000 --rounds
7``; quiet machine)::

                       1M: wall   x floor  client CPU     100K: wall  x floor
    floor (pages of 1,000)  1.39 s   1.00     1.25 s          125 ms    1.00
    raw (the store, 150)    2.21 s   1.58     1.65 s          213 ms    1.71
    Records of 1,000        1.35 s   0.97     1.21 s          127 ms    1.02
    arrays of 1,000         1.90 s   1.36     0.97 s          175 ms    1.41
    arrays of 500           1.93 s   1.39     0.98 s          207 ms    1.66

Arrays take the least client CPU of all, but the server spends about twice as long
on a batch (its execution, ``EXPLAIN ANALYZE``, which the script prints last: 0.86
ms for a batch of 1,000 at 1M and 1.02 ms at 100K, against 0.45-0.47 ms as Records),
and with the next batch already requested the read waits for it: 1.36-1.41x the
floor, short of 1.2x, with work moved from the client to the server every client
shares. Records of 1,000 are at the floor, and are what the collector's threshold
rules out (above). So the raw goal stays unmet at this design.

**Two connections per read** (measured, not adopted). Versions (and positions) are
gap-free, so every batch's range is known when a read opens, and two connections can
each fetch every other batch, two in flight at once: the round trips then overlap, and
a raw scan reaches the floor's pace at batches of 150 (``two-conns-150`` in
``python scripts/pg_side_by_side.py batch-shapes 1000000 --rounds 5``, then ``100000
--rounds 7``; a busy day, the floor took 1.5x its time of the run above)::

                       1M: wall   x floor  client CPU     100K: wall  x floor
    floor (pages of 1,000)  2.06 s   1.00     1.88 s          229 ms    1.00
    raw (the store, 150)    3.32 s   1.61     2.50 s          354 ms    1.54
    two connections, 150    2.25 s   1.09     1.84 s          274 ms    1.19

It meets issue 13's raw goal (1.2x the floor) and would break its streamed one (1.3x
raw), which holds today: a streamed read is bound by the client's CPU, not the server,
and that CPU alone was 2.0x the floor's wall time at 1M and 1.6x at 100K (4.11 s and
359 ms against 2.01 s and 219 ms, the compare run under "Generic plans"). A streamed
read at most 1.3x a raw scan that is at most 1.2x the floor would have to take at most
1.56x the floor, so the two goals cannot both hold while decoding costs what it does
(see "Reads near the floor"). A second connection would hide only server time, which
the prefetch already hides from a streamed read (1.10-1.13x raw in the README's run),
and would double the connections a read holds: a pool of 10 would serve 5 readers, and
readers that each hold one connection while waiting for a second can deadlock a full
pool. So a read keeps one connection.

**Generic plans** (``plan_cache_mode = force_generic_plan``, set in each of the store's
sessions when it opens, on servers 12 and later: older ones lack the setting). asyncpg
prepares each statement once, but the server still chose a plan per execution: with
statistics, the custom plan's estimate for a bounded batch stays below the generic
plan's (which guesses a third of the range), so the plan cache never switched, and
every batch of a 1M-event stream was planned again (``pg_prepared_statements``: 2,000
custom plans in 2,000 batches). The batch statements' generic plans are the index
range scans they were written for, with or without statistics (tests/test_postgres.py
EXPLAINs them). A collected read runs the same statement as its streamed batches, with
neither bound nor limit: its own plain form (``stream_id = $1 AND stream_version > $2
ORDER BY stream_version``) was planned generically as a bitmap scan of the stream and a
sort wherever the guess for "one stream" came out small, where its custom plan had been
the index scan; the batch statement's ``LIMIT`` leads a generic plan to the index in
order. The reverse holds for custom plans: the batch statement with a limit past every
row was planned as a parallel bitmap scan and a sort. Server time of a collected read
of the big stream (``python scripts/pg_side_by_side.py collect-plans --rounds 10``:
``EXPLAIN ANALYZE``, the statements alternating, medians; ANALYZEd)::

    50K events beside a stream of 10     generic plan              custom plan
      plain statement                    39 ms (bitmap, sort)      12 ms (index)
      batch statement, unbounded         14 ms (index)             14 ms (index)
    1M events beside 10,000 streams of 10
      plain statement                    224 ms (index)            314 ms (index)
      batch statement, unbounded         263 ms (index)            1,336 ms (bitmap, sort)

Where both are index scans the batch statement's row comparisons and limit cost the
server ~15% more (about 40 ms for 1M rows, ~1% of a collected read of them, which
decoding dominates); its generic plan never sorts. So collected reads run the batch
statement where plans are generic, and keep their plain statements on a server before
12, which plans every execution.

Server time of one batch of 150 from the middle of the 1M stream, and whole raw scans
on the store's one connection, the modes alternating in one process (``python
scripts/pg_side_by_side.py plan-costs 1000000``, medians of 301 batches and of 7
scans)::

                         planning   execution   raw scan: wall   client CPU   server CPU
    auto (the default)     55 us      119 us         3.39 s        2.41 s       1.74 s
    force_generic_plan      9 us      105 us         3.20 s        2.49 s       1.56 s

The client's share is unchanged; the server spends a third less time per batch, which
on a 2-core machine it shares with the client is about 6% of a raw scan. Through the
benchmark (``eventbench compare --ref d467b3c --backends postgres --scenarios
read-stream,fold --modes streamed,raw,floor --sizes 100k,1m --rounds 8
--memory-repeats 0``; a busy day: the floor's cells took 1.5x their time in the
README's run): no regression in 12 cells, geometric mean of head/base 0.92x total time
and 0.96x CPU time, every single cell within this machine's noise (0.78x-1.09x;
cells that read the same rows moved in opposite directions); with ``--scenarios
read-stream,catch-up,append --modes collected,streamed,batch-1,batch-100,contention
--sizes 10k,100k --rounds 6`` and memray, no regression in 11 cells either (0.93x total
time, peaks and allocations 1.00x; catch-up's first event 0.82x at 10K, improved),
and, after collected reads moved to the batch statement, ``--scenarios
read-stream,catch-up --modes collected --sizes 100k,1m --rounds 6 --memory-repeats 0``
none in 4 cells (0.99x total time; 0.94-1.03x each).

The floor runs on the store's sessions too, so raw over the floor stays where it was
(1.66-1.67x before, 1.73-1.78x after, at 1M in the first run): what limits a raw scan
is the client's cost per round trip (asyncpg's parsing is the same per row; the loop's
wake-ups, ``send``, ``recv`` and ``epoll`` per batch are not), ~120 us of client CPU a
batch beyond the floor's pages of 1,000 on this VM (``python scripts/pg_side_by_side.py
profile raw 100000``: 6.3 loop iterations, 2.3 ``recv`` and one ``send`` per batch).

**Reads right after a bulk load** (the batch statements above against the former
``stream_id = $1 AND stream_version > $2 AND stream_version <= $3 ORDER BY
stream_version LIMIT $4``; 200K ~250-byte events in one stream of a new schema, no
ANALYZE, autovacuum off, a fresh process per read, old and new alternating, 5 each;
the machine was busy, load average ~9 on 2 cores)::

    python scripts/pg_side_by_side.py read-after-load {old,new} 200000

              first event: median (range)       whole streamed read: median (range)
    former    318 ms (292-363 ms)               3.74 s (2.84-5.83 s)
    now       14.5 ms (5.6-34 ms)               3.04 s (2.82-6.99 s)

**Appends, one event on one stream** (main's store against this one, interleaved
blocks of 200 in one process after a warm-up block)::

    python scripts/pg_side_by_side.py appends OLD_MODULE 10 200 [--no-sync]

With ``synchronous_commit = off`` on the test database, which takes the commit's
WAL flush out of the figure, the one-call append ran 1.50x and 1.54x the former
throughput (medians 533 against 947 us, 648 against 1132 us per append). With
durable commits (the server default, which the store keeps) this machine spends
4-11 ms per commit in the WAL flush (fdatasync on a disk shared with other work),
so the three round trips saved are lost in it: 1.05x (6 blocks of 100), and 89
against 92 appends/s over five fresh-process pairs. The server runs the function
in about 170 us (``track_functions``); a ``SELECT 1`` round trip took about 100 us.
Appends of 10 events: 1.23x with ``synchronous_commit = off``, 1.65x durable. The
runner, durable, main against this tree (the default cells would have taken over an
hour on the busy machine, so fewer)::

    eventbench compare --ref main --scenarios append --backends postgres
        --modes batch-1,batch-10 --memory-repeats 0 --repeats 3 --rounds 2  (one line)

gave total time 0.77x for ``batch-1`` (95% CI 0.64-0.91, p=0.004: faster, but not
settled against the 10% minimum effect) and 1.26x for ``batch-10`` (CI 0.98-1.60,
p=0.065, not significant; p50 latencies 7-9 ms on both sides, the WAL flush).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import re
import secrets
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self, TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import orjson

from harness import provision
from harness.contract import (
    AppendResult,
    Capabilities,
    DuplicateEventId,
    EventStream,
    ExpectedVersion,
    NewEvent,
    ReadInterrupted,
    RecordedEvent,
    StoreUnavailable,
    StreamState,
    StreamWrite,
    WrongExpectedVersion,
    check_expected_version,
    new_recorded_event,
    validate_batch_size,
    validate_event,
    validate_from,
    validate_stream_id,
    validate_writes,
)
from harness.text import join_sentences

__all__ = [
    "DECODE_CHUNK",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_SCHEMA",
    "SCHEMA_VERSION",
    "PostgresStore",
    "availability",
    "open_store",
    "temporary_store",
]

SCHEMA_VERSION: Final = 2
DEFAULT_SCHEMA: Final = "eventbench"
DEFAULT_BATCH_SIZE: Final = 150
"""Rows per streamed batch: the most that keeps a read's young objects under the
garbage collector's threshold (see "Batches of 150" in the module docstring; 1000 is
faster on a busy machine but holds twice the streamed peak)."""
DECODE_CHUNK: Final = 250
"""Rows decoded in one step of a streamed read, so that no step holds the event loop
for long (see the module docstring)."""
DEFAULT_POOL_SIZE: Final = 10
_UNBOUNDED: Final = 2**63 - 1
"""A bound or limit past every version and position (the largest bigint)."""
_SERVER_SETTINGS: Final = (
    "autovacuum",
    "effective_cache_size",
    "jit",
    "max_parallel_workers_per_gather",
    "plan_cache_mode",
    "random_page_cost",
    "shared_buffers",
    "synchronous_commit",
    "work_mem",
)
"""Server settings that change what a read or an append costs, recorded with results."""
COPY_THRESHOLD: Final = 2000
"""Appends of at least this many events are written with COPY rather than unnest."""
CLOSE_TIMEOUT_S: Final = 10.0

_XMIN_HELD: Final = """
SELECT count(backend_xmin), coalesce(max(age(backend_xmin)), 0)
FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()
"""
"""Sessions of one store holding an xmin, and the oldest one's age in transactions."""

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

_Row: TypeAlias = asyncpg.Record
_Conn: TypeAlias = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
_Decoder: TypeAlias = Callable[[list[_Row]], list[RecordedEvent]]

# Errors that mean the connection (not the query) failed: a read in flight is then
# interrupted, and the pool replaces the connection.
_CONNECTION_LOST: Final = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    ConnectionError,
    OSError,
)
_READ_LOST: Final = (*_CONNECTION_LOST, asyncpg.exceptions.InternalClientError)
"""What a read may meet when its connection is cut mid-operation: asyncpg then reports
the operation it was in as "cannot switch to state ...; another operation is in
progress", an InternalClientError. A read maps it to `ReadInterrupted` only when the
connection is in fact closed (see `_lost`)."""


def _lost(conn: asyncpg.pool.PoolConnectionProxy, exc: BaseException) -> bool:
    """Whether ``exc``, raised by a read on ``conn``, means the connection was lost."""
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        return conn.is_closed()
    return True


# --------------------------------------------------------------------------- SQL


def _ddl(s: str) -> str:
    return f"""
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE {s}.schema_info (version integer NOT NULL);
CREATE TABLE {s}.streams (
    stream_id text COLLATE "C" PRIMARY KEY,
    version bigint NOT NULL CHECK (version >= 0)
);
CREATE TABLE {s}.events (
    position bigint PRIMARY KEY CHECK (position >= 1),
    stream_id text COLLATE "C" NOT NULL,
    stream_version bigint NOT NULL CHECK (stream_version >= 1),
    type text NOT NULL,
    data json NOT NULL,
    metadata json NOT NULL,
    id uuid NOT NULL UNIQUE,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, stream_version)
);
CREATE TABLE {s}.global_position (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last bigint NOT NULL CHECK (last >= 0)
);
INSERT INTO {s}.global_position (last) VALUES (0);

CREATE FUNCTION {s}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'eventbench events are immutable: % of %.% is refused',
        TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation',
              HINT = 'Append a compensating event instead; drop the schema to discard a store.';
END $$;
CREATE TRIGGER events_immutable BEFORE UPDATE OR DELETE ON {s}.events
    FOR EACH ROW EXECUTE FUNCTION {s}.refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON {s}.events
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.refuse_change();

-- Locks first, then a fresh read: in READ COMMITTED each statement of a volatile
-- function takes a new snapshot, so the versions read here are the ones that hold
-- for as long as the locks are held.
CREATE FUNCTION {s}.lock_streams(bulk_key bigint, stream_keys bigint[], stream_ids text[])
RETURNS TABLE (out_stream_id text, out_version bigint) LANGUAGE plpgsql AS $$
DECLARE
    k bigint;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(bulk_key);
    FOREACH k IN ARRAY stream_keys LOOP
        PERFORM pg_advisory_xact_lock(k);
    END LOOP;
    RETURN QUERY SELECT st.stream_id, st.version FROM {s}.streams st
        WHERE st.stream_id = ANY (stream_ids);
END $$;

{_append_function(s)}
INSERT INTO {s}.schema_info (version) VALUES ({SCHEMA_VERSION});
"""


# Expected versions as the append function takes them (a version is never negative).
_EXPECT_ANY: Final = -1
_EXPECT_NO_STREAM: Final = -2
_EXPECT_STREAM_EXISTS: Final = -3
_WRONG_VERSION_STATE: Final = "EB409"
"""SQLSTATE the append function raises when an expected version does not hold; its
DETAIL is ``<index of the write, from 1> <actual version>``."""


def _append_function(s: str) -> str:
    """The server side of an append: one statement, so one round trip (layout 2)."""
    return f"""
-- The whole append in one call, with the rules of the two-statement version it
-- replaces: the shared bulk lock, then every stream lock in the caller's (sorted)
-- order, then a fresh read of the versions (each statement of a volatile function
-- takes a new snapshot in READ COMMITTED), the checks, and the position counter
-- last, so that it is held only for the inserts and the commit.
CREATE FUNCTION {s}.append_events(
    bulk_key bigint, stream_keys bigint[], stream_ids text[], expected bigint[],
    ev_write integer[], ev_offset bigint[], ev_type text[], ev_data json[],
    ev_metadata json[], ev_id uuid[], OUT base bigint, OUT actual bigint[]
) LANGUAGE plpgsql AS $$
DECLARE
    k bigint;
    i integer;
    total integer := coalesce(array_length(ev_id, 1), 0);
BEGIN
    PERFORM pg_advisory_xact_lock_shared(bulk_key);
    FOREACH k IN ARRAY stream_keys LOOP
        PERFORM pg_advisory_xact_lock(k);
    END LOOP;
    SELECT array_agg(coalesce(st.version, 0) ORDER BY w.ord) INTO actual
        FROM unnest(stream_ids) WITH ORDINALITY AS w(stream_id, ord)
        LEFT JOIN {s}.streams st ON st.stream_id = w.stream_id;
    FOR i IN 1 .. coalesce(array_length(stream_ids, 1), 0) LOOP
        IF NOT (expected[i] = {_EXPECT_ANY}
                OR (expected[i] = {_EXPECT_NO_STREAM} AND actual[i] = 0)
                OR (expected[i] = {_EXPECT_STREAM_EXISTS} AND actual[i] > 0)
                OR expected[i] = actual[i]) THEN
            RAISE EXCEPTION 'eventbench: expected version of stream % does not hold',
                stream_ids[i]
                USING ERRCODE = '{_WRONG_VERSION_STATE}', DETAIL = i || ' ' || actual[i];
        END IF;
    END LOOP;
    IF total = 0 THEN
        RETURN;
    END IF;
    UPDATE {s}.global_position SET last = last + total RETURNING last - total INTO base;
    INSERT INTO {s}.events (position, stream_id, stream_version, type, data, metadata, id)
        SELECT base + e.ord, stream_ids[e.w], actual[e.w] + e.off, e.type, e.data, e.meta, e.id
        FROM unnest(ev_write, ev_offset, ev_type, ev_data, ev_metadata, ev_id)
            WITH ORDINALITY AS e(w, off, type, data, meta, id, ord);
    INSERT INTO {s}.streams (stream_id, version)
        SELECT stream_ids[e.w], actual[e.w] + max(e.off)
        FROM unnest(ev_write, ev_offset) AS e(w, off) GROUP BY e.w
        ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version;
END $$;
"""


def _upgrades(s: str) -> dict[int, str]:
    """DDL taking a schema from layout version ``k`` to ``k + 1``."""
    return {1: _append_function(s)}


@dataclass(frozen=True, slots=True)
class _Sql:
    """Every statement the store runs, with its schema filled in once."""

    schema: str
    lock_streams: str
    append: str
    take_positions: str
    set_versions: str
    stream_version: str
    stream_versions: str
    stream_batch: str
    stream_collect: str
    """A collected read where generic plans cannot be asked for (see "Generic plans")."""
    last_position: str
    all_batch: str
    all_collect: str


def _statements(s: str) -> _Sql:
    """The statements for schema ``s`` (already quoted)."""
    cols = "stream_version, position, type, data, metadata, id, recorded_at"
    set_versions = f"""INSERT INTO {s}.streams (stream_id, version)
        SELECT * FROM unnest($1::text[], $2::bigint[])
        ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version"""
    return _Sql(
        schema=s,
        lock_streams=f"SELECT * FROM {s}.lock_streams($1, $2, $3)",
        append=(
            f"SELECT base, actual FROM {s}.append_events($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ),
        take_positions=f"UPDATE {s}.global_position SET last = last + $1 RETURNING last - $1",
        set_versions=set_versions,
        stream_version=f"SELECT version FROM {s}.streams WHERE stream_id = $1",
        stream_versions=(
            f"SELECT stream_id, version FROM {s}.streams WHERE stream_id = ANY ($1::text[])"
        ),
        # Row comparisons, not `stream_id = $1 AND stream_version > $2 AND ...`: the
        # same rows, but without statistics the planner costs the plain form as a few
        # rows and reads the whole remaining range with a bitmap scan and a sort for
        # every batch; these bounds it can only serve in order from the index.
        stream_batch=f"""SELECT {cols} FROM {s}.events
            WHERE (stream_id, stream_version) > ($1, $2)
              AND (stream_id, stream_version) <= ($1, $3)
            ORDER BY stream_id, stream_version LIMIT $4""",
        stream_collect=f"""SELECT {cols} FROM {s}.events
            WHERE stream_id = $1 AND stream_version > $2 ORDER BY stream_version""",
        last_position=f"SELECT last FROM {s}.global_position",
        # No upper bound here (the reader drops rows past it): without statistics the
        # planner costs `position > $1 AND position <= $2` as a few rows and may sort
        # a bitmap scan of the whole range; a one-sided range it reads in index order.
        all_batch=f"""SELECT stream_id, {cols} FROM {s}.events
            WHERE position > $1 ORDER BY position LIMIT $2""",
        all_collect=(
            f"SELECT stream_id, {cols} FROM {s}.events WHERE position > $1 ORDER BY position"
        ),
    )


def _encode_expected(expected: ExpectedVersion) -> int:
    if expected is StreamState.ANY:
        return _EXPECT_ANY
    if expected is StreamState.NO_STREAM:
        return _EXPECT_NO_STREAM
    if expected is StreamState.STREAM_EXISTS:
        return _EXPECT_STREAM_EXISTS
    # No stream reaches 2**63 - 1 events, so a larger expectation fails as it should.
    return min(int(expected), 2**63 - 1)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lock_key(*parts: str) -> int:
    """A signed 64-bit advisory-lock key; collisions only cost needless waiting."""
    digest = hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# --------------------------------------------------------------------------- decoding


_new_event = new_recorded_event


def _decode_stream_rows(stream_id: str) -> _Decoder:
    def decode(rows: list[_Row]) -> list[RecordedEvent]:
        loads = orjson.loads
        new_event = _new_event
        return [
            new_event(stream_id, v, p, t, loads(d), loads(m), i, ts)
            for v, p, t, d, m, i, ts in rows
        ]

    return decode


def _decode_all_rows(rows: list[_Row]) -> list[RecordedEvent]:
    loads = orjson.loads
    new_event = _new_event
    return [new_event(s, v, p, t, loads(d), loads(m), i, ts) for s, v, p, t, d, m, i, ts in rows]


async def _init_connection(conn: asyncpg.Connection) -> None:
    # JSON crosses the wire as bytes, untouched: the store encodes with orjson before
    # writing and decodes with orjson when it builds events, and raw_scan skips both.
    # json's binary form is its text, so asyncpg's own bytea codec passes it through
    # in C; an identity function as codec cost a Python call per value (see above).
    await conn.set_builtin_type_codec("json", schema="pg_catalog", codec_name="bytea")
    # Planned once, a read's batch statement is its index range scan; planning each
    # batch again cost the server half again its time (see "Generic plans"). Set here,
    # not among the pool's server_settings: a server before 12 has no such setting and
    # would refuse the connection.
    if _has_generic_plans(conn):
        await conn.execute("SET plan_cache_mode = force_generic_plan")


def _has_generic_plans(conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy) -> bool:
    """Whether the server can be asked to plan every statement generically (12+)."""
    return conn.get_server_version().major >= 12


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Pool reset: asyncpg still rolls back any open transaction. The default reset
    query's round trip is skipped: the store's only session state is what
    `_init_connection` sets when a connection opens, which its ``RESET ALL`` would
    undo."""


async def _fetch_batch(
    conn: _Conn, plan: _ReadPlan, last: int, bound: int, size: int
) -> list[_Row]:
    # A coroutine of its own, so that even a call on a connection the pool has
    # already taken back fails inside the task, where the reader turns it into
    # ReadInterrupted.
    rows: list[_Row] = await conn.fetch(plan.batch_sql, *plan.batch_args(last, bound, size))
    return rows


# --------------------------------------------------------------------------- the store


@dataclass(frozen=True, slots=True)
class _ReadPlan:
    """What a keyset read runs: the bound at open, then batches up to it."""

    what: str
    bound_sql: str
    bound_args: tuple[Any, ...]
    batch_sql: str
    batch_args: Callable[[int, int, int], tuple[Any, ...]]
    key_index: int
    """Column of the keyset key (stream_version or position) in a batch row."""
    start: int
    size: int
    resume_hint: str


class PostgresStore:
    """An `EventStore` in a PostgreSQL schema, through an asyncpg pool.

    ``dsn`` is a ``postgresql://`` URL (no ``schema`` parameter: pass ``schema``).
    Several stores, processes and machines may share one schema safely.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        pool_size: int = DEFAULT_POOL_SIZE,
        default_batch_size: int = DEFAULT_BATCH_SIZE,
        connect_timeout: float = 10.0,
    ) -> None:
        if not _SCHEMA_NAME.fullmatch(schema):
            raise ValueError(
                f"schema {schema!r} is not a plain identifier: use letters, digits and _, "
                "at most 63 characters, not starting with a digit"
            )
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise ValueError(f"pool_size must be a positive int, not {pool_size!r}")
        self._dsn = provision.normalize_dsn(dsn)
        self._schema = schema
        self._pool_size = pool_size
        self._default_batch_size = validate_batch_size(default_batch_size, DEFAULT_BATCH_SIZE)
        self._connect_timeout = connect_timeout
        self._sql = _statements(_quote_ident(schema))
        self._bulk_key = _lock_key(schema, "", "bulk")
        # Unique per store instance, so that cut_connections finds exactly its own.
        self._application_name = f"eventbench-{secrets.token_hex(6)}"
        self._pool: asyncpg.Pool | None = None
        self._monitor: asyncpg.Connection | None = None
        # Known once open; a server before 12 cannot be asked for generic plans, and
        # its collected reads then run statements of their own (see "Generic plans").
        self._generic_plans = True
        self._monitor_lock = asyncio.Lock()
        self._wait_s = 0.0
        self._acquires = 0
        self._waiting = 0

    def __repr__(self) -> str:
        return f"PostgresStore({provision.redact_dsn(self._dsn)!r}, schema={self._schema!r})"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(persistent=True, multi_process=True, unique_event_ids=True)

    @property
    def schema(self) -> str:
        return self._schema

    @property
    def location(self) -> str:
        """This store's URL (``open_store`` and ``temporary_store(location=)`` accept it);
        it holds the DSN's password, if any: never print it."""
        sep = "&" if "?" in self._dsn else "?"
        return (
            f"{self._dsn}{sep}schema={self._schema}&pool_size={self._pool_size}"
            f"&batch_size={self._default_batch_size}"
        )

    @property
    def dsn(self) -> str:
        """The DSN (it may hold a password: show it only through `redact_dsn`)."""
        return self._dsn

    def floor_scan(self, stream_id: str, *, batch_size: int | None = None) -> AsyncIterator[int]:
        """`SupportsFloorScan`: the stream's rows through asyncpg alone, counted per
        batch (the benchmark floor; see `_floor_scan` at the end of this module)."""
        return _floor_scan(self, stream_id, batch_size)

    # lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        if self._pool is not None:
            return
        pool = await self._create_pool(self._pool_size)
        try:
            await self._ensure_schema(pool)
            async with pool.acquire() as conn:
                self._generic_plans = _has_generic_plans(conn)
        except BaseException:
            pool.terminate()
            raise
        self._pool = pool

    async def _create_pool(self, size: int) -> asyncpg.Pool:
        try:
            return await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=size,
                init=_init_connection,
                reset=_no_reset,
                timeout=self._connect_timeout,
                server_settings={
                    "application_name": self._application_name,
                    # Reads are short keyset queries; JIT compiling a plan over a
                    # whole stream costs more than it saves (see the docstring).
                    "jit": "off",
                },
            )
        except (*_CONNECTION_LOST, asyncpg.PostgresError, TimeoutError) as exc:
            raise StoreUnavailable(
                join_sentences(
                    f"cannot connect to PostgreSQL at {provision.redact_dsn(self._dsn)}: {exc}",
                    "Check the server is running and the DSN (user, password, database) is right.",
                )
            ) from exc

    async def set_pool_size(self, size: int) -> None:
        """Hold at most ``size`` server connections; operations beyond wait their turn.

        (`harness.contract.SupportsPoolSize`.) asyncpg cannot resize a pool, so an open
        store swaps in a new pool of that size and closes the old one; call it while
        nothing is in flight.
        """
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"pool_size must be a positive int, not {size!r}")
        if size == self._pool_size:
            return
        self._pool_size = size
        old = self._pool
        if old is None:
            return
        self._pool = await self._create_pool(size)
        try:
            await asyncio.wait_for(old.close(), CLOSE_TIMEOUT_S)
        except TimeoutError:
            old.terminate()

    async def diagnostics(self) -> dict[str, float]:
        """Pool counters, and whether this store's sessions hold back the server's xmin
        horizon (`SupportsDiagnostics`), from ``pg_stat_activity`` over a connection of
        its own (never a pooled one: sampling must work while reads hold them all)."""
        pool = self._require_pool()
        out = {
            "pool_wait_s_total": self._wait_s,
            "pool_acquires_total": float(self._acquires),
            "connections_in_use": float(pool.get_size() - pool.get_idle_size()),
            "pool_waiting": float(self._waiting),
        }
        async with self._monitor_lock:
            try:
                if self._monitor is None or self._monitor.is_closed():
                    self._monitor = await asyncpg.connect(self._dsn, timeout=self._connect_timeout)
                row = await self._monitor.fetchrow(_XMIN_HELD, self._application_name)
            except (*_CONNECTION_LOST, asyncpg.PostgresError, TimeoutError) as exc:
                raise StoreUnavailable(f"cannot read pg_stat_activity: {exc}") from exc
        assert row is not None
        out["xmin_held"] = float(row[0])
        out["xmin_age"] = float(row[1])
        return out

    async def _ensure_schema(self, pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1)", _lock_key(self._schema, "", "ddl")
            )
            found = await conn.fetchval(
                "SELECT to_regclass($1) IS NOT NULL",
                f"{_quote_ident(self._schema)}.schema_info",
            )
            if not found:
                await conn.execute(_ddl(_quote_ident(self._schema)))
                return
            s = _quote_ident(self._schema)
            version = await conn.fetchval(f"SELECT max(version) FROM {s}.schema_info")
            upgrades = _upgrades(s)
            # Older layouts are upgraded in place, in this transaction: each step only
            # adds (layout 2 adds the append function), so the events stay as they are
            # and a seeded database need not be loaded again.
            while version in upgrades and version < SCHEMA_VERSION:
                await conn.execute(upgrades[version])
                version += 1
                await conn.execute(f"UPDATE {s}.schema_info SET version = $1", version)
        if version != SCHEMA_VERSION:
            raise StoreUnavailable(
                f"schema {self._schema!r} has eventbench layout version {version}; this "
                f"version of eventbench reads version {SCHEMA_VERSION} (and upgrades older "
                "ones). Use a newer eventbench, or another schema (?schema=...)."
            )

    async def aclose(self) -> None:
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            with contextlib.suppress(Exception):
                await monitor.close(timeout=CLOSE_TIMEOUT_S)
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT_S)
        except TimeoutError:
            # A read that was never closed still holds a connection: cut it.
            pool.terminate()

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

    def _require_pool(self) -> asyncpg.Pool:
        pool = self._pool
        if pool is None:
            raise StoreUnavailable(
                "this PostgresStore is not open: use `async with store:` or await store.open()"
            )
        return pool

    async def _acquire(self, pool: asyncpg.Pool) -> asyncpg.pool.PoolConnectionProxy:
        started = time.perf_counter()
        self._acquires += 1
        self._waiting += 1
        try:
            try:
                conn: asyncpg.pool.PoolConnectionProxy = await pool.acquire()
            except _CONNECTION_LOST:
                # A connection cut while the pool set it up for us (its reset, or a
                # reconnect): the pool replaces it, so one more try tells a lost
                # connection from a server that is down.
                conn = await pool.acquire()
        except (*_CONNECTION_LOST, TimeoutError) as exc:
            raise StoreUnavailable(
                join_sentences(
                    f"cannot get a PostgreSQL connection ({provision.redact_dsn(self._dsn)}): "
                    f"{exc}",
                    "Check the server is up.",
                )
            ) from exc
        finally:
            self._waiting -= 1
            self._wait_s += time.perf_counter() - started
        return conn

    # writes ------------------------------------------------------------------------

    async def append(self, *writes: StreamWrite) -> AppendResult:
        pool = self._require_pool()
        checked = validate_writes(writes, self.capabilities.max_event_bytes)
        if not checked:
            return AppendResult(versions={}, positions=())
        total = sum(len(w.events) for w in checked)
        violation: asyncpg.UniqueViolationError | None = None
        conn = await self._acquire(pool)
        try:
            if total >= COPY_THRESHOLD:
                async with conn.transaction():
                    base, versions = await self._append_with_copy(conn, checked)
            else:
                base, versions = await self._append_in_one_call(conn, checked)
        except asyncpg.UniqueViolationError as exc:
            violation = exc
        except _CONNECTION_LOST as exc:
            raise StoreUnavailable(
                f"the connection to PostgreSQL was lost during an append ({exc}); it may or "
                "may not have been committed: read the streams before retrying"
            ) from exc
        finally:
            await pool.release(conn)
        if violation is not None:
            # Mapped only now: finding the cause takes a connection, and with a pool of
            # one, the only connection was the one just released.
            raise await self._unique_violation(pool, violation, checked) from violation
        return AppendResult(versions=versions, positions=tuple(range(base + 1, base + total + 1)))

    def _stream_keys(self, writes: Sequence[Any]) -> list[int]:
        return sorted({_lock_key(self._schema, w.stream_id) for w in writes})

    async def _append_in_one_call(
        self, conn: _Conn, writes: Sequence[Any]
    ) -> tuple[int, dict[str, int]]:
        """The append as one statement (its own transaction): one round trip."""
        stream_ids = [w.stream_id for w in writes]
        expected = [_encode_expected(w.expected) for w in writes]
        ev_write: list[int] = []
        ev_offset: list[int] = []
        types: list[str] = []
        datas: list[bytes] = []
        metas: list[bytes] = []
        ids: list[uuid.UUID] = []
        for index, write in enumerate(writes, 1):
            for offset, (event, (data, meta)) in enumerate(
                zip(write.events, write.encoded, strict=True), 1
            ):
                ev_write.append(index)
                ev_offset.append(offset)
                types.append(event.type)
                datas.append(data)
                metas.append(meta)
                ids.append(event.id)
        try:
            row = await conn.fetchrow(
                self._sql.append,
                self._bulk_key,
                self._stream_keys(writes),
                stream_ids,
                expected,
                ev_write,
                ev_offset,
                types,
                datas,
                metas,
                ids,
            )
        except asyncpg.PostgresError as exc:
            if exc.sqlstate != _WRONG_VERSION_STATE:
                raise
            index, actual = (int(part) for part in (exc.detail or "").split())
            write = writes[index - 1]
            raise WrongExpectedVersion(write.stream_id, write.expected, actual) from None
        assert row is not None
        actual_versions: list[int] = row[1]
        versions = {
            w.stream_id: v + len(w.events) for w, v in zip(writes, actual_versions, strict=True)
        }
        return row[0] or 0, versions

    async def _append_with_copy(
        self, conn: _Conn, writes: Sequence[Any]
    ) -> tuple[int, dict[str, int]]:
        """A large append (inside the caller's transaction): locks and checks, then COPY."""
        stream_ids = [w.stream_id for w in writes]
        rows = await conn.fetch(
            self._sql.lock_streams, self._bulk_key, self._stream_keys(writes), stream_ids
        )
        current = {row[0]: row[1] for row in rows}
        versions: dict[str, int] = {}
        for write in writes:
            actual = current.get(write.stream_id, 0)
            check_expected_version(write.stream_id, write.expected, actual)
            versions[write.stream_id] = actual + len(write.events)
        base = await self._copy_events(conn, [w for w in writes if w.events], current)
        return base, versions

    async def _copy_events(self, conn: _Conn, writes: list[Any], current: dict[str, int]) -> int:
        total = sum(len(w.events) for w in writes)
        base: int = await conn.fetchval(self._sql.take_positions, total)

        def records() -> Any:
            position = base
            for write in writes:
                version = current.get(write.stream_id, 0)
                for event, (data, meta) in zip(write.events, write.encoded, strict=True):
                    position += 1
                    version += 1
                    yield (position, write.stream_id, version, event.type, data, meta, event.id)

        await self._copy(conn, records())
        await conn.execute(
            self._sql.set_versions,
            [w.stream_id for w in writes],
            [current.get(w.stream_id, 0) + len(w.events) for w in writes],
        )
        return base

    async def _copy(self, conn: _Conn, records: Any) -> None:
        await conn.copy_records_to_table(
            "events",
            schema_name=self._schema,
            columns=("position", "stream_id", "stream_version", "type", "data", "metadata", "id"),
            records=records,
        )

    async def _unique_violation(
        self, pool: asyncpg.Pool, exc: asyncpg.UniqueViolationError, checked: Sequence[Any]
    ) -> Exception:
        """Turn a unique violation into the contract's error (the append was rolled back)."""
        constraint = exc.constraint_name or ""
        if constraint.endswith("_id_key"):
            match = re.search(r"\(id\)=\(([0-9a-f-]{36})\)", exc.detail or "")
            if match:
                return DuplicateEventId(uuid.UUID(match.group(1)))
            ids = [e.id for w in checked for e in w.events]
            async with pool.acquire() as conn:
                found = await conn.fetchval(
                    f"SELECT id FROM {self._sql.schema}.events WHERE id = ANY ($1::uuid[]) LIMIT 1",
                    ids,
                )
            return DuplicateEventId(found if found is not None else ids[0])
        # A stream version was taken by a writer that raced past the locks: the
        # append lost; report the stream's version as it is now.
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                f"""SELECT stream_id, max(stream_version) FROM {self._sql.schema}.events
                    WHERE stream_id = ANY ($1::text[]) GROUP BY stream_id""",
                [w.stream_id for w in checked],
            )
        now = {row[0]: row[1] for row in rows}
        for write in checked:
            if write.events:
                return WrongExpectedVersion(
                    write.stream_id, write.expected, now.get(write.stream_id, 0)
                )
        return WrongExpectedVersion(checked[0].stream_id, checked[0].expected, 0)

    async def analyze(self) -> None:
        """Refresh the planner's statistics of this store's tables (``ANALYZE``)."""
        pool = self._require_pool()
        s = _quote_ident(self._schema)
        async with pool.acquire() as conn:
            await conn.execute(f"ANALYZE {s}.events, {s}.streams")

    async def settings(self) -> dict[str, str]:
        """The settings that move a measured figure: the store's pool and batch sizes,
        whether its tables were analyzed, and the server's settings as a session of
        this store sees them (``server.NAME``)."""
        pool = self._require_pool()
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1::text[])",
                list(_SERVER_SETTINGS),
            )
            analyzed = await conn.fetchval(
                "SELECT coalesce(bool_and(last_analyze IS NOT NULL OR last_autoanalyze IS NOT "
                "NULL), false) FROM pg_stat_user_tables WHERE schemaname = $1 "
                "AND relname IN ('events', 'streams')",
                self._schema,
            )
        out = {
            "pool_size": str(self._pool_size),
            "default_batch_size": str(self._default_batch_size),
            "analyzed": "yes" if analyzed else "no",
        }
        for row in sorted(rows, key=lambda r: str(r["name"])):
            unit = f" {row['unit']}" if row["unit"] else ""
            out[f"server.{row['name']}"] = f"{row['setting']}{unit}"
        return out

    async def bulk_load(self, events: Sequence[tuple[str, NewEvent]]) -> None:
        """Seed benchmark data with COPY in one transaction: like `append` with ANY,
        event by event, in the order given. Appends wait while it runs."""
        pool = self._require_pool()
        max_bytes = self.capabilities.max_event_bytes
        # Stream ids are checked up front (their versions are needed first); events
        # are checked and encoded as COPY consumes them, so a million encoded events
        # are never held at once. A bad one aborts the COPY: nothing is written.
        stream_ids = list(dict.fromkeys(validate_stream_id(s) for s, _ in events))
        if not stream_ids:
            return
        conn = await self._acquire(pool)
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", self._bulk_key)
                base: int = await conn.fetchval(self._sql.take_positions, len(events))
                rows = await conn.fetch(self._sql.stream_versions, stream_ids)
                versions = {row[0]: row[1] for row in rows}

                def records() -> Iterator[tuple[Any, ...]]:
                    position = base
                    for stream_id, event in events:
                        data, meta = validate_event(event, max_bytes)
                        position += 1
                        version = versions.get(stream_id, 0) + 1
                        versions[stream_id] = version
                        yield (position, stream_id, version, event.type, data, meta, event.id)

                await self._copy(conn, records())
                await conn.execute(
                    self._sql.set_versions, stream_ids, [versions[s] for s in stream_ids]
                )
        except asyncpg.UniqueViolationError as exc:
            match = re.search(r"\(id\)=\(([0-9a-f-]{36})\)", exc.detail or "")
            if match:
                raise DuplicateEventId(uuid.UUID(match.group(1))) from exc
            raise
        except _CONNECTION_LOST as exc:
            raise StoreUnavailable(
                f"the connection to PostgreSQL was lost during bulk_load ({exc}); nothing "
                "was written unless the commit had been sent: check before loading again"
            ) from exc
        finally:
            await pool.release(conn)

    # reads -------------------------------------------------------------------------

    async def stream_version(self, stream_id: str) -> int:
        pool = self._require_pool()
        validate_stream_id(stream_id)
        conn = await self._acquire(pool)
        try:
            version: int | None = await conn.fetchval(self._sql.stream_version, stream_id)
        except _CONNECTION_LOST as exc:
            raise StoreUnavailable(f"lost the PostgreSQL connection: {exc}; try again") from exc
        finally:
            await pool.release(conn)
        return version or 0

    def read_stream(
        self, stream_id: str, *, from_version: int = 0, batch_size: int | None = None
    ) -> EventStream:
        validate_stream_id(stream_id)
        start = validate_from(from_version, "from_version")
        size = validate_batch_size(batch_size, self._default_batch_size)
        plan = self._stream_plan(stream_id, start, size)
        decode = _decode_stream_rows(stream_id)
        return self._read(plan, decode, self._sql.stream_collect, (stream_id, start))

    def _stream_plan(self, stream_id: str, start: int, size: int) -> _ReadPlan:
        return _ReadPlan(
            what=f"stream {stream_id!r}",
            bound_sql=self._sql.stream_version,
            bound_args=(stream_id,),
            batch_sql=self._sql.stream_batch,
            batch_args=lambda last, bound, n: (stream_id, last, bound, n),
            key_index=0,
            start=start,
            size=size,
            resume_hint="from_version",
        )

    def read_all(self, *, after_position: int = 0, batch_size: int | None = None) -> EventStream:
        start = validate_from(after_position, "after_position")
        size = validate_batch_size(batch_size, self._default_batch_size)
        plan = self._all_plan(start, size)
        return self._read(plan, _decode_all_rows, self._sql.all_collect, (start,))

    def _all_plan(self, start: int, size: int) -> _ReadPlan:
        return _ReadPlan(
            what="all streams",
            bound_sql=self._sql.last_position,
            bound_args=(),
            batch_sql=self._sql.all_batch,
            batch_args=lambda last, bound, n: (last, n),
            key_index=2,
            start=start,
            size=size,
            resume_hint="after_position",
        )

    def _read(
        self, plan: _ReadPlan, decode: _Decoder, collect_sql: str, collect_args: tuple[Any, ...]
    ) -> EventStream:
        """A streamed read by ``plan``'s batches, collected by ``collect_sql`` where plans
        are made per execution; where they are generic, collected by the batch statement
        with neither bound nor limit (see "Generic plans")."""
        if self._generic_plans:
            collect_sql = plan.batch_sql
            collect_args = plan.batch_args(plan.start, _UNBOUNDED, _UNBOUNDED)

        async def batches() -> AsyncIterator[Sequence[RecordedEvent]]:
            rows = self._keyset_rows(plan)
            step = DECODE_CHUNK
            try:
                async for batch in rows:
                    if len(batch) <= step:
                        yield decode(batch)
                        continue
                    # Decoded and handed over a slice at a time, with a loop turn
                    # between slices: no step of the read holds the event loop for
                    # more than one slice, whatever the batch size.
                    for at in range(0, len(batch), step):
                        if at:
                            await asyncio.sleep(0)
                        yield decode(batch[at : at + step])
            finally:
                await rows.aclose()

        async def collect() -> list[RecordedEvent]:
            pool = self._require_pool()
            conn = await self._acquire(pool)
            try:
                rows = await conn.fetch(collect_sql, *collect_args)
            except _READ_LOST as exc:
                if not _lost(conn, exc):
                    raise
                raise ReadInterrupted(
                    f"the collected read of {plan.what} lost its PostgreSQL connection "
                    f"({exc}); nothing was returned: read again"
                ) from exc
            finally:
                await pool.release(conn)
            return decode(rows)

        return EventStream(batches, collect)

    def raw_scan(self, stream_id: str, *, batch_size: int | None = None) -> AsyncIterator[int]:
        """The rows of ``read_stream(stream_id)`` through the same batches, undecoded:
        yields each batch's row count (the floor a streamed read is measured against)."""
        validate_stream_id(stream_id)
        size = validate_batch_size(batch_size, self._default_batch_size)
        rows = self._keyset_rows(self._stream_plan(stream_id, 0, size))

        async def counts() -> AsyncIterator[int]:
            try:
                async for batch in rows:
                    yield len(batch)
            finally:
                await rows.aclose()

        return counts()

    async def _keyset_rows(self, plan: _ReadPlan) -> AsyncGenerator[list[_Row], None]:
        """Yield the rows of a streamed read batch by batch, one batch in flight ahead."""
        pool = self._require_pool()
        conn = await self._acquire(pool)
        pending: asyncio.Future[list[_Row]] | None = None
        last = plan.start
        try:
            try:
                bound: int = await conn.fetchval(plan.bound_sql, *plan.bound_args) or 0
            except _READ_LOST as exc:
                if not _lost(conn, exc):
                    raise
                raise self._interrupted(plan, last, exc) from exc
            if bound <= last:
                return
            # The first batch is at most one decoding slice, so that the first event
            # does not wait for a whole batch; the rest are full batches.
            first = min(plan.size, DECODE_CHUNK)
            pending = asyncio.ensure_future(_fetch_batch(conn, plan, last, bound, first))
            while pending is not None:
                try:
                    # Shielded: cancelling the reader must not cancel the query (which
                    # costs a second connection); the finally below waits for it.
                    rows = await asyncio.shield(pending)
                except _READ_LOST as exc:
                    if not _lost(conn, exc):
                        raise
                    raise self._interrupted(plan, last, exc) from exc
                pending = None
                key = plan.key_index
                if rows and rows[-1][key] > bound:
                    # Rows committed after the read opened (a query without an upper
                    # bound): not part of this read.
                    rows = rows[: bisect.bisect_right(rows, bound, key=lambda r: r[key])]
                if not rows:
                    raise self._interrupted(plan, last, None)
                last = rows[-1][key]
                if last < bound:
                    pending = asyncio.ensure_future(
                        _fetch_batch(conn, plan, last, bound, plan.size)
                    )
                    # One loop turn lets the request go out now, so the server works
                    # while this batch is decoded and consumed.
                    await asyncio.sleep(0)
                yield rows
        finally:
            await self._end_read(pool, conn, pending)

    async def _end_read(
        self,
        pool: asyncpg.Pool,
        conn: asyncpg.pool.PoolConnectionProxy,
        pending: asyncio.Future[list[_Row]] | None,
    ) -> None:
        try:
            if pending is not None:
                if not pending.done():
                    try:
                        await asyncio.wait({pending})
                    except asyncio.CancelledError:
                        # Cancelled again while waiting: do not hold the pool hostage.
                        conn.terminate()
                        pending.cancel()
                        raise
                if not pending.cancelled():
                    pending.exception()  # retrieved: a dead read is reported once, above
        finally:
            await pool.release(conn)

    def _interrupted(
        self, plan: _ReadPlan, last: int, exc: BaseException | None
    ) -> ReadInterrupted:
        cause = f"{exc}" if exc is not None else "a batch came back empty before the end"
        return ReadInterrupted(
            f"the streamed read of {plan.what} was interrupted after {plan.resume_hint} "
            f"{last} ({cause}); the events seen are not the whole read. Read again with "
            f"{plan.resume_hint}={last} to continue."
        )

    # fault injection ---------------------------------------------------------------

    async def cut_connections(self) -> None:
        """Terminate every server connection of this store (as a network failure would);
        reads in flight raise `ReadInterrupted`, and the pool reconnects afterwards."""
        pool = self._require_pool()
        conn = await asyncpg.connect(self._dsn, timeout=self._connect_timeout)
        try:
            wait = ", 5000" if conn.get_server_version().major >= 14 else ""
            await conn.fetch(
                f"SELECT pg_terminate_backend(pid{wait}) FROM pg_stat_activity "
                "WHERE application_name = $1 AND pid <> pg_backend_pid()",
                self._application_name,
            )
        finally:
            await conn.close()
        await pool.expire_connections()


# --------------------------------------------------------------------------- factories


def _split_url(url: str) -> tuple[str, dict[str, str]]:
    """The DSN with eventbench's own query parameters removed, and those parameters."""
    if not isinstance(url, str):
        raise ValueError(f"a PostgreSQL store URL is a string, not {type(url).__name__}")
    parts = urlsplit(provision.normalize_dsn(url))
    ours: dict[str, str] = {}
    kept: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in ("schema", "pool_size", "batch_size"):
            ours[key] = value
        else:
            kept.append((key, value))
    dsn = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), parts.fragment))
    return dsn, ours


def open_store(url: str) -> PostgresStore:
    """A store at ``postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE[?schema=NAME]`` (not
    yet opened). ``pool_size`` and ``batch_size`` query parameters are accepted too."""
    dsn, params = _split_url(url)
    return PostgresStore(dsn, **_options(params))


def _options(params: dict[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if "schema" in params:
        options["schema"] = params["schema"]
    for key, option in (("pool_size", "pool_size"), ("batch_size", "default_batch_size")):
        if key in params:
            try:
                options[option] = int(params[key])
            except ValueError:
                raise ValueError(
                    f"{key} in the store URL must be an int, not {params[key]!r}"
                ) from None
    return options


@contextlib.asynccontextmanager
async def temporary_store(
    location: str | None = None, *, server: str | None = None
) -> AsyncIterator[PostgresStore]:
    """A fresh, empty, open store in a new schema of this process's throwaway database;
    the schema is dropped on exit (the database when the process ends).

    With ``location`` (a store's `PostgresStore.location`): another instance over that
    store's schema, which is left as it is on exit. With ``server`` (a store URL, as
    `open_store` takes it), the new schema is made in that URL's database instead, with
    its ``pool_size`` and ``batch_size``; its ``schema`` is ignored, since every store
    gets a schema of its own.
    """
    if location is not None:
        async with open_store(location) as other:
            yield other
        return
    options: dict[str, Any] = {}
    if server is None:
        try:
            dsn = await provision.process_database()
        except provision.PostgresUnavailable as exc:
            raise StoreUnavailable(str(exc)) from None
    else:
        dsn, params = _split_url(server)
        options = _options(params)
    options["schema"] = f"t_{secrets.token_hex(6)}"
    store = PostgresStore(dsn, **options)
    await store.open()  # fails before anything exists to drop
    try:
        async with store:
            yield store
    finally:
        await asyncio.shield(_drop_schema(store.dsn, store.schema))


async def _drop_schema(dsn: str, schema: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {_quote_ident(schema)} CASCADE")
    finally:
        await conn.close()


def availability() -> str | None:
    """None when a PostgreSQL server can be used (see `harness.provision`), else why not."""
    return provision.availability()


async def server_version() -> str:
    """The server's version, as results record it (e.g. ``PostgreSQL 15.20``)."""
    return await provision.server_version()


# --------------------------------------------------------------------------- the floor
#
# `SupportsFloorScan`, kept apart from the store's read path on purpose: nothing here
# goes through `_keyset_rows`, `_acquire`, the prefetch or the decoders. The store's
# only tie to it is the `floor_scan` method that calls `_floor_scan`.

FLOOR_BATCH_SIZE: Final = 1000
"""Rows per page of the floor when the read names no batch size: the fastest plain
fetch measured (see `_floor_scan`)."""
FLOOR_BOUND: Final = _UNBOUNDED
"""The largest stream version there can be: the floor's pages need no bound query."""


async def _floor_scan(
    store: PostgresStore, stream_id: str, batch_size: int | None
) -> AsyncGenerator[int, None]:
    """The physical floor of a stream read: asyncpg's fastest plain fetch, alone.

    Keyset pages of ``FLOOR_BATCH_SIZE`` rows (or the read's batch size when it names
    one), each a plain ``fetch`` of the store's own batch statement (the same columns,
    the same index range scan in version order) bounded by `FLOOR_BOUND`, one after
    the other; a short page ends the read. Rows are counted, never decoded: JSON
    crosses as bytes (the pool's codec) and no event is built.

    The connection is one of the store's asyncpg pool, taken with asyncpg's own
    ``Pool.acquire`` (not the store's accounting wrapper): the sessions the store's
    reads use, with their settings (``jit`` off, JSON as bytes), and no second server
    connection to set up the same way. What the floor leaves out is the store: its
    bound query, its prefetch, its checks and its decoding.

    Why keyset pages of 1,000: 100K rows, 9 interleaved rounds, medians relative to
    the fastest, two runs (``python scripts/floor_variants.py postgres 100000 9``; the
    shared 2-core machine was loaded, so ratios only)::

                                                     run 1    run 2
        keyset pages of 250                          1.87x    1.52x
        keyset pages of 1,000                        1.00x    1.03x
        keyset pages of 5,000                        1.28x    1.12x
        a server-side cursor, fetch(1000)            1.15x    1.25x
        one fetch of the whole stream                1.29x    1.00x

    One fetch was level with pages of 1,000 once and slower once, and it holds the
    whole stream in memory: no floor for a read that streams.
    """
    validate_stream_id(stream_id)
    size = validate_batch_size(batch_size, FLOOR_BATCH_SIZE)
    pool = store._require_pool()
    sql = store._sql.stream_batch
    async with pool.acquire() as conn:
        last = 0
        while True:
            rows = await conn.fetch(sql, stream_id, last, FLOOR_BOUND, size)
            if rows:
                last = rows[-1][0]
                yield len(rows)
            if len(rows) < size:
                return
