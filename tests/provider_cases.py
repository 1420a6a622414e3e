"""Helpers the per-vendor adapter tests share: one call against the fake server, real
media inputs and checks, and everything an exception would say when printed."""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runner.providers.base import GenerationRequest, InputAsset, Provider
from tests.fakeprovider import FakeProviderServer, media
from tests.fakeprovider.calls import Collected, generate

#: A key distinctive enough that finding it anywhere in an error is certainly a leak.
SECRET = "sk-DISTINCTIVE-secret-0123456789abcdef"

#: Faults after which any adapter must fail with one of our errors; used by the
#: "the key appears in no error" tests.
FAILING_FAULTS = (
    "400",
    "401",
    "429",
    "insufficient_quota",
    "500",
    "503",
    "529",
    "drop",
    "truncate",
    "malformed_json",
    "stall",
)


def run(
    provider: Provider,
    fake: FakeProviderServer,
    vendor: str,
    media_type: str,
    model: str,
    prompt: str = "a lighthouse at dusk",
    *,
    params: dict[str, Any] | None = None,
    inputs: Sequence[InputAsset] = (),
    timeout: float = 5.0,
    resume_task_id: str | None = None,
    api_key: str | None = "sk-test-key",
    **kwargs: Any,
) -> Collected:
    """One ``provider.generate`` over real HTTP against the fake ``vendor`` API."""
    request = GenerationRequest(
        media_type=media_type,  # type: ignore[arg-type]
        model=model,
        prompt=prompt,
        params=params or {},
        inputs=inputs,
        timeout=timeout,
        resume_task_id=resume_task_id,
    )
    return generate(provider, request, base_url=fake.base_url(vendor), api_key=api_key, **kwargs)


def image_input(tmp_path: Path, *, step: str = "cover") -> InputAsset:
    """An earlier step's picture: a real PNG on local disk."""
    path = tmp_path / f"{step}.png"
    path.write_bytes(media.png(96, 64, seed=7))
    return InputAsset("image", "image/png", path=str(path), step=step)


def everything_said(exc: BaseException) -> str:
    """The traceback, repr and str of ``exc`` and its chain: all a log could show."""
    return "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)


def is_mp3(data: bytes) -> bool:
    """A bare MPEG audio stream starts with an 11-bit frame sync (or an ID3 tag)."""
    return data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0)


def is_mp4(data: bytes) -> bool:
    return data[4:8] == b"ftyp"
