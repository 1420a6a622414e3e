"""A project whose accounts point at the fake server, with a judge on its preset, run
through the ``mediamix`` command in-process; the run log read back as a user would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from runner.cli.main import cli
from tests.engine_support import log_rows
from tests.fakeprovider import FakeProviderServer

#: Vendor -> the environment variable its test account reads.
KEY_ENV = {
    "openai": "TEST_OPENAI_KEY",
    "anthropic": "TEST_ANTHROPIC_KEY",
    "google": "TEST_GEMINI_KEY",
    "azure": "TEST_AZURE_KEY",
}


@dataclass
class JudgeProject:
    root: Path

    def write(self, relative: str, data: Any) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        # JSON is YAML: what the dict says is exactly what the file says.
        path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2))
        return path

    def preset(self, media_type: str, models: list[dict[str, Any]], **extra: Any) -> None:
        self.write("presets/p.yaml", {"media_type": media_type, "models": models, **extra})

    def pipeline(self, prompt: str, **step: Any) -> None:
        self.write(
            "pipelines/p.yaml",
            {"name": "p", "steps": [{"id": "make", "preset": "p", "prompt": prompt, **step}]},
        )

    def mediamix(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["-C", str(self.root), *args])

    def run(self, *extra: str) -> tuple[Result, dict[str, Any]]:
        result = self.mediamix(
            "run", str(self.root / "pipelines" / "p.yaml"), "--json", "--concurrency", "1",
            *extra,
        )  # fmt: skip
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            result.output,
            result.exception,
        )
        return result, json.loads(result.stdout)

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        return log_rows(self.root / ".mediamix" / "runlog", sql, params)


def judge_project(
    root: Path,
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    *,
    vendors: tuple[str, ...] = ("openai", "anthropic", "google"),
    prices: dict[str, dict[str, dict[str, float]]] | None = None,
    keys: bool = True,
    project_yaml: str = "storage: {url: file://outputs}\n",
) -> JudgeProject:
    project = JudgeProject(root)
    project.write("mediamix.yaml", project_yaml)
    accounts = []
    for vendor in vendors:
        entry: dict[str, Any] = {
            "name": vendor[:2],
            "provider": vendor,
            "api_key_env": KEY_ENV[vendor],
            "base_url": fake.base_url(vendor),
        }
        if prices and vendor in prices:
            entry["prices"] = prices[vendor]
        accounts.append(entry)
        if keys:
            monkeypatch.setenv(KEY_ENV[vendor], f"{vendor}-judge-key")
        else:
            monkeypatch.delenv(KEY_ENV[vendor], raising=False)
    project.write("accounts.yaml", {"accounts": accounts})
    return project
