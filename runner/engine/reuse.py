"""Never pay twice: hand back an earlier identical job's artifacts instead of running it.

A job is reused when its idempotency key (pipeline, step, resolved config, prompt, inputs
by content) succeeded before and every artifact of that success still exists in storage.
Text artifacts are read back, so later steps' templates (``{{ steps.x.text }}``) work.
Batches always reuse; ``mediamix run`` and ``generate`` do unless ``--no-reuse``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runner.config.model import ModelSpec
from runner.engine.accounts import AccountPool
from runner.engine.offline import OFFLINE_PROVIDER
from runner.engine.outputs import ArtifactOutput
from runner.engine.services import ReuseLookup
from runner.errors import StorageError
from runner.providers.registry import get_provider
from runner.runlog.queries import Queries
from runner.storage import ArtifactStore


@dataclass(frozen=True)
class StoredArtifact:
    """An artifact row of an earlier succeeded job, enough to rebuild its output."""

    uri: str
    media_type: str
    mime: str
    size: int
    sha256: str
    public_url: str | None
    provider: str
    model: str
    width: int | None
    height: int | None
    duration_s: float | None
    pages: int | None


def succeeded_by_key(queries: Queries, pipeline: str) -> dict[str, list[StoredArtifact]]:
    """Idempotency key -> artifacts of its latest succeeded job of ``pipeline``."""
    found: dict[str, list[StoredArtifact]] = {}
    for r in queries.succeeded_artifacts(pipeline):
        found.setdefault(r["key"], []).append(_stored(r))
    return found


def _stored(r: Mapping[str, Any]) -> StoredArtifact:
    return StoredArtifact(
        uri=r["uri"],
        media_type=r["media_type"],
        mime=r["mime"],
        size=int(r["size"]),
        sha256=r["sha256"],
        public_url=r["public_url"],
        provider=r["provider"] or "",
        model=r["model"] or "",
        width=r["width"],
        height=r["height"],
        duration_s=r["duration_s"],
        pages=r["pages"],
    )


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


def vendor_instead_of_offline(
    pool: AccountPool, candidates: Sequence[ModelSpec], earlier: Sequence[ArtifactOutput]
) -> ModelSpec | None:
    """The vendor candidate that can run now where a local generator made the earlier
    success (its key was set since): that job is made again, not handed back offline.
    None when the earlier result stands (a vendor made it, or no vendor can run)."""
    if not earlier or any(a.provider != OFFLINE_PROVIDER for a in earlier):
        return None
    for spec in candidates:
        if spec.provider == OFFLINE_PROVIDER:
            continue
        needs_key = get_provider(spec.provider).needs_key
        if pool.availability(spec.provider, spec.model, account=spec.account, needs_key=needs_key):
            continue
        return spec
    return None
