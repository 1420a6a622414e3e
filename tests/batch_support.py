"""A batch project whose text step calls the fake server's OpenAI chat endpoint.

Shared by tests/test_batch*.py and tests/test_cli_batch.py.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.engine_support import Project, log_rows, make_project
from tests.fakeprovider import FakeProviderServer

KEY_ENV = "MEDIAMIX_TEST_BATCH_OPENAI_KEY"
KEY = "sk-batch-test-0123456789"
CHAT = "/chat/completions"

PIPELINE = {
    "name": "notes",
    "inputs": {
        "topic": {"type": "string", "required": True},
        "n": {"type": "integer", "default": 0},
    },
    "steps": [
        {"id": "note", "preset": "chat", "prompt": "Note {{ inputs.n }}: {{ inputs.topic }}"}
    ],
}


def batch_project(
    root: Path,
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    *,
    max_attempts: int = 3,
    pipeline: dict[str, Any] | None = None,
) -> Project:
    monkeypatch.setenv(KEY_ENV, KEY)
    account = {
        "name": "oa",
        "provider": "openai",
        "api_key_env": KEY_ENV,
        "base_url": fake.base_url("openai"),
    }
    project = make_project(root, accounts=json.dumps({"accounts": [account]}) + "\n")
    project.write(
        "presets/chat.yaml",
        json.dumps(
            {
                "media_type": "text",
                "models": [{"provider": "openai", "model": "gpt-4o-mini"}],
                "retry": {"max_attempts": max_attempts},
            }
        ),
    )
    project.write("pipelines/notes.yaml", json.dumps(pipeline or PIPELINE))
    return project


def batch_command(concurrency: int, *args: str) -> list[str]:
    """``mediamix batch pipelines/notes.yaml rows.jsonl --json`` as a child process runs it."""
    return [
        sys.executable, "-m", "runner.cli.main", "batch", "pipelines/notes.yaml", "rows.jsonl",
        "--concurrency", str(concurrency), "--json", *args,
    ]  # fmt: skip


def write_rows(path: Path, n: int, *, start: int = 0) -> Path:
    path.write_text(
        "".join(
            json.dumps({"topic": f"topic {i}", "n": i}) + "\n" for i in range(start, start + n)
        ),
        encoding="utf-8",
    )
    return path


def prompt_of(n: int) -> str:
    return f"Note {n}: topic {n}"


def chat_prompts(fake: FakeProviderServer) -> Counter[str]:
    """How many chat requests the fake server saw per prompt."""
    seen: Counter[str] = Counter()
    for r in list(fake.state.requests):
        if CHAT in r.path and isinstance(r.json, dict):
            seen[r.json["messages"][-1]["content"]] += 1
    return seen


def query(root: Path, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    return log_rows(root / ".mediamix" / "runlog", sql, params)
