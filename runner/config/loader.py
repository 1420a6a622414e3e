"""Turn validated YAML documents into typed config objects (:mod:`runner.config.model`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from runner.config.model import (
    Account,
    AdaptiveSpec,
    ClusterSpec,
    EnsembleSpec,
    InputSpec,
    JudgeSpec,
    ModelSpec,
    Pipeline,
    Preset,
    Project,
    RetrySpec,
    Step,
    StorageSpec,
    TemplateLimits,
    TranscribeSpec,
)
from runner.config.schema_check import schema_diagnostics
from runner.config.yamlsource import YamlDocument, load_yaml
from runner.errors import ConfigError

T = TypeVar("T")

FILE_KINDS = ("preset", "pipeline", "accounts", "project")


@dataclass(frozen=True)
class Loaded(Generic[T]):
    """A config object plus the document it came from (for pinpointed later checks)."""

    value: T
    doc: YamlDocument


def detect_kind(path: Path, data: Any = None) -> str | None:
    """Which file kind ``path`` is: by name and folder first, then by content."""
    if path.name in ("mediamix.yaml", "mediamix.yml"):
        return "project"
    if path.name in ("accounts.yaml", "accounts.yml"):
        return "accounts"
    parents = {p.name for p in path.parents}
    if "presets" in parents:
        return "preset"
    if "pipelines" in parents:
        return "pipeline"
    if isinstance(data, dict):
        if "steps" in data:
            return "pipeline"
        if "accounts" in data:
            return "accounts"
        if "media_type" in data or "models" in data:
            return "preset"
        if "storage" in data or "runlog" in data:
            return "project"
    return None


def read_document(path: Path, kind: str) -> YamlDocument:
    """Load ``path`` and check it against ``kind``'s schema; ConfigError lists every problem."""
    doc = load_yaml(path)
    problems = schema_diagnostics(kind, doc.data, doc.positions)
    if problems:
        raise ConfigError(problems)
    return doc


def _retry(raw: Mapping[str, Any] | None) -> RetrySpec | None:
    if raw is None:
        return None
    return RetrySpec(**{k: v for k, v in raw.items() if not k.startswith("x-")})


def _model(raw: Mapping[str, Any]) -> ModelSpec:
    return ModelSpec(
        provider=raw["provider"],
        model=str(raw["model"]),
        account=raw.get("account"),
        weight=float(raw.get("weight", 1.0)),
        params=dict(raw.get("params") or {}),
        timeout_s=raw.get("timeout"),
    )


def _strip_x(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (raw or {}).items() if not k.startswith("x-")}


def _judge(raw: Mapping[str, Any] | None) -> JudgeSpec | None:
    if raw is None:
        return None
    transcribe = raw.get("transcribe")
    min_score = raw.get("min_score")
    return JudgeSpec(
        provider=raw.get("provider"),
        model=str(raw["model"]) if raw.get("model") is not None else None,
        account=raw.get("account"),
        rubric=raw.get("rubric"),
        min_score=float(min_score) if min_score is not None else None,
        retry_on_reject=raw.get("retry_on_reject"),
        on_judge_error=raw.get("on_judge_error"),
        transcribe=(
            TranscribeSpec(
                model=str(transcribe["model"]),
                provider=transcribe.get("provider"),
                account=transcribe.get("account"),
            )
            if transcribe is not None
            else None
        ),
        frames=raw.get("frames"),
        params=dict(raw["params"]) if raw.get("params") is not None else None,
        timeout_s=raw.get("timeout"),
    )


def preset_from(
    data: Mapping[str, Any], *, name: str, source: Path | None, builtin: bool
) -> Preset:
    adaptive_raw = _strip_x(data.get("adaptive"))
    adaptive = AdaptiveSpec(**adaptive_raw) if adaptive_raw else AdaptiveSpec()
    return Preset(
        name=str(data.get("name") or name),
        media_type=data["media_type"],
        models=tuple(_model(m) for m in data["models"]),
        strategy=data.get("strategy", "fallback"),
        description=data.get("description", ""),
        retry=_retry(data.get("retry")) or RetrySpec(),
        validate=_strip_x(data.get("validate")),
        params=dict(data.get("params") or {}),
        priority=int(data.get("priority", 0)),
        ensemble=EnsembleSpec(**_strip_x(data.get("ensemble"))),
        adaptive=adaptive,
        judge=_judge(data.get("judge")),
        source=source,
        builtin=builtin,
    )


