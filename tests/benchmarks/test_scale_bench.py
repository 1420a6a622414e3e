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
DuckDB SQL in the schema an earlier mediamix wrote and migrated by this one
(tests/benchmarks/million_jobs.py); then the whole ``mediamix report``, ``sql`` and
``jobs`` commands as a user runs them (in the project, from installed bytecode), each the
best of three runs; and a run's merge into that log.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runner.runlog.records import AttemptRecord, JobRecord, RunRecord
from runner.runlog.store import RunLog
from tests.benchmarks.million_jobs import JOBS
from tests.benchmarks.million_jobs import million_job_log as million_job_log_at
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


# -- report, sql and jobs over a million jobs -----------------------------------------------

#: The best of this many runs of each command is its time (noise only ever adds time).
REPEATS = 3
TIME_LIMIT_S = 1.0
#: A typical question (docs/runlog.md "Example queries", by model): last week's success.
SUCCESS_BY_MODEL_LAST_WEEK = """
SELECT provider, model, count(*) FILTER (WHERE status = 'succeeded') / count(*) AS success_rate
FROM attempts WHERE started_at >= (now() AT TIME ZONE 'UTC') - INTERVAL 7 DAY
  AND status IN ('succeeded', 'failed')
GROUP BY provider, model ORDER BY success_rate
"""
#: Jobs one merge brings into the million-job log (a run of a batch of this many rows).
MERGED_JOBS = 2_000


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_of_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _installed_env(cache: Path) -> dict[str, str]:
    """The environment of a command as an installed mediamix runs: pip compiles a wheel's
    modules at install, so they load from bytecode (this checkout's tests may run with
    PYTHONDONTWRITEBYTECODE, which would compile every module on every start)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def _best_wall(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """The best wall time of REPEATS runs of the whole command (after one to compile its
    bytecode), its best CPU time (user + system: what a busy machine cannot inflate much),
    and what it printed."""
    best = best_cpu = float("inf")
    out = ""
    for attempt in range(REPEATS + 1):
        cpu = _cpu_of_children()
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "runner.cli.main", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        out = done.stdout
        if attempt:
            best = min(best, time.perf_counter() - started)
            best_cpu = min(best_cpu, _cpu_of_children() - cpu)
    return best, best_cpu, out


@pytest.fixture(scope="module")
def million_job_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("million") / "runlog"
    started = time.perf_counter()
    counts, migrated = million_job_log_at(directory)
    seconds = time.perf_counter() - started
    size = (directory / "runlog.duckdb").stat().st_size
    shown = ", ".join(f"{n:,} {t}" for t, n in counts.items())
    print(
        f"\nrun log: {shown} made in {seconds:.1f} s, of which {migrated:.1f} s migrating it "
        f"from schema 3 (filling in the per-job totals); {size / 1e6:.0f} MB on disk"
    )
    assert counts["jobs"] == JOBS
    return directory


@pytest.fixture(scope="module")
def user_project(million_job_log: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose mediamix.yaml names the log: commands run in it as a user runs them
    (no --log; finding the log is part of the command)."""
    root = tmp_path_factory.mktemp("project")
    (root / "mediamix.yaml").write_text(
        f"storage:\n  url: file://outputs\nrunlog: {million_job_log}\nconcurrency: 8\n"
    )
    return root


def _timed(user_project: Path, label: str, args: list[str]) -> str:
    env = _installed_env(user_project.parent / "pycache")
    seconds, cpu, out = _best_wall(args, user_project, env)
    print(
        f"\nmediamix {label} over {JOBS:,} jobs: {seconds:.2f} s wall, {cpu:.2f} s CPU "
        f"(best of {REPEATS})"
    )
    assert seconds < TIME_LIMIT_S
    return out


@pytest.mark.benchmark
@pytest.mark.parametrize("by", ["preset", "model"])
def test_report_over_a_million_jobs_answers_within_a_second(user_project: Path, by: str) -> None:
    out = _timed(user_project, f"report --by {by}", ["report", "--by", by, "--format", "json"])
    rows = json.loads(out)
    if by == "preset":
        assert sum(r["jobs"] for r in rows) == JOBS
    else:
        assert len(rows) == 10  # every model
        assert sum(r["attempts"] for r in rows) > JOBS


@pytest.mark.benchmark
def test_sql_success_by_model_last_week_over_a_million_jobs_answers_within_a_second(
    user_project: Path,
) -> None:
    label = "sql (success by model, last week)"
    out = _timed(user_project, label, ["sql", SUCCESS_BY_MODEL_LAST_WEEK, "--format", "json"])
    assert len(json.loads(out)) == 10


@pytest.mark.benchmark
def test_jobs_lists_the_newest_of_a_million_within_a_second(user_project: Path) -> None:
    out = _timed(user_project, "jobs (the newest 50)", ["jobs", "--json"])
    jobs = json.loads(out)
    assert len(jobs) == 50
    assert jobs[0]["started_at"] >= jobs[-1]["started_at"]


@pytest.mark.benchmark
def test_a_merge_into_a_million_job_log_keeps_the_totals(
    million_job_log: Path, tmp_path: Path
) -> None:
    """What a run's closing merge costs over a million jobs, totals included; printed, not
    asserted (its rows and totals are)."""
    log = RunLog(tmp_path / "runlog")
    log.directory.mkdir()
    shutil.copy(million_job_log / "runlog.duckdb", log.db_path)
    now = datetime.now(UTC)
    with log.writer() as writer:
        writer.write(RunRecord(run_id="merge-bench", pipeline="p", started_at=now))
        for i in range(MERGED_JOBS):
            job = JobRecord(job_id=f"merge-{i:026d}", run_id="merge-bench", step_id="s",
                            media_type="image", started_at=now, preset="merge-bench")  # fmt: skip
            writer.write(job)
            for n in (1, 2):
                writer.write(AttemptRecord(
                    attempt_id=f"merge-{i:020d}-{n}", job_id=job.job_id, run_id="merge-bench",
                    number=n, provider="openai", model="gpt-image-1", started_at=now,
                    status="succeeded" if n == 2 else "failed", cost_usd=0.01 * n,
                ))  # fmt: skip
            writer.write(replace(job, status="succeeded", attempts=2, finished_at=now))
    cpu, started = _cpu_of_self(), time.perf_counter()
    merged = log.ingest()
    seconds, cpu = time.perf_counter() - started, _cpu_of_self() - cpu
    print(
        f"\nmerging a run of {MERGED_JOBS:,} jobs ({sum(merged.rows.values()):,} rows) into "
        f"{JOBS:,} jobs: {seconds:.2f} s wall, {cpu:.2f} s CPU"
    )
    with log.connect_readonly() as con:
        totals = con.execute(
            "SELECT count(*), sum(attempts_logged), round(sum(attempts_cost_usd), 6) FROM jobs "
            "WHERE preset = 'merge-bench'"
        ).fetchall()
    assert totals == [(MERGED_JOBS, 2 * MERGED_JOBS, round(0.03 * MERGED_JOBS, 6))]
