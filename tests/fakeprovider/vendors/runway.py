"""Runway's wire format under ``/runway/v1``: image_to_video, text_to_video and tasks.

Every call needs ``X-Runway-Version: 2024-11-06``. Errors are ``{"error": message}``
(docs.dev.runwayml.com: "a JSON response with an error member"). Content moderation is
not an HTTP error at Runway: the task is accepted and then FAILS with a ``SAFETY.*``
failure code; ``task_failed`` fails it with ``INTERNAL.BAD_OUTPUT.CODE01``;
``empty_data`` makes it succeed with an empty ``output`` list.
``DELETE /v1/tasks/{id}`` cancels a task.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from tests.fakeprovider import wire
from tests.fakeprovider.state import FakeState, TaskInfo

PREFIX = "/runway/v1"
API_VERSION = "2024-11-06"
HANDLES_CONTENT_POLICY = True
#: Data URIs over this size are refused (Runway's documented 5 MB limit).
MAX_DATA_URI = 5 * 1024 * 1024
TEXT_TO_VIDEO_MODELS = frozenset({"gen4.5", "veo3", "veo3.1", "veo3.1_fast"})
IMAGE_TO_VIDEO_MODELS = TEXT_TO_VIDEO_MODELS | {"gen4_turbo", "gen4", "seedance2"}
_RATIO = re.compile(r"\d+:\d+")
_DATA_URI = re.compile(r"data:image/(png|jpeg|webp);base64,[A-Za-z0-9+/=]+")


def error_body(status: int, message: str, *, kind: str) -> tuple[dict[str, Any], dict[str, str]]:
    return {"error": message}, {}


def api_key(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _bad_request(request: web.Request, message: str) -> web.Response:
    return wire.error_response(request, 400, message, kind="invalid_request")


def _version_problem(request: web.Request) -> web.Response | None:
    if request.headers.get("X-Runway-Version") != API_VERSION:
        return _bad_request(
            request, f"X-Runway-Version: header is required and must be {API_VERSION}"
        )
    return None


def _check_common(request: web.Request, body: dict[str, Any], models: frozenset[str]) -> str | None:
    """The first problem with the fields both task kinds share, as Runway words it."""
    if body.get("model") not in models:
        return f"model: Invalid enum value. Expected one of {', '.join(sorted(models))}"
    if not _RATIO.fullmatch(str(body.get("ratio", ""))):
        return "ratio: Required, as WIDTH:HEIGHT"
    duration = body.get("duration")
    if duration is not None and (not isinstance(duration, int) or not 2 <= duration <= 10):
        return "duration: Number must be between 2 and 10"
    text = body.get("promptText")
    if text is not None and len(str(text)) > 1000:
        return "promptText: String must contain at most 1000 character(s)"
    return None


def _task_json(request: web.Request, task: TaskInfo, state: FakeState) -> dict[str, Any]:
    answer: dict[str, Any] = {"id": task.id, "createdAt": "2026-01-01T00:00:00.000Z"}
    if task.payload.get("cancelled"):
        return answer | {"status": "CANCELLED"}
    if task.status == "queued":
        return answer | {"status": "PENDING"}
    if task.status == "in_progress":
        # The first look finds it queued behind the org's concurrency limit.
        if task.polls <= 1:
            return answer | {"status": "THROTTLED"}
        return answer | {"status": "RUNNING", "progress": 0.5}
    if task.status == "failed":
        if task.payload.get("moderated"):
            failure = ("The prompt text did not pass content moderation.", "SAFETY.INPUT.TEXT")
        else:
            failure = ("The generation did not meet our quality bar.", "INTERNAL.BAD_OUTPUT.CODE01")
        return answer | {"status": "FAILED", "failure": failure[0], "failureCode": failure[1]}
    if task.payload.get("no_output"):
        return answer | {"status": "SUCCEEDED", "output": []}
    if "output" not in task.payload:
        task.payload["output"] = wire.publish(request, wire.video(request, 1.0), "video/mp4")
    return answer | {"status": "SUCCEEDED", "output": [task.payload["output"]]}


def register(app: web.Application, state: FakeState) -> None:
    def create(request: web.Request, body: dict[str, Any]) -> web.Response:
        fault = wire.fault_of(request)
        task = state.create_task(
            "runway",
            wire.api_key_of(request),
            {
                "model": body["model"],
                "moderated": fault == "content_policy",
                "no_output": fault == "empty_data",
            },
            fail=fault in ("task_failed", "content_policy"),
        )
        return web.json_response({"id": task.id})

    async def image_to_video(request: web.Request) -> web.Response:
        problem = _version_problem(request)
        if problem is not None:
            return problem
        body = wire.json_body(request)
        image = body.get("promptImage")
        if not image:
            return _bad_request(request, "promptImage: Required")
        if not isinstance(image, str) or not (
            image.startswith("https://") or _DATA_URI.fullmatch(image)
        ):
            return _bad_request(request, "promptImage: Invalid data URI.")
        if len(image) > MAX_DATA_URI:
            return _bad_request(request, "promptImage: Data URI is too large.")
        issue = _check_common(request, body, IMAGE_TO_VIDEO_MODELS)
        return _bad_request(request, issue) if issue else create(request, body)

    async def text_to_video(request: web.Request) -> web.Response:
        problem = _version_problem(request)
        if problem is not None:
            return problem
        body = wire.json_body(request)
        absent = wire.missing(body, "promptText", "duration")
        if absent:
            return _bad_request(request, f"{absent}: Required")
        issue = _check_common(request, body, TEXT_TO_VIDEO_MODELS)
        return _bad_request(request, issue) if issue else create(request, body)

    def owned(request: web.Request) -> TaskInfo | None:
        task = state.tasks.get(request.match_info["task_id"])
        if task is None or task.api_key != wire.api_key_of(request):
            return None
        return task

    async def get_task(request: web.Request) -> web.Response:
        problem = _version_problem(request)
        if problem is not None:
            return problem
        task = owned(request)
        if task is None:
            return wire.error_response(request, 404, "Task not found.", kind="not_found")
        return web.json_response(_task_json(request, state.poll_task(task.id) or task, state))

    async def delete_task(request: web.Request) -> web.Response:
        task = owned(request)
        if task is None:
            return wire.error_response(request, 404, "Task not found.", kind="not_found")
        task.payload["cancelled"] = True
        return web.Response(status=204)

    app.router.add_post(f"{PREFIX}/image_to_video", image_to_video)
    app.router.add_post(f"{PREFIX}/text_to_video", text_to_video)
    app.router.add_get(f"{PREFIX}/tasks/{{task_id}}", get_task)
    app.router.add_delete(f"{PREFIX}/tasks/{{task_id}}", delete_task)
