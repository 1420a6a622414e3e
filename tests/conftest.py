"""Shared fixtures. Every test runs with an isolated state root and no real home directory."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Writing to the real home directory must fail loudly in tests.
    monkeypatch.setenv("HOME", "/nonexistent-home-for-mediamix-tests")
    monkeypatch.setenv("MEDIAMIX_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("MEDIAMIX_PROJECT", raising=False)
    # Tests never wait for real backoff delays.
    monkeypatch.setenv("MEDIAMIX_NO_WAIT", "1")
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "AZURE_OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


from tests.fakeprovider.fixtures import fake, fake_server  # noqa: E402, F401
from tests.s3server import s3_server  # noqa: E402, F401
