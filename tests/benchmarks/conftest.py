"""Benchmarks run only on demand: ``pytest tests/benchmarks -m benchmark`` or MEDIAMIX_BENCH=1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = (
        "benchmark" in (config.getoption("-m") or "") or os.environ.get("MEDIAMIX_BENCH") == "1"
    )
    if wanted:
        return
    skip = pytest.mark.skip(reason="benchmark: run with -m benchmark or MEDIAMIX_BENCH=1")
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(skip)
