"""``POST /api/media/generate`` and ``POST /api/media/runs``: accepted at once (202).

The request is checked and planned before the answer (so a bad preset or input is a 400
naming it), then runs in the background on the server's engine. The answer carries the
ids and where to watch: ``jobId``/``runId`` as the original API spelled them, and
mediamix's ``job_id``/``run_id``.
"""

from __future__ import annotations

import re

from aiohttp import web

from runner.config.limits import (
    MAX_ATTEMPTS_MAX,
    MAX_ATTEMPTS_MIN,
    MAX_INPUTS_JSON_BYTES,
    MAX_PROMPT_CHARS,
    WORKFLOWS,
    prompt_problem,
)
from runner.providers.base import MEDIA_TYPES
from runner.server.bodies import Body, read_json
from runner.server.errors import ApiError, field_error, json_response
from runner.server.jobs import job_links
from runner.server.state import service_of
from runner.service.jobs import Accepted

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
GENERATE_FIELDS = ("media_type", "prompt", "preset", "workflow", "max_attempts", "account")
RUN_FIELDS = ("pipeline", "inputs", "workflow")


def _accepted(accepted: Accepted) -> web.Response:
    links: dict[str, str] = {"run": f"/api/media/runs/{accepted.run_id}",
                             "jobs": f"/api/media/jobs?run={accepted.run_id}"}  # fmt: skip
    body: dict[str, object] = {
        "runId": accepted.run_id,
        "run_id": accepted.run_id,
        "status": accepted.status,
    }
    if accepted.job_id is not None:
        body.update(jobId=accepted.job_id, job_id=accepted.job_id)
        links.update(job_links(accepted.job_id, accepted.run_id))
    body["links"] = links
    location = links.get("self", links["run"])
    return json_response(body, status=202, Location=location)


async def generate(request: web.Request) -> web.Response:
    body = Body(await read_json(request), GENERATE_FIELDS)
    media_type = body.string("media_type", required=True, choices=MEDIA_TYPES)
    prompt = body.string("prompt", required=True, max_chars=MAX_PROMPT_CHARS)
    assert media_type is not None and prompt is not None
    problem = prompt_problem(prompt)
    if problem is not None:
        raise field_error(body.name("prompt"), problem)
    preset = body.string("preset", max_chars=64, pattern=NAME)
    workflow = body.string("workflow", choices=WORKFLOWS) or "simple"
    max_attempts = body.integer("max_attempts", low=MAX_ATTEMPTS_MIN, high=MAX_ATTEMPTS_MAX)
    account = body.string("account", max_chars=64)
    accepted = await service_of(request).generate(
        media_type=media_type,
        prompt=prompt,
        preset=preset,
        workflow=workflow,
        max_attempts=max_attempts,
        account=account,
    )
    return _accepted(accepted)


async def start_run(request: web.Request) -> web.Response:
    body = Body(await read_json(request), RUN_FIELDS)
    pipeline = body.string("pipeline", required=True, max_chars=200)
    assert pipeline is not None
    if not NAME.match(pipeline):
        # Never a path: only pipelines/NAME.yaml of this project can be run.
        raise field_error(
            body.name("pipeline"),
            "give the NAME of a pipeline in the project's pipelines/ folder "
            "(letters, digits, '-', '_'), not a path",
        )
    inputs = body.mapping("inputs", max_bytes=MAX_INPUTS_JSON_BYTES)
    workflow = body.string("workflow", choices=WORKFLOWS)
    accepted = await service_of(request).run_pipeline(pipeline, inputs, workflow=workflow)
    return _accepted(accepted)


async def show_run(request: web.Request) -> web.Response:
    run_id = request.match_info["run_id"]
    state = service_of(request).run_state(run_id)
    if state is None:
        raise ApiError(404, f"no run {run_id[:64]!r} known to this server; see "
                       f"/api/media/jobs?run={run_id[:64]} for the run log's jobs")  # fmt: skip
    state["links"] = {
        "jobs": f"/api/media/jobs?run={run_id}",
        "cancel": f"/api/media/runs/{run_id}/cancel",
    }
    return json_response(state)


async def cancel_run(request: web.Request) -> web.Response:
    run_id = request.match_info["run_id"]
    try:
        was = service_of(request).cancel_run(run_id)
    except LookupError:
        raise ApiError(404, f"no queued or running run {run_id[:64]!r}") from None
    return json_response(
        {"run_id": run_id, "runId": run_id, "status": "cancelling", "was": was}, status=202
    )


def routes() -> list[web.AbstractRouteDef]:
    return [
        web.post("/api/media/generate", generate),
        web.post("/api/media/runs", start_run),
        web.get("/api/media/runs/{run_id}", show_run),
        web.post("/api/media/runs/{run_id}/cancel", cancel_run),
    ]
