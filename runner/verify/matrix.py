"""The verification matrix: every media type x workflow, each artifact checked as a real file.

Each case is a one-shot generation (the preset a ``generate`` of that media type and
workflow would pick) through the configured accounts, or, offline, through the ``local``
generators only. A case passes when its job succeeded and every stored artifact, read
back from storage, passes validation again. ``until_pass`` re-runs failing cases until
they pass or the deadline, like the original system's verification loop.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from runner.config.model import Judge
from runner.config.project import Workspace
from runner.engine.api import finish_runlog, one_shot_plan, open_runlog
from runner.engine.outputs import ArtifactOutput
from runner.engine.plan import Plan, StepPlan
from runner.engine.run import Engine
from runner.engine.services import EngineOptions
from runner.errors import ArtifactInvalid, MediamixError, redact
from runner.providers.base import MEDIA_TYPES
from runner.runlog.store import NoticeCallback
from runner.storage import ArtifactStore
from runner.validation import validate_file
from runner.verify.judge import judge_for

WORKFLOWS: tuple[str, ...] = ("simple", "adaptive")

PROMPTS: dict[str, str] = {
    "image": "A lighthouse on a rocky coast at dawn, watercolour",
    "video": "A lighthouse on a rocky coast at dawn, slow pan",
    "audio": "This is the mediamix verification. One, two, three.",
    "text": "Write two sentences about how lighthouses guide ships.",
    "document": "# mediamix verification\n\nThis document checks the document generators.",
}


@dataclass(frozen=True)
class Case:
    media_type: str
    workflow: str

    @property
    def name(self) -> str:
        return f"{self.media_type}-{self.workflow}"


@dataclass
class CaseResult:
    case: Case
    passed: bool
    time_s: float
    message: str = ""
    error_class: str | None = None
    provider: str | None = None
    model: str | None = None
    uri: str | None = None
    run_id: str | None = None
    #: How many times the case ran (more than one with ``until_pass``).
    rounds: int = 1
    #: The judge's score of the kept artifact (``--judge``, or a judge in the preset).
    score: float | None = None
    score_reason: str | None = None
    #: provider/model of the judge this case had, if any.
    judge: str | None = None


@dataclass
class VerifyResult:
    results: list[CaseResult]
    offline: bool
    time_s: float
    rounds: int = 1
    deadline_hit: bool = False
    failures: list[CaseResult] = field(init=False)

    def __post_init__(self) -> None:
        self.failures = [r for r in self.results if not r.passed]

    @property
    def passed(self) -> bool:
        return not self.failures and bool(self.results)

    def as_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "offline": self.offline,
            "cases": len(self.results),
            "failed": len(self.failures),
            "rounds": self.rounds,
            "deadline_hit": self.deadline_hit,
            "time_s": round(self.time_s, 3),
            "results": [
                {
                    "case": r.case.name,
                    "media_type": r.case.media_type,
                    "workflow": r.case.workflow,
                    "passed": r.passed,
                    "time_s": round(r.time_s, 3),
                    "message": r.message,
                    "error_class": r.error_class,
                    "provider": r.provider,
                    "model": r.model,
                    "uri": r.uri,
                    "run_id": r.run_id,
                    "rounds": r.rounds,
                    "judge": r.judge,
                    "score": r.score,
                }
                for r in self.results
            ],
        }


def all_cases() -> list[Case]:
    return [Case(m, w) for m in MEDIA_TYPES for w in WORKFLOWS]


def case_plan(ws: Workspace, case: Case, *, offline: bool, judge: Judge | None = None) -> Plan:
    plan = one_shot_plan(
        ws, media_type=case.media_type, prompt=PROMPTS[case.media_type], workflow=case.workflow
    )
    if judge is not None:
        chosen = judge_for(judge, case.media_type)
        plan = replace(plan, steps=tuple(replace(sp, judge=chosen) for sp in plan.steps))
    if not offline:
        return plan
    return replace(plan, steps=tuple(_local_only(sp) for sp in plan.steps))


def _local_only(sp: StepPlan) -> StepPlan:
    return replace(sp, candidates=tuple(c for c in sp.candidates if c.provider == "local"))


async def recheck(store: ArtifactStore, artifact: ArtifactOutput, sp: StepPlan) -> None:
    """Validate the stored file again, read back from storage (a download when remote)."""
    local = await store.open_local(artifact.uri) if store.is_local else None
    if local is not None:
        await asyncio.to_thread(validate_file, local, sp.media_type, sp.validate)
        return
    data = await store.read_bytes(artifact.uri)
    suffix = Path(artifact.uri).suffix
    with tempfile.TemporaryDirectory(prefix="mediamix-verify-") as tmp:
        copy = Path(tmp) / f"artifact{suffix}"
        copy.write_bytes(data)
        await asyncio.to_thread(validate_file, copy, sp.media_type, sp.validate)


async def run_case(
    engine: Engine, ws: Workspace, case: Case, *, offline: bool, judge: Judge | None = None
) -> CaseResult:
    t0 = time.perf_counter()
    judged_by: str | None = None
    try:
        plan = case_plan(ws, case, offline=offline, judge=judge)
        sp = plan.steps[0]
        judged_by = sp.judge.label if sp.judge else None
        if not sp.candidates:
            where = "local generator" if offline else "model"
            raise MediamixError(f"no {where} can make {case.media_type} here")
        result = await engine.run(plan)
        job = result.jobs[0] if result.jobs else None
        if job is None or job.status != "succeeded" or not job.artifacts:
            why = job.error if job is not None and job.error else f"run {result.status}"
            return CaseResult(
                case,
                False,
                time.perf_counter() - t0,
                message=why,
                error_class=job.error_class if job is not None else None,
                run_id=result.run_id,
                judge=judged_by,
            )
        first = job.artifacts[0]
        for artifact in job.artifacts:
            await recheck(engine.services.store, artifact, sp)
    except ArtifactInvalid as exc:
        return CaseResult(
            case,
            False,
            time.perf_counter() - t0,
            redact(f"stored file: {exc}"),
            "invalid_artifact",
            judge=judged_by,
        )
    except MediamixError as exc:
        return CaseResult(
            case,
            False,
            time.perf_counter() - t0,
            redact(str(exc)),
            type(exc).__name__,
            judge=judged_by,
        )
    scored = f", score {first.score:.2f}" if first.score is not None else ""
    return CaseResult(
        case,
        True,
        time.perf_counter() - t0,
        message=f"{first.provider}/{first.model}: {first.mime}, {first.size} bytes{scored}",
        provider=first.provider,
        model=first.model,
        uri=first.uri,
        run_id=result.run_id,
        score=first.score,
        score_reason=first.score_reason,
        judge=judged_by,
    )


async def verify(
    ws: Workspace,
    *,
    offline: bool = False,
    until_pass: bool = False,
    deadline_s: float | None = None,
    options: EngineOptions | None = None,
    cases: list[Case] | None = None,
    judge: Judge | None = None,
    notify: NoticeCallback | None = None,
) -> VerifyResult:
    """Run the matrix (all cases at once, one Engine); with ``until_pass`` re-run failures.

    Every case is made afresh: the engine does not hand one case another's result even
    when their jobs share an idempotency key."""
    t0 = time.monotonic()
    options = replace(options or EngineOptions(), claim_jobs=False)
    todo = cases if cases is not None else all_cases()
    latest: dict[Case, CaseResult] = {}
    rounds = 0
    deadline_hit = False
    runlog = open_runlog(ws)
    with runlog.writer() as sink:
        async with Engine(ws, sink, options=options) as engine:
            while todo:
                rounds += 1
                found = await asyncio.gather(
                    *(run_case(engine, ws, c, offline=offline, judge=judge) for c in todo)
                )
                for r in found:
                    r.rounds = latest[r.case].rounds + 1 if r.case in latest else 1
                    latest[r.case] = r
                todo = [r.case for r in found if not r.passed]
                if not until_pass or not todo:
                    break
                if deadline_s is not None and time.monotonic() - t0 >= deadline_s:
                    deadline_hit = True
                    break
    await finish_runlog(runlog, sink, notify or (lambda message: None))
    ordered = [latest[c] for c in (cases if cases is not None else all_cases())]
    return VerifyResult(
        ordered, offline, time.monotonic() - t0, rounds=rounds, deadline_hit=deadline_hit
    )
