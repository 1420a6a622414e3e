"""The client side of a cluster batch: connect, check, hand out chunks, keep the ledger.

:func:`run_on_cluster` is what :class:`~runner.batch.runner.BatchRun` calls instead of
running rows itself. It connects to the scheduler (or starts a LocalCluster for
``local:N``), checks the workers up front (:mod:`runner.cluster.checks`), opens the batch
on the coordinator, and submits the rows as Dask tasks of a few rows each. Meanwhile a
pump takes the stream the workers send through the coordinator, in order, and writes
every record to this process's run-log sink (so the run log holds every worker's
records as they happen) and hands each row's start and outcome to the BatchRun, which
counts them exactly as it counts a local batch's.

When a worker dies, Dask runs its unfinished chunks on another worker; the coordinator
hands out only the rows not yet done, and the jobs the dead worker finished are reused
there (their keys were released with their artifacts). Rows still missing once every
chunk has ended are submitted again (a chunk that failed for another reason), a few times
at most. At the end, what dead workers left "running" in the log is closed as
interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import pickle
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner import __version__
from runner.batch.rowrun import RowOutcome
from runner.batch.rows import Row
from runner.cluster.address import local_workers
from runner.cluster.checks import StorageFacts, judge, probe
from runner.cluster.coordinator import Coordinator
from runner.cluster.leased import identity_of, limits_of
from runner.cluster.state import ABANDONED, STOP_RANK, STREAM
from runner.cluster.worker import BatchContext, close_batch, run_chunk
from runner.config.model import ClusterSpec
from runner.engine.plan import Plan
from runner.errors import UsageError
from runner.runlog.records import JobRecord, Record, RunRecord, RunStartEvent, new_id, utcnow
from runner.runlog.sink import RunLogSink
from runner.storage import ArtifactStore

if TYPE_CHECKING:
    from distributed import Client

    from runner.batch.runner import BatchRun

#: Rows still missing after every chunk ended are submitted again at most this often.
MAX_ROUNDS = 3
#: The client's long poll for the stream.
_TAKE_WAIT_S = 0.05
_STOP_POLL_S = 0.05


async def run_on_cluster(run: BatchRun, plan: Plan, sink: RunLogSink, spec: ClusterSpec) -> None:
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            "--cluster needs Dask's distributed scheduler: pip install 'mediamix[cluster]'"
        ) from exc
    async with _connected(spec) as client:
        await ClusterBatch(run, plan, sink, client, spec).run()


@asynccontextmanager
async def _connected(spec: ClusterSpec) -> AsyncIterator[Client]:
    from distributed import Client, LocalCluster

    count = local_workers(spec.address)
    if count is not None:
        # Two task slots per worker: the next chunk starts while one finishes its last rows.
        async with (
            LocalCluster(
                n_workers=count,
                threads_per_worker=2,
                processes=True,
                asynchronous=True,
                # A free port: the default 8787 may be taken (another cluster, a notebook).
                dashboard_address="127.0.0.1:0",
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster, asynchronous=True) as client,
        ):
            yield client
        return
    timeout = spec.connect_timeout_s
    try:
        client = await Client(spec.address, asynchronous=True, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise UsageError(
            f"cannot reach the Dask scheduler at {spec.address} within {timeout:g}s "
            f"({_reason(exc)}); start one (dask scheduler, then dask worker {spec.address}), "
            "or run here with --cluster none"
        ) from exc
    try:
        try:
            await client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise UsageError(
                f"the Dask scheduler at {spec.address} has no workers after {timeout:g}s: "
                f"start some with dask worker {spec.address}"
            ) from exc
        yield client
    finally:
        with contextlib.suppress(Exception):
            await client.close()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


class ClusterBatch:
    def __init__(
        self, run: BatchRun, plan: Plan, sink: RunLogSink, client: Client, spec: ClusterSpec
    ) -> None:
        self.owner = run
        self.plan = plan
        self.sink = sink
        self.client = client
        self.spec = spec
        self.batch_id = run.prepared.batch_id
        self.token = new_id()
        #: The batch on the coordinator and the workers: this client's session of it (a
        #: resumed batch keeps its id, and must not meet what a dead client left behind).
        self.key = f"{self.batch_id}.{self.token[:12]}"
        ws = run.ws
        self.state_dir = ws.project.root / ".mediamix"
        self.state_probe = self.state_dir / "cluster" / f"probe-{self.batch_id}"
        self.pump = Pump(self)
        self.workers = 0

    @property
    def scheduler(self) -> Any:
        """The scheduler's handlers, the coordinator's among them (``mediamix_*``)."""
        return self.client.scheduler

    async def run(self) -> None:
        await self._check_workers()
        try:
            await self._open()
            await self._dispatch()
        finally:
            self.state_probe.unlink(missing_ok=True)

    # -- before anything runs ------------------------------------------------------------------

    async def _check_workers(self) -> None:
        ws = self.owner.ws
        store = ArtifactStore(ws.project.storage, project_root=ws.project.root)
        root = store.root_uri.removeprefix("file://") if store.is_local else None
        storage_probe = Path(root) / f".mediamix-probe-{self.batch_id}" if root else None
        try:
            for path in (self.state_probe, storage_probe):
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(self.token, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write a probe file for the cluster's workers: {exc}") from exc
        try:
            reports = await self.client.run(
                probe,
                str(self.state_probe),
                str(storage_probe) if storage_probe else None,
                self.token,
                self._key_variables(),
            )
        finally:
            if storage_probe is not None:
                storage_probe.unlink(missing_ok=True)
        self.workers = len(reports)
        judge(reports, StorageFacts(ws.project.storage.url, root, ws.project.storage.shared))

    def _key_variables(self) -> list[str]:
        """Key variables of the accounts this plan may call that are set here."""
        providers = {c.provider for step in self.plan.steps for c in step.candidates}
        names = {
            a.api_key_env
            for a in self.owner.ws.accounts
            if a.provider in providers and a.api_key_env and os.environ.get(a.api_key_env)
        }
        return sorted(n for n in names if n)

    async def _open(self) -> None:
        try:
            await self.client.register_plugin(Coordinator())
        except Exception as exc:  # raised on the scheduler: it lacks (this) mediamix
            raise UsageError(
                f"the Dask scheduler at {self.spec.address} cannot run mediamix's coordinator "
                f"({_reason(exc)}): install mediamix[cluster] {__version__} where it runs"
            ) from exc
        run = self.owner
        p = run.prepared
        cap = run.options.max_cost_usd
        if cap is None:
            cap = run.ws.project.max_cost_usd
        options = run.engine_options()
        context = BatchContext(
            batch=run.identity(),
            ws=run.ws,
            plan=self.plan,
            engine_options={
                f.name: getattr(options, f.name) for f in fields(options) if f.name != "stopper"
            },
            history=p.history_learned,
            succeeded=p.history.succeeded,
            resume_tasks=dict(p.history.resume_tasks),
            concurrency=run.options.concurrency,
            cap_usd=cap,
            state_dir=str(self.state_dir),
            probe=str(self.state_probe),
            token=self.token,
        )
        # Every account, limits or not: a 429 on any of them cools it on every worker.
        accounts = {
            a.name: [identity_of(a), *(getattr(limits_of(a), n) for n in _LIMITS)]
            for a in run.ws.accounts
        }
        opened = await self.scheduler.mediamix_open(
            batch=self.key,
            client=self.client.id,
            context=pickle.dumps(context, protocol=5),
            cap=cap,
            accounts=accounts,
        )
        if opened.get("version") != __version__:
            raise UsageError(
                f"the Dask scheduler at {self.spec.address} runs mediamix "
                f"{opened.get('version')}, this is {__version__}: install the same version there"
            )

    # -- running ---------------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        pump = asyncio.create_task(self.pump.run())
        stops = asyncio.create_task(self._forward_stops())
        errors: list[str] = []
        remaining = list(self.owner.prepared.todo)
        try:
            for attempt in range(MAX_ROUNDS):
                errors = await self._round(attempt, remaining)
                await self.pump.caught_up()
                remaining = [r for r in remaining if r.number not in self.pump.finished]
                if not remaining or self.owner.should_stop():
                    break
                if attempt + 1 < MAX_ROUNDS:
                    why = f" ({'; '.join(sorted(set(errors)))})" if errors else ""
                    self.owner.notify(
                        f"cluster: {len(remaining)} row(s) did not finish{why}; "
                        "submitting them again"
                    )
            else:
                if remaining:
                    why = "; ".join(sorted(set(errors))) or "no worker finished them"
                    self.owner.notify(f"cluster: {len(remaining)} row(s) could not be run ({why})")
        except BaseException:
            with contextlib.suppress(Exception):
                await self.scheduler.mediamix_stop(
                    batch=self.key, kind="hard", reason="the mediamix client stopped"
                )
            raise
        finally:
            stops.cancel()
            await self._close(pump)

    async def _round(self, attempt: int, rows: list[Row]) -> list[str]:
        from distributed import as_completed

        size = max(
            1, min(self.owner.options.concurrency, math.ceil(len(rows) / (2 * self.workers)))
        )
        futures = [
            self.client.submit(
                run_chunk,
                self.key,
                rows[i : i + size],
                key=f"mediamix-{self.key}-{attempt}-{i // size}",
                pure=False,
            )
            for i in range(0, len(rows), size)
        ]
        errors: list[str] = []
        async for future in as_completed(futures):
            try:
                await future
            except Exception as exc:  # the chunk's error, raised again here
                errors.append(f"{type(exc).__name__}: {_reason(exc)}")
        return errors

    async def _forward_stops(self) -> None:
        """Pass this process's stop (fail-fast, budget, Ctrl-C, SIGTERM) to the workers."""
        sent = 0
        stopper = self.owner.options.stopper
        while True:
            kind, reason = None, ""
            if stopper.hard_stopped:
                kind, reason = "hard", stopper.reason or "stopped"
            elif stopper.kind is not None:
                kind, reason = "soft", stopper.reason or "stopped"
            elif self.owner.stopped is not None:
                kind, reason = "rows", self.owner.stopped
            if kind is not None and STOP_RANK[kind] > sent:
                await self.scheduler.mediamix_stop(batch=self.key, kind=kind, reason=reason)
                sent = STOP_RANK[kind]
            await asyncio.sleep(_STOP_POLL_S)

    async def _close(self, pump: asyncio.Task[None]) -> None:
        # Workers close their engines first: their last records reach the outbox ...
        with contextlib.suppress(Exception):
            await self.client.run(close_batch, self.key)
        # ... which the pump then takes to the end, before the batch is forgotten.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pump.caught_up(), 30.0)
        pump.cancel()
        with contextlib.suppress(BaseException):
            await pump
        self.pump.close_stale()
        with contextlib.suppress(Exception):
            await self.scheduler.mediamix_close(batch=self.key)


