"""One job, one payment: an idempotency key is run by one process at a time, project-wide.

Two ``mediamix batch`` processes over the same rows (or two runs of one pipeline) would
otherwise buy every answer twice. Before a job calls anyone, the engine *claims* its key:

- **Across processes** with an open-file-description lock (``F_OFD_SETLK``) on one byte of
  ``.mediamix/claims/keys.lock`` chosen by the key. The kernel drops the lock when its
  holder dies, however it dies, so a crash never blocks a key.
- **Within a process** with a future per key, so a second job with the same key waits for
  the first instead of polling.
- **Outcomes**: a process that succeeds with a key appends one JSON line (the key and its
  artifacts) to ``.mediamix/claims/done.log`` (one ``O_APPEND`` write) before letting go
  of the claim. Whoever holds the key next reads what was appended since it last looked
  and, when the key succeeded meanwhile and its artifacts still exist, reuses them instead
  of paying again. Only outcomes of concurrent work count: every engine holds ``done.log``
  under a shared ``flock``, and the first engine to start when none is alive empties it
  (what finished before is the run log's business: batch reuse, ``--resume``).

A waiter polls the lock (a few ms, backing off to 0.2 s), so a cancelled run stops waiting
at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from runner.engine.outputs import ArtifactOutput
from runner.errors import StorageError
from runner.storage import ArtifactStore

_LOCK_FILE = "keys.lock"
_DONE_LOG = "done.log"
_POLL_S = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
#: done.log is read in chunks of this size.
_READ_BYTES = 1 << 16
#: What done.log keeps of an artifact: a file's text and scratch path stay out.
_SHARED_FIELDS = tuple(
    f.name for f in dataclasses.fields(ArtifactOutput) if f.name not in ("text", "path")
)


def _flock_struct(kind: int, offset: int) -> bytes:
    # struct flock {short l_type; short l_whence; off_t l_start; off_t l_len; pid_t l_pid}
    # with native alignment; l_pid must be 0 for open-file-description locks.
    return struct.pack("hhqqi4x", kind, os.SEEK_SET, offset, 1, 0)


def _offset(key: str) -> int:
    # 60 bits of a stable hash of the key: two different keys share a byte (and wait for
    # each other needlessly) about once in 10^18.
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest()) >> 4


@dataclass
class Claim:
    key: str
    #: Artifacts of the same key made by another process (or job) meanwhile: reuse them.
    outcome: list[ArtifactOutput] | None = None
    #: True while this job holds the key (it must release it).
    held: bool = False


class Claims:
    """The claims of one engine, over a project's ``.mediamix/claims`` folder."""

    def __init__(self, directory: Path, store: ArtifactStore) -> None:
        self.directory = directory
        self.store = store
        directory.mkdir(parents=True, exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
        self._lock_fd = os.open(directory / _LOCK_FILE, flags, 0o644)
        self._done_fd = os.open(directory / _DONE_LOG, flags | os.O_APPEND, 0o644)
        try:
            fcntl.flock(self._done_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.ftruncate(self._done_fd, 0)  # nobody else is alive: old outcomes are history
        except BlockingIOError:
            pass
        fcntl.flock(self._done_fd, fcntl.LOCK_SH)
        #: key -> future of the job in this process holding it (its outcome, or None).
        self._local: dict[str, asyncio.Future[list[ArtifactOutput] | None]] = {}
        #: key -> artifact fields another engine recorded since this one started.
        self._known: dict[str, list[dict[str, Any]]] = {}
        self._offset = 0
        self._partial = b""
        #: Marks this engine's lines, so it skips them when reading.
        self._tag = os.urandom(6).hex().encode()

    def close(self) -> None:
        for fd in (self._lock_fd, self._done_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- the job's side ----------------------------------------------------------------

    async def acquire(self, key: str) -> Claim:
        """Wait until this job may run ``key``: it holds the key, or it learns that the key
        already succeeded elsewhere (``outcome``)."""
        while True:
            running = self._local.get(key)
            if running is None:
                break
            outcome = await asyncio.shield(running)
            if outcome is not None:
                return Claim(key, outcome=outcome)
        future: asyncio.Future[list[ArtifactOutput] | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._local[key] = future
        try:
            await self._lock(key)
            outcome = await self._known_outcome(key)
        except BaseException:
            self._local.pop(key, None)
            future.set_result(None)
            raise
        if outcome is not None:
            self._unlock(key)
            self._local.pop(key, None)
            future.set_result(outcome)
            return Claim(key, outcome=outcome)
        return Claim(key, held=True)

    def release(self, claim: Claim, artifacts: list[ArtifactOutput] | None) -> None:
        """Let go of ``claim``; ``artifacts`` when the job succeeded (recorded first, so
        whoever claims the key next finds them)."""
        if not claim.held:
            return
        claim.held = False
        try:
            if artifacts is not None:
                self._record(claim.key, artifacts)
        finally:
            self._unlock(claim.key)
            future = self._local.pop(claim.key, None)
            if future is not None and not future.done():
                future.set_result(artifacts)

    # -- inside ----------------------------------------------------------------------

    async def _lock(self, key: str) -> None:
        request = _flock_struct(fcntl.F_WRLCK, _offset(key))
        attempt = 0
        while True:
            try:
                fcntl.fcntl(self._lock_fd, fcntl.F_OFD_SETLK, request)
                return
            except (BlockingIOError, PermissionError):
                await asyncio.sleep(_POLL_S[min(attempt, len(_POLL_S) - 1)])
                attempt += 1

    def _unlock(self, key: str) -> None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(
                self._lock_fd, fcntl.F_OFD_SETLK, _flock_struct(fcntl.F_UNLCK, _offset(key))
            )

    def _record(self, key: str, artifacts: list[ArtifactOutput]) -> None:
        # Shallow on purpose: an ArtifactOutput holds only plain values, and
        # dataclasses.asdict deep-copies each one (a tenth of a job's bookkeeping CPU).
        fields = [{name: getattr(a, name) for name in _SHARED_FIELDS} for a in artifacts]
        self._known[key] = fields
        body = orjson.dumps({"key": key, "artifacts": fields}, option=orjson.OPT_APPEND_NEWLINE)
        with contextlib.suppress(OSError):  # the run log has it too; this is a shortcut
            os.write(self._done_fd, self._tag + b" " + body)

    async def _known_outcome(self, key: str) -> list[ArtifactOutput] | None:
        self._read_others()
        fields = self._known.get(key)
        if not fields:
            return None
        outputs = [await self._again(f) for f in fields]
        if any(o is None for o in outputs):
            return None  # made, but gone since: run it again
        return [o for o in outputs if o is not None]

    async def _again(self, fields: dict[str, Any]) -> ArtifactOutput | None:
        try:
            if not await self.store.exists(fields["uri"]):
                return None
            path = await self.store.open_local(fields["uri"]) if self.store.is_local else None
            text = None
            if fields.get("media_type") == "text":
                text = (await self.store.read_bytes(fields["uri"])).decode("utf-8", "replace")
        except (StorageError, KeyError, TypeError):
            return None
        known = {f.name for f in dataclasses.fields(ArtifactOutput)}
        values = {k: v for k, v in fields.items() if k in known}
        values.update(path=str(path) if path is not None else None, text=text)
        try:
            return ArtifactOutput(**values)
        except TypeError:
            return None

    def _read_others(self) -> None:
        """Read the outcomes other engines appended since the last look. (The log is
        emptied only when no engine is alive, so never under this one.)"""
        while chunk := os.pread(self._done_fd, _READ_BYTES, self._offset):
            self._offset += len(chunk)
            data = self._partial + chunk
            end = data.rfind(b"\n") + 1  # a line being written is finished next time
            self._partial = data[end:]
            for line in data[:end].splitlines():
                tag, _, body = line.partition(b" ")
                if tag == self._tag:
                    continue  # our own outcome, known already
                try:
                    entry = orjson.loads(body)
                    self._known[str(entry["key"])] = list(entry["artifacts"])
                except (ValueError, KeyError, TypeError):
                    continue
            if len(chunk) < _READ_BYTES:
                break  # a short read is the end for now (one read per job, not two)
