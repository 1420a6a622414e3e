"""A run-log directory: ``runlog.duckdb`` (merged history), ``inbox/`` (batch files from
writers) and ``runlog.lock``.

Only ``ingest`` and ``import_`` open the database read-write, and only while holding the
lock exclusively; readers hold it shared. Writers never open the database at all (see
:mod:`runner.runlog.writer`), so concurrent runs cannot see "database is locked".
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from runner.errors import RunLogError
from runner.runlog.lock import locked
from runner.runlog.merge import TABLES, merge_table, quote, table_columns
from runner.runlog.migrations import SCHEMA_VERSION, migrate
from runner.runlog.queries import Queries
from runner.runlog.writer import BATCH_SUFFIX, INBOX, RunLogWriter

DB_FILE = "runlog.duckdb"
LOCK_FILE = "runlog.lock"
REJECTED = "rejected"
MANIFEST = "manifest.json"
EXPORT_FORMAT = "mediamix-runlog-export"


@dataclass
class IngestResult:
    files: int = 0
    #: Rows inserted or changed, per table.
    rows: dict[str, int] = field(default_factory=dict)
    #: Batch files DuckDB could not read, moved to ``rejected/`` (kept, never deleted).
    rejected: list[Path] = field(default_factory=list)


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_list(paths: Iterable[Path]) -> str:
    return "[" + ", ".join(_sql_str(str(p)) for p in paths) + "]"


class RunLog:
    def __init__(self, directory: str | os.PathLike[str], *, lock_timeout_s: float = 60.0) -> None:
        self.directory = Path(directory)
        self.lock_timeout_s = lock_timeout_s

    @property
    def db_path(self) -> Path:
        return self.directory / DB_FILE

    @property
    def inbox(self) -> Path:
        return self.directory / INBOX

    @property
    def lock_path(self) -> Path:
        return self.directory / LOCK_FILE

    def exists(self) -> bool:
        return self.db_path.is_file() or self.inbox.is_dir()

    def writer(self, *, flush_interval_s: float = 0.5, max_batch: int = 5000) -> RunLogWriter:
        return RunLogWriter(self.directory, flush_interval_s=flush_interval_s, max_batch=max_batch)

    def pending_files(self) -> list[Path]:
        """Complete batch files waiting in the inbox (temporary ``.*.tmp`` files excluded)."""
        if not self.inbox.is_dir():
            return []
        return sorted(
            p
            for p in self.inbox.iterdir()
            if p.suffix == BATCH_SUFFIX and not p.name.startswith(".")
        )

    # -- writing the database ------------------------------------------------------

    @contextmanager
    def _read_write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunLogError(f"cannot create run-log directory {self.directory}: {exc}") from exc
        with locked(self.lock_path, exclusive=True, timeout_s=self.lock_timeout_s):
            try:
                con = duckdb.connect(str(self.db_path))
            except duckdb.Error as exc:
                raise RunLogError(f"cannot open run log {self.db_path}: {exc}") from exc
            try:
                migrate(con)
                yield con
            except duckdb.Error as exc:
                raise RunLogError(f"run log {self.db_path}: {exc}") from exc
            finally:
                con.close()

    def ingest(self) -> IngestResult:
        """Merge every inbox batch file into the database in one transaction, then delete them."""
        with self._read_write() as con:
            return self._ingest(con)

    def _ingest(self, con: duckdb.DuckDBPyConnection) -> IngestResult:
        result = IngestResult()
        files = self.pending_files()
        if not files:
            return result
        columns = self._batch_columns(con)
        try:
            self._stage(con, files, columns)
        except duckdb.Error:
            files, result.rejected = self._set_aside_unreadable(con, files, columns)
            if not files:
                return result
            self._stage(con, files, columns)
        con.execute("BEGIN TRANSACTION")
        try:
            for table in TABLES:
                where = f'"table" = {_sql_str(table)}'
                result.rows[table] = merge_table(con, table, "staged", set(columns), where=where)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.execute("DROP TABLE IF EXISTS staged")
        # Only now are the rows durable in the database; merging is idempotent, so a crash
        # before these deletions just merges the same files again next time.
        for path in files:
            path.unlink(missing_ok=True)
        result.files = len(files)
        return result

    def _batch_columns(self, con: duckdb.DuckDBPyConnection) -> dict[str, str]:
        # The union of every table's columns: a batch line is one row of one of them.
        columns: dict[str, str] = {"table": "VARCHAR", "seq": "BIGINT"}
        for table in TABLES:
            for name, kind in table_columns(con, table):
                columns.setdefault(name, kind)
        return columns

    @staticmethod
    def _read_json(files: list[Path], columns: dict[str, str]) -> str:
        spec = ", ".join(f"{_sql_str(name)}: {_sql_str(kind)}" for name, kind in columns.items())
        return (
            f"read_json({_sql_list(files)}, format = 'newline_delimited', "
            f"columns = {{{spec}}}, maximum_object_size = 268435456)"
        )

    def _stage(
        self, con: duckdb.DuckDBPyConnection, files: list[Path], columns: dict[str, str]
    ) -> None:
        reader = self._read_json(files, columns)
        con.execute(f"CREATE OR REPLACE TEMP TABLE staged AS SELECT * FROM {reader}")

    def _set_aside_unreadable(
        self, con: duckdb.DuckDBPyConnection, files: list[Path], columns: dict[str, str]
    ) -> tuple[list[Path], list[Path]]:
        """Split files into readable ones and ones moved to ``rejected/``.

        Writers rename only complete files into the inbox, so an unreadable file means
        damage from outside (a full disk, a hand edit); it is kept for a human, not deleted.
        """
        good: list[Path] = []
        moved: list[Path] = []
        for path in files:
            try:
                con.execute(f"SELECT count(*) FROM {self._read_json([path], columns)}").fetchall()
                good.append(path)
            except duckdb.Error:
                rejected_dir = self.directory / REJECTED
                rejected_dir.mkdir(exist_ok=True)
                target = rejected_dir / path.name
                shutil.move(str(path), target)
                moved.append(target)
        return good, moved

    # -- reading -------------------------------------------------------------------

    @contextmanager
    def connect_readonly(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Ingest pending batches, then yield a read-only connection.

        The shared lock is held until the block ends, so keep the block short: an ingest
        by another process waits for it.
        """
        # Opening read-write costs a checkpoint: skip it when there is nothing to merge.
        if self.pending_files() or not self.db_path.is_file():
            self.ingest()
        for _ in range(2):
            stack = ExitStack()
            stack.enter_context(
                locked(self.lock_path, exclusive=False, timeout_s=self.lock_timeout_s)
            )
            try:
                con = duckdb.connect(str(self.db_path), read_only=True)
            except duckdb.Error as exc:
                stack.close()
                raise RunLogError(f"cannot open run log {self.db_path}: {exc}") from exc
            if _schema_version(con) >= SCHEMA_VERSION:
                break
            # Written by an older mediamix: migrate (read-write), then open again.
            con.close()
            stack.close()
            self.ingest()
        else:
            raise RunLogError(f"cannot bring run log {self.db_path} to schema {SCHEMA_VERSION}")
        try:
            yield con
        finally:
            con.close()
            stack.close()

    @contextmanager
    def queries(self) -> Iterator[Queries]:
        with self.connect_readonly() as con:
            yield Queries(con)

    # -- moving history between machines -------------------------------------------

    def export(self, path: str | os.PathLike[str]) -> dict[str, int]:
        """Write every table to ``PATH/<table>.parquet`` plus ``PATH/manifest.json``."""
        target = Path(path)
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunLogError(f"cannot create export directory {target}: {exc}") from exc
        counts: dict[str, int] = {}
        with self.connect_readonly() as con:
            try:
                for table in TABLES:
                    out = target / f"{table}.parquet"
                    con.execute(
                        f"COPY (SELECT * FROM {quote(table)}) TO {_sql_str(str(out))} "
                        "(FORMAT parquet, COMPRESSION zstd)"
                    )
                    rows = con.execute(f"SELECT count(*) FROM {quote(table)}").fetchall()
                    counts[table] = int(rows[0][0])
            except duckdb.Error as exc:
                raise RunLogError(f"cannot export the run log to {target}: {exc}") from exc
        manifest = {"format": EXPORT_FORMAT, "schema_version": SCHEMA_VERSION, "rows": counts}
        (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        return counts

    def import_(self, paths: Iterable[str | os.PathLike[str]]) -> dict[str, int]:
        """Merge exports (directories, or ``<table>.parquet`` files) into this log.

        Same rules as ingest, so importing one export twice adds nothing the second time.
        Returns rows inserted or changed per table.
        """
        sources = _export_files([Path(p) for p in paths])
        counts = {table: 0 for table in TABLES}
        with self._read_write() as con:
            self._ingest(con)
            con.execute("BEGIN TRANSACTION")
            try:
                for table in TABLES:
                    files = sources[table]
                    if not files:
                        continue
                    reader = f"read_parquet({_sql_list(files)}, union_by_name = true)"
                    try:
                        described = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
                    except duckdb.Error as exc:
                        raise RunLogError(f"cannot read {table} export: {exc}") from exc
                    columns = {str(row[0]) for row in described}
                    counts[table] = merge_table(con, table, reader, columns)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return counts


def _schema_version(con: duckdb.DuckDBPyConnection) -> int:
    try:
        rows = con.execute("SELECT max(version) FROM schema_migrations").fetchall()
    except duckdb.CatalogException:
        return 0
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


def _export_files(paths: list[Path]) -> dict[str, list[Path]]:
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
