"""The config commands as a user runs them: init, validate, presets, schema.

Exit codes and ``--json`` keys are a contract scripts rely on, so these run the real
``mediamix`` entry point in a subprocess (through the one error boundary) where the
exit code matters, and click's runner where only the output does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli.main import cli
from runner.config.resources import load_schema, schema_path

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).parent / "corpus"
BUILTIN_PRESETS = sorted(p.stem for p in (REPO / "presets").glob("*.yaml"))


def mediamix(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    out = mediamix("init", "proj", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return (tmp_path / "proj").resolve()


def test_init_writes_a_project_that_validates(project: Path) -> None:
    for name in (
        "mediamix.yaml",
        "accounts.yaml",
        "presets/square-card.yaml",
        "pipelines/explainer.yaml",
        "pipelines/image.yaml",
        "schemas/pipeline.schema.json",
        ".gitignore",
    ):
        assert (project / name).is_file(), name

    out = mediamix("validate", cwd=project)

    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert out.stdout.strip() == "5 file(s) valid"


def test_validate_json_has_stable_keys(project: Path) -> None:
    out = mediamix("validate", "--json", cwd=project)

    assert out.returncode == 0
    payload = json.loads(out.stdout)
    assert list(payload) == ["ok", "files", "errors", "warnings"]
    assert payload["ok"] is True
    assert payload["errors"] == payload["warnings"] == []
    assert payload["files"] == [
        {"path": "mediamix.yaml", "kind": "project"},
        {"path": "accounts.yaml", "kind": "accounts"},
        {"path": "presets/square-card.yaml", "kind": "preset"},
        {"path": "pipelines/explainer.yaml", "kind": "pipeline"},
        {"path": "pipelines/image.yaml", "kind": "pipeline"},
    ]


def test_validate_json_error_entries_have_stable_keys() -> None:
    out = mediamix("validate", "--json", cwd=CORPUS / "model-no-account-serves")
    payload = json.loads(out.stdout)
    assert payload["ok"] is True and payload["warnings"]

    out = mediamix("validate", "--json", cwd=CORPUS / "multiple-errors")
    payload = json.loads(out.stdout)

    assert out.returncode == 1
    assert payload["ok"] is False
    assert len(payload["errors"]) == 5
    for entry in payload["errors"]:
        assert list(entry) == ["file", "line", "column", "path", "message", "severity"]
        assert entry["severity"] == "error"
        assert entry["file"] == "pipelines/p.yaml"


def test_validate_exit_codes_0_valid_1_invalid_2_usage(project: Path) -> None:
    assert mediamix("validate", cwd=project).returncode == 0
    # Warnings alone do not fail validation.
    assert mediamix("validate", cwd=CORPUS / "model-no-account-serves").returncode == 0

    invalid = mediamix("validate", cwd=CORPUS / "unknown-preset")
    assert invalid.returncode == 1
    assert "unknown preset 'image-crad'" in invalid.stderr

    missing = mediamix("validate", "no/such/file.yaml", cwd=project)
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr

    bad_option = mediamix("validate", "--no-such-option", cwd=project)
    assert bad_option.returncode == 2

    for out in (invalid, missing, bad_option):
        assert "Traceback" not in out.stderr


def test_every_shipped_preset_and_pipeline_validates_cleanly() -> None:
    shipped = sorted([*(REPO / "presets").glob("*.yaml"), *(REPO / "pipelines").glob("*.yaml")])

    out = mediamix("validate", "--json", "presets", "pipelines", cwd=REPO)

    payload = json.loads(out.stdout)
    assert out.returncode == 0, payload["errors"]
    assert payload["errors"] == [] and payload["warnings"] == []
    assert sorted(REPO / f["path"] for f in payload["files"]) == shipped
    assert {f["kind"] for f in payload["files"]} == {"preset", "pipeline"}


def test_validate_a_project_from_outside_uses_that_projects_presets(
    project: Path, tmp_path: Path
) -> None:
    # The pipeline names the project's own preset, which only that project has.
    (project / "pipelines" / "card.yaml").write_text(
        "steps:\n  - id: card\n    preset: square-card\n    prompt: hello\n", encoding="utf-8"
    )

    whole = mediamix("validate", str(project), cwd=tmp_path)
    one_file = mediamix("validate", str(project / "pipelines" / "card.yaml"), cwd=tmp_path)

    assert whole.returncode == 0, whole.stderr
    assert one_file.returncode == 0, one_file.stderr


def test_init_again_without_force_fails_and_keeps_the_files(project: Path) -> None:
    settings = project / "mediamix.yaml"
    settings.write_text("concurrency: 3\n", encoding="utf-8")

    again = mediamix("init", str(project), cwd=project.parent)

    assert again.returncode == 2
    assert again.stderr.strip() == (
        f"mediamix: error: {project} already holds a mediamix project (use --force to overwrite)"
    )
    assert "Traceback" not in again.stderr
    assert settings.read_text(encoding="utf-8") == "concurrency: 3\n"

    forced = mediamix("init", "--force", str(project), cwd=project.parent)

    assert forced.returncode == 0, forced.stderr
    assert "storage:" in settings.read_text(encoding="utf-8")


def test_presets_lists_every_builtin(tmp_path: Path) -> None:
    out = mediamix("presets", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    listed = [line.split()[0] for line in out.stdout.splitlines()]
    assert sorted(listed) == BUILTIN_PRESETS

    rows = json.loads(mediamix("presets", "--json", cwd=tmp_path).stdout)
    assert sorted(r["name"] for r in rows) == BUILTIN_PRESETS
    assert {r["source"] for r in rows} == {"built-in"}
    image_rows = json.loads(
        mediamix("presets", "--json", "--media-type", "image", cwd=tmp_path).stdout
    )
    assert image_rows and {r["media_type"] for r in image_rows} == {"image"}


def test_presets_name_shows_the_candidates_in_order(tmp_path: Path) -> None:
    out = mediamix("presets", "image-dalle3-simple", cwd=tmp_path)

    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "image-dalle3-simple  (image, fallback, built-in)"
    start = lines.index("  candidates, in order:")
    candidates = [line.split()[1] for line in lines[start + 1 : start + 4]]
    assert candidates == ["openai/dall-e-3", "openai/gpt-image-1", "local/card"]
    assert "  retry: up to 3 attempts per candidate" in lines


def test_presets_unknown_name_is_a_usage_error_with_a_suggestion(tmp_path: Path) -> None:
    out = mediamix("presets", "image-crad", cwd=tmp_path)

    assert out.returncode == 2
    assert out.stderr.strip() == (
        "mediamix: error: no preset named 'image-crad' (did you mean 'image-card'?)"
    )


def test_a_project_preset_overrides_the_builtin_of_the_same_name(project: Path) -> None:
    override = project / "presets" / "image-card.yaml"
    override.write_text(
        "description: Our own square cards.\n"
        "media_type: image\n"
        "models:\n"
        "  - {provider: local, model: card, params: {width: 512, height: 512}}\n",
        encoding="utf-8",
    )

    shown = mediamix("presets", "image-card", cwd=project)
    rows = json.loads(mediamix("presets", "--json", cwd=project).stdout)

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[:2] == [
        f"image-card  (image, fallback, {override})",
        "  Our own square cards.",
    ]
    assert "1. local/card params={'width': 512, 'height': 512}" in shown.stdout
    (row,) = [r for r in rows if r["name"] == "image-card"]
    assert row["source"] == str(override)
    assert mediamix("validate", cwd=project).returncode == 0


def test_schema_prints_the_schema_as_json(tmp_path: Path) -> None:
    out = mediamix("schema", "pipeline", cwd=tmp_path)

    assert out.returncode == 0
    assert json.loads(out.stdout) == load_schema("pipeline")

    path = mediamix("schema", "--path", "preset", cwd=tmp_path)
    assert Path(path.stdout.strip()) == schema_path("preset")
    assert mediamix("schema", "no-such-kind", cwd=tmp_path).returncode == 2


@pytest.mark.parametrize("command", ["init", "validate", "presets", "schema"])
def test_each_config_command_has_help(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])

    assert result.exit_code == 0
    assert result.output.startswith(f"Usage: mediamix {command} [OPTIONS]")
