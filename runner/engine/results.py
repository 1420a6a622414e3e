"""What a run produced: per-job results and the run's summary (the ``--json`` shape)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
            "cost_usd": self.cost_usd,
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
