"""The conformance suite: checks every EventStore must pass (pytest plugin and CLI).

Library use, the same core the CLI and the plugin share::

    from harness.conformance import Settings, all_checks, run_checks, select_checks
    from harness.registry import load_factory

    results = run_checks(load_factory("mypackage.store:make_store"),
                         select_checks(all_checks(), select=["read"]), Settings())

The checks live in `harness.conformance.checks`; `eventbench check` is
`harness.conformance.cli`; the pytest plugin is `harness.conformance.plugin`.
"""

from harness.conformance.core import (
    Check,
    CheckContext,
    ContractViolation,
    NotApplicable,
    Settings,
    select_checks,
)
from harness.conformance.report import write_report
from harness.conformance.runner import CheckResult, Outcome, all_checks, run_check, run_checks

__all__ = [
    "Check",
    "CheckContext",
    "CheckResult",
    "ContractViolation",
    "NotApplicable",
    "Outcome",
    "Settings",
    "all_checks",
    "run_check",
    "run_checks",
    "select_checks",
    "write_report",
]
