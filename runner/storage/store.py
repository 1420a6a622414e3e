"""The artifact store: where finished artifacts go, chosen by the project's storage URL.

``file://outputs`` (relative to the project root), ``file:///abs/path`` or a plain path
store on local disk; ``s3://bucket/prefix`` stores in an S3-compatible bucket. Either way
a caller hands over a local file and a key and gets back a :class:`StoredObject`; an
artifact is never visible half-written.

``public_url_base`` is the public address of the store's root (the bucket and prefix, or
the local folder behind a web server): an object's public URL is that base plus its key.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit

from runner.config.model import StorageSpec
from runner.errors import StorageError
from runner.storage.keys import check_key
from runner.storage.local import LocalBackend

if TYPE_CHECKING:
    from runner.storage.s3 import S3Backend


@dataclass(frozen=True)
class StoredObject:
    uri: str
    key: str
    #: ``public_url_base`` + "/" + the URL-quoted key, when a base is configured.
    public_url: str | None
    #: The final file for local storage; None for remote storage.
    local_path: Path | None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a key's artifact will be, known before anything is written."""

    uri: str
    public_url: str | None
    #: The final file on local storage; None for remote storage. Text, not a Path:
    #: building a Path costs more than the rest of the answer (thousands per batch).
    local_file: str | None


class Staged:
    """An artifact :meth:`ArtifactStore.stage` wrote and :meth:`ArtifactStore.publish`
    gives its final name. On local storage a small write keeps its folder open for that
    rename (one walk of the folders per artifact, not two): hand every one to ``publish``
    or ``unstage``, which close it, or call :meth:`close`."""

    __slots__ = ("_folder", "key")

    def __init__(self, key: str, folder: int | None = None) -> None:
        self.key = key
        #: The open folder of the hidden file (None: walk to it again).
        self._folder = folder

    def take_folder(self) -> int | None:
        """The open folder, handed over (the caller closes it); None after the first call."""
        folder, self._folder = self._folder, None
        return folder

    def close(self) -> None:
        folder = self.take_folder()
        if folder is not None:
            os.close(folder)


