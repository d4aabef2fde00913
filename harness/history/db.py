"""The results database: one small DB-API-like door over SQLite (standard library) and
PostgreSQL (asyncpg), so that the history code has one code path for both.

SQL is written once, with ``?`` placeholders and portable types (TEXT, BIGINT, DOUBLE
PRECISION); the PostgreSQL adapter numbers the placeholders. A database is named by a
path (an SQLite file) or a ``postgresql://`` URL; a URL is shown only through
`harness.provision.redact_dsn`, so no password reaches a message or a report.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from harness.provision import redact_dsn

__all__ = [
    "DEFAULT_PATH",
    "SCHEMA_VERSION",
    "Database",
    "DuplicateRow",
    "HistoryError",
    "NewerSchema",
    "is_url",
    "open_database",
]

DEFAULT_PATH = Path("reports/history.sqlite")
SCHEMA_VERSION = 1
"""Bumped when the tables change; a newer database is refused, an older one migrated."""

T = TypeVar("T")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS eventbench_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS eventbench_runs (
        run_id TEXT PRIMARY KEY,
        git_commit TEXT NOT NULL,
        commit_order BIGINT NOT NULL,
        commit_time TEXT NOT NULL,
        commit_subject TEXT NOT NULL,
        hostname TEXT NOT NULL,
        started_at TEXT NOT NULL,
        results_schema BIGINT NOT NULL,
        environment_json TEXT NOT NULL,
        parameters_json TEXT NOT NULL,
        added_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS eventbench_cells (
        run_id TEXT NOT NULL REFERENCES eventbench_runs (run_id),
        scenario TEXT NOT NULL,
        backend TEXT NOT NULL,
        mode TEXT NOT NULL,
        size BIGINT NOT NULL,
        summary_json TEXT NOT NULL,
        cell_json TEXT NOT NULL,
        PRIMARY KEY (run_id, scenario, backend, mode, size)
    )""",
    "CREATE INDEX IF NOT EXISTS eventbench_runs_order ON eventbench_runs (commit_order)",
)


class HistoryError(RuntimeError):
    """The history database cannot be used as asked; the message says what to do."""


class NewerSchema(HistoryError):
    """The database was written by a newer eventbench."""


class DuplicateRow(HistoryError):
    """A row with the same key is already there (e.g. another runner added the run)."""


class Database(Protocol):
    """What the history code needs of a database."""

    label: str
    """How to name it to a user: a path, or a URL without its password."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def transaction(self) -> Any:
        """A context manager: everything inside commits together or not at all."""
        ...

    def close(self) -> None: ...


def is_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


class SQLiteDatabase:
    def __init__(self, path: Path) -> None:
        self.label = str(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: transactions are begun explicitly, so that reads see others' commits.
        self._conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA foreign_keys = ON")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._errors():
            return list(self._conn.execute(sql, tuple(params)).fetchall())

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._errors():
            self._conn.executemany(sql, [tuple(r) for r in rows])

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.IntegrityError as exc:
            raise DuplicateRow(f"{self.label}: {exc}") from exc
        except sqlite3.Error as exc:
            raise HistoryError(f"history database {self.label}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()


class PostgresDatabase:
    """asyncpg driven from sync code: one connection on a private loop in its own thread
    (asyncpg connections belong to the loop that made them)."""

    def __init__(self, url: str) -> None:
        import asyncpg

        self.label = redact_dsn(url)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="eventbench-history", daemon=True
        )
        self._thread.start()
        self._tx: Any = None
        try:
            self._conn: Any = self._run(
                asyncpg.connect(
                    url, timeout=10, server_settings={"application_name": "eventbench-history"}
                )
            )
        except BaseException:
            self._stop()
            raise

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    @staticmethod
    def _sql(sql: str) -> str:
        counter = iter(range(1, 10_000))
        return re.sub(r"\?", lambda _: f"${next(counter)}", sql)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._errors():
            rows = self._run(self._conn.fetch(self._sql(sql), *params))
        return [tuple(row) for row in rows]

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._errors():
            self._run(self._conn.executemany(self._sql(sql), [tuple(r) for r in rows]))

    @contextmanager
    def _errors(self) -> Iterator[None]:
        import asyncpg

        try:
            yield
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateRow(f"{self.label}: {exc}") from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            message = redact_dsn(str(exc))
            raise HistoryError(f"history database {self.label}: {message}") from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        tx = self._conn.transaction()
        self._run(tx.start())
        try:
            yield
        except BaseException:
            self._run(tx.rollback())
            raise
        self._run(tx.commit())

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def close(self) -> None:
        try:
            self._run(self._conn.close())
        finally:
            self._stop()


def _driver_errors() -> tuple[type[BaseException], ...]:
    import asyncpg

    return (HistoryError, sqlite3.Error, asyncpg.PostgresError, OSError, asyncpg.InterfaceError)


def open_database(target: str | Path | None = None) -> Database:
    """Open (creating if need be) the history database at ``target``: an SQLite file
    path (default `DEFAULT_PATH`) or a ``postgresql://`` URL. Checks its schema version."""
    text = str(target) if target is not None else str(DEFAULT_PATH)
    shown = redact_dsn(text) if is_url(text) else text
    db: Database | None = None
    try:
        db = PostgresDatabase(text) if is_url(text) else SQLiteDatabase(Path(text))
        _prepare_schema(db)
    except NewerSchema:
        if db is not None:
            db.close()
        raise
    except _driver_errors() as exc:
        if db is not None:
            db.close()
        cause = exc.__cause__ if isinstance(exc, HistoryError) and exc.__cause__ else exc
        message = redact_dsn(str(cause)) if is_url(text) else str(cause)
        raise HistoryError(
            f"cannot use history database {shown}: {message}; give an SQLite file path or a "
            "postgresql://user@host/db URL of a database you may create tables in"
        ) from None
    return db


def _prepare_schema(db: Database) -> None:
    with db.transaction():
        db.execute(_SCHEMA[0])
        found = db.execute("SELECT value FROM eventbench_meta WHERE key = 'schema_version'")
        version = int(found[0][0]) if found else None
        if version is not None and version > SCHEMA_VERSION:
            raise NewerSchema(
                f"history database {db.label} has schema version {version}, newer than this "
                f"eventbench's {SCHEMA_VERSION}: upgrade eventbench (pip install -U "
                "eventbench) to use it; nothing was changed"
            )
        for statement in _SCHEMA[1:]:
            db.execute(statement)
        if version is None:
            db.execute(
                "INSERT INTO eventbench_meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
