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
import resource
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


# -- report and sql over a million jobs ------------------------------------------------------

JOBS = 1_000_000
JOBS_PER_RUN = 100
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

# Providers, models and accounts as a busy project has them: (provider, model, media type).
_MODELS = """
    (0, 'openai', 'gpt-image-1', 'image'), (1, 'openai', 'gpt-4.1-mini', 'text'),
    (2, 'openai', 'tts-1', 'audio'), (3, 'google', 'imagen-4.0-generate-001', 'image'),
    (4, 'google', 'gemini-2.5-flash', 'text'), (5, 'stability', 'stable-image-core', 'image'),
    (6, 'runway', 'gen4.5', 'video'), (7, 'elevenlabs', 'eleven_multilingual_v2', 'audio'),
    (8, 'anthropic', 'claude-sonnet-4-5', 'text'), (9, 'openai', 'sora-2', 'video')
"""

# One statement per table, all from range(): ids are md5s (32 hex digits, as new_id()
# makes), times spread over the last 30 days, 1-3 attempts per job (a failed first
# attempt falls back), an event per failed attempt plus task and adaptive events, an
# artifact per succeeded job, a judgement for every tenth.
_FILL = f"""
SET enable_progress_bar = false;
CREATE TEMP TABLE models(m INTEGER, provider VARCHAR, model VARCHAR, media_type VARCHAR);
INSERT INTO models VALUES {_MODELS};
CREATE TEMP TABLE g AS
SELECT i,
       md5('job' || i) AS job_id,
       md5('run' || (i // {JOBS_PER_RUN})) AS run_id,
       (now() AT TIME ZONE 'UTC') - INTERVAL 30 DAY
           + to_microseconds(CAST((i // {JOBS_PER_RUN}) * (30 * 86400e6 / ({JOBS} / {JOBS_PER_RUN}))
                                  + (i % {JOBS_PER_RUN}) * 2e6 AS BIGINT)) AS t,
       CAST(hash(i, 1) % 10 AS INTEGER) AS m,
       CAST(hash(i, 2) % 100 AS INTEGER) AS roll,
       CASE WHEN hash(i, 3) % 100 < 70 THEN 1 WHEN hash(i, 3) % 100 < 92 THEN 2 ELSE 3 END
           AS tries
FROM range({JOBS}) r(i);

INSERT INTO runs
SELECT run_id, 1, 'pipeline-' || (any_value(i) // {JOBS_PER_RUN} % 7), min(t),
       'succeeded', max(t) + INTERVAL 1 MINUTE, '{{"topic": "tides"}}',
       'simple', 'host-' || (any_value(i) // {JOBS_PER_RUN} % 3), NULL, '0.9.0',
       count(*), count(*) FILTER (WHERE roll >= 4), count(*) FILTER (WHERE roll < 4), NULL
FROM g GROUP BY run_id;

INSERT INTO jobs
SELECT g.job_id, 2, g.run_id, 'step-' || (g.i % 5), md.media_type, g.t,
       CASE WHEN g.roll < 4 THEN 'failed' WHEN g.roll < 5 THEN 'skipped' ELSE 'succeeded' END,
       'preset-' || (g.m * 3 + g.i % 3), CASE WHEN g.i % 4 = 0 THEN 'adaptive' ELSE 'fallback' END,
       g.i % {JOBS_PER_RUN}, md5('key' || g.i) || md5('key2' || g.i),
       g.t + to_microseconds(CAST(800e3 + hash(g.i, 4) % 20000e3 AS BIGINT)), g.tries,
       CASE WHEN g.roll < 4 THEN 'permanent' END,
       CASE WHEN g.roll < 4 THEN 'content policy violation' END,
       0.002 + (g.m % 4) * 0.01 * g.tries, 800 + hash(g.i, 4) % 20000,
       md.provider, md.model, CASE WHEN g.i % 3 = 0 THEN 'backup' ELSE 'main' END,
       CASE WHEN md.media_type = 'video' THEN 'task-' || g.i END, NULL
FROM g JOIN models md USING (m);

INSERT INTO attempts
SELECT md5('att' || g.i || '-' || n), g.job_id, g.run_id, n, md.provider, md.model,
       g.t + to_microseconds(CAST((n - 1) * 3e6 AS BIGINT)),
       CASE WHEN n < g.tries OR g.roll < 4 THEN 'failed' ELSE 'succeeded' END,
       CASE WHEN (g.i + n) % 3 = 0 THEN 'backup' ELSE 'main' END, n - 1,
       g.t + to_microseconds(CAST((n - 1) * 3e6 + 500e3 + hash(g.i, n) % 9000e3 AS BIGINT)),
       500 + hash(g.i, n) % 9000,
       CASE WHEN n < g.tries THEN (CASE WHEN n = 1 THEN 'rate_limited' ELSE 'transient' END)
            WHEN g.roll < 4 THEN 'permanent' END,
       CASE WHEN n < g.tries THEN 'HTTP 429 from upstream: rate limit reached'
            WHEN g.roll < 4 THEN 'content policy violation' END,
       CASE WHEN n < g.tries THEN (CASE WHEN n = 1 THEN 429 ELSE 503 END) END,
       CASE WHEN n = 1 AND n < g.tries THEN 2.0 END,
       100000 + hash(g.i, n) % 4000000, 40 + g.i % 400, 300 + g.i % 900, NULL,
       CASE WHEN n = g.tries THEN 0.002 + (g.m % 4) * 0.01 END,
       CASE WHEN md.media_type = 'video' THEN 'task-' || g.i || '-' || n END, NULL
FROM g JOIN models md USING (m), range(1, 4) a(n) WHERE n <= g.tries;

INSERT INTO events
SELECT md5('ev' || g.i || '-' || n), g.run_id, g.t + to_microseconds(n * 1000000),
       CASE n WHEN 1 THEN 'retry_wait' WHEN 2 THEN 'fallback' ELSE 'candidate_failed' END,
       'rate limited; waiting 2.0s', g.job_id, md5('att' || g.i || '-' || n),
       '{{"wait_s": 2.0, "provider": "openai", "model": "gpt-image-1"}}'
FROM g, range(1, 3) e(n) WHERE n < g.tries
UNION ALL
SELECT md5('task' || g.i), g.run_id, g.t, 'task_created', 'task created', g.job_id,
       md5('att' || g.i || '-1'), '{{"task_id": "task-' || g.i || '", "provider": "runway"}}'
FROM g JOIN models md USING (m) WHERE md.media_type = 'video'
UNION ALL
SELECT md5('order' || g.i), g.run_id, g.t, 'adaptive_order', 'candidates ordered', g.job_id,
       NULL, '{{"order": ["openai/gpt-image-1", "google/imagen-4.0-generate-001"]}}'
FROM g WHERE g.i % 4 = 0;

INSERT INTO artifacts
SELECT md5('art' || g.i), g.job_id, g.run_id,
       's3://media/' || g.run_id || '/' || g.job_id || '.bin', md.media_type,
       'application/octet-stream', 100000 + g.i % 4000000, md5('a' || g.i) || md5('b' || g.i),
       g.t + INTERVAL 10 SECOND, NULL, 1024, 1024, NULL, NULL
FROM g JOIN models md USING (m) WHERE g.roll >= 5;

INSERT INTO judgements
SELECT md5('judge' || g.i), g.job_id, g.run_id, md5('att' || g.i || '-' || g.tries),
       md5('a' || g.i) || md5('b' || g.i), g.t + INTERVAL 12 SECOND, 'openai', 'gpt-4.1-mini',
       'main', CASE WHEN g.i % 7 = 0 THEN 'rejected' ELSE 'passed' END,
       0.4 + (g.i % 60) / 100, 0.6, 'looks right', 0.0004, 900, NULL
FROM g WHERE g.roll >= 5 AND g.i % 10 = 0;
"""


