"""Pipeline inputs from the command line: ``-i NAME=VALUE`` and ``--inputs-file``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runner.config.yamlsource import load_yaml
from runner.errors import UsageError


def parse_inputs(pairs: tuple[str, ...], inputs_file: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if inputs_file:
        path = Path(inputs_file)
        data = _read_json(path) if path.suffix == ".json" else load_yaml(path).data
        if not isinstance(data, dict):
            raise UsageError(f"{inputs_file}: inputs file must hold a mapping of NAME: VALUE")
        values.update(data)
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"-i expects NAME=VALUE, got {pair!r}")
        values[name.strip()] = value
    return values


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
    except RecursionError as exc:
        raise UsageError(f"{path}: JSON nested too deeply") from exc
    except (ValueError, OSError) as exc:  # not UTF-8, a 5,000-digit number, unreadable
        raise UsageError(f"{path}: cannot read inputs: {exc}"[:300]) from exc
