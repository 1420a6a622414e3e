"""Large objects move through S3 in bounded parts, so memory stays bounded whatever the size.

s3fs reads each part into memory and, left to its defaults, reads ten at once (ten 50 MiB
parts for a download): a 1 GiB video upload grew the process by ~290 MB. The store moves
``PART_BYTES`` parts, at most ``PARTS_IN_FLIGHT`` at a time. These tests shrink both (S3's
5 MiB minimum part, two at a time) and watch every request botocore sends to moto's real
server; tests/benchmarks/test_scale_bench.py measures the resident set with a 1 GiB video.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runner.config.model import StorageSpec
from runner.storage import ArtifactStore
from runner.storage import s3 as s3_module
from tests.s3server import FAKE_KEY_ID, FAKE_SECRET, S3Server

PART = 5 << 20
IN_FLIGHT = 2


@dataclass
class Traffic:
    """What botocore sent: body sizes of UploadPart, byte ranges of GetObject, and the
    most UploadPart requests that were between sending and their answer at once."""

    part_bodies: list[int] = field(default_factory=list)
    ranges: list[int] = field(default_factory=list)
    uploading: int = 0
    most_uploading: int = 0

    def before_send(self, request: Any, **_: Any) -> None:
        operation = request.context.get("operation_name") if request.context else None
        if "uploadId=" in request.url and request.method == "PUT":
            self.part_bodies.append(int(request.headers["Content-Length"]))
            self.uploading += 1
            self.most_uploading = max(self.most_uploading, self.uploading)
        elif request.method == "GET" and operation in (None, "GetObject"):
            wanted = request.headers.get("Range", b"")
            text = wanted.decode() if isinstance(wanted, bytes) else str(wanted)
            first, _, last = text.removeprefix("bytes=").partition("-")
            if last:
                self.ranges.append(int(last) - int(first) + 1)

    def after_part(self, **_: Any) -> None:
        self.uploading -= 1


@pytest.fixture
def bounded_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_module, "PART_BYTES", PART)
    monkeypatch.setattr(s3_module, "PARTS_IN_FLIGHT", IN_FLIGHT)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("MM_TEST_S3_KEY", FAKE_KEY_ID)
    monkeypatch.setenv("MM_TEST_S3_SECRET", FAKE_SECRET)


def _store(server: S3Server, tmp_path: Path) -> ArtifactStore:
    spec = StorageSpec(
        url=f"s3://{server.bucket}/parts-{uuid.uuid4().hex[:8]}",
        endpoint_url=server.endpoint_url,
        region=server.region,
        options={"key_env": "MM_TEST_S3_KEY", "secret_env": "MM_TEST_S3_SECRET"},
    )
    return ArtifactStore(spec, project_root=tmp_path)


async def _watch(store: ArtifactStore) -> Traffic:
    """Hook botocore's events on the store's own client (made by a first small put)."""
    traffic = Traffic()
    backend: Any = store._backend  # the S3 client is the store's; no other way to see it
    events = backend._fs.s3.meta.events
    events.register("before-send.s3", traffic.before_send)
    events.register("after-call.s3.UploadPart", traffic.after_part)
    return traffic


def _video_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as fh:
        for i in range(0, size, 1 << 20):
            chunk = bytes([i % 251]) * min(1 << 20, size - i)
            digest.update(chunk)
            fh.write(chunk)
    return digest.hexdigest()


def test_a_large_upload_and_download_move_bounded_parts_a_few_at_a_time(
    s3_server: S3Server, bounded_parts: None, tmp_path: Path
) -> None:
    size = 6 * PART + 12345  # seven parts: more than can be in flight at once
    source = tmp_path / "big.mp4"
    expected = _video_file(source, size)
    store = _store(s3_server, tmp_path)
    small = tmp_path / "small.txt"
    small.write_text("first")

    async def scenario() -> tuple[Traffic, str]:
        await store.put(small, "small.txt", content_type="text/plain")
        traffic = await _watch(store)
        stored = await store.put(source, "big.mp4", content_type="video/mp4")
        copy = await store.download(stored.uri, tmp_path / "copy.mp4")
        return traffic, hashlib.sha256(copy.read_bytes()).hexdigest()

    traffic, copied = asyncio.run(scenario())
    assert copied == expected
    assert len(traffic.part_bodies) == 7
    assert max(traffic.part_bodies) == PART and sum(traffic.part_bodies) == size
    assert traffic.most_uploading == IN_FLIGHT
    assert traffic.ranges and max(traffic.ranges) <= PART
    assert sum(traffic.ranges) == size


def test_part_size_grows_only_past_ten_thousand_parts() -> None:
    assert s3_module.part_size(1 << 30) == s3_module.PART_BYTES
    huge = 200 << 30  # 200 GiB: 8 MiB parts would need 25,600 of them
    assert s3_module.part_size(huge) * s3_module.MAX_PARTS >= huge
    assert s3_module.part_size(huge) < 2 * huge // s3_module.MAX_PARTS
