"""``mediamix init``: a new project that validates and runs offline straight away."""

from __future__ import annotations

import shutil
from pathlib import Path

from runner.config.resources import SCHEMA_KINDS, data_dir, schema_path
from runner.errors import UsageError

PROJECT_YAML = """\
# yaml-language-server: $schema=schemas/project.schema.json
# Where artifacts go. For Cloudflare R2 or S3:
#   storage:
#     url: s3://my-bucket/mediamix
#     endpoint_url: https://<account-id>.r2.cloudflarestorage.com
#     public_url_base: https://media.example.com/mediamix
storage:
  url: file://outputs
runlog: .mediamix/runlog
concurrency: 8
"""

ACCOUNTS_YAML = """\
# yaml-language-server: $schema=schemas/accounts.schema.json
# Provider accounts. A key never lives here: api_key_env names the environment variable
# that holds it. Add more with `mediamix accounts add`.
accounts:
  - name: openai-main
    provider: openai
    api_key_env: OPENAI_API_KEY
    rpm: 60
    max_concurrency: 4
  - name: anthropic-main
    provider: anthropic
    api_key_env: ANTHROPIC_API_KEY
    rpm: 50
"""

EXAMPLE_PRESET = """\
# yaml-language-server: $schema=../schemas/preset.schema.json
# A project preset. A file with the same name as a built-in preset overrides it.
description: Title cards rendered offline, square.
media_type: image
models:
  - provider: local
    model: card
    params: {width: 1024, height: 1024}
"""

GITIGNORE = "outputs/\n.mediamix/\n"


def init_project(directory: Path, *, force: bool = False) -> list[Path]:
    """Write a new project into ``directory``; returns the files written."""
    if (directory / "mediamix.yaml").exists() and not force:
        raise UsageError(f"{directory} already holds a mediamix project (use --force to overwrite)")
    written: list[Path] = []

    def write(relative: str, text: str) -> None:
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)

    write("mediamix.yaml", PROJECT_YAML)
    write("accounts.yaml", ACCOUNTS_YAML)
    write("presets/square-card.yaml", EXAMPLE_PRESET)
    write(".gitignore", GITIGNORE)
    (directory / "outputs").mkdir(exist_ok=True)
    for kind in SCHEMA_KINDS:
        target = directory / "schemas" / f"{kind}.schema.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(schema_path(kind), target)
        written.append(target)
    for name in ("explainer.yaml", "image.yaml"):
        source = data_dir("pipelines") / name
        write(f"pipelines/{name}", source.read_text(encoding="utf-8"))
    return written
