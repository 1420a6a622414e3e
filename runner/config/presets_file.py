"""Writing presets: the same checks as ``mediamix validate``, then an atomic write.

Used by the HTTP API (create, update, init) so a preset written through it is exactly as
valid as one a person saves in an editor and checks with ``mediamix validate``: schema,
then cross-file checks (providers, models, accounts), every problem as a ``FILE:LINE:COL``
diagnostic. A file on disk is never half-written or left invalid.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from runner.config.crosscheck import check_preset
from runner.config.loader import preset_from
from runner.config.model import Preset
from runner.config.project import Workspace
from runner.config.resources import data_dir
from runner.config.schema_check import schema_diagnostics
from runner.config.yamlsource import parse_yaml
from runner.errors import ConfigError, Diagnostic, UsageError

PRESETS_DIR = "presets"
#: A preset's name is its file's stem: safe as a file name and in a URL.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: Longest preset file accepted (the shipped ones are under 2 KB).
MAX_PRESET_BYTES = 256 * 1024


@dataclass
class CheckedPreset:
    preset: Preset
    text: str
    #: Problems that do not stop it from being used (e.g. no account serves a model yet).
    warnings: list[Diagnostic] = field(default_factory=list)


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise UsageError(
            f"preset name {name!r} is not allowed: use letters, digits, '-' and '_' "
            "(at most 64, starting with a letter or digit)"
        )
    return name


def preset_file(root: Path, name: str) -> Path:
    return root / PRESETS_DIR / f"{check_name(name)}.yaml"


def check_preset_text(name: str, text: str, ws: Workspace) -> CheckedPreset:
    """Parse and check a preset's YAML as ``presets/NAME.yaml``; ConfigError lists
    every problem, each at its line and column."""
    check_name(name)
    shown = f"{PRESETS_DIR}/{name}.yaml"
    if len(text.encode("utf-8")) > MAX_PRESET_BYTES:
        raise ConfigError(
            [Diagnostic(shown, 1, 1, "", f"the file is larger than {MAX_PRESET_BYTES} bytes")]
        )
    doc = parse_yaml(text, shown)
    problems = schema_diagnostics("preset", doc.data, doc.positions)
    if problems:
        raise ConfigError(problems)
    declared = doc.data.get("name") if isinstance(doc.data, dict) else None
    if declared is not None and declared != name:
        raise ConfigError(
            [
                doc.positions.diagnostic(
                    ("name",), f"name {declared!r} differs from the file's name {name!r}"
                )
            ]
        )
    preset = preset_from(doc.data, name=name, source=None, builtin=False)
    found = check_preset(preset, doc, ws)
    errors = [d for d in found if d.severity == "error"]
    if errors:
        raise ConfigError(errors)
    return CheckedPreset(preset, text, [d for d in found if d.severity != "error"])


def write_preset(ws: Workspace, name: str, text: str, *, exists: bool | None = None) -> Path:
    """Check ``text`` and write it as the project's ``presets/NAME.yaml``.

    ``exists``: True to require the file to be there already (update), False to
    require it not to be (create), None for either.
    """
    path = preset_file(ws.project.root, name)
    if exists is True and not path.is_file():
        raise UsageError(f"the project has no preset file {PRESETS_DIR}/{name}.yaml to update")
    if exists is False and path.is_file():
        raise UsageError(f"{PRESETS_DIR}/{name}.yaml already exists; update it instead")
    check_preset_text(name, text, ws)
    write_atomically(path, text)
    return path


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@dataclass
class InstallResult:
    installed: list[str] = field(default_factory=list)
    #: Already in the project (possibly edited): never overwritten.
    kept: list[str] = field(default_factory=list)


def install_default_presets(root: Path) -> InstallResult:
    """Copy the built-in presets into the project's presets/ (idempotent: files already
    there are kept as they are, so running it again changes nothing)."""
    result = InstallResult()
    target = root / PRESETS_DIR
    target.mkdir(parents=True, exist_ok=True)
    for source in sorted(data_dir("presets").glob("*.yaml")):
        destination = target / source.name
        if destination.exists():
            result.kept.append(source.stem)
            continue
        tmp = target / f".{source.stem}.installing"
        shutil.copyfile(source, tmp)
        os.replace(tmp, destination)
        result.installed.append(source.stem)
    return result
