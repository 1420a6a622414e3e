"""What the engine needs from the run log: somewhere to put records, cheaply."""

from __future__ import annotations

from typing import Protocol

from runner.runlog.records import Record


class RunLogSink(Protocol):
    def write(self, record: Record) -> None:
        """Queue a record; must not block on I/O. Run and job records are upserts by id."""

    def flush(self) -> None:
        """Make everything written so far durable."""

    def close(self) -> None:
        """Flush and release resources."""


class MemorySink:
    """Keeps records in a list: for dry runs and for unit tests of pure engine logic."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def write(self, record: Record) -> None:
        self.records.append(record)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None
