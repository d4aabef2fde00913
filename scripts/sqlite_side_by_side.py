"""Side-by-side SQLite read measurements behind the figures in backends/sqlite.py.

    python scripts/sqlite_side_by_side.py --sizes 100000,1000000 --rounds 5 --memory

    # against another tree (e.g. main before a change), interleaved in the same run:
    mkdir /tmp/base && git archive main | tar -x -C /tmp/base
    python scripts/sqlite_side_by_side.py --base /tmp/base \
        --modes floor,raw,raw@base,streamed,streamed@base,fold,fold@base

Seeds one file per size (the read-stream layout: one stream, ~250-byte events, seed 0,
kept in ``--dir`` and reused), then runs each read in a fresh process, interleaved
(every mode once per round, in turn), and prints medians:

- ``floor``: bare sqlite3, ``fetchmany(1000)`` on the store's stream query, no decoding;
- ``raw``: `SqliteStore.raw_scan` at the default batch size (rows fetched, not decoded);
- ``streamed``: ``async for`` over every event of `SqliteStore.read_stream`;
- ``fold``: the same, folding each event into scenarios/fold.py's ``Account``;
- ``collected``: ``read_stream(...).collect()``;
- ``decode``: the store's row decoder alone on rows already fetched (thread CPU time,
  least of 9 passes; not run unless named in ``--modes``).

Each worker also records its time to first event and the event loop's longest stall
(`harness.instruments.stall.LoopWatch`, 1 ms ticks: the longest single step that held
the loop, plus up to ~1 ms of epoll rounding). ``--memory`` adds a pass of streamed
reads under tracemalloc at the smallest and largest size (peak traced bytes during the
read; tracemalloc slows the read, so those runs are not timed).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from backends.sqlite import SqliteStore
from harness import seed
from harness.instruments.stall import LoopWatch
from scenarios.base import Layout
from scenarios.fold import Account

LAYOUT = Layout(streams=1, payload_bytes=250, seed=0)
STREAM = LAYOUT.stream_id(0)
MODES = ("floor", "raw", "streamed", "fold", "collected")
FLOOR_SQL = (
    "SELECT stream_version, position, type, data, metadata, event_id, recorded_at "
    "FROM events WHERE stream_id = ? AND stream_version > ? ORDER BY stream_version"
)


class StepWatch:
    """The longest single step the loop ran, in the loop thread's CPU time.

    Every callback and task step the loop runs goes through ``Handle._run``; timing it
    with the thread's CPU clock leaves out the time the process waited for a core,
    which a tick's wall-clock lateness (LoopWatch) counts on a shared machine.
    """

    def __init__(self) -> None:
        self.max_s = 0.0
        self._original = asyncio.events.Handle._run

    def start(self) -> None:
        original = self._original
        clock = time.thread_time

        def timed(handle: asyncio.events.Handle) -> None:
            started = clock()
            original(handle)
            self.max_s = max(self.max_s, clock() - started)

        asyncio.events.Handle._run = timed  # type: ignore[method-assign, assignment]

    def stop(self) -> float:
        asyncio.events.Handle._run = self._original  # type: ignore[method-assign]
        return self.max_s


def db_path(directory: Path, size: int) -> Path:
    return directory / f"{LAYOUT.key(size)}.db"


async def seed_file(path: Path, size: int) -> None:
    if path.exists():  # noqa: ASYNC240 (no read runs yet: nothing to block)
        return
    partial = path.with_suffix(".partial")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240
    print(f"seeding {size} events into {path} ...", file=sys.stderr, flush=True)
    async with SqliteStore(partial, synchronous="OFF") as store:
        await seed.load(store, LAYOUT, size)
    partial.rename(path)


def floor(path: Path) -> dict[str, float]:
    cpu_started = time.process_time()
    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    cursor = conn.execute(FLOOR_SQL, (STREAM, 0))
    first = 0.0
    count = 0
    while rows := cursor.fetchmany(1000):
        if not count:
            first = time.perf_counter() - started
        count += len(rows)
    conn.close()
    total = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return {"total_s": total, "cpu_s": cpu, "first_s": first, "events": count}


async def store_read(path: Path, mode: str, memory: bool) -> dict[str, float]:
    async with SqliteStore(path) as store:
        watch = LoopWatch()
        steps = StepWatch()
        if memory:
            tracemalloc.start()
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
        watch.start()
        steps.start()
        cpu_started = time.process_time()
        started = time.perf_counter()
        first = 0.0
        count = 0
        if mode == "raw":
            async for rows in store.raw_scan(STREAM):
                if not count:
                    first = time.perf_counter() - started
                count += rows
        elif mode in ("streamed", "fold"):
            account = Account()
            apply = account.apply
            async with store.read_stream(STREAM) as events:
                async for event in events:
                    if not count:
                        first = time.perf_counter() - started
                    if mode == "fold":
                        apply(event)
                    count += 1
        elif mode == "collected":
            collected = await store.read_stream(STREAM).collect()
            first = time.perf_counter() - started
            count = len(collected)
            del collected
        else:
            raise ValueError(mode)
        total = time.perf_counter() - started
        cpu_total = time.process_time() - cpu_started
        stall = watch.stop()
        out = {"total_s": total, "cpu_s": cpu_total, "first_s": first, "events": count, **stall}
        out["step_cpu_s"] = steps.stop()
        if memory:
            out["peak_bytes"] = tracemalloc.get_traced_memory()[1] - base
            tracemalloc.stop()
        return out


def decode(path: Path) -> dict[str, float]:
    """The store's row decoder alone, on rows fetched beforehand: the loop thread's CPU
    time per row, the least of 9 passes (batches of the default size)."""
    from backends import sqlite as module

    conn = sqlite3.connect(path)
    rows = conn.execute(FLOOR_SQL, (STREAM, 0)).fetchall()
    conn.close()
    size = module.DEFAULT_BATCH_SIZE_SQLITE
    best = float("inf")
    for _ in range(9):
        decoder = module._Decoder()
        started = time.thread_time()
        for start in range(0, len(rows), size):
            decoder.stream_rows(STREAM, rows[start : start + size])
        best = min(best, time.thread_time() - started)
    return {
        "total_s": best,
        "cpu_s": best,
        "ns_per_row": best / len(rows) * 1e9,
        "events": len(rows),
    }


BREAKDOWN_STEPS = {
    "rows": "the rows themselves, no events (the stream's own machinery)",
    "events": "events built from the undecoded text (nothing parsed)",
    "data": "events with data parsed; metadata, id and time left as text",
    "full": "the store as it is (data, metadata, id and time decoded)",
}


@functools.cache
def _breakdown_decoders() -> dict[str, Any]:
    """Stand-ins for the store's decoder that stop after one more step each: what a
    streamed read would cost if that step and those after it were free (lazily done).
    Built once, before any is swapped in, so that "full" stays the store's own."""
    import orjson

    from backends import sqlite as module
    from harness.contract import new_recorded_event as new_event

    def rows(self: Any, stream_id: str, rows: Any) -> Any:
        return rows

    def events(self: Any, stream_id: str, rows: Any) -> Any:
        return [new_event(stream_id, v, p, t, d, m, i, r) for v, p, t, d, m, i, r in rows]

    def data(self: Any, stream_id: str, rows: Any) -> Any:
        loads = orjson.loads
        return [new_event(stream_id, v, p, t, loads(d), m, i, r) for v, p, t, d, m, i, r in rows]

    return {"rows": rows, "events": events, "data": data, "full": module._Decoder.stream_rows}


