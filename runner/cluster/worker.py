"""The worker side of a cluster batch: chunks of rows on the worker's own Engine.

:func:`run_chunk` is the Dask task. It is a coroutine function, so Dask runs it on the
worker's event loop, and every chunk of a batch that lands on one worker shares one
:class:`WorkerBatch`: one Engine (one HTTP pool, one account pool leasing from the
cluster, one budget slice, one scratch folder) and one :class:`RowRunner`, which keeps
``concurrency`` rows in flight however many chunks the worker runs at once.

The engine's state folder (scratch, parked answers) is the project's ``.mediamix`` when the
worker sees it (same machine, or a shared filesystem), else the worker's local directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.batch.rowrun import BatchIdentity, RowOutcome, RowRunner
from runner.batch.rows import Row
from runner.cluster.leased import ClusterBudget, ClusterClaims, LeasedAccountPool
from runner.cluster.link import CoordinatorLink, StreamSink
from runner.config.project import Workspace
from runner.engine.plan import Plan
from runner.engine.reuse import ReuseIndex, StoredArtifact
from runner.engine.run import Engine, History
from runner.engine.services import Budget, EngineOptions
from runner.engine.stopping import Stopper
from runner.providers.registry import get_provider
from runner.runlog.records import ResumeTask
from runner.storage import ArtifactStore

#: The scheduler handler every worker answers: another worker got a 429.
COOL_OP = "mediamix_cool"
#: How often a chunk whose rows another live worker holds looks again.
_BUSY_POLL_S = 0.2


@dataclass
class BatchContext:
    """Everything a worker needs to run the batch's rows, sent once per worker."""

    batch: BatchIdentity
    ws: Workspace
    plan: Plan
    #: EngineOptions fields (the client's, so every worker behaves as the client would).
    engine_options: dict[str, Any]
    history: History
    #: Reuse: idempotency key -> artifacts of earlier successes (from the client's log).
    succeeded: dict[str, list[StoredArtifact]]
    resume_tasks: dict[str, ResumeTask]
    #: Rows at once on each worker.
    concurrency: int
    cap_usd: float | None
    #: The project's state folder on the client's machine, and a file in it with ``token``:
    #: a worker that reads the token there shares that folder.
    state_dir: str
    probe: str
    token: str
    extra: dict[str, Any] = field(default_factory=dict)


