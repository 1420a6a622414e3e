"""A small run-log history whose numbers are easy to check by hand (used by run-log tests).

Run r1 at T0, preset "cover" (image):
  job c0ffee01 succeeded in 1000 ms: openai/gpt-image [main] rate-limited (429, retry
      after 3 s, 200 ms), then [backup] succeeded (800 ms, $0.04, task-C)
  job c0ffee02 succeeded in 2000 ms: [main] succeeded (1500 ms, $0.04)
  job deadbe03 failed in 3000 ms: [main] failed 500 (100 ms, task-A), then
      stability/sd3 failed permanently (300 ms, $0.01, task-B)
preset "voice" (audio):
  job f00d0004 succeeded in 500 ms: openai/tts skipped (no key), local/espeak (400 ms)
Eight days earlier, preset "old": job 01d00000 succeeded via [main] (50 ms, cost unknown).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runner.runlog.records import (
    ArtifactRecord,
    AttemptRecord,
    EventRecord,
    JobRecord,
    RunRecord,
)
from runner.runlog.store import RunLog

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
OLD = T0 - timedelta(days=8)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _job(
    job_id: str, preset: str, media: str, status: str, latency: float, key: str, **kw: Any
) -> JobRecord:
    return JobRecord(
        job_id=job_id,
        run_id=kw.pop("run_id", "r1"),
        step_id=kw.pop("step_id", preset),
        media_type=media,
        started_at=kw.pop("started_at", T0),
        status=status,  # type: ignore[arg-type]
        preset=preset,
        idempotency_key=key,
        latency_ms=latency,
        **kw,
    )


def _attempt(
    attempt_id: str, job_id: str, number: int, provider: str, model: str, start: float,
    status: str, latency: float, **kw: Any,
) -> AttemptRecord:  # fmt: skip
    started = kw.pop("started_at", _at(start))
    return AttemptRecord(
        attempt_id=attempt_id,
        job_id=job_id,
        run_id=kw.pop("run_id", "r1"),
        number=number,
        provider=provider,
        model=model,
        started_at=started,
        finished_at=started + timedelta(milliseconds=latency),
        status=status,  # type: ignore[arg-type]
        latency_ms=latency,
        **kw,
    )


def write_sample(directory: Path) -> RunLog:
    log = RunLog(directory)
    with log.writer() as w:
        w.write(RunRecord(run_id="r1", pipeline="explainer", started_at=T0))
        w.write(RunRecord(run_id="r0", pipeline="explainer", started_at=OLD, status="succeeded"))
        for job in (
            _job("c0ffee01", "cover", "image", "running", 0, "k1"),
            _job("c0ffee01", "cover", "image", "succeeded", 1000, "k1", provider="openai",
                 model="gpt-image", account="backup", attempts=2),
            _job("c0ffee02", "cover", "image", "succeeded", 2000, "k2", attempts=1),
            _job("deadbe03", "cover", "image", "failed", 3000, "k3", attempts=2,
                 error_class="permanent", error="content policy"),
            _job("f00d0004", "voice", "audio", "succeeded", 500, "k4", attempts=1),
            _job("01d00000", "old", "image", "succeeded", 50, "k0", run_id="r0", started_at=OLD),
        ):  # fmt: skip
            w.write(job)
        for attempt in (
            _attempt("a1", "c0ffee01", 1, "openai", "gpt-image", 0, "failed", 200,
                     account="main", error_class="rate_limited", http_status=429,
                     retry_after_s=3.0, error="Rate limit reached"),
            _attempt("a2", "c0ffee01", 2, "openai", "gpt-image", 4, "succeeded", 800,
                     account="backup", cost_usd=0.04, bytes=123456, task_id="task-C"),
            _attempt("a3", "c0ffee02", 1, "openai", "gpt-image", 10, "succeeded", 1500,
                     account="main", cost_usd=0.04),
            _attempt("a4", "deadbe03", 1, "openai", "gpt-image", 20, "failed", 100,
                     account="main", error_class="transient", http_status=500, task_id="task-A"),
            _attempt("a5", "deadbe03", 2, "stability", "sd3", 21, "failed", 300,
                     error_class="permanent", cost_usd=0.01, task_id="task-B"),
            _attempt("a7", "f00d0004", 1, "openai", "tts", 29, "skipped", 0,
                     error_class="unavailable"),
            _attempt("a6", "f00d0004", 2, "local", "espeak", 30, "succeeded", 400),
            _attempt("a0", "01d00000", 1, "openai", "gpt-image", 0, "succeeded", 50,
                     account="main", run_id="r0", started_at=OLD),
        ):  # fmt: skip
            w.write(attempt)
        w.write(
            EventRecord(
                event_id="e1", run_id="r1", occurred_at=_at(0.2), kind="retry", job_id="c0ffee01",
                message="rate limited; waiting 3.0s", data={"wait_s": 3.0},
            )
        )  # fmt: skip
        w.write(
            EventRecord(
                event_id="e2",
                run_id="r1",
                occurred_at=_at(3.5),
                kind="fallback",
                job_id="c0ffee01",
                message="account main is cooling down; trying backup",
            )
        )  # fmt: skip
        w.write(
            ArtifactRecord(
                artifact_id="art1", job_id="c0ffee01", run_id="r1",
                uri="file://outputs/r1/cover.png", media_type="image", mime="image/png",
                size=123456, sha256="ab" * 32, created_at=_at(5), width=1024, height=1024,
            )
        )  # fmt: skip
    log.ingest()
    return log
