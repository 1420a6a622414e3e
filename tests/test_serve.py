"""``mediamix serve`` as a user runs it: a real process on 127.0.0.1, real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    project = tmp_path / "p"
    subprocess.run(
        [sys.executable, "-m", "runner.cli.main", "init", str(project)],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner.cli.main", "-C", str(project), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "MEDIAMIX_NO_WAIT": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                _, err = proc.communicate(timeout=5)
                raise AssertionError(f"serve did not start: {err.decode()}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_generate_then_read_it_back_through_the_api(server: str) -> None:
    with httpx.Client(base_url=server, timeout=60) as client:
        made = client.post(
            "/api/generate",
            json={"media_type": "image", "prompt": "served", "preset": "image-card"},
        )
        assert made.status_code == 200, made.text
        result = made.json()
        (job,) = result["jobs"]
        (artifact,) = job["artifacts"]
        with Image.open(artifact["path"]) as image:
            assert image.format == "PNG"

        jobs = client.get("/api/jobs", params={"media_type": "image"}).json()["jobs"]
        assert [j["job_id"] for j in jobs] == [job["job_id"]]
        detail = client.get(f"/api/jobs/{job['job_id']}").json()
        assert detail["status"] == "succeeded"
        assert [a["provider"] for a in detail["attempts"]] == ["local"]

        rows = client.get("/api/report", params={"by": "provider"}).json()["rows"]
        assert [(r["provider"], r["succeeded"]) for r in rows] == [("local", 1)]

        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "<svg" in page.text


def test_bad_requests_get_clear_json_errors(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        not_json = client.post("/api/generate", content=b"{oops")
        assert not_json.status_code == 400
        assert not_json.json() == {"error": "the request body must be JSON"}
        unknown = client.post(
            "/api/generate", json={"media_type": "image", "prompt": "x", "preset": "nope"}
        )
        assert unknown.status_code == 400
        assert "no preset named 'nope'" in unknown.json()["error"]
        assert client.get("/api/report", params={"by": "color"}).status_code == 400
        assert client.get("/api/jobs/deadbeef").status_code == 404
