"""What a call costs in USD, from a dated price table plus per-account overrides.

Prices are list prices as we understood them in ``PRICES_AS_OF``; they change, so accounts
can override any of them in accounts.yaml (``prices: {model: {input_per_1m: ...}}``).
Entries marked ``sure=False`` are our best reading, not a confirmed price list. A model
with no price is ``None`` (unknown), never 0; the local provider is free and known to be.

Models match exactly, else by the longest table name that prefixes a dated variant
(``gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from runner.providers.base import Usage

PRICES_AS_OF = "2026-08"

#: Stability sells credits at $10 per 1,000 (platform.stability.ai pricing page).
STABILITY_USD_PER_CREDIT = 0.01
#: Runway sells credits at $0.01 each (docs.dev.runwayml.com pricing).
RUNWAY_USD_PER_CREDIT = 0.01

#: Providers that charge nothing.
FREE_PROVIDERS = frozenset({"local"})

#: Estimates before a call: output tokens assumed when params set no maximum.
DEFAULT_OUTPUT_TOKENS = 1000
#: Estimates before a call: clip length assumed when params name none.
DEFAULT_VIDEO_SECONDS = 8.0


@dataclass(frozen=True)
class Price:
    input_per_1m: float | None = None
    output_per_1m: float | None = None
    per_image: float | None = None
    #: Per-image prices by "quality:size" (or "size"), for models priced that way.
    per_image_by: Mapping[str, float] = field(default_factory=dict)
    per_second: float | None = None
    per_1m_chars: float | None = None
    per_1k_chars: float | None = None
    #: False where the figure is our best reading rather than a confirmed list price.
    sure: bool = True


def _tokens(inp: float, out: float, *, sure: bool = True) -> Price:
    return Price(input_per_1m=inp, output_per_1m=out, sure=sure)


_DALLE_3 = {
    "standard:1024x1024": 0.040,
    "standard:1024x1792": 0.080,
    "standard:1792x1024": 0.080,
    "hd:1024x1024": 0.080,
    "hd:1024x1792": 0.120,
    "hd:1792x1024": 0.120,
}

#: Prices by vendor family, then model.
PRICES: dict[str, dict[str, Price]] = {
    "openai": {
        "gpt-4.1": _tokens(2.00, 8.00),
        "gpt-4.1-mini": _tokens(0.40, 1.60),
        "gpt-4.1-nano": _tokens(0.10, 0.40),
        "gpt-4o": _tokens(2.50, 10.00),
        "gpt-4o-mini": _tokens(0.15, 0.60),
        "gpt-5": _tokens(1.25, 10.00),
        "gpt-5-mini": _tokens(0.25, 2.00),
        "gpt-5-nano": _tokens(0.05, 0.40),
        "dall-e-2": Price(
            per_image=0.020,
            per_image_by={"256x256": 0.016, "512x512": 0.018, "1024x1024": 0.020},
        ),
        "dall-e-3": Price(per_image=0.040, per_image_by=_DALLE_3),
        # Billed by tokens (text in $5, image out $40 per 1M); per_image is the medium
        # 1024x1024 figure, used when the answer carries no token usage.
        "gpt-image-1": Price(input_per_1m=5.00, output_per_1m=40.00, per_image=0.042),
        "gpt-image-1-mini": Price(
            input_per_1m=2.00, output_per_1m=8.00, per_image=0.011, sure=False
        ),
        "tts-1": Price(per_1m_chars=15.00),
        "tts-1-hd": Price(per_1m_chars=30.00),
        # Token-billed; ~$0.015 per minute of audio. Characters stand in: unsure.
        "gpt-4o-mini-tts": Price(per_1m_chars=12.00, sure=False),
        # Speech to text (a judge hearing audio). whisper-1 bills the minute; the
        # gpt-4o transcribe models bill tokens (audio in, text out), ~$0.006 and ~$0.003
        # a minute: per_second prices a clip when the answer reports no tokens.
        "whisper-1": Price(per_second=0.006 / 60),
        "gpt-4o-transcribe": Price(
            input_per_1m=6.00, output_per_1m=10.00, per_second=0.006 / 60, sure=False
        ),
        "gpt-4o-mini-transcribe": Price(
            input_per_1m=3.00, output_per_1m=5.00, per_second=0.003 / 60, sure=False
        ),
        "sora-2": Price(per_second=0.10),
        # 720p price; 1024p renders cost more ($0.50/s).
        "sora-2-pro": Price(per_second=0.30),
    },
    "anthropic": {
        "claude-sonnet-4-5": _tokens(3.00, 15.00),
        "claude-sonnet-4": _tokens(3.00, 15.00),
        "claude-haiku-4-5": _tokens(1.00, 5.00),
        "claude-opus-4-1": _tokens(15.00, 75.00),
        "claude-3-5-haiku": _tokens(0.80, 4.00),
    },
    "google": {
        # Prompts up to 200k tokens; longer ones cost more ($2.50 / $15.00).
        "gemini-2.5-pro": _tokens(1.25, 10.00),
        "gemini-2.5-flash": _tokens(0.30, 2.50),
        "gemini-2.5-flash-lite": _tokens(0.10, 0.40),
        "gemini-2.5-flash-preview-tts": _tokens(0.50, 10.00, sure=False),
        "imagen-4.0-generate": Price(per_image=0.04),
        "imagen-4.0-fast-generate": Price(per_image=0.02),
        "imagen-4.0-ultra-generate": Price(per_image=0.06),
        "imagen-3.0-generate": Price(per_image=0.03),
        # Veo prices were cut in late 2025; these are the reduced figures.
        "veo-3": Price(per_second=0.40, sure=False),
        "veo-3.0-generate": Price(per_second=0.40, sure=False),
        "veo-3.0-fast-generate": Price(per_second=0.15, sure=False),
        "veo-3.1-generate": Price(per_second=0.40, sure=False),
        "veo-2.0-generate": Price(per_second=0.35, sure=False),
    },
    "cohere": {
        "command-a-03-2025": _tokens(2.50, 10.00),
        "command-r-plus": _tokens(2.50, 10.00),
        "command-r": _tokens(0.15, 0.60),
        "command-r7b-12-2024": _tokens(0.0375, 0.15),
    },
    "elevenlabs": {
        # Plan-dependent (credits per character); overage-rate readings, unsure.
        "eleven_multilingual_v2": Price(per_1k_chars=0.30, sure=False),
        "eleven_v3": Price(per_1k_chars=0.30, sure=False),
        "eleven_turbo_v2_5": Price(per_1k_chars=0.15, sure=False),
        "eleven_flash_v2_5": Price(per_1k_chars=0.15, sure=False),
    },
    "stability": {
        "ultra": Price(per_image=8 * STABILITY_USD_PER_CREDIT),
        "core": Price(per_image=3 * STABILITY_USD_PER_CREDIT),
        # The names presets use (the adapter accepts both spellings).
        "stable-image-ultra": Price(per_image=8 * STABILITY_USD_PER_CREDIT),
        "stable-image-core": Price(per_image=3 * STABILITY_USD_PER_CREDIT),
        "sd3.5-large": Price(per_image=6.5 * STABILITY_USD_PER_CREDIT),
        "sd3.5-large-turbo": Price(per_image=4 * STABILITY_USD_PER_CREDIT),
        "sd3.5-medium": Price(per_image=3.5 * STABILITY_USD_PER_CREDIT),
        # Image-to-video: 20 credits per clip, charged as one "image" of output.
        "stable-video-diffusion": Price(per_image=20 * STABILITY_USD_PER_CREDIT, sure=False),
    },
    "runway": {
        "gen4_turbo": Price(per_second=5 * RUNWAY_USD_PER_CREDIT),
        "gen4.5": Price(per_second=12 * RUNWAY_USD_PER_CREDIT, sure=False),
        "gen3a_turbo": Price(per_second=5 * RUNWAY_USD_PER_CREDIT),
        "veo3": Price(per_second=40 * RUNWAY_USD_PER_CREDIT, sure=False),
    },
}

#: Provider name -> the vendor family whose prices apply. Azure bills OpenAI's models at
#: (about) OpenAI's list prices; self-hosted servers have no list price.
FAMILY: dict[str, str] = {
    "openai": "openai",
    "azure": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "cohere": "cohere",
    "elevenlabs": "elevenlabs",
    "stability": "stability",
    "runway": "runway",
}

_OVERRIDE_FIELDS = frozenset(
    f.name for f in fields(Price) if f.name not in ("per_image_by", "sure")
)


def _lookup(table: Mapping[str, Price], model: str) -> Price | None:
    if model in table:
        return table[model]
    candidates = [name for name in table if model.startswith(name + "-")]
    return table[max(candidates, key=len)] if candidates else None


def price_for(
    provider: str, model: str, overrides: Mapping[str, Mapping[str, float]] | None = None
) -> Price | None:
    """The table price of ``model`` with the account's overrides applied over it."""
    family = FAMILY.get(provider)
    base = _lookup(PRICES.get(family, {}), model) if family else None
    override = (overrides or {}).get(model)
    if not override:
        return base
    changes = {k: float(v) for k, v in override.items() if k in _OVERRIDE_FIELDS}
    # An override states the account's real price: it replaces the table's, including
    # per-size image prices.
    return replace(base or Price(), **changes, per_image_by={}, sure=True)


