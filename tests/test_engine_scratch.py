"""Scratch folders left by killed runs are cleared by the next run on the same host."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from runner.engine.scratch import _host, make_scratch


def _dead_pid() -> int:
    """A pid no process can have: above the kernel's maximum (else one that just ended)."""
    try:
        return int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    except OSError:
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait()
        return child.pid


def test_a_new_scratch_folder_clears_those_of_dead_processes_on_this_host(
    tmp_path: Path,
) -> None:
    parent = tmp_path / "tmp"
    dead = parent / f"run-{_host()}-{_dead_pid()}-abc123"
    (dead / "sub").mkdir(parents=True)
    (dead / "sub" / "half-a-video.mp4.part").write_bytes(b"\0" * 1024)
    alive = parent / f"run-{_host()}-{os.getpid()}-def456"  # a run still going
    alive.mkdir()
    elsewhere = parent / f"run-other-box-{_dead_pid()}-ghi789"  # another host's pid
    elsewhere.mkdir()
    unknown = parent / "run-legacy_name"  # not ours to judge
    unknown.mkdir()

    made = make_scratch(parent)

    assert made.is_dir() and made.name.startswith(f"run-{_host()}-{os.getpid()}-")
    assert not dead.exists()
    assert alive.is_dir() and elsewhere.is_dir() and unknown.is_dir()
    assert oct(made.stat().st_mode & 0o777) == "0o700"  # private while in use
