"""Typed configuration objects, built from validated YAML by :mod:`runner.config.loader`.

Every object remembers where it came from (``source``: file path) so later checks and
errors can point at the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from runner.config.location import DEFAULT_RUNLOG

Strategy = Literal["fallback", "weighted", "ensemble", "sequential", "adaptive"]
Workflow = Literal["simple", "adaptive"]

WORKFLOW_STRATEGY: dict[str, Strategy] = {"simple": "fallback", "adaptive": "adaptive"}


@dataclass(frozen=True)
class RetrySpec:
    max_attempts: int = 3
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    multiplier: float = 2.0
    jitter_s: float = 0.5
    #: Longest Retry-After the engine will honour by waiting (longer: next candidate).
    max_retry_after_s: float = 120.0
    #: Where a 500 or a 429 sends the job at once: "candidates" (another account of the
    #: model, else the next candidate that can take the call now) or "accounts" only.
    failover: Literal["candidates", "accounts"] = "candidates"


@dataclass(frozen=True)
class ModelSpec:
    provider: str
    model: str
    account: str | None = None
    weight: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)
    timeout_s: float | None = None

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True)
class EnsembleSpec:
    #: "all" keeps every candidate's artifact; the others keep the best one.
    keep: Literal["all", "best"] = "best"
    #: How "best" is judged: largest output, longest text, fastest, cheapest, first success.
    rule: Literal["largest", "longest_text", "fastest", "cheapest", "first"] = "largest"
    #: How many candidates to call at once (default: all of them).
    size: int | None = None


@dataclass(frozen=True)
class AdaptiveSpec:
    window_hours: float = 168.0
    exploration: float = 0.1
    min_attempts: int = 3
    #: Relative importance of success rate, latency, cost and (where a judge scores the
    #: artifacts) quality, the mean judge score, when ranking candidates.
    weights: dict[str, float] = field(
        default_factory=lambda: {"success": 1.0, "latency": 0.2, "cost": 0.2, "quality": 1.0}
    )


JudgeErrorPolicy = Literal["keep", "reject"]


@dataclass(frozen=True)
class TranscribeSpec:
    """The speech-to-text model that turns an audio artifact into text for the judge."""

    model: str
    #: None: the judge's own provider.
    provider: str | None = None
    account: str | None = None


@dataclass(frozen=True)
class JudgeSpec:
    """A ``judge`` block as written: every field optional, because a step's block
    overrides its preset's field by field (:meth:`over`). :meth:`resolve` fills defaults."""

    provider: str | None = None
    model: str | None = None
    account: str | None = None
    rubric: str | None = None
    min_score: float | None = None
    retry_on_reject: bool | None = None
    on_judge_error: JudgeErrorPolicy | None = None
    transcribe: TranscribeSpec | None = None
    #: How many frames of a video the judge sees.
    frames: int | None = None
    params: dict[str, Any] | None = None
    timeout_s: float | None = None

    def over(self, base: JudgeSpec | None) -> JudgeSpec:
        """This block's fields over ``base``'s (a step's judge over its preset's)."""
        if base is None:
            return self
        mine = {k: v for k, v in self.__dict__.items() if v is not None}
        return JudgeSpec(**{**base.__dict__, **mine})

    def resolve(self) -> Judge | None:
        """The judge a run uses, defaults filled in; None without a provider and model."""
        if not self.provider or not self.model:
            return None
        return Judge(
            provider=self.provider,
            model=self.model,
            account=self.account,
            rubric=self.rubric if self.rubric is not None else DEFAULT_RUBRIC,
            min_score=self.min_score if self.min_score is not None else 0.5,
            retry_on_reject=bool(self.retry_on_reject),
            on_judge_error=self.on_judge_error or "keep",
            transcribe=self.transcribe,
            frames=self.frames or DEFAULT_JUDGE_FRAMES,
            params=dict(self.params or {}),
            timeout_s=self.timeout_s,
        )


#: What the judge is asked when a block names no rubric.
DEFAULT_RUBRIC = (
    "How well does this {{ media_type }} match what was asked for: {{ prompt }}? "
    "Judge faithfulness to the request and technical quality (artefacts, glitches, "
    "garbled text or speech)."
)
#: Frames of a video the judge sees when the block does not say.
DEFAULT_JUDGE_FRAMES = 4


