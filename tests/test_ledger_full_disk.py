"""Full disks never cost a paid answer: with the run log or the outputs on a disk that
fills mid-batch, dispatch stops, what was paid for is kept (records held in memory until
written; answers parked), the summary is printed, and ``--resume`` stores the parked
answers without a new call.

Each case runs twice: on a real tiny tmpfs (as root; skipped elsewhere) and with the full
disk injected in-process (always runs).
"""

from __future__ import annotations

import asyncio
import errno
import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from runner.batch import BatchOptions, BatchRun, prepare_batch
from runner.config.project import load_workspace
from runner.errors import StorageError
from runner.runlog import writer as journal
from runner.storage import local as local_storage
from tests.batch_support import (
    batch_command,
    batch_project,
    chat_prompts,
    prompt_of,
    query,
    write_rows,
)
from tests.engine_support import log_rows
from tests.fakeprovider import FakeProviderServer
from tests.tmpfs import grow, tiny_tmpfs

ROWS = 120
CONCURRENCY = 8


def batch(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        batch_command(CONCURRENCY, *args),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=180,
    )


def run_in_process(
    root: Path, *, resume: bool = False, options: BatchOptions | None = None
) -> object:
    ws = load_workspace(str(root))
    options = options or BatchOptions(concurrency=CONCURRENCY, resume_latest=resume)
    prepared = prepare_batch(ws, "pipelines/notes.yaml", root / "rows.jsonl", options)
    notices: list[str] = []
    run = BatchRun(ws, prepared, options, notify=notices.append)
    result = asyncio.run(run.run())
    result.notices = notices  # type: ignore[attr-defined]
    return result


@pytest.fixture
def project(tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake.state.latency_s = 0.01
    project = batch_project(tmp_path / "p", fake, monkeypatch)
    write_rows(project.root / "rows.jsonl", ROWS)
    return project.root


def paid(fake: FakeProviderServer) -> int:
    return sum(chat_prompts(fake).values())


# -- the run log's disk -------------------------------------------------------------


def test_a_full_run_log_disk_stops_dispatch_and_says_where(
    project: Path, fake: FakeProviderServer
) -> None:
    log_dir = project / "runlog-disk"
    (project / "mediamix.yaml").write_text(
        "storage: {url: file://outputs}\nrunlog: runlog-disk\n", encoding="utf-8"
    )
    with tiny_tmpfs(log_dir, "48k"):
        done = batch(project)
        assert done.returncode == 1, done.stderr
        summary = json.loads(done.stdout)  # the summary is printed all the same
        assert summary["stopped"] == "runlog"
        assert summary["rows_not_run"] > 0
        assert f"No space left on device at {log_dir}" in done.stderr
        assert "Traceback" not in done.stderr
        grow(log_dir, "8m")
        # What the log holds now vs what was paid: only calls in flight when the disk
        # filled can be missing (it used to be 600 paid, 83 logged).
        (row,) = log_rows(log_dir, "SELECT count(*) AS n FROM attempts WHERE status = 'succeeded'")
        logged = row["n"]
    assert paid(fake) - logged <= CONCURRENCY


def test_records_held_while_the_run_log_disk_is_full_are_written_when_space_returns(
    project: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_append = journal._Segment.append
    appends = Counter[str]()
    options = BatchOptions(concurrency=CONCURRENCY)

    def filling(self: journal._Segment, data: bytes, records: int = 1) -> None:
        appends["all"] += 1
        # Full from the 200th write until the batch has stopped dispatching; then room.
        if appends["all"] >= 200 and options.stopper.kind != "runlog":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_append(self, data, records)

    monkeypatch.setattr(journal._Segment, "append", filling)
    result = run_in_process(project, options=options)
    assert result.stopped == "runlog"  # type: ignore[attr-defined]
    assert result.rows_not_run > 0  # type: ignore[attr-defined]
    monkeypatch.setattr(journal._Segment, "append", real_append)
    # Every call that was paid is in the log: the held records were written later.
    logged = query(project, "SELECT count(*) AS n FROM attempts WHERE status = 'succeeded'")
    assert logged == [{"n": paid(fake)}]


# -- the outputs' disk ----------------------------------------------------------------


def test_answers_paid_while_the_outputs_disk_is_full_are_stored_on_resume_without_a_call(
    project: Path, fake: FakeProviderServer
) -> None:
    outputs = project / "outputs"
    with tiny_tmpfs(outputs, "16k"):
        first = batch(project)
        assert first.returncode == 1, first.stderr
        summary = json.loads(first.stdout)
        assert summary["stopped"] == "storage"
        assert "paid answer(s) are kept in" in first.stderr + json.dumps(summary)
        before = paid(fake)
        parked = list((project / ".mediamix" / "parked").glob("*/parked.json"))
        assert parked
        grow(outputs, "8m")  # space freed
        second = batch(project, "--resume")
        assert second.returncode == 0, second.stderr
        stored = Counter(
            p.read_text().split(": ", 1)[1].strip() for p in outputs.rglob("*") if p.is_file()
        )
    # The parked answers cost nothing the second time; each prompt was paid once.
    assert before < ROWS
    assert chat_prompts(fake) == Counter({prompt_of(n): 1 for n in range(ROWS)})
    assert stored == Counter({prompt_of(n): 1 for n in range(ROWS)})
    assert not list((project / ".mediamix" / "parked").glob("*/parked.json"))


def test_outputs_refusing_writes_park_the_answers_injected(
    project: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = local_storage.LocalBackend.write_bytes
    writes = Counter[str]()

    async def full(
        self: local_storage.LocalBackend, data: bytes, key: str, *, keep_folder: bool = False
    ) -> int | None:
        writes["all"] += 1
        if writes["all"] > 10:
            raise StorageError(f"cannot write {key}: No space left on device")
        return await real(self, data, key, keep_folder=keep_folder)

    monkeypatch.setattr(local_storage.LocalBackend, "write_bytes", full)
    result = run_in_process(project)
    assert result.stopped == "storage"  # type: ignore[attr-defined]
    paid_first = paid(fake)
    parked = list((project / ".mediamix" / "parked").glob("*/parked.json"))
    assert len(parked) == paid_first - 10  # every paid answer not stored is parked
    failed = query(project, "SELECT error_class, error FROM jobs WHERE status = 'failed'")
    assert {f["error_class"] for f in failed} >= {"storage"}
    monkeypatch.setattr(local_storage.LocalBackend, "write_bytes", real)

    resumed = run_in_process(project, resume=True)

    assert resumed.status == "succeeded"  # type: ignore[attr-defined]
    assert chat_prompts(fake) == Counter({prompt_of(n): 1 for n in range(ROWS)})
    unparked = query(project, "SELECT count(*) AS n FROM events WHERE kind = 'artifact_unparked'")
    assert unparked == [{"n": paid_first - 10}]
