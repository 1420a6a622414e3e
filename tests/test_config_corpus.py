"""The broken-file corpus: every case reports exactly the diagnostics in its manifest.

Each folder under tests/corpus/ is a tiny project holding one kind of mistake;
tests/corpus/expected.yaml says, line for line, what `mediamix validate` must print
for it (file, line, column, path and message). A message that gets vaguer or a
position that drifts fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import runner.config.yamlsource as yamlsource
from runner.cli.main import cli
from runner.config.validate import validate

CORPUS = Path(__file__).parent / "corpus"
MANIFEST: dict[str, dict[str, Any]] = yaml.safe_load(
    (CORPUS / "expected.yaml").read_text(encoding="utf-8")
)
CASES = sorted(MANIFEST)

# The C and the pure-Python PyYAML loaders word syntax errors differently; the
# messages users see must not depend on which one is installed.
LOADERS: dict[str, type[Any]] = yamlsource.LOADERS


def _only_warnings(expected: list[str]) -> bool:
    return all(": warning: " in line for line in expected)


def test_manifest_and_corpus_folders_match() -> None:
    folders = {p.name for p in CORPUS.iterdir() if p.is_dir()}
    assert folders == set(MANIFEST)
    assert len(folders) >= 35
    for name, entry in MANIFEST.items():
        assert entry["expect"], f"{name}: a corpus case must expect at least one diagnostic"


@pytest.mark.parametrize("loader", sorted(LOADERS))
@pytest.mark.parametrize("case", CASES)
def test_corpus_case_reports_exactly_the_expected_diagnostics(
    case: str, loader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = MANIFEST[case]
    monkeypatch.setattr(yamlsource, "_Loader", LOADERS[loader])
    monkeypatch.chdir(CORPUS / case)

    report = validate(entry.get("paths", []), None)

    assert [str(d) for d in report.diagnostics] == entry["expect"]
    assert report.ok == _only_warnings(entry["expect"])


@pytest.mark.parametrize("case", CASES)
def test_corpus_case_through_the_cli_json(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = MANIFEST[case]
    monkeypatch.chdir(CORPUS / case)

    result = CliRunner().invoke(cli, ["validate", "--json", *entry.get("paths", [])])

    payload = json.loads(result.stdout)
    reported = sorted(
        f"{d['file']}:{d['line']}:{d['column']}"
        + (f": {d['path']}" if d["path"] else "")
        + (": warning" if d["severity"] == "warning" else "")
        + f": {d['message']}"
        for d in payload["errors"] + payload["warnings"]
    )
    assert reported == sorted(entry["expect"])
    assert payload["ok"] is _only_warnings(entry["expect"])
    assert result.exit_code == (0 if payload["ok"] else 1)


def test_errors_are_printed_sorted_one_per_line_then_a_summary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(CORPUS / "multiple-errors")

    result = CliRunner().invoke(cli, ["validate"])

    lines = result.stderr.splitlines()
    expected = MANIFEST["multiple-errors"]["expect"]
    assert lines == [*expected, f"{len(expected)} error(s) in 1 file(s)"]
    assert result.exit_code == 1


def test_a_key_pasted_into_api_key_env_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CORPUS / "api-key-in-api-key-env")
    pasted = "sk-proj-abc123def456"
    assert pasted in Path("accounts.yaml").read_text(encoding="utf-8")

    for args in (["validate"], ["validate", "--json"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1
        assert pasted not in result.output
        assert "api_key_env" in result.output
