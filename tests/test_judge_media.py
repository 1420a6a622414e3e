"""What a judge is shown of each media type, checked on what the fake server received:
a video as a few frames (taken with the bundled ffmpeg), speech as a transcript made by a
speech-to-text model (OpenAI's and Gemini's), a document as its text."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.fakeprovider import FakeProviderServer
from tests.judge_support import judge_project


def test_a_video_reaches_the_judge_as_frames(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDIAMIX_POLL_INTERVAL", "0.01")
    project = judge_project(tmp_path, fake, monkeypatch)
    project.preset(
        "video",
        [{"provider": "openai", "model": "sora-2", "params": {"seconds": "8"}}],
        judge={"provider": "anthropic", "model": "claude-haiku-4-5", "frames": 3},
    )
    project.pipeline("a lighthouse, slow pan")

    result, done = project.run()

    assert result.exit_code == 0, result.output
    assert done["jobs"][0]["artifacts"][0]["mime"] == "video/mp4"
    [seen] = fake.state.judge_calls
    assert seen.vendor == "anthropic"
    assert seen.image_mimes == ["image/jpeg"] * 3
    frames = [Image.open(io.BytesIO(data)) for data in seen.images]
    assert [f.size for f in frames] == [(160, 120)] * 3  # the clip's own size (under 768)
    # Spread over the clip: the test pattern moves, so no two frames are the same.
    assert len({f.tobytes() for f in frames}) == 3
    assert "3 frames taken evenly over the 2.0 s video" in seen.text
    # Anthropic has no JSON response format: the judge is forced to call one tool.
    [sent] = [r for r in fake.state.requests if r.path.endswith("/messages")]
    assert sent.json["tool_choice"] == {"type": "tool", "name": "judgement"}
    assert [b["type"] for b in sent.json["messages"][0]["content"]] == [
        "image", "image", "image", "text",
    ]  # fmt: skip
    [judged] = project.rows("SELECT verdict, score FROM judgements")
    assert judged == {"verdict": "passed", "score": 0.9}
    # The frames were the judge's only; nothing of them is left in scratch.
    assert not list((tmp_path / ".mediamix" / "tmp").rglob("*-frame-*.jpg"))


@pytest.mark.parametrize(
    ("speech", "transcribe", "judge", "heard"),
    [
        (
            {"provider": "openai", "model": "tts-1"},
            {"provider": "openai", "model": "gpt-4o-mini-transcribe"},
            {"provider": "anthropic", "model": "claude-haiku-4-5"},
            "openai/gpt-4o-mini-transcribe",
        ),
        (
            {"provider": "google", "model": "gemini-2.5-flash-preview-tts"},
            {"model": "gemini-2.5-flash"},  # the judge's own provider
            {"provider": "google", "model": "gemini-2.5-flash"},
            "google/gemini-2.5-flash",
        ),
    ],
    ids=["openai-transcribes", "gemini-transcribes"],
)
def test_speech_reaches_the_judge_as_a_transcript(
    tmp_path: Path,
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    speech: dict[str, str],
    transcribe: dict[str, str],
    judge: dict[str, str],
    heard: str,
) -> None:
    project = judge_project(tmp_path, fake, monkeypatch)
    project.preset("audio", [speech], judge={**judge, "transcribe": transcribe})
    project.pipeline("Welcome to the lighthouse tour.")

    result, done = project.run()

    assert result.exit_code == 0, result.output
    stored = Path(done["jobs"][0]["artifacts"][0]["path"]).read_bytes()
    # The speech-to-text model got exactly the stored audio ...
    if transcribe.get("provider") == "openai":
        [sent] = [r for r in fake.state.requests if r.path.endswith("/audio/transcriptions")]
        assert sent.files["file"] == stored
        assert sent.form == {"model": "gpt-4o-mini-transcribe", "response_format": "json"}
    else:
        asked = [r for r in fake.state.requests if "gemini-2.5-flash:generateContent" in r.path]
        parts = asked[0].json["contents"][0]["parts"]
        assert parts[0]["inlineData"]["mimeType"] == "audio/wav"
        assert "Transcribe the speech" in parts[1]["text"]
    # ... and the judge read what it heard, with no picture.
    [seen] = fake.state.judge_calls
    assert seen.images == []
    assert f"{speech['model']} said: Welcome to the lighthouse tour." in seen.text
    assert "a transcript of" in seen.text
    [judged] = project.rows("SELECT verdict, transcribed_by, cost_usd FROM judgements")
    assert judged["verdict"] == "passed" and judged["transcribed_by"] == heard
    assert judged["cost_usd"] > 0  # the transcription and the judgement were both paid


def test_a_document_reaches_the_judge_as_its_text(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = judge_project(tmp_path, fake, monkeypatch, vendors=("openai",))
    project.preset(
        "document",
        [{"provider": "local", "model": "pdf"}],
        judge={"provider": "openai", "model": "gpt-4.1-mini", "rubric": "Is it about tides?"},
    )
    project.pipeline("# Tides\\n\\nThe moon pulls the oceans twice a day.")

    result, _ = project.run()

    assert result.exit_code == 0, result.output
    [seen] = fake.state.judge_calls
    assert "The moon pulls the oceans twice a day." in seen.text  # read from the PDF
    assert "the text of the generated document" in seen.text
    assert seen.images == []