def load_preset(path: Path, *, builtin: bool = False) -> Loaded[Preset]:
    doc = read_document(path, "preset")
    return Loaded(preset_from(doc.data, name=path.stem, source=path, builtin=builtin), doc)


def step_from(raw: Mapping[str, Any]) -> Step:
    return Step(
        id=raw["id"],
        prompt=raw["prompt"],
        media_type=raw.get("media_type"),
        preset=raw.get("preset"),
        models=tuple(_model(m) for m in raw.get("models") or ()),
        strategy=raw.get("strategy"),
        params=dict(raw.get("params") or {}),
        output=raw.get("output"),
        when=raw.get("when"),
        for_each=raw.get("for_each"),
        needs=tuple(raw.get("needs") or ()),
        inputs_from=tuple(raw.get("inputs_from") or ()),
        retry=_retry(raw.get("retry")),
        validate=_strip_x(raw.get("validate")),
        timeout_s=raw.get("timeout"),
        judge=_judge(raw.get("judge")),
    )


def pipeline_from(data: Mapping[str, Any], *, name: str, source: Path | None) -> Pipeline:
    inputs = tuple(
        InputSpec(
            name=key,
            type=spec.get("type", "string"),
            default=spec.get("default"),
            required=bool(spec.get("required", "default" not in spec)),
            description=spec.get("description", ""),
        )
        for key, spec in (data.get("inputs") or {}).items()
    )
    return Pipeline(
        name=str(data.get("name") or name),
        steps=tuple(step_from(s) for s in data["steps"]),
        inputs=inputs,
        workflow=data.get("workflow", "simple"),
        description=data.get("description", ""),
        output=data.get("output"),
        source=source,
    )


def load_pipeline(path: Path) -> Loaded[Pipeline]:
    doc = read_document(path, "pipeline")
    return Loaded(pipeline_from(doc.data, name=path.stem, source=path), doc)


def accounts_from(data: Mapping[str, Any], *, source: Path | None) -> list[Account]:
    return [
        Account(
            name=raw["name"],
            provider=raw["provider"],
            api_key_env=raw.get("api_key_env"),
            base_url=raw.get("base_url"),
            models=tuple(raw.get("models") or ()),
            rpm=raw.get("rpm"),
            rpd=raw.get("rpd"),
            tpm=raw.get("tpm"),
            max_concurrency=raw.get("max_concurrency"),
            status=raw.get("status", "active"),
            prices={m: dict(p) for m, p in (raw.get("prices") or {}).items()},
            options=dict(raw.get("options") or {}),
            source=source,
        )
        for raw in data.get("accounts") or ()
    ]


def load_accounts(path: Path) -> Loaded[list[Account]]:
    doc = read_document(path, "accounts")
    return Loaded(accounts_from(doc.data, source=path), doc)


def project_from(data: Mapping[str, Any] | None, *, root: Path, source: Path | None) -> Project:
    data = data or {}
    storage_raw = _strip_x(data.get("storage"))
    defaults = Project(root=root)
    return Project(
        root=root,
        storage=StorageSpec(**storage_raw) if storage_raw else StorageSpec(),
        cluster=_cluster_from(data.get("cluster")),
        runlog=Path(data["runlog"]) if data.get("runlog") else defaults.runlog,
        concurrency=int(data.get("concurrency", defaults.concurrency)),
        max_cost_usd=(data.get("budget") or {}).get("max_cost_usd"),
        output_template=data.get("output", defaults.output_template),
        template_limits=_template_limits(data.get("limits")),
        source=source,
    )


def _template_limits(raw: Mapping[str, Any] | None) -> TemplateLimits:
    defaults = TemplateLimits()
    raw = raw or {}
    return TemplateLimits(
        seconds=float(raw.get("template_seconds", defaults.seconds)),
        output_chars=int(raw.get("template_output_chars", defaults.output_chars)),
    )


def _cluster_from(raw: Any) -> ClusterSpec | None:
    """``cluster: ADDRESS`` or ``cluster: {address: ADDRESS, connect_timeout_s: N}``."""
    if raw is None:
        return None
    if isinstance(raw, str):
        return ClusterSpec(address=raw)
    fields = _strip_x(raw)
    return ClusterSpec(
        address=str(fields["address"]),
        connect_timeout_s=float(fields.get("connect_timeout_s", 10.0)),
    )


def load_project_file(path: Path) -> Loaded[Project]:
    doc = read_document(path, "project")
    return Loaded(project_from(doc.data, root=path.parent.resolve(), source=path), doc)
