"""The run log's storage: batch files, ingest, concurrency, crashes, migrations, export/import."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from runner.errors import REDACTOR, RunLogError
from runner.runlog.lock import locked
from runner.runlog.migrations import SCHEMA_VERSION
from runner.runlog.records import (
    AttemptRecord,
    EventRecord,
    JobRecord,
    RunRecord,
    RunStartEvent,
    new_id,
)
from runner.runlog.store import RunLog
from runner.runlog.writer import RunLogWriter
from runner.service.board import LiveBoard

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)

# Writes `n` jobs for one run, each job twice (running, then succeeded) plus one attempt
# and one event, through a RunLogWriter with small, frequent batches.
WRITER_SCRIPT = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from runner.runlog.records import AttemptRecord, EventRecord, JobRecord, RunRecord, new_id
    from runner.runlog.writer import RunLogWriter

    directory, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    report_every = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    t0 = datetime(2026, 11, 1, 10, tzinfo=UTC)
    # When reporting (to be killed), nothing is sealed on a timer: what survives the kill
    # survives because each write reached the journal.
    interval, batch = (3600, 10**9) if report_every else (0.02, 25)
    w = RunLogWriter(directory, flush_interval_s=interval, max_batch=batch)
    w.write(RunRecord(run_id=tag, pipeline="p", started_at=t0))
    for i in range(n):
        job = JobRecord(job_id=f"{tag}-j{i}", run_id=tag, step_id="s", media_type="image",
                        started_at=t0, preset="cover")
        w.write(job)
        w.write(AttemptRecord(attempt_id=f"{tag}-a{i}", job_id=job.job_id, run_id=tag,
                              number=1, provider="openai", model="m", started_at=t0,
                              status="succeeded", latency_ms=10.0))
        w.write(EventRecord(event_id=f"{tag}-e{i}", run_id=tag, occurred_at=t0, kind="attempt",
                            message="ok", job_id=job.job_id))
        w.write(JobRecord(**{**vars(job), "status": "succeeded"}))
        if report_every and (i + 1) % report_every == 0:
            print(f"wrote {i + 1}", flush=True)
    if not report_every:
        w.close()
    else:
        print("done", flush=True)
        sys.stdin.read()  # wait to be killed
    """
)


