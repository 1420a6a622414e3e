"""``mediamix serve`` with 200 jobs running: how fast a job's page answers, and how late
live events arrive.

The fake provider (a subprocess) holds every chat call for ``HOLD_S`` seconds, so 200
generations stay *running* on the server's engine while we measure:

- ``GET /api/media/jobs/{id}`` latency (p50, p99) over a mix of running jobs, 8 at a time;
- SSE delivery delay: the time from the server publishing a record to this client reading
  it (the message's ``sent`` is the server's time.time(); same machine, same clock),
  for a steady trickle of quick jobs submitted meanwhile, and for the burst when the 200
  held jobs all finish at once.

Run: ``pytest tests/benchmarks/test_serve_bench.py -m benchmark -s``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path

import httpx
import pytest

from tests.benchmarks.test_transport_bench import fake_server_process
from tests.serve_support import ServeProcess, write_project

pytestmark = pytest.mark.benchmark

RUNNING = 200
HOLD_S = 60.0
GETS = 1000
QUICK_JOBS = 100


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def show(name: str, values_ms: list[float]) -> str:
    return (f"{name}: n={len(values_ms)} p50={pct(values_ms, 50):.1f} ms "
            f"p99={pct(values_ms, 99):.1f} ms max={max(values_ms):.1f} ms "
            f"mean={statistics.fmean(values_ms):.1f} ms")  # fmt: skip


async def _measure(server: ServeProcess) -> dict[str, list[float]]:
    headers = {"Authorization": f"Bearer {server.token}"}
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=60,
                                 limits=limits) as api:  # fmt: skip
        delays_steady: list[float] = []
        delays_burst: list[float] = []
        phase = {"name": "setup"}
        stream_ready = asyncio.Event()

        async def listen() -> None:
            async with api.stream("GET", "/api/media/events") as stream:
                stream_ready.set()
                async for line in stream.aiter_lines():
                    if line.startswith("data: "):
                        sent = json.loads(line[6:]).get("sent")
                        if sent is None:
                            continue
                        delay = (time.time() - sent) * 1000
                        if phase["name"] == "steady":
                            delays_steady.append(delay)
                        elif phase["name"] == "burst":
                            delays_burst.append(delay)

        listener = asyncio.create_task(listen())
        await stream_ready.wait()
        held = await asyncio.gather(*(
            api.post("/api/media/generate", json={"mediaType": "text", "prompt": f"held {n}",
                                                  "preset": "held"})
            for n in range(RUNNING)))  # fmt: skip
        ids = [r.json()["jobId"] for r in held]
        while True:
            running = sum(
                1 for r in (await api.get("/api/media/jobs", params={"status": "running",
                                                                     "limit": 200})).json()["jobs"]
            )  # fmt: skip
            if running >= RUNNING:
                break
            await asyncio.sleep(0.2)
        started = time.monotonic()

        gets: list[float] = []
        phase["name"] = "steady"

        async def getter(worker: int) -> None:
            for n in range(worker, GETS, 8):
                t0 = time.perf_counter()
                answer = await api.get(f"/api/media/jobs/{ids[n % len(ids)]}")
                gets.append((time.perf_counter() - t0) * 1000)
                assert answer.status_code == 200

        async def trickle() -> None:
            for n in range(QUICK_JOBS):
                await api.post(
                    "/api/media/generate",
                    json={"mediaType": "text", "prompt": f"quick {n}", "preset": "quick"},
                )
                await asyncio.sleep(0.05)

        await asyncio.gather(*(getter(w) for w in range(8)), trickle())
        still_running = sum(
            1 for r in (await api.get("/api/media/jobs", params={"status": "running",
                                                                 "limit": 200})).json()["jobs"]
        )  # fmt: skip
        sample = [(await api.get(f"/api/media/jobs/{i}")).json() for i in ids[:3]]
        assert still_running >= RUNNING - 5, (
            f"measure while the held jobs are running: {still_running} after "
            f"{time.monotonic() - started:.1f} s; {[(j['status'], j.get('error')) for j in sample]}"
        )
        await asyncio.sleep(max(0.0, HOLD_S - (time.monotonic() - started) - 2))
        phase["name"] = "burst"
        deadline = time.monotonic() + HOLD_S + 30
        while time.monotonic() < deadline:
            done = [(await api.get(f"/api/media/jobs/{i}")).json()["status"] for i in ids[:20]]
            if all(s in ("succeeded", "failed") for s in done):
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)
        listener.cancel()
        return {"gets": gets, "steady": delays_steady, "burst": delays_burst}


def test_job_page_and_event_delay_with_200_jobs_running(tmp_path: Path) -> None:
    with fake_server_process(HOLD_S) as fake_url:
        root = write_project(tmp_path / "p", {
            "mediamix.yaml": "storage: {url: file://outputs}\n",
            "accounts.yaml": "accounts:\n  - {name: oa, provider: openai, api_key_env: BENCH_KEY,"
            f" base_url: '{fake_url}/openai/v1'}}\n  - {{name: local, provider: local}}\n",
            "presets/held.yaml": "media_type: text\nmodels:\n"
            "  - {provider: openai, model: gpt-4o}\nretry: {max_attempts: 1}\n",
            "presets/quick.yaml": "media_type: text\nmodels:\n"
            "  - {provider: local, model: template}\n",
        })  # fmt: skip
        env = {"BENCH_KEY": "sk-bench-0123456789"}
        with ServeProcess(root, "--concurrency", str(RUNNING + 50), env=env) as server:
            results = asyncio.run(_measure(server))
    print()
    print(show(f"GET /api/media/jobs/ID with {RUNNING} running", results["gets"]))
    print(show("SSE delay, steady (quick jobs meanwhile)", results["steady"]))
    print(show(f"SSE delay, burst ({RUNNING} jobs finishing at once)", results["burst"]))
    assert len(results["gets"]) == GETS and results["steady"] and results["burst"]
