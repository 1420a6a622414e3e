"""Gemini request pieces a text request needs beyond its prompt: image and audio inputs
as ``inlineData`` parts (a judge looking at a picture, speech to text), and a JSON Schema
in the form Gemini's ``responseSchema`` accepts (structured output)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from runner.errors import PermanentError
from runner.providers.base import GenerationRequest

#: Input media a text request hands to the model inline.
_INLINE_MEDIA = ("image", "audio")


def media_parts(request: GenerationRequest, vendor: str) -> list[dict[str, Any]]:
    """Image and audio inputs with a local file, as ``inlineData`` parts."""
    parts: list[dict[str, Any]] = []
    for asset in request.inputs:
        if asset.media_type not in _INLINE_MEDIA or asset.path is None:
            continue
        try:
            data = asset.read_bytes()
        except OSError as exc:
            raise PermanentError(
                f"{vendor}: cannot read the input {asset.media_type} from step "
                f"{asset.step!r}: {exc}",
                code="input_unreadable",
            ) from exc
        parts.append({"inlineData": {"mimeType": asset.mime, "data": _b64(data)}})
    return parts


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def gemini_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON Schema as Gemini's ``responseSchema`` (an OpenAPI subset): without the
    keywords it rejects (``additionalProperties``, ``title``, ``$schema``)."""
    dropped = {"additionalProperties", "title", "$schema"}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in dropped:
            continue
        if key == "properties" and isinstance(value, Mapping):
            out[key] = {name: gemini_schema(sub) for name, sub in value.items()}
        elif key == "items" and isinstance(value, Mapping):
            out[key] = gemini_schema(value)
        else:
            out[key] = value
    return out
