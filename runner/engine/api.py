"""The library entry points the CLI calls: run a pipeline file, generate one artifact."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from runner.config.loader import Loaded, load_pipeline, pipeline_from
from runner.config.model import Pipeline, Step, Strategy
from runner.config.project import Workspace, load_workspace
from runner.config.schema_check import did_you_mean
from runner.config.yamlsource import Positions, YamlDocument
from runner.engine.plan import Plan, build_plan
from runner.engine.results import RunResult
from runner.engine.reuse import ReuseIndex, succeeded_by_key
from runner.engine.run import Engine, History
from runner.engine.services import EngineOptions, Progress, ProgressCallback
from runner.errors import RunLogError, UsageError
from runner.runlog.queries import Queries
from runner.runlog.store import NoticeCallback, ReadBlocked, RunLog
from runner.runlog.writer import RunLogWriter


def open_runlog(ws: Workspace, override: str | os.PathLike[str] | None = None) -> RunLog:
    return RunLog(Path(override) if override else ws.project.runlog_dir)


#: How long a run waits for another mediamix process (a long `mediamix sql`) before it
#: starts without the run log's history: a run is never held up by a reader.
HISTORY_WAIT_S = 2.0


def history_for(
    plan: Plan, runlog: RunLog, notify: NoticeCallback | None = None, *, reuse: bool = False
) -> History:
    """What the run log knows, in one read: account health (so a flaky account stays
    less preferred across restarts), when an adaptive step needs it, model stats, and
    with ``reuse`` the pipeline's succeeded jobs by idempotency key.

    When the log cannot be read now (another program holds it for writing, a reader holds
    it too long), the run goes on without history and ``notify`` says so once.
    """
    if not runlog.exists() and not runlog.pending_files():
        return History()
    try:
        with runlog.queries(lock_timeout_s=HISTORY_WAIT_S) as q:
            return learned_history(q, plan, reuse=reuse)
    except ReadBlocked as exc:
        reason = f"{exc.held.path.name} is open for writing in {exc.held.holder.describe()}"
    except RunLogError as exc:
        reason = str(exc)
    if notify is not None:
        notify(
            f"running without run-log history ({reason}); this run's records wait in "
            f"{runlog.inbox} and merge when the file is free"
        )
    return History(unavailable=reason)


def learned_history(q: Queries, plan: Plan, *, reuse: bool = False) -> History:
    """:func:`history_for`'s queries, on a connection the caller holds (a batch reads its
    own history on the same one: each connection to the file costs tens of ms)."""
    history = History(accounts=q.account_stats())
    if reuse:
        history.succeeded = succeeded_by_key(q, plan.pipeline.name)
    adaptive = [s for s in plan.steps if s.strategy == "adaptive"]
    if adaptive:
        window = max((s.preset.adaptive.window_hours if s.preset else 168.0) for s in adaptive)
        history.models = q.model_stats(window)
    return history


async def finish_runlog(
    runlog: RunLog, sink: RunLogWriter, notify: NoticeCallback, *, said_waiting: bool = False
) -> None:
    """After a run's writer is closed: merge its records into ``runlog.duckdb`` now (when
    the file is free; never waiting on another program), and say what could not be done
    (unless ``said_waiting``: the run already said its records would wait)."""
    unwritten = sink.problem()
    if unwritten is not None:
        notify(f"run log: {unwritten}; they could not be written and are lost")
    outcome = await asyncio.to_thread(runlog.merge_now)
    if not outcome.ok and not said_waiting:
        notify(
            f"run log: this run's records wait in {runlog.inbox} and merge at the next "
            f"mediamix command ({outcome.waiting_reason})"
        )
    for message in runlog.notices:
        notify(message)
    runlog.notices.clear()


def resolve_pipeline_path(path: str | os.PathLike[str], ws: Workspace) -> Path:
    """A pipeline file (relative to here, or to the project with ``-C``), or the name of
    one in the project's pipelines/ directory."""
    root = ws.project.root
    for candidate in (Path(path), root / path, root / "pipelines" / f"{path}.yaml"):
        if candidate.is_file():
            return candidate
    raise UsageError(f"no pipeline file {str(path)!r} (looked here and in {root / 'pipelines'})")


#: A pipeline name as the HTTP API takes it: a file stem, never a path.
PIPELINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def project_pipeline(name: str, ws: Workspace) -> Path:
    """The project's ``pipelines/NAME.yaml``, by name only: no path, no ``..``, and no
    symlink leading out of pipelines/. For callers that must not read arbitrary files
    (the HTTP API); the command line takes paths with :func:`resolve_pipeline_path`."""
    folder = ws.project.root / "pipelines"
    if not PIPELINE_NAME.match(name):
        raise UsageError(
            f"pipeline {name[:80]!r} is not a pipeline name: give the NAME of a file in the "
            "project's pipelines/ folder (letters, digits, '-', '_'), not a path"
        )
    real_folder = folder.resolve()
    for candidate in (folder / f"{name}.yaml", folder / f"{name}.yml"):
        if candidate.is_file() and candidate.resolve().parent == real_folder:
            return candidate
    names = sorted(p.stem for p in folder.glob("*.y*ml")) if folder.is_dir() else []
    raise UsageError(
        f"the project has no pipeline named {name!r}{did_you_mean(name, names)}"
        f" (pipelines: {', '.join(names) or 'none'})"
    )


