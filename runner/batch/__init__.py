"""Batches: one pipeline run per row of a JSONL/CSV file, sharded, resumable, never paying
twice for a job that already succeeded.

    prepared = prepare_batch(ws, "pipelines/p.yaml", "rows.jsonl", options)   # calls nothing
    result = await BatchRun(ws, prepared, options).run()
"""

from runner.batch.rowrun import RowOutcome
from runner.batch.rows import BadRow, InputRows, Row, read_rows
from runner.batch.runner import (
    BatchOptions,
    BatchResult,
    BatchRun,
    BatchSnapshot,
    PreparedBatch,
    RowFailure,
    prepare_batch,
)
from runner.batch.shard import Shard, parse_shard

__all__ = [
    "BadRow",
    "BatchOptions",
    "BatchResult",
    "BatchRun",
    "BatchSnapshot",
    "InputRows",
    "PreparedBatch",
    "Row",
    "RowFailure",
    "RowOutcome",
    "Shard",
    "parse_shard",
    "prepare_batch",
    "read_rows",
]
