"""Adding an account to accounts.yaml without disturbing what the user wrote.

The new entry is appended as text (comments and layout above it survive) and the
result is validated before it replaces the file; a key is never written, only the NAME
of the environment variable that holds it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from runner.config.loader import read_document
from runner.config.yamlsource import dump_yaml
from runner.errors import ConfigError, UsageError

HEADER = (
    "# yaml-language-server: $schema=schemas/accounts.schema.json\n"
    "# Provider accounts. Keys never live here: api_key_env names an environment variable.\n"
    "accounts:\n"
)


def add_account(path: Path, entry: dict[str, object]) -> None:
    existing = path.read_text(encoding="utf-8") if path.is_file() else HEADER
    if path.is_file():
        current = read_document(path, "accounts").data or {}
        names = {a.get("name") for a in current.get("accounts") or []}
        if entry["name"] in names:
            raise UsageError(f"{path}: an account named {entry['name']!r} already exists")
        if "accounts: []" in existing:
            existing = existing.replace("accounts: []", "accounts:")
    block = dump_yaml([{k: v for k, v in entry.items() if v not in (None, (), [])}])
    indented = "".join(f"  {line}\n" for line in block.splitlines())
    text = existing.rstrip("\n") + "\n" + indented
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".accounts-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        try:
            read_document(Path(tmp), "accounts")
        except ConfigError as exc:
            raise UsageError(
                "the new account would make accounts.yaml invalid: "
                + "; ".join(d.message for d in exc.diagnostics)
            ) from exc
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
