"""Everything a run shares: accounts, HTTP client, storage, run log, budget, options.

Built once per run (or batch) by :func:`runner.engine.run.open_services` and passed to
every job, so nothing reaches for globals.
"""

from __future__ import annotations

import os
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.config.project import Workspace
from runner.engine.accounts import AccountPool
from runner.engine.outputs import ArtifactOutput
from runner.engine.stopping import Stopper
from runner.errors import BudgetExceeded
from runner.runlog.records import (
    RECENT_ATTEMPTS,
    CandidateStats,
    EventRecord,
    ResumeTask,
    new_id,
    utcnow,
)
from runner.runlog.sink import RunLogSink
from runner.storage import ArtifactStore

if TYPE_CHECKING:
    import httpx

    from runner.engine.claims import Claims
    from runner.engine.parking import ParkingLot
    from runner.storage.local_copies import LocalCopies


@dataclass(frozen=True)
class Progress:
    """One thing worth telling a person watching the run (the CLI decides how)."""

    #: step_started | job_started | job_finished | attempt_failed | waiting | skipped |
    #: run_finished | notice (a one-line message about the run itself, e.g. the run log)
    kind: str
    step_id: str | None = None
    job_id: str | None = None
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


ProgressCallback = Callable[[Progress], None]

#: Given a job's idempotency key, the artifacts of an earlier success that still exist
#: (or None): a batch resume uses it so a finished job is never paid for twice.
ReuseLookup = Callable[[str], Awaitable["list[ArtifactOutput] | None"]]


def _no_progress(progress: Progress) -> None:
    return None


@dataclass
class EngineOptions:
    #: Remove every backoff wait (tests); MEDIAMIX_NO_WAIT=1 sets it.
    no_wait: bool = field(default_factory=lambda: os.environ.get("MEDIAMIX_NO_WAIT") == "1")
    seed: int | None = None
    concurrency: int | None = None
    poll_interval_s: float = field(
        default_factory=lambda: float(os.environ.get("MEDIAMIX_POLL_INTERVAL", "2.0"))
    )
    max_cost_usd: float | None = None
    fail_fast: bool = False
    shard: str | None = None
    #: Flush the run log as each run ends. A batch turns it off: its writer flushes every
    #: half second anyway, and a file plus fsync per row would cost more than the row.
    flush_each_run: bool = True
    #: Shared with whoever may stop the run (signal handlers, the server's cancel).
    stopper: Stopper = field(default_factory=Stopper)
    #: Claim idempotency keys across processes (one payment per job). ``verify`` turns it
    #: off: the matrix wants each case made afresh, even when two cases share a key.
    claim_jobs: bool = True


class Budget:
    """Stops dispatch before the spend would pass the cap: estimates before, actuals after."""

    def __init__(self, cap_usd: float | None) -> None:
        self.cap = cap_usd
        self.spent = 0.0
        self.reserved = 0.0

    async def ready(self, estimate: float | None) -> None:
        """Make room for ``reserve(estimate)``: a budget shared by a cluster's workers
        fetches headroom here (see runner.cluster.link); this one has the whole cap."""
        return None

    def reserve(self, estimate: float | None) -> float:
        amount = estimate or 0.0
        if self.cap is not None and self.spent + self.reserved + amount > self.cap:
            raise BudgetExceeded(
                f"budget of {_usd(self.cap)} reached (spent {_usd(self.spent)}, this call "
                f"would add ~{_usd(amount)}); no further calls dispatched"
            )
        self.reserved += amount
        return amount

    def settle(self, reserved: float, actual: float | None) -> None:
        self.reserved -= reserved
        self.spent += actual if actual is not None else reserved

    def exhausted_error(self) -> BudgetExceeded:
        cap = _usd(self.cap) if self.cap is not None else "none"
        return BudgetExceeded(
            f"budget exhausted earlier in this run (cap {cap}, spent {_usd(self.spent)}); "
            "not dispatched"
        )

    @property
    def exhausted(self) -> bool:
        return self.cap is not None and self.spent >= self.cap


def _usd(value: float) -> str:
    # Small caps are normal in tests and trials: "$0.0005", not "$0.00".
    return f"${value:,.2f}" if value >= 1 else f"${value:.6f}".rstrip("0").rstrip(".")


