"""The instruments, side by side: one small module each.

``timer`` (the clock) and ``memory`` (memray) measure one run of a workload in the
worker process. They are never mixed in one process.
"""

from harness.instruments.memory import TrackedRun, read_capture, tracked
from harness.instruments.timer import TimedRun, timed, timer_resolution_s

__all__ = ["TimedRun", "TrackedRun", "read_capture", "timed", "timer_resolution_s", "tracked"]