@dataclass(frozen=True)
class Judge:
    """A resolved judge: the model that scores each artifact of a step, and what to do
    with the score."""

    provider: str
    model: str
    account: str | None
    rubric: str
    min_score: float
    retry_on_reject: bool
    on_judge_error: JudgeErrorPolicy
    transcribe: TranscribeSpec | None
    frames: int
    params: dict[str, Any]
    timeout_s: float | None

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"

    def transcriber(self) -> tuple[str, str, str | None] | None:
        """(provider, model, account) of the speech-to-text model, when one is named."""
        if self.transcribe is None:
            return None
        provider = self.transcribe.provider or self.provider
        account = self.transcribe.account
        if account is None and provider == self.provider:
            account = self.account
        return provider, self.transcribe.model, account


@dataclass(frozen=True)
class Preset:
    name: str
    media_type: str
    models: tuple[ModelSpec, ...]
    strategy: Strategy = "fallback"
    description: str = ""
    retry: RetrySpec = field(default_factory=RetrySpec)
    validate: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    priority: int = 0
    ensemble: EnsembleSpec = field(default_factory=EnsembleSpec)
    adaptive: AdaptiveSpec = field(default_factory=AdaptiveSpec)
    judge: JudgeSpec | None = None
    source: Path | None = None
    builtin: bool = False


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: Literal["string", "integer", "number", "boolean", "list", "object"] = "string"
    default: Any = None
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Step:
    id: str
    prompt: str
    media_type: str | None = None
    preset: str | None = None
    models: tuple[ModelSpec, ...] = ()
    strategy: Strategy | None = None
    params: dict[str, Any] = field(default_factory=dict)
    output: str | None = None
    when: str | None = None
    for_each: str | None = None
    #: Explicit extra dependencies beyond those read from templates.
    needs: tuple[str, ...] = ()
    #: Steps whose artifacts are passed to this step's provider as inputs.
    inputs_from: tuple[str, ...] = ()
    retry: RetrySpec | None = None
    validate: dict[str, Any] = field(default_factory=dict)
    timeout_s: float | None = None
    #: Overrides the preset's judge field by field.
    judge: JudgeSpec | None = None


@dataclass(frozen=True)
class Pipeline:
    name: str
    steps: tuple[Step, ...]
    inputs: tuple[InputSpec, ...] = ()
    workflow: Workflow = "simple"
    description: str = ""
    output: str | None = None
    source: Path | None = None


@dataclass(frozen=True)
class Account:
    name: str
    provider: str
    api_key_env: str | None = None
    base_url: str | None = None
    models: tuple[str, ...] = ()
    rpm: int | None = None
    rpd: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    status: Literal["active", "inactive"] = "active"
    #: USD price overrides keyed by model, e.g. {"gpt-4o": {"input_per_1m": 2.5}}.
    prices: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Vendor extras: api_version (Azure), deployments (Azure), organization, voice, ...
    options: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None

    def serves(self, model: str) -> bool:
        return not self.models or model in self.models or "*" in self.models


@dataclass(frozen=True)
class StorageSpec:
    url: str = "file://outputs"
    endpoint_url: str | None = None
    public_url_base: str | None = None
    region: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    #: A ``file://`` root on a filesystem every cluster worker mounts at the same path.
    shared: bool = False


@dataclass(frozen=True)
class ClusterSpec:
    """Where ``mediamix batch`` runs its rows: a Dask scheduler or ``local:N``."""

    #: ``tcp://host:8786`` (any Dask address) or ``local:N`` (N worker processes here).
    address: str
    #: How long to wait for the scheduler (and its first worker) before giving up.
    connect_timeout_s: float = 10.0


@dataclass(frozen=True)
class TemplateLimits:
    """How far one template render may go (``limits:`` in mediamix.yaml). Past either
    bound the render stops and the step fails with an error naming it."""

    #: Wall-clock seconds one render (a prompt, a param, a when or for_each) may take.
    seconds: float = 2.0
    #: Characters one render may produce, and the largest string or list it may build.
    output_chars: int = 4 << 20


@dataclass(frozen=True)
class Project:
    root: Path
    storage: StorageSpec = field(default_factory=StorageSpec)
    runlog: Path = DEFAULT_RUNLOG
    concurrency: int = 8
    max_cost_usd: float | None = None
    output_template: str = "{run_id}/{step_id}{item_suffix}.{ext}"
    template_limits: TemplateLimits = field(default_factory=TemplateLimits)
    source: Path | None = None
    #: ``cluster:`` in mediamix.yaml: batches run there unless ``--cluster`` says otherwise.
    cluster: ClusterSpec | None = None

    @property
    def runlog_dir(self) -> Path:
        return self.runlog if self.runlog.is_absolute() else self.root / self.runlog
