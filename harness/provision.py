"""Finding a PostgreSQL server and making throwaway databases on it.

One place for provisioning, shared by the tests, the conformance suite, the runner
and ``backends.postgres``. A server is looked for in this order:

1. ``EVENTBENCH_PG_DSN`` (a ``postgresql://`` URL); if it is set it is the only
   candidate, and a server that does not answer there is reported as such;
2. a server on ``127.0.0.1:5432``, as user ``postgres``, then as user ``root``
   (``PGPASSWORD`` and the other libpq variables apply);
3. a throwaway PostgreSQL container (testcontainers) when a Docker daemon answers;
4. otherwise PostgreSQL is *unavailable*, with a reason that says how to provide one.

``EVENTBENCH_REQUIRE_POSTGRES=1`` (CI sets it) means "unavailable" is a failure for
tests rather than a skip; `postgres_required` tells callers so.

Throwaway databases are named ``eventbench_tmp_<pid>_<random>`` and are dropped by
whoever created them: `temporary_database` on exit (even when the body fails), and
the per-process database of `process_database` at `drop_process_databases` or at
interpreter exit. A process killed before it could drop its database leaves it
behind; `sweep_stale_databases` (run before a process makes its own) drops those of
dead processes on this host. Nothing here drops a database eventbench did not create.

DSNs may carry passwords: print or store them only through `redact_dsn` (that is,
`harness.redact.redact`).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import secrets
import socket
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from harness.redact import redact_dsn
from harness.text import join_sentences

__all__ = [
    "ENV_DSN",
    "ENV_REQUIRE",
    "PgServer",
    "PostgresUnavailable",
    "availability",
    "create_database",
    "drop_database",
    "drop_process_databases",
    "dsn_with_database",
    "InvalidDsn",
    "find_server",
    "normalize_dsn",
    "postgres_required",
    "process_database",
    "redact_dsn",
    "server_version",
    "sweep_stale_databases",
    "temporary_database",
]

ENV_DSN: Final = "EVENTBENCH_PG_DSN"
ENV_REQUIRE: Final = "EVENTBENCH_REQUIRE_POSTGRES"
LOCAL_ADDRESS: Final = "127.0.0.1:5432"
LOCAL_USERS: Final = ("postgres", "root")
TEMP_PREFIX: Final = "eventbench_tmp"
CONNECT_TIMEOUT_S: Final = 5.0

HOW_TO_PROVIDE: Final = (
    f"Provide a server: set {ENV_DSN}=postgresql://USER:PASSWORD@HOST:5432/DATABASE, or run "
    "PostgreSQL on 127.0.0.1:5432 reachable as user postgres or root (for example "
    "`docker run -d -p 127.0.0.1:5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:16`), "
    "or start a Docker daemon so that testcontainers can run one "
    "(pip install 'eventbench[docker]')."
)

T = TypeVar("T")


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be used here; the message says why and what to do."""


@dataclass(frozen=True)
class PgServer:
    """A server found by `find_server`."""

    dsn: str
    """A DSN for an existing database on the server (may hold a password: redact it)."""
    source: str
    """Where it came from: ``EVENTBENCH_PG_DSN``, ``127.0.0.1:5432`` or ``testcontainers``."""
    version: str
    """E.g. ``PostgreSQL 15.20``."""
    can_create_databases: bool
    """Whether the user may CREATE DATABASE (else stores isolate by schema only)."""

    def describe(self) -> str:
        """One line for humans and reports, without secrets."""
        return f"{self.version} at {redact_dsn(self.dsn)} (from {self.source})"


# --------------------------------------------------------------------------- DSNs


class InvalidDsn(ValueError):
    """A PostgreSQL DSN that cannot be read; the message (redacted) says how to write it."""


_URL_FORM: Final = "postgresql://USER:PASSWORD@HOST:5432/DATABASE"


