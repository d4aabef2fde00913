"""Why does the same timed run take a different time in each fresh process? A screen of
process-level settings, each interleaved against the default process by process.

    python scripts/process_noise.py --workload loop --procs 16
    python scripts/process_noise.py --workload stream --size 100000 --procs 16

Each "process" is a fresh child (``--child``) started under one config; the configs
take turns (round r starts at config r mod n, so none always runs first). A child
either runs a pure-Python loop (``loop``) or seeds the memory store's variant store
(tests/variant_backends.py) and times its streamed read of ``--size`` events through
`harness.instruments.timer.Clock`, as `harness.worker` does (``stream``). Around every
timed run it also records this process's scheduler wait (/proc/self/schedstat
run_delay), the machine's steal time (/proc/stat), involuntary context switches and
minor faults, so that slow processes can be matched with waiting or stealing.

Configs (see `CONFIGS`): ``default`` (as `harness.runner.spawn_worker` starts a worker:
PYTHONHASHSEED=0), ``norand`` (under ``setarch -R``: no address-space randomisation),
``pin`` (sched_setaffinity to one core, alternating by round), ``malloc``
(PYTHONMALLOC=malloc), ``thp`` (glibc malloc asked for transparent huge pages),
``gcfreeze`` (gc.freeze() after seeding, gc disabled while timed), ``norand+pin``.

Findings on this 2-core Firecracker VM (Linux 6.18, Python 3.11), shared with other
sessions' benchmarks and tests (sd of log of a process's fastest run, 16 processes a
config; the bootstrap intervals are wide, about +-40%):

* ``--workload stream --procs 16 --configs default,nice,fifo,norand+pin`` (load
  average 3.7-6.0): wall time 0.25 default, 0.21 nice -20, 0.22 norand+pin, 0.03
  fifo; wall time less run_delay 0.02-0.03 and CPU time 0.02-0.03 under every config.
  The slow processes are the ones that waited for a core (corr(log wall, run_delay
  share of the run) +0.68); steal time stayed ~0 (corr +0.00 in the screen below).
  nice does not help because the competing processes are in other cgroups.
* ``--workload stream --procs 16`` with ``--configs default,norand,pin,malloc,thp,
  gcfreeze,norand+pin`` (load 2.4-3.7): CPU time 0.04 default, 0.05 norand, 0.04 pin,
  0.08 malloc, 0.07 thp, 0.04 gcfreeze, 0.03 norand+pin; malloc and thp also make the
  read 2.1x and 1.5x slower. (That screen read run_delay around the clock's
  gc.collect() too, so its "net_s" lines overstate the wait: ignore them.)
* ``--workload loop --procs 16 --configs default,norand,pin,malloc,thp,gcfreeze,
  norand+pin``: CPU time 0.016-0.030 under every config.

So the between-process spread of CPU time has no controllable source among these (it
is 2-7% here, against the 14-17% once measured under a load average of 11), and
that of wall time is the wait for a core: `harness.runner` now times under
SCHED_FIFO where it may (`harness.runner.timed_scheduling`).

Printed per config: the spread of a process's fastest run between processes (sd of
log, ~ relative spread, with a bootstrap 90% interval), the median spread within a
process, and, pooled over configs, how much of a process's fastest time the
scheduler wait and steal explain. Load average is recorded with every process.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import math
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"

ADDR_NO_RANDOMIZE = 0x0040000

CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "norand": {"norand": True},
    "pin": {"pin": True},
    "malloc": {"env": {"PYTHONMALLOC": "malloc"}},
    "thp": {"env": {"PYTHONMALLOC": "malloc", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}},
    "gcfreeze": {"child": ["--gc-freeze"]},
    "norand+pin": {"norand": True, "pin": True},
    "nice": {"nice": -20},
    "fifo": {"fifo": 1},
}


# ------------------------------------------------------------------------- child


def _run_delay_ns() -> int:
    with open("/proc/self/schedstat") as f:
        return int(f.read().split()[1])


def _steal_ticks() -> int:
    with open("/proc/stat") as f:
        return int(f.readline().split()[8])


def _snapshot() -> tuple[int, int, int, int]:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return _run_delay_ns(), _steal_ticks(), use.ru_nivcsw, use.ru_minflt


def _loop_once(n: int) -> None:
    total = 0
    for i in range(n):
        d = {"a": i, "b": str(i)}
        total += len(str(d["b"]))


async def _child(args: argparse.Namespace) -> dict[str, Any]:
    from harness import seed
    from harness.instruments.stall import DEFAULT_TICK_S, LoopWatch
    from scenarios import get_scenario
    from scenarios.base import Outcome, Probe, RunContext

    runs: list[dict[str, float]] = []
    frozen = False

    async def timed(workload: Any, ctx: Any) -> None:
        # As `Clock.measure` times a run, with this process's scheduler wait, steal,
        # switches and faults read just inside the clock.
        nonlocal frozen
        if args.gc_freeze and not frozen:
            gc.collect()
            gc.freeze()
            frozen = True
        gc.collect()
        if args.gc_freeze:
            gc.disable()
        watch = LoopWatch(DEFAULT_TICK_S)
        watch.start()
        before = _snapshot()
        cpu_started = time.process_time_ns()
        started = time.perf_counter_ns()
        await workload(ctx)
        ended = time.perf_counter_ns()
        cpu_ended = time.process_time_ns()
        after = _snapshot()
        watch.stop()
        if args.gc_freeze:
            gc.enable()
        runs.append(
            {
                "total_s": (ended - started) / 1e9,
                "cpu_s": (cpu_ended - cpu_started) / 1e9,
                "run_delay_s": (after[0] - before[0]) / 1e9,
                "steal_s": (after[1] - before[1]) / os.sysconf("SC_CLK_TCK"),
                "nivcsw": after[2] - before[2],
                "minflt": after[3] - before[3],
            }
        )

    if args.workload == "loop":

        async def loop(ctx: Any) -> Outcome:
            _loop_once(args.size)
            return Outcome(events=args.size, result=None)

        for _ in range(args.repeats + 1):  # the first is the warm-up
            # No store: the loop needs only the context the clock reads its probe from.
            ctx = RunContext(None, "loop", args.size, {}, Probe(), 0, None)  # type: ignore[arg-type]
            await timed(loop, ctx)
    else:
        sys.path.insert(0, str(TESTS))
        from variant_backends import variant_store

        scenario = get_scenario("read-stream")
        params = scenario.resolve({})
        assert scenario.layout is not None
        layout = scenario.layout(params)
        async with variant_store() as store:
            await seed.load(store, layout, args.size)
            for i in range(args.repeats + 1):  # the first is the warm-up (the cold run)
                ctx = RunContext(store, "streamed", args.size, params, Probe(), i, layout)
                await timed(scenario.run, ctx)
    maps = Path("/proc/self/maps").read_text()  # noqa: ASYNC240 (procfs, instant)
    text_base = int(maps.split("-", 1)[0], 16)
    return {
        "runs": runs,
        "cpu": sorted(os.sched_getaffinity(0)),
        "personality": ctypes.CDLL(None).personality(0xFFFFFFFF),
        "text_base": text_base,
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "policy": os.sched_getscheduler(0),
        "heap_obj": id(object()),
    }


# ------------------------------------------------------------------------- parent


def _spawn(config: str, index: int, args: argparse.Namespace) -> dict[str, Any]:
    spec = CONFIGS[config]
    cmd = [sys.executable, __file__, "--child", "--workload", args.workload]
    cmd += ["--size", str(args.size), "--repeats", str(args.repeats), *spec.get("child", [])]
    if spec.get("norand"):
        cmd = ["setarch", platform.machine(), "-R", *cmd]
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": pythonpath, **spec.get("env", {})}
    core = index % 2

    def preexec() -> None:
        if spec.get("pin"):
            os.sched_setaffinity(0, {core})
        if "nice" in spec:
            os.setpriority(os.PRIO_PROCESS, 0, spec["nice"])
        if "fifo" in spec:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(spec["fifo"]))

    load = os.getloadavg()[0]
    out = subprocess.run(
        cmd, env=env, capture_output=True, text=True, check=True, preexec_fn=preexec
    ).stdout
    answer: dict[str, Any] = json.loads(out.splitlines()[-1])
    answer.update(config=config, round=index, load1=load)
    return answer


def _sd(xs: list[float]) -> float:
    return statistics.stdev(xs) if len(xs) > 1 else math.nan


def _interval(xs: list[float], rng: random.Random) -> tuple[float, float]:
    boots = sorted(_sd(rng.choices(xs, k=len(xs))) for _ in range(2000))
    return boots[100], boots[1899]


def analyse(records: list[dict[str, Any]]) -> None:
    rng = random.Random(0)
    configs = list(dict.fromkeys(r["config"] for r in records))
    loads = [r["load1"] for r in records]
    print(
        f"load average (1 min) over the run: median {statistics.median(loads):.2f}, "
        f"range {min(loads):.2f}-{max(loads):.2f}"
    )
    for r in records:
        for run in r["runs"]:
            # Wall time less the time this process was runnable but not running.
            run["net_s"] = run["total_s"] - run["run_delay_s"]
    for metric in ("total_s", "net_s", "cpu_s"):
        print(
            f"--- {metric}: between-process sd of log(fastest timed run) [90% bootstrap]; "
            "median within-process sd; median first-vs-fastest"
        )
        for config in configs:
            mine = [r for r in records if r["config"] == config]
            timed = [[math.log(run[metric]) for run in r["runs"][1:]] for r in mine]
            mins = [min(t) for t in timed]
            lo, hi = _interval(mins, rng)
            within = statistics.median(_sd(t) for t in timed)
            first = statistics.median(t[0] - min(t) for t in timed)
            print(
                f"{config:11} n={len(mine):3} between {_sd(mins):.3f} [{lo:.3f}-{hi:.3f}] "
                f"within {within:.3f} first+{first:.3f} "
                f"median {math.exp(statistics.median(mins)):.3f}s"
            )
    # (d) Do the slow processes wait or steal? Per process, the fastest run's wall time
    # against its own run_delay and steal, relative to the config's median.
    xs_delay, xs_steal, ys, ycpu = [], [], [], []
    for config in configs:
        mine = [r for r in records if r["config"] == config]
        best = [min(r["runs"][1:], key=lambda run: run["total_s"]) for r in mine]
        med = statistics.median(math.log(b["total_s"]) for b in best)
        medc = statistics.median(math.log(b["cpu_s"]) for b in best)
        for b in best:
            ys.append(math.log(b["total_s"]) - med)
            ycpu.append(math.log(b["cpu_s"]) - medc)
            xs_delay.append(b["run_delay_s"] / b["total_s"])
            xs_steal.append(b["steal_s"] / b["total_s"])
    if len(ys) > 2 and len(set(xs_delay)) > 1 and len(set(ys)) > 1:
        print(
            "fastest runs: corr(log wall, run_delay share) "
            f"{statistics.correlation(ys, xs_delay):+.2f}, "
            f"median run_delay share {statistics.median(xs_delay):.3f}, max {max(xs_delay):.3f}"
        )
    if len(ys) > 2 and len(set(xs_steal)) > 1 and len(set(ys)) > 1:
        print(
            f"fastest runs: corr(log wall, steal share) {statistics.correlation(ys, xs_steal):+.2f}"
        )
    if len(ys) > 2 and len(set(ys)) > 1 and len(set(ycpu)) > 1:
        print(f"fastest runs: corr(log wall, log cpu) {statistics.correlation(ys, ycpu):+.2f}")
    # Does the layout matter? (with randomisation on, the executable's base moves)
    for config in configs:
        mine = [r for r in records if r["config"] == config]
        bases = {r["text_base"] for r in mine}
        pers = {r["personality"] for r in mine}
        print(
            f"{config:11} distinct text bases {len(bases)}, personalities {sorted(pers)}, "
            f"cpus {sorted({tuple(r['cpu']) for r in mine})}, "
            f"nice {sorted({r.get('nice', 0) for r in mine})}, "
            f"policy {sorted({r.get('policy', 0) for r in mine})}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--gc-freeze", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workload", choices=["loop", "stream"], default="loop")
    parser.add_argument(
        "--size",
        type=int,
        default=None,
        help="events (stream, default 100000) or loop turns (default 400000)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per process")
    parser.add_argument("--procs", type=int, default=16, help="processes per config")
    parser.add_argument("--configs", default="default,norand,pin,malloc,thp,gcfreeze")
    parser.add_argument("--out", type=Path, default=Path("reports/process-noise.json"))
    parser.add_argument("--analyse", type=Path, help="only analyse a saved --out file")
    args = parser.parse_args()
    if args.size is None:
        args.size = 100_000 if args.workload == "stream" else 400_000
    if args.child:
        print(json.dumps(asyncio.run(_child(args))))
        return 0
    if args.analyse:
        analyse(json.loads(args.analyse.read_text())["records"])
        return 0
    configs = args.configs.split(",")
    unknown = set(configs) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configs {sorted(unknown)}; known: {sorted(CONFIGS)}")
    records = []
    started = time.perf_counter()
    for index in range(args.procs):
        turn = configs[index % len(configs) :] + configs[: index % len(configs)]
        for config in turn:
            records.append(_spawn(config, index, args))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"args": sys.argv[1:], "records": records}))
    took = time.perf_counter() - started
    print(
        f"{args.workload} size {args.size:,}, {args.procs} processes x {len(configs)} configs "
        f"x {args.repeats} timed runs (+1 warm-up), {took:.0f} s"
    )
    analyse(records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
