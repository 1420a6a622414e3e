"""Idempotency keys never change: every run log holds keys made by hashing
``json.dumps(key_material(...), sort_keys=True, default=str)``, and reuse, ``--resume`` and
claims find earlier work by them. :class:`JobKeys` encodes a step's share of that text once;
its keys must be those very digests."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.config.project import load_workspace
from runner.engine.api import plan_pipeline
from runner.engine.job_keys import JobKeys, key_material
from runner.engine.plan import StepPlan
from runner.providers.base import InputAsset
from tests.benchmarks.projects import openai_project


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StepPlan]:
    """A text step (two candidates, preset and step params) and a judged image step."""
    project = openai_project(tmp_path_factory.mktemp("keys") / "p", "http://127.0.0.1:9")
    models = [
        {"provider": "openai", "model": "gpt-4o-mini", "params": {"temperature": 0.25, "seed": 7}},
        {"provider": "openai", "model": "gpt-4o"},
    ]
    params = {"max_tokens": 99, "stop": ["\n", "é"]}
    project.write(
        "presets/p.yaml", json.dumps({"media_type": "text", "models": models, "params": params})
    )
    judged = {
        "media_type": "image",
        "models": [{"provider": "openai", "model": "dall-e-2", "params": {"size": "512x512"}}],
        "judge": {"provider": "openai", "model": "gpt-4.1-mini", "min_score": 0.5},
    }
    project.write("presets/j.yaml", json.dumps(judged))
    pipeline = {
        "steps": [
            {"id": "text", "preset": "p", "prompt": "say {{ 1 }}", "params": {"temperature": 0.5}},
            {"id": "pic", "preset": "j", "prompt": "draw"},
        ]
    }
    project.write("pipelines/k.yaml", json.dumps(pipeline))
    plan = plan_pipeline(project.root / "pipelines/k.yaml", load_workspace(project.root), {})
    return {step.id: step for step in plan.steps}


def defined_key(
    pipeline: str, sp: StepPlan, prompt: Any, params: Any, inputs: list[InputAsset], index: Any
) -> str:
    material = key_material(pipeline, sp, prompt, params, inputs, index)
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


PICTURE = InputAsset(media_type="image", mime="image/png", sha256="ab" * 32)
TEXT = InputAsset(media_type="text", mime="text/plain", text="x")


@pytest.mark.parametrize(
    ("pipeline", "step", "prompt", "params", "inputs", "index", "key"),
    [
        ("k", "text", "say 1", {"temperature": 0.5}, [], None,
         "9f516a9392c141514e911a3b0ecc0a8dd0b82ee54c8989788584a225745dcb0a"),
        ("k", "text", 'Ünïcode "quoted" \\ and \U0001f600 emoji\n',
         {"temperature": 0.5, "logit_bias": {"50256": -100}}, [], 3,
         "7a6b88deaab0b74684bfe9c0e0838aad58da1b97b44b34c67533bd9f4a4763bf"),
        ("k", "pic", "draw", {}, [PICTURE], 0,
         "103c886da721d125f2264d973cd9d22d2d55553efdf648547c4e7c17830a6cb4"),
        ("cards/2026", "pic", "", None, [TEXT], None,
         "14afdc876c8c248a2941f9a052eee645a5ae9c3139ff79abbacc56bfa6be08db"),
    ],
)  # fmt: skip
def test_keys_are_the_ones_earlier_versions_wrote(
    steps: dict[str, StepPlan],
    pipeline: str,
    step: str,
    prompt: str,
    params: Any,
    inputs: list[InputAsset],
    index: int | None,
    key: str,
) -> None:
    """Digests written by mediamix before keys were assembled per step (0a7033a)."""
    assert steps[step].job_keys.key(pipeline, prompt, params, inputs, index) == key
    assert defined_key(pipeline, steps[step], prompt, params, inputs, index) == key


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
assets = st.builds(
    InputAsset,
    media_type=st.sampled_from(["image", "text"]),
    mime=st.just("image/png"),
    path=st.none() | st.text(max_size=8),
    url=st.none() | st.text(max_size=8),
    text=st.none() | st.text(max_size=8),
    sha256=st.none() | st.text(alphabet="0123456789abcdef", min_size=1, max_size=64),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    step=st.sampled_from(["text", "pic"]),
    pipeline=st.text(),
    prompt=st.text(st.characters(exclude_categories=())),
    params=json_values,
    inputs=st.lists(assets, max_size=3),
    index=st.none() | st.integers(min_value=0),
)
def test_every_key_is_the_digest_of_its_material(
    steps: dict[str, StepPlan],
    step: str,
    pipeline: str,
    prompt: str,
    params: Any,
    inputs: list[InputAsset],
    index: int | None,
) -> None:
    """Any prompt (lone surrogates and all), params, inputs and item position."""
    sp = steps[step]
    expected = defined_key(pipeline, sp, prompt, params, inputs, index)
    assert sp.job_keys.key(pipeline, prompt, params, inputs, index) == expected


def test_a_step_encodes_its_share_once(steps: dict[str, StepPlan]) -> None:
    assert steps["text"].job_keys is steps["text"].job_keys
    assert isinstance(steps["text"].job_keys, JobKeys)
