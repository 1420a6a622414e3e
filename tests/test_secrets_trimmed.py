"""A key with whitespace around it (``OPENAI_API_KEY="sk-... "``, common from .env files).

HTTP sends header values trimmed, so a vendor that echoes the key echoes it trimmed; the
redactor used to know only the untrimmed value, and the key reached stdout, ``jobs --json``
and the run log. Now keys are trimmed when read (one warning naming the variable, never
the value) and the redactor knows every form. Two accounts: a revoked key the fake vendor
echoes in its 401 body, then a good one; both values end in whitespace.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest

from runner.errors import SecretRedactor
from tests.fakeprovider import FakeProviderServer
from tests.test_engine_providers import account, http_project, write_pipeline
from tests.test_secrets import every_row, files_under, mediamix, read_back


def test_a_key_with_a_trailing_space_is_sent_trimmed_and_appears_nowhere(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    revoked = f"bad-trimmed-{secrets.token_hex(12)}"
    good = f"sk-trimmed-{secrets.token_hex(12)}"
    monkeypatch.setenv("MMX_TRIM_REVOKED", revoked + " ")
    monkeypatch.setenv("MMX_TRIM_GOOD", good + "\n")
    project = http_project(
        tmp_path / "project",
        [
            account(fake, "openai", "revoked", "MMX_TRIM_REVOKED"),
            account(fake, "openai", "good", "MMX_TRIM_GOOD"),
        ],
    )
    models = [
        {"provider": "openai", "model": "gpt-4o-mini", "account": "revoked"},
        {"provider": "openai", "model": "gpt-4o-mini", "account": "good"},
    ]
    write_pipeline(
        project,
        [{"id": "note", "media_type": "text", "models": models, "prompt": "a haiku about keys"}],
    )
    said: dict[str, str] = {}

    as_json = mediamix(project.root, "run", "pipelines/p.yaml", "--json")
    said["run --json"] = as_json.stdout + as_json.stderr
    human = mediamix(project.root, "run", "pipelines/p.yaml", "--verbose")
    said["run"] = human.stdout + human.stderr
    assert json.loads(as_json.stdout)["status"] == "succeeded"
    for output in (as_json.stderr, human.stderr):
        for name in ("MMX_TRIM_REVOKED", "MMX_TRIM_GOOD"):
            warning = (
                f"mediamix: warning: {name} has spaces or a line break around its value; "
                "mediamix uses it trimmed"
            )
            assert output.count(warning) == 1, output

    # The vendor saw both keys trimmed, and echoed the revoked one back at us. (The second
    # run may reuse the first one's answer, or skip the account the first run found bad.)
    assert fake.state.count("/openai/", key=revoked) >= 1
    assert fake.state.count("/openai/", key=good) >= 1
    assert fake.state.count("/openai/") == fake.state.count(
        "/openai/", key=revoked
    ) + fake.state.count("/openai/", key=good)

    said["jobs --json"] = read_back(project.root, "jobs", "--json")
    jobs = json.loads(said["jobs --json"])
    said["jobs show"] = "".join(read_back(project.root, "jobs", "show", j["job_id"]) for j in jobs)
    said["sql events"] = read_back(project.root, "sql", "SELECT * FROM events")
    said["runlog.duckdb"] = every_row(project.runlog / "runlog.duckdb")
    assert "[REDACTED]" in said["runlog.duckdb"]  # the echo was there, and was blanked
    state_dir = Path(os.environ["MEDIAMIX_STATE_DIR"])
    for path in files_under(project.root, state_dir):
        said[str(path)] = path.read_bytes().decode("utf-8", "replace")
    for where, text in said.items():
        for key in (revoked, good):
            assert key.rsplit("-", 1)[1] not in text, f"{key} leaked into {where}"


def test_the_redactor_knows_every_form_a_key_is_sent_in() -> None:
    redactor = SecretRedactor()
    redactor.add(" sk-a+b/c=d \n")
    text = "trimmed sk-a+b/c=d, percent-encoded sk-a%2Bb%2Fc%3Dd"
    assert redactor.redact(text) == "trimmed [REDACTED], percent-encoded [REDACTED]"
    # As read, whitespace and all: blanked whole, not only its trimmed core.
    assert redactor.redact("key= sk-a+b/c=d \n and more") == "key=[REDACTED] and more"
