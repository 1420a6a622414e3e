"""A vendor that reports nonsense usage: the answer is kept, the nonsense is not.

The fake server answers every chat with ``usage.prompt_tokens`` set to a hostile value
(2**64, the string "12", -5, 1e308, NaN). Over real HTTP and the real CLI: the batch
succeeds, the cost it reports is a sane number, a ``usage_dropped`` event names the
value, and the records merge into runlog.duckdb, so ``jobs`` and ``sql`` work afterwards.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from runner.pricing import cost_usd
from runner.providers.base import USAGE_CAPS, Usage
from tests.batch_support import batch_project, query, write_rows
from tests.fakeprovider import FakeProviderServer
from tests.test_cli_batch import mediamix

HOSTILE: dict[str, Any] = {
    "2**64": 2**64,
    "string": "12",
    "negative": -5,
    "1e308": 1e308,
    "nan": math.nan,
}


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_prompt_tokens_are_dropped_with_an_event_and_the_log_merges(
    value: Any,
    tmp_path: Path,
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = batch_project(tmp_path, fake, monkeypatch)
    fake.state.usage = {"prompt_tokens": value}
    rows = write_rows(tmp_path / "rows.jsonl", 3)
    root = str(project.root)

    code, out, err = mediamix(capsys, "-C", root, "batch", "notes", str(rows), "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["rows_succeeded"] == 3
    # The completion tokens were sane and priced; the prompt tokens were not counted.
    assert summary["cost_usd"] is not None and 0 < summary["cost_usd"] < 0.01

    # Every later reader merges the batch files: nothing wedges.
    code, out, err = mediamix(capsys, "-C", root, "jobs", "--json")
    assert code == 0, err
    jobs = json.loads(out)
    assert [j["status"] for j in jobs] == ["succeeded"] * 3
    assert all(0 < j["cost_usd"] < 0.01 for j in jobs)
    code, out, err = mediamix(
        capsys, "-C", root, "sql", "SELECT count(*) AS n FROM attempts WHERE input_tokens IS NULL"
    )
    assert code == 0 and "3" in out, err

    events = query(project.root, "SELECT message, data FROM events WHERE kind = 'usage_dropped'")
    assert len(events) == 3
    assert all("input_tokens" in e["message"] for e in events)
    attempts = query(project.root, "SELECT input_tokens, output_tokens, cost_usd FROM attempts")
    assert all(a["input_tokens"] is None and a["output_tokens"] > 0 for a in attempts)
    assert all(math.isfinite(a["cost_usd"]) for a in attempts)


@pytest.mark.parametrize(
    ("provider", "model", "field"),
    [
        ("anthropic", "claude-haiku-4-5", "input_tokens"),
        ("cohere", "command-r", "input_tokens"),
        ("google", "gemini-2.5-flash", "promptTokenCount"),
    ],
)
def test_every_token_adapter_goes_through_the_same_check(
    provider: str,
    model: str,
    field: str,
    tmp_path: Path,
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = batch_project(tmp_path, fake, monkeypatch)
    monkeypatch.setenv("MMX_HOSTILE_KEY", "key-for-hostile-usage")
    accounts = {
        "accounts": [
            {
                "name": "v",
                "provider": provider,
                "api_key_env": "MMX_HOSTILE_KEY",
                "base_url": fake.base_url(provider),
            }
        ]
    }
    project.write("accounts.yaml", json.dumps(accounts))
    project.write(
        "presets/chat.yaml",
        json.dumps({"media_type": "text", "models": [{"provider": provider, "model": model}]}),
    )
    fake.state.usage = {field: "12"}
    rows = write_rows(tmp_path / "rows.jsonl", 1)

    code, _, err = mediamix(capsys, "-C", str(project.root), "batch", "notes", str(rows))
    assert code == 0, err
    events = query(project.root, "SELECT message FROM events WHERE kind = 'usage_dropped'")
    assert len(events) == 1
    assert "input_tokens '12' dropped: a string, not a number" in events[0]["message"]


def test_usage_keeps_sane_counts_and_says_why_it_drops_the_rest() -> None:
    sane = Usage(input_tokens=12, output_tokens=12.0, images=2, characters=0, seconds=8)
    assert (sane.input_tokens, sane.output_tokens, sane.images, sane.seconds) == (12, 12, 2, 8)
    assert sane.dropped == ()
    assert type(sane.output_tokens) is int

    hostile = Usage(
        input_tokens=True,  # type: ignore[arg-type]
        output_tokens=12.5,  # type: ignore[arg-type]
        images=USAGE_CAPS["images"] + 1,
        characters=math.inf,  # type: ignore[arg-type]
        seconds="8",  # type: ignore[arg-type]
    )
    assert hostile.as_dict() == {}
    assert hostile.dropped == (
        "input_tokens True dropped: a bool, not a number",
        "output_tokens 12.5 dropped: not a whole number",
        "images 10001 dropped: above the cap of 10,000",
        "characters inf dropped: not a finite number",
        "seconds '8' dropped: a string, not a number",
    )


def test_cost_is_never_computed_from_a_string_or_a_non_finite_number() -> None:
    usage = Usage(input_tokens=1000, output_tokens=1000)
    # A third-party adapter that changes usage after making it still cannot poison a cost.
    usage.input_tokens = "12"  # type: ignore[assignment]
    assert cost_usd("openai", "gpt-4o-mini", usage, {}) == pytest.approx(0.0006)
    usage.output_tokens = math.nan  # type: ignore[assignment]
    assert cost_usd("openai", "gpt-4o-mini", usage, {}) is None
    usage.output_tokens = 2**5000
    assert cost_usd("openai", "gpt-4o-mini", usage, {}) is None
