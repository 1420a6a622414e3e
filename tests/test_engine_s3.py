"""A pipeline writing to an S3-compatible bucket (moto's server on 127.0.0.1), as R2 users do."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from runner.config.project import load_workspace
from runner.engine.api import plan_pipeline, run_plan
from runner.engine.services import EngineOptions
from runner.runlog.store import RunLog
from tests.engine_support import Project
from tests.s3server import FAKE_KEY_ID, FAKE_SECRET, S3Server


def bucket_project(
    root: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> Project:
    """A project storing under s3://bucket/PREFIX, credentials named as an R2 user would."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("R2_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("R2_SECRET", FAKE_SECRET)
    project = Project(root)
    project.write(
        "mediamix.yaml",
        f"""\
storage:
  url: s3://{s3_server.bucket}/{prefix}
  endpoint_url: {s3_server.endpoint_url}
  region: us-east-1
  public_url_base: https://media.example.com/{prefix}
  options: {{key_env: R2_KEY_ID, secret_env: R2_SECRET}}
""",
    )
    return project


def test_pipeline_artifacts_land_in_the_bucket_with_content_type_and_public_url(
    tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = bucket_project(tmp_path, s3_server, monkeypatch, "media")
    project.write(
        "pipelines/p.yaml",
        """\
steps:
  - {id: cover, preset: image-card, prompt: "Bucket test"}
  - id: handout
    preset: document-simple
    inputs_from: [cover]
    prompt: "# Handout\\n\\nThe cover is at {{ steps.cover.url }}"
""",
    )
    ws = load_workspace(project.root)
    plan = plan_pipeline(project.root / "pipelines/p.yaml", ws)
    result = asyncio.run(run_plan(plan, ws, options=EngineOptions(no_wait=True)))
    assert result.status == "succeeded", [j.error for j in result.jobs]

    client = s3_server.client()
    cover = next(a for step, a in result.artifacts if step == "cover")
    assert cover.uri.startswith(f"s3://{s3_server.bucket}/media/")
    key = cover.uri.split(f"s3://{s3_server.bucket}/", 1)[1]
    head = client.head_object(Bucket=s3_server.bucket, Key=key)
    assert head["ContentType"] == "image/png"
    body = client.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read()
    with Image.open(io.BytesIO(body)) as image:
        assert image.size == (1280, 720)
    assert cover.public_url == f"https://media.example.com/{key}"

    # The PDF step received the image (a local scratch copy) and its public URL.
    handout = next(a for step, a in result.artifacts if step == "handout")
    pdf_key = handout.uri.split(f"s3://{s3_server.bucket}/", 1)[1]
    assert client.head_object(Bucket=s3_server.bucket, Key=pdf_key)["ContentType"] == (
        "application/pdf"
    )
    assert not list((project.root / ".mediamix" / "tmp").iterdir()), "scratch was cleaned up"

    with RunLog(project.runlog).connect_readonly() as con:
        uris = {r[0] for r in con.execute("SELECT uri FROM artifacts").fetchall()}
        urls = {r[0] for r in con.execute("SELECT public_url FROM artifacts").fetchall()}
    assert uris == {cover.uri, handout.uri}
    assert cover.public_url in urls


def test_a_step_rerun_after_its_input_was_reused_from_the_bucket_gets_a_local_copy(
    tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resumed batch on R2: the cover image is reused (it lives only in the bucket) and
    the handout, whose object was lost, is made again: its PDF still embeds the cover."""
    project = bucket_project(tmp_path, s3_server, monkeypatch, "reuse")
    project.write(
        "pipelines/p.yaml",
        """\
inputs:
  topic: {type: string}
steps:
  - {id: cover, preset: image-card, prompt: "{{ inputs.topic }}"}
  - {id: handout, preset: document-simple, inputs_from: [cover], prompt: "# {{ inputs.topic }}"}
""",
    )
    project.write("rows.jsonl", '{"topic": "Tides"}\n')

    def batch() -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "runner.cli.main", "batch", "p", "rows.jsonl", "--json"],
            cwd=project.root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        summary: dict[str, Any] = json.loads(done.stdout)
        return summary

    first = batch()
    assert (first["jobs_succeeded"], first["jobs_reused"]) == (2, 0)
    client = s3_server.client()
    objects = client.list_objects_v2(Bucket=s3_server.bucket, Prefix="reuse/")["Contents"]
    (pdf_key,) = [o["Key"] for o in objects if o["Key"].endswith(".pdf")]
    client.delete_object(Bucket=s3_server.bucket, Key=pdf_key)

    second = batch()

    assert (second["jobs_succeeded"], second["jobs_reused"], second["jobs_failed"]) == (1, 1, 0)
    objects = client.list_objects_v2(Bucket=s3_server.bucket, Prefix="reuse/")["Contents"]
    (new_pdf,) = [o["Key"] for o in objects if o["Key"].endswith(".pdf")]
    pdf = client.get_object(Bucket=s3_server.bucket, Key=new_pdf)["Body"].read()
    assert pdf.startswith(b"%PDF-") and b"/Subtype /Image" in pdf  # the cover is in it
    assert not list((project.root / ".mediamix" / "tmp").iterdir()), "scratch was cleaned up"
