"""runlog.duckdb is always current, always openable, never in anyone's way.

- a file mediamix wrote opens in DuckDB 1.1 (a real one, installed from PyPI);
- it holds a run the moment `mediamix run` / `generate` exits, with no mediamix reader
  in between;
- another program holding it (read-write, as the DuckDB CLI does by default, or read-only)
  never stops a run; its records land once the holder lets go; readers say who holds it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from runner.config.scaffold import init_project
from runner.runlog.migrations import migrate
from tests.tool_cache import pip_target

OLD_DUCKDB = "duckdb==1.1.3"


def mediamix(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner.cli.main", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    init_project(root)
    return root


def db_path(project: Path) -> Path:
    return project / ".mediamix" / "runlog" / "runlog.duckdb"


def generate(project: Path, prompt: str) -> dict[str, object]:
    done = mediamix(project, "generate", "--type", "text", "--prompt", prompt, "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def plain_duckdb_jobs(path: Path) -> list[tuple[str, str]]:
    """What any DuckDB client sees: (run_id, status) of every job."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("SELECT run_id, status FROM jobs").fetchall()
        return [(str(r), str(s)) for r, s in rows]
    finally:
        con.close()


HOLDER = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
    print("holding", flush=True)
    sys.stdin.read()
    """
)


@contextmanager
def held(path: Path, mode: str) -> Iterator[int]:
    """Another program holding the file, as the DuckDB CLI or a notebook would."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        assert proc.stdout.readline().strip() == "holding"
        yield proc.pid
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
        proc.stdout.close()


def test_the_file_holds_the_run_right_after_generate_exits(project: Path) -> None:
    first = generate(project, "one")
    assert plain_duckdb_jobs(db_path(project)) == [(first["run_id"], "succeeded")]
    second = generate(project, "two")
    assert sorted(plain_duckdb_jobs(db_path(project))) == sorted(
        [(first["run_id"], "succeeded"), (second["run_id"], "succeeded")]
    )
    assert not list((db_path(project).parent / "inbox").iterdir())


