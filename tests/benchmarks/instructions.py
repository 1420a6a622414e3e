"""Instructions per job, counted by callgrind: a measure that machine noise cannot move.

CPU seconds on a shared VM drift by 30% from one minute to the next; the number of
instructions a job executes does not. This runs a workload twice under valgrind, small and
large, and divides the difference by the difference in jobs, so start-up and warm-up
cancel out. Kernel work (file creates, socket calls) is not counted: CPU-time benchmarks
cover that.

    python -m tests.benchmarks.instructions engine       # the engine benchmark's path
    python -m tests.benchmarks.instructions transport    # the HTTP client alone
    python -m tests.benchmarks.instructions aiohttp      # the floor: a bare aiohttp loop
    python -m tests.benchmarks.instructions batch        # `mediamix batch`, per row
    python -m tests.benchmarks.instructions image        # image jobs (the judge's baseline)
    python -m tests.benchmarks.instructions judged       # the same image jobs, judged

Needs valgrind (``apt-get install valgrind``); each count takes a minute or two.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.conftest import REPO

WORKLOADS = ("engine", "transport", "aiohttp", "batch", "image", "judged")


def count(workload: str, jobs: int) -> int:
    """Instructions of one run of ``workload`` with ``jobs`` jobs (whole process)."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "tests.benchmarks.instructions",
        "--run",
        workload,
        "--jobs",
        str(jobs),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"valgrind run failed:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def _run_engine(jobs: int) -> None:
    from tests.benchmarks.projects import bench_project

    _run_fanout(jobs, 64, lambda folder, url: bench_project(folder, url))


def _run_images(jobs: int, *, judged: bool) -> None:
    from tests.benchmarks.test_judge_bench import CONCURRENCY, bench_project

    _run_fanout(jobs, CONCURRENCY, lambda folder, url: bench_project(folder, url, judged=judged))


def _run_fanout(jobs: int, concurrency: int, make_project: Callable[[Path, str], Path]) -> None:
    """One step fanned over ``jobs`` items on one engine, after a warm-up of its own items
    (a job whose key this engine made already would be reused), against a fake server in
    its own process (valgrind counts this process only)."""
    from runner.config.project import load_workspace
    from runner.engine.api import plan_pipeline
    from runner.engine.run import Engine
    from runner.engine.services import EngineOptions
    from runner.runlog.store import RunLog
    from tests.benchmarks.test_transport_bench import fake_server_process

    os.environ["MMX_BENCH_KEY"] = "sk-bench"
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(dir=shm) as folder, fake_server_process(0.0) as url:
        root = make_project(Path(folder) / "p", url)
        ws = load_workspace(root)
        pipeline = root / "pipelines/p.yaml"
        warm = plan_pipeline(pipeline, ws, {"items": list(range(jobs, jobs + concurrency))})
        plan = plan_pipeline(pipeline, ws, {"items": list(range(jobs))})

        async def go() -> None:
            options = EngineOptions(concurrency=concurrency, no_wait=True)
            with RunLog(root / ".mediamix" / "runlog").writer() as sink:
                async with Engine(ws, sink, options=options) as engine:
                    await engine.run(warm)
                    result = await engine.run(plan)
            assert result.succeeded == jobs

        asyncio.run(go())


def _run_transport(jobs: int) -> None:
    from runner.transport import make_client
    from tests.benchmarks.test_transport_bench import _drive, fake_server_process

    with fake_server_process(0.0) as url:
        asyncio.run(_drive(make_client, url, n=jobs, concurrency=64))


def _run_aiohttp(jobs: int) -> None:
    """The benchmarks' floor: a bare aiohttp loop, per request, against the same server."""
    from tests.benchmarks.clients import aiohttp_floor
    from tests.benchmarks.jobs import Job
    from tests.benchmarks.test_transport_bench import fake_server_process

    with tempfile.TemporaryDirectory() as folder, fake_server_process(0.0) as url:
        job = Job(url=url, requests=jobs, concurrency=64, faults=False, folder=Path(folder))
        measured = asyncio.run(aiohttp_floor(job))
        assert measured.completed == jobs


def _run_batch(jobs: int) -> None:
    import runner.batch.runner
    from runner.batch import BatchOptions, BatchRun, prepare_batch
    from runner.config.project import load_workspace
    from tests.batch_support import KEY, KEY_ENV, write_rows
    from tests.benchmarks.test_batch_bench import _project
    from tests.benchmarks.test_transport_bench import fake_server_process

    # A batch merges its run log every MERGE_EVERY_S of wall time: under valgrind (50x
    # slower) that is several merges per count, a cost of the clock, not of the rows.
    runner.batch.runner.MERGE_EVERY_S = 1e9
    os.environ[KEY_ENV] = KEY
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(dir=shm) as folder, fake_server_process(0.0) as url:
        rows = write_rows(Path(folder) / "rows.jsonl", jobs)
        _project(Path(folder) / "p", url + "/openai/v1")
        ws = load_workspace(Path(folder) / "p")
        options = BatchOptions(concurrency=64)
        prepared = prepare_batch(ws, "notes", rows, options)
        result = asyncio.run(BatchRun(ws, prepared, options).run())
        assert result.rows_succeeded == jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", nargs="?", choices=WORKLOADS, default="engine")
    parser.add_argument("--small", type=int, default=200, help="jobs in the small run")
    parser.add_argument("--large", type=int, default=1200, help="jobs in the large run")
    parser.add_argument("--run", choices=WORKLOADS, help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:  # inside valgrind
        runs = {
            "engine": _run_engine,
            "transport": _run_transport,
            "aiohttp": _run_aiohttp,
            "batch": _run_batch,
            "image": lambda jobs: _run_images(jobs, judged=False),
            "judged": lambda jobs: _run_images(jobs, judged=True),
        }
        runs[args.run](args.jobs)
        return
    small, large = count(args.workload, args.small), count(args.workload, args.large)
    per_job = (large - small) / (args.large - args.small)
    print(f"{args.workload}: {per_job / 1e6:.3f} M instructions per job ({small:,} / {large:,})")


if __name__ == "__main__":
    main()
