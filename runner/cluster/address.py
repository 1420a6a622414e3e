"""``--cluster`` values: where a batch's rows run.

- ``local:N`` starts a Dask LocalCluster of N worker processes on this machine for the
  batch and stops it after;
- any Dask address (``tcp://host:8786``, ``tls://...``, ``ws://...``) names a running
  scheduler, started by hand, by dask-kubernetes, Coiled, dask-jobqueue...;
- ``none`` runs the batch here, without Dask, even when mediamix.yaml names a cluster.

No Dask import here: parsing the option must not cost what starting a cluster does.
"""

from __future__ import annotations

import re

from runner.config.model import ClusterSpec
from runner.errors import UsageError

NONE = "none"
_LOCAL = re.compile(r"^local:(\d+)$")
_ADDRESS = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")
#: More local workers than this on one machine is a typo, not a plan.
MAX_LOCAL_WORKERS = 256


def local_workers(address: str) -> int | None:
    """N for ``local:N``; None for a scheduler address."""
    match = _LOCAL.match(address)
    return int(match.group(1)) if match else None


def check_address(address: str, *, where: str = "--cluster") -> str:
    """The address, or a UsageError saying what is accepted."""
    text = address.strip()
    count = local_workers(text)
    if count is not None:
        if not 1 <= count <= MAX_LOCAL_WORKERS:
            raise UsageError(f"{where} {text}: N must be between 1 and {MAX_LOCAL_WORKERS}")
        return text
    if _ADDRESS.match(text):
        return text
    raise UsageError(
        f"{where} {text!r}: expected a Dask scheduler address such as tcp://host:8786, "
        f"local:N for N worker processes on this machine, or {NONE}"
    )


def choose(option: str | None, configured: ClusterSpec | None) -> ClusterSpec | None:
    """The cluster a batch uses: ``--cluster`` over mediamix.yaml's ``cluster:``."""
    if option is None:
        if configured is None:
            return None
        return ClusterSpec(
            check_address(configured.address, where="mediamix.yaml cluster:"),
            configured.connect_timeout_s,
        )
    if option.strip().lower() == NONE:
        return None
    timeout = configured.connect_timeout_s if configured is not None else 10.0
    return ClusterSpec(check_address(option), timeout)