def test_duckdb_1_1_opens_the_file_mediamix_wrote(project: Path) -> None:
    result = generate(project, "for an old client")
    site = pip_target(OLD_DUCKDB)
    probe = textwrap.dedent(
        """
        import json, sys, duckdb
        con = duckdb.connect(sys.argv[1], read_only=True)
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
        counts = {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
        runs = [r[0] for r in con.execute("SELECT run_id FROM runs").fetchall()]
        print(json.dumps({"version": duckdb.__version__, "counts": counts, "runs": runs}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(db_path(project))],
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["version"] == "1.1.3"
    assert seen["runs"] == [result["run_id"]]
    # Every table and view reads in the old client, not only the file header.
    assert seen["counts"]["jobs"] == 1 and seen["counts"]["v_success_by_preset"] == 1
    assert {"runs", "jobs", "attempts", "events", "artifacts", "account_health"} <= set(
        seen["counts"]
    )


def test_a_file_in_duckdb_2s_format_is_rewritten_once_for_old_clients(project: Path) -> None:
    """What an earlier mediamix left on DuckDB 2: storage format 'latest'."""
    path = db_path(project)
    path.parent.mkdir(parents=True)
    con = duckdb.connect(str(path))  # DuckDB's default format, as mediamix used to create it
    migrate(con)
    con.close()
    result = generate(project, "after the upgrade")
    con = duckdb.connect(str(path), read_only=True)
    tags = con.execute(
        "SELECT tags FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    con.close()
    assert "v1.0.0" in str(tags)
    assert plain_duckdb_jobs(path) == [(result["run_id"], "succeeded")]


def test_a_run_goes_on_while_another_program_holds_the_file_for_writing(project: Path) -> None:
    first = generate(project, "before")
    with held(db_path(project), "rw") as pid:
        during = mediamix(project, "generate", "--type", "text", "--prompt", "during", "--json")
        assert during.returncode == 0, during.stderr
        notes = [line for line in during.stderr.splitlines() if "run-log history" in line]
        assert len(notes) == 1 and f"PID {pid}" in notes[0]
        assert "Traceback" not in during.stderr
        # A reader cannot open the file at all: one line naming the holder, exit 1.
        jobs = mediamix(project, "jobs", "--json")
        assert jobs.returncode == 1
        assert jobs.stdout == ""
        (line,) = jobs.stderr.strip().splitlines()
        assert f"PID {pid}" in line and "close it" in line and "wait in" in line
    run_id = json.loads(during.stdout)["run_id"]
    # The holder let go: the run's records land at the next merge.
    listed = mediamix(project, "jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {j["run_id"] for j in json.loads(listed.stdout)} == {first["run_id"], run_id}


def test_a_reader_shows_what_is_merged_while_the_file_is_held_read_only(project: Path) -> None:
    first = generate(project, "before")
    with held(db_path(project), "ro") as pid:
        during = generate(project, "during")  # cannot merge: its records wait
        jobs = mediamix(project, "jobs", "--json")
        assert jobs.returncode == 0, jobs.stderr
        assert [j["run_id"] for j in json.loads(jobs.stdout)] == [first["run_id"]]
        assert "not merged yet" in jobs.stderr and f"PID {pid}" in jobs.stderr
        sql = mediamix(project, "sql", "SELECT count(*) AS n FROM jobs", "--format", "json")
        assert sql.returncode == 0 and json.loads(sql.stdout) == [{"n": 1}]
    listed = mediamix(project, "jobs", "--json")
    assert {j["run_id"] for j in json.loads(listed.stdout)} == {first["run_id"], during["run_id"]}
    assert "not merged" not in listed.stderr


def test_an_empty_database_file_is_replaced_not_fatal(project: Path) -> None:
    """A full disk used to leave a 0-byte runlog.duckdb that broke every command."""
    path = db_path(project)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    result = generate(project, "after the crash")
    assert plain_duckdb_jobs(path) == [(result["run_id"], "succeeded")]


def test_a_damaged_database_file_is_moved_aside_with_a_message(project: Path) -> None:
    path = db_path(project)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database" * 100)
    done = mediamix(project, "generate", "--type", "text", "--prompt", "x", "--json")
    assert done.returncode == 0, done.stderr
    assert "moved it to runlog.duckdb.damaged-" in done.stderr
    (aside,) = path.parent.glob("runlog.duckdb.damaged-*")
    assert aside.read_bytes().startswith(b"this is not a database")
    assert plain_duckdb_jobs(path) == [(json.loads(done.stdout)["run_id"], "succeeded")]


def test_every_example_query_in_docs_runs_and_the_week_is_utc(project: Path) -> None:
    """docs/runlog.md's queries run as written, and "the last week" is measured in UTC
    (the columns' zone) even where local time is hours away from it."""
    generate(project, "for the docs")
    text = (Path(__file__).resolve().parent.parent / "docs" / "runlog.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```sql\n")[1:]]
    statements = [s.strip() for b in blocks for s in b.split(";") if s.strip()]
    assert len(statements) >= 6
    con = duckdb.connect(str(db_path(project)), read_only=True)
    try:
        con.execute("SET TimeZone = 'Pacific/Kiritimati'")  # UTC+14
        for statement in statements:
            con.execute(statement).fetchall()
        week = next(s for s in statements if "INTERVAL 7 DAY" in s)
        # A job started 6 days 20 hours ago (UTC) is inside the last week.
        con.execute("CREATE TEMP TABLE jobs AS SELECT * FROM main.jobs")
        con.execute(
            "UPDATE temp.jobs SET started_at = (now() AT TIME ZONE 'UTC') - INTERVAL 164 HOUR"
        )
        assert con.execute(week.replace("FROM jobs", "FROM temp.jobs")).fetchall() == [
            ("text-gpt-simple", 1.0)
        ]
    finally:
        con.close()
