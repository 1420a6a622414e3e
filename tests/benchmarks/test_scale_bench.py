"""Memory and scale facts: a 1 GiB video through mediamix into local storage and into S3 with
bounded memory, and ``report`` / ``sql`` over a run log of a million jobs.

Run with: pytest tests/benchmarks/test_scale_bench.py -m benchmark -s

Video: the fake provider server streams Runway's task output as a real short MP4 padded to
1 GiB (``video_bytes``, made while it is sent). ``mediamix run`` runs in a child process
that notes its resident set after its imports, runs the job and reads its peak (VmHWM);
the same job with a 2 MiB video is the baseline, so what the 1 GiB adds is what streaming
costs, not what loading Python and botocore costs. moto's S3 server runs in this process,
out of the child's measure.

Run log: a million jobs with their attempts, events, artifacts and judgements, made by
DuckDB SQL straight into a database built by mediamix's own migrations; then the whole
``mediamix report`` and ``mediamix sql`` commands, each the best of three runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.engine_support import Project, make_project
from tests.fakeprovider import FakeProviderServer
from tests.s3server import FAKE_KEY_ID, FAKE_SECRET, S3Server, s3_server  # noqa: F401

GiB = 1 << 30
MiB = 1 << 20
#: The target: what a 1 GiB video may add to the client's peak resident set.
RSS_GROWTH_LIMIT = 100 * 1_000_000
SMALL_VIDEO = 2 * MiB

# The child: imports first (S3 libraries too: loading them is not streaming), then the
# resident set as the baseline, then the run, then the peak. Linux /proc figures, in kB.
_CHILD = textwrap.dedent(
    """
    import importlib, json, os, sys
    for name in ("runner.cli.main", "runner.cli.commands.run", "runner.engine.api",
                 "runner.storage.s3", "s3fs", "botocore.session", "aiobotocore.session"):
        importlib.import_module(name)
    def status(field):
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    after_imports = status("VmRSS")
    from runner.cli.main import main
    try:
        main(["run", "p", "--no-reuse", "--json"])
        code = 0
    except SystemExit as exc:
        code = exc.code
    with open(os.environ["MMX_BENCH_OUT"], "w") as fh:
        json.dump({"exit": code, "after_imports": after_imports, "peak": status("VmHWM")}, fh)
    """
)


@dataclass(frozen=True)
class Peak:
    after_imports: int
    peak: int
    seconds: float

    @property
    def growth(self) -> int:
        return self.peak - self.after_imports


def _video_project(root: Path, fake: FakeProviderServer, storage: str) -> Project:
    project = make_project(
        root,
        accounts=json.dumps(
            {
                "accounts": [
                    {
                        "name": "main",
                        "provider": "runway",
                        "api_key_env": "MMX_BENCH_RUNWAY_KEY",
                        "base_url": fake.base_url("runway"),
                    }
                ]
            }
        ),
    )
    project.write("mediamix.yaml", f"storage: {storage}\nrunlog: .mediamix/runlog\n")
    project.write(
        "presets/p.yaml",
        json.dumps({"media_type": "video", "models": [{"provider": "runway", "model": "gen4.5"}]}),
    )
    project.write(
        "pipelines/p.yaml",
        json.dumps({"steps": [{"id": "clip", "preset": "p", "prompt": "a lighthouse at dusk"}]}),
    )
    return project


def _run_child(project: Project, env: dict[str, str]) -> Peak:
    out = project.root / "peak.json"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD],
        cwd=project.root,
        env={
            **os.environ,
            **env,
            "MMX_BENCH_OUT": str(out),
            "MMX_BENCH_RUNWAY_KEY": "key-for-runway",
            "MEDIAMIX_POLL_INTERVAL": "0",
            "MEDIAMIX_NO_WAIT": "1",
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        },
        capture_output=True,
        text=True,
        timeout=900,
    )
    seconds = time.perf_counter() - started
    assert out.is_file(), done.stderr[-3000:]
    measured = json.loads(out.read_text())
    assert measured["exit"] == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return Peak(measured["after_imports"], measured["peak"], seconds)


def _video_run(
    tmp_path: Path,
    fake: FakeProviderServer,
    name: str,
    size: int,
    storage: str,
    env: dict[str, str],
) -> Peak:
    fake.state.video_bytes = size
    project = _video_project(tmp_path / name, fake, storage)
    return _run_child(project, env)


def _report_peaks(label: str, small: Peak, big: Peak) -> int:
    extra = big.peak - small.peak
    print(
        f"\n{label}: 1 GiB video in {big.seconds:.1f} s ({GiB / MiB / big.seconds:.0f} MiB/s); "
        f"peak RSS {big.peak / 1e6:.0f} MB, {big.growth / 1e6:.0f} MB over the "
        f"{big.after_imports / 1e6:.0f} MB after imports; a 2 MiB video peaks at "
        f"{small.peak / 1e6:.0f} MB: the 1 GiB adds {extra / 1e6:.1f} MB"
    )
    return extra


@pytest.fixture
def fake() -> object:
    server = FakeProviderServer().start()
    server.state.polls_until_done = 1
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.benchmark
def test_a_1gib_video_streams_into_local_storage_in_bounded_memory(
    tmp_path: Path, fake: FakeProviderServer
) -> None:
    small = _video_run(tmp_path, fake, "small", SMALL_VIDEO, "{url: file://outputs}", {})
    big = _video_run(tmp_path, fake, "big", GiB, "{url: file://outputs}", {})
    extra = _report_peaks("local storage", small, big)
    (stored,) = [p for p in (tmp_path / "big" / "outputs").rglob("*") if p.is_file()]
    assert stored.stat().st_size == GiB
    assert extra < RSS_GROWTH_LIMIT


@pytest.mark.benchmark
def test_a_1gib_video_streams_into_s3_in_bounded_memory(
    tmp_path: Path,
    fake: FakeProviderServer,
    s3_server: S3Server,  # noqa: F811
) -> None:
    storage = (
        f"{{url: 's3://{s3_server.bucket}/bench', endpoint_url: '{s3_server.endpoint_url}', "
        f"region: us-east-1}}"
    )
    env = {
        "AWS_ACCESS_KEY_ID": FAKE_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    small = _video_run(tmp_path, fake, "small", SMALL_VIDEO, storage, env)
    big = _video_run(tmp_path, fake, "big", GiB, storage, env)
    extra = _report_peaks("S3 (moto)", small, big)
    client = s3_server.client()
    sizes = [
        o["Size"]
        for o in client.list_objects_v2(Bucket=s3_server.bucket, Prefix="bench/")["Contents"]
    ]
    assert GiB in sizes
    assert extra < RSS_GROWTH_LIMIT
