"""Client cost of the shared transport vs plain httpx, against the fake server.

The server runs in a subprocess so ``time.process_time`` counts the client alone.
Run: ``pytest tests/benchmarks/test_transport_bench.py -m benchmark -s``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest

from runner.transport import make_client
from tests.conftest import REPO

pytestmark = pytest.mark.benchmark

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
AUTH = {"Authorization": "Bearer sk-bench"}


@dataclass(frozen=True)
class Run:
    requests: int
    wall_s: float
    cpu_ms_per_request: float


@contextmanager
def fake_server_process(latency_s: float) -> Iterator[str]:
    """A fresh fake server in a subprocess (each client measured against a clean one)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakeprovider", "--port", "0", "--latency", str(latency_s)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()  # "fake provider server on http://127.0.0.1:PORT"
    url = first.rsplit(" ", 1)[-1].strip()
    try:
        assert url.startswith("http://127.0.0.1:"), first
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def measure(latency_s: float, *, n: int, concurrency: int) -> dict[str, Run]:
    runs = {}
    for name, make in CLIENTS.items():
        with fake_server_process(latency_s) as url:
            runs[name] = asyncio.run(_drive(make, url, n=n, concurrency=concurrency))
    return runs


def _plain_httpx() -> httpx.AsyncClient:
    return httpx.AsyncClient(limits=httpx.Limits(max_connections=256), timeout=120)


async def _drive(
    make: Callable[[], httpx.AsyncClient], url: str, *, n: int, concurrency: int
) -> Run:
    gate = asyncio.Semaphore(concurrency)
    target = f"{url}/openai/v1/chat/completions"
    async with make() as client:

        async def one() -> None:
            async with gate:
                answer = await client.post(target, json=CHAT, headers=AUTH)
                assert answer.status_code == 200

        await asyncio.gather(*(one() for _ in range(concurrency)))  # warm the pool
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return Run(
            requests=n,
            wall_s=time.perf_counter() - wall,
            cpu_ms_per_request=(time.process_time() - cpu) * 1000 / n,
        )


CLIENTS: dict[str, Callable[[], httpx.AsyncClient]] = {
    "httpx default transport": _plain_httpx,
    "make_client (aiohttp)": make_client,
}


def test_client_cpu_per_request_at_concurrency_64() -> None:
    runs = measure(0.0, n=2000, concurrency=64)
    for name, run in runs.items():
        print(
            f"\nCPU/request @64: {name}: {run.cpu_ms_per_request:.3f} ms (wall {run.wall_s:.2f} s)"
        )
    assert (
        runs["make_client (aiohttp)"].cpu_ms_per_request
        < runs["httpx default transport"].cpu_ms_per_request
    )


def test_wall_time_2000_requests_100ms_latency_concurrency_200() -> None:
    runs = measure(0.1, n=2000, concurrency=200)
    for name, run in runs.items():
        print(
            f"\nwall 2000 x 100 ms @200: {name}: {run.wall_s:.2f} s "
            f"(CPU {run.cpu_ms_per_request:.3f} ms/request)"
        )
    # The floor is 2000 / 200 * 0.1 s = 1 s.
    assert runs["make_client (aiohttp)"].wall_s < runs["httpx default transport"].wall_s
