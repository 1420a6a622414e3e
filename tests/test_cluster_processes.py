"""`mediamix batch --cluster` against Dask as people run it by hand: a `dask scheduler`
and `dask worker` processes; what is refused up front; `local:N`.

The "other host" is a real `dask worker` in its own UTS and mount namespaces (unshare):
another hostname, and the project's folder hidden under an empty tmpfs, as on a machine
that does not share this one's disk.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.cli.main import main
from tests.batch_support import chat_prompts, prompt_of, write_rows
from tests.cluster_support import (
    cluster_environment,
    cluster_project,
    free_port,
    spawn,
    stop,
    wait_for_workers,
)
from tests.engine_support import log_rows
from tests.fakeprovider import FakeProviderServer

pytest.importorskip("distributed", reason="the cluster extra: pip install 'mediamix[cluster]'")

DASK = [sys.executable, "-m", "dask"]


def mediamix(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 0), out, err


def worker_args(address: str, name: str, directory: Path) -> list[str]:
    return [
        *DASK, "worker", address, "--name", name, "--nthreads", "2", "--no-nanny",
        "--no-dashboard", "--local-directory", str(directory),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("home")
    address = f"tcp://127.0.0.1:{free_port()}"
    with cluster_environment(home):
        port = address.rsplit(":", 1)[1]
        processes = [spawn([*DASK, "scheduler", "--host", "127.0.0.1", "--port", port])]
        try:
            wait_for_workers(address, 0)
            processes += [spawn(worker_args(address, f"w{n}", home / f"w{n}")) for n in (1, 2)]
            wait_for_workers(address, 2)
            yield address
        finally:
            for process in reversed(processes):
                stop(process)


def test_a_batch_runs_on_a_dask_scheduler_and_two_dask_worker_processes(
    tmp_path: Path,
    fake: FakeProviderServer,
    scheduler: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = cluster_project(tmp_path, fake)
    rows = write_rows(tmp_path / "rows.jsonl", 16)
    fake.state.latency_s = 0.02
    code, out, err = mediamix(
        capsys, "-C", str(project.root), "batch", "notes", str(rows),
        "--cluster", scheduler, "--concurrency", "2", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["rows_succeeded"] == 16
    assert chat_prompts(fake) == {prompt_of(n): 1 for n in range(16)}
    jobs = log_rows(project.runlog, "SELECT status, worker FROM jobs")
    assert {j["status"] for j in jobs} == {"succeeded"} and len({j["worker"] for j in jobs}) == 2


def test_an_unreachable_scheduler_is_one_clear_line_and_exit_2(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    nobody = f"tcp://127.0.0.1:{free_port()}"
    project = cluster_project(
        tmp_path, fake, extra=f"cluster: {{address: '{nobody}', connect_timeout_s: 1}}\n"
    )
    rows = write_rows(tmp_path / "rows.jsonl", 3)
    code, out, err = mediamix(
        capsys, "-C", str(project.root), "batch", "notes", str(rows), "--json"
    )
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"mediamix: error: cannot reach the Dask scheduler at {nobody} within 1s"
    )
    assert "Traceback" not in err and fake.state.count("") == 0


def test_local_n_starts_its_own_cluster_for_the_batch(
    tmp_path: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    project = cluster_project(tmp_path, fake)
    rows = write_rows(tmp_path / "rows.jsonl", 4)
    with cluster_environment(tmp_path / "home"):
        code, out, err = mediamix(
            capsys, "-C", str(project.root), "batch", "notes", str(rows),
            "--cluster", "local:1", "--json",
        )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["rows_succeeded"] == 4
    jobs = log_rows(project.runlog, "SELECT worker FROM jobs")
    assert len(jobs) == 4 and len({j["worker"] for j in jobs}) == 1


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_a_file_root_is_refused_when_a_worker_runs_on_another_host(
    tmp_path: Path,
    fake: FakeProviderServer,
    scheduler: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Last in the module: it adds a third worker, on "another host".
    project = cluster_project(tmp_path / "project", fake)
    rows = write_rows(tmp_path / "rows.jsonl", 3)
    hide = f'hostname elsewhere && mount -t tmpfs none {tmp_path / "project"} && exec "$@"'
    elsewhere = spawn(
        worker_args(scheduler, "elsewhere", tmp_path / "w3"),
        prefix=["unshare", "--uts", "--mount", "sh", "-c", hide, "sh"],
    )
    try:
        wait_for_workers(scheduler, 3)
        args = ["-C", str(project.root), "batch", "notes", str(rows), "--cluster", scheduler]
        code, _, err = mediamix(capsys, *args)
        assert code == 2
        assert "storage file://outputs is a folder on this machine, which worker" in err
        assert "on elsewhere cannot see: use s3://bucket/prefix" in err
        assert "and set storage: {shared: true} in mediamix.yaml" in err
        assert "Traceback" not in err and fake.state.count("") == 0

        project.write("mediamix.yaml", "storage: {url: file://outputs, shared: true}\n")
        code, _, err = mediamix(capsys, *args)
        assert code == 2
        assert "storage file://outputs is declared shared, but worker" in err
        assert f"on elsewhere does not see it: mount it at {project.root / 'outputs'} there" in err
        assert fake.state.count("") == 0
    finally:
        stop(elsewhere)
