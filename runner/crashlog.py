"""Where unexpected errors (bugs) go: a log file, never a screen or an HTTP response.

Each crash gets a short id, printed (or answered) in place of the traceback, so a person
can find the matching entry in the file and report it. The file is ``crash.log`` in the
state dir: ``MEDIAMIX_STATE_DIR``, else the project's ``.mediamix/``. With neither, it is
a new private file in the temporary folder, one per process: a fixed name there
(``/tmp/mediamix-crash.log``) is one any local user can plant a link at, or read.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import traceback
from datetime import UTC, datetime

from runner.errors import redact

#: This process's private fallback file, made on first need.
_fallback: str | None = None


def _state_dir(project: str | None) -> str | None:
    explicit = os.environ.get("MEDIAMIX_STATE_DIR")
    if explicit:
        return explicit
    try:
        from runner.config.project import PROJECT_FILE, find_project_root

        root = find_project_root(project)
        return str(root / ".mediamix") if (root / PROJECT_FILE).is_file() else None
    except Exception:  # the crash may be in reading the project itself
        return None


def _private_file() -> str:
    global _fallback
    if _fallback is None:
        fd, _fallback = tempfile.mkstemp(prefix="mediamix-crash-", suffix=".log")
        os.close(fd)
    return _fallback


def crash_log_path(project: str | None = None) -> str:
    """The crash log of ``project`` (a directory; default MEDIAMIX_PROJECT or here)."""
    folder = _state_dir(project)
    return os.path.join(folder, "crash.log") if folder is not None else _private_file()


def _append(path: str, text: str) -> None:
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    with os.fdopen(os.open(path, flags, 0o600), "a", encoding="utf-8") as fh:
        fh.write(text)


def write_crash_log(text: str, project: str | None = None) -> str:
    """Append ``text`` to the crash log and return the path it went to."""
    path = crash_log_path(project)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _append(path, text)
        return path
    except OSError:
        path = _private_file()  # a read-only project, a link in the way
        _append(path, text)
        return path


def record_crash(exc: BaseException, *, context: str = "") -> str:
    """Append ``exc``'s traceback (secrets redacted) to the crash log; return its id."""
    crash_id = secrets.token_hex(6)
    text = "".join(traceback.format_exception(exc))
    header = f"--- crash {crash_id} at {datetime.now(UTC).isoformat()} {context}".rstrip()
    # A crash log that cannot be written must not become a second crash.
    with contextlib.suppress(OSError):
        write_crash_log(f"{header}\n{redact(text)}\n")
    return crash_id
