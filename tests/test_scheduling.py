"""Timed workers run under SCHED_FIFO where the runner may grant it (see
`harness.runner.timed_scheduling`): checked from inside the worker, which reads its
policy back from the kernel and reports it in the cell's settings."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from harness.runner.processes import REALTIME_ENV, Side, call_worker, timed_scheduling
from harness.worker import SCHEDULING_SETTING

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_setscheduler"), reason="no scheduling policies on this platform"
)


def _fifo_permitted() -> bool:
    """Whether this process may put another one under SCHED_FIFO (root, CAP_SYS_NICE
    or RLIMIT_RTPRIO), tried on a sleeping child."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        os.sched_setscheduler(child.pid, os.SCHED_FIFO, os.sched_param(1))
        return True
    except PermissionError:
        return False
    finally:
        child.kill()
        child.wait()


def _cell(measure: str) -> dict[str, Any]:
    return {
        "op": "cell",
        "scenario": "read-stream",
        "backend": "memory",
        "mode": "streamed",
        "size": 200,
        "params": {},
        "measure": measure,
        "repeats": 1,
        "warmups": 1,
        "layout": {"streams": 1, "payload_bytes": 64, "seed": 1},
    }


def test_a_timed_worker_runs_under_sched_fifo_where_permitted() -> None:
    answer = call_worker(Side(), _cell("time"), 120)
    assert answer["ok"], answer
    scheduled = answer["settings"][SCHEDULING_SETTING]
    if timed_scheduling() == "SCHED_FIFO" and _fifo_permitted():
        assert scheduled == "SCHED_FIFO priority 1"
    else:
        assert scheduled.startswith("normal"), scheduled


def test_eventbench_realtime_0_times_under_the_normal_scheduler() -> None:
    answer = call_worker(Side(env={REALTIME_ENV: "0"}), _cell("time"), 120)
    assert answer["ok"], answer
    assert answer["settings"][SCHEDULING_SETTING].startswith("normal (nice ")
    assert timed_scheduling({REALTIME_ENV: "0"}) == "normal"


def test_only_timed_workers_report_a_scheduling_setting() -> None:
    answer = call_worker(Side(), _cell("memory") | {"repeats": 1}, 120)
    assert answer["ok"], answer
    assert SCHEDULING_SETTING not in answer.get("settings", {})
