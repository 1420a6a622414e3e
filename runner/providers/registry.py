"""Provider registry: one line per built-in provider, plus third-party entry points.

Built-ins are named as ``module:Class`` strings so that listing providers (``validate``,
``--help``) imports no vendor code. Third parties register under the ``mediamix.providers``
entry point group with a class implementing :class:`runner.providers.base.Provider`.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points

from runner.errors import UsageError
from runner.providers.base import Provider

ENTRY_POINT_GROUP = "mediamix.providers"

BUILTIN: dict[str, str] = {
    "local": "runner.providers.local:LocalProvider",
    "openai": "runner.providers.openai:OpenAIProvider",
    "azure": "runner.providers.azure:AzureOpenAIProvider",
    "anthropic": "runner.providers.anthropic:AnthropicProvider",
    "google": "runner.providers.google:GoogleProvider",
    "cohere": "runner.providers.cohere:CohereProvider",
    "elevenlabs": "runner.providers.elevenlabs:ElevenLabsProvider",
    "stability": "runner.providers.stability:StabilityProvider",
    "runway": "runner.providers.runway:RunwayProvider",
    "openai_compatible": "runner.providers.openai_compatible:OpenAICompatibleProvider",
}


#: Providers registered at run time (tests, embedding applications).
_REGISTERED: dict[str, Provider] = {}


def register_provider(provider: Provider) -> None:
    """Make ``provider`` available under ``provider.name`` in this process."""
    _REGISTERED[provider.name] = provider
    provider_names.cache_clear()


def unregister_provider(name: str) -> None:
    _REGISTERED.pop(name, None)
    provider_names.cache_clear()


@cache
def _plugins() -> dict[str, str]:
    found: dict[str, str] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


@cache
def provider_names() -> tuple[str, ...]:
    """Every provider name, sorted. Asked for on every attempt (provider-scoped params),
    so kept until a provider is registered or unregistered."""
    return tuple(sorted({*BUILTIN, *_plugins(), *_REGISTERED}))


def get_provider(name: str) -> Provider:
    registered = _REGISTERED.get(name)
    if registered is not None:
        return registered
    return _load_provider(name)


@cache
def _load_provider(name: str) -> Provider:
    target = BUILTIN.get(name) or _plugins().get(name)
    if target is None:
        raise UsageError(f"unknown provider {name!r}; known: {', '.join(provider_names())}")
    module_name, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"provider {name!r} could not be loaded from {target}: {exc}") from exc
    provider = cls()
    if not isinstance(provider, Provider):
        raise UsageError(f"provider {name!r} ({target}) does not implement the Provider interface")
    return provider
