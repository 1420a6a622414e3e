"""The collector's pace during runs: raised while jobs are in flight, the program's own
setting back afterwards, and a program's own choice never overridden."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.config.project import load_workspace
from runner.engine.api import plan_pipeline, run_plan
from runner.engine.collector import YOUNG_THRESHOLD, paced_for_a_run
from runner.engine.services import EngineOptions
from runner.providers.base import CallContext, GenerationRequest, GenerationResult
from tests.engine_support import Scripted, ScriptedProvider, make_project, preset_yaml


@pytest.fixture(autouse=True)
def thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def test_the_threshold_is_raised_inside_and_put_back_after() -> None:
    with paced_for_a_run():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_overlapping_runs_put_it_back_only_when_the_last_one_ends() -> None:
    first, second = paced_for_a_run(), paced_for_a_run()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD  # the second run is still in flight
    second.__exit__(None, None, None)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_run_that_fails_still_puts_it_back() -> None:
    with pytest.raises(RuntimeError), paced_for_a_run():
        raise RuntimeError("a job blew up")
    assert gc.get_threshold() == (700, 10, 10)


@pytest.mark.parametrize("own", [(0, 10, 10), (100_000, 10, 10)])
def test_a_programs_own_choice_is_kept(own: tuple[int, int, int]) -> None:
    gc.set_threshold(*own)  # collection off, or a higher threshold than ours
    with paced_for_a_run():
        assert gc.get_threshold() == own
    assert gc.get_threshold() == own


def test_a_threshold_changed_during_a_run_is_left_as_changed() -> None:
    with paced_for_a_run():
        gc.set_threshold(5_000, 10, 10)  # the program changed its mind meanwhile
    assert gc.get_threshold() == (5_000, 10, 10)


class _Watching(ScriptedProvider):
    """Notes the collector's threshold while a job's call is in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []

    async def generate(self, request: GenerationRequest, ctx: CallContext) -> GenerationResult:
        self.seen.append(gc.get_threshold()[0])
        return await super().generate(request, ctx)


def words_project(root: Path, models: list[str]) -> Path:
    """A text step of scripted ``models`` over the input list ``names``."""
    project = make_project(root)
    project.write("presets/words.yaml", preset_yaml("text", models))
    project.write(
        "pipelines/p.yaml",
        """\
inputs:
  names: {type: list, default: []}
steps:
  - {id: each, preset: words, prompt: "say {{ item }}", for_each: inputs.names}
""",
    )
    return project.root


def test_an_engine_run_raises_it_while_jobs_run(tmp_path: Path) -> None:
    root = words_project(tmp_path, ["m1"])
    with Scripted(_Watching()) as provider:
        ws = load_workspace(root)
        plan = plan_pipeline(root / "pipelines/p.yaml", ws, {"names": ["x", "y", "z"]})
        result = asyncio.run(run_plan(plan, ws, options=EngineOptions(no_wait=True)))
    assert result.status == "succeeded"
    assert isinstance(provider, _Watching) and provider.seen == [YOUNG_THRESHOLD] * 3
    assert gc.get_threshold() == (700, 10, 10)


def test_finished_jobs_leave_no_reference_cycles(tmp_path: Path) -> None:
    """A job's objects are freed as it ends (reference counts), not left in cycles for the
    collector to find: in a long run those cycles made every young collection walk all the
    jobs in flight. Failing over between two candidates (the closures that decide whether
    to move at once) is the path that used to leave 24 objects a job."""
    root = words_project(tmp_path, ["m1", "m2"])
    jobs = 40
    with Scripted(ScriptedProvider()) as provider:
        # For the warm-up run and the measured one: some jobs fail over to m2.
        provider.script("m1", *(["transient", "permanent", "ok", "ok"] * (jobs // 2)))
        ws = load_workspace(root)
        plan = plan_pipeline(root / "pipelines/p.yaml", ws, {"names": list(range(jobs))})
        options = EngineOptions(no_wait=True, concurrency=4)
        asyncio.run(run_plan(plan, ws, options=options))  # warm: imports and caches
        gc.collect()
        gc.disable()
        try:
            result = asyncio.run(run_plan(plan, ws, options=options))
            found = gc.collect()
        finally:
            gc.enable()
    assert result.status == "succeeded"
    assert found < jobs, f"{found} objects in reference cycles after {jobs} jobs"
