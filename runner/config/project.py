"""A project on disk: mediamix.yaml, accounts.yaml, presets/ and pipelines/.

``load_workspace`` reads everything a command needs, reporting every problem in every
file at once. Built-in presets ship with mediamix; a project's own preset of the same
name overrides the built-in one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from runner.config.loader import Loaded, load_accounts, load_preset, load_project_file
from runner.config.location import PROJECT_FILE, find_project_root
from runner.config.model import Account, Preset, Project
from runner.config.output_paths import template_diagnostics
from runner.config.resources import data_dir
from runner.config.yamlsource import YamlDocument
from runner.errors import ConfigError, Diagnostic
from runner.providers.catalog import DEFAULT_KEY_ENV

ACCOUNTS_FILE = "accounts.yaml"


def load_project(start: str | os.PathLike[str] | None = None) -> Project:
    root = find_project_root(start)
    path = root / PROJECT_FILE
    if path.is_file():
        return load_project_file(path).value
    return Project(root=root)


def default_accounts() -> list[Account]:
    """One account per vendor keyed by the vendor's usual variable, plus ``local``.

    Used when a project has no accounts.yaml, so setting OPENAI_API_KEY just works.
    """
    accounts = [Account(name="local", provider="local")]
    accounts += [
        Account(name=f"{provider}-default", provider=provider, api_key_env=env)
        for provider, env in DEFAULT_KEY_ENV.items()
    ]
    return accounts


@dataclass
class Workspace:
    project: Project
    presets: dict[str, Preset] = field(default_factory=dict)
    preset_docs: dict[str, YamlDocument] = field(default_factory=dict)
    accounts: list[Account] = field(default_factory=list)
    accounts_doc: YamlDocument | None = None
    #: True when accounts come from accounts.yaml (not the implicit defaults).
    explicit_accounts: bool = False
    #: Names (file stems) of preset files that failed to load, so that steps using them
    #: are not also reported as naming an unknown preset.
    broken_presets: set[str] = field(default_factory=set)

    def presets_for(self, media_type: str) -> list[Preset]:
        """Presets of a media type, best first (priority, then project over built-in)."""
        matching = [p for p in self.presets.values() if p.media_type == media_type]
        return sorted(matching, key=lambda p: (-p.priority, p.builtin, p.name))


def _preset_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))


def load_workspace(start: str | os.PathLike[str] | None = None) -> Workspace:
    """Project settings, presets (built-in + project) and accounts; all problems at once."""
    ws, problems = load_workspace_lenient(start)
    errors = [d for d in problems if d.severity == "error"]
    if errors:
        raise ConfigError(errors)
    return ws


def load_workspace_lenient(
    start: str | os.PathLike[str] | None = None,
) -> tuple[Workspace, list[Diagnostic]]:
    """Like :func:`load_workspace`, but skips broken files and returns their problems."""
    problems: list[Diagnostic] = []
    root = find_project_root(start)
    project = Project(root=root)
    project_path = root / PROJECT_FILE
    if project_path.is_file():
        try:
            loaded_project = load_project_file(project_path)
            project = loaded_project.value
            if loaded_project.doc.data and "output" in loaded_project.doc.data:
                problems += template_diagnostics(
                    project.output_template, loaded_project.doc, ("output",)
                )
        except ConfigError as exc:
            problems += exc.diagnostics
    ws = Workspace(project=project)

    builtin_dir = data_dir("presets")
    project_dir = root / "presets"
    sources: list[tuple[Path, bool]] = [(p, True) for p in _preset_files(builtin_dir)]
    if project_dir.resolve() != builtin_dir.resolve():
        sources += [(p, False) for p in _preset_files(project_dir)]
    for path, builtin in sources:
        try:
            loaded: Loaded[Preset] = load_preset(path, builtin=builtin)
        except ConfigError as exc:
            problems += exc.diagnostics
            ws.broken_presets.add(path.stem)
            continue
        ws.presets[loaded.value.name] = loaded.value
        ws.preset_docs[loaded.value.name] = loaded.doc

    accounts_path = root / ACCOUNTS_FILE
    if accounts_path.is_file():
        try:
            loaded_accounts = load_accounts(accounts_path)
            ws.accounts = loaded_accounts.value
            ws.accounts_doc = loaded_accounts.doc
            ws.explicit_accounts = True
            if not any(a.provider == "local" for a in ws.accounts):
                ws.accounts.append(Account(name="local", provider="local"))
        except ConfigError as exc:
            problems += exc.diagnostics
    else:
        ws.accounts = default_accounts()

    return ws, problems
