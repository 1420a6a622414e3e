"""``mediamix verify --judge``: one judge for every case of the matrix.

The judge is named on the command line (``openai/gpt-4.1-mini``) and replaces any judge
the cases' presets have, so every case is scored by the same model against the same
rubric, and a score below ``--min-score`` fails the case's artifact like a judge in a
preset would (the preset's next candidate gets its turn). Audio needs a speech-to-text
model: ``--transcribe``, else the judge vendor's usual one where it has one.
"""

from __future__ import annotations

from dataclasses import replace

from runner.config.model import Judge, JudgeSpec, TranscribeSpec
from runner.errors import UsageError
from runner.providers.catalog import JUDGE_PROVIDERS, TRANSCRIBE_PROVIDERS
from runner.providers.registry import provider_names

#: A vendor's speech-to-text model, when ``--transcribe`` names none; Gemini transcribes
#: with the judge model itself.
DEFAULT_TRANSCRIBE_MODEL = {
    "openai": "gpt-4o-mini-transcribe",
    "azure": "gpt-4o-mini-transcribe",
}


def _provider_model(value: str, option: str) -> tuple[str, str]:
    provider, _, model = value.partition("/")
    if not provider or not model:
        raise UsageError(f"{option} wants PROVIDER/MODEL (e.g. openai/gpt-4.1-mini), not {value!r}")
    if provider not in provider_names():
        raise UsageError(f"{option}: {provider!r} is not a known provider")
    return provider, model


def verify_judge(value: str, *, min_score: float, transcribe: str | None = None) -> Judge:
    provider, model = _provider_model(value, "--judge")
    if provider not in JUDGE_PROVIDERS:
        raise UsageError(
            f"--judge: provider {provider!r} cannot judge; use one of: "
            + ", ".join(sorted(JUDGE_PROVIDERS))
        )
    spec = None
    if transcribe is not None:
        stt_provider, stt_model = _provider_model(transcribe, "--transcribe")
        if stt_provider not in TRANSCRIBE_PROVIDERS:
            raise UsageError(f"--transcribe: provider {stt_provider!r} has no speech-to-text model")
        spec = TranscribeSpec(model=stt_model, provider=stt_provider)
    elif provider == "google":
        spec = TranscribeSpec(model=model)
    elif provider in DEFAULT_TRANSCRIBE_MODEL:
        spec = TranscribeSpec(model=DEFAULT_TRANSCRIBE_MODEL[provider])
    judge = JudgeSpec(provider=provider, model=model, min_score=min_score).resolve()
    assert judge is not None  # provider and model are set
    return replace(judge, transcribe=spec)


def judge_for(judge: Judge, media_type: str) -> Judge | None:
    """The judge for one case; None for audio when no speech-to-text model is known."""
    if media_type == "audio" and judge.transcribe is None:
        return None
    return judge