def _image_price(price: Price, params: Mapping[str, Any]) -> float | None:
    size = str(params.get("size", "1024x1024"))
    quality = str(params.get("quality", "standard"))
    by_quality = price.per_image_by.get(f"{quality}:{size}")
    return by_quality or price.per_image_by.get(size) or price.per_image


def cost_usd(
    provider: str,
    model: str,
    usage: Usage,
    params: Mapping[str, Any],
    overrides: Mapping[str, Mapping[str, float]] | None = None,
) -> float | None:
    """USD for one finished call, or None when the price or the usage is unknown."""
    if provider in FREE_PROVIDERS:
        return 0.0
    price = price_for(provider, model, overrides)
    if price is None:
        return None
    # Usage checks its fields when made; these guard against one changed afterwards, so
    # a cost is never computed from a string or a non-finite number.
    input_tokens, output_tokens = _count(usage.input_tokens), _count(usage.output_tokens)
    images, seconds, characters = (
        _count(usage.images),
        _count(usage.seconds),
        _count(usage.characters),
    )
    total = 0.0
    priced = False
    has_tokens = input_tokens is not None or output_tokens is not None
    if has_tokens and (price.input_per_1m is not None or price.output_per_1m is not None):
        total += (input_tokens or 0) * (price.input_per_1m or 0.0) / 1e6
        total += (output_tokens or 0) * (price.output_per_1m or 0.0) / 1e6
        priced = True
    elif images is not None and (each := _image_price(price, params)) is not None:
        total += images * each
        priced = True
    if seconds is not None and price.per_second is not None:
        total += seconds * price.per_second
        priced = True
    if characters is not None and price.per_1m_chars is not None:
        total += characters * price.per_1m_chars / 1e6
        priced = True
    elif characters is not None and price.per_1k_chars is not None:
        total += characters * price.per_1k_chars / 1e3
        priced = True
    if not priced or not math.isfinite(total):
        return None
    return round(total, 8)


