"""pytest plugin entry point for the conformance suite (registered as ``pytest11``).

Two ways to run the suite under pytest, both with nothing but this plugin installed:

* No test file: name your factory and pytest adds the suite to the collection::

      pytest --eventbench-factory mypackage.store:make_store

  or once, in ``pyproject.toml``::

      [tool.pytest.ini_options]
      eventbench_factory = ["mypackage.store:make_store"]

* A fixture: define ``eventbench_store_factory`` in your ``conftest.py`` (returning a
  zero-argument callable that gives a fresh, empty store, in any form
  `harness.registry` accepts) and subclass the suite in one test module::

      from harness.conformance.pytest_suite import ConformanceSuite

      class TestMyStore(ConformanceSuite):
          pass

Each check is one test, named by its id (``-k snapshot`` selects by id). A check
the store's capabilities make not applicable is skipped with "n/a", never passed.
Checks run in their own event loop (``asyncio.run``), so your asyncio plugin and its
configuration do not matter.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.conformance.core import Settings

SUITE_PATH = Path(__file__).with_name("pytest_suite.py")
_SPECS = pytest.StashKey[list[tuple[str, str]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("eventbench", "eventbench conformance suite")
    group.addoption(
        "--eventbench-factory",
        action="append",
        default=[],
        metavar="MODULE:FUNCTION",
        help="Run the conformance suite against this store factory (or a reference "
        "backend: memory, sqlite, postgres). Repeatable.",
    )
    group.addoption(
        "--eventbench-thorough",
        action="store_true",
        default=False,
        help="Run the model-based conformance test long, not the fast CI profile.",
    )
    group.addoption(
        "--eventbench-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="Seconds one store operation may take before a check calls it a hang (30).",
    )
    parser.addini(
        "eventbench_factory",
        "store factories (module:function) to run the conformance suite against",
        type="linelist",
        default=[],
    )


def factory_specs(config: pytest.Config) -> list[str]:
    """The factories named on the command line, else in the ini file."""
    given: list[str] = config.getoption("eventbench_factory") or []
    return given or list(config.getini("eventbench_factory"))


def _put_cwd_on_path() -> None:
    # As with `eventbench check`: the author's package imports from the project root.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


def _checked_specs(config: pytest.Config) -> list[tuple[str, str]]:
    """(label, spec) of each named factory; a factory that cannot be loaded (a module
    that fails to import, a missing function, a bad label) is a usage error, once,
    rather than the same traceback in every test."""
    from harness.redact import remember
    from harness.registry import (
        FactoryImportError,
        InvalidBackendSpec,
        UnknownBackend,
        debug_enabled,
        load_factory,
        parse_backends,
    )

    specs = factory_specs(config)
    remember(*specs)
    _put_cwd_on_path()
    try:
        refs = parse_backends(specs)
        for ref in refs:
            load_factory(ref.spec)
    except (UnknownBackend, InvalidBackendSpec) as exc:
        message = f"--eventbench-factory: {exc}"
        if isinstance(exc, FactoryImportError):
            # pytest has a --debug of its own: here only the variable applies.
            message = message.replace("--debug (or EVENTBENCH_DEBUG=1)", "EVENTBENCH_DEBUG=1")
            if debug_enabled():
                message += "\n" + exc.details
        raise pytest.UsageError(message) from None
    return [(ref.label, ref.spec) for ref in refs]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "eventbench_conformance: one check of the eventbench conformance suite"
    )
    suite = str(SUITE_PATH)
    if factory_specs(config):
        config.stash[_SPECS] = _checked_specs(config)
        if not any(str(arg).startswith(suite) for arg in config.args):
            # Collect the suite beside whatever else was asked for.
            config.args.append(suite)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "eventbench_factory_spec" in metafunc.fixturenames:
        named = metafunc.config.stash.get(_SPECS, [])
        if named:
            metafunc.parametrize(
                "eventbench_factory_spec",
                [spec for _, spec in named],
                ids=[label for label, _ in named],
            )


@pytest.fixture
def eventbench_factory_spec() -> str | None:
    """The factory named with --eventbench-factory (parametrized by the plugin), or None."""
    return None


@pytest.fixture
def eventbench_store_factory(eventbench_factory_spec: str | None) -> Any:
    """The store factory the suite runs against. Override it in your conftest.py."""
    if eventbench_factory_spec is None:
        pytest.fail(
            "no store factory: define an `eventbench_store_factory` fixture in your "
            "conftest.py, or run pytest with --eventbench-factory module:function",
            pytrace=False,
        )
    from harness.registry import load_factory

    _put_cwd_on_path()
    return load_factory(eventbench_factory_spec)


@pytest.fixture
def eventbench_settings(pytestconfig: pytest.Config) -> Settings:
    """How hard the suite checks (from --eventbench-thorough and --eventbench-timeout)."""
    from harness.conformance.core import Settings

    timeout = pytestconfig.getoption("eventbench_timeout", None)
    return Settings(
        thorough=bool(pytestconfig.getoption("eventbench_thorough", False)),
        timeout=30.0 if timeout is None else float(timeout),
    )
