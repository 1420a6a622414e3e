"""Local copies of remote artifacts, for steps that need a file on disk.

An artifact reused from an earlier run of a remote store (S3, R2) exists only in the
bucket, but a local generator (the PDF that embeds an image) or an upload reads a local
file. Each such artifact is downloaded to scratch once per engine, however many jobs
need it, and concurrent requests for one URI wait for the one download.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from runner.storage.store import ArtifactStore


class LocalCopies:
    def __init__(self, store: ArtifactStore, scratch: Path) -> None:
        self._store = store
        self._scratch = scratch
        self._copies: dict[str, Path] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def path_for(self, uri: str) -> Path:
        """A local file with the artifact's bytes (the artifact itself on local storage).

        Raises StorageError when the object cannot be read; a later call tries again.
        """
        async with self._locks.setdefault(uri, asyncio.Lock()):
            if uri not in self._copies:
                name = hashlib.sha256(uri.encode()).hexdigest()[:32]
                suffix = PurePosixPath(urlsplit(uri).path).suffix
                target = self._scratch / f"in-{name}{suffix}"
                self._copies[uri] = await self._store.download(uri, target)
        return self._copies[uri]
