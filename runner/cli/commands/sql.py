"""``mediamix sql``: one read-only SQL query over the run log."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import duckdb

from runner.cli.commands.log import log_option, runlog_for
from runner.cli.output import emit, render
from runner.errors import RunLogError, UsageError

#: Statement kinds that only read. DESCRIBE, SHOW, SUMMARIZE, VALUES and FROM-first
#: queries all parse as SELECT.
_READ_ONLY = frozenset({"SELECT", "EXPLAIN", "PRAGMA"})
_EXPLAIN = re.compile(r"^\s*explain\s+(analyze\s+)?", re.IGNORECASE)
#: Types the Python client can only fetch with optional modules (pytz): shown as text.
_AS_TEXT = frozenset({"TIMESTAMP WITH TIME ZONE", "TIME WITH TIME ZONE"})


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def check_read_only(query: str, con: duckdb.DuckDBPyConnection) -> str:
    """The single statement in ``query``, or a UsageError saying why it is refused.

    Parsed by ``con`` (the run log's own, read-only connection): DuckDB's module-level
    parser would start a second, in-memory database just for this, 60 ms of start-up.
    """
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise RunLogError(f"SQL error: {_one_line(exc)}") from exc
    if len(statements) != 1:
        raise UsageError(f"give exactly one SQL statement (got {len(statements)})")
    statement = statements[0]
    kind = statement.type.name
    if kind not in _READ_ONLY:
        raise UsageError(
            f"mediamix sql is read-only: {kind} statements are not allowed "
            "(use SELECT, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN or PRAGMA)"
        )
    if kind == "EXPLAIN":
        inner = _EXPLAIN.sub("", statement.query, count=1)
        if inner != statement.query:
            check_read_only(inner, con)  # EXPLAIN ANALYZE runs its statement
    return statement.query


def run_query(con: duckdb.DuckDBPyConnection, query: str) -> list[dict[str, Any]]:
    try:
        relation = con.sql(query)
        if relation is None:
            return []
        if any(str(t) in _AS_TEXT for t in relation.types):
            projection = ", ".join(
                f'CAST("{c}" AS VARCHAR) AS "{c}"' if str(t) in _AS_TEXT else f'"{c}"'
                for c, t in zip(relation.columns, relation.types, strict=True)
            )
            relation = relation.project(projection)
        columns = relation.columns
        return [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]
    except duckdb.Error as exc:
        raise RunLogError(f"SQL error: {_one_line(exc)}") from exc


@click.command("sql")
@click.argument("query")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "markdown"]),
    default="table",
    show_default=True,
)
@log_option
@click.pass_context
def sql_cmd(ctx: click.Context, query: str, fmt: str, log_dir: Path | None) -> None:
    """Run one read-only SQL query over the run log (tables: runs, jobs, attempts, events,
    artifacts; views: account_health, v_success_by_preset, v_cost_by_account_day,
    v_failures_by_error_class, v_latency_by_model).

    \b
    mediamix sql "SELECT status, count(*) FROM jobs GROUP BY ALL"
    """
    with runlog_for(ctx, log_dir).connect_readonly() as con:
        rows = run_query(con, check_read_only(query, con))
    emit(render(rows, fmt))
