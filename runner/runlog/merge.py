"""Merging new rows into the run-log tables, the same way for inbox batches and imports.

Runs and jobs are upserts by id: of all versions of a row, the highest ``seq`` wins,
whichever order they arrive in. Attempts, events and artifacts never change once
written, so they are insert-or-ignore by id. Both rules make a merge idempotent:
merging the same rows twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb

from runner.runlog.codec import KEY_OF, UPSERT_TABLES
from runner.runlog.totals import DERIVED

TABLES: tuple[str, ...] = ("runs", "jobs", "attempts", "events", "artifacts", "judgements")


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """(name, type) of a table's columns, in order."""
    rows = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE table_name = ? AND schema_name = 'main' AND database_name = current_database() "
        "ORDER BY column_index",
        [table],
    ).fetchall()
    return [(str(name), str(kind)) for name, kind in rows]


def merge_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    source: str,
    source_columns: set[str],
    *,
    where: str = "TRUE",
) -> int:
    """Merge rows of ``source`` (a SQL relation) into ``table``; return rows inserted/changed.

    Columns the source lacks (an older writer or export) become NULL; extra ones are dropped.
    Derived columns (:mod:`runner.runlog.totals`) are never taken from a source, and an
    upsert keeps them: :func:`~runner.runlog.totals.refresh_derived` sets them afterwards.
    """
    key = KEY_OF[table]
    if key not in source_columns:
        return 0
    derived = DERIVED.get(table, frozenset())
    columns = [name for name, _ in table_columns(con, table) if name not in derived]
    select = ", ".join(quote(c) if c in source_columns else f"NULL AS {quote(c)}" for c in columns)
    insert_cols = ", ".join(quote(c) for c in columns)
    filtered = f"SELECT {select} FROM {source} WHERE ({where}) AND {quote(key)} IS NOT NULL"
    if table in UPSERT_TABLES:
        updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns if c != key)
        sql = (
            f"INSERT INTO {quote(table)} ({insert_cols}) {filtered} "
            f"QUALIFY row_number() OVER (PARTITION BY {quote(key)} ORDER BY seq DESC) = 1 "
            f"ON CONFLICT ({quote(key)}) DO UPDATE SET {updates} "
            f"WHERE excluded.seq > {quote(table)}.seq"
        )
    else:
        sql = (
            f"INSERT OR IGNORE INTO {quote(table)} ({insert_cols}) {filtered} "
            f"QUALIFY row_number() OVER (PARTITION BY {quote(key)}) = 1"
        )
    # fetchall, not fetchone: a half-read result blocks the connection's next statement.
    rows = con.execute(sql).fetchall()
    return int(rows[0][0]) if rows else 0


def lines_of(table: str) -> str:
    """The staged journal lines that hold rows of ``table`` (a SQL condition): its own,
    and for ``runs`` also the event lines that start a run
    (:class:`~runner.runlog.records.RunStartEvent`: an event line with a ``started_at``,
    which no other event line has)."""
    own = f'"table" = {sql_str(table)}'
    if table == "runs":
        return f"({own} OR (\"table\" = 'events' AND started_at IS NOT NULL))"
    return own


def sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_list(paths: Iterable[Path]) -> str:
    return "[" + ", ".join(sql_str(str(p)) for p in paths) + "]"


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN ... COMMIT; on failure roll back if DuckDB still can, and let the *first*
    error through (a full disk), never "cannot rollback - no transaction is active"."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        quietly(con, "ROLLBACK")
        raise


def quietly(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    with suppress(duckdb.Error):
        con.execute(sql)


def one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
