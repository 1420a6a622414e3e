"""``mediamix serve`` under stress and misuse: refusing to start unsafely, slow clients,
crashes, a broken run log, shutdown with jobs in flight, a long render."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.fakeprovider.server import FakeProviderServer
from tests.serve_support import REPO, ServeProcess, wait_for_status, write_project

LOCAL = {
    "mediamix.yaml": "storage: {url: file://outputs}\n",
    "presets/notes.yaml": "media_type: text\nmodels:\n  - {provider: local, model: template}\n",
}


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "runner.cli.main", *args], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})}, cwd=cwd, timeout=timeout,
    )  # fmt: skip


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "example.com"])
def test_no_bind_beyond_loopback_without_a_configured_token(tmp_path: Path, host: str) -> None:
    refused = run_cli("-C", str(tmp_path), "serve", "--host", host, "--port", "9")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"mediamix: error: refusing to listen on {host}: beyond this machine, set "
        "MEDIAMIX_API_TOKEN to a secret token first (clients send it as 'Authorization: "
        "Bearer TOKEN')"
    ]


def test_a_short_configured_token_is_refused(tmp_path: Path) -> None:
    refused = run_cli("-C", str(tmp_path), "serve", env={"MEDIAMIX_API_TOKEN": "hunter2"})
    assert refused.returncode == 2 and "shorter than 16 characters" in refused.stderr
    assert "hunter2" not in refused.stderr


def test_a_configured_token_is_used_and_never_printed(tmp_path: Path) -> None:
    token = "configured-token-0123456789"
    root = write_project(tmp_path / "p", LOCAL)
    with ServeProcess(root, env={"MEDIAMIX_API_TOKEN": token}) as server:
        assert token not in server.stderr
        assert "with the token in MEDIAMIX_API_TOKEN" in server.stderr
        with server.client() as api:
            assert api.get("/api/media/jobs").status_code == 200
        with server.client(token="x" * 27) as wrong:
            assert wrong.get("/api/media/jobs").status_code == 401


def test_slow_clients_are_cut_off(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", LOCAL)
    with ServeProcess(root, "--header-timeout", "1", "--body-timeout", "1") as server:
        # Headers that never finish: the connection is closed, not held forever.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            started = time.monotonic()
            assert sock.recv(100) == b""  # closed by the server
            assert time.monotonic() - started < 8
        # A body that never arrives: 408.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/media/generate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Authorization: Bearer " + server.token.encode() + b"\r\n"
                b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"media'
            )
            answer = sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 408"), answer
        assert httpx.get(f"{server.base}/healthz").status_code == 200
    assert "Traceback" not in server.stderr


def test_a_bug_in_a_handler_is_a_500_with_an_id_and_a_crash_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runner.server.app import make_app
    from runner.server.settings import ServeSettings

    monkeypatch.setenv("MEDIAMIX_STATE_DIR", str(tmp_path / "state"))
    root = write_project(tmp_path / "p", LOCAL)
    token = "t" * 30
    app = make_app(ServeSettings(project=str(root), token=token))

    async def broken(request: web.Request) -> web.Response:
        # Stands in for a bug: nothing real raises here on demand.
        raise KeyError("sk-should-not-leak-0123456789")

    app.router.add_get("/api/media/broken", broken)

    async def call() -> tuple[int, dict[str, str]]:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            answer = await client.get("/api/media/broken", headers={
                "Authorization": f"Bearer {token}", "Host": "127.0.0.1"})  # fmt: skip
            return answer.status, await answer.json()

    status, body = asyncio.run(call())
    assert status == 500
    assert set(body) == {"error", "id"} and "crash log" in body["error"]
    assert "Traceback" not in json.dumps(body) and "KeyError" not in json.dumps(body)
    log = (tmp_path / "state" / "crash.log").read_text()
    assert f"crash {body['id']}" in log and "KeyError" in log


def test_a_damaged_run_log_file_does_not_stop_the_server(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", LOCAL)
    runlog = root / ".mediamix" / "runlog"
    runlog.mkdir(parents=True)
    (runlog / "runlog.duckdb").write_bytes(b"this is not a database" * 100)
    with ServeProcess(root) as server, server.client() as api:
        made = api.post("/api/media/generate", json={"mediaType": "text", "prompt": "x",
                                                     "preset": "notes"})  # fmt: skip
        assert made.status_code == 202
        job = wait_for_status(api, made.json()["jobId"], {"failed", "succeeded"})
        assert job["status"] == "succeeded", job
        listed = api.get("/api/media/jobs")
        assert listed.status_code == 200, listed.text
        assert made.json()["jobId"] in [j["job_id"] for j in listed.json()["jobs"]]
        assert "not a valid DuckDB database" in listed.json().get("notice", "")
        assert api.get("/healthz").status_code == 200
    assert "Traceback" not in server.stderr


def test_shutdown_records_jobs_in_flight(tmp_path: Path, fake: FakeProviderServer) -> None:
    fake.state.polls_until_done = 1_000_000
    root = write_project(tmp_path / "p", {
        **LOCAL,
        "accounts.yaml": "accounts:\n  - {name: rw, provider: runway, api_key_env: RW_KEY, "
        f"base_url: '{fake.base_url('runway')}'}}\n",
        "presets/clip.yaml": "media_type: video\nmodels:\n  - {provider: runway, model: gen4.5}\n",
    })  # fmt: skip
    server = ServeProcess(root, env={"RW_KEY": "rw-key-0123456789"}).start()
    try:
        with server.client() as api:
            job_id = api.post(
                "/api/media/generate", json={"mediaType": "video", "prompt": "x", "preset": "clip"}
            ).json()["jobId"]
            wait_for_status(api, job_id, {"running"})
    finally:
        assert server.stop() == 0
    assert "Traceback" not in server.stderr
    shown = run_cli("-C", str(root), "jobs", job_id, "--json")
    assert shown.returncode == 0, shown.stderr
    job = json.loads(shown.stdout)
    assert job["status"] == "failed" and job["error_class"] == "cancelled"
    # A shutdown leaves the vendor task alone: a resumed run could still collect it.
    assert not [r for r in fake.state.requests if r.method == "DELETE"]


def test_a_long_render_does_not_block_the_server(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", LOCAL)
    with ServeProcess(root) as server, server.client() as api:
        made = api.post(
            "/api/media/generate",
            json={"mediaType": "image", "prompt": "word " * 6_399, "preset": "image-card"},
        )
        assert made.status_code == 202
        waits: list[float] = []
        stop = threading.Event()

        def probe() -> None:
            while not stop.is_set():
                started = time.monotonic()
                httpx.get(f"{server.base}/healthz", timeout=30)
                waits.append(time.monotonic() - started)
                time.sleep(0.05)

        prober = threading.Thread(target=probe)
        prober.start()
        try:
            job = wait_for_status(api, made.json()["jobId"], {"succeeded", "failed"}, timeout=120)
        finally:
            stop.set()
            prober.join()
        assert job["status"] == "succeeded"
        assert len(waits) >= 5
        # The card takes seconds to lay out; /healthz answered all along (the issue saw 5.7 s).
        assert max(waits) < 2.0, waits
