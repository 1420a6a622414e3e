"""No API key reaches anything mediamix writes or prints.

Distinctive keys are set for an account at every vendor, plus a revoked OpenAI key that
the fake server echoes back in its 401 body (worse than any real vendor). Pipelines are
run through the real CLI while the fake server answers with every fault it knows; then
everything written is searched: every file under the project and the state directory
(run-log inbox batches, the DuckDB file's bytes and every row of every table, artifacts,
crash log), and the output of ``run`` (human and ``--json``), ``sql``, ``jobs``,
``jobs show``, ``report`` and ``accounts``.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from runner.cli.main import cli
from runner.runlog.store import RunLog
from tests.engine_support import Project
from tests.fakeprovider import FakeProviderServer
from tests.test_engine_providers import (
    LOCAL_FALLBACK,
    PRIMARY,
    VENDOR_PATH,
    account,
    http_project,
    write_pipeline,
)

SENTINEL = "SECRETSENTINEL"

#: Every fault the fake server injects; each vendor gets some in turn.
FAULTS = [
    "500",
    "429",
    "truncate",
    "400",
    "drop",
    "malformed_json",
    "503",
    "529",
    "content_policy",
    "stall",
    "insufficient_quota",
    "401",
    "empty_data",
    "blank_image",
    "silence",
    "task_failed",
]

ATTEMPTS = 3


def mediamix(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process, as a user runs it (the keys come from the environment)."""
    done = subprocess.run(
        [sys.executable, "-m", "runner.cli.main", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
    return done


def read_back(project: Path, *args: str) -> str:
    """A read-only command, in process (it prints what the run log holds; no keys needed)."""
    result = CliRunner().invoke(cli, ["-C", str(project), *args])
    assert result.exit_code == 0, result.output
    return result.output


def make_keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Variable name -> a distinctive key, set in the environment."""
    keys = {
        f"MMX_SECRET_{vendor.upper()}": f"sk-test-{SENTINEL}-{vendor}-{secrets.token_hex(8)}"
        for vendor in PRIMARY
    }
    keys["MMX_SECRET_REVOKED"] = f"bad-{SENTINEL}-{secrets.token_hex(8)}"
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MEDIAMIX_POLL_INTERVAL", "0.02")  # video tasks: poll quickly
    return keys


def every_vendor_project(root: Path, fake: FakeProviderServer) -> Project:
    # The revoked OpenAI account comes first, so it is tried (and refused) first.
    accounts = [account(fake, "openai", "revoked", "MMX_SECRET_REVOKED")]
    accounts += [account(fake, v, f"{v}-main", f"MMX_SECRET_{v.upper()}") for v in PRIMARY]
    project = http_project(root, accounts)
    steps: list[dict[str, Any]] = []
    for vendor, case in PRIMARY.items():
        models = [
            {"provider": vendor, "model": case.model, "timeout": 0.5},
            LOCAL_FALLBACK[case.media_type],
        ]
        project.write(
            f"presets/{vendor}.yaml",
            json.dumps(
                {
                    "media_type": case.media_type,
                    "models": models,
                    "retry": {"max_attempts": ATTEMPTS},
                }
            ),
        )
        steps.append({"id": vendor, "preset": vendor, "prompt": "a lighthouse at dusk"})
    # A step pinned to the revoked account: its 401, whose body echoes the key, is met
    # every run (the openai step fails over to the working account at once).
    revoked = {"provider": "openai", "model": PRIMARY["openai"].model, "account": "revoked"}
    text = PRIMARY["openai"].media_type
    project.write(
        "presets/revoked.yaml",
        json.dumps({"media_type": text, "models": [revoked, LOCAL_FALLBACK[text]]}),
    )
    steps.append({"id": "revoked", "preset": "revoked", "prompt": "a lighthouse at dusk"})
    write_pipeline(project, steps)
    return project


def inject_round(fake: FakeProviderServer, faults: itertools.cycle[str]) -> list[str]:
    """Two faults per vendor (a third attempt may succeed); returns what was injected."""
    fake.state.faults.clear()
    injected = []
    for vendor in PRIMARY:
        for _ in range(ATTEMPTS - 1):
            fault = next(faults)
            fake.state.inject(fault, path_contains=VENDOR_PATH[vendor], retry_after=0)
            injected.append(fault)
    return injected


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


def every_row(db: Path) -> str:
    """Every value of every table and view, as text (the file's bytes may be compressed)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        listed = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        names = [row[0] for row in listed]
        return "\n".join(repr(con.execute(f'SELECT * FROM "{name}"').fetchall()) for name in names)
    finally:
        con.close()


def assert_no_key(where: str, text: str, keys: dict[str, str]) -> None:
    assert SENTINEL not in text, f"a key's marker leaked into {where}"
    for name, key in keys.items():
        tail = key.rsplit("-", 1)[1]
        assert tail not in text, f"the key in {name} leaked into {where}"


def test_no_key_is_written_or_printed_anywhere(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = make_keys(monkeypatch)
    project = every_vendor_project(tmp_path / "project", fake)
    state_dir = Path(os.environ["MEDIAMIX_STATE_DIR"])
    faults = itertools.cycle(FAULTS)
    said: dict[str, str] = {}

    # Each run calls every vendor again (--no-reuse): the faults must meet real calls.
    injected = inject_round(fake, faults)
    as_json = mediamix(project.root, "run", "pipelines/p.yaml", "--json", "--no-reuse")
    said["run --json"] = as_json.stdout + as_json.stderr
    injected += inject_round(fake, faults)
    human = mediamix(project.root, "run", "pipelines/p.yaml", "--verbose", "--no-reuse")
    said["run"] = human.stdout + human.stderr
    fake.state.faults.clear()
    clean = mediamix(project.root, "run", "pipelines/p.yaml", "--json", "--no-reuse")
    said["run (no faults)"] = clean.stdout + clean.stderr

    # The runs really went through every path: the revoked key was echoed back at us,
    # every fault was served, and vendors both failed and succeeded.
    assert set(FAULTS) <= set(injected)
    echoed = fake.state.count("/openai/", key=keys["MMX_SECRET_REVOKED"])
    assert echoed >= 1, said
    assert json.loads(clean.stdout)["status"] == "succeeded"

    # Files as the runs left them: each run merged its records into runlog.duckdb.
    log = RunLog(project.runlog)
    assert log.db_path.is_file() and not log.pending_files()
    for path in files_under(project.root, state_dir):
        assert_no_key(str(path), path.read_bytes().decode("utf-8", "replace"), keys)

    # What a user reads back (this merges the inbox into the database).
    said["sql events"] = read_back(project.root, "sql", "SELECT * FROM events")
    said["sql attempts"] = read_back(
        project.root, "sql", "--format", "json", "SELECT * FROM attempts"
    )
    said["jobs"] = read_back(project.root, "jobs", "--limit", "500")
    jobs = json.loads(read_back(project.root, "jobs", "--json", "--limit", "500"))
    for job in jobs:
        said[f"jobs show {job['job_id']}"] = read_back(project.root, "jobs", "show", job["job_id"])
    said["report"] = read_back(project.root, "report", "--by", "account")
    said["accounts"] = read_back(project.root, "accounts")
    said["accounts --json"] = read_back(project.root, "accounts", "--json")

    db_rows = every_row(log.db_path)
    failures = [row for row in db_rows.split("\n") if "failed" in row]
    assert failures and "Incorrect API key provided" in db_rows  # the echo was recorded
    assert_no_key("the run log's rows", db_rows, keys)
    for path in files_under(project.root, state_dir):
        assert_no_key(str(path), path.read_bytes().decode("utf-8", "replace"), keys)
    for where, text in said.items():
        assert text.strip(), f"{where} printed nothing"
        assert_no_key(where, text, keys)
