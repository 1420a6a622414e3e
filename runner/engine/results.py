"""What a run produced: per-job results and the run's summary (the ``--json`` shape)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runner.engine import offline
from runner.engine.outputs import ArtifactOutput


@dataclass
class JobResult:
    job_id: str
    step_id: str
    status: str  # succeeded | failed | skipped
    item_index: int | None = None
    artifacts: list[ArtifactOutput] = field(default_factory=list)
    error: str | None = None
    error_class: str | None = None
    attempts: int = 0
    cost_usd: float | None = None
    key: str | None = None
    #: True when an earlier success was reused instead of calling anything.
    reused: bool = False
    #: Who made the artifact (None when nothing was made now: failed, skipped, reused).
    provider: str | None = None
    model: str | None = None
    #: Candidates this job could not use and why (see runner.engine.offline).
    skipped: list[dict[str, Any]] = field(default_factory=list)
    #: Said about a job that still succeeded (e.g. fewer images than params.n asked).
    warnings: list[str] = field(default_factory=list)

    @property
    def served_by(self) -> str | None:
        return f"{self.provider}/{self.model}" if self.provider else None

    @property
    def offline(self) -> bool:
        """Made now by a local generator (no vendor)."""
        return self.status == "succeeded" and self.provider == offline.OFFLINE_PROVIDER

    @property
    def item_number(self) -> int | None:
        """The for_each item counted from 1, as file names and progress show it."""
        return None if self.item_index is None else self.item_index + 1


@dataclass
class RunResult:
    run_id: str
    pipeline: str
    status: str  # succeeded | failed | interrupted
    started_at: datetime
    finished_at: datetime
    jobs: list[JobResult] = field(default_factory=list)
    cost_usd: float | None = None

    @property
    def succeeded(self) -> int:
        return sum(1 for j in self.jobs if j.status == "succeeded")

    @property
    def failed(self) -> int:
        return sum(1 for j in self.jobs if j.status == "failed")

    @property
    def reused(self) -> int:
        return sum(1 for j in self.jobs if j.reused)

    @property
    def offline_jobs(self) -> int:
        return sum(1 for j in self.jobs if j.offline)

    @property
    def warnings(self) -> list[tuple[JobResult, str]]:
        return [(j, w) for j in self.jobs for w in j.warnings]

    @property
    def artifacts(self) -> list[tuple[str, ArtifactOutput]]:
        return [(j.step_id, a) for j in self.jobs for a in j.artifacts]

    def as_dict(self) -> dict[str, Any]:
        """Stable JSON shape for ``--json``."""
        return {
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "jobs_succeeded": self.succeeded,
            "jobs_failed": self.failed,
            "jobs_reused": self.reused,
            "jobs_offline": self.offline_jobs,
            "cost_usd": self.cost_usd,
            "offline": offline.offline_steps(self.jobs),
            "missing_keys": offline.missing_keys(self.jobs),
            "jobs": [
                {
                    "job_id": j.job_id,
                    "step_id": j.step_id,
                    "item_index": j.item_index,
                    "status": j.status,
                    "reused": j.reused,
                    "attempts": j.attempts,
                    "cost_usd": j.cost_usd,
                    "error": j.error,
                    "error_class": j.error_class,
                    "item_number": j.item_number,
                    "served_by": j.served_by,
                    "offline": j.offline,
                    "skipped_candidates": j.skipped,
                    "warnings": j.warnings,
                    "artifacts": [
                        {
                            "uri": a.uri,
                            "url": a.url,
                            "path": a.path,
                            "mime": a.mime,
                            "size": a.size,
                            "sha256": a.sha256,
                            "provider": a.provider,
                            "model": a.model,
                            "score": a.score,
                        }
                        for a in j.artifacts
                    ],
                }
                for j in self.jobs
            ],
        }
