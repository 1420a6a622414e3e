"""The engine's reuse hook for batches: never pay twice for a job that already succeeded.

A job is reused when its idempotency key succeeded before (the batch read those from the
run log once, at its start) and every artifact of that success still exists in storage.
Text artifacts are read back, so later steps' templates (``{{ steps.x.text }}``) work.
"""

from __future__ import annotations

from collections.abc import Mapping

from runner.batch.history import StoredArtifact
from runner.engine.outputs import ArtifactOutput
from runner.engine.services import ReuseLookup
from runner.errors import StorageError
from runner.storage import ArtifactStore


class ReuseIndex:
    def __init__(self, succeeded: Mapping[str, list[StoredArtifact]], store: ArtifactStore) -> None:
        self._succeeded = succeeded
        self._store = store
        #: Keys whose artifacts were found and handed back (the summary counts jobs).
        self.hits = 0
        #: Keys that had succeeded but whose artifacts are gone: run again.
        self.missing = 0

    @property
    def lookup(self) -> ReuseLookup:
        return self._lookup

    async def _lookup(self, key: str) -> list[ArtifactOutput] | None:
        stored = self._succeeded.get(key)
        if not stored:
            return None
        try:
            outputs = [await self._rebuild(a) for a in stored]
        except StorageError:
            outputs = None
        if outputs is None or None in outputs:
            self.missing += 1
            return None
        self.hits += 1
        return [o for o in outputs if o is not None]

    async def _rebuild(self, a: StoredArtifact) -> ArtifactOutput | None:
        if not await self._store.exists(a.uri):
            return None
        path = await self._store.open_local(a.uri) if self._store.is_local else None
        text = None
        if a.media_type == "text":
            text = (await self._store.read_bytes(a.uri)).decode("utf-8", errors="replace")
        return ArtifactOutput(
            media_type=a.media_type,
            mime=a.mime,
            uri=a.uri,
            path=str(path) if path is not None else None,
            public_url=a.public_url,
            size=a.size,
            sha256=a.sha256,
            provider=a.provider,
            model=a.model,
            text=text,
            width=a.width,
            height=a.height,
            duration_s=a.duration_s,
            pages=a.pages,
        )
