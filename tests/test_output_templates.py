"""Output path templates are checked before anything is called.

A template that can only make a bad key (``..``, an absolute path, an unknown field) used
to pass ``validate`` and ``--dry-run``; a batch then paid for every row and failed each one
when storing it. Now ``validate``, ``--dry-run``, ``run`` and ``batch`` refuse it at once,
pointing at the ``output:`` line, and the fake vendor counts no call.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from runner.config.output_paths import ITEM_FIELDS, OUTPUT_FIELDS, template_problems
from runner.storage import render_key
from tests.batch_support import PIPELINE, batch_project, write_rows
from tests.fakeprovider import FakeProviderServer
from tests.test_cli_batch import mediamix

ESCAPE = "../escape/{run_id}.{ext}"


def _pipeline_with(**step_extra: str) -> dict[str, object]:
    step = {**PIPELINE["steps"][0], **step_extra}  # type: ignore[index]
    return {**PIPELINE, "steps": [step]}


def _position(err: str, file: str) -> tuple[int, int]:
    found = re.search(rf"{re.escape(file)}:(\d+):(\d+): ", err)
    assert found, err
    return int(found.group(1)), int(found.group(2))


def test_a_step_output_that_escapes_is_refused_everywhere_and_nothing_is_paid(
    tmp_path: Path,
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = batch_project(tmp_path, fake, monkeypatch, pipeline=_pipeline_with(output=ESCAPE))
    root = str(project.root)
    pipeline_file = project.root / "pipelines" / "notes.yaml"
    # Pretty JSON (YAML) so the output key has a line of its own.
    pipeline_file.write_text(json.dumps(_pipeline_with(output=ESCAPE), indent=2))
    line = next(
        n for n, text in enumerate(pipeline_file.read_text().splitlines(), 1) if "output" in text
    )
    rows = write_rows(tmp_path / "rows.jsonl", 20)
    message = f"steps[0].output: output template {ESCAPE!r} escapes the storage root with '..'"

    code, _, err = mediamix(capsys, "-C", root, "validate")
    assert code == 1 and message in err
    assert _position(err, "notes.yaml")[0] == line

    for args in (
        ["run", "notes", "-i", "topic=x", "--dry-run"],
        ["run", "notes", "-i", "topic=x"],
        ["batch", "notes", str(rows)],
        ["batch", "notes", str(rows), "--json"],
    ):
        code, out, err = mediamix(capsys, "-C", root, *args)
        assert code == 2, (args, out, err)
        assert message in err and "Traceback" not in err
        assert _position(err, "notes.yaml")[0] == line
    assert fake.state.count("") == 0  # not one paid call
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("/srv/media/{run_id}.{ext}", "is absolute; keys are relative to the storage root"),
        ("{run}/{step_id}.{ext}", "uses unknown field {run} (did you mean 'run_id'?)"),
        ("{run_id}/{steps.x}.{ext}", "uses {steps.x}: a field must be a plain name"),
        ("{run_id}/{step_id.{ext}", "is malformed"),
        ("a/../../{run_id}.{ext}", "escapes the storage root with '..'"),
        (
            "{run_id}/{item_index}/{step_id}.{ext}",
            "has an empty or '.' path segment (item_index and item_suffix are empty outside "
            "a for_each)",
        ),
    ],
)
def test_project_and_pipeline_templates_are_checked_with_their_position(
    template: str,
    problem: str,
    tmp_path: Path,
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = batch_project(tmp_path, fake, monkeypatch)
    root = str(project.root)
    settings = (project.root / "mediamix.yaml").read_text()
    project.write("mediamix.yaml", settings + f"output: {json.dumps(template)}\n")
    line = len(settings.splitlines()) + 1

    code, _, err = mediamix(capsys, "-C", root, "validate")
    assert code == 1 and problem in err, err
    assert _position(err, "mediamix.yaml") == (line, 9)
    code, _, err = mediamix(capsys, "-C", root, "run", "notes", "-i", "topic=x")
    assert code == 2 and problem in err, err

    # The same template at pipeline level, with a good project-level one.
    project.write("mediamix.yaml", settings)
    project.write("pipelines/notes.yaml", json.dumps({**PIPELINE, "output": template}))
    code, _, err = mediamix(capsys, "-C", root, "run", "notes", "-i", "topic=x", "--dry-run")
    assert code == 2 and f"output: output template {template!r} {problem}" in err, err
    assert fake.state.count("") == 0


def test_every_field_the_engine_fills_is_a_known_field() -> None:
    template = "/".join(f"{{{name}}}" for name in sorted(OUTPUT_FIELDS))
    assert template_problems(template, for_each=True) == []
    key = render_key(template, **{name: "v" for name in OUTPUT_FIELDS})
    assert key == "/".join("v" for _ in OUTPUT_FIELDS)
    assert template_problems("{run_id}/{step_id}{item_suffix}.{ext}") == []
    assert template_problems("{date}/{pipeline}/{item_index:03}-{model}.{ext}") == []
    assert template_problems("{run_id}/{item_index}/{ext}", for_each=True) == []


def test_a_template_using_every_field_runs(
    tmp_path: Path,
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    every = "/".join(f"{{{name}}}" for name in sorted(OUTPUT_FIELDS - ITEM_FIELDS - {"ext"}))
    every += "/{item_index}x{item_suffix}.{ext}"
    project = batch_project(tmp_path, fake, monkeypatch, pipeline=_pipeline_with(output=every))
    code, out, err = mediamix(
        capsys, "-C", str(project.root), "run", "notes", "-i", "topic=x", "--json"
    )
    assert code == 0, err
    [artifact] = json.loads(out)["jobs"][0]["artifacts"]
    # date / job_id / model / pipeline / provider / run_id / step_id / item fields (empty)
    assert "/gpt-4o-mini/notes/openai/" in artifact["uri"]
    assert artifact["uri"].endswith("/note/x.txt")
