"""The comparison harness: a fake server on one core, each client in a fresh process on the
other, medians of 3 runs.

Every sample starts a new fake server (``python -m tests.fakeprovider``) pinned to the
first core this process may use and a new client process (:mod:`tests.benchmarks.clients`)
pinned to the second, so a client's CPU is its own and no client inherits another's warm
caches or a server's grown request log. Runs of the clients are interleaved (A B C, A B C,
A B C), so a slow minute on this shared machine lands on every client, not on one; the
benchmarks then assert ratios of medians measured in the same run, never absolute times.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.benchmarks.clients import NEEDS
from tests.benchmarks.jobs import Measured
from tests.conftest import REPO

RUNS = 3
REQUESTS = 2000
#: How long one client process may take before the harness gives up on it.
CLIENT_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Workload:
    name: str
    latency_s: float
    concurrency: int
    faults: bool = False
    requests: int = REQUESTS


#: (a) CPU per request; (b) wall at 100 ms latency; (c) the same with 20 % 429/500
#: (two accounts or deployments and a fallback model).
CPU_64 = Workload("CPU per request, concurrency 64", 0.0, 64)
LATENCY_200 = Workload("2,000 x 100 ms latency at concurrency 200, wall", 0.1, 200)
FAULTS_200 = Workload("20 % of answers 429/500, 100 ms latency, concurrency 200", 0.1, 200, True)
#: (d) ``mediamix batch`` per row against the engine per job, one text step each.
BATCH_64 = Workload("batch, one text job per row, concurrency 64", 0.0, 64)


@dataclass(frozen=True)
class Summary:
    client: str
    samples: tuple[Measured, ...]

    @property
    def cpu_ms(self) -> float:
        """Median client CPU per request, in ms."""
        return statistics.median(s.cpu_s * 1000 / s.requests for s in self.samples)

    @property
    def wall_s(self) -> float:
        return statistics.median(s.wall_s for s in self.samples)

    @property
    def completed(self) -> int:
        """The fewest requests any run completed."""
        return min(s.completed for s in self.samples)

    @property
    def requests(self) -> int:
        return self.samples[0].requests

    def line(self) -> str:
        cpus = ", ".join(f"{s.cpu_s * 1000 / s.requests:.3f}" for s in self.samples)
        walls = ", ".join(f"{s.wall_s:.2f}" for s in self.samples)
        return (
            f"{self.client:>15}: CPU/request {self.cpu_ms:.3f} ms ({cpus}); "
            f"wall {self.wall_s:.2f} s ({walls}); completed {self.completed}/{self.requests}"
        )


def missing_library(client: str) -> str | None:
    """Why ``client`` (or library) cannot run here (its optional library is absent), or None."""
    needed = NEEDS.get(client, client if client in NEEDS.values() else None)
    if needed is None or importlib.util.find_spec(needed) is not None:
        return None
    if needed == "aiohttp":
        return "aiohttp is not installed (the floor is a bare aiohttp loop): pip install '.[bench]'"
    return f"{needed} is not installed: pip install '.[bench]'"


def cores() -> tuple[set[int], set[int]] | None:
    """(server core, client core), or None on a machine that lets us use one core."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return None
    return {allowed[0]}, {allowed[1]}


def _pin(pid: int, core: set[int] | None) -> None:
    if core is not None:
        os.sched_setaffinity(pid, core)


@contextmanager
def pinned_server(latency_s: float) -> Iterator[str]:
    """A fresh fake server process on the server core; yields its URL."""
    pinned = cores()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakeprovider", "--port", "0", "--latency", str(latency_s)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    _pin(process.pid, pinned[0] if pinned else None)
    assert process.stdout is not None
    first = process.stdout.readline()  # "fake provider server on http://127.0.0.1:PORT"
    url = first.rsplit(" ", 1)[-1].strip()
    try:
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the fake server did not start: {first!r}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def run_client(
    client: str, url: str, workload: Workload, *, folder: Path | None = None
) -> Measured:
    """One sample: ``client`` in a fresh process on the client core."""
    pinned = cores()
    command = [
        sys.executable,
        "-m",
        "tests.benchmarks.clients",
        client,
        "--url",
        url,
        "--requests",
        str(workload.requests),
        "--concurrency",
        str(workload.concurrency),
    ]
    if workload.faults:
        command.append("--faults")
    if folder is not None:
        command += ["--dir", str(folder)]
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _pin(process.pid, pinned[1] if pinned else None)
    try:
        out, err = process.communicate(timeout=CLIENT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise RuntimeError(f"{client} took over {CLIENT_TIMEOUT_S:.0f} s") from None
    lines = out.strip().splitlines()
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"{client} failed (exit {process.returncode}):\n{err[-3000:]}")
    if os.environ.get("MEDIAMIX_BENCH_PROFILE") == "1":
        print(err, file=sys.stderr)  # the engine client's cProfile
    measured = Measured(**json.loads(lines[-1]))
    if measured.outbound:
        raise RuntimeError(f"{client} reached beyond the loopback: {measured.outbound}")
    return measured


def measure_cells(
    cells: Sequence[tuple[Workload, str]], *, runs: int = RUNS, folder: Path | None = None
) -> dict[tuple[Workload, str], Summary]:
    """``runs`` samples of each (workload, client), interleaved, each on a fresh server."""
    samples: dict[tuple[Workload, str], list[Measured]] = {cell: [] for cell in cells}
    for _ in range(runs):
        for workload, client in cells:
            with pinned_server(workload.latency_s) as url:
                found = run_client(client, url, workload, folder=folder)
            samples[(workload, client)].append(found)
    return {cell: Summary(cell[1], tuple(found)) for cell, found in samples.items()}


def measure(
    workload: Workload, clients: Sequence[str], *, runs: int = RUNS, folder: Path | None = None
) -> dict[str, Summary]:
    """``runs`` samples of each client on one workload, interleaved."""
    cells = [(workload, client) for client in clients]
    measured = measure_cells(cells, runs=runs, folder=folder)
    return {client: measured[(workload, client)] for client in clients}


def report(workload: Workload, summaries: dict[str, Summary]) -> str:
    """The lines a benchmark prints: the workload, then each client's medians and runs."""
    pinned = cores()
    where = (
        f"server on core {min(pinned[0])}, clients on core {min(pinned[1])}"
        if pinned
        else "one core: not pinned"
    )
    runs = min(len(s.samples) for s in summaries.values())
    head = f"{workload.name} ({workload.requests} requests, medians of {runs}; {where})"
    return "\n".join([head, *(s.line() for s in summaries.values())])
