"""Run-log speed: the cost of ``write()`` on the engine's hot path, and ingest throughput.

Run with: pytest tests/benchmarks/test_runlog_bench.py -m benchmark -s
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runner.runlog.records import AttemptRecord
from runner.runlog.store import RunLog

N = 100_000


def _attempts(n: int) -> list[AttemptRecord]:
    t0 = datetime.now(UTC)
    return [
        AttemptRecord(
            attempt_id=f"{i:032x}",
            job_id=f"{i // 3:032x}",
            run_id="bench",
            number=i % 3 + 1,
            provider="openai",
            model="gpt-image-1",
            account="main",
            started_at=t0,
            finished_at=t0,
            status="succeeded" if i % 4 else "failed",
            latency_ms=1234.5,
            error_class=None if i % 4 else "transient",
            error=None if i % 4 else "HTTP 503 from upstream",
            bytes=123_456,
            cost_usd=0.04,
        )
        for i in range(n)
    ]


@pytest.mark.benchmark
def test_write_cost_and_ingest_throughput_for_100k_attempts(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "log")
    records = _attempts(N)
    writer = log.writer()

    start = time.perf_counter()
    for record in records:
        writer.write(record)
    write_s = time.perf_counter() - start
    start = time.perf_counter()
    writer.close()
    drain_s = time.perf_counter() - start
    files = len(log.pending_files())

    start = time.perf_counter()
    result = log.ingest()
    ingest_s = time.perf_counter() - start

    # Ingesting into a table that already holds 100k rows (the id check has work to do).
    writer = log.writer()
    for record in records:
        writer.write(AttemptRecord(**{**vars(record), "attempt_id": "b" + record.attempt_id}))
    writer.close()
    start = time.perf_counter()
    second = log.ingest()
    ingest2_s = time.perf_counter() - start

    with log.queries() as q:
        start = time.perf_counter()
        stats = q.model_stats(24, recent=None)
        stats_ms = (time.perf_counter() - start) * 1000

    print(
        f"\nrunlog: write() {write_s / N * 1e6:.2f} us/record; "
        f"close() drained the rest in {drain_s:.2f}s; {files} batch files; "
        f"ingest {N / ingest_s:,.0f} records/s into an empty table, "
        f"{N / ingest2_s:,.0f} records/s into 100k rows; "
        f"model_stats over 200k attempts {stats_ms:.1f} ms"
    )
    assert result.rows["attempts"] == N
    assert second.rows["attempts"] == N
    assert stats[0].attempts == 2 * N
    # Generous bounds: these catch an accidental O(n) write or per-row inserts, not noise.
    assert write_s / N < 50e-6
    assert N / ingest_s > 10_000
