"""The whole path per job against the floor: engine, account pool, HTTP, validation,
storage and run log, next to a bare aiohttp loop against the same fake server.

Both run through the harness (:mod:`tests.benchmarks.harness`): the fake server pinned to
one core, each client in a fresh process pinned to the other, 2,000 chat requests, medians
of 3 interleaved runs. mediamix runs a text step fanned out over 2,000 items with two
accounts and a fallback model (:func:`tests.benchmarks.projects.harness_project`).

Targets (issue 16), as ratios measured in the same run because absolute times do not
survive a machine that runs 2x slower: at concurrency 64 mediamix's client CPU per job is
at most 4x the aiohttp loop's per request, and 2,000 jobs of 100 ms latency at concurrency
200 finish within 1.6x the aiohttp loop's wall. Absolute numbers are printed beside them.
Run: ``pytest tests/benchmarks/test_engine_bench.py -m benchmark -s``.
``MEDIAMIX_BENCH_PROFILE=1`` also prints a cProfile of each measured engine run.

Where the files go matters more than anything mediamix does: each job writes one artifact
file, and on this VM's virtual ext4 disk creating a file costs anywhere from 30 to 750 us
of kernel CPU from one minute to the next (tmpfs: a steady ~20 us). The targets are about
mediamix's own cost, so the asserted runs keep the project on tmpfs (/dev/shm) when there
is one; one more run on the ordinary temp disk is printed beside them, with the disk's
file-create cost measured at that moment, so the disk's share is visible, never hidden.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.benchmarks.harness import (
    CPU_64,
    LATENCY_200,
    Summary,
    Workload,
    measure,
    missing_library,
    pinned_server,
    report,
    run_client,
)

pytestmark = pytest.mark.benchmark

#: mediamix's CPU per job over the aiohttp loop's CPU per request, concurrency 64.
CPU_RATIO_TARGET = 4.0
#: mediamix's wall over the aiohttp loop's, 2,000 x 100 ms at concurrency 200.
WALL_RATIO_TARGET = 1.6


def file_create_us(folder: Path, n: int = 500) -> float:
    """CPU per small file written the way artifacts are (temporary name, then rename)."""
    probe = folder / "probe"
    probe.mkdir()
    cpu = time.process_time()
    for i in range(n):
        temporary = probe / f".f{i}.part"
        temporary.write_bytes(b"x" * 200)
        os.replace(temporary, probe / f"f{i}.txt")
    spent = time.process_time() - cpu
    shutil.rmtree(probe)
    return spent * 1e6 / n


def measure_against_floor(workload: Workload, disk_dir: Path) -> dict[str, Summary]:
    """The floor and mediamix (on tmpfs), plus one printed mediamix run on the temp disk."""
    reason = missing_library("aiohttp")
    if reason:
        pytest.skip(reason)
    runs = measure(workload, ["aiohttp", "mediamix"])
    with pinned_server(workload.latency_s) as url:
        on_disk = run_client("mediamix", url, workload, folder=disk_dir)
    print("\n" + report(workload, runs))
    shm = Path("/dev/shm")
    fast = f"/dev/shm, file create {file_create_us(shm):.0f} us" if os.access(shm, os.W_OK) else ""
    print(
        f"  asserted runs on tmpfs ({fast or 'no tmpfs: the temp dir'}); one run on the temp "
        f"disk ({disk_dir}, file create {file_create_us(disk_dir):.0f} us): "
        f"CPU/job {on_disk.cpu_s * 1000 / on_disk.requests:.3f} ms, wall {on_disk.wall_s:.2f} s"
    )
    assert runs["mediamix"].completed == workload.requests
    return runs


def test_engine_cpu_per_job_within_4x_the_aiohttp_floor(tmp_path: Path) -> None:
    runs = measure_against_floor(CPU_64, tmp_path)
    ratio = runs["mediamix"].cpu_ms / runs["aiohttp"].cpu_ms
    print(f"  mediamix CPU/job = {ratio:.2f}x the aiohttp floor (target <= {CPU_RATIO_TARGET}x)")
    assert ratio <= CPU_RATIO_TARGET


def test_engine_wall_100ms_at_200_within_1_6x_the_aiohttp_floor(tmp_path: Path) -> None:
    runs = measure_against_floor(LATENCY_200, tmp_path)
    ratio = runs["mediamix"].wall_s / runs["aiohttp"].wall_s
    print(f"  mediamix wall = {ratio:.2f}x the aiohttp floor's (target <= {WALL_RATIO_TARGET}x)")
    assert ratio <= WALL_RATIO_TARGET
