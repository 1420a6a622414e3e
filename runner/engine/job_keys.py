"""Idempotency keys: the same pipeline, step, resolved config and inputs give the same key.

A key is the SHA-256 of ``json.dumps(key_material(...), sort_keys=True, default=str)``.
Every run log ever written holds keys made that way (reuse, ``--resume`` and claims find
earlier work by them), so that text must never change by a byte. Most of it is the same
for every job of a step (its candidates, preset, validation, judge), so :class:`JobKeys`
encodes that part once per step and fills in only what varies per job (the prompt, its
params, inputs, item position and the pipeline's name). JSON text of an object with
sorted keys is its entries' texts in key order, so the result is the same text.
"""

from __future__ import annotations

import hashlib
import json
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.engine.plan import StepPlan
    from runner.providers.base import InputAsset

#: ``json.dumps(value, sort_keys=True, default=str)``, without building an encoder a call.
_encode = json.JSONEncoder(sort_keys=True, default=str).encode

#: The material's entries that vary from job to job, in sorted order.
_VARYING = ("inputs", "item_index", "params", "pipeline", "prompt")


def key_material(
    pipeline: str,
    sp: StepPlan,
    prompt: str,
    params: Any,
    inputs: list[InputAsset],
    item_index: int | None = None,
) -> dict[str, Any]:
    """What a key is the digest of. A for_each item's position is part of it: four items
    with one prompt are four pictures wanted, not one bought four times."""
    material = {
        "pipeline": pipeline,
        "step": sp.id,
        "item_index": item_index,
        "media_type": sp.media_type,
        "strategy": sp.strategy,
        "prompt": prompt,
        "params": params,
        "preset_params": sp.preset.params if sp.preset else None,
        "candidates": [[c.provider, c.model, c.account, c.params] for c in sp.candidates],
        "validate": sp.validate,
        "inputs": _identities(inputs),
    }
    if sp.judge is not None:
        # A judge changes what counts as done; without one the key is what it always was.
        material["judge"] = [
            sp.judge.provider, sp.judge.model, sp.judge.rubric, sp.judge.min_score,
            sp.judge.on_judge_error,
        ]  # fmt: skip
    return material


class JobKeys:
    """The keys of one step's jobs, with the step's share of the JSON text encoded once."""

    __slots__ = ("_between",)

    def __init__(self, sp: StepPlan) -> None:
        constant = key_material("", sp, "", None, [])
        for name in _VARYING:
            del constant[name]
        # The text before, between and after the varying entries' values.
        between: list[str] = []
        text = "{"
        for n, name in enumerate(sorted([*constant, *_VARYING])):
            text += (", " if n else "") + encode_basestring_ascii(name) + ": "
            if name in constant:
                text += _encode(constant[name])
            else:
                between.append(text)
                text = ""
        between.append(text + "}")
        self._between = tuple(between)

    def key(
        self,
        pipeline: str,
        prompt: str,
        params: Any,
        inputs: list[InputAsset],
        item_index: int | None = None,
    ) -> str:
        """The key :func:`key_material` defines, for one job of this step."""
        # The varying entries in sorted order: inputs, item_index, params, pipeline, prompt.
        b = self._between
        blob = (
            f"{b[0]}{_encode(_identities(inputs)) if inputs else '[]'}"
            f"{b[1]}{'null' if item_index is None else _text(item_index)}"
            f"{b[2]}{_params_text(params)}{b[3]}{_text(pipeline)}{b[4]}{_text(prompt)}{b[5]}"
        )
        return hashlib.sha256(blob.encode()).hexdigest()


def _identities(inputs: list[InputAsset]) -> list[str | None]:
    """The inputs by content, so a resumed or repeated run with the same inputs finds the
    same key."""
    return [a.sha256 or a.url or a.path or a.text for a in inputs]


def _text(value: Any) -> str:
    """The JSON text of a value that is nearly always a str (or an int): as ``_encode``
    writes it, without an encoder's set-up."""
    kind = type(value)
    if kind is str:
        return encode_basestring_ascii(value)
    return str(value) if kind is int else _encode(value)


def _params_text(params: Any) -> str:
    """The params' JSON text; a step without params (most) has none to encode."""
    if params is None:
        return "null"
    if type(params) is dict and not params:
        return "{}"
    return _encode(params)
