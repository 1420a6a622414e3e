"""The projects the benchmarks run: one text step, against the fake server's OpenAI API.

``bench_project`` is the engine benchmark's project (one account, one model) unless asked
for the harness's shape: two accounts of the same vendor (what LiteLLM calls two
deployments) and a fallback model after the first, the way a user who wants a run to
survive 429s and 500s writes it. The same project carries a batch pipeline of one step, so
a batch row and an engine job run the same preset through the same accounts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.batch_support import PIPELINE as BATCH_PIPELINE
from tests.engine_support import Project, make_project

#: Environment variables of the accounts' (dummy) keys; the fake server accepts any key.
KEY_ENVS = ("MMX_BENCH_KEY", "MMX_BENCH_KEY_B")
MODEL = "gpt-4o-mini"
FALLBACK_MODEL = "gpt-4o"
#: The batch pipeline's name (``prepare_batch(ws, BATCH, rows, options)``).
BATCH = "notes"


#: One step of preset ``p`` fanned out over ``inputs.items``: N items, N jobs.
FANOUT_PIPELINE: dict[str, Any] = {
    "inputs": {"items": {"type": "list", "default": []}},
    "steps": [{"id": "each", "preset": "p", "for_each": "inputs.items", "prompt": "n {{ item }}"}],
}


def openai_project(root: Path, url: str, *, accounts: int = 1) -> Project:
    """A project with ``accounts`` OpenAI accounts at ``url``'s fake server and the fan-out
    pipeline; the caller writes ``presets/p.yaml``."""
    listed = [
        {
            "name": "bench" if n == 0 else f"bench{n + 1}",
            "provider": "openai",
            "api_key_env": KEY_ENVS[n],
            "base_url": f"{url}/openai/v1",
        }
        for n in range(accounts)
    ]
    project = make_project(root, accounts=json.dumps({"accounts": listed}))
    project.write("pipelines/p.yaml", json.dumps(FANOUT_PIPELINE))
    return project


def set_keys() -> None:
    for n, name in enumerate(KEY_ENVS):
        os.environ.setdefault(name, f"sk-bench-{n}")


def bench_project(root: Path, url: str, *, accounts: int = 1, fallback: bool = False) -> Path:
    """A project under ``root`` whose text preset calls ``url``'s OpenAI API."""
    project = openai_project(root, url, accounts=accounts)
    models: list[dict[str, Any]] = [{"provider": "openai", "model": MODEL}]
    if fallback:
        models.append({"provider": "openai", "model": FALLBACK_MODEL})
    project.write("presets/p.yaml", json.dumps({"media_type": "text", "models": models}))
    project.write("presets/chat.yaml", json.dumps({"media_type": "text", "models": models}))
    project.write(f"pipelines/{BATCH}.yaml", json.dumps(BATCH_PIPELINE))
    return project.root


def harness_project(root: Path, url: str) -> Path:
    """Two accounts and a fallback model: the harness's mediamix configuration."""
    return bench_project(root, url, accounts=2, fallback=True)