def plan_pipeline(
    path: str | os.PathLike[str],
    ws: Workspace,
    inputs: Mapping[str, Any] | None = None,
    *,
    workflow: str | None = None,
    strategy: Strategy | None = None,
    max_attempts: int | None = None,
) -> Plan:
    return build_plan(
        load_pipeline(resolve_pipeline_path(path, ws)),
        ws,
        inputs,
        workflow=workflow,
        strategy=strategy,
        max_attempts=max_attempts,
    )


async def run_plan(
    plan: Plan,
    ws: Workspace,
    *,
    options: EngineOptions | None = None,
    progress: ProgressCallback | None = None,
    runlog_dir: str | os.PathLike[str] | None = None,
    run_id: str | None = None,
    reuse: bool = False,
) -> RunResult:
    """Run ``plan``, recording everything. With ``reuse``, a job whose idempotency key
    already succeeded (and whose files still exist) hands back those files instead of
    calling anything, as batches always do."""
    runlog = open_runlog(ws, runlog_dir)
    notify = notifier(progress)
    history = await asyncio.to_thread(history_for, plan, runlog, notify, reuse=reuse)
    with runlog.writer() as sink:
        async with Engine(ws, sink, options=options, history=history, progress=progress) as engine:
            if history.succeeded:
                engine.services.reuse = ReuseIndex(history.succeeded, engine.services.store).lookup
            result = await engine.run(plan, run_id=run_id)
    await finish_runlog(runlog, sink, notify, said_waiting=history.unavailable is not None)
    return result


def notifier(progress: ProgressCallback | None) -> NoticeCallback:
    """One-line notices for the person running a command, through its progress channel."""

    def notify(message: str) -> None:
        if progress is not None:
            progress(Progress("notice", message=message))

    return notify


def one_shot_plan(
    ws: Workspace,
    *,
    media_type: str,
    prompt: str,
    preset: str | None = None,
    workflow: str = "simple",
    max_attempts: int | None = None,
    params: Mapping[str, Any] | None = None,
) -> Plan:
    """A one-step pipeline for ``mediamix generate``."""
    if preset is not None:
        chosen = ws.presets.get(preset)
        if chosen is None:
            raise UsageError(
                f"--preset: no preset named {preset!r}{did_you_mean(preset, ws.presets)}"
            )
        if chosen.media_type != media_type:
            raise UsageError(f"--preset {preset} makes {chosen.media_type}, not {media_type}")
    step = Step(
        id="generate",
        prompt="{{ inputs.prompt }}",
        media_type=media_type,
        preset=preset,
        params=dict(params or {}),
    )
    data = {
        "name": "generate",
        "workflow": workflow,
        "inputs": {"prompt": {"type": "string"}},
        "steps": [
            {
                k: v
                for k, v in {
                    "id": step.id,
                    "prompt": step.prompt,
                    "media_type": media_type,
                    "preset": preset,
                    "params": step.params,
                }.items()
                if v
            }
        ],
    }
    pipeline: Pipeline = pipeline_from(data, name="generate", source=None)
    doc = YamlDocument(data, Positions("<generate>"), "")
    return build_plan(Loaded(pipeline, doc), ws, {"prompt": prompt}, max_attempts=max_attempts)


def load(project: str | None) -> Workspace:
    return load_workspace(project)


def pin_account(plan: Plan, ws: Workspace, account: str) -> Plan:
    """The plan with every step's candidates limited to those ``account`` can serve, each
    sent through that account (the original API's ``accountName``)."""
    chosen = next((a for a in ws.accounts if a.name == account), None)
    if chosen is None:
        names = [a.name for a in ws.accounts]
        raise UsageError(f"no account named {account!r}{did_you_mean(account, names)}")
    steps = []
    for sp in plan.steps:
        candidates = tuple(
            replace(c, account=chosen.name)
            for c in sp.candidates
            if c.provider == chosen.provider and chosen.serves(c.model)
        )
        if not candidates:
            offered = ", ".join(c.label for c in sp.candidates) or "none"
            raise UsageError(
                f"account {account!r} ({chosen.provider}) serves none of step {sp.id!r}'s "
                f"models ({offered})"
            )
        steps.append(replace(sp, candidates=candidates))
    return replace(plan, steps=tuple(steps))
