"""One benchmark client, measured in a process of its own (the harness starts it, pinned).

    python -m tests.benchmarks.clients aiohttp --url http://127.0.0.1:PORT --requests 2000

prints one JSON line: ``{"completed", "requests", "wall_s", "cpu_s", "outbound"}``. Each
client warms up first (connections, imports, caches: ``concurrency`` requests of its own),
then sends ``requests`` chat completions at most ``concurrency`` at a time; ``cpu_s`` is
this process's CPU (every thread) over that window only, so start-up is not counted.
With ``--faults`` the fake server is told, after the warm-up, to fail 20 % of answers
(:data:`FAULTS`). ``outbound`` lists every connection or name lookup that was not to the
loopback: a client that tried to reach a vendor (LiteLLM's telemetry, its model price
map) shows up there, and the harness fails on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from tests.benchmarks import engine_clients
from tests.benchmarks.jobs import CHAT_PATH, Job, Measured, inject_faults

KEYS = ("sk-bench-0", "sk-bench-1")
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def chat_body(n: int, model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": f"n {n}"}]}


async def timed(
    job: Job, send: Callable[[int], Awaitable[bool]], *, warm_up: bool = True
) -> Measured:
    """Warm up, then send ``job.requests`` requests through ``send``, timing only those."""
    gate = asyncio.Semaphore(job.concurrency)

    async def one(n: int) -> bool:
        async with gate:
            try:
                return await send(n)
            except Exception:  # a failed request is counted as not completed
                return False

    if warm_up:
        base = job.requests
        await asyncio.gather(*(one(base + n) for n in range(job.concurrency)))
    if job.faults:
        inject_faults(job.url)
    cpu, wall = time.process_time(), time.perf_counter()
    done = await asyncio.gather(*(one(n) for n in range(job.requests)))
    return Measured(
        completed=sum(done),
        requests=job.requests,
        wall_s=time.perf_counter() - wall,
        cpu_s=time.process_time() - cpu,
    )


async def aiohttp_floor(job: Job) -> Measured:
    """The practical floor: one aiohttp session, a semaphore, parse each JSON answer."""
    import aiohttp

    target = job.url + CHAT_PATH
    headers = {"Authorization": f"Bearer {KEYS[0]}"}
    connector = aiohttp.TCPConnector(limit=job.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send(n: int) -> bool:
            async with session.post(target, json=chat_body(n), headers=headers) as answer:
                await answer.json()
                return answer.status == 200

        return await timed(job, send)


async def plain_httpx(job: Job) -> Measured:
    """httpx with its own connection pool (what mediamix's transport replaces)."""
    target = job.url + CHAT_PATH
    headers = {"Authorization": f"Bearer {KEYS[0]}"}
    limits = httpx.Limits(max_connections=job.concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:

        async def send(n: int) -> bool:
            answer = await client.post(target, json=chat_body(n), headers=headers)
            answer.json()
            return answer.status_code == 200

        return await timed(job, send)


async def litellm_router(job: Job) -> Measured:
    """LiteLLM's Router: two deployments of one model (two keys) and a fallback model."""
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # no price-map download
    os.environ.setdefault("LITELLM_LOG", "ERROR")
    import litellm
    from litellm import Router

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    base = job.url + "/openai/v1"

    def deployment(name: str, model: str, key: str) -> dict[str, Any]:
        params = {"model": f"openai/{model}", "api_base": base, "api_key": key}
        return {"model_name": name, "litellm_params": params}

    router = Router(
        model_list=[
            deployment("bench", "gpt-4o-mini", KEYS[0]),
            deployment("bench", "gpt-4o-mini", KEYS[1]),
            deployment("fallback", "gpt-4o", KEYS[0]),
        ],
        fallbacks=[{"bench": ["fallback"]}],
        num_retries=2,
    )

    async def send(n: int) -> bool:
        answer = await router.acompletion(model="bench", messages=chat_body(n)["messages"])
        return bool(answer.choices)

    return await timed(job, send)


CLIENTS: dict[str, Callable[[Job], Coroutine[Any, Any, Measured]]] = {
    "aiohttp": aiohttp_floor,
    "httpx": plain_httpx,
    "litellm": litellm_router,
    "mediamix": engine_clients.engine,
    "mediamix-run": engine_clients.run_command,
    "mediamix-batch": engine_clients.batch,
}
#: The library each client needs beyond mediamix's core (the ``bench`` extra).
NEEDS: dict[str, str] = {"aiohttp": "aiohttp", "litellm": "litellm"}


def _watch_outbound(seen: list[str]) -> None:
    """Record every socket connect or name lookup that leaves the loopback."""

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "socket.connect":
            address = args[1]
            if isinstance(address, tuple) and str(address[0]) not in LOOPBACK:
                seen.append(f"connect {address[0]}:{address[1]}")
        elif event == "socket.getaddrinfo":
            host = args[0]
            if isinstance(host, bytes):
                host = host.decode(errors="replace")
            if host is not None and str(host) not in LOOPBACK:
                seen.append(f"lookup {host}")

    sys.addaudithook(hook)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("client", choices=sorted(CLIENTS))
    parser.add_argument("--url", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--faults", action="store_true")
    parser.add_argument("--dir", type=Path, help="where mediamix's project goes (tmpfs)")
    args = parser.parse_args()
    outbound: list[str] = []
    _watch_outbound(outbound)
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(dir=args.dir or shm, prefix="mmx-bench-") as folder:
        job = Job(args.url, args.requests, args.concurrency, args.faults, Path(folder))
        measured = asyncio.run(CLIENTS[args.client](job))
    measured.outbound = sorted(set(outbound))
    print(json.dumps(asdict(measured)), flush=True)


if __name__ == "__main__":
    main()