def _spawn(directory: Path, tag: str, n: int, report_every: int = 0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER_SCRIPT, str(directory), tag, str(n), str(report_every)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _write_jobs(writer: RunLogWriter, tag: str, n: int) -> None:
    for i in range(n):
        job = JobRecord(
            job_id=f"{tag}-j{i}", run_id=tag, step_id="s", media_type="image", started_at=T0
        )
        writer.write(job)
        writer.write(
            AttemptRecord(
                attempt_id=f"{tag}-a{i}",
                job_id=job.job_id,
                run_id=tag,
                number=1,
                provider="openai",
                model="m",
                started_at=T0,
                status="succeeded",
            )
        )
        writer.write(
            EventRecord(
                event_id=f"{tag}-e{i}", run_id=tag, occurred_at=T0, kind="attempt", message="ok",
                job_id=job.job_id,
            )
        )  # fmt: skip
        writer.write(JobRecord(**{**vars(job), "status": "succeeded"}))


def _count(log: RunLog, sql: str) -> int:
    with log.connect_readonly() as con:
        row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_two_processes_two_threads_and_a_reader_lose_nothing(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "log")
    n = 150
    procs = [_spawn(log.directory, f"proc{k}", n) for k in range(2)]
    writers_done = threading.Event()
    reader_rounds = 0
    reader_errors: list[BaseException] = []

    def reader() -> None:
        nonlocal reader_rounds
        try:
            # Keeps ingesting and reading while everybody writes; must never fail.
            while not writers_done.is_set() or reader_rounds == 0:
                with log.queries() as q:
                    q.report("preset")
                reader_rounds += 1
        except BaseException as exc:
            reader_errors.append(exc)

    reading = threading.Thread(target=reader)
    reading.start()
    writer = RunLogWriter(log.directory, flush_interval_s=0.02, max_batch=25)
    threads = [
        threading.Thread(target=_write_jobs, args=(writer, f"thread{k}", n)) for k in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    for p in procs:
        assert p.wait(timeout=60) == 0
    writers_done.set()
    reading.join(timeout=60)

    assert not reader_errors
    assert reader_rounds >= 1
    log.ingest()
    assert log.pending_files() == []
    sources = 4
    assert _count(log, "SELECT count(*) FROM attempts") == sources * n
    assert _count(log, "SELECT count(DISTINCT attempt_id) FROM attempts") == sources * n
    assert _count(log, "SELECT count(*) FROM events") == sources * n
    assert _count(log, "SELECT count(*) FROM jobs") == sources * n
    # Every job's latest version (succeeded) won, whatever order the batches arrived in.
    assert _count(log, "SELECT count(*) FROM jobs WHERE status = 'succeeded'") == sources * n
    assert _count(log, "SELECT count(*) FROM runs") == 2


def test_sigkilled_writer_keeps_every_record_it_wrote(tmp_path: Path) -> None:
    """The ledger's promise: a record is durable when write() returns, not when a batch
    is flushed. The writer never seals a batch here; the kill leaves a live journal."""
    log = RunLog(tmp_path / "log")
    proc = _spawn(log.directory, "killed", 200, report_every=50)
    assert proc.stdout is not None
    wrote = 0
    for line in proc.stdout:
        if line.startswith("wrote"):
            wrote = int(line.split()[1])
        if wrote >= 100:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert [p.suffix for p in log.inbox.iterdir()] == [".journal"]
    # A half-written temp file, as a kill mid-write would leave, must be ignored.
    (log.inbox / ".00000000000000000000-1-deadbeef.jsonl.tmp").write_text('{"table": "jo')

    result = log.ingest()

    assert result.rejected == []
    with log.connect_readonly() as con:
        attempt_ids = {r[0] for r in con.execute("SELECT attempt_id FROM attempts").fetchall()}
        succeeded = {
            r[0]
            for r in con.execute("SELECT job_id FROM jobs WHERE status = 'succeeded'").fetchall()
        }
    assert {f"killed-a{i}" for i in range(wrote)} <= attempt_ids
    assert {f"killed-j{i}" for i in range(wrote)} <= succeeded
    assert list(log.inbox.glob("*.journal")) == []


def test_a_live_writers_journal_is_left_alone_until_it_seals(tmp_path: Path) -> None:
    log = RunLog(tmp_path)
    writer = log.writer(flush_interval_s=3600)
    writer.write(RunRecord(run_id="live", pipeline="p", started_at=T0))
    (journal,) = log.inbox.glob("*.journal")
    assert json.loads(journal.read_text())["run_id"] == "live"  # on disk already

    log.ingest()  # its lock is held: not adopted, not merged, not touched

    assert journal.is_file()
    assert _count(log, "SELECT count(*) FROM runs") == 0
    writer.close()
    assert _count(log, "SELECT count(*) FROM runs") == 1


def test_a_torn_last_line_of_a_dead_writers_journal_is_cut_off(tmp_path: Path) -> None:
    """A write the disk cut short leaves half a line; the whole lines before it merge."""
    log = RunLog(tmp_path)
    with log.writer(flush_interval_s=3600) as writer:
        writer.write(RunRecord(run_id="r1", pipeline="p", started_at=T0))
        writer.write(RunRecord(run_id="r2", pipeline="p", started_at=T0))
    (batch,) = log.pending_files()
    dead = batch.with_suffix(".journal")
    batch.rename(dead)
    with open(dead, "a", encoding="utf-8") as fh:
        fh.write('{"table": "runs", "run_id": "r3", "pipel')

    result = log.ingest()

    assert result.rejected == []
    with log.connect_readonly() as con:
        assert con.execute("SELECT run_id FROM runs ORDER BY 1").fetchall() == [("r1",), ("r2",)]


def test_writer_redacts_secrets_everywhere(tmp_path: Path) -> None:
    secret = "sk-test-" + os.urandom(8).hex()
    REDACTOR.add(secret)
    log = RunLog(tmp_path)
    with log.writer() as writer:
        writer.write(
            RunRecord(run_id="r", pipeline="p", started_at=T0, inputs={"note": f"key {secret}"})
        )
        writer.write(
            EventRecord(
                event_id="e", run_id="r", occurred_at=T0, kind="error", message=f"bad key {secret}",
                data={"headers": {"authorization": f"Bearer {secret}"}, "list": [secret]},
            )
        )  # fmt: skip
    raw = "".join(p.read_text() for p in log.pending_files())
    assert secret not in raw
    assert "[REDACTED]" in raw
    log.ingest()
    with log.connect_readonly() as con:
        rows = con.execute("SELECT message, data::VARCHAR FROM events").fetchall()
        inputs = con.execute("SELECT inputs::VARCHAR FROM runs").fetchall()
    assert secret not in json.dumps([rows, inputs])
    assert rows[0][0] == "bad key [REDACTED]"


def test_flush_makes_one_complete_file_and_close_flushes_the_rest(tmp_path: Path) -> None:
    log = RunLog(tmp_path)
    writer = log.writer(flush_interval_s=3600)
    writer.write(RunRecord(run_id="r1", pipeline="p", started_at=T0))
    writer.flush()
    files = log.pending_files()
    assert len(files) == 1
    assert json.loads(files[0].read_text())["run_id"] == "r1"
    writer.write(RunRecord(run_id="r2", pipeline="p", started_at=T0))
    writer.close()
    writer.close()  # idempotent
    assert len(log.pending_files()) == 2
    assert not [p for p in log.inbox.iterdir() if p.name.startswith(".")]
    with pytest.raises(RunLogError, match="closed"):
        writer.write(RunRecord(run_id="r3", pipeline="p", started_at=T0))


def test_changing_a_record_after_write_does_not_change_what_was_written(tmp_path: Path) -> None:
    log = RunLog(tmp_path)
    with log.writer() as writer:
        job = JobRecord(job_id="j", run_id="r", step_id="s", media_type="text", started_at=T0)
        writer.write(job)
        job.status = "failed"
    line = json.loads(log.pending_files()[0].read_text())
    assert line["status"] == "running"


def test_latest_version_wins_even_when_its_batch_is_ingested_first(tmp_path: Path) -> None:
    log = RunLog(tmp_path)
    writer = log.writer(flush_interval_s=3600)
    job = JobRecord(job_id="j", run_id="r", step_id="s", media_type="text", started_at=T0)
    writer.write(job)
    writer.flush()
    older = log.pending_files()
    writer.write(JobRecord(**{**vars(job), "status": "succeeded"}))
    writer.close()
    newer = [p for p in log.pending_files() if p not in older]
    # Ingest the newer batch on its own first, then the older one.
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    for p in older:
        p.rename(hidden / p.name)
    log.ingest()
    for p in older:
        (hidden / p.name).rename(log.inbox / p.name)
    assert newer
    log.ingest()
    with log.connect_readonly() as con:
        assert con.execute("SELECT status FROM jobs").fetchall() == [("succeeded",)]


def test_a_run_start_event_is_one_line_filed_as_the_event_and_the_runs_row(
    tmp_path: Path,
) -> None:
    log = RunLog(tmp_path)
    inputs = {"topic": "tea", "n": 3}

    def start(run_id: str) -> RunRecord:
        return RunRecord(
            run_id=run_id, pipeline="p", started_at=T0, inputs=inputs, workflow="simple",
            host="h", shard="1/2", mediamix_version="9",
        )  # fmt: skip

    event = EventRecord(
        event_id="e1", run_id="joined", occurred_at=T0, kind="batch_row", message="row 1",
        data={"batch_id": "b", "row": 1},
    )  # fmt: skip
    writer = log.writer(flush_interval_s=3600)
    writer.write(RunStartEvent.joining(event, start("joined")))
    writer.write(start("apart"))  # the same start, as a RunRecord of its own
    writer.flush()
    (first,) = log.pending_files()
    assert [json.loads(x)["table"] for x in first.read_text().splitlines()] == ["events", "runs"]
    log.ingest()

    def runs() -> dict[str, tuple[object, ...]]:
        with log.connect_readonly() as con:
            rows = con.execute("SELECT * EXCLUDE (seq) FROM runs ORDER BY run_id").fetchall()
        return {str(r[0]): tuple(r[1:]) for r in rows}

    found = runs()
    assert found["joined"] == found["apart"]  # the same runs row either way
    assert found["joined"][1:3] == (T0.replace(tzinfo=None), "running")
    with log.connect_readonly() as con:
        assert con.execute(
            "SELECT event_id, run_id, kind, data->>'$.batch_id' FROM events"
        ).fetchall() == [("e1", "joined", "batch_row", "b")]
    # The run's finish replaces the running row, even when its file is merged first.
    writer = log.writer(flush_interval_s=3600)
    late = replace(event, event_id="e2", run_id="late")
    writer.write(RunStartEvent.joining(late, start("late")))
    writer.flush()
    (older,) = log.pending_files()
    writer.write(replace(start("late"), status="succeeded", finished_at=T0, jobs_total=1))
    writer.close()
    hidden = older.rename(tmp_path / older.name)
    log.ingest()
    hidden.rename(older)
    log.ingest()
    assert runs()["late"][2] == "succeeded"


def test_the_live_board_sees_a_run_start_event_as_the_run_and_the_event() -> None:
    board = LiveBoard()
    seen: list[tuple[str, str]] = []
    board.listeners.append(lambda table, fields: seen.append((table, fields["run_id"])))
    event = EventRecord(event_id="e", run_id="r", occurred_at=T0, kind="batch_row", message="m")
    start = RunRecord(run_id="r", pipeline="p", started_at=T0, inputs={"n": 1})
    board.observe(RunStartEvent.joining(event, start))
    assert seen == [("runs", "r"), ("events", "r")]
    assert board.runs["r"] == vars(start)


def test_every_record_is_in_the_journal_when_write_returns_in_order(tmp_path: Path) -> None:
    log = RunLog(tmp_path)
    writer = log.writer(flush_interval_s=3600)
    writer.write(RunRecord(run_id="r", pipeline="p", started_at=T0))
    _write_jobs(writer, "t", 2)
    (journal,) = log.inbox.glob("*.journal")
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [(x["table"], x.get("status")) for x in lines] == [
        ("runs", "running"),
        *[("jobs", "running"), ("attempts", "succeeded"), ("events", None), ("jobs", "succeeded")]
        * 2,
    ]
    assert [x["seq"] for x in lines] == sorted(x["seq"] for x in lines)
    writer.close()
    with log.connect_readonly() as con:
        assert con.execute("SELECT count(*), min(status) FROM jobs").fetchall() == [
            (2, "succeeded")
        ]


def test_records_written_together_are_one_write_and_held_together_on_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = RunLog(tmp_path)
    writer = log.writer(flush_interval_s=3600)
    job = JobRecord(job_id="j", run_id="r", step_id="s", media_type="text", started_at=T0)
    attempt = AttemptRecord(
        attempt_id="a", job_id="j", run_id="r", number=1, provider="openai", model="m",
        started_at=T0, status="succeeded",
    )  # fmt: skip
    succeeded = replace(job, status="succeeded", finished_at=T0)
    sizes: list[int] = []
    real_write = os.write
    full = [True]

    def write(fd: int, data: bytes) -> int:
        if full[0]:
            raise OSError(errno.ENOSPC, "No space left on device")
        sizes.append(data.count(b"\n"))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    writer.write(job)
    writer.write_all([attempt, succeeded])
    assert writer.unwritten == 3  # records, not writes
    assert "3 run-log record(s) held" in (writer.problem() or "")
    full[0] = False
    writer.flush()
    assert writer.unwritten == 0 and writer.problem() is None
    writer.write_all([replace(attempt, attempt_id="b"), succeeded])
    assert sizes == [1, 2, 2]  # held writes keep their units; a unit is one write
    monkeypatch.setattr(os, "write", real_write)
    writer.close()
    with log.connect_readonly() as con:
        assert con.execute("SELECT status FROM jobs").fetchall() == [("succeeded",)]
        assert con.execute("SELECT count(*) FROM attempts").fetchall() == [(2,)]


def test_migrations_are_applied_once_and_recorded(tmp_path: Path) -> None:
    log = RunLog(tmp_path)
    log.ingest()
    log.ingest()
    with log.connect_readonly() as con:
        rows = con.execute("SELECT version, name FROM schema_migrations").fetchall()
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
        }
    assert sorted(rows) == [
        (1, "m001_initial"),
        (2, "m002_judgements"),
        (3, "m003_worker"),
        (4, "m004_job_totals"),
    ]
    assert SCHEMA_VERSION == 4
    assert {"runs", "jobs", "attempts", "events", "artifacts", "account_health"} <= tables
    assert {"judgements", "v_quality_by_model"} <= tables
    assert {"v_success_by_preset", "v_cost_by_account_day"} <= tables
    assert {"v_failures_by_error_class", "v_latency_by_model"} <= tables


def test_a_log_from_a_newer_mediamix_is_refused_clearly(tmp_path: Path) -> None:
    log = RunLog(tmp_path)
    log.ingest()
    con = duckdb.connect(str(log.db_path))
    con.execute("INSERT INTO schema_migrations VALUES (99, 'm099_future', now()::TIMESTAMP)")
    con.close()
    with pytest.raises(RunLogError, match="schema version 99"):
        log.ingest()


def test_the_database_opens_in_a_plain_duckdb_client(tmp_path: Path) -> None:
    log = RunLog(tmp_path)
    with log.writer() as writer:
        _write_jobs(writer, "r", 3)
    log.ingest()
    con = duckdb.connect(str(log.db_path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM v_success_by_preset").fetchone() == (1,)
        assert con.execute("SELECT count(*) FROM account_health").fetchone() == (1,)
    finally:
        con.close()


def test_unreadable_batch_is_set_aside_not_deleted(tmp_path: Path) -> None:
    log = RunLog(tmp_path)
    with log.writer() as writer:
        _write_jobs(writer, "ok", 2)
    bad = log.inbox / "00000000000000000001-1-badbatch.jsonl"
    bad.write_text("this is not json\n")
    result = log.ingest()
    assert [p.name for p in result.rejected] == [bad.name]
    assert (tmp_path / "rejected" / bad.name).read_text() == "this is not json\n"
    assert (tmp_path / "rejected" / f"{bad.name}.reason.txt").read_text().strip()
    assert _count(log, "SELECT count(*) FROM attempts") == 2
    assert log.pending_files() == []


def test_ingest_waits_for_a_reader_then_fails_with_a_clear_message(tmp_path: Path) -> None:
    log = RunLog(tmp_path, lock_timeout_s=0.2)
    log.ingest()
    with (
        locked(log.lock_path, exclusive=False, timeout_s=1),
        pytest.raises(RunLogError, match="run log is busy"),
    ):
        log.ingest()


def test_export_then_import_twice_counts_nothing_twice(tmp_path: Path) -> None:
    source = RunLog(tmp_path / "shard")
    with source.writer() as writer:
        writer.write(RunRecord(run_id="r", pipeline="p", started_at=T0, inputs={"topic": "x"}))
        _write_jobs(writer, "r", 5)
    exported = source.export(tmp_path / "export")
    assert exported == {
        "runs": 1, "jobs": 5, "attempts": 5, "events": 5, "artifacts": 0, "judgements": 0
    }  # fmt: skip
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["schema_version"] == SCHEMA_VERSION

    target = RunLog(tmp_path / "merged")
    first = target.import_([tmp_path / "export"])
    second = target.import_([tmp_path / "export"])

    assert first == exported
    assert second == dict.fromkeys(exported, 0)
    for table, n in exported.items():
        assert _count(target, f"SELECT count(*) FROM {table}") == n
    with target.connect_readonly() as con:
        assert con.execute("SELECT inputs->>'topic' FROM runs").fetchone() == ("x",)


def test_import_rejects_something_that_is_not_an_export(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(RunLogError, match="not a run-log export"):
        RunLog(tmp_path / "log").import_([tmp_path / "notes.txt"])


def test_ids_are_unique_across_forked_processes() -> None:
    """Shards forked from one parent must not repeat each other's ids (runs merge later)."""
    new_id()  # the parent's generator is in use before the fork
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.write(write, "".join(new_id() for _ in range(100)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as fh:
        text = fh.read()
    theirs = {text[i : i + 32] for i in range(0, len(text), 32)}
    ours = {new_id() for _ in range(100)}
    assert len(theirs) == 100 and len(ours) == 100
    assert not theirs & ours
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ours | theirs)
