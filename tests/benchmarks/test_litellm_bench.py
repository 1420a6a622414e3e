"""LiteLLM's Router, what users would pick instead, against the floor and mediamix.

Needs the ``bench`` extra (``pip install '.[bench]'``); skips without it. LiteLLM points at
the fake server with dummy keys, its telemetry off and its price map read from the package
(``LITELLM_LOCAL_MODEL_COST_MAP``); the harness fails if any client process connects or
looks up a name beyond the loopback. Two deployments of one model and a fallback model,
as mediamix's two accounts and fallback. Asserted: every request completes, and mediamix
stays ahead of the Router on client CPU per request, measured in the same run.
Run: ``pytest tests/benchmarks/test_litellm_bench.py -m benchmark -s`` (about 2 minutes:
the Router spends ~10 ms of CPU per request).
"""

from __future__ import annotations

import pytest

from tests.benchmarks.harness import CPU_64, measure, missing_library, report

pytestmark = pytest.mark.benchmark


def test_litellm_router_cpu_per_request_against_the_floor_and_mediamix() -> None:
    for library in ("litellm", "aiohttp"):
        reason = missing_library(library)
        if reason:
            pytest.skip(reason)
    runs = measure(CPU_64, ["aiohttp", "litellm", "mediamix"])
    print("\n" + report(CPU_64, runs))
    floor = runs["aiohttp"].cpu_ms
    for client in ("litellm", "mediamix"):
        print(f"  {client} CPU/request = {runs[client].cpu_ms / floor:.2f}x the aiohttp floor")
    assert runs["litellm"].completed == CPU_64.requests
    assert runs["mediamix"].cpu_ms < runs["litellm"].cpu_ms
