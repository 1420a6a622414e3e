"""The ``local`` provider's generators, driven through ``generate()``, checked on real bytes."""

from __future__ import annotations

import asyncio
import io
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import docx
import pytest
from PIL import Image

from runner.errors import PermanentError, UnavailableError
from runner.providers.base import (
    CallContext,
    GenerationRequest,
    GenerationResult,
    InputAsset,
    MediaType,
    Provider,
)
from runner.providers.local import LOCAL_MODELS, LocalProvider
from runner.providers.registry import get_provider
from runner.validation import DOCX_MIME, validate_file
from runner.validation.ffmpeg import ffmpeg_path
from runner.validation.mp4 import read_movie
from tests import media_samples as samples

needs_ffmpeg = pytest.mark.skipif(ffmpeg_path() is None, reason="mediamix[video] not installed")


def generate(
    media_type: MediaType,
    model: str,
    prompt: str,
    params: dict[str, Any] | None = None,
    inputs: Sequence[InputAsset] = (),
) -> GenerationResult:
    request = GenerationRequest(media_type, model, prompt, params=params or {}, inputs=inputs)
    return asyncio.run(LocalProvider().generate(request, CallContext()))


def collect(result: GenerationResult) -> bytes:
    assert result.stream is not None

    async def read() -> bytes:
        assert result.stream is not None
        return b"".join([chunk async for chunk in result.stream])

    return asyncio.run(read())


def save(tmp_path: Path, name: str, data: bytes | None) -> Path:
    assert data is not None
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_local_provider_is_registered_and_lists_its_models() -> None:
    provider = get_provider("local")

    assert isinstance(provider, Provider)
    assert (provider.needs_key, provider.uses_http, provider.default_base_url) == (
        False,
        False,
        None,
    )
    assert LOCAL_MODELS == {
        "image": ("card",),
        "audio": ("espeak",),
        "video": ("slideshow",),
        "document": ("pdf", "docx"),
        "text": ("template",),
    }


def test_unknown_model_is_permanent_and_names_the_known_ones() -> None:
    with pytest.raises(PermanentError, match=r"no document model 'odt' \(known: pdf, docx\)"):
        generate("document", "odt", "body")


# --- image card ------------------------------------------------------------------------


def test_card_is_a_png_of_the_requested_size_with_real_content(tmp_path: Path) -> None:
    result = generate("image", "card", "Quarterly report\nNumbers, “quotes” — and émojis 🎉")

    img = Image.open(io.BytesIO(result.data or b""))
    assert (result.mime, img.format, img.size) == ("image/png", "PNG", (1280, 720))
    assert result.usage.images == 1
    # Not a flat colour: the gradient and the text both vary.
    bands = img.convert("RGB").split()
    assert all(band.getextrema()[1] - band.getextrema()[0] > 50 for band in bands)  # type: ignore[operator]
    validate_file(save(tmp_path, "card.png", result.data), "image")


def test_card_is_deterministic_per_prompt_and_seed() -> None:
    first = generate("image", "card", "Hello", {"width": 320, "height": 200, "seed": 1})
    again = generate("image", "card", "Hello", {"width": 320, "height": 200, "seed": 1})
    reseeded = generate("image", "card", "Hello", {"width": 320, "height": 200, "seed": 2})

    assert first.data == again.data
    assert first.data != reseeded.data
    assert Image.open(io.BytesIO(first.data or b"")).size == (320, 200)


def test_card_rejects_an_impossible_size() -> None:
    with pytest.raises(PermanentError, match=r"params\.width must be a whole number"):
        generate("image", "card", "x", {"width": 0})


# --- speech ----------------------------------------------------------------------------

SENTENCE = "Welcome to mediamix. This sentence is read aloud by eSpeak."


def test_speech_is_a_valid_wav_of_plausible_length(tmp_path: Path) -> None:
    result = generate("audio", "espeak", SENTENCE)

    with wave.open(io.BytesIO(result.data or b"")) as wav:
        channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
        seconds = wav.getnframes() / rate
    assert (result.mime, channels, width, rate) == ("audio/wav", 1, 2, 22050)
    # Ten words at 165 words a minute: about 3.6 s of speech plus pauses.
    assert 2.0 < seconds < 8.0
    assert result.usage.seconds == pytest.approx(seconds, abs=0.01)
    assert result.usage.characters == len(SENTENCE)
    facts = validate_file(save(tmp_path, "s.wav", result.data), "audio")  # not silent
    assert facts.duration_s == pytest.approx(seconds, abs=0.01)


