"""The results history: runs of many commits in one database (an SQLite file, or a
PostgreSQL database a team shares), their trends and the change points in them.

``eventbench history add|report|check`` (see `harness.cli.history`) drive it:
`db` is the database door (one code path for SQLite and PostgreSQL), `store`
records runs and reads series back; `harness.analysis.changepoints` finds steps in
the series.
"""

from harness.history.db import DEFAULT_PATH, SCHEMA_VERSION, HistoryError, open_database
from harness.history.store import RunRecord, Series, add_run, list_runs, load_series

__all__ = [
    "DEFAULT_PATH",
    "SCHEMA_VERSION",
    "HistoryError",
    "RunRecord",
    "Series",
    "add_run",
    "list_runs",
    "load_series",
    "open_database",
]
