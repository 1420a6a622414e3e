"""Where the shipped schemas, presets and pipelines live.

In a wheel they are packaged as ``runner/_data/<kind>/``; in a source checkout
(editable install) they are the repository's top-level folders.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Literal

DataKind = Literal["schemas", "presets", "pipelines"]
_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def data_dir(kind: DataKind) -> Path:
    packaged = _PACKAGE_DIR / "_data" / kind
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parent / kind


SCHEMA_KINDS = ("preset", "pipeline", "accounts", "project")


def schema_path(kind: str) -> Path:
    return data_dir("schemas") / f"{kind}.schema.json"


@cache
def load_schema(kind: str) -> dict[str, Any]:
    with schema_path(kind).open(encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
    return schema