class ArtifactStore:
    def __init__(self, spec: StorageSpec, *, project_root: Path) -> None:
        self.spec = spec
        self._public_base = spec.public_url_base.rstrip("/") if spec.public_url_base else None
        self._backend: LocalBackend | S3Backend = _backend_for(spec, project_root)

    @property
    def root_uri(self) -> str:
        return self._backend.root_uri

    @property
    def local_root(self) -> Path | None:
        """The folder artifacts are stored in, on local storage (None on S3)."""
        return self._backend.root if isinstance(self._backend, LocalBackend) else None

    @property
    def is_local(self) -> bool:
        return isinstance(self._backend, LocalBackend)

    async def put(
        self, local_path: Path, key: str, *, content_type: str, move: bool = False
    ) -> StoredObject:
        """Store ``local_path``'s bytes under ``key``.

        With ``move`` the caller gives up ``local_path``: on local storage on the same
        filesystem it is renamed into place (no copy), otherwise removed after the write.
        """
        check_key(key)
        final_path: Path | None = None
        if isinstance(self._backend, LocalBackend):
            final_path = await self._backend.put(local_path, key, move=move)
        else:
            await self._backend.put(local_path, key, content_type=content_type)
            if move:
                local_path.unlink(missing_ok=True)
        return self._stored(key, final_path)

    async def put_bytes(self, data: bytes, key: str, *, content_type: str) -> StoredObject:
        """Store ``data`` under ``key`` (for artifacts already in memory, such as text)."""
        check_key(key)
        final_path: Path | None = None
        if isinstance(self._backend, LocalBackend):
            final_path = await self._backend.put_bytes(data, key)
        else:
            await self._backend.put_bytes(data, key, content_type=content_type)
        return self._stored(key, final_path)

    # -- staged writes: the bytes first, then the run log's records, then the name --------

    async def stage(
        self,
        key: str,
        *,
        content_type: str,
        data: bytes | None = None,
        local_path: Path | None = None,
        move: bool = False,
    ) -> Staged:
        """Write an artifact's bytes so that :meth:`publish` can make them appear under
        ``key`` at once. On local storage they go to a hidden name beside the final one
        (``.NAME.pending``), which :meth:`exists` finishes publishing if a process died
        between the two; a bucket has no rename, so there this is the whole upload.
        Where it ends up is :meth:`locate`'s answer, known before this is called."""
        check_key(key)
        if isinstance(self._backend, LocalBackend):
            target = _pending_key(key)
            if data is not None:
                folder = await self._backend.write_bytes(data, target, keep_folder=True)
                return Staged(key, folder)
            assert local_path is not None, "stage() needs data or a local file"
            await self._backend.put(local_path, target, move=move)
        elif data is not None:
            await self._backend.put_bytes(data, key, content_type=content_type)
        else:
            assert local_path is not None, "stage() needs data or a local file"
            await self._backend.put(local_path, key, content_type=content_type)
            if move:
                local_path.unlink(missing_ok=True)
        return Staged(key)

    async def unstage(self, staged: Staged) -> None:
        """Take back a staged artifact that will not be published (best effort: what is
        left is a hidden ``.pending`` file or an unrecorded object, never a record)."""
        staged.close()
        key = staged.key
        target = _pending_key(key) if isinstance(self._backend, LocalBackend) else key
        with contextlib.suppress(StorageError, OSError):
            await self._backend.delete(self._backend.uri_for(target))

    def publish(self, staged: Staged) -> None:
        """Give a staged artifact its final name (nothing to do for a bucket)."""
        folder = staged.take_folder()
        if not isinstance(self._backend, LocalBackend):
            return
        key = staged.key
        try:
            if folder is None:
                self._backend.rename(_pending_key(key), key)
            else:
                self._backend.rename_in(folder, _pending_key(key), key)
        except OSError as exc:
            raise StorageError(f"cannot publish artifact {key}: {exc.strerror or exc}") from exc
        finally:
            if folder is not None:
                os.close(folder)

    def locate(self, key: str) -> Placement:
        """Where ``key`` goes, as a put would say, before anything is written."""
        check_key(key)
        local = None
        if isinstance(self._backend, LocalBackend):
            local = os.path.join(self._backend.root, key)
        return Placement(
            uri=self._backend.uri_for(key), public_url=self._public_url_of(key), local_file=local
        )

    def _stored(self, key: str, local_path: Path | None) -> StoredObject:
        """What a put returns, for a ``key`` the put has already checked."""
        return StoredObject(
            uri=self._backend.uri_for(key),
            key=key,
            public_url=self._public_url_of(key),
            local_path=local_path,
        )

    def public_url(self, key: str) -> str | None:
        return self._public_url_of(check_key(key))

    def _public_url_of(self, key: str) -> str | None:
        if self._public_base is None:
            return None
        return f"{self._public_base}/{quote(key, safe='/')}"

    def uri_for(self, key: str) -> str:
        """Where ``key`` is (or would be) stored; refuses keys that leave the root."""
        return self._backend.uri_for(check_key(key))

    def key_of(self, uri: str) -> str | None:
        """The key of one of this store's URIs (None for a URI of another store)."""
        root = self.root_uri.rstrip("/") + "/"
        if not uri.startswith(root):
            return None
        key = unquote(uri.removeprefix(root)) if self.is_local else uri.removeprefix(root)
        try:
            return check_key(key)
        except StorageError:
            return None

    async def signed_url(self, uri: str, *, expires_s: int = 900) -> str | None:
        """A short-lived URL a browser can fetch the object from (remote storage only)."""
        if isinstance(self._backend, LocalBackend):
            return None
        return await self._backend.signed_url(uri, expires_s)

    async def exists(self, uri: str) -> bool:
        if await self._backend.exists(uri):
            return True
        if not isinstance(self._backend, LocalBackend):
            return False
        # Staged and recorded, but the process died before the rename: finish it.
        key = self._backend.path_for(uri).relative_to(self._backend.root).as_posix()
        try:
            self._backend.rename(_pending_key(key), key)
        except (OSError, StorageError):
            return False
        return True

    async def open_local(self, uri: str) -> Path | None:
        """The local file behind ``uri`` on local storage; None for remote storage."""
        if not isinstance(self._backend, LocalBackend):
            self._backend.path_for(uri)  # still refuse URIs that are not this store's
            return None
        return await self._backend.local_path(uri)

    async def read_bytes(self, uri: str) -> bytes:
        """The whole object: meant for small artifacts (text, JSON), not for video."""
        return await self._backend.read_bytes(uri)

    async def download(self, uri: str, destination: Path) -> Path:
        """A local file with the object's bytes: the file itself on local storage, else a
        copy streamed to ``destination`` (any size; a failed copy leaves nothing)."""
        local = await self.open_local(uri)  # raises StorageError for a missing local file
        if local is not None:
            return local
        assert not isinstance(self._backend, LocalBackend)
        await self._backend.download(uri, destination)
        return destination

    async def delete(self, uri: str) -> None:
        """Remove the object; deleting one that is already gone is not an error."""
        await self._backend.delete(uri)


_PENDING = ".pending"


def _pending_key(key: str) -> str:
    folder, _, name = key.rpartition("/")
    hidden = f".{name}{_PENDING}"
    return f"{folder}/{hidden}" if folder else hidden


def _backend_for(spec: StorageSpec, project_root: Path) -> LocalBackend | S3Backend:
    url = spec.url.strip()
    scheme = urlsplit(url).scheme
    if scheme == "file":
        # Not urlsplit: "file://outputs" means the folder "outputs", not a host named so.
        location = Path(url.removeprefix("file://"))
        return LocalBackend(location if location.is_absolute() else project_root / location)
    if scheme in ("s3", "s3a"):
        parts = urlsplit(url)
        if not parts.netloc:
            raise StorageError(f"storage url {url!r} names no bucket (expected s3://bucket/prefix)")
        from runner.storage.s3 import S3Backend

        return S3Backend(
            parts.netloc,
            parts.path,
            endpoint_url=spec.endpoint_url,
            region=spec.region,
            options=spec.options,
        )
    if scheme == "" and url:
        location = Path(url)
        return LocalBackend(location if location.is_absolute() else project_root / location)
    raise StorageError(f"storage url {url!r}: unsupported scheme {scheme!r} (use file:// or s3://)")