def normalize_dsn(dsn: str) -> str:
    """``dsn`` as the driver reads it, or `InvalidDsn` saying how to write it.

    A password may hold an unescaped ``@``: a host name never does, so the user info
    runs to the last ``@`` of the authority (as browsers read URLs); it is
    percent-encoded here, where asyncpg (like libpq) would split at the first ``@``
    and look for a host named after the rest of the password. A ``/``, ``?`` or ``#``
    in a password is ambiguous (each may start the database name or the options),
    so that is refused with a note to percent-encode it.
    """
    text = dsn.strip()
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        raise InvalidDsn(
            f"{redact_dsn(text)!r} is not a PostgreSQL URL: write it as {_URL_FORM} "
            "(percent-encode special characters in the password, e.g. @ as %40)"
        )
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    userinfo, at, hosts = authority.rpartition("@")
    if not at:
        if "@" in tail.partition("?")[0].partition("#")[0]:
            raise InvalidDsn(
                f"{redact_dsn(text)!r}: the password seems to hold '/', '?' or '#'; "
                "percent-encode them (/ as %2F, ? as %3F, # as %23) in the URL"
            )
        return text
    if not hosts and not tail:
        raise InvalidDsn(f"{redact_dsn(text)!r} names no host: write it as {_URL_FORM}")
    if "@" in userinfo:
        user, colon, password = userinfo.partition(":")
        userinfo = user.replace("@", "%40") + colon + password.replace("@", "%40")
    return f"{scheme}://{userinfo}@{hosts}{tail}"


def dsn_with_database(dsn: str, database: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(database), parts.query, ""))