def test_speech_rate_changes_the_length() -> None:
    slow = generate("audio", "espeak", SENTENCE, {"rate": 100})
    fast = generate("audio", "espeak", SENTENCE, {"rate": 300})

    assert slow.usage.seconds is not None and fast.usage.seconds is not None
    assert slow.usage.seconds > 1.8 * fast.usage.seconds


def test_speech_other_voice_and_unknown_voice() -> None:
    german = generate("audio", "espeak", "Guten Morgen", {"voice": "de"})

    assert german.data is not None and len(german.data) > 1000
    with pytest.raises(PermanentError, match="no voice 'no-such-voice'"):
        generate("audio", "espeak", "hello", {"voice": "no-such-voice"})
    with pytest.raises(PermanentError, match="prompt is empty"):
        generate("audio", "espeak", "   ")


def test_concurrent_speech_requests_do_not_mix_their_audio() -> None:
    texts = ["One.", SENTENCE, "Two words.", SENTENCE + " " + SENTENCE]
    alone = [generate("audio", "espeak", text).usage.seconds or 0.0 for text in texts]

    async def together() -> list[GenerationResult]:
        provider = LocalProvider()
        requests = [GenerationRequest("audio", "espeak", text) for text in texts]
        return list(await asyncio.gather(*(provider.generate(r, CallContext()) for r in requests)))

    # eSpeak's output varies by a few samples from call to call, never by a whole text.
    for result, seconds in zip(asyncio.run(together()), alone, strict=True):
        assert result.usage.seconds == pytest.approx(seconds, abs=0.05)


# --- slideshow -------------------------------------------------------------------------


def image_inputs(tmp_path: Path, count: int) -> list[InputAsset]:
    assets = []
    for i in range(count):
        path = save(tmp_path, f"slide{i}.png", samples.png(320 + 40 * i, 240))
        assets.append(InputAsset("image", "image/png", path=str(path), step=f"slide{i}"))
    return assets


def ffmpeg_report(path: Path) -> str:
    exe = ffmpeg_path()
    assert exe is not None
    done = subprocess.run([exe, "-hide_banner", "-i", str(path)], capture_output=True, check=False)
    return done.stderr.decode()


@needs_ffmpeg
def test_slideshow_of_images_and_narration(tmp_path: Path) -> None:
    narration = save(tmp_path, "n.wav", samples.wav(4.0))
    inputs = [*image_inputs(tmp_path, 3), InputAsset("audio", "audio/wav", path=str(narration))]

    result = generate("video", "slideshow", "unused", {"width": 640, "height": 360}, inputs)
    path = save(tmp_path, "show.mp4", collect(result))

    facts = validate_file(path, "video")
    movie = read_movie(path)
    report = ffmpeg_report(path)
    assert (result.mime, facts.width, facts.height) == ("video/mp4", 640, 360)
    assert facts.duration_s == pytest.approx(4.0, abs=0.2)
    assert result.usage.seconds == pytest.approx(4.0, abs=0.01)
    assert facts.frames is not None and 96 <= facts.frames <= 100  # 4 s at 25 fps
    assert [t.handler for t in movie.tracks] == ["vide", "soun"]
    assert "Video: h264" in report and "yuv420p" in report and "Audio: aac" in report


@needs_ffmpeg
def test_slideshow_without_inputs_shows_a_card_for_three_seconds(tmp_path: Path) -> None:
    result = generate("video", "slideshow", "Coming soon", {"width": 320, "height": 180})
    path = save(tmp_path, "card.mp4", collect(result))

    facts = validate_file(path, "video")
    assert facts.duration_s == pytest.approx(3.0, abs=0.1)
    assert [t.handler for t in read_movie(path).tracks] == ["vide"]


@needs_ffmpeg
def test_slideshow_leaves_no_temporary_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    result = generate("video", "slideshow", "x", {"width": 160, "height": 90})
    assert list(scratch.iterdir()) == []  # the open file keeps the data, not the directory
    assert collect(result)[4:8] == b"ftyp"


