"""Rows the engine hands to the run log. Plain data; the run log knows no vendor.

Times are timezone-aware UTC datetimes. Costs are USD and ``None`` when unknown
(never 0 for "unknown"). Ids are strings (128 random bits in hex) made by the engine, so
rows from several processes and machines merge without clashes.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal

JobStatus = Literal["running", "succeeded", "failed", "skipped"]
AttemptStatus = Literal["succeeded", "failed", "skipped"]
RunStatus = Literal["running", "succeeded", "failed", "interrupted"]


def new_id() -> str:
    """A random 128-bit id as 32 hex digits (the form uuid4().hex has), several times
    cheaper than uuid4, which asks the OS for randomness on every call: a batch makes
    three ids per job. Seeded from the OS, and again in every forked child."""
    return f"{_ids.getrandbits(128):032x}"


_ids = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _ids.seed(os.urandom(32)))


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunRecord:
    run_id: str
    pipeline: str
    started_at: datetime
    status: RunStatus = "running"
    finished_at: datetime | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    workflow: str | None = None
    host: str | None = None
    shard: str | None = None
    mediamix_version: str | None = None
    jobs_total: int | None = None
    jobs_succeeded: int | None = None
    jobs_failed: int | None = None
    cost_usd: float | None = None


@dataclass
class JobRecord:
    job_id: str
    run_id: str
    step_id: str
    media_type: str
    started_at: datetime
    status: JobStatus = "running"
    preset: str | None = None
    strategy: str | None = None
    item_index: int | None = None
    idempotency_key: str | None = None
    finished_at: datetime | None = None
    attempts: int = 0
    error_class: str | None = None
    error: str | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    provider: str | None = None
    model: str | None = None
    account: str | None = None
    #: Vendor task id of an accepted long-running job (for resume without paying twice).
    task_id: str | None = None
    #: The Dask worker that ran it (``tcp://host:port``); None outside a cluster batch.
    worker: str | None = None


@dataclass
class AttemptRecord:
    attempt_id: str
    job_id: str
    run_id: str
    number: int
    provider: str
    model: str
    started_at: datetime
    status: AttemptStatus
    account: str | None = None
    candidate_index: int = 0
    finished_at: datetime | None = None
    latency_ms: float | None = None
    error_class: str | None = None
    error: str | None = None
    http_status: int | None = None
    retry_after_s: float | None = None
    bytes: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    units: float | None = None
    cost_usd: float | None = None
    task_id: str | None = None
    #: The Dask worker that made the attempt; None outside a cluster batch.
    worker: str | None = None


@dataclass
class EventRecord:
    event_id: str
    run_id: str
    occurred_at: datetime
    kind: str
    message: str
    job_id: str | None = None
    attempt_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunStartEvent:
    """An event that also starts its run: one journal line where a run would write a
    :class:`RunRecord` ("running") and an :class:`EventRecord` one after the other. A batch
    row's run begins with one (its ``batch_row`` event), one line fewer per row.

    The merge files the line twice: its event columns into ``events``, its run columns
    into ``runs`` as that run's "running" row, which the run's later records replace
    (latest ``seq`` wins) exactly as they replace a start RunRecord. Readers of the
    database see what separate records would have left.
    """

    event_id: str
    run_id: str
    occurred_at: datetime
    kind: str
    message: str
    data: dict[str, Any]
    pipeline: str
    started_at: datetime
    status: RunStatus = "running"
    inputs: dict[str, Any] = field(default_factory=dict)
    workflow: str | None = None
    host: str | None = None
    shard: str | None = None
    mediamix_version: str | None = None

    @classmethod
    def joining(cls, event: EventRecord, run: RunRecord) -> RunStartEvent:
        """``event`` and the start ``run`` record (same run, status "running") as one."""
        if event.run_id != run.run_id or run.status != "running":
            raise ValueError("a run-start event joins an event to its own run's start")
        values = {name: getattr(event, name) for name in _EVENT_FIELDS}
        values.update((name, getattr(run, name)) for name in _RUN_START_FIELDS)
        return cls(**values)

    def event_record(self) -> EventRecord:
        """The EventRecord this line stands for."""
        return EventRecord(**{name: getattr(self, name) for name in _EVENT_FIELDS})

    def run_record(self) -> RunRecord:
        """The start RunRecord this line stands for."""
        return RunRecord(**{name: getattr(self, name) for name in _RUN_START_FIELDS})


def _field_names(record: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(record))


#: A RunStartEvent's fields, split by the record each comes from (run_id is in both; a
#: run's start event belongs to no job or attempt).
_EVENT_FIELDS, _RUN_START_FIELDS = (
    tuple(name for name in _field_names(RunStartEvent) if name in _field_names(record))
    for record in (EventRecord, RunRecord)
)


@dataclass
class ArtifactRecord:
    artifact_id: str
    job_id: str
    run_id: str
    uri: str
    media_type: str
    mime: str
    size: int
    sha256: str
    created_at: datetime
    public_url: str | None = None
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    pages: int | None = None


JudgeVerdict = Literal["passed", "rejected", "failed"]


@dataclass
class JudgementRecord:
    """A judge model's score of one artifact of one attempt (what it cost, and why).

    ``verdict`` is "failed" (``score`` None) when the judge could not answer; the
    artifact was then kept or rejected as the step's ``on_judge_error`` says.
    """

    judgement_id: str
    job_id: str
    run_id: str
    attempt_id: str
    artifact_sha256: str
    judged_at: datetime
    judge_provider: str
    judge_model: str
    verdict: JudgeVerdict
    min_score: float
    judge_account: str | None = None
    score: float | None = None
    reason: str | None = None
    #: Every call the judgement took (speech to text, retries, unparseable answers).
    cost_usd: float | None = None
    latency_ms: float | None = None
    #: provider/model of the speech-to-text model that gave the judge its transcript.
    transcribed_by: str | None = None


Record = (
    RunRecord
    | JobRecord
    | AttemptRecord
    | EventRecord
    | RunStartEvent
    | ArtifactRecord
    | JudgementRecord
)


@dataclass(frozen=True)
class ResumeTask:
    """A long-running vendor task an earlier run started and did not finish.

    Only the candidate that started it (same provider and model) may poll it: another
    vendor would not know the id.
    """

    task_id: str
    provider: str | None = None
    model: str | None = None

    def belongs_to(self, provider: str, model: str) -> bool:
        return (self.provider is None or self.provider == provider) and (
            self.model is None or self.model == model
        )


#: Adaptive ranking judges each provider/model on its latest attempts only: enough to
#: smooth over a stray error, few enough that a recovered model climbs back quickly.
RECENT_ATTEMPTS = 10


@dataclass(frozen=True)
class CandidateStats:
    """What the run log has learned about one provider/model/account over a window."""

    provider: str
    model: str
    account: str | None
    attempts: int
    successes: int
    p50_latency_ms: float | None
    avg_cost_usd: float | None
    last_attempt_at: datetime | None = None
    #: Mean judge score over those attempts that were judged, and how many were.
    mean_score: float | None = None
    scored: int = 0

    @property
    def success_rate(self) -> float:
        return self.successes / self.attempts if self.attempts else 0.0
