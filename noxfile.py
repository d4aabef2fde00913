"""Sessions for CI and maintainers: ``nox -l`` lists them.

Every session installs the project into its own virtualenv (with uv when it is
available), so each works from a fresh clone.
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
TYPED_PACKAGES = ["harness", "backends", "scenarios", "eventbench", "examples"]


def install(session: nox.Session) -> None:
    session.install("-e", ".[dev]")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite (PostgreSQL tests need a server; see README).

    Most tests check behaviour, not speed, and spend their time waiting on worker
    processes, so they run on every core (pytest-xdist, a test file per worker, so a
    file's shared fixtures are built once). The tests marked ``serial`` judge
    measured time (a slowed variant must regress, identical code must not) and run
    afterwards, alone: the other tests' load would be noise they should not have to
    outwait. Extra arguments replace all this with one plain pytest run, e.g.
    ``nox -s tests -- tests/test_compare.py -x``.
    """
    install(session)
    if session.posargs:
        session.run("pytest", *session.posargs)
        return
    workers = str(max(1, min(os.cpu_count() or 1, 4)))
    session.run("pytest", "-m", "not serial", "-n", workers, "--dist", "loadfile")
    session.run("pytest", "-m", "serial")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the library packages."""
    install(session)
    session.run("mypy", "--strict", *[arg for pkg in TYPED_PACKAGES for arg in ("-p", pkg)])


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """The quick benchmark: read-stream on SQLite at 10K and 100K events (about a minute).

    Extra arguments go to `eventbench run`, e.g. ``nox -s bench -- --scenarios fold``.
    """
    install(session)
    session.run("eventbench", "run", *session.posargs)


@nox.session(name="bench-full", python=PYTHON)
def bench_full(session: nox.Session) -> None:
    """The full matrix: 10K, 100K and 1M events, PostgreSQL too when a server is found."""
    install(session)
    session.run("eventbench", "run", "--full", *session.posargs)


@nox.session(name="stall-overhead", python=PYTHON)
def stall_overhead(session: nox.Session) -> None:
    """What the event-loop ticker costs: read cells timed with and without it, interleaved.

    Extra arguments go to the script, e.g. ``nox -s stall-overhead -- --sizes 10k``.
    """
    install(session)
    session.run("python", "-m", "harness.instruments.overhead", *session.posargs)


@nox.session(python=PYTHON)
def compare(session: nox.Session) -> None:
    """Before/after: measure git REF and this checkout interleaved, then compare them.

    ``nox -s compare -- REF [eventbench compare options]``, e.g. ``nox -s compare --
    main`` or ``nox -s compare -- HEAD~1 --scenarios read-stream --sizes 10k,100k``.
    REF is installed in its own environment (cached by commit); reports go to reports/.
    Fails (exit 1) when something regressed; add ``--report-only`` to only report.
    """
    if not session.posargs or session.posargs[0].startswith("-"):
        session.error("name the git ref to compare against: nox -s compare -- REF [options]")
    ref, *options = session.posargs
    install(session)
    session.run("eventbench", "compare", "--ref", ref, *options)


@nox.session(python=PYTHON)
def verdicts(session: nox.Session) -> None:
    """Do compare's verdicts hold here? Planted variants through the real runner.

    A/A (identical code) and A/B (streamed peak +25%, streamed reads 25% slower, +5%
    instructions per event) comparisons, 20 trials each, interleaved, plus one real
    `eventbench compare --ref HEAD`; prints the table (also reports/verdicts/verdicts.md)
    and fails when a row misses its expectation. A trial took about 3.5 minutes on a
    heavily shared 2-core machine. Extra arguments go to tests/verdicts.py, e.g.
    ``-- --trials 5``.
    """
    install(session)
    session.run("python", "tests/verdicts.py", *session.posargs)


@nox.session(python=PYTHON)
def conformance(session: nox.Session) -> None:
    """The conformance suite against memory, SQLite, PostgreSQL and the guide's skeleton store.

    Writes reports/conformance.* for the three reference stores.

    PostgreSQL must be reachable when EVENTBENCH_REQUIRE_POSTGRES=1 (as in CI); otherwise
    an unavailable backend is left out with a warning. Extra arguments go to
    `eventbench check` (e.g. `nox -s conformance -- --thorough`).
    """
    install(session)
    required = os.environ.get("EVENTBENCH_REQUIRE_POSTGRES") == "1"
    skip = [] if required else ["--skip-unavailable"]
    session.run(
        "eventbench",
        "check",
        "memory",
        "sqlite",
        "postgres",
        "--report",
        "reports/conformance.md",
        "--report",
        "reports/conformance.json",
        *skip,
        *session.posargs,
    )
    # The skeleton of docs/write-your-own-store.md must keep passing: it is what a
    # store author copies.
    session.run("eventbench", "check", "examples.skeleton_store:make_store", *session.posargs)