class WorkerBatch:
    """One batch on one worker process."""

    def __init__(self, ctx: BatchContext, link: CoordinatorLink, local_dir: Path) -> None:
        self.ctx = ctx
        self.link = link
        ws = ctx.ws
        store = ArtifactStore(ws.project.storage, project_root=ws.project.root)
        self.pool = LeasedAccountPool(ws.accounts, link)
        self.budget: Budget = (
            ClusterBudget(ctx.cap_usd, link) if ctx.cap_usd is not None else Budget(None)
        )
        self.stopper = Stopper()
        options = EngineOptions(**ctx.engine_options, stopper=self.stopper)
        self.engine = Engine(
            ws,
            StreamSink(link),
            options=options,
            history=ctx.history,
            store=store,
            state_dir=_state_dir(ctx, local_dir),
            pool=self.pool,
            budget=self.budget,
            claims=ClusterClaims(link, store),
        )
        sv = self.engine.services
        sv.reuse = ReuseIndex(ctx.succeeded, store).lookup
        sv.resume_tasks = dict(ctx.resume_tasks)
        self.runner = RowRunner(
            self.engine,
            ctx.plan,
            ctx.batch,
            concurrency=ctx.concurrency,
            on_start=lambda row: link.record(("s", row.number)),
            on_outcome=self._finished,
            should_stop=lambda: link.stop is not None,
            worker=link.worker,
        )
        link.on_reply(self._obey)

    async def warm_up(self) -> None:
        """Load the providers and the HTTP client before the first slot is leased: a first
        request slowed by imports would reach the vendor late, bunched with the next
        worker's, and a vendor that counts per second would refuse one."""
        for step in self.ctx.plan.steps:
            for candidate in step.candidates:
                with contextlib.suppress(Exception):  # an unknown provider fails its job
                    if get_provider(candidate.provider).uses_http:
                        await self.engine.services.http_client()

    def _finished(self, row: Row, outcome: RowOutcome) -> None:
        self.link.row_done(row.number, outcome)

    def _obey(self, reply: dict[str, Any]) -> None:
        stop, reason = reply.get("stop"), reply.get("reason") or "the batch was stopped"
        if stop == "hard" and not self.stopper.hard_stopped:
            self.stopper.hard(reason)
        elif stop == "soft":
            self.stopper.soft("interrupted", reason)

    async def run_chunk(self, rows: list[Row]) -> dict[str, Any]:
        """Run the chunk's rows that are not done or running elsewhere; return when every
        row of it is done (here or elsewhere) or the batch stops."""
        waiting = {row.number: row for row in rows}
        ran = 0
        self.link.active += 1
        try:
            while waiting:
                answer = await self.link.call("mediamix_rows", rows=list(waiting))
                self._obey(answer)
                mine = [waiting.pop(n) for n in answer["mine"] if n in waiting]
                busy = set(answer["busy"])
                for number in [n for n in waiting if n not in busy]:
                    del waiting[number]  # done already
                if mine:
                    await self.runner.run(mine)
                    ran += len(mine)
                if self.link.stop is not None:
                    break
                if waiting:
                    await asyncio.sleep(_BUSY_POLL_S)
        finally:
            self.link.active -= 1
            if not self.link.active and isinstance(self.budget, ClusterBudget):
                self.budget.give_back()
            await self.link.drain()
        return {"worker": self.link.worker, "ran": ran}

    async def close(self) -> None:
        await self.engine.aclose()
        await self.link.drain()
        await self.link.close()


def _state_dir(ctx: BatchContext, local_dir: Path) -> Path:
    try:
        if Path(ctx.probe).read_text(encoding="utf-8") == ctx.token:
            return Path(ctx.state_dir)
    except OSError:
        pass
    return local_dir / "mediamix"


#: Batches open on this worker process, by id.
_BATCHES: dict[str, WorkerBatch] = {}
_OPENING = asyncio.Lock()


async def _worker_batch(worker: Any, batch_id: str) -> WorkerBatch:
    async with _OPENING:
        found = _BATCHES.get(batch_id)
        if found is not None:
            return found
        worker.handlers.setdefault(COOL_OP, _cool)

        async def call(op: str, **kwargs: Any) -> Any:
            return await getattr(worker.scheduler, op)(**kwargs)

        blob = await worker.scheduler.mediamix_context(batch=batch_id)
        if blob is None:
            raise RuntimeError(f"batch {batch_id} is over (the client has closed it)")
        ctx: BatchContext = pickle.loads(blob)
        link = CoordinatorLink(call, batch_id, worker.address)
        opened = WorkerBatch(ctx, link, Path(worker.local_directory))
        await opened.warm_up()
        _BATCHES[batch_id] = opened
        return opened


async def run_chunk(batch_id: str, rows: list[Row]) -> dict[str, Any]:
    """The Dask task: run one chunk of a batch's rows on this worker."""
    from distributed import get_worker

    batch = await _worker_batch(get_worker(), batch_id)
    return await batch.run_chunk(rows)


async def close_batch(batch_id: str) -> None:
    """Run on every worker when the batch ends (Client.run): close its engine."""
    batch = _BATCHES.pop(batch_id, None)
    if batch is not None:
        await batch.close()


def _cool(batch: str, cooled: dict[str, float]) -> None:
    """Another worker's 429: cool the account here too."""
    found = _BATCHES.get(batch)
    if found is not None:
        for account, seconds in cooled.items():
            found.pool.cool(account, seconds)
