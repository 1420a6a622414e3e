"""Typed configuration objects, built from validated YAML by :mod:`runner.config.loader`.

Every object remembers where it came from (``source``: file path) so later checks and
errors can point at the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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
    #: Relative importance of success rate, latency and cost when ranking candidates.
    weights: dict[str, float] = field(
        default_factory=lambda: {"success": 1.0, "latency": 0.2, "cost": 0.2}
    )


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
    runlog: Path = Path(".mediamix/runlog")
    concurrency: int = 8
    max_cost_usd: float | None = None
    output_template: str = "{run_id}/{step_id}{item_suffix}.{ext}"
    template_limits: TemplateLimits = field(default_factory=TemplateLimits)
    source: Path | None = None

    @property
    def runlog_dir(self) -> Path:
        return self.runlog if self.runlog.is_absolute() else self.root / self.runlog