BREAKDOWN_CELLS = [
    ("floor", ""),
    ("raw", ""),
    *(("streamed", step) for step in BREAKDOWN_STEPS),
    ("fold", "data"),
    ("fold", "full"),
]


async def _breakdown_read(store: SqliteStore, path: Path, mode: str) -> int:
    if mode == "floor":
        return int(floor(path)["events"])
    count = 0
    if mode == "raw":
        async for rows in store.raw_scan(STREAM):
            count += rows
        return count
    account = Account()
    apply = account.apply
    async with store.read_stream(STREAM) as events:
        async for event in events:
            if mode == "fold":
                apply(event)
            count += 1
    return count


def _use_decoder(step: str) -> None:
    from backends import sqlite as module

    module._Decoder.stream_rows = _breakdown_decoders()[step]  # type: ignore[method-assign]


async def breakdown(path: Path, size: int, rounds: int) -> dict[tuple[str, str], float]:
    """Where a streamed read's CPU goes, step by step, in one warm process: every variant
    in turn each round, the least process CPU time of ``rounds`` (the run least
    disturbed by the rest of a shared machine). Prints the garbage collections of the
    last round; returns seconds per cell."""
    import gc

    best: dict[tuple[str, str], float] = {}
    collections: dict[tuple[str, str], str] = {}
    async with SqliteStore(path) as store:
        for _ in range(rounds):
            for mode, step in BREAKDOWN_CELLS:
                _use_decoder(step or "full")
                gc.collect()
                before = [g["collections"] for g in gc.get_stats()]
                started = time.process_time()
                count = await _breakdown_read(store, path, mode)
                took = time.process_time() - started
                after = [g["collections"] for g in gc.get_stats()]
                collections[mode, step] = "/".join(
                    str(a - b) for a, b in zip(after, before, strict=True)
                )
                if count != size:
                    raise SystemExit(f"{mode} {step} read {count} events of {size}")
                best[mode, step] = min(best.get((mode, step), took), took)
        _use_decoder("full")
    print(f"collections (gen 0/1/2) in the last round: {collections}")
    return best


