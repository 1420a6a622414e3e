"""A run-log directory: ``runlog.duckdb`` (merged history), ``inbox/`` (journals and batch
files from writers) and ``runlog.lock``.

Only a merge (``ingest``, ``merge_now``, ``import_``) opens the database read-write, and
only while holding mediamix's lock exclusively; mediamix readers hold it shared. Writers
never open the database at all (see :mod:`runner.runlog.writer`), so concurrent runs
cannot see "database is locked".

Another program holding ``runlog.duckdb`` (the DuckDB CLI, DBeaver, a notebook) is never
in the way: a merge that cannot open the file leaves the records in the inbox for the
next one; a reader that cannot merge reads what is merged (read-only) and says how many
records wait; only when the file cannot be opened at all does a reader fail, with one
line naming the holder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from runner.errors import RunLogError
from runner.runlog.database import (
    HeldByOther,
    create_database,
    move_aside,
    needs_downgrade,
    open_database,
    rewrite_compatible,
    unreadable_file_reason,
)
from runner.runlog.inbox import complete_batches, records_waiting, sweep_temporaries
from runner.runlog.lock import locked
from runner.runlog.merge import (
    TABLES,
    lines_of,
    merge_table,
    one_line,
    quietly,
    sql_list,
    sql_str,
    table_columns,
    transaction,
)
from runner.runlog.migrations import SCHEMA_VERSION, migrate
from runner.runlog.queries import Queries
from runner.runlog.totals import DERIVED, TOTALLED_FROM, refresh_derived
from runner.runlog.transfer import export_sources, export_tables, import_tables
from runner.runlog.writer import INBOX, RunLogWriter

DB_FILE = "runlog.duckdb"
LOCK_FILE = "runlog.lock"
REJECTED = "rejected"

NoticeCallback = Callable[[str], None]


@dataclass
class IngestResult:
    files: int = 0
    #: Rows inserted or changed, per table.
    rows: dict[str, int] = field(default_factory=dict)
    #: Batch files DuckDB could not read, moved to ``rejected/`` (kept, never deleted).
    rejected: list[Path] = field(default_factory=list)


@dataclass
class MergeOutcome:
    """What a best-effort merge did: merged, or why the records still wait."""

    merged: IngestResult | None = None
    #: Set when the records could not be merged now (they wait in the inbox).
    waiting_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.waiting_reason is None


class RunLog:
    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        lock_timeout_s: float = 60.0,
        on_notice: NoticeCallback | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.lock_timeout_s = lock_timeout_s
        #: One-line messages for the user (records waiting, a damaged file moved aside);
        #: the library never prints, the CLI passes a callback that does.
        self.on_notice = on_notice
        self.notices: list[str] = []

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
        """Complete batch files waiting in the inbox (dead writers' journals adopted)."""
        return complete_batches(self.inbox)

    def records_waiting(self) -> int:
        """Records not merged yet, live journals included."""
        return records_waiting(self.inbox)

    def notice(self, message: str) -> None:
        self.notices.append(message)
        if self.on_notice is not None:
            self.on_notice(message)

    # -- writing the database ------------------------------------------------------

    @contextmanager
    def _read_write(
        self, *, lock_timeout_s: float | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunLogError(f"cannot create run-log directory {self.directory}: {exc}") from exc
        timeout = self.lock_timeout_s if lock_timeout_s is None else lock_timeout_s
        with locked(self.lock_path, exclusive=True, timeout_s=timeout):
            con = self._open_for_writing()
            try:
                yield con
            except duckdb.Error as exc:
                raise RunLogError(f"run log {self.db_path}: {one_line(exc)}") from exc
            finally:
                con.close()

    def _open_for_writing(self) -> duckdb.DuckDBPyConnection:
        path = self.db_path
        if path.exists():
            reason = unreadable_file_reason(path)
            if reason is not None:
                moved = move_aside(path)
                self.notice(
                    f"{path} could not be read ({reason}); moved it to {moved.name} and "
                    "started a new one (records still in the inbox are merged into it)"
                )
        if not path.exists():
            create_database(path, migrate)
        con = open_database(path, read_only=False)
        try:
            if needs_downgrade(con):
                # Written by an earlier mediamix in DuckDB 2's format: copy it into the
                # format DuckDB 1.1+ reads, once.
                rewrite_compatible(con, path)
                con = open_database(path, read_only=False)
            migrate(con)
        except duckdb.Error as exc:
            con.close()
            raise RunLogError(f"run log {path}: {one_line(exc)}") from exc
        except BaseException:
            con.close()
            raise
        return con

    def ingest(self) -> IngestResult:
        """Merge every inbox batch into the database in one transaction, then delete them.

        Waits (up to ``lock_timeout_s``) for other mediamix processes; raises
        :class:`~runner.runlog.database.HeldByOther` when another program holds the file.
        """
        with self._read_write() as con:
            return self._ingest(con)

    def merge_now(self, *, wait_s: float = 2.0) -> MergeOutcome:
        """Merge what waits in the inbox if the database is free; never fails for a holder.

        Runs and batches call this as they finish, so a user who opens the file right
        after ``mediamix run`` sees the run. When another program holds the file (or a
        mediamix reader holds the lock past ``wait_s``), the records stay in the inbox
        and land at the next merge; the outcome says why.
        """
        if not self.pending_files() and self.db_path.is_file():
            return MergeOutcome(IngestResult())
        try:
            with self._read_write(lock_timeout_s=wait_s) as con:
                return MergeOutcome(self._ingest(con))
        except HeldByOther as exc:
            return MergeOutcome(
                waiting_reason=f"{exc.path.name} is held by {exc.holder.describe()}"
            )
        except RunLogError as exc:
            return MergeOutcome(waiting_reason=str(exc))

    def _ingest(self, con: duckdb.DuckDBPyConnection) -> IngestResult:
        result = IngestResult()
        sweep_temporaries(self.inbox)
        files = self.pending_files()
        if not files:
            return result
        columns = self._batch_columns(con)
        try:
            self._stage(con, files, columns)
        except duckdb.Error:
            files, result.rejected = self._set_aside_unreadable(con, files, columns)
            for path in result.rejected:
                self.notice(
                    f"run log: {path.name} could not be merged and was moved to {path.parent}"
                )
            if not files:
                return result
            self._stage(con, files, columns)
        try:
            with transaction(con):
                for table in TABLES:
                    result.rows[table] = merge_table(
                        con, table, "staged", set(columns), where=lines_of(table)
                    )
                tables = ", ".join(sql_str(t) for t in TOTALLED_FROM)
                refresh_derived(con, f'SELECT job_id FROM staged WHERE "table" IN ({tables})')
        finally:
            quietly(con, "DROP TABLE IF EXISTS staged")
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
            derived = DERIVED.get(table, frozenset())
            for name, kind in table_columns(con, table):
                if name not in derived:  # computed by the merge, never read from a line
                    columns.setdefault(name, kind)
        return columns

    @staticmethod
    def _read_json(files: list[Path], columns: dict[str, str]) -> str:
        spec = ", ".join(f"{sql_str(name)}: {sql_str(kind)}" for name, kind in columns.items())
        return (
            f"read_json({sql_list(files)}, format = 'newline_delimited', "
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

        An unreadable file means damage from outside (a hand edit, a value no column
        type holds); it is kept for a human, never deleted, and never wedges the log.
        """
        good: list[Path] = []
        moved: list[Path] = []
        for path in files:
            try:
                self._stage(con, [path], columns)
                good.append(path)
            except duckdb.Error as exc:
                rejected_dir = self.directory / REJECTED
                rejected_dir.mkdir(exist_ok=True)
                target = rejected_dir / path.name
                shutil.move(str(path), target)
                reason = target.with_name(target.name + ".reason.txt")
                reason.write_text(one_line(exc) + "\n", encoding="utf-8")
                moved.append(target)
        return good, moved

    # -- reading -------------------------------------------------------------------

    @contextmanager
    def connect_readonly(
        self, *, lock_timeout_s: float | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """Merge what waits (when the database is free), then yield a read-only connection.

        When another program holds the file read-only, what is merged is read and a
        notice says how many records wait; when it holds it for writing, one line
        (:class:`HeldByOther`) says who and what to do. mediamix's shared lock is held
        until the block ends, so keep the block short.
        """
        timeout = self.lock_timeout_s if lock_timeout_s is None else lock_timeout_s
        outcome = MergeOutcome()
        if self.pending_files() or not self.db_path.is_file():
            outcome = self.merge_now(wait_s=timeout)
        if not self.db_path.is_file():
            if outcome.waiting_reason:
                raise RunLogError(f"cannot read the run log: {outcome.waiting_reason}")
            raise RunLogError(f"no run log at {self.db_path}")
        for _ in range(2):
            stack = ExitStack()
            stack.enter_context(locked(self.lock_path, exclusive=False, timeout_s=timeout))
            try:
                con = open_database(self.db_path, read_only=True)
            except HeldByOther as exc:
                stack.close()
                raise self._held_for_writing(exc) from exc
            except BaseException:
                stack.close()
                raise
            if _schema_version(con) >= SCHEMA_VERSION:
                break
            # Written by an older mediamix: migrate (read-write), then open again.
            con.close()
            stack.close()
            self.ingest()
        else:
            raise RunLogError(f"cannot bring run log {self.db_path} to schema {SCHEMA_VERSION}")
        if outcome.waiting_reason:
            waiting = self.records_waiting()
            if waiting:
                self.notice(
                    f"{waiting} run-log record(s) are not merged yet ({outcome.waiting_reason}); "
                    "showing what is merged"
                )
        try:
            yield con
        finally:
            con.close()
            stack.close()

    def _held_for_writing(self, exc: HeldByOther) -> ReadBlocked:
        return ReadBlocked(exc, self.records_waiting(), self.inbox)

    @contextmanager
    def queries(self, *, lock_timeout_s: float | None = None) -> Iterator[Queries]:
        with self.connect_readonly(lock_timeout_s=lock_timeout_s) as con:
            yield Queries(con)

    # -- moving history between machines -------------------------------------------

    def export(self, path: str | os.PathLike[str]) -> dict[str, int]:
        """Write every table to ``PATH/<table>.parquet`` plus ``PATH/manifest.json``."""
        with self.connect_readonly() as con:
            return export_tables(con, Path(path))

    def import_(self, paths: Iterable[str | os.PathLike[str]]) -> dict[str, int]:
        """Merge exports (directories, or ``<table>.parquet`` files) into this log.

        Same rules as ingest, so importing one export twice adds nothing the second time.
        Returns rows inserted or changed per table.
        """
        sources = export_sources([Path(p) for p in paths])
        with self._read_write() as con:
            self._ingest(con)
            return import_tables(con, sources)


class ReadBlocked(RunLogError):
    """``runlog.duckdb`` is open for writing in another program: nothing can read it."""

    def __init__(self, held: HeldByOther, waiting: int, inbox: Path) -> None:
        self.held = held
        self.waiting = waiting
        tail = f"; {waiting} newer record(s) wait in {inbox}" if waiting else ""
        super().__init__(
            f"{held.path} is open for writing in {held.holder.describe()}, so nothing else "
            "can read it: close it there (or open it read-only, e.g. `duckdb -readonly "
            f"{held.path}`) and run this again{tail}"
        )


def _schema_version(con: duckdb.DuckDBPyConnection) -> int:
    try:
        rows = con.execute("SELECT max(version) FROM schema_migrations").fetchall()
    except duckdb.CatalogException:
        return 0
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0