def _million_job_log(directory: Path) -> dict[str, int]:
    """A run log of JOBS jobs in the schema mediamix's migrations make, filled by SQL."""
    from runner.runlog.database import open_database
    from runner.runlog.store import RunLog

    log = RunLog(directory)
    log.ingest()  # an empty inbox: creates runlog.duckdb through the migrations
    con = open_database(log.db_path, read_only=False)
    try:
        con.execute(_FILL)
        con.execute("CHECKPOINT")
        tables = ("runs", "jobs", "attempts", "events", "artifacts", "judgements")
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables}
    finally:
        con.close()


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _best_wall(args: list[str], cwd: Path) -> tuple[float, float, str]:
    """The best wall time of REPEATS runs of the whole command, its best CPU time (user +
    system: what a busy machine cannot inflate much), and what it printed."""
    best = best_cpu = float("inf")
    out = ""
    for _ in range(REPEATS):
        cpu = _cpu_of_children()
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "runner.cli.main", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=300,
        )
        best = min(best, time.perf_counter() - started)
        best_cpu = min(best_cpu, _cpu_of_children() - cpu)
        assert done.returncode == 0, done.stderr
        out = done.stdout
    return best, best_cpu, out


@pytest.fixture(scope="module")
def million_job_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("million") / "runlog"
    started = time.perf_counter()
    counts = _million_job_log(directory)
    seconds = time.perf_counter() - started
    size = (directory / "runlog.duckdb").stat().st_size
    shown = ", ".join(f"{n:,} {t}" for t, n in counts.items())
    print(f"\nrun log: {shown} made in {seconds:.1f} s; {size / 1e6:.0f} MB on disk")
    assert counts["jobs"] == JOBS
    return directory


@pytest.mark.benchmark
@pytest.mark.parametrize("by", ["preset", "model"])
def test_report_over_a_million_jobs_answers_within_a_second(
    million_job_log: Path, tmp_path: Path, by: str
) -> None:
    seconds, cpu, out = _best_wall(
        ["report", "--by", by, "--log", str(million_job_log), "--format", "json"], tmp_path
    )
    rows = json.loads(out)
    print(
        f"\nmediamix report --by {by} over {JOBS:,} jobs: {seconds:.2f} s wall, "
        f"{cpu:.2f} s CPU (best of {REPEATS})"
    )
    if by == "preset":
        assert sum(r["jobs"] for r in rows) == JOBS
    else:
        assert len(rows) == 10  # every model
    assert seconds < TIME_LIMIT_S


@pytest.mark.benchmark
def test_sql_success_by_model_last_week_over_a_million_jobs_answers_within_a_second(
    million_job_log: Path, tmp_path: Path
) -> None:
    seconds, cpu, out = _best_wall(
        ["sql", SUCCESS_BY_MODEL_LAST_WEEK, "--log", str(million_job_log), "--format", "json"],
        tmp_path,
    )
    rows = json.loads(out)
    print(
        f"\nmediamix sql (success by model, last week) over {JOBS:,} jobs: {seconds:.2f} s "
        f"wall, {cpu:.2f} s CPU (best of {REPEATS})"
    )
    assert len(rows) == 10
    assert seconds < TIME_LIMIT_S
