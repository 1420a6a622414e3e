"""The project as the service sees it: reloaded when its files change, not per request.

A person may edit presets or accounts.yaml while the server runs (by hand, or through the
API); each request gets the workspace as the files are now. Loading is YAML parsing and
schema checks, so it happens in a worker thread and only when a file's size or time
changed.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from runner.config.project import (
    ACCOUNTS_FILE,
    PROJECT_FILE,
    Workspace,
    find_project_root,
    load_workspace,
    load_workspace_lenient,
)
from runner.errors import Diagnostic

Stamp = tuple[tuple[str, int, int], ...]


def _stamp(paths: list[Path]) -> Stamp:
    out = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            continue
        out.append((path.name, st.st_mtime_ns, st.st_size))
    return tuple(out)


class WorkspaceSource:
    def __init__(self, project: str | os.PathLike[str] | None) -> None:
        self.root = find_project_root(project)
        self._cached: tuple[Stamp, Workspace] | None = None
        self._lock = asyncio.Lock()

    def _files(self) -> list[Path]:
        presets = self.root / "presets"
        found = [self.root / PROJECT_FILE, self.root / ACCOUNTS_FILE]
        if presets.is_dir():
            found += sorted(p for p in presets.iterdir() if p.suffix in (".yaml", ".yml"))
        return found

    def engine_stamp(self) -> Stamp:
        """What an engine is built from: project settings and accounts."""
        return _stamp([self.root / PROJECT_FILE, self.root / ACCOUNTS_FILE])

    async def get(self) -> Workspace:
        """The workspace; ConfigError (every problem) when a file is broken."""
        stamp = _stamp(self._files())
        cached = self._cached
        if cached is not None and cached[0] == stamp:
            return cached[1]
        async with self._lock:
            ws = await asyncio.to_thread(load_workspace, self.root)
            self._cached = (stamp, ws)
            return ws

    async def lenient(self) -> tuple[Workspace, list[Diagnostic]]:
        """The workspace with broken files left out, and their problems."""
        return await asyncio.to_thread(load_workspace_lenient, self.root)

    def invalidate(self) -> None:
        self._cached = None
