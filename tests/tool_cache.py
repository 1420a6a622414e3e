"""Where tests keep third-party tools they install once per machine (an older DuckDB, a
yaml-language-server): under the system temp folder, never the home directory (which the
tests make unwritable). ``MEDIAMIX_TEST_CACHE`` moves it."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CACHE = Path(
    os.environ.get("MEDIAMIX_TEST_CACHE") or Path(tempfile.gettempdir()) / "mediamix-test-cache"
)


def pip_target(requirement: str) -> Path:
    """A folder holding ``requirement`` installed with pip (``PYTHONPATH`` it to import it),
    installed the first time it is asked for; xdist workers wait for one another."""
    home = CACHE / "pip" / requirement.replace("=", "-").replace("<", "").replace(">", "")
    home.mkdir(parents=True, exist_ok=True)
    done = home / ".installed"
    with open(home / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.is_file():
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-deps",
                    "--target",
                    str(home / "site"),
                    requirement,
                ],
                check=True,
                capture_output=True,
                timeout=600,
            )
            done.touch()
    return home / "site"
