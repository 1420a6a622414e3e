"""Artifact storage: scratch spooling, key templates, and the local/S3 artifact store.

The engine spools a provider's result to a scratch file (:func:`spool_result`), renders
its key from the output template (:func:`render_key`), and hands both to
:class:`ArtifactStore`, which writes local disk or an S3-compatible bucket atomically.
"""

from runner.storage.keys import check_key, extension_for, render_key
from runner.storage.spool import spool_result
from runner.storage.store import ArtifactStore, Staged, StoredObject

__all__ = [
    "ArtifactStore",
    "Staged",
    "StoredObject",
    "check_key",
    "extension_for",
    "render_key",
    "spool_result",
]
