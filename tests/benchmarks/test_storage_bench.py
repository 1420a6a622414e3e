"""Artifact-store speed: local puts, spooling, and S3 puts against a slow loopback endpoint.

Run with: pytest tests/benchmarks/test_storage_bench.py -m benchmark -s

The S3 case answers each request after 50 ms (a far bucket) and compares the store's way of
driving s3fs (its coroutines on fsspec's loop, ``max_transfers`` at once) with the obvious
alternative, ``asyncio.to_thread(fs.put_file)``, which the default thread pool caps at a few.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runner.config.model import StorageSpec
from runner.providers.base import GenerationResult
from runner.storage import ArtifactStore, spool_result
from tests.s3server import FAKE_KEY_ID, FAKE_SECRET, StubS3Server

LATENCY_S = 0.05


def _report(label: str, count: int, seconds: float) -> None:
    print(f"\n{label}: {count} in {seconds:.2f} s = {count / seconds:.0f}/s")


@pytest.mark.benchmark
def test_local_puts_and_spooling(tmp_path: Path) -> None:
    store = ArtifactStore(StorageSpec(url="file://out"), project_root=tmp_path)
    source = tmp_path / "a.png"
    source.write_bytes(b"x" * 100_000)

    async def puts() -> None:
        await asyncio.gather(
            *(store.put(source, f"r/{i}.png", content_type="image/png") for i in range(2000))
        )

    start = time.perf_counter()
    asyncio.run(puts())
    _report("local put, 100 kB each, 2000 concurrent", 2000, time.perf_counter() - start)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4096):
            yield b"v" * 65536

    start = time.perf_counter()
    stream = GenerationResult(media_type="video", stream=chunks())
    asyncio.run(spool_result(stream, tmp_path / "scratch", suffix=".mp4"))
    _report("spool 256 MiB stream, 64 KiB chunks, MiB", 256, time.perf_counter() - start)


@pytest.mark.benchmark
def test_s3_puts_against_a_slow_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import s3fs

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    source = tmp_path / "a.png"
    source.write_bytes(b"x" * 10_000)
    count = 400

    def slow() -> tuple[int, str, str]:
        time.sleep(LATENCY_S)
        return 200, "", ""

    with StubS3Server(slow) as server:
        spec = StorageSpec(url="s3://bench/p", endpoint_url=server.endpoint_url, region="auto")
        store = ArtifactStore(spec, project_root=tmp_path)

        async def through_store() -> float:
            await store.put(source, "warm", content_type="image/png")
            start = time.perf_counter()
            await asyncio.gather(
                *(store.put(source, f"{i}.png", content_type="image/png") for i in range(count))
            )
            return time.perf_counter() - start

        _report("S3 store.put at 50 ms, 16 transfers", count, asyncio.run(through_store()))

        fs = s3fs.S3FileSystem(
            client_kwargs={"endpoint_url": server.endpoint_url, "region_name": "auto"},
            config_kwargs={"max_pool_connections": 16},
            skip_instance_cache=True,
        )

        async def through_threads() -> float:
            await asyncio.to_thread(fs.put_file, str(source), "bench/p/warm")
            start = time.perf_counter()
            await asyncio.gather(
                *(
                    asyncio.to_thread(fs.put_file, str(source), f"bench/p/{i}.png")
                    for i in range(count)
                )
            )
            return time.perf_counter() - start

        _report("S3 to_thread(put_file) at 50 ms", count, asyncio.run(through_threads()))
