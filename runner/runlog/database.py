"""Opening ``runlog.duckdb``: in a format every DuckDB client of the last two years reads,
never half-made, and with one clear line when another program holds it.

- **Readable by DuckDB 1.1+.** DuckDB 1.2+ can write storage formats older clients cannot
  read, and 2.0 does so by default. A new file is created with
  ``storage_compatibility_version`` ``v1.0.0`` (storage version 64, what DuckDB 1.0 and
  1.1 read; newer clients read it too), and DuckDB keeps a file's format when it writes
  to it later. A file an earlier mediamix made in a newer format is copied into the old
  format once.
- **Never half-made.** A new database is built under a temporary name and renamed into
  place, so a full disk leaves no 0-byte ``runlog.duckdb``. One found anyway (empty, or
  not a DuckDB file at all) is moved aside with a message; the inbox rebuilds what it can.
- **Holders named.** DuckDB lets one process open a file read-write or many read-only.
  When another program (the DuckDB CLI, DBeaver, a notebook) holds it, :class:`HeldByOther`
  says who, from DuckDB's own message, and what to do.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from runner.errors import RunLogError

#: What DuckDB 1.0 and 1.1 read (storage version 64); every later client reads it too.
STORAGE_COMPATIBILITY = "v1.0.0"

_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.*?) \(PID (?P<pid>\d+)\)")
_READ_ONLY_HINT = "you would be able to open this database in read-only mode"


@dataclass(frozen=True)
class Holder:
    """Another process holding ``runlog.duckdb``, as DuckDB describes it."""

    program: str | None
    pid: int | None
    #: True when the holder opened it read-only (so readers can still read).
    read_only: bool

    def describe(self) -> str:
        who = Path(self.program).name if self.program else "another program"
        if self.pid is not None:
            who += f" (PID {self.pid})"
        return who


class HeldByOther(RunLogError):
    """``runlog.duckdb`` is open in another program in a way that excludes us."""

    def __init__(self, path: Path, holder: Holder, *, wanted: str) -> None:
        self.path = path
        self.holder = holder
        mode = "read-only" if holder.read_only else "for writing"
        super().__init__(f"{path} is held {mode} by {holder.describe()}; {wanted}")


def holder_of(exc: duckdb.Error) -> Holder | None:
    """The holder named in DuckDB's "Could not set lock" error, or None for other errors."""
    text = str(exc)
    if "Could not set lock" not in text and "Conflicting lock" not in text:
        return None
    found = _HOLDER.search(text)
    return Holder(
        program=found["program"] if found else None,
        pid=int(found["pid"]) if found else None,
        read_only=_READ_ONLY_HINT in text,
    )


def _connect(path: Path, *, read_only: bool, new: bool = False) -> duckdb.DuckDBPyConnection:
    if read_only:
        return duckdb.connect(str(path), read_only=True)
    try:
        return duckdb.connect(
            str(path), config={"storage_compatibility_version": STORAGE_COMPATIBILITY}
        )
    except duckdb.InvalidInputException:
        if not new:
            raise
        # DuckDB 1.1 does not know the setting; it only ever writes version 64 anyway.
        return duckdb.connect(str(path))


def open_database(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Connect to an existing ``runlog.duckdb``; foreign errors become RunLogError."""
    try:
        return _connect(path, read_only=read_only)
    except duckdb.Error as exc:
        holder = holder_of(exc)
        if holder is not None:
            wanted = "it is needed read-only" if read_only else "it is needed for writing"
            raise HeldByOther(path, holder, wanted=wanted) from exc
        raise RunLogError(f"cannot open run log {path}: {_one_line(exc)}") from exc


def create_database(path: Path, prepare: object) -> None:
    """Make a new database at ``path``: built under a temporary name, then renamed.

    ``prepare(con)`` fills it (migrations). A failure (a full disk) leaves nothing behind.
    """
    temp = path.with_name(f".{path.name}.new-{os.getpid()}")
    _remove(temp)
    try:
        con = _connect(temp, read_only=False, new=True)
        try:
            prepare(con)  # type: ignore[operator]
            con.execute("CHECKPOINT")
        finally:
            con.close()
        _remove(Path(f"{path}.wal"))  # a stray log of an older file must not replay here
        os.replace(temp, path)
    except (duckdb.Error, OSError) as exc:
        _remove(temp)
        raise RunLogError(f"cannot create run log {path}: {_one_line(exc)}") from exc
    finally:
        _remove(Path(f"{temp}.wal"))


def unreadable_file_reason(path: Path) -> str | None:
    """Why ``path`` cannot be a DuckDB database (empty, or not DuckDB's magic), else None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    if not head:
        return "it is empty (a full disk while it was being created?)"
    if len(head) < 12 or head[8:12] != b"DUCK":
        return "it is not a DuckDB database file"
    return None


def move_aside(path: Path) -> Path:
    """Rename a damaged database (and its WAL) out of the way; return the new name."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    os.replace(path, target)
    wal = Path(f"{path}.wal")
    if wal.exists():
        os.replace(wal, Path(f"{target}.wal"))
    return target


def storage_version(con: duckdb.DuckDBPyConnection) -> tuple[int, ...] | None:
    """The storage format the open database is written in (None when DuckDB cannot say)."""
    try:
        rows = con.execute(
            "SELECT tags['storage_version'] FROM duckdb_databases() "
            "WHERE database_name = current_database()"
        ).fetchall()
    except duckdb.Error:  # DuckDB 1.1 has no tags; it writes only the old format anyway
        return None
    text = str(rows[0][0] or "") if rows else ""
    digits = re.findall(r"\d+", text)
    return tuple(int(d) for d in digits[:3]) if digits else None


def needs_downgrade(con: duckdb.DuckDBPyConnection) -> bool:
    version = storage_version(con)
    return version is not None and version > (1, 0, 0)


def rewrite_compatible(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Copy the open database into the old storage format and swap the files.

    The caller holds the run log's exclusive lock and closes ``con`` afterwards.
    """
    temp = path.with_name(f".{path.name}.compat-{os.getpid()}")
    _remove(temp)
    try:
        source = con.execute("SELECT current_database()").fetchall()[0][0]
        con.execute(
            f"ATTACH '{_sql_path(temp)}' AS mediamix_compat "
            f"(STORAGE_VERSION '{STORAGE_COMPATIBILITY}')"
        )
        try:
            con.execute(f'COPY FROM DATABASE "{source}" TO mediamix_compat')
        finally:
            con.execute("DETACH mediamix_compat")
    except (duckdb.Error, OSError) as exc:
        _remove(temp)
        raise RunLogError(
            f"cannot rewrite run log {path} in a format DuckDB 1.1 reads: {_one_line(exc)}"
        ) from exc
    con.close()
    _remove(Path(f"{path}.wal"))
    os.replace(temp, path)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