@needs_ffmpeg
def test_ffmpeg_failure_is_permanent_with_its_message(tmp_path: Path) -> None:
    bogus = save(tmp_path, "bogus.wav", b"RIFF" + b"\x00" * 2000)
    inputs = [InputAsset("audio", "audio/wav", path=str(bogus), step="voice")]
    params = {"width": 160, "height": 90, "seconds_per_image": 1}

    with pytest.raises(PermanentError, match=r"ffmpeg failed \(exit \d+\): .*bogus.wav"):
        generate("video", "slideshow", "x", params, inputs)


def test_undecodable_image_input_is_refused_before_ffmpeg(tmp_path: Path) -> None:
    bogus = save(tmp_path, "bogus.png", b"this is not an image at all")
    inputs = [InputAsset("image", "image/png", path=str(bogus), step="cover")]

    with pytest.raises(PermanentError, match="image input from step 'cover' cannot be read"):
        generate("video", "slideshow", "x", {"width": 160, "height": 90}, inputs)


def test_slideshow_without_ffmpeg_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stands in for an install without the mediamix[video] extra.
    monkeypatch.setattr("runner.providers.local.video.ffmpeg_path", lambda: None)

    with pytest.raises(UnavailableError, match=r"pip install 'mediamix\[video\]'"):
        generate("video", "slideshow", "x")


def test_inputs_that_are_not_local_files_are_permanent_errors() -> None:
    remote = InputAsset("image", "image/png", url="s3://bucket/a.png", step="cover")

    with pytest.raises(PermanentError, match="from step 'cover' is not a local file"):
        generate("document", "pdf", "# T", inputs=[remote])


# --- documents -------------------------------------------------------------------------

BODY = """# Field Notes
An “opening” paragraph — with ünïcödé, Жизнь, → arrows and 🎉 emoji.
It continues on a second line.

## Findings
- first finding
- second finding

Closing words.
"""


def document_inputs(tmp_path: Path) -> list[InputAsset]:
    cover = save(tmp_path, "cover.webp", b"")
    Image.open(io.BytesIO(samples.png(200, 100))).save(cover, format="WEBP")
    return [
        InputAsset("image", "image/webp", path=str(cover), step="cover"),
        InputAsset("text", "text/plain", text="Background details.", step="background_notes"),
    ]


def test_pdf_has_pages_title_and_picture(tmp_path: Path) -> None:
    inputs = document_inputs(tmp_path)
    result = generate("document", "pdf", BODY, {"title": "Field Notes"}, inputs)
    path = save(tmp_path, "notes.pdf", result.data)

    facts = validate_file(path, "document", {"min_pages": 1})
    drawn = samples.inflate_pdf_streams(path.read_bytes())
    assert result.mime == "application/pdf"
    assert facts.pages is not None and facts.pages >= 1
    assert b"(Field Notes)" in drawn and b"Background details." in drawn
    assert b"/Subtype /Image" in path.read_bytes()
    assert b"/Title (Field Notes)" in path.read_bytes()


def test_pdf_survives_text_no_core_font_can_print(tmp_path: Path) -> None:
    result = generate("document", "pdf", "# 标题 ✓\n\n🎉🎉 “x” – y … z ≥ 1")

    assert validate_file(save(tmp_path, "u.pdf", result.data), "document").pages == 1


def test_docx_has_headings_paragraphs_bullets_picture_and_sections(tmp_path: Path) -> None:
    inputs = document_inputs(tmp_path)
    result = generate("document", "docx", BODY, {}, inputs)
    path = save(tmp_path, "notes.docx", result.data)

    validate_file(path, "document", {"contains": ["second finding"]})
    document = docx.Document(str(path))
    styled = [(p.style.name if p.style else "", p.text) for p in document.paragraphs if p.text]
    assert result.mime == DOCX_MIME
    assert styled[0] == ("Heading 1", "Field Notes")
    assert ("Heading 2", "Findings") in styled
    assert ("List Bullet", "second finding") in styled
    assert ("Normal", "Closing words.") in styled
    assert styled[-2:] == [("Heading 2", "Background notes"), ("Normal", "Background details.")]
    assert "It continues on a second line." in styled[1][1]
    assert len(document.inline_shapes) == 1
    assert document.core_properties.title == "Field Notes"


