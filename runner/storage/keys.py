"""Object keys: rendering output path templates and refusing keys that leave the root.

A key is a relative, ``/``-separated path under the store's root, the same on local disk
and in a bucket: ``run-42/cover.png``. Templates are ``str.format`` strings over plain
field names (format specs allowed, attribute and index access not), so a template cannot
reach into the objects it is given.
"""

from __future__ import annotations

import string
from functools import lru_cache
from typing import Any

from runner.config.output_paths import key_problem
from runner.errors import StorageError

_MIME_EXTENSIONS: dict[str, str] = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/webp": "webp",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/vnd.wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/ogg": "ogg",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "text/plain": "txt",
    "text/markdown": "md",
    "application/json": "json",
}

#: Extension for a type we have no name for: the artifact is still stored, never dropped.
UNKNOWN_EXTENSION = "bin"

_FORMATTER = string.Formatter()


def extension_for(mime: str) -> str:
    """File extension (no dot) for a MIME type; parameters such as ``; charset=`` are ignored."""
    base = mime.split(";", 1)[0].strip().lower()
    return _MIME_EXTENSIONS.get(base, UNKNOWN_EXTENSION)


def render_key(template: str, **fields: Any) -> str:
    """Fill an output path template and check that the result stays under the root."""
    for name in _field_names(template):
        if not name.isidentifier():
            raise StorageError(
                f"output template {template!r}: field {{{name}}} must be a plain name"
            )
        if name not in fields:
            known = ", ".join(sorted(fields)) or "none"
            raise StorageError(
                f"output template {template!r} uses unknown field {{{name}}} (known: {known})"
            )
    try:
        key = template.format(**fields)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        # A bad format spec ("{index:q}") or a field nested inside a spec.
        raise StorageError(f"output template {template!r} could not be filled: {exc}") from exc
    return check_key(key)


@lru_cache(maxsize=256)
def _field_names(template: str) -> tuple[str, ...]:
    # A batch fills the same template for every job: parse it once.
    return tuple(name for _literal, name, _spec, _conv in _parse(template) if name is not None)


def check_key(key: str) -> str:
    """Return ``key`` unchanged if it is a safe relative path, else raise StorageError."""
    problem = key_problem(key)
    if problem is not None:
        raise StorageError(f"artifact key {key!r} {problem}")
    return key


def _parse(template: str) -> list[tuple[str, str | None, str | None, str | None]]:
    try:
        return list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise StorageError(f"output template {template!r} is malformed: {exc}") from exc
