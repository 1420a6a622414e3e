"""``mediamix validate``: every file, every problem, one report."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from runner.config.crosscheck import check_accounts, check_pipeline, check_preset
from runner.config.loader import (
    Loaded,
    detect_kind,
    load_pipeline,
    load_preset,
    read_document,
)
from runner.config.model import Pipeline
from runner.config.project import (
    ACCOUNTS_FILE,
    PROJECT_FILE,
    Workspace,
    find_project_root,
    load_workspace_lenient,
)
from runner.config.yamlsource import load_yaml
from runner.errors import ConfigError, Diagnostic


@dataclass
class ValidationReport:
    files: list[tuple[str, str]] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


def project_files(root: Path) -> list[Path]:
    """The YAML files a project consists of, in a stable order."""
    files = [root / name for name in (PROJECT_FILE, ACCOUNTS_FILE) if (root / name).is_file()]
    for folder in ("presets", "pipelines"):
        directory = root / folder
        if directory.is_dir():
            files += sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml"))
    return files


def _expand(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += project_files(path) or sorted(
                p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")
            )
        else:
            out.append(path)
    return out


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def check_pipeline_file(path: Path, ws: Workspace) -> tuple[Loaded[Pipeline], list[Diagnostic]]:
    """Load a pipeline and cross-check it; raises ConfigError when it cannot be loaded."""
    loaded = load_pipeline(path)
    return loaded, check_pipeline(loaded.value, loaded.doc, ws)


def _project_of(path: Path) -> Path:
    """The project a file or folder given on the command line belongs to."""
    folder = path if path.is_dir() else path.parent
    root = find_project_root(folder)
    if not (root / PROJECT_FILE).is_file() and folder.name in ("presets", "pipelines"):
        return folder.parent  # a project without mediamix.yaml
    return root


def validate(paths: Iterable[str | os.PathLike[str]], project: str | None) -> ValidationReport:
    report = ValidationReport()
    requested = [Path(p) for p in paths]
    if project is None and requested:
        # `mediamix validate other/pipelines/x.yaml` checks against other's presets.
        project = str(_project_of(requested[0]))
    ws, problems = load_workspace_lenient(project)
    report.diagnostics += problems
    root = ws.project.root
    files = _expand(requested) if requested else project_files(root)
    if ws is not None:
        report.diagnostics += check_accounts(ws)
    for path in files:
        shown = Path(_display(path))
        try:
            doc = load_yaml(shown)
        except ConfigError as exc:
            report.files.append((str(shown), "unknown"))
            report.diagnostics += exc.diagnostics
            continue
        kind = detect_kind(path.resolve(), doc.data)
        report.files.append((str(shown), kind or "unknown"))
        if kind is None:
            report.diagnostics.append(
                Diagnostic(
                    str(shown),
                    1,
                    1,
                    "",
                    "cannot tell what kind of mediamix file this is; put it in presets/ "
                    "or pipelines/, or name it mediamix.yaml or accounts.yaml",
                )
            )
            continue
        try:
            if kind == "pipeline":
                _, found = check_pipeline_file(shown, ws)
                report.diagnostics += found
            elif kind == "preset":
                loaded = load_preset(shown)
                report.diagnostics += check_preset(loaded.value, loaded.doc, ws)
            elif path.resolve() not in {root / PROJECT_FILE, root / ACCOUNTS_FILE}:
                # The project's own mediamix.yaml/accounts.yaml were checked with the workspace.
                read_document(shown, kind)
        except ConfigError as exc:
            report.diagnostics += exc.diagnostics
    # The workspace loads project files by absolute path; show every file one way, so
    # a problem found both there and here is reported once.
    report.diagnostics = sorted(
        {replace(d, file=_display(Path(d.file))) for d in report.diagnostics}
    )
    return report
