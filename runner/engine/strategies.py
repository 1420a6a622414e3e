"""Model-mix strategies: which candidates a job tries, in what order, and what it keeps.

- fallback:   preset order; the next candidate only when one fails (the "simple" pipeline)
- weighted:   a seeded weighted shuffle, then fallback through the rest
- adaptive:   ordered by what the run log and this run have seen (success rate, latency,
              cost, and the judge's mean score where a judge scores the step), with some
              exploration; with no history it is exactly fallback
- ensemble:   several candidates at once; keep all, or the best: the highest judge score
              when a judge scored them, else (and among equal scores) by a declared rule;
              if every one fails, fall back to the remaining candidates
- sequential: a chain; each candidate refines the previous output

Trailing ``local`` candidates are the last resort and stay last in every ordering.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable, Sequence

from runner.config.model import AdaptiveSpec, ModelSpec
from runner.engine.attempts import CandidateRunner, Job, Produced, error_class
from runner.engine.offline import skipped_entry
from runner.engine.services import LiveStats, Progress, Services
from runner.errors import (
    ArtifactInvalid,
    JobFailed,
    JudgeFailed,
    JudgeRejected,
    ProviderError,
    redact,
)
from runner.providers.base import InputAsset

Indexed = tuple[int, ModelSpec]


def split_last_resort(candidates: Sequence[Indexed]) -> tuple[list[Indexed], list[Indexed]]:
    """(movable, pinned): the trailing local candidates are pinned to the end."""
    cut = len(candidates)
    while cut > 0 and candidates[cut - 1][1].provider == "local":
        cut -= 1
    return list(candidates[:cut]), list(candidates[cut:])


def weighted_order(candidates: Sequence[Indexed], rng: random.Random) -> list[Indexed]:
    movable, pinned = split_last_resort(candidates)
    order: list[Indexed] = []
    pool = list(movable)
    while pool:
        weights = [max(spec.weight, 0.0) for _, spec in pool]
        if sum(weights) <= 0:
            order += pool
            break
        pick = rng.choices(range(len(pool)), weights=weights)[0]
        order.append(pool.pop(pick))
    return order + pinned


def adaptive_order(
    candidates: Sequence[Indexed], stats: LiveStats, spec: AdaptiveSpec, rng: random.Random
) -> list[Indexed]:
    movable, pinned = split_last_resort(candidates)
    facts = {i: stats.stats(c.provider, c.model) for i, c in movable}
    latencies = [f[2] for f in facts.values() if f[2] is not None and f[0] >= spec.min_attempts]
    costs = [f[3] for f in facts.values() if f[3] is not None and f[0] >= spec.min_attempts]
    max_latency = max(latencies, default=0.0)
    max_cost = max(costs, default=0.0)
    w = spec.weights
    quality = {i: stats.quality(c.provider, c.model) for i, c in movable}

    def score(item: Indexed) -> float:
        attempts, successes, latency, cost = facts[item[0]]
        # Laplace smoothing: no history scores 0.5 for everyone, so order is preserved.
        success = (successes + 1) / (attempts + 2)
        value = w.get("success", 1.0) * success
        if attempts >= spec.min_attempts:
            if latency and max_latency:
                value -= w.get("latency", 0.0) * latency / max_latency
            if cost and max_cost:
                value -= w.get("cost", 0.0) * cost / max_cost
        # The judge's mean score (a model no judge has scored counts as middling, 0.5):
        # cheap and reliable is not enough when what it makes scores low.
        mean_score = quality[item[0]]
        value += w.get("quality", 1.0) * (0.5 if mean_score is None else mean_score)
        return value

    order = sorted(movable, key=score, reverse=True)  # stable: ties keep preset order
    if len(order) > 1 and rng.random() < spec.exploration:
        explored = order.pop(rng.randrange(1, len(order)))
        order.insert(0, explored)
    return order + pinned


class StrategyRunner:
    def __init__(self, services: Services, job: Job) -> None:
        self.sv = services
        self.job = job
        self.last_kind = "exhausted"

    async def run(self) -> list[Produced]:
        plan = self.job.plan
        candidates = list(enumerate(plan.candidates))
        if not candidates:
            raise JobFailed(plan.id, "no candidates: the preset lists no usable model")
        strategy = plan.strategy
        if strategy == "weighted":
            return [await self.fallback(weighted_order(candidates, self.sv.rng))]
        if strategy == "adaptive":
            spec = plan.preset.adaptive if plan.preset else AdaptiveSpec()
            order = adaptive_order(candidates, self.sv.stats, spec, self.sv.rng)
            self.sv.event(
                self.job.run_id,
                "adaptive_order",
                "candidates ordered by history: " + ", ".join(s.label for _, s in order),
                job_id=self.job.job_id,
                order=[s.label for _, s in order],
            )
            return [await self.fallback(order)]
        if strategy == "ensemble":
            return await self.ensemble(candidates)
        if strategy == "sequential":
            return [await self.sequential(candidates)]
        return [await self.fallback(candidates)]

    async def _try(self, runner: CandidateRunner) -> Produced | None:
        """One candidate; None (with an event saying why) when it cannot produce, or when
        it handed the job to a later candidate (``runner.handed_off``)."""
        spec = runner.spec
        try:
            return await runner.run()
        except (ProviderError, ArtifactInvalid, JudgeRejected, JudgeFailed) as exc:
            self.last_kind = error_class(exc)
            if runner.handed_off:
                return None  # not done with: the strategy says where the job went
            kind = "candidate_skipped" if self.last_kind == "unavailable" else "candidate_failed"
            message = redact(f"{spec.label}: {error_class(exc)}: {exc}")
            if kind == "candidate_skipped":
                self.job.failures.append(message)
            entry = skipped_entry(spec, exc)
            self.job.skipped.append(entry)
            # missing_env and enable let `mediamix report --skipped` say what to set.
            self.sv.event(
                self.job.run_id,
                kind,
                message,
                job_id=self.job.job_id,
                provider=spec.provider,
                model=spec.model,
                error_class=error_class(exc),
                **({"missing_env": entry["missing_env"]} if entry["missing_env"] else {}),
                **({"enable": entry["enable"]} if entry["enable"] else {}),
            )
            self.sv.progress(
                Progress(kind, self.job.plan.id, self.job.job_id, message, entry | self.job.where)
            )
            return None

    def _runner(self, index: int, spec: ModelSpec, job: Job | None = None) -> CandidateRunner:
        return CandidateRunner(self.sv, job or self.job, spec, index)

    def _next_can_take_now(
        self, queue: deque[CandidateRunner], remote: list[CandidateRunner]
    ) -> Callable[[], bool]:
        """Whether the candidate that would run next (the head of ``queue``: a later one,
        or one that handed the job on earlier and waits for its remaining attempts) is a
        remote one that could take the job's call this moment (the pool's answer: key, no
        cooldown, a free slot): what lets a failure move on at once instead of sleeping.
        A candidate that resumed after handing off has no alternative any more
        (``CandidateRunner.resume``), so moving at once always ends in a backoff."""
        pool = self.sv.pool

        def ready() -> bool:
            if not queue or queue[0] not in remote:
                return False  # nothing left, or only the local last resort
            nxt = queue[0]
            return nxt.failover.attempts_left > 0 and pool.ready_now(
                nxt.spec.provider,
                nxt.spec.model,
                account=nxt.spec.account,
                needs_key=nxt.provider.needs_key,
                tokens=nxt.failover.tokens,
            )

        return ready

    def _fail(self) -> JobFailed:
        tried = "; ".join(self.job.failures[-6:]) or "no candidate could run"
        return JobFailed(self.job.plan.id, f"every candidate failed ({tried})", kind=self.last_kind)

    async def fallback(self, order: Sequence[Indexed]) -> Produced:
        """Candidates in ``order`` until one produces. A failure that blames an account
        hands the job at once to the candidate that would run next when it can take the
        call now; the candidate handed from keeps its remaining attempts and gets them
        after the later candidates, at once if the last of them fails and it can take
        the call, then with its backoffs. The trailing local candidates, the last
        resort, are never handed to: they run only when every remote one is done."""
        movable, pinned = split_last_resort(order)
        remote = [self._runner(index, spec) for index, spec in movable]
        last_resort = [self._runner(index, spec) for index, spec in pinned]
        queue: deque[CandidateRunner] = deque(remote + last_resort)
        for runner in remote:
            runner.failover.alternative = self._next_can_take_now(queue, remote)
        try:
            while queue:
                runner = queue.popleft()
                produced = await self._try(runner)
                if produced is not None:
                    return produced
                if runner.handed_off:
                    runner.resume()
                    # Back for its remaining attempts after the later remote candidates.
                    queue.insert(len(queue) - sum(r in last_resort for r in queue), runner)
                if queue:
                    self._moving_on(runner, queue[0])
            raise self._fail()
        finally:
            # Each alternative closes over the queue that holds its runner: a reference
            # cycle per job. Left alone, only the cyclic collector could free a job's
            # runners, and it walked every job in flight to find them (measured: 24
            # objects a job, collections of 20-50 ms each at concurrency 200).
            for runner in remote:
                runner.failover.alternative = None

    def _moving_on(self, runner: CandidateRunner, nxt: CandidateRunner) -> None:
        spec = runner.spec
        if runner.handed_off:
            left = runner.failover.attempts_left
            message = (
                f"{spec.label} failed on account {runner.account} ({self.last_kind}); "
                f"{nxt.spec.label} can take the call now, so the job moves there at once "
                f"({left} attempt{'s' if left != 1 else ''} of {spec.label} kept for later)"
            )
        elif nxt.failover.made:
            left = nxt.failover.attempts_left
            message = (
                f"{spec.label} gave no valid artifact; back to {nxt.spec.label} "
                f"for its {left} remaining attempt{'s' if left != 1 else ''}"
            )
        else:
            message = f"{spec.label} gave no valid artifact; falling back to {nxt.spec.label}"
        self.sv.event(
            self.job.run_id,
            "fallback",
            message,
            job_id=self.job.job_id,
            from_candidate=spec.label,
            to_candidate=nxt.spec.label,
            at_once=runner.handed_off,
        )

    async def ensemble(self, candidates: list[Indexed]) -> list[Produced]:
        plan = self.job.plan
        spec = plan.preset.ensemble if plan.preset else None
        movable, pinned = split_last_resort(candidates)
        if not movable:
            movable, pinned = pinned, []
        size = spec.size if spec and spec.size else len(movable)
        group, rest = movable[:size], movable[size:] + pinned
        results = await asyncio.gather(*(self._try(self._runner(i, s)) for i, s in group))
        produced = [p for p in results if p is not None]
        if not produced:
            self.sv.event(
                self.job.run_id,
                "fallback",
                "every ensemble member failed; falling back to the remaining candidates",
                job_id=self.job.job_id,
            )
            if not rest:
                raise self._fail()
            return [await self.fallback(rest)]
        if spec is None or spec.keep == "all":
            return produced
        best = choose_best(produced, spec.rule)
        for other in produced:
            if other is not best:
                other.discard()
                if other.cost_usd is not None:
                    self.job.paid.append(other.cost_usd)  # paid for, though not kept
        scores = {p.spec.label: p.score for p in produced if p.score is not None}
        by = f"judge score {best.score:.2f}, then rule {spec.rule!r}" if scores else None
        self.sv.event(
            self.job.run_id,
            "ensemble_choice",
            f"kept {best.spec.label} of {len(produced)} by {by or f'rule {spec.rule!r}'}",
            job_id=self.job.job_id,
            kept=best.spec.label,
            rule=spec.rule,
            scores=scores or None,
        )
        return [best]

    async def sequential(self, candidates: list[Indexed]) -> Produced:
        previous: Produced | None = None
        for index, spec in candidates:
            job = self.job if previous is None else self._refine_job(previous)
            produced = await self._try(self._runner(index, spec, job))
            self.job.attempts = max(self.job.attempts, job.attempts)
            if produced is None:
                continue
            if previous is not None:
                previous.discard()
                self.sv.event(
                    self.job.run_id,
                    "refined",
                    f"{spec.label} refined the output of {previous.spec.label}",
                    job_id=self.job.job_id,
                )
            previous = produced
        if previous is None:
            raise self._fail()
        return previous

    def _refine_job(self, previous: Produced) -> Job:
        base = self.job
        asset = InputAsset(
            media_type=base.plan.media_type,  # type: ignore[arg-type]
            mime=previous.facts.mime,
            path=str(previous.path) if previous.path is not None else None,
            text=previous.text,
            step=base.plan.id,
        )
        prompt = base.prompt
        if previous.text is not None:
            prompt = (
                f"{base.prompt}\n\nImprove this draft; keep what works, fix what does not:"
                f"\n\n{previous.text}"
            )
        refined = Job(**{**base.__dict__, "prompt": prompt, "inputs": [*base.inputs, asset]})
        refined.failures = base.failures
        return refined


def choose_best(produced: list[Produced], rule: str) -> Produced:
    """The highest judge score wins (an unscored artifact ranks below any scored one);
    among equal scores, or with no judge, the declared rule decides."""
    scored = [p.score for p in produced if p.score is not None]
    if scored:
        top = max(scored)
        produced = [p for p in produced if p.score == top]
    return _by_rule(produced, rule)


def _by_rule(produced: list[Produced], rule: str) -> Produced:
    if rule == "first":
        return produced[0]
    if rule == "fastest":
        return min(produced, key=lambda p: p.latency_ms)
    if rule == "cheapest":
        return min(produced, key=lambda p: (p.cost_usd is None, p.cost_usd or 0.0))
    if rule == "longest_text":
        return max(produced, key=lambda p: len(p.text or ""))
    return max(produced, key=lambda p: p.facts.size)
