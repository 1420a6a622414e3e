"""Artifact storage: keys, scratch spooling, local disk and a real S3 server (moto)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import resource
import shutil
import signal
import socket
import stat
import threading
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.config.model import StorageSpec
from runner.errors import StorageError, TransientError, redact
from runner.providers.base import GenerationResult
from runner.storage import ArtifactStore, extension_for, render_key, spool_result
from runner.storage import s3 as s3_module
from runner.storage.local_copies import LocalCopies
from tests.s3server import FAKE_KEY_ID, FAKE_SECRET, S3Server, StubS3Server, refusing

CHUNK = 64 * 1024


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@contextlib.contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Make any write past ``limit`` bytes fail with EFBIG, as a full disk would: a real OS
    fault in the middle of a copy, no patching."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


# --- keys -------------------------------------------------------------------------------


def test_render_key_fills_the_default_template() -> None:
    key = render_key(
        "{run_id}/{step_id}{item_suffix}.{ext}",
        run_id="r1",
        step_id="cover",
        item_suffix="-2",
        ext="png",
    )
    assert key == "r1/cover-2.png"


def test_render_key_allows_format_specs() -> None:
    assert render_key("{run_id}/{index:04d}.txt", run_id="r", index=7) == "r/0007.txt"


@pytest.mark.parametrize(
    ("template", "fields"),
    [
        ("../{name}.png", {"name": "x"}),
        ("{run}/../../{name}", {"run": "r", "name": "x"}),
        ("/etc/{name}", {"name": "passwd"}),
        ("{name}.png", {"name": "../../etc/passwd"}),
        ("{name}.png", {"name": "/abs/path"}),
        ("a//{name}", {"name": "x"}),
        ("./{name}", {"name": "x"}),
        ("{name}", {"name": "a\\..\\b"}),
        ("{name}", {"name": ""}),
    ],
)
def test_render_key_rejects_keys_that_leave_the_root(template: str, fields: dict[str, Any]) -> None:
    with pytest.raises(StorageError, match="artifact key"):
        render_key(template, **fields)


def test_render_key_names_an_unknown_field() -> None:
    with pytest.raises(StorageError, match=r"unknown field \{step\}.*known: ext, run_id"):
        render_key("{run_id}/{step}.{ext}", run_id="r", ext="png")


def test_render_key_refuses_attribute_access() -> None:
    with pytest.raises(StorageError, match="must be a plain name"):
        render_key("{run_id.__class__}", run_id="r")


@pytest.mark.parametrize(
    ("mime", "ext"),
    [
        ("image/png", "png"),
        ("image/jpeg", "jpg"),
        ("image/webp", "webp"),
        ("audio/wav", "wav"),
        ("audio/x-wav", "wav"),
        ("audio/mpeg", "mp3"),
        ("audio/ogg", "ogg"),
        ("audio/flac", "flac"),
        ("video/mp4", "mp4"),
        ("video/webm", "webm"),
        ("application/pdf", "pdf"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
        ("text/plain; charset=utf-8", "txt"),
        ("text/markdown", "md"),
        ("Application/JSON", "json"),
        ("application/x-unheard-of", "bin"),
    ],
)
def test_extension_for(mime: str, ext: str) -> None:
    assert extension_for(mime) == ext


# --- spooling ---------------------------------------------------------------------------


def test_spool_writes_text_as_utf8(tmp_path: Path) -> None:
    result = GenerationResult(media_type="text", mime="text/plain", text="héllo ✓\n")
    path = asyncio.run(spool_result(result, tmp_path / "scratch", suffix=".txt"))
    assert path.parent == tmp_path / "scratch"
    assert path.suffix == ".txt"
    assert path.read_bytes() == "héllo ✓\n".encode()


def test_spool_writes_data(tmp_path: Path) -> None:
    data = bytes(range(256)) * 10
    result = GenerationResult(media_type="image", mime="image/png", data=data)
    path = asyncio.run(spool_result(result, tmp_path, suffix=".png"))
    assert path.read_bytes() == data


def test_spool_writes_a_stream_as_it_arrives(tmp_path: Path) -> None:
    expected = hashlib.sha256()
    on_disk_before_chunk: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(200):
            # What has reached the disk so far: proves the bytes are not gathered first.
            (spooling,) = tmp_path.glob("spool-*")
            on_disk_before_chunk.append(spooling.stat().st_size)
            chunk = bytes([i % 251]) * CHUNK
            expected.update(chunk)
            yield chunk

    async def run() -> Path:
        stream = GenerationResult(media_type="video", mime="video/mp4", stream=chunks())
        return await spool_result(stream, tmp_path, suffix=".mp4")

    tracemalloc.start()
    try:
        path = asyncio.run(run())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    total = 200 * CHUNK
    assert path.stat().st_size == total
    assert hashlib.sha256(path.read_bytes()).hexdigest() == expected.hexdigest()
    # At every point at most 1 MiB had arrived without reaching the disk, never 12.5 MiB.
    waiting = [i * CHUNK - on_disk for i, on_disk in enumerate(on_disk_before_chunk)]
    assert max(waiting) <= 1 << 20
    assert peak < 4 << 20


def test_spool_removes_the_partial_file_when_the_stream_breaks(tmp_path: Path) -> None:
    closed: list[bool] = []

    async def chunks() -> AsyncIterator[bytes]:
        try:
            for _ in range(40):
                yield b"x" * CHUNK
            raise TransientError("connection reset while downloading")
        finally:
            closed.append(True)

    result = GenerationResult(media_type="video", mime="video/mp4", stream=chunks())
    with pytest.raises(TransientError, match="connection reset"):
        asyncio.run(spool_result(result, tmp_path, suffix=".mp4"))
    assert files_under(tmp_path) == []
    assert closed == [True]


def test_spool_wraps_a_disk_error_and_leaves_nothing(tmp_path: Path) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):  # 4 MiB, past the 1 MiB limit
            yield b"y" * CHUNK

    result = GenerationResult(media_type="video", mime="video/mp4", stream=chunks())
    with file_size_limit(1 << 20), pytest.raises(StorageError, match="cannot write scratch"):
        asyncio.run(spool_result(result, tmp_path, suffix=".mp4"))
    assert files_under(tmp_path) == []


def test_spool_refuses_an_empty_result(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no text, data or stream"):
        asyncio.run(spool_result(GenerationResult(media_type="image"), tmp_path, suffix=".png"))


def test_spool_into_an_unusable_directory_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    result = GenerationResult(media_type="text", text="hi")
    with pytest.raises(StorageError, match="cannot create a scratch file"):
        asyncio.run(spool_result(result, blocker / "scratch", suffix=".txt"))


# --- local store ------------------------------------------------------------------------


def local_store(project: Path, url: str = "file://outputs", **kw: Any) -> ArtifactStore:
    return ArtifactStore(StorageSpec(url=url, **kw), project_root=project)


def test_local_put_writes_the_final_file_and_nothing_else(tmp_path: Path) -> None:
    source = tmp_path / "scratch" / "spool-1.png"
    source.parent.mkdir()
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4000
    source.write_bytes(data)
    store = local_store(tmp_path, public_url_base="https://cdn.example.com/out/")

    stored = asyncio.run(store.put(source, "run 1/deep/cover ü.png", content_type="image/png"))

    final = tmp_path / "outputs" / "run 1" / "deep" / "cover ü.png"
    assert stored.local_path == final
    assert stored.uri == final.as_uri()
    assert stored.key == "run 1/deep/cover ü.png"
    assert stored.public_url == "https://cdn.example.com/out/run%201/deep/cover%20%C3%BC.png"
    assert final.read_bytes() == data
    assert files_under(tmp_path / "outputs") == ["run 1/deep/cover ü.png"]
    assert source.read_bytes() == data  # not moved unless asked


def test_local_put_with_move_takes_the_scratch_file(tmp_path: Path) -> None:
    source = tmp_path / "spool.txt"
    source.write_text("moved")
    store = local_store(tmp_path)
    stored = asyncio.run(store.put(source, "r/a.txt", content_type="text/plain", move=True))
    assert stored.local_path is not None
    assert stored.local_path.read_text() == "moved"
    assert not source.exists()
    assert stored.public_url is None


def test_local_put_replaces_an_existing_artifact(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    for text in ("first", "second"):
        source = tmp_path / "spool.txt"
        source.write_text(text)
        stored = asyncio.run(store.put(source, "r/a.txt", content_type="text/plain"))
    assert stored.local_path is not None
    assert stored.local_path.read_text() == "second"
    assert files_under(tmp_path / "outputs") == ["r/a.txt"]


def test_local_put_failing_mid_copy_leaves_the_old_file_and_no_temporary(
    tmp_path: Path,
) -> None:
    store = local_store(tmp_path)
    old = tmp_path / "old.bin"
    old.write_bytes(b"old version")
    asyncio.run(store.put(old, "r/video.mp4", content_type="video/mp4"))
    new = tmp_path / "new.bin"
    new.write_bytes(b"n" * (3 << 20))

    with file_size_limit(1 << 20), pytest.raises(StorageError, match=r"cannot write artifact"):
        asyncio.run(store.put(new, "r/video.mp4", content_type="video/mp4"))

    assert (tmp_path / "outputs" / "r" / "video.mp4").read_bytes() == b"old version"
    assert files_under(tmp_path / "outputs") == ["r/video.mp4"]


def test_local_put_failing_mid_copy_of_a_new_key_leaves_nothing(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    new = tmp_path / "new.bin"
    new.write_bytes(b"n" * (3 << 20))
    with file_size_limit(1 << 20), pytest.raises(StorageError, match=r"File too large"):
        asyncio.run(store.put(new, "r/video.mp4", content_type="video/mp4"))
    assert files_under(tmp_path / "outputs") == []


def test_artifacts_get_the_permissions_of_any_file_the_user_writes(tmp_path: Path) -> None:
    """Spooled then moved, copied, or written from memory: 0666 less the umask, as a web
    server serving the folder (public_url_base) expects; never mkstemp's private 0600."""
    store = local_store(tmp_path)
    previous = os.umask(0o022)
    try:

        async def scenario() -> list[Path | None]:
            result = GenerationResult(media_type="image", data=b"\x89PNG\r\n\x1a\n")
            moved = await spool_result(result, tmp_path / "scratch", suffix=".png")
            copied = await spool_result(result, tmp_path / "scratch", suffix=".png")
            return [
                (
                    await store.put(moved, "r/moved.png", content_type="image/png", move=True)
                ).local_path,
                (await store.put(copied, "r/copied.png", content_type="image/png")).local_path,
                (await store.put_bytes(b"text", "r/a.txt", content_type="text/plain")).local_path,
            ]

        paths = asyncio.run(scenario())
    finally:
        os.umask(previous)
    assert [stat.S_IMODE(p.stat().st_mode) for p in paths if p] == [0o644, 0o644, 0o644]


