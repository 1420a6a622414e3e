"""The exfiltration rule for accounts written over HTTP (runner.config.key_policy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.config.key_policy import key_destination_problem
from runner.config.model import Account

FILE = Path("accounts.yaml")
CONFIGURED = [
    Account("proxy", "openai", api_key_env="TEAM_OPENAI_KEY",
            base_url="https://llm-proxy.internal.example:8443/v1", source=FILE),
    Account("ollama", "openai_compatible", base_url="http://127.0.0.1:11434/v1", source=FILE),
    Account("implicit", "openai", api_key_env="IMPLICIT_KEY"),  # not from the file
]  # fmt: skip


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"provider": "openai", "api_key_env": "AWS_SECRET_ACCESS_KEY"}, "api_key_env"),
        ({"provider": "openai", "api_key_env": "GITHUB_TOKEN",
          "base_url": "https://api.openai.com/v1"}, "api_key_env"),
        ({"provider": "openai", "api_key_env": "IMPLICIT_KEY"}, "api_key_env"),
        ({"provider": "anthropic", "api_key_env": "TEAM_OPENAI_KEY"}, "api_key_env"),
        ({"provider": "openai_compatible", "api_key_env": "OPENAI_API_KEY",
          "base_url": "http://127.0.0.1:11434/v1"}, "api_key_env"),
        ({"provider": "openai", "api_key_env": "OPENAI_API_KEY",
          "base_url": "https://api.openai.com.evil.example/v1"}, "base_url"),
        ({"provider": "openai", "api_key_env": "OPENAI_API_KEY",
          "base_url": "http://api.openai.com/v1"}, "base_url"),  # plain http
        ({"provider": "openai", "api_key_env": "OPENAI_API_KEY",
          "base_url": "https://api.openai.com:8443/v1"}, "base_url"),
        ({"provider": "openai", "api_key_env": "TEAM_OPENAI_KEY",
          "base_url": "https://llm-proxy.internal.example/v1"}, "base_url"),  # other port
        ({"provider": "azure", "api_key_env": "AZURE_OPENAI_API_KEY",
          "base_url": "https://openai.azure.com.evil.example"}, "base_url"),
        ({"provider": "azure", "api_key_env": "AZURE_OPENAI_API_KEY",
          "base_url": "https://.openai.azure.com"}, "base_url"),
        ({"provider": "openai_compatible", "base_url": "ftp://x.example"}, "base_url"),
        ({"provider": "openai_compatible", "base_url": "https://user:pw@"}, "base_url"),
    ],
)  # fmt: skip
def test_refused(entry: dict[str, object], field: str) -> None:
    problem = key_destination_problem(entry, CONFIGURED)
    assert problem is not None and problem.field == field, problem


@pytest.mark.parametrize(
    "entry",
    [
        {"provider": "openai", "api_key_env": "OPENAI_API_KEY"},
        {"provider": "openai", "api_key_env": "OPENAI_API_KEY",
         "base_url": "https://API.openai.com/v1"},
        {"provider": "openai", "api_key_env": "TEAM_OPENAI_KEY"},
        {"provider": "openai", "api_key_env": "TEAM_OPENAI_KEY",
         "base_url": "https://llm-proxy.internal.example:8443/other"},
        {"provider": "azure", "api_key_env": "AZURE_OPENAI_API_KEY",
         "base_url": "https://my-resource.openai.azure.com"},
        {"provider": "openai_compatible", "base_url": "http://10.0.0.5:8000/v1"},
        {"provider": "local"},
    ],
)  # fmt: skip
def test_allowed(entry: dict[str, object]) -> None:
    assert key_destination_problem(entry, CONFIGURED) is None
