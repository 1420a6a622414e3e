"""Where unexpected errors (bugs) go: a log file, never a screen or an HTTP response.

Each crash gets a short id, printed (or answered) in place of the traceback, so a person
can find the matching entry in the file and report it.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import traceback
from datetime import UTC, datetime

from runner.errors import redact


def crash_log_path() -> str:
    base = os.environ.get("MEDIAMIX_STATE_DIR") or tempfile.gettempdir()
    os.makedirs(base, exist_ok=True)
    return os.path.join(base, "mediamix-crash.log")


def record_crash(exc: BaseException, *, context: str = "") -> str:
    """Append ``exc``'s traceback (secrets redacted) to the crash log; return its id."""
    crash_id = secrets.token_hex(6)
    text = "".join(traceback.format_exception(exc))
    header = f"--- crash {crash_id} at {datetime.now(UTC).isoformat()} {context}".rstrip()
    try:
        with open(crash_log_path(), "a", encoding="utf-8") as fh:
            fh.write(f"{header}\n{redact(text)}\n")
    except OSError:
        pass  # a crash log that cannot be written must not become a second crash
    return crash_id
