"""mediamix as a benchmark client: the whole engine, and the ``mediamix batch`` path.

Both run the harness project (:func:`tests.benchmarks.projects.harness_project`: two
accounts and a fallback model) with real backoff waits, as a user's run would: no
``no_wait``. The engine runs one text step fanned over ``requests`` items (planned before
the clock starts, as the engine benchmark always did); a batch runs ``requests`` rows of a
one-step pipeline, reading and checking its rows inside the clock, as ``mediamix batch``
does.

``MEDIAMIX_BENCH_PROFILE=1`` prints a cProfile of the engine's measured run to stderr
(the harness shows it).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import time

from tests.benchmarks.jobs import Job, Measured, inject_faults
from tests.benchmarks.projects import BATCH, harness_project, set_keys


async def engine(job: Job) -> Measured:
    """The engine alone: jobs in, artifacts and journal lines out."""
    return await _engine(job, as_command=False)


async def run_command(job: Job) -> Measured:
    """The engine as ``mediamix run`` uses it: the clock runs on through the merge of the
    run's records into runlog.duckdb that ends every run. A batch does that merge too, so
    a batch row is compared with this, like for like (the merge is ~0.2-0.4 ms a job)."""
    return await _engine(job, as_command=True)


async def _engine(job: Job, *, as_command: bool) -> Measured:
    from runner.config.project import load_workspace
    from runner.engine.api import finish_runlog, plan_pipeline
    from runner.engine.run import Engine
    from runner.engine.services import EngineOptions
    from runner.runlog.store import RunLog

    set_keys()
    root = harness_project(job.folder / "p", job.url)
    ws = load_workspace(root)
    pipeline = root / "pipelines/p.yaml"
    # Items of their own: a job whose key an earlier job of this engine made is reused.
    warm_items = list(range(job.requests, job.requests + job.concurrency))
    warm = plan_pipeline(pipeline, ws, {"items": warm_items})
    plan = plan_pipeline(pipeline, ws, {"items": list(range(job.requests))})
    options = EngineOptions(concurrency=job.concurrency, no_wait=False)
    runlog = RunLog(root / ".mediamix" / "runlog")
    with runlog.writer() as sink:
        async with Engine(ws, sink, options=options) as running:
            await running.run(warm)  # connections, imports and caches warmed
            if as_command:
                sink.flush()
                runlog.merge_now()  # the warm-up's records: not this run's to merge
            if job.faults:
                inject_faults(job.url)
            profiling = os.environ.get("MEDIAMIX_BENCH_PROFILE") == "1"
            profile = cProfile.Profile() if profiling else None
            cpu, wall = time.process_time(), time.perf_counter()
            if profile is not None:
                profile.enable()
            result = await running.run(plan)
            if profile is not None:
                profile.disable()
            wall_s, cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    if as_command:
        cpu, wall = time.process_time(), time.perf_counter()
        await finish_runlog(runlog, sink, lambda message: None)
        wall_s += time.perf_counter() - wall
        cpu_s += time.process_time() - cpu
    if profile is not None:
        pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
        pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    return Measured(result.succeeded, job.requests, wall_s, cpu_s)


async def batch(job: Job) -> Measured:
    from runner.batch import BatchOptions, BatchRun, prepare_batch
    from runner.config.project import load_workspace
    from tests.batch_support import write_rows

    set_keys()
    root = harness_project(job.folder / "p", job.url)
    ws = load_workspace(root)
    warm_rows = write_rows(job.folder / "warm.jsonl", job.concurrency, start=job.requests)
    rows = write_rows(job.folder / "rows.jsonl", job.requests)
    options = BatchOptions(concurrency=job.concurrency)
    await BatchRun(ws, prepare_batch(ws, BATCH, warm_rows, options), options).run()
    if job.faults:
        inject_faults(job.url)
    cpu, wall = time.process_time(), time.perf_counter()
    prepared = prepare_batch(ws, BATCH, rows, options)
    result = await BatchRun(ws, prepared, options).run()
    wall_s, cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    return Measured(result.rows_succeeded, job.requests, wall_s, cpu_s)
