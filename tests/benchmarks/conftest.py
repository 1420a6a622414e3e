"""Benchmarks run only on demand: ``pytest tests/benchmarks -m benchmark`` or MEDIAMIX_BENCH=1."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
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


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    """A scratch folder on tmpfs when the machine has one, else ``tmp_path``."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=shm, prefix="mmx-bench-") as folder:
        yield Path(folder)
