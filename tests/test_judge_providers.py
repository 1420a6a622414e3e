"""The provider interface's two small extensions a judge uses, per vendor, over real HTTP
against the fake server: a text request that sees pictures and answers to a JSON Schema
(each vendor's own structured output), and speech to text. Plus the strict reading of
a judge's answer."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest

from runner.errors import PermanentError
from runner.judge import JUDGEMENT_SCHEMA, VerdictError, parse_verdict
from runner.providers.anthropic import AnthropicProvider
from runner.providers.azure import AzureOpenAIProvider
from runner.providers.base import (
    CallContext,
    GenerationRequest,
    GenerationResult,
    InputAsset,
    Provider,
    Transcriber,
)
from runner.providers.cohere import CohereProvider
from runner.providers.google import GoogleProvider
from runner.providers.openai import OpenAIProvider
from runner.transport import shared_client
from tests.fakeprovider import FakeProviderServer
from tests.fakeprovider.calls import generate
from tests.fakeprovider.media import png, wav


def picture(tmp_path: Path) -> InputAsset:
    path = tmp_path / "cover.png"
    path.write_bytes(png(64, 64, 3))
    return InputAsset("image", "image/png", path=str(path), step="cover")


def ask(
    provider: Provider,
    fake: FakeProviderServer,
    vendor: str,
    model: str,
    inputs: tuple[InputAsset, ...],
    **options: Any,
) -> GenerationResult:
    request = GenerationRequest(
        media_type="text",
        model=model,
        prompt="Score it.",
        inputs=inputs,
        timeout=5.0,
        response_schema=JUDGEMENT_SCHEMA,
    )
    return generate(provider, request, base_url=fake.base_url(vendor), **options).result


def test_openai_sends_pictures_as_data_uris_and_asks_for_json_by_schema(
    fake: FakeProviderServer, tmp_path: Path
) -> None:
    result = ask(OpenAIProvider(), fake, "openai", "gpt-4.1-mini", (picture(tmp_path),))
    assert parse_verdict(result.text or "").score == 0.9
    sent = fake.state.last("/chat/completions").json
    schema = {k: v for k, v in JUDGEMENT_SCHEMA.items() if k != "title"}
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "judgement", "schema": schema, "strict": True},
    }
    image, text = sent["messages"][0]["content"]
    assert (
        image["image_url"]["url"]
        == "data:image/png;base64," + base64.b64encode(png(64, 64, 3)).decode()
    )
    assert text == {"type": "text", "text": "Score it."}


def test_anthropic_sends_image_blocks_and_reads_the_forced_tool_call(
    fake: FakeProviderServer, tmp_path: Path
) -> None:
    result = ask(AnthropicProvider(), fake, "anthropic", "claude-haiku-4-5", (picture(tmp_path),))
    assert json.loads(result.text or "") == {
        "score": 0.9,
        "reason": "looks right (default score)",
    }
    sent = fake.state.last("/messages").json
    assert sent["tool_choice"] == {"type": "tool", "name": "judgement"}
    [tool] = sent["tools"]
    assert tool["name"] == "judgement" and tool["input_schema"]["required"] == ["score", "reason"]
    block = sent["messages"][0]["content"][0]
    assert block["type"] == "image" and block["source"]["media_type"] == "image/png"


def test_gemini_sends_pictures_inline_and_a_response_schema_it_accepts(
    fake: FakeProviderServer, tmp_path: Path
) -> None:
    result = ask(GoogleProvider(), fake, "google", "gemini-2.5-flash", (picture(tmp_path),))
    assert parse_verdict(result.text or "").score == 0.9
    sent = fake.state.last(":generateContent").json
    config = sent["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    # Gemini's schema is an OpenAPI subset: no additionalProperties, no title.
    assert config["responseSchema"] == {
        "type": "object",
        "properties": JUDGEMENT_SCHEMA["properties"],
        "required": ["score", "reason"],
    }
    assert sent["contents"][0]["parts"][0]["inlineData"]["mimeType"] == "image/png"


def test_cohere_asks_for_a_json_object_by_schema(fake: FakeProviderServer) -> None:
    ask(CohereProvider(), fake, "cohere", "command-a-03-2025", ())
    sent = fake.state.last("/v2/chat").json
    assert sent["response_format"]["type"] == "json_object"
    assert sent["response_format"]["json_schema"]["required"] == ["score", "reason"]


def transcribe(
    provider: Transcriber,
    fake: FakeProviderServer,
    vendor: str,
    model: str,
    audio: Path,
    **opt: Any,
) -> GenerationResult:
    async def go() -> GenerationResult:
        async with shared_client(timeout=5.0) as http:
            ctx = CallContext(
                http=http,
                api_key="sk-test-key",
                base_url=fake.base_url(vendor),
                options=opt,
            )
            request = GenerationRequest(
                media_type="text",
                model=model,
                prompt="",
                inputs=(InputAsset("audio", "audio/wav", path=str(audio)),),
                timeout=5.0,
            )
            return await provider.transcribe(request, ctx)

    return asyncio.run(go())


def test_openai_and_azure_transcribe_with_a_multipart_upload(
    fake: FakeProviderServer, tmp_path: Path
) -> None:
    audio = tmp_path / "speech.wav"
    audio.write_bytes(wav(0.5))
    fake.state.label_media(audio.read_bytes(), "tts-1 said: hello")
    out = transcribe(OpenAIProvider(), fake, "openai", "whisper-1", audio)
    assert out.text == "tts-1 said: hello"
    assert out.usage.seconds == 1  # whisper-1 bills the clip's duration
    sent = fake.state.last("/audio/transcriptions")
    assert sent.files == {"file": audio.read_bytes()}
    assert sent.form == {"model": "whisper-1", "response_format": "json"}

    deployments = {"deployments": {"gpt-4o-mini-transcribe": "stt"}, "api_version": "2025-03-01"}
    out = transcribe(
        AzureOpenAIProvider(), fake, "azure", "gpt-4o-mini-transcribe", audio, **deployments
    )
    assert out.text == "tts-1 said: hello" and out.usage.input_tokens
    sent = fake.state.last("/audio/transcriptions")
    assert sent.path == "/azure/openai/deployments/stt/audio/transcriptions"
    assert sent.form == {"response_format": "json"}  # the deployment names the model


def test_transcribing_a_missing_audio_file_is_a_clear_error(fake: FakeProviderServer) -> None:
    with pytest.raises(PermanentError, match="cannot read the audio to transcribe"):
        transcribe(OpenAIProvider(), fake, "openai", "whisper-1", Path("/nonexistent.wav"))


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        ('{"score": 0.75, "reason": "sharp, on topic"}', 0.75),
        ('  ```json\n{"score": 1, "reason": "perfect"}\n```  ', 1.0),
        ('{"score": 0, "reason": "wrong subject", "notes": "extra keys are ignored"}', 0.0),
    ],
)
def test_a_judges_answer_is_read_strictly(answer: str, score: float) -> None:
    assert parse_verdict(answer).score == score


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("Score: 0.8. Looks good.", "not JSON"),
        ("[0.8]", "not a JSON object"),
        ('{"score": "0.8", "reason": "x"}', "not a number"),
        ('{"score": true, "reason": "x"}', "not a number"),
        ('{"score": 8, "reason": "out of ten"}', "outside 0..1"),
        ('{"score": 0.8}', "no reason"),
        ('{"score": 0.8, "reason": "  "}', "no reason"),
        ('Sure! {"score": 0.8, "reason": "x"}', "not JSON"),
    ],
)
def test_anything_but_a_score_is_refused(answer: str, why: str) -> None:
    with pytest.raises(VerdictError, match=why):
        parse_verdict(answer)
