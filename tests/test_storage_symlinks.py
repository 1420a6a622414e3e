"""Symbolic links inside the storage root are never followed out of it.

A link planted in outputs/ (a folder or a file pointing elsewhere) used to be followed:
artifacts landed outside the storage root. Now a write through a linked folder is refused
with a clear error (a link at a file's own name is replaced, not written through), and
reads (reuse checks, local copies, inputs) treat a link as not an artifact of the store.
The storage root itself may be a link: it is the configured location.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from runner.config.model import StorageSpec
from runner.errors import StorageError
from runner.storage import ArtifactStore
from tests.batch_support import batch_project, write_rows
from tests.fakeprovider import FakeProviderServer
from tests.test_cli_batch import mediamix


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir())


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("not for the store")
    return folder


def store_in(tmp_path: Path) -> ArtifactStore:
    (tmp_path / "outputs").mkdir(exist_ok=True)
    return ArtifactStore(StorageSpec(url="file://outputs"), project_root=tmp_path)


def test_writes_through_a_linked_folder_are_refused(tmp_path: Path, outside: Path) -> None:
    store = store_in(tmp_path)
    (tmp_path / "outputs" / "run").symlink_to(outside, target_is_directory=True)
    (tmp_path / "outputs" / "deep").mkdir()
    (tmp_path / "outputs" / "deep" / "er").symlink_to(outside, target_is_directory=True)
    scratch = tmp_path / "scratch.png"

    for key in ("run/a.txt", "deep/er/a.txt", "deep/er/new/a.txt"):
        with pytest.raises(StorageError, match=r"is a symbolic link; mediamix does not follow"):
            asyncio.run(store.put_bytes(b"x", key, content_type="text/plain"))
        for move in (False, True):
            scratch.write_bytes(b"png")
            with pytest.raises(StorageError, match="is a symbolic link"):
                asyncio.run(store.put(scratch, key, content_type="image/png", move=move))
    big = b"b" * (512 << 10)  # written in a worker thread: the same walk
    with pytest.raises(StorageError, match="is a symbolic link"):
        asyncio.run(store.put_bytes(big, "run/big.bin", content_type="text/plain"))
    assert files_under(outside) == ["secret.txt"]
    assert scratch.exists()  # the caller's file is not lost when the write is refused


def test_a_link_at_the_file_name_is_replaced_not_written_through(
    tmp_path: Path, outside: Path
) -> None:
    store = store_in(tmp_path)
    (tmp_path / "outputs" / "r").mkdir()
    link = tmp_path / "outputs" / "r" / "a.txt"
    link.symlink_to(outside / "secret.txt")
    stored = asyncio.run(store.put_bytes(b"artifact", "r/a.txt", content_type="text/plain"))
    assert not link.is_symlink() and link.read_bytes() == b"artifact"
    assert stored.local_path == link
    assert (outside / "secret.txt").read_text() == "not for the store"


def test_reads_do_not_follow_links(tmp_path: Path, outside: Path) -> None:
    store = store_in(tmp_path)
    root = tmp_path / "outputs"
    (root / "r").mkdir()
    (root / "r" / "leak.txt").symlink_to(outside / "secret.txt")
    (root / "run").symlink_to(outside, target_is_directory=True)
    uris = [(root / "r" / "leak.txt").as_uri(), (root / "run" / "secret.txt").as_uri()]

    async def scenario() -> None:
        for uri in uris:
            assert not await store.exists(uri)
            with pytest.raises(StorageError, match="symbolic link"):
                await store.read_bytes(uri)
            with pytest.raises(StorageError, match="symbolic link"):
                await store.open_local(uri)
            with pytest.raises(StorageError, match="symbolic link"):
                await store.download(uri, tmp_path / "copy")
        with pytest.raises(StorageError, match="symbolic link"):
            await store.delete(uris[1])

    asyncio.run(scenario())
    assert files_under(outside) == ["secret.txt"]
    assert not (tmp_path / "copy").exists()


def test_the_storage_root_itself_may_be_a_link(tmp_path: Path) -> None:
    real = tmp_path / "media-disk"
    real.mkdir()
    (tmp_path / "outputs").symlink_to(real, target_is_directory=True)
    store = ArtifactStore(StorageSpec(url="file://outputs"), project_root=tmp_path)

    async def scenario() -> None:
        stored = await store.put_bytes(b"x", "r/a.txt", content_type="text/plain")
        assert await store.exists(stored.uri)
        assert await store.read_bytes(stored.uri) == b"x"

    asyncio.run(scenario())
    assert files_under(real) == ["r/a.txt"]


def test_a_run_whose_output_folder_is_a_link_fails_clearly_and_writes_nothing_outside(
    tmp_path: Path,
    outside: Path,
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = batch_project(tmp_path / "p", fake, monkeypatch)
    pipeline = json.loads((project.root / "pipelines" / "notes.yaml").read_text())
    pipeline["steps"][0]["output"] = "shared/{run_id}.{ext}"
    project.write("pipelines/notes.yaml", json.dumps(pipeline))
    (project.root / "outputs").mkdir()
    (project.root / "outputs" / "shared").symlink_to(outside, target_is_directory=True)

    code, out, err = mediamix(
        capsys, "-C", str(project.root), "run", "notes", "-i", "topic=x", "--json"
    )
    assert code == 1, err
    [job] = json.loads(out)["jobs"]
    assert job["status"] == "failed" and "outputs/shared is a symbolic link" in job["error"]
    assert "Traceback" not in err
    assert files_under(outside) == ["secret.txt"]


def test_reuse_does_not_take_a_link_for_an_artifact(
    tmp_path: Path,
    outside: Path,
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = batch_project(tmp_path / "p", fake, monkeypatch)
    rows = write_rows(tmp_path / "rows.jsonl", 1)
    root = str(project.root)
    code, out, err = mediamix(capsys, "-C", root, "batch", "notes", str(rows), "--json")
    assert code == 0, err
    [artifact] = [p for p in (project.root / "outputs").rglob("*") if p.is_file()]
    # Someone swaps the paid artifact for a link to a file outside the store.
    artifact.unlink()
    artifact.symlink_to(outside / "secret.txt")
    calls = fake.state.count("/chat/completions")

    code, out, err = mediamix(capsys, "-C", root, "batch", "notes", str(rows), "--json")
    assert code == 0, err
    assert json.loads(out)["jobs_reused"] == 0  # the link was not taken for the artifact
    assert fake.state.count("/chat/completions") == calls + 1
    # The paid answer is stored anew (a new run's folder); the link was not read.
    fresh = [p for p in (project.root / "outputs").rglob("*.txt") if not p.is_symlink()]
    assert len(fresh) == 1 and "Fake reply" in fresh[0].read_text()
    assert (outside / "secret.txt").read_text() == "not for the store"
    assert os.listdir(outside) == ["secret.txt"]
