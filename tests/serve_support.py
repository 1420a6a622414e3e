"""A real ``mediamix serve`` process for tests: a project, a free port, the printed token.

The server runs as a user runs it (``python -m runner.cli.main serve``) and is reached
over real HTTP. Its stderr is collected, so tests can check that no traceback ever
reaches the terminal.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_project(root: Path, files: Mapping[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "outputs").mkdir(exist_ok=True)
    return root


class ServeProcess:
    """``mediamix -C PROJECT serve --port P [args]``, stopped with SIGTERM on exit."""

    def __init__(
        self,
        project: Path,
        *args: str,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.project = project
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.args = args
        self.env = {**os.environ, "MEDIAMIX_NO_WAIT": "1", "MEDIAMIX_POLL_INTERVAL": "0.02",
                    "PYTHONPATH": str(REPO), **(env or {})}  # fmt: skip
        self.stderr_lines: list[str] = []
        self.token = ""
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 30.0) -> ServeProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runner.cli.main", "-C", str(self.project), "serve",
             "--port", str(self.port), *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=self.env,
        )  # fmt: skip
        threading.Thread(target=self._read_stderr, daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                time.sleep(0.2)
                raise AssertionError(f"serve exited {self.proc.returncode}: {self.stderr}")
            login = next((ln for ln in self.stderr_lines if "log in at" in ln), None)
            if login is not None:
                match = re.search(r"\?token=(\S+)", login)
                self.token = self.env.get("MEDIAMIX_API_TOKEN") or (match.group(1) if match else "")
                return self
            time.sleep(0.05)
        raise AssertionError(f"serve did not start: {self.stderr}")

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))

    @property
    def stderr(self) -> str:
        return "\n".join(self.stderr_lines)

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode

    def client(self, *, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token if token is None else token}"}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30, **kwargs)

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for_status(
    client: httpx.Client, job_id: str, statuses: set[str], timeout: float = 60.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/api/media/jobs/{job_id}").json()
        if job.get("status") in statuses:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} stayed {job.get('status')}: {job}")
        time.sleep(0.05)
