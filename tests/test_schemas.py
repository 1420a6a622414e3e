"""The JSON Schemas in schemas/: valid draft 2020-12, and a standard validator agrees.

Editors and CI tools read schemas/ directly (yaml-language-server, check-jsonschema),
so the schemas must stand on their own: what they accept and reject has to match
`mediamix validate` on the shipped files and on broken ones.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from runner.config.resources import SCHEMA_KINDS, load_schema, schema_path
from runner.config.scaffold import init_project
from runner.config.validate import validate

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).parent / "corpus"

#: Corpus files whose only problems are schema problems, by the schema they break.
SCHEMA_BROKEN = {
    "preset": [
        "bad-enum/presets/card.yaml",
        "misspelt-top-level-key/presets/card.yaml",
        "unknown-key-no-match/presets/card.yaml",
        "string-for-number/presets/card.yaml",
        "mapping-for-list/presets/card.yaml",
        "missing-required-key/presets/card.yaml",
        "document-is-list/presets/card.yaml",
        "unquoted-number-for-string/presets/card.yaml",
    ],
    "pipeline": [
        "bad-step-id/pipelines/p.yaml",
        "bad-input-name/pipelines/p.yaml",
        "misspelt-nested-key/pipelines/p.yaml",
        "missing-required-step-keys/pipelines/p.yaml",
        "multiple-errors/pipelines/p.yaml",
    ],
    "accounts": [
        "api-key-in-api-key-env/accounts.yaml",
        "accounts-bad-base-url/accounts.yaml",
    ],
    "project": ["project-file-errors/mediamix.yaml"],
}


def _check_jsonschema() -> str:
    found = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    found = found or shutil.which("check-jsonschema")
    if found is None:
        pytest.skip("check-jsonschema is not installed (pip install 'mediamix[test]')")
    return found


def _failing_files(kind: str, files: list[Path]) -> set[Path]:
    """Files check-jsonschema rejects (schema errors or unparsable) under ``kind``'s schema."""
    out = subprocess.run(
        [
            _check_jsonschema(),
            "-o",
            "json",
            "--schemafile",
            str(schema_path(kind)),
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(out.stdout)
    assert out.returncode == (0 if report["status"] == "ok" else 1), out.stderr
    failed = report.get("errors", []) + report.get("parse_errors", [])
    return {Path(e["filename"]).resolve() for e in failed}


@pytest.fixture(scope="module")
def shipped_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Every YAML file mediamix ships, by kind: presets/, pipelines/, a fresh `init`."""
    project = tmp_path_factory.mktemp("init") / "proj"
    init_project(project)
    return {
        "preset": sorted((REPO / "presets").glob("*.yaml"))
        + sorted((project / "presets").glob("*.yaml")),
        "pipeline": sorted((REPO / "pipelines").glob("*.yaml"))
        + sorted((project / "pipelines").glob("*.yaml")),
        "accounts": [project / "accounts.yaml"],
        "project": [project / "mediamix.yaml"],
    }


def test_schemas_folder_holds_exactly_the_four_kinds() -> None:
    assert sorted(p.name for p in (REPO / "schemas").glob("*.json")) == sorted(
        f"{kind}.schema.json" for kind in SCHEMA_KINDS
    )


@pytest.mark.parametrize("kind", SCHEMA_KINDS)
def test_schema_is_valid_draft_2020_12(kind: str) -> None:
    schema = load_schema(kind)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("kind", SCHEMA_KINDS)
def test_check_jsonschema_and_mediamix_accept_every_shipped_file(
    kind: str, shipped_files: dict[str, list[Path]]
) -> None:
    files = shipped_files[kind]
    assert files

    assert _failing_files(kind, files) == set()
    for path in files:
        report = validate([path], None)
        assert report.errors == [], f"{path}: {[str(d) for d in report.errors]}"
        assert [k for _, k in report.files] == [kind]


@pytest.mark.parametrize("kind", SCHEMA_KINDS)
def test_check_jsonschema_and_mediamix_reject_the_same_broken_files(kind: str) -> None:
    files = [CORPUS / name for name in SCHEMA_BROKEN[kind]]

    assert _failing_files(kind, files) == {f.resolve() for f in files}
    for path in files:
        report = validate([path], None)
        assert not report.ok, path
        # Schema problems only: both tools are judging the same thing.
        assert all(d.file.endswith(path.name) for d in report.errors)


STORAGE_URLS = {
    "file://outputs": True,
    "outputs": True,
    "./outputs/media": True,
    "/srv/media": True,
    "s3://bucket/prefix": True,
    "ftp://example.com/media": False,
    "https://example.com/media": False,
    "gs://bucket": False,
}


def test_storage_url_pattern_means_the_same_to_both_validators(tmp_path: Path) -> None:
    # The pattern uses a lookahead; check-jsonschema evaluates it as ECMA-262 regex.
    files: dict[Path, bool] = {}
    for i, (url, accepted) in enumerate(STORAGE_URLS.items()):
        path = tmp_path / str(i) / "mediamix.yaml"
        path.parent.mkdir()
        path.write_text(f"storage:\n  url: {json.dumps(url)}\n", encoding="utf-8")
        files[path.resolve()] = accepted

    rejected = {path for path, accepted in files.items() if not accepted}
    assert _failing_files("project", list(files)) == rejected
    for path, accepted in files.items():
        assert validate([path], str(path.parent)).ok is accepted, path.read_text()


def test_validate_rule_names_match_the_validation_module() -> None:
    try:
        validation = importlib.import_module("runner.validation")
    except ImportError as exc:
        pytest.skip(f"runner.validation is not importable yet: {exc}")
    rule_names = getattr(validation, "RULE_NAMES", None)
    if rule_names is None:
        pytest.skip("runner.validation does not define RULE_NAMES yet")
    for kind in ("preset", "pipeline"):
        schema_rules = load_schema(kind)["$defs"]["rules"]["properties"]
        assert set(schema_rules) == set(rule_names), kind
