"""``--dry-run``: the plan with what this machine can actually run, calling nothing.

Each candidate is checked the way a run would acquire it (key set, account active, some
account serving the model); unavailable ones are marked with why and what would enable
them, and the worst-case time and cost are computed over the available ones only.

Worst-case cost per job: every attempt of every available candidate paid for (a vendor
charges for an answer that then fails validation). Prompts are rendered from the inputs
(and the first for_each item); text an earlier step would write counts as
``ASSUMED_STEP_TEXT_CHARS`` characters, the length the budget's estimates assume a text
answer has. A model without a known price makes the cost a lower bound, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner import pricing
from runner.config.model import ModelSpec
from runner.config.project import Workspace
from runner.engine.accounts import AccountPool
from runner.engine.offline import OFFLINE_PROVIDER, enable_hint
from runner.engine.outputs import ArtifactOutput, StepOutput
from runner.engine.plan import Plan, StepPlan, merged_params
from runner.engine.templating import evaluate, render, render_params, template_names
from runner.errors import MediamixError, redact
from runner.providers.registry import get_provider

#: What a dry run assumes an earlier step's text to be: the ~1,000 output tokens the
#: budget's estimates assume a text answer has (4 characters a token).
ASSUMED_STEP_TEXT_CHARS = pricing.DEFAULT_OUTPUT_TOKENS * 4


def _assumed_output(step: StepPlan) -> StepOutput:
    text = "x" * ASSUMED_STEP_TEXT_CHARS if step.media_type == "text" else None
    artifact = ArtifactOutput(
        media_type=step.media_type,
        mime="text/plain" if text is not None else "application/octet-stream",
        uri=f"dry-run://{step.id}",
        path=None,
        public_url=None,
        size=len(text or ""),
        sha256="",
        provider="",
        model="",
        text=text,
    )
    return StepOutput(step.id, [artifact])


class DryRun:
    def __init__(self, plan: Plan, ws: Workspace) -> None:
        self.plan = plan
        self.ws = ws
        self.pool = AccountPool(ws.accounts)
        self.outputs = {s.id: _assumed_output(s) for s in plan.steps}

    def _context(self, item: Any = None, index: int | None = None) -> dict[str, Any]:
        return template_names(
            inputs=self.plan.inputs,
            outputs=self.outputs,
            pipeline=self.plan.pipeline.name,
            run={"id": "dry-run", "started_at": ""},
            item=item,
            index=index,
        )

    def items(self, sp: StepPlan) -> list[Any] | None:
        """The for_each items when the inputs alone decide them (None: known at run time)."""
        if sp.step.for_each is None:
            return [None]
        try:
            value = evaluate(sp.step.for_each, self._context(), step=sp.id, what="for_each")
        except MediamixError:
            return None
        if isinstance(value, Mapping):
            value = list(value.items())
        return list(value) if isinstance(value, list | tuple) else None

    def _prompt_and_params(self, sp: StepPlan, item: Any) -> tuple[str, Any]:
        context = self._context(item, 0 if sp.step.for_each is not None else None)
        try:
            prompt = render(sp.step.prompt, context, step=sp.id)
        except MediamixError:
            prompt = sp.step.prompt
        try:
            params = render_params(sp.step.params, context, step=sp.id)
        except MediamixError:
            params = sp.step.params
        return prompt, params

    def _candidate(self, sp: StepPlan, spec: ModelSpec, prompt: str, params: Any) -> dict[str, Any]:
        needs_key = get_provider(spec.provider).needs_key
        unavailable = self.pool.availability(
            spec.provider, spec.model, account=spec.account, needs_key=needs_key
        )
        accounts = self.pool.accounts_for(spec.provider, spec.model, spec.account)
        prices = accounts[0].prices if accounts else None
        merged = merged_params(
            sp.preset.params if sp.preset else None, spec.params, params, provider=spec.provider
        )
        each = pricing.estimate_cost_usd(
            spec.provider, spec.model, sp.media_type, prompt, merged, prices or None
        )
        return {
            "available": unavailable is None,
            "unavailable": redact(str(unavailable)) if unavailable else None,
            "enable": enable_hint(spec.label, unavailable) if unavailable else None,
            "missing_env": list(unavailable.missing_env) if unavailable else [],
            "cost_per_attempt_usd": each,
        }

    def _accounts_serving(self, spec: ModelSpec) -> int:
        return len(self.pool.accounts_for(spec.provider, spec.model, spec.account))

    def describe(self) -> dict[str, Any]:
        """``Plan.describe()`` plus availability, job counts and worst-case cost (these
        keys are added; the plan's own keys keep their meaning, except that the
        worst-case times now count only the candidates that can run)."""
        info = self.plan.describe()
        per_step: dict[str, float] = {}
        every: dict[str, float] = {}  # the same with every candidate, available or not
        total_cost = 0.0
        unpriced: list[str] = []
        for step_info, sp in zip(info["steps"], self.plan.steps, strict=True):
            items = self.items(sp)
            prompt, params = self._prompt_and_params(sp, (items or [None])[0])
            available: list[ModelSpec] = []
            step_cost = 0.0
            for cand_info, spec in zip(step_info["candidates"], sp.candidates, strict=True):
                cand_info.update(self._candidate(sp, spec, prompt, params))
                if not cand_info["available"]:
                    continue
                available.append(spec)
                each = cand_info["cost_per_attempt_usd"]
                if each is None:
                    unpriced.append(spec.label)
                else:
                    step_cost += each * sp.retry.max_attempts
            worst = sp.worst_case_s(tuple(available), self._accounts_serving)
            per_step[sp.id] = worst
            jobs = len(items) if items is not None else None
            step_info["worst_case_s"] = round(worst, 1)
            every[sp.id] = sp.worst_case_s(accounts=self._accounts_serving)
            step_info["worst_case_all_candidates_s"] = round(every[sp.id], 1)
            step_info["worst_case_cost_usd"] = round(step_cost, 6)
            step_info["jobs"] = jobs
            step_info["available_candidates"] = len(available)
            step_info["offline"] = bool(available) and available[0].provider == OFFLINE_PROVIDER
            total_cost += step_cost * (jobs or 1)
        info["worst_case_s"] = round(self.plan.critical_path_s(per_step), 1)
        info["worst_case_all_candidates_s"] = round(self.plan.critical_path_s(every), 1)
        info["worst_case_cost_usd"] = round(total_cost, 6)
        info["jobs_known"] = all(s["jobs"] is not None for s in info["steps"])
        info["unpriced_candidates"] = sorted(set(unpriced))
        return info


def describe_plan(plan: Plan, ws: Workspace) -> dict[str, Any]:
    """The plan as ``--dry-run`` shows it (human or ``--json``)."""
    return DryRun(plan, ws).describe()
