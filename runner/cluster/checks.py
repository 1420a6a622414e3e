"""What a cluster batch refuses before anything is called, each with the fix in one line.

Every worker is asked once (:func:`probe`, through ``Client.run``) which machine it is on,
which mediamix it runs, which of the batch's key variables it has, and whether it reads
the probe files the client just wrote: one in the project's state folder, and for
``file://`` storage one in the storage root. Then:

- another mediamix version on a worker → refused (the context would not mean the same);
- a key variable set here but not on a worker → refused (its rows would silently fall back);
- ``file://`` storage a worker cannot read the probe from → refused: naming ``s3://`` or
  a shared filesystem declared with ``storage: {shared: true}``;
- ``file://`` storage with a worker on another machine and no ``shared: true`` → refused
  even if the path happens to resolve there: sharing a folder between machines is a
  decision the project states, not an accident it relies on.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner import __version__
from runner.errors import UsageError


def machine() -> str:
    """This machine, as workers and the client compare it: hostname and kernel boot id."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="utf-8").strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}"


def _reads(path: str | None, token: str) -> bool:
    if not path:
        return False
    try:
        return Path(path).read_text(encoding="utf-8") == token
    except OSError:
        return False


def probe(
    state_probe: str, storage_probe: str | None, token: str, env: list[str]
) -> dict[str, Any]:
    """Run on every worker: what the client needs to know about it."""
    return {
        "machine": machine(),
        "host": socket.gethostname(),
        "version": __version__,
        "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "sees_state": _reads(state_probe, token),
        "sees_storage": _reads(storage_probe, token),
        "missing_env": [name for name in env if not os.environ.get(name)],
    }


@dataclass(frozen=True)
class StorageFacts:
    url: str
    #: The local root of ``file://`` storage; None for a bucket.
    root: str | None
    shared: bool


def judge(reports: dict[str, dict[str, Any]], storage: StorageFacts) -> None:
    """Raise one UsageError naming every problem found, or return."""
    if not reports:
        raise UsageError("the Dask cluster has no workers")
    here = machine()
    problems: list[str] = []
    for worker, r in sorted(reports.items()):
        if r.get("version") != __version__:
            problems.append(
                f"worker {worker} runs mediamix {r.get('version') or '(none)'}, this is "
                f"{__version__}: install the same mediamix on the scheduler and every worker"
            )
        missing = r.get("missing_env") or []
        if missing:
            problems.append(
                f"worker {worker} ({r.get('host')}) lacks {', '.join(missing)} (set here): "
                "set the same variables in every worker's environment"
            )
        if storage.root is None or r.get("sees_storage"):
            if storage.root is not None and r.get("machine") != here and not storage.shared:
                problems.append(
                    f"storage {storage.url} is a folder on this machine and worker {worker} "
                    f"runs on {r.get('host')}: if {storage.root} is one filesystem mounted on "
                    "every host, say so with storage: {shared: true} in mediamix.yaml; "
                    "otherwise use s3://bucket/prefix (S3, R2, MinIO)"
                )
            continue
        if r.get("machine") == here:
            problems.append(
                f"worker {worker} runs on this machine but cannot read {storage.root} "
                "(another container or user?): give it the same folder, or use s3://"
            )
        elif storage.shared:
            problems.append(
                f"storage {storage.url} is declared shared, but worker {worker} on "
                f"{r.get('host')} does not see it: mount it at {storage.root} there"
            )
        else:
            problems.append(
                f"storage {storage.url} is a folder on this machine, which worker {worker} "
                f"on {r.get('host')} cannot see: use s3://bucket/prefix (S3, R2, MinIO) for "
                f"a cluster, or mount one filesystem at {storage.root} on every host and set "
                "storage: {shared: true} in mediamix.yaml"
            )
    if problems:
        raise UsageError("cannot run this batch on the cluster:\n  " + "\n  ".join(problems))
