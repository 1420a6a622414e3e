"""From a validated pipeline to a plan: resolved presets, candidates, strategies, inputs.

Building a plan calls nothing; ``mediamix run --dry-run`` prints it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from runner.config.crosscheck import check_pipeline, resolve_step_preset, step_dependencies
from runner.config.input_values import MAX_DEPTH, check_input, shown
from runner.config.loader import Loaded
from runner.config.model import (
    WORKFLOW_STRATEGY,
    InputSpec,
    Judge,
    ModelSpec,
    Pipeline,
    Preset,
    RetrySpec,
    Step,
    Strategy,
)
from runner.config.project import Workspace
from runner.engine.job_keys import JobKeys
from runner.errors import ConfigError, UsageError
from runner.providers.registry import provider_names

#: Per-attempt timeout when neither the model nor the step sets one (seconds).
DEFAULT_TIMEOUT_S: dict[str, float] = {
    "text": 120.0,
    "image": 180.0,
    "audio": 120.0,
    "video": 900.0,
    "document": 60.0,
}


@dataclass(frozen=True)
class StepPlan:
    step: Step
    media_type: str
    preset: Preset | None
    strategy: Strategy
    candidates: tuple[ModelSpec, ...]
    retry: RetrySpec
    validate: dict[str, Any]
    deps: frozenset[str]
    output_template: str
    #: The model that scores each artifact (None: valid bytes are enough).
    judge: Judge | None = None

    @property
    def id(self) -> str:
        return self.step.id

    @cached_property
    def job_keys(self) -> JobKeys:
        """Its jobs' idempotency keys (the step's share encoded once, for every job)."""
        return JobKeys(self)

    def attempt_timeout(self, spec: ModelSpec) -> float:
        return spec.timeout_s or DEFAULT_TIMEOUT_S.get(self.media_type, 120.0)

    def worst_case_s(
        self,
        candidates: tuple[ModelSpec, ...] | None = None,
        accounts: Callable[[ModelSpec], int] | None = None,
    ) -> float:
        """Upper bound on the step's time per job: every attempt of every candidate (or of
        just ``candidates``, e.g. the available ones) times out and backs off. An attempt
        that times out on one account goes on at once on the next, so with ``accounts``
        (how many serve a candidate) each attempt counts one timeout per account."""
        r = self.retry
        backoff = sum(
            min(r.max_backoff_s, r.initial_backoff_s * r.multiplier**i) + r.jitter_s
            for i in range(max(r.max_attempts - 1, 0))
        )
        chosen = self.candidates if candidates is None else candidates
        per = [
            r.max_attempts * max(1, accounts(c) if accounts else 1) * self.attempt_timeout(c)
            + backoff
            for c in chosen
        ]
        if self.strategy == "ensemble":
            return max(per, default=0.0)
        worst = sum(per)
        return min(worst, self.step.timeout_s) if self.step.timeout_s else worst


@dataclass(frozen=True)
class Plan:
    pipeline: Pipeline
    steps: tuple[StepPlan, ...]
    inputs: dict[str, Any]
    workflow: str

    def step(self, step_id: str) -> StepPlan:
        return next(s for s in self.steps if s.id == step_id)

    def describe(self) -> dict[str, Any]:
        """The plan as data (for --dry-run, human or JSON)."""
        return {
            "pipeline": self.pipeline.name,
            "workflow": self.workflow,
            "inputs": self.inputs,
            "steps": [
                {
                    "id": s.id,
                    "media_type": s.media_type,
                    "preset": s.preset.name if s.preset else None,
                    "strategy": s.strategy,
                    "depends_on": sorted(s.deps),
                    "for_each": s.step.for_each,
                    "when": s.step.when,
                    "candidates": [
                        {
                            "provider": c.provider,
                            "model": c.model,
                            "account": c.account,
                            "max_attempts": s.retry.max_attempts,
                            "timeout_s": s.attempt_timeout(c),
                        }
                        for c in s.candidates
                    ],
                    "worst_case_s": round(s.worst_case_s(), 1),
                    "judge": s.judge.label if s.judge else None,
                }
                for s in self.steps
            ],
            "worst_case_s": round(self.critical_path_s(), 1),
        }

    def critical_path_s(self, per_step: Mapping[str, float] | None = None) -> float:
        """The longest chain of worst cases (``per_step`` overrides a step's figure)."""
        finish: dict[str, float] = {}
        for s in self.steps:  # topological order
            start = max((finish[d] for d in s.deps), default=0.0)
            own = per_step[s.id] if per_step is not None else s.worst_case_s()
            finish[s.id] = start + own
        return max(finish.values(), default=0.0)


def coerce_input(spec: InputSpec, raw: Any) -> Any:
    """Turn a command-line string into the input's declared type."""
    if not isinstance(raw, str):
        return raw
    check_input(spec.name, raw)  # before int() or json.loads() spend time on it
    try:
        if spec.type == "integer":
            return int(raw)
        if spec.type == "number":
            return float(raw)
        if spec.type == "boolean":
            lowered = raw.strip().lower()
            if lowered in ("true", "yes", "1", "on"):
                return True
            if lowered in ("false", "no", "0", "off"):
                return False
            raise ValueError(raw)
        if spec.type == "list":
            if raw.lstrip().startswith("["):
                value = json.loads(raw)
                if not isinstance(value, list):
                    raise ValueError(raw)
                return value
            return [part.strip() for part in raw.split(",") if part.strip()]
        if spec.type == "object":
            value = json.loads(raw)
            if not isinstance(value, dict):
                raise ValueError(raw)
            return value
    except (ValueError, json.JSONDecodeError) as exc:
        raise UsageError(f"input {spec.name!r} expects a {spec.type}, got {shown(raw)}") from exc
    except RecursionError as exc:
        raise UsageError(
            f"input {spec.name!r}: lists and objects are nested too deeply "
            f"(at most {MAX_DEPTH} levels)"
        ) from exc
    return raw


def resolve_inputs(pipeline: Pipeline, given: Mapping[str, Any]) -> dict[str, Any]:
    specs = {i.name: i for i in pipeline.inputs}
    unknown = sorted(set(given) - set(specs))
    if unknown:
        known = ", ".join(sorted(specs)) or "(none)"
        raise UsageError(f"unknown input(s) {', '.join(unknown)}; {pipeline.name} takes: {known}")
    values: dict[str, Any] = {}
    missing = []
    for name, spec in specs.items():
        if name in given:
            values[name] = coerce_input(spec, given[name])
            check_input(name, values[name])
        elif spec.default is not None:
            values[name] = spec.default
        elif spec.required:
            missing.append(name)
        else:
            values[name] = None
    if missing:
        raise UsageError(
            f"missing required input(s): {', '.join(missing)} (give them with -i NAME=VALUE)"
        )
    return values


def _topological(steps: list[StepPlan]) -> list[StepPlan]:
    by_id = {s.id: s for s in steps}
    done: set[str] = set()
    order: list[StepPlan] = []

    def visit(s: StepPlan) -> None:
        if s.id in done:
            return
        done.add(s.id)
        for dep in sorted(s.deps):
            visit(by_id[dep])
        order.append(s)

    for s in steps:
        visit(s)
    return order


def _strategy_for(step: Step, preset: Preset | None, workflow: str) -> Strategy:
    if step.strategy:
        return step.strategy
    base: Strategy = preset.strategy if preset else "fallback"
    if base == "fallback" and workflow == "adaptive":
        return WORKFLOW_STRATEGY["adaptive"]
    return base


def build_plan(
    loaded: Loaded[Pipeline],
    ws: Workspace,
    inputs: Mapping[str, Any] | None = None,
    *,
    workflow: str | None = None,
    strategy: Strategy | None = None,
    max_attempts: int | None = None,
) -> Plan:
    pipeline = loaded.value
    problems = [d for d in check_pipeline(pipeline, loaded.doc, ws) if d.severity == "error"]
    if problems:
        raise ConfigError(problems)
    flow = workflow or pipeline.workflow
    known = set(provider_names())
    plans: list[StepPlan] = []
    for step in pipeline.steps:
        preset = resolve_step_preset(step, pipeline, ws)
        candidates = step.models or (preset.models if preset else ())
        candidates = tuple(c for c in candidates if c.provider in known)
        media_type = step.media_type or (preset.media_type if preset else "text")
        retry = step.retry or (preset.retry if preset else RetrySpec())
        if max_attempts is not None:
            retry = RetrySpec(**{**retry.__dict__, "max_attempts": max_attempts})
        preset_judge = preset.judge if preset else None
        judge_spec = step.judge.over(preset_judge) if step.judge else preset_judge
        plans.append(
            StepPlan(
                step=step,
                media_type=media_type,
                preset=preset,
                strategy=strategy or _strategy_for(step, preset, flow),
                candidates=candidates,
                retry=retry,
                validate={**(preset.validate if preset else {}), **step.validate},
                deps=frozenset(step_dependencies(step)),
                output_template=step.output or pipeline.output or ws.project.output_template,
                judge=judge_spec.resolve() if judge_spec else None,
            )
        )
    return Plan(
        pipeline=pipeline,
        steps=tuple(_topological(plans)),
        inputs=resolve_inputs(pipeline, inputs or {}),
        workflow=flow,
    )


def merged_params(*layers: Mapping[str, Any] | None, provider: str) -> dict[str, Any]:
    """Merge params layers; a key named after a provider holds params for that provider only.

    ``{temperature: 0.2, local: {template: ...}, openai: {seed: 1}}`` gives the local
    provider ``{temperature: 0.2, template: ...}`` and OpenAI ``{temperature: 0.2, seed: 1}``.
    """
    scoped_names = provider_names()
    out: dict[str, Any] = {}
    for layer in layers:
        if not layer:
            continue
        out.update(
            (k, v) for k, v in layer.items() if not (k in scoped_names and isinstance(v, Mapping))
        )
        # Within a layer, the provider's own params win over the shared ones.
        scoped = layer.get(provider)
        if isinstance(scoped, Mapping):
            out.update(scoped)
    return out
