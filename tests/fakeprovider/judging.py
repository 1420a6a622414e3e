"""The fake server as a judge and as a speech-to-text model, with scores a test scripts.

A chat request that asks for structured output (OpenAI's ``json_schema`` response format,
a forced Anthropic tool, Gemini's ``responseSchema``) is answered as a judge would:
``{"score": ..., "reason": ...}``. Which score is up to the test:
``state.script_judge([("gpt-4.1-mini", 0.3), ...], default=0.9)`` gives the score of the
first marker found in what the judge was shown: the request's text, plus a label for
every picture and clip this server generated itself (``state.label_media``: generated
images differ per model, so the judge can tell them apart by their bytes, the way a real
judge tells a good picture from a bad one). ``state.judge_reply`` replaces the answer
with raw text (an unparseable judge).

Every judge request is kept as a :class:`Seen` in ``state.judge_calls``, so a test can
assert on exactly what reached the judge (the pictures, the frames, the transcript).
Transcriptions answer with the label of the audio they were sent (``"tts-1 said: ..."``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from tests.fakeprovider.state import FakeState

DEFAULT_SCORE = 0.9


@dataclass
class Seen:
    """What one judge request carried."""

    vendor: str
    model: str
    text: str
    #: Pictures, decoded, in the order they were sent.
    images: list[bytes] = field(default_factory=list)
    #: MIME types of the pictures, as the request declared them.
    image_mimes: list[str] = field(default_factory=list)
    #: Labels of pictures this server made (see FakeState.label_media).
    labels: list[str] = field(default_factory=list)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b""


def _data_uri(url: str) -> tuple[str, bytes] | None:
    if not url.startswith("data:") or ";base64," not in url:
        return None
    head, _, data = url.partition(";base64,")
    return head[len("data:") :], _b64(data)


def _seen(vendor: str, model: str, texts: list[str], pictures: list[tuple[str, bytes]]) -> Seen:
    return Seen(
        vendor=vendor,
        model=model,
        text="\n".join(texts),
        images=[data for _, data in pictures],
        image_mimes=[mime for mime, _ in pictures],
    )


# -- reading judge requests per vendor ------------------------------------------------------


def openai_judge_request(body: dict[str, Any]) -> bool:
    fmt = body.get("response_format")
    return isinstance(fmt, dict) and fmt.get("type") == "json_schema"


def seen_openai(vendor: str, model: str, body: dict[str, Any]) -> Seen:
    texts: list[str] = []
    pictures: list[tuple[str, bytes]] = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
            continue
        for part in content if isinstance(content, list) else []:
            if part.get("type") == "text":
                texts.append(str(part.get("text", "")))
            elif part.get("type") == "image_url":
                found = _data_uri(str((part.get("image_url") or {}).get("url", "")))
                if found:
                    pictures.append(found)
    return _seen(vendor, model, texts, pictures)


def anthropic_judge_tool(body: dict[str, Any]) -> str | None:
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool":
        return str(choice.get("name"))
    return None


def seen_anthropic(model: str, body: dict[str, Any]) -> Seen:
    texts = [str(body.get("system", ""))]
    pictures: list[tuple[str, bytes]] = []
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
            continue
        for block in content if isinstance(content, list) else []:
            if block.get("type") == "text":
                texts.append(str(block.get("text", "")))
            elif block.get("type") == "image":
                source = block.get("source") or {}
                pictures.append((str(source.get("media_type")), _b64(str(source.get("data")))))
    return _seen("anthropic", model, texts, pictures)


def gemini_judge_request(body: dict[str, Any]) -> bool:
    config = body.get("generationConfig") or {}
    return config.get("responseMimeType") == "application/json" and "responseSchema" in config


def gemini_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for content in body.get("contents") or []:
        parts += [p for p in content.get("parts") or [] if isinstance(p, dict)]
    return parts


def seen_gemini(model: str, body: dict[str, Any], *, kind: str = "image/") -> Seen:
    texts: list[str] = []
    pictures: list[tuple[str, bytes]] = []
    for part in gemini_parts(body):
        if "text" in part:
            texts.append(str(part["text"]))
        inline = part.get("inlineData")
        if isinstance(inline, dict) and str(inline.get("mimeType", "")).startswith(kind):
            pictures.append((str(inline["mimeType"]), _b64(str(inline.get("data", "")))))
    return _seen("google", model, texts, pictures)


# -- answering --------------------------------------------------------------------------------


def verdict(state: FakeState, seen: Seen) -> str:
    """The judge's answer text for what it saw (recorded in state.judge_calls)."""
    seen.labels = [state.media_labels.get(digest(image), "") for image in seen.images]
    state.record_judge_call(seen)
    if state.judge_reply is not None:
        return state.judge_reply
    haystack = "\n".join([seen.text, *seen.labels])
    for marker, score in state.judge_scores:
        if marker in haystack:
            return json.dumps({"score": score, "reason": f"scripted score for {marker!r}"})
    return json.dumps({"score": state.judge_default, "reason": "looks right (default score)"})


def transcript(state: FakeState, audio: bytes) -> str:
    """What a speech-to-text model "hears": the label this server gave the audio."""
    label = state.media_labels.get(digest(audio))
    if label is None and audio[:4] == b"RIFF":
        # Gemini TTS answers raw PCM; the adapter wraps it in a 44-byte WAV header.
        label = state.media_labels.get(digest(audio[44:]))
    return label or "(speech this server did not make)"


def judge_usage(seen: Seen) -> tuple[int, int]:
    """(input, output) tokens: ~4 characters a token, 85 per picture (low detail)."""
    return len(seen.text) // 4 + 1 + 85 * len(seen.images), 20
