"""Artifact validation on real bytes: what it measures, what it rejects, and preset rules."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docx
import pytest

from runner.errors import ArtifactInvalid
from runner.validation import (
    DOCX_MIME,
    RULE_NAMES,
    inspect_file,
    sniff_file,
    sniff_mime,
    validate_file,
)
from runner.validation.ffmpeg import ffmpeg_path
from runner.validation.mp4 import read_movie
from tests import media_samples as samples

needs_ffmpeg = pytest.mark.skipif(ffmpeg_path() is None, reason="mediamix[video] not installed")


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def docx_bytes(*paragraphs: str) -> bytes:
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# --- sniffing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
        (b"\xff\xfb\x90\x64\x00", "audio/mpeg"),
        (b"OggS\x00\x02", "audio/ogg"),
        (b"fLaC\x00\x00\x00\x22", "audio/flac"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "video/mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "video/quicktime"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "audio/mp4"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video/webm"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b'{"error": {"message": "quota"}}', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        ("Plain words, “quoted”.\n".encode(), "text/plain"),
        (b"{not json", "text/plain"),
        (b"\x00\x01\x02binary", None),
        (b"\xff\xfe\xfa garbage", None),
        (b"", None),
    ],
)
def test_sniff_mime_recognises_magic_bytes(head: bytes, mime: str | None) -> None:
    assert sniff_mime(head) == mime


def test_sniff_file_tells_docx_from_other_zips(tmp_path: Path) -> None:
    docx_path = write(tmp_path, "a.docx", docx_bytes("hello"))
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("readme.txt", "not a document")
    zip_path = write(tmp_path, "a.zip", other.getvalue())

    assert sniff_file(docx_path) == DOCX_MIME
    assert sniff_file(zip_path) == "application/zip"
    assert sniff_mime(docx_path.read_bytes()[:64]) == "application/zip"


# --- facts -----------------------------------------------------------------------------


def test_inspect_file_measures_an_image(tmp_path: Path) -> None:
    data = samples.png(64, 48)
    facts = inspect_file(write(tmp_path, "a.png", data), "image")

    assert (facts.mime, facts.size, facts.width, facts.height) == ("image/png", len(data), 64, 48)
    assert facts.sha256 == hashlib.sha256(data).hexdigest()


def test_inspect_file_measures_wav_duration(tmp_path: Path) -> None:
    facts = inspect_file(write(tmp_path, "a.wav", samples.wav(1.5)), "audio")

    assert facts.mime == "audio/wav"
    assert facts.duration_s == pytest.approx(1.5, abs=0.01)


def test_inspect_file_calls_a_md_file_markdown_and_counts_characters(tmp_path: Path) -> None:
    facts = inspect_file(write(tmp_path, "a.md", "# Tïtle\n\nbody\n"), "text")

    assert (facts.mime, facts.chars) == ("text/markdown", 14)


def test_mp4_reader_counts_frames_in_sample_tables_and_fragments(tmp_path: Path) -> None:
    plain = read_movie(write(tmp_path, "a.mp4", samples.mp4_movie(samples=50)))
    fragmented = read_movie(
        write(tmp_path, "f.mp4", samples.mp4_movie(samples=0, fragments=(5, 7)))
    )

    (video,) = plain.tracks_of("vide")
    assert (video.width, video.height, video.sample_count) == (320, 240, 50)
    assert video.duration_s == pytest.approx(2.0)
    assert plain.duration_s == pytest.approx(2.0)
    assert fragmented.tracks_of("vide")[0].sample_count == 12


def test_pdf_pages_inside_object_streams_are_counted(tmp_path: Path) -> None:
    facts = validate_file(write(tmp_path, "a.pdf", samples.pdf_with_object_stream(3)), "document")

    assert facts.pages == 3


# --- placeholders are rejected -----------------------------------------------------------


def truncated_png() -> bytes:
    data = samples.png(200, 200)
    return data[: len(data) // 2]


def mp3_of(tmp_path: Path, wav_data: bytes) -> bytes:
    exe = ffmpeg_path()
    assert exe is not None
    source = write(tmp_path, "src.wav", wav_data)
    return samples.encode_audio(exe, source, tmp_path / "enc.mp3").read_bytes()


@pytest.mark.parametrize(
    ("name", "media_type", "make", "reason"),
    [
        ("one.png", "image", lambda: samples.png(1, 1), "file is 69 bytes; at least 100"),
        (
            "white.png",
            "image",
            lambda: samples.png(640, 480, flat=(255, 255, 255)),
            "image is a single flat colour (#ffffff) — a placeholder",
        ),
        ("cut.png", "image", truncated_png, "image data is corrupt or truncated"),
        (
            "err.png",
            "image",
            lambda: json.dumps({"error": {"message": "x" * 120}}).encode(),
            "expected image/* but the bytes are application/json",
        ),
        (
            "quiet.wav",
            "audio",
            lambda: samples.wav(1.0, amplitude=0),
            "audio is silent (peak -inf dBFS)",
        ),
        ("empty.wav", "audio", lambda: samples.wav(0.0) + b"\0" * 1000, "audio has no samples"),
        ("none.mp4", "video", lambda: samples.mp4_movie(samples=0), "has no video frames"),
        (
            "garbage.mp4",
            "video",
            lambda: b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomavc1" + b"\xde\xad" * 800,
            "video/mp4 file is broken",
        ),
        ("zero.pdf", "document", samples.pdf_without_pages, "PDF has 0 pages"),
        (
            "cut.pdf",
            "document",
            lambda: samples.pdf_without_pages()[:-7] + b"x" * 2000,
            "PDF is truncated",
        ),
        ("blank.docx", "document", lambda: docx_bytes(), "DOCX has no text and no pictures"),
        ("empty.txt", "text", lambda: b"", "file is empty (0 bytes)"),
        (
            "space.txt",
            "text",
            lambda: b"  \n\t \n",
            "empty text: only whitespace or invisible characters",
        ),
        ("latin1.txt", "text", lambda: "café".encode("latin-1"), "not a recognised format"),
    ],
)
def test_placeholders_are_rejected(
    tmp_path: Path, name: str, media_type: str, make: Callable[[], bytes], reason: str
) -> None:
    path = write(tmp_path, name, make())

    with pytest.raises(ArtifactInvalid) as caught:
        validate_file(path, media_type, {})

    assert reason in str(caught.value)


def test_real_artifacts_pass(tmp_path: Path) -> None:
    assert validate_file(write(tmp_path, "a.png", samples.png()), "image").width == 64
    assert validate_file(write(tmp_path, "a.wav", samples.wav(0.5)), "audio").duration_s == 0.5
    assert (
        validate_file(write(tmp_path, "a.mp4", samples.mp4_movie(samples=9)), "video").frames == 9
    )
    assert validate_file(write(tmp_path, "a.docx", docx_bytes("hi")), "document").chars == 2
    assert validate_file(write(tmp_path, "a.json", b'{"ok": true}'), "text").chars == 12


@needs_ffmpeg
def test_compressed_audio_silence_is_found_by_decoding(tmp_path: Path) -> None:
    loud = write(tmp_path, "loud.mp3", mp3_of(tmp_path, samples.wav(1.0)))
    quiet = write(tmp_path, "quiet.mp3", mp3_of(tmp_path, samples.wav(1.0, amplitude=0)))

    facts = validate_file(loud, "audio")
    with pytest.raises(ArtifactInvalid, match="audio is silent"):
        validate_file(quiet, "audio")

    assert facts.mime == "audio/mpeg"
    assert facts.duration_s == pytest.approx(1.0, abs=0.15)
    assert validate_file(quiet, "audio", {"allow_silence": True}).mime == "audio/mpeg"


@needs_ffmpeg
def test_without_ffmpeg_compressed_audio_is_measured_from_headers_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet = write(tmp_path, "quiet.mp3", mp3_of(tmp_path, samples.wav(2.0, amplitude=0)))
    # Stands in for an install without the mediamix[video] extra.
    monkeypatch.setattr("runner.validation.ffmpeg.ffmpeg_path", lambda: None)

    facts = validate_file(quiet, "audio")  # the silence check is skipped, not failed

    assert facts.duration_s == pytest.approx(2.0, abs=0.1)


@needs_ffmpeg
@pytest.mark.parametrize("suffix", [".flac", ".ogg"])
def test_flac_and_ogg_durations_come_from_their_headers(tmp_path: Path, suffix: str) -> None:
    exe = ffmpeg_path()
    assert exe is not None
    source = write(tmp_path, "src.wav", samples.wav(2.0))
    encoded = samples.encode_audio(exe, source, tmp_path / f"out{suffix}")

    facts = validate_file(encoded, "audio")

    assert facts.duration_s == pytest.approx(2.0, abs=0.05)


# --- preset rules ----------------------------------------------------------------------

TEXT = "The quick brown fox jumps over the lazy dog.\n"

RULE_CASES: list[tuple[str, str, Callable[[], bytes], dict[str, Any], dict[str, Any], str]] = [
    # (file, media, sample, passing rules, failing rules, reason of the failure)
    ("a.png", "image", samples.png, {"min_bytes": 100}, {"min_bytes": 10**6}, "at least 1e+06"),
    (
        "b.png",
        "image",
        samples.png,
        {"max_bytes": 10**6},
        {"max_bytes": 100},
        "at most 100 allowed",
    ),
    ("c.png", "image", samples.png, {"mime": ["image/*"]}, {"mime": ["image/jpeg"]}, "not one of"),
    ("d.png", "image", samples.png, {"min_width": 64}, {"min_width": 65}, "64x48 pixels"),
    ("e.png", "image", samples.png, {"min_height": 48}, {"min_height": 49}, "64x48 pixels"),
    ("f.png", "image", samples.png, {"max_width": 64}, {"max_width": 63}, "64 px wide; at most 63"),
    ("g.png", "image", samples.png, {"max_height": 48}, {"max_height": 47}, "48 px high; at most"),
    (
        "h.png",
        "image",
        lambda: samples.png(640, 480, flat=(0, 0, 0)),
        {"allow_flat_image": True},
        {"allow_flat_image": False},
        "flat colour (#000000)",
    ),
    ("a.wav", "audio", samples.wav, {"min_duration_s": 1}, {"min_duration_s": 2}, "1.00 s long"),
    (
        "b.wav",
        "audio",
        samples.wav,
        {"max_duration_s": 1},
        {"max_duration_s": 0.5},
        "at most 0.5 s",
    ),
    (
        "c.wav",
        "audio",
        lambda: samples.wav(amplitude=0),
        {"allow_silence": True},
        {"allow_silence": False},
        "audio is silent",
    ),
    (
        "a.pdf",
        "document",
        lambda: samples.pdf_with_object_stream(2),
        {"min_pages": 2},
        {"min_pages": 3},
        "document has 2 pages; at least 3",
    ),
    (
        "b.pdf",
        "document",
        lambda: samples.pdf_with_object_stream(2),
        {"max_pages": 2},
        {"max_pages": 1},
        "at most 1 allowed",
    ),
    ("a.txt", "text", TEXT.encode, {"min_chars": 45}, {"min_chars": 46}, "45 characters"),
    ("b.txt", "text", TEXT.encode, {"max_chars": 45}, {"max_chars": 10}, "at most 10"),
    ("c.txt", "text", TEXT.encode, {"contains": ["LAZY DOG"]}, {"contains": ["cat"]}, "'cat'"),
    ("d.txt", "text", TEXT.encode, {"not_contains": ["cat"]}, {"not_contains": ["Fox"]}, "'Fox'"),
    (
        "a.docx",
        "document",
        lambda: docx_bytes("Chapter one", "The end"),
        {"contains": ["chapter ONE"]},
        {"contains": ["epilogue"]},
        "'epilogue'",
    ),
]


def test_every_rule_has_a_case() -> None:
    covered = {name for case in RULE_CASES for name in case[3]}

    assert covered == RULE_NAMES


@pytest.mark.parametrize(("name", "media", "make", "good", "bad", "reason"), RULE_CASES)
def test_rule_passes_and_fails(
    tmp_path: Path,
    name: str,
    media: str,
    make: Callable[[], bytes],
    good: dict[str, Any],
    bad: dict[str, Any],
    reason: str,
) -> None:
    path = write(tmp_path, name, make())

    validate_file(path, media, good)
    with pytest.raises(ArtifactInvalid) as caught:
        validate_file(path, media, bad)

    assert reason in str(caught.value)


def test_rules_on_facts_that_cannot_be_measured_fail_clearly(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", TEXT)

    with pytest.raises(ArtifactInvalid, match="width is not measurable for text/plain"):
        validate_file(path, "text", {"min_width": 10})


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"min_widht": 10}, "unknown validation rule 'min_widht'"),
        ({"min_bytes": "10"}, "'min_bytes' must be a non-negative number"),
        ({"contains": [1]}, "'contains' must be a list of strings"),
        ({"allow_silence": "yes"}, "'allow_silence' must be true or false"),
    ],
)
def test_bad_rules_are_a_value_error_before_the_file_is_read(
    tmp_path: Path, rules: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        validate_file(tmp_path / "does-not-exist.png", "image", rules)


@pytest.mark.parametrize(
    ("content", "suffix"),
    [("Hello, world.\n", ".txt"), ("# Title\n\nBody with ünïcode — and more.\n", ".md")],
)
def test_in_memory_text_validation_matches_the_file_check(
    tmp_path: Path, content: str, suffix: str
) -> None:
    from runner.validation import validate_text

    path = tmp_path / f"a{suffix}"
    path.write_text(content, encoding="utf-8")
    rules = {"contains": ["hello"]} if suffix == ".txt" else {"min_chars": 10}
    assert validate_text(content, rules, markdown=suffix == ".md") == validate_file(
        path, "text", rules
    )


def test_in_memory_text_validation_rejects_what_the_file_check_rejects() -> None:
    from runner.validation import validate_text

    with pytest.raises(ArtifactInvalid, match="whitespace"):
        validate_text("  \n\t")
    with pytest.raises(ArtifactInvalid, match="does not contain 'cat'"):
        validate_text("a dog", {"contains": ["cat"]})
    with pytest.raises(ArtifactInvalid, match="contains 'dog'"):
        validate_text("a dog", {"not_contains": ["dog"]})
    with pytest.raises(ArtifactInvalid, match="at most 3"):
        validate_text("four", {"max_chars": 3})
