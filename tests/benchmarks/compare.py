"""Rerun the README's performance table: ``python -m tests.benchmarks.compare``.

Every workload of the harness (:mod:`tests.benchmarks.harness`) for every client installed
here (LiteLLM needs ``pip install '.[bench]'``; a client that is missing or fails gets a
cell saying so), then prints the markdown table, the targets of issue 16 with this run's
ratios, and the machine: CPU model, cores, Python and library versions, the commit
measured. Takes about 10 minutes on a 2-core machine (LiteLLM's Router spends ~10 ms of
CPU per request); ``--runs 1`` for a quick look.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata

from tests.benchmarks.harness import (
    BATCH_64,
    CPU_64,
    FAULTS_200,
    LATENCY_200,
    RUNS,
    Summary,
    Workload,
    cores,
    measure_cells,
    missing_library,
)
from tests.conftest import REPO

CLIENTS = ("aiohttp", "httpx", "litellm", "mediamix")
Cells = dict[tuple[Workload, str], Summary | str]


def measure_all(runs: int, clients: tuple[str, ...]) -> Cells:
    """Each (workload, client) cell: its summary, or why it has none. The clients of one
    workload are interleaved; if one of them fails, each is measured alone to find it."""
    groups: dict[Workload, list[str]] = {
        CPU_64: list(CLIENTS),
        LATENCY_200: list(CLIENTS),
        FAULTS_200: ["litellm", "mediamix"],
        BATCH_64: ["mediamix-run", "mediamix-batch"],
    }
    cells: Cells = {}
    for workload, wanted in groups.items():
        ready = []
        for client in wanted:
            reason = "not run" if client.split("-")[0] not in clients else missing_library(client)
            if reason:
                cells[(workload, client)] = reason
            else:
                ready.append((workload, client))
        print(f"measuring {workload.name}: {', '.join(c for _, c in ready)} ...", file=sys.stderr)
        try:
            cells.update(measure_cells(ready, runs=runs))
        except RuntimeError:
            for cell in ready:
                try:
                    cells.update(measure_cells([cell], runs=runs))
                except RuntimeError as exc:
                    cells[cell] = f"failed: {str(exc).splitlines()[0]}"
        for cell in ready:
            found = cells[cell]
            if isinstance(found, Summary):
                print(f"  {found.line()}", file=sys.stderr, flush=True)
    return cells


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (" + uncommitted changes" if git("status", "--porcelain", "--", "runner") else "")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cell(found: Summary | str | None, text: str) -> str:
    return text if isinstance(found, Summary) else "—" if found is None else f"({found})"


def table(cells: Cells) -> list[str]:
    def get(workload: Workload, client: str) -> Summary | str | None:
        return cells.get((workload, client))

    floor_cpu, floor_wall = get(CPU_64, "aiohttp"), get(LATENCY_200, "aiohttp")
    litellm = f"LiteLLM Router {version('litellm')}"
    rows = [
        f"| workload | aiohttp loop | httpx | {litellm} | mediamix {version('mediamix')} |",
        "|---|---|---|---|---|",
    ]

    def against_floor(
        workload: Workload,
        client: str,
        floor: Summary | str | None,
        measure: Callable[[Summary], float],
        unit: str,
        times: str,
    ) -> str:
        """``client``'s measure in ``workload``, and its ratio to the floor's."""
        found = get(workload, client)
        if not isinstance(found, Summary):
            return _cell(found, "")
        ratio = ""
        if client != "aiohttp" and isinstance(floor, Summary):
            ratio = f" ({measure(found) / measure(floor):.1f}{times})"
        return f"{measure(found):.2f} {unit}{ratio}"

    def cpu(client: str) -> str:
        return against_floor(CPU_64, client, floor_cpu, lambda s: s.cpu_ms, "ms", "x the floor")

    def wall(client: str) -> str:
        return against_floor(LATENCY_200, client, floor_wall, lambda s: s.wall_s, "s", "x")

    def faults(client: str) -> str:
        found, clean = get(FAULTS_200, client), get(LATENCY_200, client)
        if not isinstance(found, Summary):
            return _cell(found, "")
        share = f"{found.completed}/{found.requests}"
        if not isinstance(clean, Summary):
            return f"{share}, {found.wall_s:.2f} s"
        return f"{share}, {found.wall_s / clean.wall_s:.2f}x its fault-free wall"

    def batch() -> str:
        row, job = get(BATCH_64, "mediamix-batch"), get(BATCH_64, "mediamix-run")
        if not (isinstance(row, Summary) and isinstance(job, Summary)):
            return _cell(row if not isinstance(row, Summary) else job, "")
        return (
            f"{row.cpu_ms:.2f} ms CPU per row vs {job.cpu_ms:.2f} ms per `run` job "
            f"({row.cpu_ms / job.cpu_ms:.2f}x)"
        )

    rows.append(f"| {CPU_64.name} | " + " | ".join(cpu(c) for c in CLIENTS) + " |")
    rows.append(f"| {LATENCY_200.name} | " + " | ".join(wall(c) for c in CLIENTS) + " |")
    rows.append(
        "| 20 % of answers 429/500 (100 ms, concurrency 200), 2 deployments + a fallback model "
        f"| — | — | {faults('litellm')} | {faults('mediamix')} |"
    )
    rows.append(f"| batch, one text job per row, concurrency 64 | — | — | — | {batch()} |")
    return rows


def targets(cells: Cells) -> list[str]:
    """Issue 16's targets, each with this run's ratio and whether it holds."""

    def ratio(a: Summary | str | None, b: Summary | str | None, wall: bool) -> float | None:
        if not (isinstance(a, Summary) and isinstance(b, Summary)):
            return None
        return a.wall_s / b.wall_s if wall else a.cpu_ms / b.cpu_ms

    faulty = cells.get((FAULTS_200, "mediamix"))
    row = cells.get((BATCH_64, "mediamix-batch"))
    checks = [
        (
            "engine CPU/job <= 4x the aiohttp floor",
            ratio(cells.get((CPU_64, "mediamix")), cells.get((CPU_64, "aiohttp")), False),
            4.0,
        ),
        (
            "100 ms @200 wall <= 1.6x aiohttp's",
            ratio(cells.get((LATENCY_200, "mediamix")), cells.get((LATENCY_200, "aiohttp")), True),
            1.6,
        ),
        (
            "20 % faults: wall <= 1.3x mediamix's fault-free wall",
            ratio(faulty, cells.get((LATENCY_200, "mediamix")), True),
            1.3,
        ),
        (
            "batch CPU/row <= 1.25x engine CPU/job",
            ratio(row, cells.get((BATCH_64, "mediamix-run")), False),
            1.25,
        ),
    ]
    lines = []
    for name, found, limit in checks:
        verdict = "not measured" if found is None else "met" if found <= limit else "NOT met"
        shown = "" if found is None else f"{found:.2f}x: "
        lines.append(f"- {name}: {shown}{verdict}")
    if isinstance(faulty, Summary):
        verdict = "met" if faulty.completed == faulty.requests else "NOT met"
        lines.append(f"- 20 % faults: {faulty.completed}/{faulty.requests} complete: {verdict}")
    return lines


def machine(runs: int) -> list[str]:
    pinned = cores()
    where = (
        f"fake server pinned to core {min(pinned[0])}, each client in a fresh process "
        f"pinned to core {min(pinned[1])}"
        if pinned
        else "one usable core: nothing pinned"
    )
    versions = ", ".join(
        f"{name} {version(name)}" for name in ("aiohttp", "httpx", "litellm", "mediamix")
    )
    return [
        f"- measured {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC at commit "
        f"{commit()}; medians of {runs} runs of 2,000 chat requests; {where}",
        f"- {cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()} on "
        f"{platform.system()} {platform.release()}",
        f"- {versions}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="runs per cell (median)")
    every = ",".join(CLIENTS)
    parser.add_argument("--clients", default=every, help=f"a comma-separated subset of {every}")
    args = parser.parse_args()
    cells = measure_all(args.runs, tuple(args.clients.split(",")))
    print("\n".join([*table(cells), "", *targets(cells), "", *machine(args.runs)]))


if __name__ == "__main__":
    main()
