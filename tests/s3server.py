"""A real S3-compatible server on 127.0.0.1 for storage tests: moto in server mode.

One server per pytest process (so one per xdist worker), on a free port, with one bucket.
Tests talk to it over real HTTP with obviously fake credentials, which moto accepts.
"""

from __future__ import annotations

import http.server
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

FAKE_KEY_ID = "testing-key-id-0001"
FAKE_SECRET = "testing-secret-never-shown-0001"


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    bucket: str
    region: str = "us-east-1"

    def client(self) -> Any:  # a botocore S3 client (boto3 is untyped)
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=FAKE_KEY_ID,
            aws_secret_access_key=FAKE_SECRET,
        )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request at INFO; keep the test output about the tests.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        info = S3Server(endpoint_url=f"http://{host}:{port}", bucket=f"mm-{uuid.uuid4().hex[:12]}")
        info.client().create_bucket(Bucket=info.bucket)
        yield info
    finally:
        server.stop()


class StubS3Server:
    """A loopback stand-in for an S3 endpoint, for what moto cannot show: errors that need
    IAM set-up (access denied, odd server messages) and how many requests arrive at once.

    Real HTTP: botocore and s3fs parse its answers as they would a bucket's. ``answer``
    returns (status, S3 error code, message); status 200 answers a plain success.
    """

    def __init__(self, answer: Callable[[], tuple[int, str, str]]) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            # HTTP/1.1 so "Expect: 100-continue" uploads get their go-ahead before the body.
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, code, message = answer()
                body = b"" if status == 200 else _error_document(code, message)
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", '"0"')
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _answer

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> StubS3Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def refusing(status: int, code: str, message: str) -> StubS3Server:
    """A stub that answers every request with the same S3 error."""
    return StubS3Server(lambda: (status, code, message))


def _error_document(code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>0</RequestId></Error>"
    ).encode()
