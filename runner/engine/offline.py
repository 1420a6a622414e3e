"""Saying which jobs were served offline, and why: the candidates a job could not use, and
what would enable each ("set OPENAI_API_KEY to use openai/gpt-4.1").

A job is *served offline* when a ``local`` generator made its artifact. That is by design
when the step lists only local generators; otherwise the vendors before it were skipped
(no key, inactive account, no account serving the model) or failed, and the run says so
in its progress, its summary and ``--json`` rather than just "succeeded".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from runner.config.model import ModelSpec
from runner.errors import MediamixError, UnavailableError, redact

if TYPE_CHECKING:
    from runner.engine.results import JobResult

#: The provider whose generators need no key and no network.
OFFLINE_PROVIDER = "local"


def enable_hint(label: str, error: UnavailableError) -> str | None:
    """What a person can do so that ``label`` runs: "set OPENAI_API_KEY to use openai/x"."""
    if not error.hint:
        return None
    if error.missing_env:
        return f"{error.hint} to use {label}"
    return f"to use {label}: {error.hint}"


def skipped_entry(spec: ModelSpec, exc: MediamixError) -> dict[str, Any]:
    """One candidate a job could not use, as ``--json`` and the summary show it."""
    kind = str(getattr(exc, "kind", None) or type(exc).__name__)
    unavailable = exc if isinstance(exc, UnavailableError) else None
    return {
        "candidate": spec.label,
        "provider": spec.provider,
        "model": spec.model,
        "error_class": kind,
        "reason": redact(str(exc))[:500],
        "missing_env": list(unavailable.missing_env) if unavailable else [],
        "enable": enable_hint(spec.label, unavailable) if unavailable else None,
    }


def _short_reason(entry: dict[str, Any]) -> str:
    if entry["missing_env"]:
        return f"{' or '.join(entry['missing_env'])} not set"
    if entry["reason"].startswith("no account serves"):
        return "no account for it"
    if entry["error_class"] == "unavailable":
        return "unavailable"
    return f"failed: {entry['error_class']}"


def other_hints(jobs: Sequence[JobResult]) -> list[str]:
    """What would enable the skipped candidates that no key variable alone would."""
    hints: dict[str, None] = {}
    for job in jobs:
        for entry in job.skipped:
            if entry["enable"] and not entry["missing_env"]:
                hints.setdefault(entry["enable"])
    return list(hints)


def why_offline(job: JobResult) -> str:
    """One line: what the local generator stood in for."""
    if not job.skipped:
        return "the step lists only local generators"
    return "instead of " + ", ".join(
        f"{entry['candidate']} ({_short_reason(entry)})" for entry in _unique(job.skipped)
    )


def _unique(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for entry in entries:
        seen.setdefault(entry["candidate"], entry)
    return list(seen.values())


def offline_steps(jobs: Sequence[JobResult]) -> list[dict[str, Any]]:
    """Per step, the jobs a local generator made now (not reused), and what it stood in
    for: the ``offline`` list of a run's ``--json``."""
    steps: dict[str, dict[str, Any]] = {}
    for job in jobs:
        if not job.offline:
            continue
        step = steps.setdefault(
            job.step_id,
            {"step_id": job.step_id, "jobs": 0, "served_by": [], "by_design": True, "skipped": []},
        )
        step["jobs"] += 1
        if job.served_by not in step["served_by"]:
            step["served_by"].append(job.served_by)
        if job.skipped:
            step["by_design"] = False
        step["skipped"] = _unique([*step["skipped"], *job.skipped])
    return list(steps.values())


def missing_keys(jobs: Sequence[JobResult]) -> list[dict[str, Any]]:
    """Each key variable that was not set, with the candidates it would have enabled:
    the ``missing_keys`` list of a run's ``--json``, in first-seen order."""
    found: dict[str, list[str]] = {}
    for job in jobs:
        for entry in job.skipped:
            for env in entry["missing_env"]:
                candidates = found.setdefault(env, [])
                if entry["candidate"] not in candidates:
                    candidates.append(entry["candidate"])
    return [{"env": env, "candidates": labels} for env, labels in found.items()]
