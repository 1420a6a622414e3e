"""The same explainer row twice: the second batch pays for nothing, down to the video.

Job keys identify inputs by content, not by the run-specific path or URL, so a step fed
by earlier steps' files (the slideshow, the handouts) is recognised too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def batch(project: Path) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner.cli.main",
            "batch",
            "pipelines/explainer.yaml",
            "rows.jsonl",
            "--json",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def test_a_repeated_row_reuses_every_job_including_those_fed_by_files(tmp_path: Path) -> None:
    project = tmp_path / "p"
    subprocess.run(
        [sys.executable, "-m", "runner.cli.main", "init", str(project)],
        check=True,
        capture_output=True,
    )
    (project / "rows.jsonl").write_text('{"topic": "tides"}\n', encoding="utf-8")
    first = batch(project)
    assert (first["jobs_succeeded"], first["jobs_reused"]) == (8, 0)
    files_after_first = sorted(p for p in (project / "outputs").rglob("*") if p.is_file())

    second = batch(project)
    assert (second["jobs_succeeded"], second["jobs_reused"], second["jobs_failed"]) == (0, 8, 0)
    assert sorted(p for p in (project / "outputs").rglob("*") if p.is_file()) == (
        files_after_first
    ), "nothing was generated again"
