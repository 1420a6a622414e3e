"""`mediamix jobs | report | sql | log` against a real run log (tests/runlog_sample.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from runlog_sample import write_sample

from runner.cli.main import cli, main
from runner.errors import RunLogError, UsageError
from runner.runlog.store import RunLog

JOB_KEYS = [
    "job_id", "run_id", "step_id", "item_index", "status", "media_type", "preset", "strategy",
    "provider", "model", "account", "attempts", "started_at", "finished_at", "latency_ms",
    "cost_usd", "error_class", "error", "artifacts",
]  # fmt: skip
REPORT_KEYS = [
    "jobs", "succeeded", "failed", "success_rate", "attempts", "attempts_per_success",
    "p50_latency_ms", "p95_latency_ms", "cost_usd", "mean_score", "rejection_rate",
    "judge_cost_usd",
]  # fmt: skip


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built once: the commands here only read it.
    return write_sample(tmp_path_factory.mktemp("runlog")).directory


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_jobs_json_has_stable_keys_and_filters(log_dir: Path) -> None:
    result = invoke("jobs", "--log", str(log_dir), "--json")
    assert result.exit_code == 0, result.output
    jobs = json.loads(result.stdout)
    assert len(jobs) == 5
    assert all(list(job) == JOB_KEYS for job in jobs)
    failed = json.loads(
        invoke("jobs", "--log", str(log_dir), "--status", "failed", "--json").stdout
    )
    assert [j["job_id"] for j in failed] == ["deadbe03"]
    assert failed[0]["started_at"] == "2026-11-01T10:00:00+00:00"


def test_jobs_table_lists_recent_jobs(log_dir: Path) -> None:
    result = invoke("jobs", "--log", str(log_dir), "--since", "2026-10-31", "--preset", "cover")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["job_id", "status", "media_type"]
    assert len(lines) == 2 + 3
    assert any(line.startswith("deadbe03") and "content policy" in line for line in lines)


def test_jobs_show_tells_the_story_of_a_fallback(log_dir: Path) -> None:
    result = invoke("jobs", "show", "c0ffee01", "--log", str(log_dir))
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "job c0ffee01  succeeded  image" in text
    assert "served by openai/gpt-image [backup]" in text
    assert "artifact file://outputs/r1/cover.png (image/png, 123,456 bytes, 1024x1024)" in text
    timeline = text.split("timeline\n", 1)[1].splitlines()
    assert "attempt 1  openai/gpt-image [main]  failed" in timeline[0]
    assert "rate_limited (HTTP 429), retry-after 3s" in timeline[0]
    assert "Rate limit reached" in timeline[1]
    assert "retry: rate limited; waiting 3.0s  wait_s=3" in timeline[2]
    assert "fallback: account main is cooling down; trying backup" in timeline[3]
    assert "attempt 2  openai/gpt-image [backup]  succeeded" in timeline[4]
    assert "123,456 bytes" in timeline[4]
    assert "$0.0400" in timeline[4]


def test_jobs_show_json_with_log_given_to_the_group(log_dir: Path) -> None:
    result = invoke("jobs", "--log", str(log_dir), "show", "dead", "--json")
    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout)
    assert job["job_id"] == "deadbe03"
    assert [a["task_id"] for a in job["attempts"]] == ["task-A", "task-B"]


def test_jobs_with_an_id_shows_that_job_as_show_would(log_dir: Path) -> None:
    """`mediamix jobs ID` is what people type; it means `jobs show ID`."""
    shown = invoke("jobs", "show", "c0ffee01", "--log", str(log_dir))
    direct = invoke("jobs", "c0ffee01", "--log", str(log_dir))
    assert direct.exit_code == 0, direct.output
    assert direct.stdout == shown.stdout
    as_json = invoke("jobs", "--json", "--log", str(log_dir), "dead")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["job_id"] == "deadbe03"
    missing = invoke("jobs", "nosuchjob", "--log", str(log_dir))
    # Bad input: the boundary prints the one line and exits 2, not "No such command".
    assert isinstance(missing.exception, UsageError) and missing.exception.exit_code == 2
    assert "no job with an id starting 'nosuchjob'" in str(missing.exception)


def test_report_json_numbers(log_dir: Path) -> None:
    result = invoke("report", "--by", "preset", "--format", "json", "--log", str(log_dir))
    assert result.exit_code == 0, result.output
    rows = {r["preset"]: r for r in json.loads(result.stdout)}
    cover = rows["cover"]
    assert list(cover) == ["preset", *REPORT_KEYS]
    assert cover["success_rate"] == pytest.approx(2 / 3)
    assert cover["p95_latency_ms"] == pytest.approx(1950)
    assert cover["cost_usd"] == pytest.approx(0.09)
    assert rows["voice"]["cost_usd"] is None


def test_report_table_and_markdown(log_dir: Path) -> None:
    table = invoke("report", "--by", "provider", "--since", "2026-11-01", "--log", str(log_dir))
    assert table.exit_code == 0, table.output
    assert "66.7%" in table.stdout
    markdown = invoke("report", "--format", "markdown", "--log", str(log_dir))
    assert markdown.stdout.startswith("| preset | jobs |")
    assert "| cover | 3 | 2 | 1 | 66.7% |" in markdown.stdout


def test_report_html_is_one_self_contained_file(log_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = invoke("report", "--format", "html", "-o", str(out), "--log", str(log_dir))
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<svg") == 2
    assert "<polyline" in html or "<circle" in html
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html and "<link" not in html
    assert "<td>cover</td>" in html


def test_sql_runs_read_queries_in_every_format(log_dir: Path) -> None:
    query = "SELECT status, count(*) AS n FROM jobs GROUP BY status ORDER BY status"
    as_json = invoke("sql", query, "--format", "json", "--log", str(log_dir))
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == [
        {"status": "failed", "n": 1},
        {"status": "succeeded", "n": 4},
    ]
    as_csv = invoke("sql", query, "--format", "csv", "--log", str(log_dir))
    assert as_csv.stdout.splitlines() == ["status,n", "failed,1", "succeeded,4"]
    # TIMESTAMPTZ values (which the Python client cannot fetch without pytz) come out as text.
    now = invoke("sql", "SELECT now() AS t", "--format", "json", "--log", str(log_dir))
    assert now.exit_code == 0, now.output
    assert json.loads(now.stdout)[0]["t"].startswith("20")


def test_sql_refuses_writes_and_leaves_the_log_alone(log_dir: Path) -> None:
    result = invoke("sql", "DELETE FROM jobs", "--log", str(log_dir))
    assert isinstance(result.exception, UsageError)
    assert "read-only" in str(result.exception)
    copy = invoke("sql", "EXPLAIN ANALYZE COPY jobs TO 'x.csv'", "--log", str(log_dir))
    assert isinstance(copy.exception, UsageError)
    with RunLog(log_dir).connect_readonly() as con:
        assert con.execute("SELECT count(*) FROM jobs").fetchone() == (5,)


def test_sql_error_is_one_line(log_dir: Path) -> None:
    result = invoke("sql", "SELECT * FROM no_such_table", "--log", str(log_dir))
    assert isinstance(result.exception, RunLogError)
    message = str(result.exception)
    assert message.startswith("SQL error: Catalog Error")
    assert "\n" not in message


def test_sql_exit_codes_through_the_real_entry_point(log_dir: Path) -> None:
    def run(query: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "runner.cli.main", "sql", query, "--log", str(log_dir)],
            capture_output=True,
            text=True,
        )

    refused = run("DELETE FROM jobs")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "mediamix: error: mediamix sql is read-only: DELETE statements are not allowed "
        "(use SELECT, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN or PRAGMA)"
    ]
    failed = run("SELECT nope FROM jobs")
    assert failed.returncode == 1
    assert len(failed.stderr.strip().splitlines()) == 1
    assert "Traceback" not in failed.stderr


def test_log_export_import_twice_and_path(log_dir: Path, tmp_path: Path) -> None:
    export = tmp_path / "shard-1"
    result = invoke("log", "export", str(export), "--log", str(log_dir), "--json")
    assert result.exit_code == 0, result.output
    exported = json.loads(result.stdout)["rows"]
    assert exported == {
        "runs": 2, "jobs": 5, "attempts": 8, "events": 2, "artifacts": 1, "judgements": 0
    }  # fmt: skip

    merged = tmp_path / "merged"
    first = invoke("log", "import", str(export), "--log", str(merged), "--json")
    second = invoke("log", "import", str(export), "--log", str(merged), "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["rows"] == exported
    assert set(json.loads(second.stdout)["rows"].values()) == {0}
    counts = invoke("sql", "SELECT count(*) AS n FROM attempts", "--format", "json", "--log",
                    str(merged))  # fmt: skip
    assert json.loads(counts.stdout) == [{"n": 8}]

    path = invoke("log", "path", "--log", str(merged))
    assert path.stdout.strip() == str(merged.resolve())


def test_log_path_defaults_to_the_project(tmp_path: Path) -> None:
    result = invoke("-C", str(tmp_path), "log", "path")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str((tmp_path / ".mediamix" / "runlog").resolve())


def test_reading_a_missing_log_says_so(tmp_path: Path) -> None:
    result = invoke("jobs", "--log", str(tmp_path / "nothing-here"))
    assert isinstance(result.exception, RunLogError)
    assert "no run log at" in str(result.exception)
    assert not (tmp_path / "nothing-here").exists()


def _entry(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The real entry point (error boundary included), in this process."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 0), out, err


def test_readers_find_the_log_mediamix_yaml_names_whatever_else_it_holds(
    log_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """report, sql and jobs read only `runlog:` from mediamix.yaml: a mistake in another
    key (which `validate` and `run` report) does not keep anyone from the log."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "mediamix.yaml").write_text(f"runlog: {log_dir}\nconcurency: 8\n")
    code, out, err = _entry(capsys, "-C", str(project), "report", "--format", "json")
    assert code == 0, err
    assert {r["preset"] for r in json.loads(out)} == {"cover", "old", "voice"}
    code, out, _ = _entry(capsys, "-C", str(project), "sql", "SELECT count(*) AS n FROM jobs",
                          "--format", "json")  # fmt: skip
    assert (code, json.loads(out)) == (0, [{"n": 5}])
    # A relative runlog is the project's; none at all is .mediamix/runlog.
    (project / "mediamix.yaml").write_text("runlog: logs/here  # where CI keeps it\n")
    code, out, _ = _entry(capsys, "-C", str(project), "log", "path")
    assert (code, out.strip()) == (0, str(project.resolve() / "logs" / "here"))
    (project / "mediamix.yaml").write_text("concurrency: 4\n")
    code, out, _ = _entry(capsys, "-C", str(project / "sub"), "log", "path")
    assert (code, out.strip()) == (0, str(project.resolve() / ".mediamix" / "runlog"))


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("runlog: 5\n", "mediamix.yaml:1:9: runlog: expected a string"),
        ("runlog:\n", "mediamix.yaml:1:8: runlog: expected a string"),
        ("runlog: [a, b\n", "mediamix.yaml:2:1: YAML syntax error"),
    ],
    ids=["a-number", "null", "broken-yaml"],
)
def test_a_runlog_setting_that_is_not_a_path_is_reported_where_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, where: str
) -> None:
    (tmp_path / "mediamix.yaml").write_text(text)
    code, out, err = _entry(capsys, "-C", str(tmp_path), "report")
    assert code == 2 and out == ""
    assert where in err and "Traceback" not in err
