"""Batch client CPU per row against the engine's per job, and batch throughput.

A row of ``mediamix batch`` should cost what an engine job costs. Target (issue 16): for a
one-step text pipeline, client CPU per row (reading and checking the rows included) at
most 1.25x the engine's CPU per job, both measured by the harness in the same run (fake
server on one core, each in a fresh process on the other, 2,000 rows or jobs at
concurrency 64, medians of 3). The 500-row runs print throughput at 0 and 100 ms latency.
Run: ``pytest tests/benchmarks/test_batch_bench.py -m benchmark -s``.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from runner.batch import BatchOptions, BatchRun, prepare_batch
from runner.config.project import load_workspace
from tests.batch_support import KEY, KEY_ENV, PIPELINE, write_rows
from tests.benchmarks.harness import BATCH_64, measure, report
from tests.benchmarks.test_transport_bench import fake_server_process
from tests.engine_support import make_project

pytestmark = pytest.mark.benchmark

#: A batch row's client CPU over an engine job's.
ROW_RATIO_TARGET = 1.25


def test_batch_row_cpu_within_1_25x_an_engine_job() -> None:
    # Both as the commands do them, each ending with the merge into runlog.duckdb.
    runs = measure(BATCH_64, ["mediamix-run", "mediamix-batch"])
    print("\n" + report(BATCH_64, runs))
    ratio = runs["mediamix-batch"].cpu_ms / runs["mediamix-run"].cpu_ms
    print(f"  batch CPU/row = {ratio:.2f}x the engine's CPU/job (target <= {ROW_RATIO_TARGET}x)")
    assert runs["mediamix-batch"].completed == BATCH_64.requests
    assert ratio <= ROW_RATIO_TARGET


def _project(root: Path, base_url: str) -> None:
    account = {"name": "oa", "provider": "openai", "api_key_env": KEY_ENV, "base_url": base_url}
    project = make_project(root, accounts=json.dumps({"accounts": [account]}))
    project.write(
        "presets/chat.yaml",
        json.dumps(
            {"media_type": "text", "models": [{"provider": "openai", "model": "gpt-4o-mini"}]}
        ),
    )
    project.write("pipelines/notes.yaml", json.dumps(PIPELINE))


@pytest.mark.parametrize("latency_s", [0.0, 0.1])
def test_batch_500_rows_concurrency_64(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, latency_s: float
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    rows = write_rows(tmp_path / "rows.jsonl", 500)
    with fake_server_process(latency_s) as url:
        _project(tmp_path / "p", url + "/openai/v1")
        ws = load_workspace(tmp_path / "p")
        options = BatchOptions(concurrency=64)
        cpu, wall = time.process_time(), time.perf_counter()
        prepared = prepare_batch(ws, "notes", rows, options)
        result = asyncio.run(BatchRun(ws, prepared, options).run())
        wall_s = time.perf_counter() - wall
        cpu_ms = (time.process_time() - cpu) * 1000 / 500
    assert result.rows_succeeded == 500
    print(
        f"\nbatch 500 rows @64, server latency {latency_s * 1000:.0f} ms: "
        f"{500 / wall_s:.0f} jobs/s (wall {wall_s:.2f} s), client CPU {cpu_ms:.2f} ms/job"
    )