def test_local_put_bytes_writes_the_final_file_and_nothing_else(tmp_path: Path) -> None:
    store = local_store(tmp_path, public_url_base="https://cdn.example.com/out")
    big = b"b" * (1 << 20)  # past the inline limit: written from a worker thread

    async def scenario() -> list[Path | None]:
        small = await store.put_bytes("é\n".encode(), "r 1/a.md", content_type="text/markdown")
        large = await store.put_bytes(big, "r 1/deep/b.txt", content_type="text/plain")
        again = await store.put_bytes(b"second", "r 1/a.md", content_type="text/markdown")
        assert small.public_url == "https://cdn.example.com/out/r%201/a.md"
        return [small.local_path, large.local_path, again.local_path]

    paths = asyncio.run(scenario())
    out = tmp_path / "outputs"
    assert paths == [out / "r 1/a.md", out / "r 1/deep/b.txt", out / "r 1/a.md"]
    assert (out / "r 1/a.md").read_bytes() == b"second"
    assert (out / "r 1/deep/b.txt").read_bytes() == big
    assert files_under(out) == ["r 1/a.md", "r 1/deep/b.txt"]


def test_local_put_bytes_makes_a_folder_removed_mid_run_again(tmp_path: Path) -> None:
    store = local_store(tmp_path)

    async def scenario() -> None:
        await store.put_bytes(b"one", "r/a.txt", content_type="text/plain")
        shutil.rmtree(tmp_path / "outputs")  # a user cleaning up while a batch runs
        await store.put_bytes(b"two", "r/b.txt", content_type="text/plain")

    asyncio.run(scenario())
    assert files_under(tmp_path / "outputs") == ["r/b.txt"]


