"""Self-hosted OpenAI-compatible servers (vLLM, Ollama, llama.cpp): chat and images.

The account must give ``base_url`` (the server's ``/v1`` URL). A key is optional: sent as
Bearer only when the account has one. Error bodies come flat or nested, with an int
``code``; :mod:`runner.providers.http_common` reads both.
"""

from __future__ import annotations

from typing import ClassVar

from runner.errors import UnavailableError
from runner.providers.base import CallContext
from runner.providers.openai import OpenAIProvider


class OpenAICompatibleProvider(OpenAIProvider):
    name: ClassVar[str] = "openai_compatible"
    vendor: ClassVar[str] = "OpenAI-compatible server"
    media_types: ClassVar[frozenset[str]] = frozenset({"text", "image"})
    needs_key: ClassVar[bool] = False
    default_base_url: ClassVar[str | None] = None

    def base_url(self, ctx: CallContext) -> str:
        if not ctx.base_url:
            raise UnavailableError(
                f"{self.vendor}: account {ctx.account or '?'} needs base_url "
                "(the server's /v1 URL, e.g. http://localhost:8000/v1)",
                code="no_base_url",
            )
        return ctx.base_url.rstrip("/")

    def auth_headers(self, ctx: CallContext) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key(ctx)}"} if ctx.api_key else {}