def test_image_goes_after_the_first_heading_or_where_asked(tmp_path: Path) -> None:
    inputs = document_inputs(tmp_path)[:1]

    def picture_paragraphs(position: str) -> list[bool]:
        result = generate("document", "docx", BODY, {"image_position": position}, inputs)
        document = docx.Document(io.BytesIO(result.data or b""))
        return ["graphicData" in p._p.xml for p in document.paragraphs]

    after_heading, start, end = (picture_paragraphs(p) for p in ("after_heading", "start", "end"))
    assert after_heading.index(True) == 1
    assert start.index(True) == 0
    assert end.index(True) == len(end) - 1
    assert after_heading.count(True) == start.count(True) == end.count(True) == 1


# --- text ------------------------------------------------------------------------------


def test_template_text_as_markdown_and_plain(tmp_path: Path) -> None:
    body = {"template": "Body text."}
    markdown = generate("text", "template", "x", {**body, "title": "Report"})
    plain = generate("text", "template", "x", {**body, "format": "plain"})
    already = generate(
        "text", "template", "x", {"template": "# Report\n\nBody.", "title": "Report"}
    )

    assert (markdown.mime, markdown.text) == ("text/markdown", "# Report\n\nBody text.\n")
    assert (plain.mime, plain.text) == ("text/plain", "Body text.\n")
    assert already.text == "# Report\n\nBody.\n"
    assert markdown.usage.characters == len(markdown.text or "")
    path = tmp_path / "r.md"
    path.write_text(markdown.text or "", encoding="utf-8")
    assert validate_file(path, "text", {"contains": ["report"]}).mime == "text/markdown"


def test_without_a_template_the_prompt_becomes_an_outline_not_an_echo() -> None:
    brief = (
        "Write a narration script of about 120 words that explains how rainbows form to a\n"
        "curious twelve-year-old, in three short paragraphs titled: What you see, Why it "
        "happens, Try it yourself.\nPlain sentences, no markdown."
    )
    text = generate("text", "template", brief).text or ""
    lines = text.splitlines()
    assert lines[0] == (
        "# Write a narration script of about 120 words that explains how rainbows form to…"
    )
    assert "no text model wrote this" in lines[2]
    assert "> Plain sentences, no markdown." in lines  # the brief, quoted as a brief
    assert "- Length asked for: about 120 words" in lines
    assert lines[-6:] == [
        "1. What you see",
        "   [prose: a text model writes “What you see” here]",
        "2. Why it happens",
        "   [prose: a text model writes “Why it happens” here]",
        "3. Try it yourself",
        "   [prose: a text model writes “Try it yourself” here]",
    ]


def test_outline_uses_given_title_audience_and_sections_and_plain_format() -> None:
    params = {
        "title": "Tides",
        "audience": "a child",
        "sections": ["The Moon", "Two bulges"],
        "format": "plain",
    }
    result = generate("text", "template", "Explain tides", params)
    assert result.mime == "text/plain"
    text = result.text or ""
    assert text.startswith("Tides\n\nOffline outline by mediamix's local generator")
    assert "Audience: a child" in text and "1. The Moon" in text and "2. Two bulges" in text
    bare = generate("text", "template", "- tides\n- moons").text or ""
    assert "1. tides" in bare and "2. moons" in bare  # a bulleted brief's items
    single = generate("text", "template", "Explain tides to a child").text or ""
    assert single.splitlines()[0] == "# Explain tides to a child"
    assert single.rstrip().endswith("1. [prose: a text model answers the brief here]")
    with pytest.raises(PermanentError, match=r"params\.sections"):
        generate("text", "template", "x", {"sections": "A, B"})


def test_template_param_replaces_the_prompt() -> None:
    result = generate(
        "text", "template", "Write about rainbows.", {"template": "Rainbows are refracted light."}
    )
    assert result.text == "Rainbows are refracted light.\n"


def test_template_rejects_empty_text_and_unknown_format() -> None:
    with pytest.raises(PermanentError, match="empty"):
        generate("text", "template", " \n ")
    with pytest.raises(PermanentError, match="empty"):
        generate("text", "template", "x", {"template": " \n "})
    with pytest.raises(PermanentError, match=r"params\.format must be a string"):
        generate("text", "template", "x", {"format": "html"})
