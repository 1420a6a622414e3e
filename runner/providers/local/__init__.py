"""The ``local`` provider: real generators that need no key and no network.

One module per generator, imported on first use so that listing models costs nothing:
image ``card`` (Pillow), audio ``espeak`` (eSpeak NG), video ``slideshow`` (ffmpeg),
document ``pdf`` (fpdf2) and ``docx`` (python-docx), text ``template``.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import ClassVar

from runner.errors import PermanentError
from runner.providers.base import CallContext, GenerationRequest, GenerationResult

GenerateFn = Callable[[GenerationRequest], Awaitable[GenerationResult]]

# (media type, model) -> "module:function" inside this package.
_GENERATORS: dict[tuple[str, str], str] = {
    ("image", "card"): "image_card:generate",
    ("audio", "espeak"): "speech:generate",
    ("video", "slideshow"): "video:generate",
    ("document", "pdf"): "document:generate_pdf",
    ("document", "docx"): "document:generate_docx",
    ("text", "template"): "text:generate",
}

#: Model names per media type, for configuration checks.
LOCAL_MODELS: dict[str, tuple[str, ...]] = {}
for _media, _model in _GENERATORS:
    LOCAL_MODELS.setdefault(_media, ())
    LOCAL_MODELS[_media] += (_model,)


class LocalProvider:
    name: ClassVar[str] = "local"
    media_types: ClassVar[frozenset[str]] = frozenset(LOCAL_MODELS)
    needs_key: ClassVar[bool] = False
    uses_http: ClassVar[bool] = False
    default_base_url: ClassVar[str | None] = None

    async def generate(self, request: GenerationRequest, ctx: CallContext) -> GenerationResult:
        return await _generator(request.media_type, request.model)(request)


def _generator(media_type: str, model: str) -> GenerateFn:
    target = _GENERATORS.get((media_type, model))
    if target is None:
        known = ", ".join(LOCAL_MODELS.get(media_type, ())) or "none"
        raise PermanentError(
            f"local provider has no {media_type} model {model!r} (known: {known})",
            code="model_not_found",
        )
    module_name, _, function = target.partition(":")
    module = importlib.import_module(f"{__name__}.{module_name}")
    generator: GenerateFn = getattr(module, function)
    return generator
