"""The price table: known models cost what the table says, unknown ones are None."""

from __future__ import annotations

import pytest

from runner.pricing import PRICES, PRICES_AS_OF, cost_usd, estimate_cost_usd, price_for
from runner.providers.base import Usage


def test_chat_tokens() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=500_000)
    assert cost_usd("openai", "gpt-4o", usage, {}) == pytest.approx(2.50 + 5.00)


def test_dated_variants_match_the_longest_name() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=0)
    assert cost_usd("openai", "gpt-4o-mini-2024-07-18", usage, {}) == pytest.approx(0.15)
    assert cost_usd("anthropic", "claude-sonnet-4-5-20250929", usage, {}) == pytest.approx(3.0)


def test_azure_uses_openai_prices_and_self_hosted_has_none() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=0)
    assert cost_usd("azure", "gpt-4o", usage, {}) == pytest.approx(2.50)
    assert cost_usd("openai_compatible", "gpt-4o", usage, {}) is None


def test_images_by_quality_and_size() -> None:
    one = Usage(images=1)
    assert cost_usd("openai", "dall-e-3", one, {"quality": "hd", "size": "1792x1024"}) == 0.12
    assert cost_usd("openai", "dall-e-2", Usage(images=2), {"size": "256x256"}) == 0.032
    tokens = Usage(images=1, input_tokens=100, output_tokens=4160)
    assert cost_usd("openai", "gpt-image-1", tokens, {}) == pytest.approx(
        100 * 5 / 1e6 + 4160 * 40 / 1e6
    )


def test_speech_video_and_credits() -> None:
    assert cost_usd("openai", "tts-1", Usage(characters=2000), {}) == pytest.approx(0.03)
    assert cost_usd("openai", "sora-2", Usage(seconds=8), {}) == pytest.approx(0.80)
    assert cost_usd("runway", "gen4_turbo", Usage(seconds=10), {}) == pytest.approx(0.50)
    assert cost_usd("stability", "core", Usage(images=1), {}) == pytest.approx(0.03)
    assert cost_usd("elevenlabs", "eleven_multilingual_v2", Usage(characters=1000), {}) == 0.30


def test_unknown_is_none_and_local_is_free() -> None:
    assert cost_usd("openai", "gpt-9-ultra", Usage(input_tokens=10), {}) is None
    assert cost_usd("openai", "gpt-4o", Usage(), {}) is None  # no usage reported
    assert cost_usd("local", "anything", Usage(), {}) == 0.0


def test_account_overrides_replace_table_prices() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    overrides = {"gpt-4o": {"input_per_1m": 1.0, "output_per_1m": 2.0}}
    assert cost_usd("openai", "gpt-4o", usage, {}, overrides) == pytest.approx(3.0)
    self_hosted = {"llama3": {"input_per_1m": 0.1, "output_per_1m": 0.1}}
    assert cost_usd("openai_compatible", "llama3", usage, {}, self_hosted) == pytest.approx(0.2)
    assert price_for("openai", "dall-e-3", {"dall-e-3": {"per_image": 0.5}}) is not None
    assert (
        cost_usd(
            "openai",
            "dall-e-3",
            Usage(images=1),
            {"quality": "hd"},
            {"dall-e-3": {"per_image": 0.5}},
        )
        == 0.5
    )


def test_estimates_before_a_call() -> None:
    text = estimate_cost_usd("openai", "gpt-4o", "text", "x" * 400, {"max_tokens": 100})
    assert text == pytest.approx(101 * 2.5 / 1e6 + 100 * 10 / 1e6)
    assert estimate_cost_usd("openai", "sora-2", "video", "a cat", {"seconds": "4"}) == 0.4
    assert estimate_cost_usd("openai", "dall-e-3", "image", "a cat", {"n": 1}) == 0.04
    assert estimate_cost_usd("stability", "stable-video-diffusion", "video", "", {}) == 0.2
    assert estimate_cost_usd("openai", "unknown-model", "text", "hi", {}) is None
    assert estimate_cost_usd("local", "pdf", "document", "hi", {}) == 0.0


def test_table_is_dated_and_has_no_zero_prices() -> None:
    assert PRICES_AS_OF == "2026-08"
    for models in PRICES.values():
        for price in models.values():
            numbers = [
                price.input_per_1m,
                price.output_per_1m,
                price.per_image,
                price.per_second,
                price.per_1m_chars,
                price.per_1k_chars,
                *price.per_image_by.values(),
            ]
            assert any(n for n in numbers) and all(n is None or n > 0 for n in numbers)
