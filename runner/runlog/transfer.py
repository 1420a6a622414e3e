"""Moving history between machines: ``mediamix log export`` and ``log import``.

An export is a directory of ``<table>.parquet`` files plus ``manifest.json``; importing
merges them by the same rules as ingest, so importing one export twice adds nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from runner.errors import RunLogError
from runner.runlog.merge import TABLES, merge_table, quote, sql_list, sql_str, transaction
from runner.runlog.migrations import SCHEMA_VERSION
from runner.runlog.totals import TOTALLED_FROM, refresh_derived

MANIFEST = "manifest.json"
EXPORT_FORMAT = "mediamix-runlog-export"


def export_tables(con: duckdb.DuckDBPyConnection, target: Path) -> dict[str, int]:
    """Write every table of ``con`` to ``target/<table>.parquet`` plus the manifest."""
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunLogError(f"cannot create export directory {target}: {exc}") from exc
    counts: dict[str, int] = {}
    try:
        for table in TABLES:
            out = target / f"{table}.parquet"
            con.execute(
                f"COPY (SELECT * FROM {quote(table)}) TO {sql_str(str(out))} "
                "(FORMAT parquet, COMPRESSION zstd)"
            )
            rows = con.execute(f"SELECT count(*) FROM {quote(table)}").fetchall()
            counts[table] = int(rows[0][0])
    except duckdb.Error as exc:
        raise RunLogError(f"cannot export the run log to {target}: {exc}") from exc
    manifest = {"format": EXPORT_FORMAT, "schema_version": SCHEMA_VERSION, "rows": counts}
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return counts


def import_tables(con: duckdb.DuckDBPyConnection, sources: dict[str, list[Path]]) -> dict[str, int]:
    """Merge the Parquet files of each table into ``con`` in one transaction."""
    counts = {table: 0 for table in TABLES}
    touched: list[str] = []
    with transaction(con):
        for table in TABLES:
            files = sources[table]
            if not files:
                continue
            reader = f"read_parquet({sql_list(files)}, union_by_name = true)"
            try:
                described = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
            except duckdb.Error as exc:
                raise RunLogError(f"cannot read {table} export: {exc}") from exc
            columns = {str(row[0]) for row in described}
            counts[table] = merge_table(con, table, reader, columns)
            if table in TOTALLED_FROM and "job_id" in columns:
                touched.append(f"SELECT job_id FROM {reader}")
        if touched:
            refresh_derived(con, " UNION ALL ".join(touched))
    return counts


def export_sources(paths: list[Path]) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {table: [] for table in TABLES}
    for path in paths:
        if path.is_dir():
            manifest = path / MANIFEST
            if manifest.is_file():
                _check_manifest(manifest)
            hits = [path / f"{t}.parquet" for t in TABLES if (path / f"{t}.parquet").is_file()]
            if not hits:
                raise RunLogError(f"{path} holds no run-log export (no <table>.parquet files)")
            for hit in hits:
                found[hit.stem].append(hit)
        elif path.is_file() and path.suffix == ".parquet" and path.stem in found:
            found[path.stem].append(path)
        elif path.exists():
            raise RunLogError(
                f"{path} is not a run-log export: expected a directory from `mediamix log "
                f"export` or a file named <table>.parquet ({', '.join(TABLES)})"
            )
        else:
            raise RunLogError(f"{path}: no such file or directory")
    return found


def _check_manifest(path: Path) -> None:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunLogError(f"cannot read {path}: {exc}") from exc
    version = manifest.get("schema_version") if isinstance(manifest, dict) else None
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise RunLogError(
            f"{path.parent} was exported with run-log schema version {version}, newer than "
            f"this mediamix understands ({SCHEMA_VERSION}); upgrade mediamix to import it"
        )
