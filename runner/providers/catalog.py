"""Static facts about the built-in providers, importable without any vendor code.

Used by config checks (does this provider make this media type?), by implicit default
accounts (which environment variable holds the key when there is no accounts.yaml),
and by ``mediamix accounts``.
"""

from __future__ import annotations

PROVIDER_MEDIA_TYPES: dict[str, frozenset[str]] = {
    "local": frozenset({"image", "audio", "video", "document", "text"}),
    "openai": frozenset({"text", "image", "audio", "video"}),
    "azure": frozenset({"text", "image", "audio"}),
    "anthropic": frozenset({"text"}),
    "google": frozenset({"text", "image", "audio", "video"}),
    "cohere": frozenset({"text"}),
    "elevenlabs": frozenset({"audio"}),
    "stability": frozenset({"image", "video"}),
    "runway": frozenset({"video"}),
    "openai_compatible": frozenset({"text", "image"}),
}

#: The environment variable each vendor's own SDK reads, used when accounts.yaml is absent.
DEFAULT_KEY_ENV: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "azure": "AZURE_OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "google": "GEMINI_API_KEY",
    "cohere": "CO_API_KEY",
    "elevenlabs": "ELEVENLABS_API_KEY",
    "stability": "STABILITY_API_KEY",
    "runway": "RUNWAYML_API_SECRET",
}

#: Built-in offline generators: media type -> model names of the ``local`` provider.
LOCAL_MODELS: dict[str, tuple[str, ...]] = {
    "image": ("card",),
    "audio": ("espeak",),
    "video": ("slideshow",),
    "document": ("pdf", "docx"),
    "text": ("template",),
}

#: Providers whose text models can judge an artifact: they read text and return JSON.
JUDGE_PROVIDERS: frozenset[str] = frozenset(
    {"openai", "azure", "anthropic", "google", "cohere", "openai_compatible"}
)
#: Judges that can also see pictures (images, and frames of a video).
VISION_JUDGE_PROVIDERS: frozenset[str] = frozenset(
    {"openai", "azure", "anthropic", "google", "openai_compatible"}
)
#: Providers with a speech-to-text model (OpenAI /audio/transcriptions and the servers
#: that copy it; Gemini through generateContent with the audio inline).
TRANSCRIBE_PROVIDERS: frozenset[str] = frozenset({"openai", "azure", "openai_compatible", "google"})
#: Where each vendor's API lives (exact hosts, or "*.suffix" for per-customer hosts such as
#: Azure resources): the only places an account made over the HTTP API may send a
#: vendor's standard key without accounts.yaml already doing so (runner.config.key_policy).
OFFICIAL_HOSTS: dict[str, tuple[str, ...]] = {
    "openai": ("api.openai.com",),
    "azure": ("*.openai.azure.com", "*.cognitiveservices.azure.com", "*.services.ai.azure.com"),
    "anthropic": ("api.anthropic.com",),
    "google": ("generativelanguage.googleapis.com",),
    "cohere": ("api.cohere.com", "api.cohere.ai"),
    "elevenlabs": ("api.elevenlabs.io",),
    "stability": ("api.stability.ai",),
    "runway": ("api.dev.runwayml.com",),
}
