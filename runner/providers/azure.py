"""Azure OpenAI: OpenAI's bodies at deployment URLs with an ``api-key`` header.

``{base}/openai/deployments/{deployment}/{operation}?api-version=...`` where the deployment
is ``options.deployments[model]`` (default: the model name) and the API version
``options.api_version`` (default 2024-10-21, the current stable one). Content-filter
blocks arrive as 400 ``content_filter`` and map to PermanentError "content_policy".
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import quote

from runner.providers.base import CallContext
from runner.providers.openai import OpenAIProvider

DEFAULT_API_VERSION = "2024-10-21"


class AzureOpenAIProvider(OpenAIProvider):
    name: ClassVar[str] = "azure"
    vendor: ClassVar[str] = "Azure OpenAI"
    # Sora on Azure is a preview of the v1 API only; not served here.
    media_types: ClassVar[frozenset[str]] = frozenset({"text", "image", "audio"})
    #: Every resource has its own host: the account must name it.
    default_base_url: ClassVar[str | None] = None
    model_in_body: ClassVar[bool] = False

    def endpoint(self, ctx: CallContext, model: str, operation: str) -> tuple[str, dict[str, str]]:
        base = self.base_url(ctx).removesuffix("/openai")
        deployments = ctx.options.get("deployments") or {}
        deployment = str(deployments.get(model, model))
        version = str(ctx.options.get("api_version", DEFAULT_API_VERSION))
        url = f"{base}/openai/deployments/{quote(deployment, safe='')}/{operation}"
        return url, {"api-version": version}

    def auth_headers(self, ctx: CallContext) -> dict[str, str]:
        return {"api-key": self._key(ctx)}
