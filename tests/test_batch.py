"""Batches through the library: inputs with line numbers, shards, faults, reuse, resume."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from runner.batch import BatchOptions, BatchResult, BatchRun, parse_shard, prepare_batch, read_rows
from runner.config.loader import pipeline_from
from runner.config.project import load_workspace
from runner.errors import UsageError
from tests.batch_support import (
    KEY,
    PIPELINE,
    batch_project,
    chat_prompts,
    query,
    write_rows,
)
from tests.fakeprovider import FakeProviderServer

PIPE = pipeline_from(
    {
        "inputs": {
            "topic": {"type": "string", "required": True},
            "n": {"type": "integer", "default": 0},
            "tags": {"type": "list", "default": []},
            "loud": {"type": "boolean", "default": False},
        },
        "steps": [{"id": "s", "media_type": "text", "prompt": "{{ inputs.topic }}"}],
    },
    name="p",
    source=None,
)


def run_batch(root: Path, inputs: Path, **options: object) -> BatchResult:
    ws = load_workspace(root)
    chosen = BatchOptions(**options)  # type: ignore[arg-type]
    prepared = prepare_batch(ws, "notes", inputs, chosen)
    return asyncio.run(BatchRun(ws, prepared, chosen).run())


# -- inputs -------------------------------------------------------------------------------


def test_jsonl_rows_are_typed_and_bad_rows_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text(
        '{"topic": "a", "n": 2, "tags": ["x"]}\n'
        "\n"
        '{"topic": "b", "n": "7", "loud": "yes"}\n'
        "{not json\n"
        '{"topic": "c", "colour": "red"}\n'
        '{"topic": "d", "n": true}\n'
        '{"n": 3}\n'
        '["a list"]\n',
        encoding="utf-8",
    )
    read = read_rows(path, PIPE)
    assert [(r.number, r.line, r.inputs["n"]) for r in read.rows] == [(1, 1, 2), (2, 3, 7)]
    assert read.rows[1].inputs["loud"] is True
    assert read.rows[0].inputs["tags"] == ["x"]
    messages = [str(b) for b in read.bad]
    assert messages[0].startswith(f"{path}:4: invalid JSON")
    assert messages[1].startswith(f"{path}:5: unknown input(s) colour")
    assert messages[2].startswith(f"{path}:6: input 'n' expects a integer, got bool")
    assert messages[3].startswith(f"{path}:7: missing required input(s): topic")
    assert messages[4] == f"{path}:8: expected a JSON object of inputs, got list"


def test_csv_rows_coerce_strings_and_count_lines_of_multiline_cells(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(
        'topic,n,tags\n"two\nlines",1,"a,b"\nplain,x,\nlast,,"[""j""]"\n', encoding="utf-8"
    )
    read = read_rows(path, PIPE)
    assert [(r.line, r.inputs["topic"], r.inputs["n"], r.inputs["tags"]) for r in read.rows] == [
        (2, "two\nlines", 1, ["a", "b"]),
        (5, "last", 0, ["j"]),  # empty cell: the default applies
    ]
    assert [str(b) for b in read.bad] == [f"{path}:4: input 'n' expects a integer, got 'x'"]


def test_csv_with_an_unknown_column_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("topic,colour\na,red\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"rows.csv:1: unknown column\(s\) 'colour'"):
        read_rows(path, PIPE)


# -- shards -------------------------------------------------------------------------------


def test_shards_split_by_content_not_order(tmp_path: Path) -> None:
    lines = [json.dumps({"topic": f"t{i}"}) for i in range(300)]
    forward = tmp_path / "a.jsonl"
    forward.write_text("\n".join(lines) + "\n", encoding="utf-8")
    backward = tmp_path / "b.jsonl"
    backward.write_text("\n".join(reversed(lines)) + "\n", encoding="utf-8")
    shards = [parse_shard(f"{i}/3") for i in (1, 2, 3)]

    def split(path: Path) -> list[set[str]]:
        rows = read_rows(path, PIPE).rows
        return [{r.inputs["topic"] for r in rows if s.holds(r.digest)} for s in shards]

    parts = split(forward)
    assert parts == split(backward)
    assert sum(len(p) for p in parts) == 300 and set().union(*parts) == {
        f"t{i}" for i in range(300)
    }
    assert all(60 < len(p) < 140 for p in parts)  # a hash spreads rows, roughly evenly


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "x", "1-2"])
def test_bad_shard_specs_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="--shard"):
        parse_shard(text)


# -- running ------------------------------------------------------------------------------


def test_a_few_hundred_rows_with_faults_each_end_succeeded_or_failed_with_a_reason(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = batch_project(tmp_path, fake, monkeypatch, max_attempts=2)
    rows = write_rows(tmp_path / "rows.jsonl", 240)
    fake.state.inject("400", path_contains="/chat/", times=6)  # permanent: the job fails
    fake.state.inject("500", path_contains="/chat/", times=25)  # transient: retried
    fake.state.inject("malformed_json", path_contains="/chat/", times=5)
    fake.state.inject("429", path_contains="/chat/", times=5, retry_after=0)

    result = run_batch(project.root, rows, concurrency=32)

    jobs = query(project.root, "SELECT status, error, error_class, attempts FROM jobs")
    assert len(jobs) == 240  # one job per row, nothing lost, nothing doubled
    assert {j["status"] for j in jobs} <= {"succeeded", "failed"}
    failed = [j for j in jobs if j["status"] == "failed"]
    assert len(failed) >= 6 and all(j["error"] and j["error_class"] for j in failed)
    assert result.rows_failed == len(failed) == result.jobs_failed
    assert result.rows_succeeded == 240 - len(failed) == result.jobs_succeeded
    assert result.status == "failed" and len(result.failures) == len(failed)
    assert all(f.error for f in result.failures)
    # Every injected fault became a failed attempt in the log.
    attempts = query(project.root, "SELECT status, http_status FROM attempts")
    assert sum(a["status"] == "failed" for a in attempts) == 6 + 25 + 5 + 5
    assert fake.state.count("/chat/") == len(attempts)
    # Each row's run is tied to the batch.
    tied = query(
        project.root,
        "SELECT count(DISTINCT run_id) AS runs, count(DISTINCT data->>'$.row') AS rows "
        "FROM events WHERE kind = 'batch_row' AND data->>'$.batch_id' = ?",
        [result.batch_id],
    )
    assert tied == [{"runs": 240, "rows": 240}]


def test_a_second_batch_reuses_every_success_and_reruns_what_is_gone(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_steps = {
        **PIPELINE,
        "steps": [
            *PIPELINE["steps"],  # type: ignore[misc]
            {"id": "more", "preset": "chat", "prompt": "Expand: {{ steps.note.text }}"},
        ],
    }
    project = batch_project(tmp_path, fake, monkeypatch, pipeline=two_steps)
    rows = write_rows(tmp_path / "rows.jsonl", 10)
    first = run_batch(project.root, rows)
    assert first.status == "succeeded" and first.jobs_succeeded == 20
    calls = fake.state.count("/chat/")
    assert calls == 20

    # Remove one stored note: that row's first step runs again; its second step's prompt
    # is the same text again, so it is reused.
    uri = query(
        project.root,
        "SELECT a.uri FROM artifacts a JOIN jobs j USING (job_id) "
        "WHERE j.step_id = 'note' ORDER BY a.uri LIMIT 1",
    )[0]["uri"]
    Path(uri.removeprefix("file://")).unlink()

    second = run_batch(project.root, rows)
    assert second.status == "succeeded"
    assert (second.jobs_reused, second.jobs_succeeded) == (19, 1)
    assert fake.state.count("/chat/") == calls + 1
    # Reused text reached the later step's template: no prompt was sent twice.
    seen = chat_prompts(fake)
    assert all(n == 1 or p.startswith("Note ") for p, n in seen.items())
    assert max(seen.values()) == 2


def test_resume_polls_the_video_task_the_interrupted_batch_started(
    tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = {
        "name": "clips",
        "inputs": {"topic": {"type": "string", "required": True}},
        "steps": [{"id": "clip", "preset": "sora", "prompt": "{{ inputs.topic }}"}],
    }
    project = batch_project(tmp_path, fake, monkeypatch, pipeline=video)
    project.write(
        "presets/sora.yaml",
        json.dumps(
            {
                "media_type": "video",
                "models": [{"provider": "openai", "model": "sora-2", "params": {"seconds": 4}}],
            }
        ),
    )
    project.write("pipelines/notes.yaml", json.dumps(video))
    monkeypatch.setenv("MEDIAMIX_POLL_INTERVAL", "0.02")
    rows = tmp_path / "clips.jsonl"
    rows.write_text('{"topic": "a red kite"}\n{"topic": "a blue kite"}\n', encoding="utf-8")
    fake.state.polls_until_done = 10_000  # the vendor keeps working until we say so
    ws = load_workspace(project.root)
    options = BatchOptions(concurrency=2)

    async def interrupted() -> BatchResult:
        run = BatchRun(ws, prepare_batch(ws, "notes", rows, options), options)
        task = asyncio.create_task(run.run())
        # Both tasks polled at least once: the client has their ids (it records a task id
        # before its first poll), so the cancel cannot land between create and record.
        tasks = fake.state.tasks
        while len(tasks) < 2 or any(t.polls < 1 for t in list(tasks.values())):
            await asyncio.sleep(0.01)
        task.cancel()  # like a second Ctrl-C
        return await task

    first = asyncio.run(interrupted())
    assert first.status == "interrupted"
    assert fake.state.count("/videos", method="POST") == 2
    for task in fake.state.tasks.values():
        task.polls_until_done = task.polls + 1

    resumed_options = BatchOptions(concurrency=2, resume_latest=True)
    prepared = prepare_batch(ws, "notes", rows, resumed_options)
    assert prepared.batch_id == first.batch_id
    saved = prepared.history.resume_tasks.values()
    assert sorted(t.task_id for t in saved) == sorted(fake.state.tasks)
    assert {(t.provider, t.model) for t in saved} == {("openai", "sora-2")}
    second = asyncio.run(BatchRun(ws, prepared, resumed_options).run())

    assert second.status == "succeeded" and second.rows_succeeded == 2
    assert fake.state.count("/videos", method="POST") == 2  # no new paid task
    assert {r.api_key for r in fake.state.requests if "/videos" in r.path} == {KEY}
    runs = query(project.root, "SELECT status, count(*) AS n FROM runs GROUP BY 1 ORDER BY 1")
    assert runs == [{"status": "interrupted", "n": 2}, {"status": "succeeded", "n": 2}]
