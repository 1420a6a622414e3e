"""Cluster batches, measured (on demand: ``pytest tests/benchmarks/test_cluster_bench.py
-m benchmark -s``).

1. A CPU-bound local step (40 slideshow videos, ffmpeg) on 1 vs 2 Dask workers of one
   row at a time each: the speed-up the second worker brings on this machine.
2. Client CPU per job for a 2,000-job text batch without and with the cluster. With the
   cluster, the scheduler and workers are separate processes (``dask scheduler`` and
   ``dask worker``) and the fake server too, so ``time.process_time`` counts the mediamix
   client alone: it keeps the ledger (every record of every worker is written by it) but
   runs no engine.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from runner.batch import BatchOptions, BatchRun, prepare_batch
from runner.config.model import ClusterSpec
from runner.config.project import load_workspace
from tests.batch_support import KEY, KEY_ENV, PIPELINE, write_rows
from tests.benchmarks.test_transport_bench import fake_server_process
from tests.cluster_support import (
    cluster_environment,
    free_port,
    local_cluster,
    spawn,
    stop,
    wait_for_workers,
)
from tests.engine_support import make_project

pytestmark = pytest.mark.benchmark
pytest.importorskip("distributed")

VIDEOS = 40
JOBS = 2000


def _run(root: Path, rows: Path, options: BatchOptions) -> tuple[int, float, float]:
    ws = load_workspace(root)
    cpu, wall = time.process_time(), time.perf_counter()
    prepared = prepare_batch(ws, "p", rows, options)
    result = asyncio.run(BatchRun(ws, prepared, options).run())
    return result.rows_succeeded, time.perf_counter() - wall, time.process_time() - cpu


def test_slideshow_videos_on_one_and_two_workers(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    project.write(
        "presets/show.yaml",
        "media_type: video\nmodels:\n  - {provider: local, model: slideshow}\n",
    )
    project.write(
        "pipelines/p.yaml",
        json.dumps(
            {
                "name": "p",
                "inputs": {"topic": {"type": "string"}, "n": {"type": "integer"}},
                "steps": [{"id": "show", "preset": "show", "prompt": "{{ inputs.topic }}"}],
            }
        ),
    )
    walls = {}
    with cluster_environment(tmp_path / "home"):
        for workers in (1, 2):
            rows = write_rows(tmp_path / f"rows{workers}.jsonl", VIDEOS, start=1000 * workers)
            with local_cluster(workers) as cluster:
                spec = ClusterSpec(cluster.scheduler_address)
                warm = write_rows(tmp_path / f"warm{workers}.jsonl", workers, start=99000 + workers)
                _run(project.root, warm, BatchOptions(concurrency=1, cluster=spec))
                done, wall, _ = _run(project.root, rows, BatchOptions(concurrency=1, cluster=spec))
            assert done == VIDEOS
            walls[workers] = wall
            print(f"\n{VIDEOS} slideshow videos, {workers} worker(s) x 1 row: {wall:.1f} s")
    print(f"speed-up with 2 workers: {walls[1] / walls[2]:.2f}x")


@contextmanager
def _dask_processes(home: Path, workers: int) -> Iterator[str]:
    address = f"tcp://127.0.0.1:{free_port()}"
    port = address.rsplit(":", 1)[1]
    dask = [sys.executable, "-m", "dask"]
    processes = [spawn([*dask, "scheduler", "--host", "127.0.0.1", "--port", port])]
    try:
        wait_for_workers(address, 0)
        for n in range(workers):
            processes.append(
                spawn(
                    [
                        *dask,
                        "worker",
                        address,
                        "--nthreads",
                        "2",
                        "--no-nanny",
                        "--local-directory",
                        str(home / f"w{n}"),
                    ]
                )
            )
        wait_for_workers(address, workers)
        yield address
    finally:
        for process in reversed(processes):
            stop(process)


def test_client_cpu_per_job_with_and_without_the_cluster(tmp_path: Path) -> None:
    with cluster_environment(tmp_path / "home"), fake_server_process(0.05) as url:
        account = {"name": "oa", "provider": "openai", "api_key_env": KEY_ENV,
                   "base_url": url + "/openai/v1"}  # fmt: skip
        results = {}
        for mode in ("local", "cluster"):
            project = make_project(tmp_path / mode, accounts=json.dumps({"accounts": [account]}))
            project.write(
                "presets/chat.yaml",
                json.dumps(
                    {
                        "media_type": "text",
                        "models": [{"provider": "openai", "model": "gpt-4o-mini"}],
                    }
                ),
            )
            project.write("pipelines/p.yaml", json.dumps({**PIPELINE, "name": "p"}))
            rows = write_rows(tmp_path / f"{mode}.jsonl", JOBS)
            if mode == "local":
                results[mode] = _run(project.root, rows, BatchOptions(concurrency=64))
            else:
                with _dask_processes(tmp_path / "home", 2) as address:
                    spec = ClusterSpec(address)
                    warm = write_rows(tmp_path / "warm.jsonl", 4, start=90000)
                    _run(project.root, warm, BatchOptions(concurrency=32, cluster=spec))
                    results[mode] = _run(
                        project.root, rows, BatchOptions(concurrency=32, cluster=spec)
                    )
    assert KEY
    for mode, (done, wall, cpu) in results.items():
        assert done == JOBS
        print(
            f"\n{JOBS} text jobs ({mode}): wall {wall:.1f} s, client CPU {cpu * 1000 / JOBS:.2f} "
            "ms/job"
        )
