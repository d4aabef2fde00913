"""Fixtures shared by the test suite.

``store`` is parametrized over every reference backend, so each test that takes it
runs against memory, SQLite and PostgreSQL alike ("run the same tests against both").
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from harness.contract import EventStore
from harness.registry import REFERENCE_BACKENDS, backend_info, reference_factory

BACKENDS = list(REFERENCE_BACKENDS)


def require_backend(name: str) -> None:
    """Fail when a backend cannot run here; only PostgreSQL may skip, and only where it
    is not required (``EVENTBENCH_REQUIRE_POSTGRES=1``, as CI sets it)."""
    info = backend_info(name)
    if info.available:
        return
    if name == "postgres" and os.environ.get("EVENTBENCH_REQUIRE_POSTGRES") != "1":
        pytest.skip(f"backend postgres unavailable: {info.reason}")
    pytest.fail(f"backend {name} is required here but unavailable: {info.reason}")


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    require_backend(name)
    return name


@pytest.fixture
async def store(backend_name: str) -> AsyncIterator[EventStore]:
    """A fresh, empty, open store of each reference backend."""
    async with reference_factory(backend_name)() as opened:
        yield opened


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # The throwaway PostgreSQL database this test process made goes now rather than
    # at interpreter exit (which also drops it, but later and silently).
    from harness import provision

    provision.drop_process_databases()
