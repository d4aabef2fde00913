"""The checks, one module per area; importing this package registers them all in order."""

from harness.conformance.checks import appends as appends
from harness.conformance.checks import bad_input as bad_input
from harness.conformance.checks import concurrency as concurrency
from harness.conformance.checks import faults as faults
from harness.conformance.checks import instances as instances
from harness.conformance.checks import lifecycle as lifecycle
from harness.conformance.checks import model_based as model_based
from harness.conformance.checks import races as races
from harness.conformance.checks import reads as reads
from harness.conformance.checks import recorded_at as recorded_at
from harness.conformance.checks import resources as resources
from harness.conformance.checks import streaming as streaming

__all__ = [
    "appends",
    "bad_input",
    "concurrency",
    "faults",
    "instances",
    "lifecycle",
    "model_based",
    "races",
    "reads",
    "recorded_at",
    "resources",
    "streaming",
]
