"""``mediamix accounts``: what a user sees about their accounts after real runs, and
``accounts add`` writing a variable's name (never a key) into a file that still validates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.engine_support import Project, make_project
from tests.fakeprovider import FakeProviderServer
from tests.test_engine_providers import (
    LOCAL_FALLBACK,
    account,
    http_project,
    run_project,
    write_pipeline,
)

#: The shape scripts rely on: exactly these keys, in this order.
JSON_KEYS = [
    "name",
    "provider",
    "api_key_env",
    "key",
    "status",
    "rpm",
    "max_concurrency",
    "successes",
    "failures",
    "rate_limited",
    "cost_usd",
]


def mediamix(project: Path, *args: str) -> tuple[int, str]:
    """The real CLI in its own process: its exit code and everything it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "runner.cli.main", "-C", str(project), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout + done.stderr


def listed(project: Path) -> dict[str, dict[str, Any]]:
    code, out = mediamix(project, "accounts", "--json")
    assert code == 0, out
    return {row["name"]: row for row in json.loads(out)}


@pytest.fixture
def used_project(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Project:
    """Three runs: a revoked key, a working one, one rate limited at the end; one key never
    set."""
    monkeypatch.setenv("MMX_REVOKED", "bad-revoked-accounts")
    monkeypatch.setenv("MMX_GOOD", "sk-test-accounts-good")
    monkeypatch.setenv("MMX_BUSY", "sk-test-accounts-busy")
    monkeypatch.delenv("MMX_NEVER_SET", raising=False)
    project = http_project(
        tmp_path,
        [
            account(fake, "openai", "revoked", "MMX_REVOKED"),
            account(fake, "openai", "good", "MMX_GOOD", rpm=500),
            account(fake, "anthropic", "busy", "MMX_BUSY", max_concurrency=2),
            account(fake, "cohere", "unset", "MMX_NEVER_SET"),
        ],
    )
    project.write(
        "presets/openai.yaml",
        json.dumps(
            {
                "media_type": "text",
                "models": [{"provider": "openai", "model": "gpt-4o-mini"}, LOCAL_FALLBACK["text"]],
            }
        ),
    )
    project.write(
        "presets/anthropic.yaml",
        json.dumps(
            {
                "media_type": "text",
                "models": [
                    {"provider": "anthropic", "model": "claude-haiku-4-5"},
                    LOCAL_FALLBACK["text"],
                ],
            }
        ),
    )
    write_pipeline(
        project,
        [
            {"id": "a", "preset": "openai", "prompt": "hello"},
            {"id": "b", "preset": "anthropic", "prompt": "hello"},
        ],
    )
    for _ in range(2):  # revoked is refused, then good serves; busy serves
        assert run_project(project).status == "succeeded"
    # A 429 with a Retry-After longer than waiting is worth: the local template steps in.
    fake.state.inject("429", path_contains="/anthropic/", retry_after=3600)
    assert run_project(project).status == "succeeded"
    return project


def test_accounts_show_key_presence_and_health_from_the_run_log(used_project: Project) -> None:
    rows = listed(used_project.root)

    assert rows["revoked"]["key"] == "key set"
    assert rows["revoked"]["status"] == "error" and rows["revoked"]["failures"] >= 1
    good = rows["good"]
    assert (good["key"], good["successes"], good["failures"]) == ("key set", 3, 0)
    assert good["rpm"] == 500
    assert isinstance(good["cost_usd"], float) and good["cost_usd"] > 0
    busy = rows["busy"]
    assert (busy["successes"], busy["rate_limited"], busy["max_concurrency"]) == (2, 1, 2)
    assert busy["status"] == "rate_limited"  # its Retry-After has not passed yet
    assert (rows["unset"]["key"], rows["unset"]["successes"]) == ("key MISSING", 0)
    assert rows["local"]["key"] == "no key needed"

    code, out = mediamix(used_project.root, "accounts")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "key MISSING" in lines["unset"] and "rate_limited" in lines["busy"]
    assert "ok=3 failed=0" in lines["good"] and "[rpm=500]" in lines["good"]
    assert "sk-test-accounts" not in out


def test_accounts_json_keys_are_stable(used_project: Project) -> None:
    code, out = mediamix(used_project.root, "accounts", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["revoked", "good", "busy", "unset", "local"]
    assert all(list(r) == JSON_KEYS for r in rows)


BLOCK_STYLE = """\
# yaml-language-server: $schema=schemas/accounts.schema.json
# keep me: my notes about these accounts
accounts:
  - name: first      # the team's main key
    provider: openai
    api_key_env: MMX_FIRST
"""


def test_accounts_add_appends_the_variable_name_and_keeps_the_file_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path, accounts=BLOCK_STYLE)
    monkeypatch.setenv("MMX_EXTRA_KEY", "sk-test-never-written-anywhere")

    code, out = mediamix(
        project.root,
        *("accounts", "add", "extra", "--provider", "anthropic"),
        *("--api-key-env", "MMX_EXTRA_KEY", "--rpm", "50", "--model", "claude-haiku-4-5"),
    )

    assert code == 0, out
    after = (project.root / "accounts.yaml").read_text()
    assert after.startswith(BLOCK_STYLE)  # comments and layout untouched
    assert "MMX_EXTRA_KEY" in after and "sk-test-never-written" not in after
    code, out = mediamix(project.root, "validate")
    assert code == 0, out
    extra = listed(project.root)["extra"]
    assert (extra["provider"], extra["key"], extra["rpm"]) == ("anthropic", "key set", 50)


def test_accounts_add_to_a_flow_style_file_keeps_every_account(
    fake: FakeProviderServer, tmp_path: Path
) -> None:
    # JSON is valid YAML, but an entry cannot be appended to it as text.
    project = http_project(tmp_path, [account(fake, "openai", "first", "MMX_FIRST")])

    code, out = mediamix(project.root, "accounts", "add", "second", "--provider", "cohere")

    assert code == 0, out
    assert mediamix(project.root, "validate")[0] == 0
    rows = listed(project.root)
    assert rows["first"]["api_key_env"] == "MMX_FIRST"
    assert rows["second"]["provider"] == "cohere"


@pytest.mark.parametrize(
    "pasted",
    [
        "sk-proj-Ab3dE5gH7jK9mN1pQ3sT5vX7zB9dF1hJ",  # OpenAI style: has dashes
        "sk_3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e",  # ElevenLabs: underscores only
        "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv",  # Google: letters and digits only
    ],
)
def test_accounts_add_refuses_a_key_pasted_as_the_variable_name(
    pasted: str, fake: FakeProviderServer, tmp_path: Path
) -> None:
    project = http_project(tmp_path, [account(fake, "openai", "first", "MMX_FIRST")])
    before = sorted(p.name for p in project.root.iterdir())
    text_before = (project.root / "accounts.yaml").read_text()

    code, out = mediamix(
        project.root, "accounts", "add", "oops", "--provider", "openai", "--api-key-env", pasted
    )

    assert code == 2
    assert pasted not in out and "value not shown" in out
    assert (project.root / "accounts.yaml").read_text() == text_before
    assert sorted(p.name for p in project.root.iterdir()) == before  # no temp file left
