"""A video job whose process died after the vendor accepted it resumes polling the same
task: the vendor is asked to create the video once, never twice.

The first run is ``mediamix run`` in its own process, killed with SIGKILL as soon as the
run log shows the vendor's task id (the engine flushes the log right then). The second run
goes through the engine with ``Services.resume_tasks`` filled from that run log.

After such a crash the task id is only in the ``task_created`` event: the attempt and job
rows that also carry it are written when the attempt ends, which a killed process never
reaches, so ``Queries.task_ids_for_runs`` reads the events too.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from runner.config.project import load_workspace
from runner.engine.api import plan_pipeline
from runner.engine.results import RunResult
from runner.engine.run import Engine
from runner.engine.services import EngineOptions
from runner.errors import RunLogError
from runner.runlog.records import ResumeTask
from runner.runlog.store import RunLog
from runner.validation.mp4 import read_movie
from tests.engine_support import Project
from tests.fakeprovider import FakeProviderServer
from tests.test_engine_providers import (
    account,
    attempts_of,
    http_project,
    rows,
    run_project,
    write_pipeline,
    write_preset,
)

#: Vendor -> (video model, the path its create request goes to).
VIDEO = {
    "openai": ("sora-2", "/openai/v1/videos"),
    "google": ("veo-3.0-generate-001", ":predictLongRunning"),
    "runway": ("gen4.5", "/runway/v1/text_to_video"),
}


def video_project(root: Path, fake: FakeProviderServer, vendor: str) -> Project:
    project = http_project(root, [account(fake, vendor, "main", "MMX_VIDEO_KEY")])
    write_preset(project, "video", [{"provider": vendor, "model": VIDEO[vendor][0]}])
    write_pipeline(project, [{"id": "clip", "preset": "p", "prompt": "waves at night"}])
    return project


def task_created(project: Project) -> dict[str, Any] | None:
    """The task_created event's data, once the run log has it."""
    try:
        found = rows(project, "SELECT data FROM events WHERE kind = 'task_created'")
    except RunLogError:
        return None  # nothing written yet
    return json.loads(found[0]["data"]) if found else None


def start_and_kill_after_task_created(project: Project) -> dict[str, Any]:
    """Run the pipeline in a child process; SIGKILL it once the vendor accepted the job."""
    child = subprocess.Popen(
        [sys.executable, "-m", "runner.cli.main", "run", "pipelines/p.yaml"],
        cwd=project.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 60
        while (created := task_created(project)) is None:
            assert child.poll() is None, child.communicate()[1]
            assert time.monotonic() < deadline, "the run never logged its task"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        return created
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        assert child.stderr is not None
        child.stderr.close()


def tasks_in_events(project: Project) -> dict[str, ResumeTask]:
    """Idempotency key -> task, from the run log's task_created events."""
    found = rows(project, "SELECT data FROM events WHERE kind = 'task_created'")
    data = [json.loads(r["data"]) for r in found]
    return {
        d["idempotency_key"]: ResumeTask(d["task_id"], provider=d["provider"], model=d["model"])
        for d in data
    }


def only_run_id(project: Project) -> str:
    (run,) = rows(project, "SELECT run_id FROM runs")
    return str(run["run_id"])


def resume(project: Project, tasks: dict[str, ResumeTask]) -> RunResult:
    """The engine again, told which vendor tasks the earlier run had started."""
    log = RunLog(project.runlog)
    ws = load_workspace(project.root)
    plan = plan_pipeline(project.root / "pipelines/p.yaml", ws, {})

    async def go() -> RunResult:
        with log.writer() as sink:
            options = EngineOptions(no_wait=True, poll_interval_s=0.0)
            async with Engine(ws, sink, options=options) as engine:
                engine.services.resume_tasks.update(tasks)
                return await engine.run(plan)

    return asyncio.run(go())


@pytest.mark.parametrize("vendor", VIDEO)
def test_a_killed_video_job_resumes_polling_the_same_task(
    vendor: str, fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MMX_VIDEO_KEY", "sk-test-video")
    monkeypatch.setenv("MEDIAMIX_POLL_INTERVAL", "0.02")
    fake.state.polls_until_done = 1_000_000  # still rendering when the process dies
    project = video_project(tmp_path, fake, vendor)

    created = start_and_kill_after_task_created(project)
    task_id = created["task_id"]
    create_path = VIDEO[vendor][1]
    assert fake.state.count(create_path, method="POST") == 1
    # Gemini's task id is the operation's name, which ends with the fake's task id.
    (task,) = [t for t in fake.state.tasks.values() if task_id.endswith(t.id)]
    polls_before = task.polls
    task.polls_until_done = polls_before + 2  # the vendor finished while nobody watched

    result = resume(project, tasks_in_events(project))

    assert result.status == "succeeded", [j.error for j in result.jobs]
    assert fake.state.count(create_path, method="POST") == 1  # never paid twice
    assert task.polls > polls_before  # it polled the old task
    (artifact,) = result.jobs[0].artifacts
    (track,) = read_movie(Path(artifact.path or "")).tracks_of("vide")
    assert track.sample_count > 0
    resumed = [a for a in attempts_of(project) if a["status"] == "succeeded"]
    assert [a["task_id"] for a in resumed] == [task_id]
    assert created["idempotency_key"] == result.jobs[0].key
    (resumed_event,) = rows(project, "SELECT data FROM events WHERE kind = 'task_resumed'")
    assert json.loads(resumed_event["data"])["task_id"] == task_id
    (job,) = rows(project, "SELECT task_id FROM jobs WHERE job_id = ?", [result.jobs[0].job_id])
    assert job["task_id"] == task_id


def test_the_run_log_query_finds_the_task_of_a_killed_run(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MMX_VIDEO_KEY", "sk-test-video")
    monkeypatch.setenv("MEDIAMIX_POLL_INTERVAL", "0.02")
    fake.state.polls_until_done = 1_000_000
    project = video_project(tmp_path, fake, "openai")
    created = start_and_kill_after_task_created(project)

    with RunLog(project.runlog).queries() as q:
        found = q.task_ids_for_runs([only_run_id(project)])
    assert found == {
        created["idempotency_key"]: ResumeTask(
            created["task_id"], provider="openai", model="sora-2"
        )
    }


def test_a_retry_after_a_failed_poll_polls_the_same_task(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MMX_VIDEO_KEY", "sk-test-video")
    project = video_project(tmp_path, fake, "openai")
    fake.state.inject("500", path_contains="/openai/v1/videos/")  # the first status poll

    result = run_project(project)

    assert result.status == "succeeded", [j.error for j in result.jobs]
    assert fake.state.count("/openai/v1/videos", method="POST") == 1  # paid once
    made = [(a["status"], a["error_class"]) for a in attempts_of(project)]
    assert made == [("failed", "transient"), ("succeeded", None)]
    (task,) = fake.state.tasks.values()
    assert attempts_of(project)[1]["task_id"] == task.id
