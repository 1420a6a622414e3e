"""What the engine and people ask the run log, checked against numbers worked out by hand
(see tests/runlog_sample.py for the history)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from runlog_sample import OLD, T0, write_sample

from runner.errors import UsageError
from runner.runlog.queries import JobFilter
from runner.runlog.records import CandidateStats, ResumeTask
from runner.runlog.since import parse_since
from runner.runlog.store import RunLog


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> RunLog:
    # Built once: every test here only reads.
    return write_sample(tmp_path_factory.mktemp("runlog"))


def test_model_stats_over_the_last_day(log: RunLog) -> None:
    with log.queries() as q:
        stats = q.model_stats(24, now=T0 + timedelta(hours=1))
    by_key = {(s.provider, s.model, s.account): s for s in stats}
    # The skipped openai/tts attempt and the 8-day-old attempt are not counted.
    assert set(by_key) == {
        ("local", "espeak", None),
        ("openai", "gpt-image", "backup"),
        ("openai", "gpt-image", "main"),
        ("stability", "sd3", None),
    }
    main = by_key[("openai", "gpt-image", "main")]
    assert (main.attempts, main.successes) == (3, 1)
    assert main.success_rate == pytest.approx(1 / 3)
    assert main.p50_latency_ms == 1500  # successful attempts only
    assert main.avg_cost_usd == pytest.approx(0.04)  # unknown costs are not zeros
    assert main.last_attempt_at == T0 + timedelta(seconds=20)
    assert by_key[("stability", "sd3", None)] == CandidateStats(
        provider="stability", model="sd3", account=None, attempts=1, successes=0,
        p50_latency_ms=None, avg_cost_usd=0.01, last_attempt_at=T0 + timedelta(seconds=21),
    )  # fmt: skip
    assert by_key[("local", "espeak", None)].avg_cost_usd is None


def test_model_stats_window_reaches_older_attempts(log: RunLog) -> None:
    with log.queries() as q:
        stats = q.model_stats(24 * 9, now=T0 + timedelta(hours=1))
    main = next(s for s in stats if s.account == "main")
    assert (main.attempts, main.successes) == (4, 2)
    assert main.p50_latency_ms == pytest.approx((50 + 1500) / 2)


def test_report_by_preset_numbers(log: RunLog) -> None:
    with log.queries() as q:
        rows = {r["preset"]: r for r in q.report("preset")}
    cover = rows["cover"]
    assert (cover["jobs"], cover["succeeded"], cover["failed"]) == (3, 2, 1)
    assert cover["success_rate"] == pytest.approx(2 / 3)
    assert cover["attempts"] == 5
    assert cover["attempts_per_success"] == pytest.approx(2.5)
    assert cover["p50_latency_ms"] == pytest.approx(1500)
    assert cover["p95_latency_ms"] == pytest.approx(1950)  # 1000 + 0.95 * (2000 - 1000)
    assert cover["cost_usd"] == pytest.approx(0.09)
    assert rows["voice"]["cost_usd"] is None  # local speech has no known cost
    assert set(rows) == {"cover", "voice", "old"}


def test_report_by_provider_counts_jobs_each_provider_tried(log: RunLog) -> None:
    with log.queries() as q:
        rows = {r["provider"]: r for r in q.report("provider", since=T0 - timedelta(hours=1))}
    openai = rows["openai"]
    assert (openai["jobs"], openai["succeeded"], openai["failed"]) == (3, 2, 1)
    assert openai["attempts"] == 4
    assert openai["attempts_per_success"] == pytest.approx(2)
    assert openai["p50_latency_ms"] == pytest.approx(1150)
    assert openai["p95_latency_ms"] == pytest.approx(1465)
    assert openai["cost_usd"] == pytest.approx(0.08)
    stability = rows["stability"]
    assert stability["success_rate"] == 0
    assert stability["attempts_per_success"] is None
    assert set(rows) == {"openai", "stability", "local"}


def test_report_by_day_and_media_type(log: RunLog) -> None:
    with log.queries() as q:
        days = {str(r["day"]): r["jobs"] for r in q.report("day")}
        media = {r["media_type"]: r["jobs"] for r in q.report("media_type")}
        with pytest.raises(UsageError, match="cannot report by"):
            q.report("colour")
    assert days == {"2026-10-24": 1, "2026-11-01": 4}
    assert media == {"audio": 1, "image": 4}


def test_list_jobs_filters_and_orders_newest_first(log: RunLog) -> None:
    with log.queries() as q:
        failed = q.list_jobs(JobFilter(status="failed"))
        recent = q.list_jobs(JobFilter(since=T0 - timedelta(days=1)))
        by_run = q.list_jobs(JobFilter(run="r0"))
        two = q.list_jobs(JobFilter(limit=2))
    assert [j["job_id"] for j in failed] == ["deadbe03"]
    assert failed[0]["attempts"] == 2
    assert failed[0]["cost_usd"] == pytest.approx(0.01)
    assert failed[0]["error"] == "content policy"
    assert len(recent) == 4
    assert [j["job_id"] for j in by_run] == ["01d00000"]
    assert len(two) == 2
    cover = next(j for j in recent if j["job_id"] == "c0ffee01")
    assert cover["artifacts"] == ["file://outputs/r1/cover.png"]
    assert cover["status"] == "succeeded"  # the later version of the job won


def test_job_detail_by_prefix_with_timeline_in_order(log: RunLog) -> None:
    with log.queries() as q:
        job = q.job_detail("c0ffee01")
        assert q.job_detail("dead")["job_id"] == "deadbe03"
        with pytest.raises(UsageError, match="ambiguous"):
            q.job_detail("c0ffee")
        with pytest.raises(UsageError, match="no job"):
            q.job_detail("zzz")
    assert job["job_id"] == "c0ffee01"
    assert job["pipeline"] == "explainer"
    assert [a["attempt_id"] for a in job["attempts"]] == ["a1", "a2"]
    assert [e["kind"] for e in job["events"]] == ["retry", "fallback"]
    assert job["events"][0]["data"] == {"wait_s": 3.0}
    assert job["artifacts"][0]["width"] == 1024


def test_succeeded_job_keys_give_artifacts_for_resume(log: RunLog) -> None:
    with log.queries() as q:
        done = q.succeeded_job_keys(["k1", "k2", "k3", "unknown"])
        assert q.succeeded_job_keys([]) == {}
    assert done == {"k1": ["file://outputs/r1/cover.png"], "k2": []}


def test_task_ids_for_run_only_for_jobs_not_yet_succeeded(log: RunLog) -> None:
    with log.queries() as q:
        assert q.task_ids_for_runs(["r1"]) == {
            "k3": ResumeTask("task-B", provider="stability", model="sd3")
        }
        assert q.task_ids_for_runs(["nope"]) == {}


def test_account_stats_from_attempts(log: RunLog) -> None:
    with log.queries() as q:
        rows = {(r["provider"], r["account"]): r for r in q.account_stats()}
    main = rows[("openai", "main")]
    assert (main["successes"], main["failures"], main["rate_limited"]) == (2, 2, 1)
    assert main["cost_usd"] == pytest.approx(0.04)
    assert main["last_status"] == "failed"
    assert main["last_error_at"] == T0 + timedelta(seconds=20.1)
    assert main["cooldown_until"] == T0 + timedelta(seconds=3.2)
    assert ("openai", None) not in rows  # the skipped tts attempt tells nothing


def test_views_answer_the_usual_questions(log: RunLog) -> None:
    with log.connect_readonly() as con:
        preset = con.execute(
            "SELECT jobs, succeeded, failed, success_rate FROM v_success_by_preset "
            "WHERE preset = 'cover'"
        ).fetchone()
        latency = con.execute(
            "SELECT attempts, p50_latency_ms, p95_latency_ms FROM v_latency_by_model "
            "WHERE provider = 'openai' AND model = 'gpt-image'"
        ).fetchone()
        failures = con.execute(
            "SELECT error_class, attempts FROM v_failures_by_error_class ORDER BY error_class"
        ).fetchall()
        cost = con.execute(
            "SELECT day::VARCHAR, sum(cost_usd) FROM v_cost_by_account_day "
            "GROUP BY day ORDER BY day"
        ).fetchall()
    assert preset is not None
    assert preset[:3] == (3, 2, 1)
    assert preset[3] == pytest.approx(2 / 3)
    assert latency is not None
    assert latency[0] == 3
    assert latency[1] == pytest.approx(800)
    # All time: successful latencies 50, 800, 1500; p95 sits at rank 1.9 of 0..2.
    assert latency[2] == pytest.approx(800 + 0.9 * 700)
    assert failures == [("permanent", 1), ("rate_limited", 1), ("transient", 1)]
    assert cost[0] == (str(OLD.date()), None)
    assert cost[1][0] == "2026-11-01"
    assert cost[1][1] == pytest.approx(0.09)


def test_parse_since() -> None:
    now = T0
    assert parse_since("24h", now=now) == now - timedelta(hours=24)
    assert parse_since("90m", now=now) == now - timedelta(minutes=90)
    assert parse_since("2w", now=now) == now - timedelta(weeks=2)
    assert parse_since("2026-10-30", now=now).isoformat() == "2026-10-30T00:00:00+00:00"
    with pytest.raises(UsageError, match="--since 'yesterday'"):
        parse_since("yesterday", now=now)