def _database_of(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


# --------------------------------------------------------------------------- running async code


def _run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop.

    asyncpg connections belong to one loop, so the work runs on a private loop in a
    worker thread and nothing it opens outlives the call.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(make())
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    thread = threading.Thread(target=target, name="eventbench-provision", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


# --------------------------------------------------------------------------- finding a server


async def _connect(dsn: str, connect_timeout: float = CONNECT_TIMEOUT_S) -> asyncpg.Connection:
    return await asyncpg.connect(
        dsn, timeout=connect_timeout, server_settings={"application_name": "eventbench-provision"}
    )


async def _version_of(conn: asyncpg.Connection) -> str:
    # The server's own words ("15.20 (Debian ...)"): asyncpg's parsed version calls
    # 15.20 major 15, minor 0, micro 20, which is easy to print wrong.
    shown = await conn.fetchval("SHOW server_version")
    return f"PostgreSQL {str(shown).split()[0]}"


async def _probe(dsn: str, connect_timeout: float = CONNECT_TIMEOUT_S) -> tuple[str, bool]:
    conn = await _connect(dsn, connect_timeout)
    try:
        can_create = await conn.fetchval(
            "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
        )
        return await _version_of(conn), bool(can_create)
    finally:
        await conn.close()


def _describe_error(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return redact_dsn(text.splitlines()[0])


def _docker_answers() -> bool:
    if not (os.environ.get("DOCKER_HOST") or os.path.exists("/var/run/docker.sock")):
        return False
    try:
        import docker  # type: ignore[import-untyped,unused-ignore]

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


_container: Any = None


def _start_container() -> str:
    global _container
    from testcontainers.postgres import PostgresContainer

    container = PostgresContainer("postgres:16-alpine", driver=None)
    container.start()
    _container = container
    atexit.register(_stop_container)
    url: str = container.get_connection_url()
    return url


def _stop_container() -> None:
    global _container
    container, _container = _container, None
    if container is not None:
        with contextlib.suppress(Exception):
            container.stop()


_lock = threading.Lock()
_found: PgServer | PostgresUnavailable | None = None


def _discover() -> PgServer:
    env_dsn = os.environ.get(ENV_DSN, "").strip()
    if env_dsn:
        try:
            env_dsn = normalize_dsn(env_dsn)
        except InvalidDsn as exc:
            raise PostgresUnavailable(f"{ENV_DSN}: {exc}") from None
        try:
            version, can_create = _run_sync(lambda: _probe(env_dsn))
        except Exception as exc:
            raise PostgresUnavailable(
                join_sentences(
                    f"{ENV_DSN}={redact_dsn(env_dsn)} does not answer: {_describe_error(exc)}",
                    f"Check the server is running and the DSN is right, or unset {ENV_DSN} to "
                    "use a local server on 127.0.0.1:5432.",
                )
            ) from None
        return PgServer(env_dsn, ENV_DSN, version, can_create)

    failures = []
    for user in LOCAL_USERS:
        dsn = f"postgresql://{user}@{LOCAL_ADDRESS}/postgres"
        try:
            version, can_create = _run_sync(lambda dsn=dsn: _probe(dsn, 2.0))  # type: ignore[misc]
        except Exception as exc:
            failures.append(f"as {user}: {_describe_error(exc)}")
            continue
        return PgServer(dsn, LOCAL_ADDRESS, version, can_create)

    docker_note = "no Docker daemon answers"
    if _docker_answers():
        try:
            dsn = _start_container()
            version, can_create = _run_sync(lambda: _probe(dsn, 30.0))
        except Exception as exc:
            docker_note = f"a testcontainers PostgreSQL failed to start: {_describe_error(exc)}"
        else:
            return PgServer(dsn, "testcontainers", version, can_create)
    raise PostgresUnavailable(
        join_sentences(
            f"no PostgreSQL server found: {ENV_DSN} is not set; {LOCAL_ADDRESS} refused "
            f"({'; '.join(failures)}); {docker_note}",
            HOW_TO_PROVIDE,
        )
    )


def find_server(*, refresh: bool = False) -> PgServer:
    """The server to use (looked for once per process), or raise `PostgresUnavailable`."""
    global _found
    with _lock:
        if _found is None or refresh:
            try:
                _found = _discover()
            except PostgresUnavailable as exc:
                _found = exc
        found = _found
    if isinstance(found, PostgresUnavailable):
        raise PostgresUnavailable(str(found))
    return found


def availability() -> str | None:
    """None when a server can be used, else why not and how to provide one."""
    try:
        find_server()
    except PostgresUnavailable as exc:
        return str(exc)
    return None


def postgres_required() -> bool:
    """True when ``EVENTBENCH_REQUIRE_POSTGRES=1``: a missing server must fail, not skip."""
    return os.environ.get(ENV_REQUIRE, "").strip() == "1"


async def server_version(dsn: str | None = None) -> str:
    """The server's version, e.g. ``PostgreSQL 15.20`` (of `find_server` when no DSN)."""
    if dsn is None:
        return (await asyncio.to_thread(find_server)).version
    conn = await _connect(dsn)
    try:
        return await _version_of(conn)
    finally:
        await conn.close()


# --------------------------------------------------------------------------- throwaway databases


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_THROWAWAY_NAME = re.compile(r"eventbench[a-z0-9_]*_[0-9]+_[0-9a-f]{8}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _owner_note(pid: int) -> str:
    return f"eventbench throwaway database of pid {pid} on {socket.gethostname()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def sweep_stale_databases(server: PgServer) -> list[str]:
    """Drop throwaway databases left by processes of this host that died (killed,
    crashed) before they could drop them; return their names.

    Only a database whose comment names this host and a pid that no longer runs, and
    that nobody is connected to, is dropped: never one another live process owns.
    """
    conn = await _connect(server.dsn)
    dropped = []
    try:
        rows = await conn.fetch(
            """SELECT d.datname, shobj_description(d.oid, 'pg_database') AS note
               FROM pg_database d
               WHERE d.datname LIKE 'eventbench%'
                 AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)"""
        )
        for name, note in rows:
            match = re.fullmatch(r"eventbench[a-z0-9_]*_([0-9]+)_[0-9a-f]{8}", name)
            if not match or note != _owner_note(int(match.group(1))):
                continue
            if _pid_alive(int(match.group(1))):
                continue
            with contextlib.suppress(asyncpg.PostgresError):
                await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)}")
                dropped.append(name)
    finally:
        await conn.close()
    return dropped


def _new_database_name(prefix: str) -> str:
    if not re.fullmatch(r"eventbench[a-z0-9_]{0,30}", prefix):
        raise ValueError(
            f"a database prefix starts with 'eventbench' and holds only lowercase letters, "
            f"digits and _, not {prefix!r}"
        )
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"


async def create_database(prefix: str = TEMP_PREFIX, *, server: PgServer | None = None) -> str:
    """Create an empty UTF-8 database and return its DSN. The caller must drop it."""
    if server is None:
        server = await asyncio.to_thread(find_server)
    name = _new_database_name(prefix)
    conn = await _connect(server.dsn)
    try:
        # template0 with the C locale: nobody is ever connected to it (template1 may
        # be busy), and stream ids then sort by code point everywhere.
        await conn.execute(
            f"CREATE DATABASE {_quote_ident(name)} TEMPLATE template0 ENCODING 'UTF8' "
            "LC_COLLATE 'C' LC_CTYPE 'C'"
        )
        await conn.execute(
            f"COMMENT ON DATABASE {_quote_ident(name)} IS {_literal(_owner_note(os.getpid()))}"
        )
    finally:
        await conn.close()
    return dsn_with_database(server.dsn, name)


async def drop_database(dsn: str, *, server: PgServer | None = None) -> None:
    """Drop a database made by `create_database`, closing whatever is still connected."""
    name = _database_of(dsn)
    if not _THROWAWAY_NAME.fullmatch(name):
        raise ValueError(
            f"refusing to drop {name!r}: only databases made by create_database "
            "(eventbench..._<pid>_<random>) are dropped here"
        )
    if server is None:
        server = await asyncio.to_thread(find_server)
    conn = await _connect(server.dsn)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def temporary_database(prefix: str = TEMP_PREFIX) -> AsyncIterator[str]:
    """A fresh database's DSN, dropped on exit even if the body fails or is cancelled."""
    server = await asyncio.to_thread(find_server)
    dsn = await create_database(prefix, server=server)
    try:
        yield dsn
    finally:
        # Shielded: a cancelled body must still not leave the database behind.
        await asyncio.shield(drop_database(dsn, server=server))


_process_databases: dict[str, tuple[PgServer, str]] = {}
"""Server DSN -> (server, DSN of the database made for this process, or the server's own)."""
_process_lock = threading.Lock()


def _process_database_sync() -> str:
    server = find_server()
    with _process_lock:
        made = _process_databases.get(server.dsn)
        if made is None:
            if server.can_create_databases:
                with contextlib.suppress(Exception):  # tidying up must not stop a run
                    _run_sync(lambda: sweep_stale_databases(server))
                dsn = _run_sync(lambda: create_database(server=server))
                if not _process_databases:
                    atexit.register(drop_process_databases)
            else:
                dsn = server.dsn
            made = _process_databases[server.dsn] = (server, dsn)
        return made[1]


async def process_database() -> str:
    """A database this process may fill with schemas: made once, dropped at exit.

    When the server's user may not create databases, this is the server's own
    database (callers then isolate themselves by schema and drop what they made).
    """
    return await asyncio.to_thread(_process_database_sync)


def drop_process_databases() -> None:
    """Drop the database(s) `process_database` created. Safe to call more than once.

    Runs at interpreter exit too, when no executor takes new work: so the server is
    passed along rather than looked up.
    """
    with _process_lock:
        made = [(server, dsn) for server, dsn in _process_databases.values() if dsn != server.dsn]
        _process_databases.clear()
    for server, dsn in made:
        with contextlib.suppress(Exception):
            _run_sync(lambda server=server, dsn=dsn: drop_database(dsn, server=server))  # type: ignore[misc]
