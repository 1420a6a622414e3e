"""A pipeline writing to an S3-compatible bucket (moto's server on 127.0.0.1), as R2 users do."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image

from runner.config.project import load_workspace
from runner.engine.api import plan_pipeline, run_plan
from runner.engine.services import EngineOptions
from runner.runlog.store import RunLog
from tests.engine_support import Project
from tests.s3server import FAKE_KEY_ID, FAKE_SECRET, S3Server


def test_pipeline_artifacts_land_in_the_bucket_with_content_type_and_public_url(
    tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("R2_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("R2_SECRET", FAKE_SECRET)
    project = Project(tmp_path)
    project.write(
        "mediamix.yaml",
        f"""\
storage:
  url: s3://{s3_server.bucket}/media
  endpoint_url: {s3_server.endpoint_url}
  region: us-east-1
  public_url_base: https://media.example.com/media
  options: {{key_env: R2_KEY_ID, secret_env: R2_SECRET}}
""",
    )
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
