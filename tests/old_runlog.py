"""Run logs as an earlier mediamix wrote them: schema version 3, before per-job totals.

Tests and benchmarks fill such a log with SQL (the tables as they were), then let this
mediamix open it, as a user upgrading with an old log does: migration m004 fills in the
derived columns the merge keeps from then on (runner/runlog/totals.py).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from runner.runlog.database import STORAGE_COMPATIBILITY
from runner.runlog.migrations import MIGRATIONS

#: The schema before per-job totals (m004).
OLD_SCHEMA = 3


def old_schema(con: duckdb.DuckDBPyConnection, *, applied_at: datetime) -> None:
    """Create the tables, views and migration records of schema version 3 in ``con``."""
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMP NOT NULL)"
    )
    for migration in MIGRATIONS[:OLD_SCHEMA]:
        con.execute(migration.sql)
        con.execute(
            "INSERT INTO schema_migrations VALUES (?, ?, ?)",
            [migration.version, migration.name, applied_at],
        )


def old_log_file(path: Path, fill: str, *, applied_at: datetime) -> None:
    """A ``runlog.duckdb`` at ``path`` in schema version 3, filled by the SQL ``fill``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), config={"storage_compatibility_version": STORAGE_COMPATIBILITY})
    try:
        old_schema(con, applied_at=applied_at)
        con.execute(fill)
        con.execute("CHECKPOINT")
    finally:
        con.close()
