"""Real Dask clusters on this machine for the cluster tests, and a batch project for them.

Worker processes inherit the environment they start with, so the key and storage
credential variables the projects name are set before any cluster starts and stay set
for the module (the values are obviously fake; the fake servers accept them).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from tests.batch_support import KEY, KEY_ENV, PIPELINE
from tests.conftest import REPO
from tests.engine_support import Project, make_project
from tests.fakeprovider.vendors import BASE_PATHS
from tests.s3server import FAKE_KEY_ID, FAKE_SECRET

S3_KEY_ENV = "MEDIAMIX_TEST_CLUSTER_S3_KEY"
S3_SECRET_ENV = "MEDIAMIX_TEST_CLUSTER_S3_SECRET"

#: What every worker must find in its environment.
CLUSTER_ENV = {
    KEY_ENV: KEY,
    S3_KEY_ENV: FAKE_KEY_ID,
    S3_SECRET_ENV: FAKE_SECRET,
    "MEDIAMIX_NO_WAIT": "1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@contextmanager
def cluster_environment(home: Path) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in (*CLUSTER_ENV, "HOME")}
    os.environ.update(CLUSTER_ENV)
    os.environ["HOME"] = str(home)  # whatever Dask writes under ~ stays in the test's folder
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def local_cluster(workers: int = 2) -> Iterator[Any]:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=workers,
        threads_per_worker=2,
        processes=True,
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    ) as cluster:
        yield cluster


class Vendors(Protocol):
    def base_url(self, vendor: str) -> str: ...


class FakeServerProcess:
    """The fake provider server in a subprocess of its own (``python -m tests.fakeprovider``):
    for timing tests, whose server must not share a GIL with the client and the scheduler
    (a starved server sees requests in bunches that were sent evenly)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def base_url(self, vendor: str) -> str:
        return self.url + BASE_PATHS[vendor]

    def configure(self, **settings: Any) -> None:
        httpx.post(f"{self.url}/_fake/config", json=settings, timeout=10).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = httpx.get(f"{self.url}/_fake/requests", timeout=30).json()
        return rows


def cluster_project(
    root: Path,
    fake: Vendors,
    *,
    rpm: int | None = None,
    storage: str = "storage: {url: file://outputs}\n",
    pipeline: dict[str, Any] | None = None,
    extra: str = "",
) -> Project:
    account: dict[str, Any] = {
        "name": "oa",
        "provider": "openai",
        "api_key_env": KEY_ENV,
        "base_url": fake.base_url("openai"),
    }
    if rpm is not None:
        account["rpm"] = rpm
    project = make_project(root, accounts=json.dumps({"accounts": [account]}) + "\n")
    project.write("mediamix.yaml", storage + "runlog: .mediamix/runlog\n" + extra)
    project.write(
        "presets/chat.yaml",
        json.dumps(
            {
                "media_type": "text",
                "models": [{"provider": "openai", "model": "gpt-4o-mini"}],
                "retry": {"max_attempts": 3},
            }
        ),
    )
    project.write("pipelines/notes.yaml", json.dumps(pipeline or PIPELINE))
    return project


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


DASK = [sys.executable, "-m", "distributed.cli"]


def spawn(args: list[str], *, prefix: list[str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*(prefix or []), *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for_workers(address: str, count: int, timeout: float = 60.0) -> None:
    from distributed import Client

    with Client(address, timeout=timeout) as client:
        if count:
            client.wait_for_workers(count, timeout=timeout)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)
