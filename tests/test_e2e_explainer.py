"""The README's main job, as a newcomer runs it: no keys, real files out, all logged."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
import zipfile
from pathlib import Path

import duckdb
from docx import Document
from PIL import Image

from runner.runlog.store import RunLog
from runner.validation.mp4 import read_movie

REPO = Path(__file__).resolve().parent.parent


def mediamix(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_explainer_runs_offline_and_every_artifact_opens(tmp_path: Path) -> None:
    project = tmp_path / "demo"
    assert mediamix("init", str(project), cwd=tmp_path).returncode == 0

    done = mediamix("run", "pipelines/explainer.yaml", "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "succeeded"
    by_step: dict[str, list[Path]] = {}
    for job in result["jobs"]:
        for artifact in job["artifacts"]:
            by_step.setdefault(job["step_id"], []).append(Path(artifact["path"]))

    cards = by_step["cards"]
    assert len(cards) == 3
    for card in cards:
        with Image.open(card) as image:
            image.verify()
        with Image.open(card) as image:
            assert image.format == "PNG" and image.size == (1280, 720)

    (narration,) = by_step["narration"]
    with wave.open(str(narration)) as audio:
        seconds = audio.getnframes() / audio.getframerate()
    assert seconds > 5  # the whole script is spoken

    (video,) = by_step["video"]
    movie = read_movie(video)
    (video_track,) = movie.tracks_of("vide")
    assert video_track.sample_count > 0 and video_track.width == 1280
    assert movie.tracks_of("soun"), "the narration is the video's soundtrack"
    assert movie.duration_s is not None and movie.duration_s >= seconds - 1

    (pdf,) = by_step["handout"]
    assert pdf.read_bytes().startswith(b"%PDF-")
    (docx,) = by_step["handout_docx"]
    assert zipfile.is_zipfile(docx)
    text = "\n".join(p.text for p in Document(str(docx)).paragraphs)
    assert "Rainbows form" in text or "How rainbows form" in text

    # The run log: one job per step (one per for_each item), one row per attempt.
    log = RunLog(project / ".mediamix" / "runlog")
    with log.connect_readonly() as con:
        jobs = con.execute(
            "SELECT step_id, count(*) FROM jobs WHERE run_id = ? GROUP BY step_id ORDER BY 1",
            [result["run_id"]],
        ).fetchall()
        attempts = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'succeeded') FROM attempts"
        ).fetchone()
        artifacts = con.execute("SELECT count(*) FROM artifacts").fetchone()
    assert dict(jobs) == {
        "cards": 3,
        "handout": 1,
        "handout_docx": 1,
        "narration": 1,
        "script": 1,
        "video": 1,
    }
    assert attempts == (8, 8)  # no keys: remote candidates are skipped, not attempted
    assert artifacts == (8,)
    # The file opens in a plain DuckDB client too.
    con = duckdb.connect(str(log.db_path), read_only=True)
    assert con.execute("SELECT count(*) FROM runs").fetchone() == (1,)
    con.close()