_LIMITS = ("rpm", "rpd", "tpm", "max_concurrency")


class Pump:
    """Takes the workers' stream from the coordinator and writes it to the run log."""

    def __init__(self, batch: ClusterBatch) -> None:
        self.batch = batch
        self.acked = 0
        self.finished: set[int] = set()
        self.started: set[int] = set()
        self.dead: set[str] = set()
        #: Runs and jobs whose latest record says "running" (closed at the end if left so).
        self.open_runs: dict[str, RunRecord] = {}
        self.open_jobs: dict[str, JobRecord] = {}
        self._takes = 0
        self._empty_take = 0
        self._news = asyncio.Event()

    async def run(self) -> None:
        b = self.batch
        while True:
            self._takes += 1
            number = self._takes
            reply = await b.scheduler.mediamix_take(
                batch=b.key, acked=self.acked, wait_s=_TAKE_WAIT_S
            )
            for serial, kind, payload in reply["entries"]:
                self._handle(kind, payload)
                self.acked = serial
            if not reply["entries"] or reply.get("closed"):
                self._empty_take = number
                self._news.set()
            if reply.get("closed"):
                return

    async def caught_up(self) -> None:
        """Wait until a take that started after this call found nothing more."""
        target = self._takes + 1
        while self._empty_take < target:
            self._news.clear()
            await self._news.wait()

    def _handle(self, kind: str, payload: Any) -> None:
        run = self.batch.owner
        if kind == STREAM:
            for tag, item in pickle.loads(payload):
                if tag == "r":
                    self._write(item)
                elif tag == "s":
                    self.started.add(item)
                    run.row_started(item)
                elif tag == "o":
                    self._outcome(item)
        elif kind == ABANDONED:
            worker, rows = payload
            self.dead.add(worker)
            lost = [r for r in rows if r in self.started and r not in self.finished]
            for row in lost:
                self.started.discard(row)
                run.row_abandoned(row)
            run.notify(
                f"cluster: worker {worker} is gone; its {len(lost)} unfinished row(s) run again "
                "elsewhere (jobs it finished are reused, not paid again)"
            )

    def _write(self, record: Record) -> None:
        self.batch.sink.write(record)
        if isinstance(record, RunStartEvent):  # a row's event and its run's start
            self.open_runs[record.run_id] = record.run_record()
        elif isinstance(record, RunRecord):
            if record.status == "running":
                self.open_runs[record.run_id] = record
            else:
                self.open_runs.pop(record.run_id, None)
        elif isinstance(record, JobRecord):
            if record.status == "running":
                self.open_jobs[record.job_id] = record
            else:
                self.open_jobs.pop(record.job_id, None)

    def _outcome(self, outcome: RowOutcome) -> None:
        if outcome.row in self.finished:
            return  # a row a presumed-dead worker finished after all: counted once
        self.finished.add(outcome.row)
        self.started.discard(outcome.row)
        self.batch.owner.row_finished(outcome)

    def close_stale(self) -> None:
        """Runs and jobs a dead (or stopped) worker left "running": closed, with why."""
        now = utcnow()
        for record in self.open_runs.values():
            self.batch.sink.write(replace(record, status="interrupted", finished_at=now))
        for job in self.open_jobs.values():
            if job.worker in self.dead:
                why = f"interrupted: Dask worker {job.worker} died; its row ran again elsewhere"
            else:
                why = "interrupted: the batch ended before the job did"
            self.batch.sink.write(
                replace(job, status="failed", error_class="interrupted", error=why, finished_at=now)
            )
        self.open_runs.clear()
        self.open_jobs.clear()