class LiveStats:
    """What adaptive ranking knows per provider/model: run-log history plus this process.

    Only each model's latest ``recent`` attempts count (a sliding window by count, on top
    of the preset's ``window_hours``), so a model that starts failing drops quickly and one
    that recovers climbs back after a few good attempts instead of dragging its whole
    past along. Outcomes seen in this process are the newest; the history fills what is
    left of the window at its own success rate.
    """

    def __init__(self, history: list[CandidateStats], *, recent: int = RECENT_ATTEMPTS) -> None:
        self.recent = recent
        self._history: dict[tuple[str, str], CandidateStats] = {}
        for s in history:  # the run log counts per account; strategies rank models
            key = (s.provider, s.model)
            seen = self._history.get(key)
            self._history[key] = s if seen is None else _combine(seen, s)
        # Newest last: (succeeded, latency ms, cost or None) per provider/model.
        self._live: dict[tuple[str, str], deque[tuple[bool, float, float | None]]] = {}
        # Newest last: judge scores per provider/model.
        self._scores: dict[tuple[str, str], deque[float]] = {}

    def record(
        self, provider: str, model: str, ok: bool, latency_ms: float, cost: float | None
    ) -> None:
        window = self._live.setdefault((provider, model), deque(maxlen=self.recent))
        window.append((ok, latency_ms, cost))

    def record_score(self, provider: str, model: str, score: float) -> None:
        """A judge's score of an artifact this model made (passed or rejected)."""
        window = self._scores.setdefault((provider, model), deque(maxlen=self.recent))
        window.append(score)

    def quality(self, provider: str, model: str) -> float | None:
        """Mean judge score over the model's latest judged attempts (this process's first,
        then the run log's), or None when no judge has scored it.

        Shrunk toward 0.5 by one imaginary middling score, so a single lucky (or unlucky)
        verdict does not decide a ranking on its own.
        """
        live = list(self._scores.get((provider, model), ()))
        total, count = float(sum(live)), float(len(live))
        past = self._history.get((provider, model))
        room = self.recent - len(live)
        if past is not None and past.scored and past.mean_score is not None and room > 0:
            share = float(min(room, past.scored))
            total += past.mean_score * share
            count += share
        if count == 0:
            return None
        return (total + 0.5) / (count + 1.0)

    def stats(self, provider: str, model: str) -> tuple[float, float, float | None, float | None]:
        """(attempts, successes, typical latency ms, average cost) over the latest attempts.

        Latency is over successful attempts and cost over attempts with a known cost, as in
        the run log; a failure has neither, so it cannot make a model look fast or cheap.
        """
        live = list(self._live.get((provider, model), ()))
        attempts = float(len(live))
        successes = float(sum(1 for ok, _, _ in live if ok))
        latencies = [ms for ok, ms, _ in live if ok]
        costs = [c for _, _, c in live if c is not None]
        latency = _mean(latencies)
        cost = _mean(costs)
        past = self._history.get((provider, model))
        room = self.recent - len(live)
        if past is not None and past.attempts > 0 and room > 0:
            share = min(room, past.attempts) / past.attempts
            attempts += past.attempts * share
            successes += past.successes * share
            latency = _weighted(
                latency, len(latencies), past.p50_latency_ms, past.successes * share
            )
            cost = _weighted(cost, len(costs), past.avg_cost_usd, past.attempts * share)
        return attempts, successes, latency, cost


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _weighted(a: float | None, na: float, b: float | None, nb: float) -> float | None:
    if a is None or b is None:
        return a if b is None else b
    return (a * na + b * nb) / max(na + nb, 1e-9)


def _combine(a: CandidateStats, b: CandidateStats) -> CandidateStats:
    return CandidateStats(
        provider=a.provider,
        model=a.model,
        account=None,
        attempts=a.attempts + b.attempts,
        successes=a.successes + b.successes,
        p50_latency_ms=_weighted(a.p50_latency_ms, a.successes, b.p50_latency_ms, b.successes),
        avg_cost_usd=_weighted(a.avg_cost_usd, a.attempts, b.avg_cost_usd, b.attempts),
        mean_score=_weighted(a.mean_score, a.scored, b.mean_score, b.scored),
        scored=a.scored + b.scored,
    )


@dataclass
class Services:
    ws: Workspace
    pool: AccountPool
    store: ArtifactStore
    sink: RunLogSink
    scratch: Path
    options: EngineOptions
    budget: Budget
    stats: LiveStats
    rng: random.Random
    #: Remote artifacts copied to scratch for steps that need a local file.
    local_copies: LocalCopies
    progress: ProgressCallback = _no_progress
    http: httpx.AsyncClient | None = None
    #: idempotency key -> vendor task id of an accepted long-running job (resume).
    resume_tasks: dict[str, ResumeTask] = field(default_factory=dict)
    #: Judges (and speech-to-text models) by "judge:provider/model/account": why none of
    #: their calls can be made (no key, no account), None when they can. Asked once per
    #: engine, so a run without a judge's key says so once and goes on unjudged.
    unreachable: dict[str, str | None] = field(default_factory=dict)
    reuse: ReuseLookup | None = None
    #: Runs a person cancelled (``Engine.cancel``): their vendor tasks are cancelled too,
    #: where the vendor allows it, rather than left to run (and be paid for) unseen.
    cancelled_runs: set[str] = field(default_factory=set)
    #: Who runs which idempotency key right now, across processes (one payment per job).
    claims: Claims | None = None
    #: Paid answers whose storage failed, kept for the next run with the same key.
    parking: ParkingLot | None = None

    def event(
        self,
        run_id: str,
        kind: str,
        message: str,
        *,
        job_id: str | None = None,
        attempt_id: str | None = None,
        **data: Any,
    ) -> None:
        self.sink.write(
            EventRecord(
                event_id=new_id(),
                run_id=run_id,
                occurred_at=utcnow(),
                kind=kind,
                message=message,
                job_id=job_id,
                attempt_id=attempt_id,
                data=data,
            )
        )

    def may_dispatch(self) -> None:
        """Raise DispatchStopped unless a new paid call may start now: not while the run
        is stopping, and not while the run log cannot record what the call would buy."""
        stopper = self.options.stopper
        if stopper.kind is None:
            problem = self.sink.problem()
            if problem is None:
                return
            stopper.soft("runlog", f"the run log cannot be written ({problem})")
        stopper.check()

    async def http_client(self) -> httpx.AsyncClient:
        if self.http is None:
            from runner.transport import make_client

            self.http = make_client()
        return self.http
