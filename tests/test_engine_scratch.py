"""Scratch folders left by killed runs are cleared by the next engine on the same host;
folders that a live engine holds, or that belong to another host, are left alone."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from runner.engine.scratch import LOCK_NAME, Scratch, _host
from tests.conftest import REPO

KILLED_ENGINE = """
import sys, time
from pathlib import Path
from runner.engine.scratch import Scratch
scratch = Scratch(Path(sys.argv[1]))
(scratch.path / "half-a-video.mp4.part").write_bytes(b"\\0" * 4096)
print(scratch.path, flush=True)
time.sleep(60)
"""


def test_the_next_engine_clears_what_a_killed_one_left(tmp_path: Path) -> None:
    parent = tmp_path / "tmp"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_ENGINE, str(parent)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    left = Path(child.stdout.readline().strip())
    live = Scratch(parent)  # while the child lives, its folder is in use
    assert left.is_dir()
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()

    fresh = Scratch(parent)

    assert not left.exists()
    assert live.path.is_dir() and fresh.path.is_dir()
    assert fresh.path.name.startswith(f"run-{_host()}-")
    assert oct(fresh.path.stat().st_mode & 0o777) == "0o700"  # private while in use
    live.close()
    fresh.close()
    assert not live.path.exists() and not fresh.path.exists()


def test_folders_it_cannot_judge_are_left_alone(tmp_path: Path) -> None:
    parent = tmp_path / "tmp"
    no_lock_yet = parent / f"run-{_host()}-12345-abc"  # an engine still making it
    no_lock_yet.mkdir(parents=True)
    elsewhere = parent / "run-another-box-12345-def"  # another host's (shared folder)
    elsewhere.mkdir()
    (elsewhere / LOCK_NAME).touch()
    legacy = parent / "run-xyz_123"  # named before folders carried host and pid
    legacy.mkdir()

    scratch = Scratch(parent)

    assert no_lock_yet.is_dir() and elsewhere.is_dir() and legacy.is_dir()
    scratch.close()