async def breakdown_worker(path: Path, mode: str, step: str, reads: int) -> None:
    """One process of the instruction-count breakdown: a warm-up read, then ``reads``
    more (cachegrind counts the whole process; 1 read less 0 reads is one read)."""
    import gc

    _use_decoder(step or "full")
    async with SqliteStore(path) as store:
        await _breakdown_read(store, path, mode)
        for _ in range(reads):
            gc.collect()
            await _breakdown_read(store, path, mode)
        gc.collect()


def breakdown_instructions(path: Path) -> dict[tuple[str, str], float]:
    """Instructions of one read per cell, by cachegrind: (warm-up + 1 read) less
    (warm-up alone), each in its own process under valgrind. Noise cannot move them."""
    import tempfile

    from harness.instruments.instructions import read_count, valgrind_command

    counts: dict[tuple[str, str], float] = {}
    for mode, step in BREAKDOWN_CELLS:
        totals = []
        for reads in (0, 1):
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "cachegrind.out"
                args = [sys.executable, __file__, "--breakdown-worker", mode, step or "-",
                        "--path", str(path), "--reads", str(reads)]  # fmt: skip
                env = {**os.environ, "PYTHONHASHSEED": "0"}
                done = subprocess.run(
                    valgrind_command(out) + args, env=env, capture_output=True, text=True
                )
                if done.returncode:
                    raise SystemExit(f"{mode} {step} failed under valgrind:\n{done.stderr}")
                count = read_count(out)
                if count is None:
                    raise SystemExit(f"no instruction count in {out}")
                totals.append(count)
        counts[mode, step] = float(totals[1] - totals[0])
        print(f"{mode} {step}: {counts[mode, step]:,.0f} instructions", file=sys.stderr)
    return counts


def print_breakdown(cost: dict[tuple[str, str], float], size: int, unit: str) -> None:
    floor_cost, raw_cost = cost["floor", ""], cost["raw", ""]
    print(f"{'read':<16} {unit + '/event':>14} {'x floor':>7} {'x raw':>6}")
    for mode, step in BREAKDOWN_CELLS:
        value = cost[mode, step]
        name = f"{mode} {step}".strip()
        print(
            f"{name:<16} {value / size:>14.0f} {value / floor_cost:>7.2f} {value / raw_cost:>6.2f}"
        )
    for step, what in BREAKDOWN_STEPS.items():
        print(f"  {step}: {what}")


async def profile_streamed(path: Path) -> None:
    """cProfile of ``async for`` over every event, after one warm-up read."""
    import cProfile
    import pstats

    async with SqliteStore(path) as store:

        async def read() -> None:
            async with store.read_stream(STREAM) as events:
                async for _ in events:
                    pass

        await read()
        profiler = cProfile.Profile()
        profiler.enable()
        await read()
        profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def worker(mode: str, path: Path, memory: bool) -> None:
    if mode == "floor":
        result = floor(path)
    elif mode == "decode":
        result = decode(path)
    else:
        result = asyncio.run(store_read(path, mode, memory))
    print(json.dumps(result))


