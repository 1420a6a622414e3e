"""mediamix reads YAML as editors do (YAML 1.2 core schema), so both flag the same lines.

Each case is a preset; `mediamix validate` and a real yaml-language-server (the engine
of the VS Code, Neovim and JetBrains YAML extensions) check it against the same JSON
Schema, and must find problems on exactly the same lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.config.scaffold import init_project
from runner.config.validate import validate
from tests.yaml_language_server import LanguageServer

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"

#: name -> (the YAML line that differs, whether it is valid under YAML 1.2)
CASES = {
    "yes-is-text": ("description: yes", True),
    "on-is-text": ("description: on", True),
    "NO-is-text": ("description: NO", True),
    "a-date-is-text": ("description: 2024-05-01", True),
    "017-is-a-number": ("description: 017", False),
    "0o17-is-a-number": ("description: 0o17", False),
    "tilde-is-null": ("description: ~", False),
    "inf-is-a-number": ("description: .inf", False),
    "yes-is-not-a-boolean": ("validate: {allow_flat_image: yes}", False),
    "on-is-not-a-boolean": ("validate: {allow_flat_image: on}", False),
    "true-is-a-boolean": ("validate: {allow_flat_image: true}", True),
    "False-is-a-boolean": ("validate: {allow_flat_image: False}", True),
    "octal-count": ("retry: {max_attempts: 0o3}", True),
    "hex-count": ("retry: {max_attempts: 0x3}", True),
    "underscore-is-text": ("retry: {max_attempts: 1_0}", False),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanguageServer]:
    ls = LanguageServer(tmp_path_factory.mktemp("yls"))
    yield ls
    ls.close()


def _preset(line: str) -> str:
    return (
        f"# yaml-language-server: $schema={(SCHEMAS / 'preset.schema.json').as_uri()}\n"
        "media_type: image\n"
        "models:\n"
        "  - {provider: local, model: card}\n"
        f"{line}\n"
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_mediamix_and_yaml_language_server_flag_the_same_lines(
    case: str, server: LanguageServer, tmp_path: Path
) -> None:
    line, valid = CASES[case]
    project = tmp_path / "proj"
    init_project(project)
    preset = project / "presets" / "probe.yaml"
    text = _preset(line)
    preset.write_text(text, encoding="utf-8")

    report = validate([preset], None)
    ours = {d.line for d in report.diagnostics if d.file.endswith("probe.yaml")}
    theirs = {d["range"]["start"]["line"] + 1 for d in server.diagnostics(preset, text)}

    assert ours == theirs
    assert ours == (set() if valid else {5})