def _count(value: object) -> float | None:
    """A usage figure fit to price: a finite, non-negative int or float (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value) if abs(value) < 1e300 else math.inf
    return number if math.isfinite(number) and number >= 0 else None


def _first_number(params: Mapping[str, Any], *names: str) -> float | None:
    for name in names:
        value = params.get(name)
        try:
            number = float(value) if value is not None else None
        except (TypeError, ValueError, OverflowError):
            continue
        # inf or nan would end in int(inf) (an OverflowError) or a nan budget.
        if number is not None and math.isfinite(number) and number >= 0:
            return number
    return None


def estimate_cost_usd(
    provider: str,
    model: str,
    media_type: str,
    prompt: str,
    params: Mapping[str, Any],
    overrides: Mapping[str, Mapping[str, float]] | None = None,
) -> float | None:
    """A rough USD figure before a call, for budgets: ~4 characters per prompt token,
    output tokens from the params' maximum (else ``DEFAULT_OUTPUT_TOKENS``)."""
    if provider in FREE_PROVIDERS:
        return 0.0
    if media_type == "text":
        output = _first_number(
            params, "max_completion_tokens", "max_tokens", "max_output_tokens", "maxOutputTokens"
        )
        usage = Usage(
            input_tokens=len(prompt) // 4 + 1,
            output_tokens=int(output if output is not None else DEFAULT_OUTPUT_TOKENS),
        )
    elif media_type == "image":
        usage = Usage(images=int(_first_number(params, "n", "sampleCount") or 1))
    elif media_type == "audio":
        usage = Usage(characters=len(prompt))
    elif media_type == "video":
        seconds = _first_number(params, "seconds", "duration", "durationSeconds")
        usage = Usage(seconds=seconds if seconds is not None else DEFAULT_VIDEO_SECONDS)
        price = price_for(provider, model, overrides)
        if price is not None and price.per_second is None and price.per_image is not None:
            usage = Usage(images=1)  # priced per clip
    else:
        return None
    return cost_usd(provider, model, usage, params, overrides)