def run_worker(
    mode: str, path: Path, memory: bool = False, base: str | None = None
) -> dict[str, float]:
    """Run one read in a fresh process; ``MODE@base`` runs it on the tree at ``base``."""
    mode, _, variant = mode.partition("@")
    args = [sys.executable, __file__, "--worker", mode, "--path", str(path)]
    if memory:
        args.append("--memory")
    env = dict(os.environ)
    if variant:
        trees = dict(item.partition("=")[::2] for item in (base or "").split(",") if "=" in item)
        if base and "=" not in base:
            trees["base"] = base
        if variant not in trees:
            raise SystemExit(f"mode {mode}@{variant} needs --base {variant}=DIR (a tree's copy)")
        env["PYTHONPATH"] = trees[variant]
    done = subprocess.run(args, check=True, capture_output=True, text=True, env=env)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def fmt_ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1e3:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--dir", default="/tmp/eventbench-sqlite-side-by-side")
    parser.add_argument("--memory", action="store_true", help="also measure peak memory")
    parser.add_argument("--memory-sizes", default="10000,1000000")
    parser.add_argument(
        "--base",
        help="a copy of another tree (git archive main | tar -x -C DIR) for modes "
        "named MODE@base, e.g. --modes floor,raw,streamed,streamed@base; or several "
        "as NAME=DIR,NAME=DIR for modes MODE@NAME",
    )
    parser.add_argument(
        "--profile",
        type=int,
        metavar="N",
        help="instead: cProfile one warm streamed read of N events (top functions by own time)",
    )
    parser.add_argument(
        "--breakdown",
        type=int,
        metavar="N",
        help="instead: a streamed read of N events step by step (decoding steps left out "
        "one at a time; the least CPU time of --rounds, in one process)",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="with --breakdown: count instructions (cachegrind) instead of CPU time",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--breakdown-worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--reads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.breakdown_worker:
        mode, step = args.breakdown_worker
        asyncio.run(breakdown_worker(Path(args.path), mode, "" if step == "-" else step,
                                     args.reads))  # fmt: skip
        return
    if args.worker:
        worker(args.worker, Path(args.path), args.memory)
        return
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    if args.profile:
        asyncio.run(seed_file(db_path(directory, args.profile), args.profile))
        asyncio.run(profile_streamed(db_path(directory, args.profile)))
        return
    if args.breakdown:
        asyncio.run(seed_file(db_path(directory, args.breakdown), args.breakdown))
        path, size = db_path(directory, args.breakdown), args.breakdown
        if args.instructions:
            print(f"instructions of one warm read (cachegrind), {size:,} events")
            print_breakdown(breakdown_instructions(path), size, "instructions")
        else:
            best = asyncio.run(breakdown(path, size, args.rounds))
            print(f"least CPU time of {args.rounds} rounds, one process, {size:,} events")
            print_breakdown({cell: took * 1e9 for cell, took in best.items()}, size, "ns")
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    memory_sizes = [int(s) for s in args.memory_sizes.split(",")] if args.memory else []
    modes = args.modes.split(",")
    for size in {*sizes, *memory_sizes}:
        asyncio.run(seed_file(db_path(directory, size), size))
    results: dict[tuple[int, str], list[dict[str, float]]] = {}
    for r in range(args.rounds):
        for size in sizes:
            for mode in modes:
                result = run_worker(mode, db_path(directory, size), base=args.base)
                if result["events"] != size:
                    raise SystemExit(f"{mode} at {size} read {result['events']} events")
                results.setdefault((size, mode), []).append(result)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    def med(size: int, mode: str, key: str) -> float:
        values = [res[key] for res in results.get((size, mode), []) if key in res]
        return statistics.median(values) if values else float("nan")

    print(
        f"median of {args.rounds} fresh-process runs, interleaved; SQLite "
        f"{sqlite3.sqlite_version}; wall = elapsed time, cpu = the process's CPU time"
    )
    print(
        f"{'N':>8} {'mode':<16} {'wall/floor':>10} {'wall/raw':>8} {'cpu/floor':>9} "
        f"{'cpu/raw':>7} {'first':>9} {'stall max':>10} {'max step':>9}"
    )
    for size in sizes:
        base, base_cpu = med(size, "floor", "total_s"), med(size, "floor", "cpu_s")
        raw, raw_cpu = med(size, "raw", "total_s"), med(size, "raw", "cpu_s")
        for mode in modes:
            total, cpu = med(size, mode, "total_s"), med(size, mode, "cpu_s")
            stall, step = med(size, mode, "stall_max_s"), med(size, mode, "step_cpu_s")
            print(
                f"{size:>8} {mode:<16} {total / base:>10.2f} {total / raw:>8.2f} "
                f"{cpu / base_cpu:>9.2f} {cpu / raw_cpu:>7.2f} "
                f"{fmt_ms(med(size, mode, 'first_s')):>9} {fmt_ms(stall):>10} {fmt_ms(step):>9}"
            )
    if memory_sizes:
        peaks = {}
        for size in memory_sizes:
            runs = [run_worker("streamed", db_path(directory, size), memory=True) for _ in range(3)]
            peaks[size] = statistics.median(run["peak_bytes"] for run in runs)
            print(f"streamed peak (tracemalloc) at {size}: {peaks[size] / 1024:.0f} KiB")
        low, high = min(memory_sizes), max(memory_sizes)
        print(f"peak {high} / peak {low}: {peaks[high] / peaks[low]:.2f}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
