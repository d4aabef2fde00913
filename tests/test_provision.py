"""Provisioning: finding a PostgreSQL server, throwaway databases, and never leaking a password."""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import conftest
import pytest

from harness import provision


@pytest.fixture
def fresh_discovery(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Let a test look for a server under its own environment, then forget what it found."""
    monkeypatch.delenv(provision.ENV_DSN, raising=False)
    monkeypatch.setattr(provision, "_found", None)
    yield
    provision._found = None


# --------------------------------------------------------------------------- DSNs


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://bob:s3cret@db:5432/app", "postgresql://bob:***@db:5432/app"),
        ("postgresql://bob@db/app", "postgresql://bob@db/app"),
        (
            "postgresql://db/app?password=s3cret&sslmode=require",
            "postgresql://db/app?password=***&sslmode=require",
        ),
        ("postgres://bob:p%40ss:w@h1,h2/app", "postgres://bob:***@h1,h2/app"),
        ("host=db user=bob password=s3cret dbname=app", "host=db user=bob password=*** dbname=app"),
        ("host=db password='s3 cret' dbname=app", "host=db password=*** dbname=app"),
    ],
)
def test_redact_dsn_hides_every_password(dsn: str, shown: str) -> None:
    assert provision.redact_dsn(dsn) == shown
    assert "s3" not in provision.redact_dsn(dsn)


def test_dsn_with_database_keeps_server_and_options() -> None:
    dsn = "postgresql://bob:pw@db:5433/app?sslmode=require"
    assert (
        provision.dsn_with_database(dsn, "other")
        == "postgresql://bob:pw@db:5433/other?sslmode=require"
    )


def test_required_only_when_set_to_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(provision.ENV_REQUIRE, "1")
    assert provision.postgres_required()
    monkeypatch.setenv(provision.ENV_REQUIRE, "0")
    assert not provision.postgres_required()
    monkeypatch.delenv(provision.ENV_REQUIRE)
    assert not provision.postgres_required()


# --------------------------------------------------------------------------- discovery


def test_a_dead_dsn_from_the_environment_is_reported_without_its_password(
    monkeypatch: pytest.MonkeyPatch, fresh_discovery: None
) -> None:
    monkeypatch.setenv(provision.ENV_DSN, "postgresql://bob:hunter2@127.0.0.1:1/app")
    reason = provision.availability()
    assert reason is not None
    assert "hunter2" not in reason
    assert "EVENTBENCH_PG_DSN=postgresql://bob:***@127.0.0.1:1/app" in reason
    with pytest.raises(provision.PostgresUnavailable, match="does not answer"):
        provision.find_server()


def test_a_live_dsn_from_the_environment_comes_first(
    monkeypatch: pytest.MonkeyPatch, fresh_discovery: None
) -> None:
    conftest.require_backend("postgres")
    local = provision.find_server(refresh=True)
    # The same server under a DSN with a password that trust auth ignores: it must be
    # found through the environment, and described without the password.
    parts = urlsplit(local.dsn)
    if parts.password:
        pytest.skip("the local server needs a real password; nothing to substitute")
    netloc = f"{parts.username or 'postgres'}:s3cret@{parts.hostname}:{parts.port or 5432}"
    monkeypatch.setenv(provision.ENV_DSN, urlunsplit(parts._replace(netloc=netloc)))
    found = provision.find_server(refresh=True)
    assert found.source == provision.ENV_DSN
    assert found.version == local.version
    assert "s3cret" not in found.describe()


def test_a_dsn_that_is_not_a_url_is_refused_without_its_password(
    monkeypatch: pytest.MonkeyPatch, fresh_discovery: None
) -> None:
    monkeypatch.setenv(provision.ENV_DSN, "host=db user=bob password=hunter2")
    reason = provision.availability()
    assert reason is not None
    assert "postgresql://USER:PASSWORD@HOST:5432/DATABASE" in reason
    assert "hunter2" not in reason


def test_no_server_anywhere_says_how_to_provide_one(
    monkeypatch: pytest.MonkeyPatch, fresh_discovery: None
) -> None:
    monkeypatch.setattr(provision, "LOCAL_ADDRESS", "127.0.0.1:1")
    monkeypatch.setattr(provision, "_docker_answers", lambda: False)
    reason = provision.availability()
    assert reason is not None
    for advice in ("EVENTBENCH_PG_DSN=", "127.0.0.1:5432", "Docker", "testcontainers"):
        assert advice in reason
    assert "no Docker daemon answers" in reason


def test_missing_server_skips_or_fails_as_the_environment_asks(
    monkeypatch: pytest.MonkeyPatch, fresh_discovery: None
) -> None:
    monkeypatch.setattr(provision, "LOCAL_ADDRESS", "127.0.0.1:1")
    monkeypatch.setattr(provision, "_docker_answers", lambda: False)
    monkeypatch.delenv(provision.ENV_REQUIRE, raising=False)
    with pytest.raises(pytest.skip.Exception, match="Provide a server"):
        conftest.require_backend("postgres")
    monkeypatch.setenv(provision.ENV_REQUIRE, "1")
    with pytest.raises(pytest.fail.Exception, match="required"):
        conftest.require_backend("postgres")


@pytest.fixture
def server() -> provision.PgServer:
    conftest.require_backend("postgres")
    return provision.find_server()


def test_the_server_found_describes_itself_without_secrets(server: provision.PgServer) -> None:
    assert server.version.startswith("PostgreSQL ")
    assert server.source in (provision.ENV_DSN, provision.LOCAL_ADDRESS, "testcontainers")
    assert provision.redact_dsn(server.dsn) in server.describe()


async def test_server_version_is_recorded_plainly(server: provision.PgServer) -> None:
    version = await provision.server_version(server.dsn)
    assert version == server.version == await provision.server_version()
    major = int(version.split()[1].split(".")[0])
    assert major >= 13  # DROP DATABASE ... WITH (FORCE) needs 13


# --------------------------------------------------------------------------- throwaway databases


async def database_exists(server: provision.PgServer, dsn: str) -> bool:
    name = dsn.rsplit("/", 1)[1]
    conn = await asyncpg.connect(server.dsn)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def test_temporary_database_is_dropped_even_when_the_body_fails(
    server: provision.PgServer,
) -> None:
    if not server.can_create_databases:
        pytest.skip("the server's user may not create databases")

    class Boom(Exception):
        pass

    made = ""
    conns: list[asyncpg.Connection] = []
    with pytest.raises(Boom):
        async with provision.temporary_database() as dsn:
            made = dsn
            assert await database_exists(server, dsn)
            # Still connected when it is dropped: the drop must not wait for us.
            conns.append(await asyncpg.connect(dsn))
            assert await conns[0].fetchval("SELECT current_database()") == dsn.rsplit("/", 1)[1]
            raise Boom
    conns[0].terminate()
    assert made.rsplit("/", 1)[1].startswith("eventbench_tmp_")
    assert not await database_exists(server, made)


async def test_temporary_database_is_dropped_when_cancelled(server: provision.PgServer) -> None:
    if not server.can_create_databases:
        pytest.skip("the server's user may not create databases")
    made: list[str] = []
    entered = asyncio.Event()

    async def body() -> None:
        async with provision.temporary_database() as dsn:
            made.append(dsn)
            entered.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(body())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not await database_exists(server, made[0])


async def test_only_throwaway_databases_are_dropped(server: provision.PgServer) -> None:
    with pytest.raises(ValueError, match="refusing to drop 'postgres'"):
        await provision.drop_database(provision.dsn_with_database(server.dsn, "postgres"))
    with pytest.raises(ValueError, match="prefix"):
        await provision.create_database("Not Allowed")
    with pytest.raises(ValueError, match="refusing"):
        await provision.drop_database(provision.dsn_with_database(server.dsn, "eventbench_mine"))


async def test_process_database_is_made_once_and_dropped_on_request(
    server: provision.PgServer,
) -> None:
    first = await provision.process_database()
    assert await provision.process_database() == first
    if not server.can_create_databases:
        assert first == server.dsn
        return
    assert await database_exists(server, first)
    provision.drop_process_databases()
    assert not await database_exists(server, first)
    provision.drop_process_databases()  # twice is fine


async def test_sweep_drops_only_databases_of_dead_processes_on_this_host(
    server: provision.PgServer,
) -> None:
    if not server.can_create_databases:
        pytest.skip("the server's user may not create databases")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await proc.wait()
    dead = proc.pid  # a process that ran and ended: its pid is free
    orphan = f"eventbench_tmp_{dead}_{secrets.token_hex(4)}"
    stranger = f"eventbench_tmp_{dead}_{secrets.token_hex(4)}"  # no owner note: not ours
    conn = await asyncpg.connect(server.dsn)
    try:
        for name in (orphan, stranger):
            await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.execute(f"COMMENT ON DATABASE \"{orphan}\" IS '{provision._owner_note(dead)}'")
        async with provision.temporary_database() as live:  # this process: alive
            dropped = await provision.sweep_stale_databases(server)
            assert orphan in dropped
            assert stranger not in dropped
            assert await database_exists(server, live)
        assert not await database_exists(server, provision.dsn_with_database(server.dsn, orphan))
        assert await database_exists(server, provision.dsn_with_database(server.dsn, stranger))
    finally:
        for name in (orphan, stranger):
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.close()
