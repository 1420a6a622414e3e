"""`mediamix batch --cluster` on a real Dask LocalCluster of 2 worker processes.

One cluster for the module (starting one costs seconds). Providers are the loopback fake
server over real HTTP; the run log is the client's, read with SQL as a user would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.cli.main import main
from tests.batch_support import chat_prompts, prompt_of, write_rows
from tests.cluster_support import cluster_environment, cluster_project, local_cluster
from tests.engine_support import log_rows
from tests.fakeprovider import FakeProviderServer

pytest.importorskip("distributed", reason="the cluster extra: pip install 'mediamix[cluster]'")


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with cluster_environment(tmp_path_factory.mktemp("home")), local_cluster(2) as cluster:
        yield cluster.scheduler_address


def mediamix(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 0), out, err


def rows_of(root: Path, sql: str) -> list[dict[str, Any]]:
    return log_rows(root / ".mediamix" / "runlog", sql)


def test_every_row_runs_once_spread_over_both_workers_into_one_run_log(
    tmp_path: Path,
    fake: FakeProviderServer,
    scheduler: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = cluster_project(tmp_path, fake)
    rows = write_rows(tmp_path / "rows.jsonl", 40)
    fake.state.latency_s = 0.02
    code, out, err = mediamix(
        capsys, "-C", str(project.root), "batch", "notes", str(rows),
        "--cluster", scheduler, "--concurrency", "4", "--json",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["rows_succeeded"], summary["rows_failed"], summary["status"]) == (
        40,
        0,
        "succeeded",
    )
    assert chat_prompts(fake) == {prompt_of(n): 1 for n in range(40)}
    jobs = rows_of(project.root, "SELECT status, worker FROM jobs")
    assert len(jobs) == 40 and {j["status"] for j in jobs} == {"succeeded"}
    workers = {j["worker"] for j in jobs}
    assert len(workers) == 2 and all(w.startswith("tcp://127.0.0.1:") for w in workers)
    attempts = rows_of(project.root, "SELECT DISTINCT worker FROM attempts")
    assert {a["worker"] for a in attempts} == workers
    runs = rows_of(project.root, "SELECT status, host FROM runs")
    assert len(runs) == 40 and all(r["status"] == "succeeded" and r["host"] for r in runs)
