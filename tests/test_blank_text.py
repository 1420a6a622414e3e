"""Blank text means nothing visible: whitespace, zero-width and other invisible characters.

A zero-width answer (``"\\u200b\\u200b\\u200b"``) used to count as a successful text (12 of
500 in a 25 %-fault run). Now it fails validation as "empty text", like an empty one, and
the job falls back or retries.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path

import pytest

from runner.errors import ArtifactInvalid
from runner.validation import validate_file, validate_text
from runner.validation.text import is_blank, scan_text
from tests.batch_support import batch_project, query
from tests.fakeprovider import FakeProviderServer
from tests.test_cli_batch import mediamix

INVISIBLE = [
    " \t\r\n",
    "\u200b\u200b\u200b",  # zero-width space
    "\u200c\u200d\u2060\ufeff",  # zero-width (non-)joiner, word joiner, BOM
    "\u00a0\u2007\u202f\u3000",  # no-break and other spaces
    "\u00ad\u061c\u200e\u200f\u202a\u202e\u2066\u2069",  # soft hyphen, direction marks
    "\x00\x07\x1b\x7f\x85",  # controls
    "\u2028\u2029",  # line and paragraph separators
    "\u3164\u115f\u1160\uffa0",  # Hangul fillers
    "\u2800",  # braille blank
    "\u034f\ufe0f\U000e0100",  # grapheme joiner, variation selectors
    "\U000e0041\U000e007f",  # tag characters
]
VISIBLE = ["a", " \u200b x", "日本", "🙂", "\u0301", "٣", "—", "\U0001f1eb\U0001f1f7"]


def test_every_format_control_and_space_character_is_invisible() -> None:
    invisible = "".join(
        chr(cp)
        for cp in range(sys.maxunicode + 1)
        if unicodedata.category(chr(cp)) in {"Cf", "Cc", "Zs", "Zl", "Zp"}
    )
    assert len(invisible) > 150
    assert is_blank(invisible)
    for text in INVISIBLE:
        assert is_blank(text), repr(text)
    for text in VISIBLE:
        assert not is_blank(text), repr(text)
        assert not is_blank("\u200b" * 1000 + text)


@pytest.mark.parametrize("text", INVISIBLE, ids=range(len(INVISIBLE)))
def test_invisible_text_fails_validation_as_empty(text: str, tmp_path: Path) -> None:
    # Mostly control characters are not text at all to the sniffer: a failure either way.
    expected = r"^expected text/\*" if text.startswith("\x00") else r"^empty text: only whitespace"
    with pytest.raises(ArtifactInvalid, match=expected):
        validate_text(text)
    path = tmp_path / "a.txt"
    path.write_text(text * 3, encoding="utf-8")
    if path.stat().st_size >= 1:
        with pytest.raises(ArtifactInvalid, match=expected):
            validate_file(path, "text")


def test_a_megabyte_of_invisible_text_then_one_letter(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("\u200b \u2060\n" * 600_000 + "x", encoding="utf-8")  # chunks of 1 MiB
    assert not scan_text(path).blank
    assert scan_text(path).chars == 2_400_001
    path.write_text("\u200b \u2060\n" * 600_000, encoding="utf-8")
    assert scan_text(path).blank


def test_a_zero_width_answer_is_a_failed_attempt_not_a_success(
    tmp_path: Path,
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = batch_project(tmp_path, fake, monkeypatch, max_attempts=2)
    fake.state.reply = "\u200b\u200b\u200b"
    code, out, err = mediamix(
        capsys, "-C", str(project.root), "run", "notes", "-i", "topic=x", "--json"
    )
    assert code == 1, err
    [job] = json.loads(out)["jobs"]
    assert job["status"] == "failed" and "empty text" in job["error"]
    attempts = query(project.root, "SELECT status, error_class, error FROM attempts")
    assert len(attempts) == 2
    assert all(a["error_class"] == "invalid_artifact" for a in attempts)
    assert not list((project.root / "outputs").rglob("*.txt"))
