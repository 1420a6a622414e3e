"""A real yaml-language-server (the engine of the YAML editor extensions), for tests.

It is installed once per machine from the npm registry into a cache folder and driven
over the Language Server Protocol on stdio: open a document, read the diagnostics it
publishes. Tests skip (saying why) where Node.js or npm is missing.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.tool_cache import CACHE

VERSION = "2.0.0"


def server_script() -> Path:
    """The installed server's entry point (installing it the first time)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm are needed to run yaml-language-server")
    home = CACHE / f"yaml-language-server-{VERSION}"
    script = home / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".install.lock", "w") as lock:  # xdist workers install it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not script.is_file():
            subprocess.run(
                [
                    npm,
                    "install",
                    "--silent",
                    "--no-audit",
                    "--no-fund",
                    "--prefix",
                    str(home),
                    f"yaml-language-server@{VERSION}",
                ],
                check=True,
                capture_output=True,
                timeout=300,
            )
    return script


class LanguageServer:
    """One yaml-language-server process: ``diagnostics(path, text)`` per document."""

    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen(
            ["node", str(server_script()), "--stdio"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._ids = 0
        self._request(
            "initialize", {"processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": {}}
        )
        self._notify("initialized", {})
        self._notify("workspace/didChangeConfiguration", {"settings": {"yaml": {"validate": True}}})

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()

    def diagnostics(self, path: Path, text: str, timeout_s: float = 20.0) -> list[dict[str, Any]]:
        """What the server reports for ``text`` opened as ``path`` (a schema modeline in
        the text tells it which JSON Schema applies). It publishes once the document is
        validated; an empty list is an answer too."""
        uri = path.as_uri()
        self._notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}},
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = self._read()
            if message.get("method") == "textDocument/publishDiagnostics":
                params = message["params"]
                if params["uri"] == uri:
                    self._notify("textDocument/didClose", {"textDocument": {"uri": uri}})
                    return list(params["diagnostics"])
            elif "id" in message and "method" in message:  # a request from the server
                items = message.get("params", {}).get("items", [None])
                self._send(
                    {
                        "jsonrpc": "2.0",
                        "id": message["id"],
                        "result": [{"validate": True}] * len(items),
                    }
                )
        raise TimeoutError(f"yaml-language-server published nothing for {path}")

    def _request(self, method: str, params: dict[str, Any]) -> Any:
        self._ids += 1
        self._send({"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params})
        while True:
            message = self._read()
            if message.get("id") == self._ids and "method" not in message:
                return message.get("result")

    def _notify(self, method: str, params: dict[str, Any]) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        body = json.dumps(message).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        length = 0
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise EOFError("yaml-language-server exited")
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode("ascii").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        data: dict[str, Any] = json.loads(self.proc.stdout.read(length))
        return data
