"""Adding an account to accounts.yaml without disturbing what the user wrote.

The new entry is appended as text (comments and layout above it survive) and the
result is validated before it replaces the file; a key is never written, only the NAME
of the environment variable that holds it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from runner.config.loader import read_document
from runner.config.yaml12 import LOADERS, PurePythonLoader
from runner.config.yamlsource import dump_yaml
from runner.errors import ConfigError, UsageError

HEADER = (
    "# yaml-language-server: $schema=schemas/accounts.schema.json\n"
    "# Provider accounts. Keys never live here: api_key_env names an environment variable.\n"
    "accounts:\n"
)


def looks_like_a_key(name: str) -> bool:
    """A variable name is words joined by underscores; a key has a long random run.

    The schema already refuses names with ``-`` (most keys); this catches the keys made of
    letters, digits and underscores only (ElevenLabs' ``sk_<hex>``, Google's ``AIza...``).
    """
    return any(
        len(part) >= 16 and any(c.isdigit() for c in part) and any(c.isalpha() for c in part)
        for part in name.split("_")
    )


def add_account(path: Path, entry: dict[str, object]) -> None:
    variable = entry.get("api_key_env")
    if isinstance(variable, str) and looks_like_a_key(variable):
        # The value is not repeated: it may well be the key itself.
        raise UsageError(
            "--api-key-env looks like a key, not the name of an environment variable "
            "(value not shown); give the variable's NAME, e.g. ELEVENLABS_API_KEY"
        )
    existing = path.read_text(encoding="utf-8") if path.is_file() else HEADER
    current: dict[str, Any] = {}
    if path.is_file():
        current = read_document(path, "accounts").data or {}
        names = {a.get("name") for a in current.get("accounts") or []}
        if entry["name"] in names:
            raise UsageError(f"{path}: an account named {entry['name']!r} already exists")
        if "accounts: []" in existing:
            existing = existing.replace("accounts: []", "accounts:")
    new = _clean(entry)
    block = dump_yaml([new])
    indented = "".join(f"  {line}\n" for line in block.splitlines())
    appended = existing.rstrip("\n") + "\n" + indented
    before = list(current.get("accounts") or [])
    # Appending keeps comments and layout, but only works when the file ends with a block
    # list under ``accounts:``; otherwise (flow style, other keys last) rewrite it whole.
    if _accounts_of(appended) != [*before, new]:
        leading = "".join(
            line for line in existing.splitlines(keepends=True) if line.startswith("#")
        )
        appended = leading + dump_yaml({**current, "accounts": [*before, new]})
    _replace_checked(path, appended)


def save_account(path: Path, entry: dict[str, object]) -> str:
    """Add the account, or replace the one of the same name; "created" or "updated".

    A replaced entry is rewritten whole (the file's leading comments are kept); what
    else the file holds is kept as data. Checked before it replaces the file, atomically.
    """
    if not path.is_file():
        add_account(path, entry)
        return "created"
    current: dict[str, Any] = read_document(path, "accounts").data or {}
    before = list(current.get("accounts") or [])
    names = [a.get("name") if isinstance(a, dict) else None for a in before]
    if entry["name"] not in names:
        add_account(path, entry)
        return "created"
    variable = entry.get("api_key_env")
    if isinstance(variable, str) and looks_like_a_key(variable):
        raise UsageError(
            "api_key_env looks like a key, not the name of an environment variable "
            "(value not shown); give the variable's NAME, e.g. ELEVENLABS_API_KEY"
        )
    after = [
        _clean(entry) if name == entry["name"] else old
        for old, name in zip(before, names, strict=True)
    ]
    existing = path.read_text(encoding="utf-8")
    leading = "".join(line for line in existing.splitlines(keepends=True) if line.startswith("#"))
    _replace_checked(path, leading + dump_yaml({**current, "accounts": after}))
    return "updated"


def _clean(entry: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in entry.items() if v not in (None, (), [], {})}


def _replace_checked(path: Path, text: str) -> None:
    """Write ``text`` beside ``path``, check it is a valid accounts file, then rename it
    over ``path``: readers see the old file or the new one, never a broken one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".accounts-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        try:
            read_document(Path(tmp), "accounts")
        except ConfigError as exc:
            raise UsageError(
                "the new account would make accounts.yaml invalid: "
                + "; ".join(
                    f"{d.path}: {d.message}" if d.path else d.message for d in exc.diagnostics
                )
            ) from exc
        # mkstemp makes the file 0600; keep the mode the file had (or the usual 0644).
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _accounts_of(text: str) -> list[Any] | None:
    """The ``accounts`` list ``text`` parses to (None when it is not valid YAML)."""
    try:
        data = yaml.load(text, Loader=LOADERS.get("libyaml", PurePythonLoader))
    except yaml.YAMLError:
        return None
    return data.get("accounts") if isinstance(data, dict) else None
