"""Workload definitions: what the runner measures, as data.

Every module in this package that defines ``SCENARIO`` (a `scenarios.base.Scenario`)
is a scenario, found by name. A scenario elsewhere is named ``module:ATTRIBUTE``.
"""

from __future__ import annotations

import importlib
import pkgutil

from scenarios.base import Scenario

__all__ = ["UnknownScenario", "all_scenarios", "default_scenarios", "get_scenario"]


class UnknownScenario(LookupError):
    """No scenario has that name."""


def all_scenarios() -> dict[str, Scenario]:
    """Every scenario in this package, by name, in a stable order."""
    found: dict[str, Scenario] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in ("base", "reads"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        scenario = getattr(module, "SCENARIO", None)
        if isinstance(scenario, Scenario):
            found[scenario.name] = scenario
    order = ["read-stream", "fold", "catch-up", "append"]
    return dict(sorted(found.items(), key=lambda kv: [*order, kv[0]].index(kv[0])))


def default_scenarios() -> list[str]:
    return [name for name, scenario in all_scenarios().items() if scenario.default]


def get_scenario(name: str) -> Scenario:
    """A scenario by name, or ``module:ATTRIBUTE`` for one defined outside this package."""
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            found = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise UnknownScenario(f"cannot load scenario {name!r}: {exc}") from exc
        if not isinstance(found, Scenario):
            raise UnknownScenario(f"{name!r} is not a scenarios.base.Scenario")
        return found
    scenarios = all_scenarios()
    if name not in scenarios:
        known = ", ".join(scenarios)
        raise UnknownScenario(f"no scenario named {name!r}; known: {known}")
    return scenarios[name]
