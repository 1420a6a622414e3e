"""``GET /api/media/{path}``: an artifact's bytes, only if the run log knows it.

The path is an artifact key (``RUN/STEP.png``). It is served only when all hold:
the key is a clean relative path (no ``..``, ``.``, empty or backslash segment, whatever
the URL encoding was); the run log (or the live board) records an artifact at that key's
URI in this project's store; and, on local storage, the file is a regular file whose real
path is under the storage root with no symlink anywhere on the way. Anything else is the
same 404, so the answer says nothing about what exists outside.

Local files are served by aiohttp's FileResponse: Content-Type (the type recorded when it
was stored), Content-Length, ETag, Last-Modified and Range (video seeking), sent with
sendfile off the event loop. On S3/R2 the answer is a redirect to the public URL when
``public_url_base`` is set, else to a presigned URL valid for 15 minutes.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from runner.errors import StorageError
from runner.runlog.store import RunLog
from runner.server.errors import ApiError
from runner.server.state import service_of
from runner.storage import ArtifactStore
from runner.storage.keys import check_key

#: First path segments taken by other routes: artifacts under them are served under
#: ``/api/media/_/KEY`` instead (``url_for`` hands out that form for them).
RESERVED = frozenset(
    {"_", "generate", "runs", "jobs", "init", "accounts", "presets", "events", "stats"}
)
#: Artifacts known recently: video seeking asks for the same file many times.
_KNOWN_CACHE = 4096
#: Types a browser could run as a page: always sent as a download.
_ACTIVE_TYPES = ("text/html", "image/svg+xml", "application/xhtml+xml", "text/xml",
                 "application/xml", "application/javascript", "text/javascript")  # fmt: skip
_ARTIFACT_CSP = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'"

STORES: web.AppKey[dict[tuple[str, str], ArtifactStore]] = web.AppKey("stores")
KNOWN: web.AppKey[OrderedDict[str, dict[str, Any]]] = web.AppKey("known_artifacts")


async def store_for(request: web.Request) -> ArtifactStore:
    """The project's artifact store (one per storage setting, built once)."""
    ws = await service_of(request).source.get()
    spec = ws.project.storage
    cache: dict[Any, ArtifactStore] = request.app[STORES]
    key = (repr(spec), str(ws.project.root))
    store = cache.get(key)
    if store is None:
        store = cache[key] = ArtifactStore(spec, project_root=ws.project.root)
    return store


def url_for(store: ArtifactStore, uri: str | None) -> str | None:
    """The API's URL for an artifact stored at ``uri`` (None: not in this store)."""
    if not uri:
        return None
    key = store.key_of(uri)
    if key is None:
        return None
    prefix = "/api/media/_/" if key.split("/", 1)[0] in RESERVED else "/api/media/"
    return prefix + quote(key, safe="/")


def _clean_key(raw: str) -> str:
    # aiohttp has decoded %2f and %2e already: "..%2f" arrives as "../". Refuse, not fold.
    try:
        return check_key(raw)
    except StorageError:
        raise ApiError(404, "no such artifact") from None


async def _known(request: web.Request, uri: str) -> dict[str, Any] | None:
    cache: OrderedDict[str, dict[str, Any]] = request.app[KNOWN]
    hit = cache.get(uri)
    if hit is not None:
        cache.move_to_end(uri)
        return hit
    service = service_of(request)
    for live in service.board.jobs.values():
        for artifact in live.artifacts:
            if artifact["uri"] == uri:
                found: dict[str, Any] | None = artifact
                break
        else:
            continue
        break
    else:
        found = None
    if found is None and service.runlog is not None:
        found = await asyncio.to_thread(_from_runlog, service.runlog, uri)
    if found is not None:
        cache[uri] = found
        if len(cache) > _KNOWN_CACHE:
            cache.popitem(last=False)
    return found


def _from_runlog(log: RunLog, uri: str) -> dict[str, Any] | None:
    if not log.exists() and not log.pending_files():
        return None
    with log.queries() as q:
        return q.artifact(uri)


def _safe_local_file(root: Path, path: Path) -> Path | None:
    """``path`` if it is a regular file under ``root`` reached without any symlink."""
    real_root = Path(os.path.realpath(root))
    probe = real_root
    try:
        relative = path.relative_to(root)
    except ValueError:
        return None
    for part in relative.parts:
        probe = probe / part
        try:
            mode = os.lstat(probe).st_mode
        except OSError:
            return None
        if stat.S_ISLNK(mode):
            return None
    return probe if stat.S_ISREG(os.lstat(probe).st_mode) else None


async def get_artifact(request: web.Request) -> web.StreamResponse:
    key = _clean_key(request.match_info["path"])
    store = await store_for(request)
    uri = store.uri_for(key)
    artifact = await _known(request, uri)
    if artifact is None:
        raise ApiError(404, "no such artifact")
    if not store.is_local:
        target = artifact.get("public_url") or await store.signed_url(uri, expires_s=900)
        if not target:
            raise ApiError(404, "no such artifact")
        return web.Response(status=302, headers={"Location": target, "Cache-Control": "no-store"})
    root = store.local_root
    assert root is not None
    safe = await asyncio.to_thread(_safe_local_file, root, root / key)
    if safe is None:
        raise ApiError(404, "no such artifact")
    mime = str(artifact.get("mime") or "application/octet-stream")
    headers = {
        "Content-Type": mime,
        "Content-Security-Policy": _ARTIFACT_CSP,
        "Cache-Control": "private, max-age=3600",
    }
    if mime.split(";", 1)[0].strip().lower() in _ACTIVE_TYPES or request.query.get("download"):
        name = "".join(c for c in safe.name if c.isprintable() and c not in '"\\;')
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return web.FileResponse(safe, headers=headers)


def routes() -> list[web.AbstractRouteDef]:
    # Registered last: every fixed /api/media/... route wins over this one.
    return [
        web.get("/api/media/_/{path:.+}", get_artifact),
        web.get("/api/media/{path:.+}", get_artifact),
    ]