def test_local_put_bytes_failing_mid_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path,
) -> None:
    store = local_store(tmp_path)
    asyncio.run(store.put_bytes(b"old version", "r/a.txt", content_type="text/plain"))
    with file_size_limit(1 << 10), pytest.raises(StorageError, match=r"cannot write artifact"):
        asyncio.run(store.put_bytes(b"n" * (64 << 10), "r/a.txt", content_type="text/plain"))
    assert (tmp_path / "outputs" / "r" / "a.txt").read_bytes() == b"old version"
    assert files_under(tmp_path / "outputs") == ["r/a.txt"]


def test_local_put_bytes_into_a_file_where_a_folder_should_be(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    (tmp_path / "outputs").write_text("not a folder")
    with pytest.raises(StorageError, match=r"cannot create folder .*outputs"):
        asyncio.run(store.put_bytes(b"x", "r/a.txt", content_type="text/plain"))


@pytest.mark.parametrize(
    "form", ["relative-file-url", "relative-path", "absolute-file-url", "absolute-path"]
)
def test_local_store_urls(tmp_path: Path, form: str) -> None:
    target = tmp_path / "out" / "sub"
    url = {
        "relative-file-url": "file://out/sub",
        "relative-path": "out/sub",
        "absolute-file-url": target.as_uri(),
        "absolute-path": str(target),
    }[form]
    # Relative locations resolve against the project root; absolute ones ignore it.
    project = tmp_path if form.startswith("relative") else tmp_path / "elsewhere"
    store = local_store(project, url=url)
    source = tmp_path / "a.txt"
    source.write_text("a")
    stored = asyncio.run(store.put(source, "k.txt", content_type="text/plain"))
    assert stored.local_path == target / "k.txt"
    assert (target / "k.txt").read_text() == "a"


def test_local_exists_read_open_delete(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    source = tmp_path / "a.json"
    source.write_text('{"a": 1}')

    async def scenario() -> None:
        stored = await store.put(source, "r/a.json", content_type="application/json")
        assert await store.exists(stored.uri)
        assert await store.read_bytes(stored.uri) == b'{"a": 1}'
        assert await store.open_local(stored.uri) == tmp_path / "outputs" / "r" / "a.json"
        await store.delete(stored.uri)
        assert not await store.exists(stored.uri)
        await store.delete(stored.uri)  # deleting again is fine
        with pytest.raises(StorageError, match="does not exist"):
            await store.read_bytes(stored.uri)
        with pytest.raises(StorageError, match="does not exist"):
            await store.open_local(stored.uri)

    asyncio.run(scenario())


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
def test_staged_text_appears_under_its_name_only_when_published(tmp_path: Path) -> None:
    """Stage writes a hidden file (keeping its folder open for the rename), publish
    renames it; nothing stays open, whichever way the staged artifact ends."""
    store = local_store(tmp_path)
    outputs = tmp_path / "outputs"
    warm = asyncio.run(store.put_bytes(b"", "warm.txt", content_type="text/plain"))
    asyncio.run(store.delete(warm.uri))  # the store keeps its root open from here on
    before = open_descriptors()

    async def scenario() -> None:
        staged = await store.stage("r/a.txt", content_type="text/plain", data=b"paid for")
        assert files_under(outputs) == ["r/.a.txt.pending"]
        store.publish(staged)
        assert files_under(outputs) == ["r/a.txt"]
        assert (outputs / "r" / "a.txt").read_bytes() == b"paid for"

        taken_back = await store.stage("r/b.txt", content_type="text/plain", data=b"b")
        await store.unstage(taken_back)
        assert files_under(outputs) == ["r/a.txt"]

        # Recorded, then the process died before the rename: the next look finishes it.
        orphan = await store.stage("r/c.txt", content_type="text/plain", data=b"c")
        orphan.close()
        assert await store.exists(store.uri_for("r/c.txt"))
        assert files_under(outputs) == ["r/a.txt", "r/c.txt"]

        # The folder removed between the bytes and the rename: one clear error.
        gone = await store.stage("q/d.txt", content_type="text/plain", data=b"d")
        shutil.rmtree(outputs / "q")
        with pytest.raises(StorageError, match=r"cannot publish artifact q/d\.txt"):
            store.publish(gone)

    asyncio.run(scenario())
    assert open_descriptors() == before


@pytest.mark.parametrize(
    "uri_of_root",
    [
        lambda root: root.parent.as_uri() + "/secret.txt",
        lambda root: root.as_uri() + "/../secret.txt",
        lambda root: root.as_uri(),
        lambda root: "s3://bucket/secret.txt",
    ],
    ids=["sibling", "dot-dot", "the-root-itself", "other-scheme"],
)
def test_local_store_refuses_uris_outside_its_root(
    tmp_path: Path, uri_of_root: Callable[[Path], str]
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    store = local_store(tmp_path)
    uri = uri_of_root(tmp_path / "outputs")
    with pytest.raises(StorageError, match=r"outside this store.s root|not a file:// URI"):
        asyncio.run(store.read_bytes(uri))
    with pytest.raises(StorageError):
        asyncio.run(store.delete(uri))
    assert secret.read_text() == "secret"


def test_put_rejects_an_escaping_key(tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_text("a")
    with pytest.raises(StorageError, match="escapes the storage root"):
        asyncio.run(local_store(tmp_path).put(source, "../escaped.txt", content_type="text/plain"))
    assert files_under(tmp_path) == ["a.txt"]


def test_unsupported_storage_scheme(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="unsupported scheme 'gs'"):
        local_store(tmp_path, url="gs://bucket/x")


# --- S3 (moto server on 127.0.0.1) ------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_instance_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    # botocore's credential chain would otherwise ask the EC2 metadata address (off-machine).
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Named by the storage options, as a user would in mediamix.yaml.
    monkeypatch.setenv("MM_TEST_S3_KEY", FAKE_KEY_ID)
    monkeypatch.setenv("MM_TEST_S3_SECRET", FAKE_SECRET)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


def s3_store(
    server: S3Server, *, bucket: str | None = None, prefix: str | None = None, **options: Any
) -> ArtifactStore:
    prefix = prefix if prefix is not None else f"t-{uuid.uuid4().hex[:8]}"
    spec = StorageSpec(
        url=f"s3://{bucket or server.bucket}/{prefix}",
        endpoint_url=server.endpoint_url,
        region=server.region,
        public_url_base="https://pub-1234.r2.dev",
        options={"key_env": "MM_TEST_S3_KEY", "secret_env": "MM_TEST_S3_SECRET", **options},
    )
    return ArtifactStore(spec, project_root=Path("/nonexistent-project"))


def test_s3_put_stores_bytes_and_content_type(
    s3_server: S3Server, s3_env: None, tmp_path: Path
) -> None:
    store = s3_store(s3_server, prefix="renders/v1")
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 100
    source = tmp_path / "spool-1.tmp"  # no extension to guess a type from
    source.write_bytes(data)

    stored = asyncio.run(store.put(source, "run 7/cover.png", content_type="image/png"))

    assert stored.uri == f"s3://{s3_server.bucket}/renders/v1/run 7/cover.png"
    assert stored.public_url == "https://pub-1234.r2.dev/run%207/cover.png"
    assert stored.local_path is None
    head = s3_server.client().head_object(Bucket=s3_server.bucket, Key="renders/v1/run 7/cover.png")
    assert head["ContentType"] == "image/png"
    assert head["ContentLength"] == len(data)
    body = s3_server.client().get_object(Bucket=s3_server.bucket, Key="renders/v1/run 7/cover.png")
    assert body["Body"].read() == data
    assert source.exists()


def test_s3_put_bytes_stores_bytes_and_content_type(s3_server: S3Server, s3_env: None) -> None:
    store = s3_store(s3_server, prefix="texts")
    stored = asyncio.run(
        store.put_bytes("# Title ü\n".encode(), "run 1/a.md", content_type="text/markdown")
    )
    assert stored.uri == f"s3://{s3_server.bucket}/texts/run 1/a.md"
    assert stored.local_path is None
    client = s3_server.client()
    head = client.head_object(Bucket=s3_server.bucket, Key="texts/run 1/a.md")
    assert head["ContentType"] == "text/markdown"
    body = client.get_object(Bucket=s3_server.bucket, Key="texts/run 1/a.md")["Body"].read()
    assert body == "# Title ü\n".encode()


def test_local_copies_of_remote_artifacts_are_made_once(
    s3_server: S3Server, s3_env: None, tmp_path: Path
) -> None:
    store = s3_store(s3_server)
    copies = LocalCopies(store, tmp_path)
    picture = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64

    async def scenario() -> tuple[str, list[Path]]:
        stored = await store.put_bytes(picture, "r/cover.png", content_type="image/png")
        # Three jobs asking at once: one download, one file, every job gets it.
        paths = await asyncio.gather(*(copies.path_for(stored.uri) for _ in range(3)))
        return stored.uri, list(paths)

    uri, paths = asyncio.run(scenario())
    assert len(set(paths)) == 1 and paths[0].suffix == ".png"
    assert paths[0].read_bytes() == picture
    assert sorted(p.name for p in tmp_path.iterdir()) == [paths[0].name]  # no .part left
    missing = uri.replace("cover.png", "missing.png")
    with pytest.raises(StorageError, match=r"cannot download s3://.*/missing.png: no such object"):
        asyncio.run(copies.path_for(missing))
    assert sorted(p.name for p in tmp_path.iterdir()) == [paths[0].name]


def test_local_copies_on_local_storage_are_the_artifacts_themselves(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    copies = LocalCopies(store, tmp_path / "scratch")
    stored = asyncio.run(store.put_bytes(b"text", "r/a.txt", content_type="text/plain"))
    assert asyncio.run(copies.path_for(stored.uri)) == stored.local_path
    missing = stored.uri.replace("a.txt", "b.txt")
    with pytest.raises(StorageError, match="does not exist"):
        asyncio.run(copies.path_for(missing))


def test_s3_large_object_goes_up_whole_with_its_content_type(
    s3_server: S3Server, s3_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Parts of 5 MiB (S3's minimum) so a 12 MiB file takes the multipart path quickly.
    monkeypatch.setattr(s3_module, "PART_BYTES", 5 << 20)
    source = tmp_path / "spool-2.tmp"
    with source.open("wb") as fh:
        for i in range(12 * 16):
            fh.write(bytes([i % 251]) * CHUNK)
    store = s3_store(s3_server)
    stored = asyncio.run(store.put(source, "v.mp4", content_type="video/mp4"))
    bucket, _, key = stored.uri.removeprefix("s3://").partition("/")
    head = s3_server.client().head_object(Bucket=bucket, Key=key)
    assert head["ContentType"] == "video/mp4"
    assert head["ContentLength"] == source.stat().st_size
    assert "-" in head["ETag"]  # a multipart ETag: the large path really ran
    body = s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(source.read_bytes()).digest()


def test_s3_exists_read_delete_and_move(s3_server: S3Server, s3_env: None, tmp_path: Path) -> None:
    store = s3_store(s3_server)
    source = tmp_path / "a.txt"
    source.write_text("hello")

    async def scenario() -> None:
        stored = await store.put(source, "r/a.txt", content_type="text/plain", move=True)
        assert not source.exists()
        assert await store.exists(stored.uri)
        assert await store.read_bytes(stored.uri) == b"hello"
        assert await store.open_local(stored.uri) is None
        await store.delete(stored.uri)
        assert not await store.exists(stored.uri)
        await store.delete(stored.uri)
        with pytest.raises(StorageError, match="no such object"):
            await store.read_bytes(stored.uri)

    asyncio.run(scenario())


def test_s3_store_works_across_event_loops_and_many_concurrent_puts(
    s3_server: S3Server, s3_env: None, tmp_path: Path
) -> None:
    store = s3_store(s3_server)
    source = tmp_path / "a.bin"
    source.write_bytes(b"a" * 1000)

    async def put_many(run: str) -> list[str]:
        stored = await asyncio.gather(
            *(
                store.put(source, f"{run}/{i}.bin", content_type="application/octet-stream")
                for i in range(30)
            )
        )
        return [s.uri for s in stored]

    uris = asyncio.run(put_many("first")) + asyncio.run(put_many("second"))

    async def count() -> int:
        found = await asyncio.gather(*(store.exists(uri) for uri in uris))
        return sum(found)

    assert asyncio.run(count()) == 60


def test_s3_standard_aws_environment_credentials(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    spec = StorageSpec(
        url=f"s3://{s3_server.bucket}/std-env",
        endpoint_url=s3_server.endpoint_url,
        region=s3_server.region,
    )
    store = ArtifactStore(spec, project_root=tmp_path)
    source = tmp_path / "a.txt"
    source.write_text("env")
    stored = asyncio.run(store.put(source, "a.txt", content_type="text/plain"))
    assert stored.public_url is None
    assert asyncio.run(store.read_bytes(stored.uri)) == b"env"
    assert redact(f"key={FAKE_SECRET}") == "key=[REDACTED]"


def test_s3_missing_bucket_is_one_clear_line(
    s3_server: S3Server, s3_env: None, tmp_path: Path
) -> None:
    store = s3_store(s3_server, bucket="no-such-bucket-here")
    source = tmp_path / "a.txt"
    source.write_text("a")
    with pytest.raises(StorageError) as caught:
        asyncio.run(store.put(source, "a.txt", content_type="text/plain"))
    message = str(caught.value)
    assert "bucket 'no-such-bucket-here' does not exist" in message
    assert s3_server.endpoint_url in message
    assert "\n" not in message and "Traceback" not in message
    assert FAKE_SECRET not in message and FAKE_KEY_ID not in message


def refused_put(endpoint_url: str, tmp_path: Path) -> str:
    spec = StorageSpec(
        url="s3://bucket/x",
        endpoint_url=endpoint_url,
        region="auto",
        options={"key_env": "MM_TEST_S3_KEY", "secret_env": "MM_TEST_S3_SECRET"},
    )
    source = tmp_path / "a.txt"
    source.write_text("a")
    with pytest.raises(StorageError) as caught:
        asyncio.run(
            ArtifactStore(spec, project_root=tmp_path).put(
                source, "a.txt", content_type="text/plain"
            )
        )
    return str(caught.value)


def test_s3_access_denied_is_one_clear_line(s3_env: None, tmp_path: Path) -> None:
    with refusing(403, "AccessDenied", "Access Denied") as server:
        message = refused_put(server.endpoint_url, tmp_path)
    assert message == (
        f"cannot upload s3://bucket/x/a.txt: access denied by {server.endpoint_url}: check the "
        "storage credentials (AWS_* variables, or key_env/secret_env in the storage options)"
    )


def test_s3_server_message_echoing_a_secret_is_redacted(s3_env: None, tmp_path: Path) -> None:
    echo = f"bad argument near {FAKE_SECRET}"
    with refusing(400, "InvalidArgument", echo) as server:
        message = refused_put(server.endpoint_url, tmp_path)
    assert (
        message
        == "cannot upload s3://bucket/x/a.txt: InvalidArgument: bad argument near [REDACTED]"
    )


def test_s3_puts_run_concurrently_up_to_max_transfers(s3_env: None, tmp_path: Path) -> None:
    # The stub holds requests until 4 are in flight, then a moment longer, then lets all
    # through: a store that cannot run 4 at once never gets there; one that runs more than
    # 4 shows a fifth in that moment.
    in_flight = 0
    most = 0
    released = False
    changed = threading.Condition()

    def answer() -> tuple[int, str, str]:
        nonlocal in_flight, most, released
        with changed:
            in_flight += 1
            most = max(most, in_flight)
            changed.notify_all()
            if in_flight >= 4 and not released:
                changed.wait(timeout=0.3)
                released = True
                changed.notify_all()
            changed.wait_for(lambda: released, timeout=2)
            in_flight -= 1
        return 200, "", ""

    with StubS3Server(answer) as server:
        spec = StorageSpec(
            url="s3://bucket/x",
            endpoint_url=server.endpoint_url,
            region="auto",
            options={
                "key_env": "MM_TEST_S3_KEY",
                "secret_env": "MM_TEST_S3_SECRET",
                "max_transfers": 4,
            },
        )
        store = ArtifactStore(spec, project_root=tmp_path)
        source = tmp_path / "a.txt"
        source.write_text("a")

        async def put_many() -> None:
            await asyncio.gather(
                *(store.put(source, f"{i}.txt", content_type="text/plain") for i in range(12))
            )

        asyncio.run(put_many())
    assert most == 4


def test_s3_unreachable_endpoint(s3_env: None, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    spec = StorageSpec(
        url="s3://bucket/x",
        endpoint_url=f"http://127.0.0.1:{port}",
        region="auto",
        options={
            "key_env": "MM_TEST_S3_KEY",
            "secret_env": "MM_TEST_S3_SECRET",
            # One attempt: botocore's default retries would only make the test slow.
            "config_kwargs": {"retries": {"total_max_attempts": 1}},
        },
    )
    store = ArtifactStore(spec, project_root=tmp_path)
    source = tmp_path / "a.txt"
    source.write_text("a")
    with pytest.raises(StorageError) as caught:
        asyncio.run(store.put(source, "a.txt", content_type="text/plain"))
    message = str(caught.value)
    assert message == (
        f"cannot upload s3://bucket/x/a.txt: cannot reach storage endpoint http://127.0.0.1:{port}"
    )
    assert FAKE_SECRET not in message


def test_s3_without_any_credentials_says_how_to_give_them(
    s3_server: S3Server, s3_env: None, tmp_path: Path
) -> None:
    spec = StorageSpec(
        url=f"s3://{s3_server.bucket}/x", endpoint_url=s3_server.endpoint_url, region="auto"
    )
    source = tmp_path / "a.txt"
    source.write_text("a")
    with pytest.raises(StorageError) as caught:
        asyncio.run(
            ArtifactStore(spec, project_root=tmp_path).put(
                source, "a.txt", content_type="text/plain"
            )
        )
    assert str(caught.value) == (
        f"cannot upload s3://{s3_server.bucket}/x/a.txt: no S3 credentials found: set "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name the variables with "
        "key_env/secret_env in the storage options"
    )


def test_s3_credentials_must_be_named_not_written(tmp_path: Path) -> None:
    spec = StorageSpec(url="s3://bucket/x", options={"secret": "literal-secret-in-yaml"})
    with pytest.raises(StorageError, match="must not hold credentials") as caught:
        ArtifactStore(spec, project_root=tmp_path)
    assert "literal-secret-in-yaml" not in str(caught.value)


def test_s3_credential_variable_that_is_not_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MM_TEST_UNSET_SECRET", raising=False)
    spec = StorageSpec(url="s3://bucket/x", options={"secret_env": "MM_TEST_UNSET_SECRET"})
    with pytest.raises(StorageError, match="MM_TEST_UNSET_SECRET, which is not set"):
        ArtifactStore(spec, project_root=tmp_path)


def test_s3_refuses_uris_of_another_root(s3_server: S3Server, s3_env: None) -> None:
    store = s3_store(s3_server, prefix="mine")
    with pytest.raises(StorageError, match="not an object of this store"):
        asyncio.run(store.delete(f"s3://{s3_server.bucket}/other/a.txt"))
    with pytest.raises(StorageError, match="escapes the storage root"):
        asyncio.run(store.delete(f"s3://{s3_server.bucket}/mine/../other/a.txt"))


def test_s3_url_without_bucket(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="names no bucket"):
        ArtifactStore(StorageSpec(url="s3:///prefix"), project_root=tmp_path)
