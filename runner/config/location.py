"""Where a project is, and where its run log lives, found without loading the project.

Commands that only read the run log (``report``, ``sql``, ``jobs``, ``log``) need one
setting of mediamix.yaml: ``runlog``. Checking the whole file against its JSON Schema
means importing jsonschema, which costs more (~0.15 s) than ``report`` spends on a
million jobs. So :func:`runlog_dir` reads the file with the project's YAML loader (the same
YAML 1.2 rules as everywhere) and takes ``runlog`` when it is what the schema allows (a
string, or absent); for anything else, the full load reports the problem as every
command does (``file:line:column``). A mistake elsewhere in the file does not keep these
commands from reading the log; ``mediamix validate`` and every command that runs
something still report it.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_FILE = "mediamix.yaml"
#: The run-log directory when mediamix.yaml does not name one (relative to the project).
DEFAULT_RUNLOG = Path(".mediamix/runlog")


def find_project_root(start: str | os.PathLike[str] | None) -> Path:
    """The directory holding mediamix.yaml: ``start`` or its nearest ancestor with one.

    With no mediamix.yaml anywhere above, ``start`` itself is the project (defaults apply).
    """
    base = Path(start or os.environ.get("MEDIAMIX_PROJECT") or ".").resolve()
    for candidate in (base, *base.parents):
        if (candidate / PROJECT_FILE).is_file():
            return candidate
    return base


def runlog_dir(start: str | os.PathLike[str] | None) -> Path:
    """The project's run-log directory (``runlog:`` in mediamix.yaml, else the default)."""
    root = find_project_root(start)
    path = root / PROJECT_FILE
    if not path.is_file():
        return root / DEFAULT_RUNLOG
    from runner.config.yamlsource import load_yaml
    from runner.errors import ConfigError

    try:
        data = load_yaml(path).data
    except ConfigError:
        data = None  # the full load below says what is wrong, and where
    if isinstance(data, dict):
        value = data.get("runlog", "")
        if isinstance(value, str):
            runlog = Path(value) if value else DEFAULT_RUNLOG
            return runlog if runlog.is_absolute() else root / runlog
    from runner.config.project import load_project

    return load_project(root).runlog_dir
