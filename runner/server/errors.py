"""The server's one error boundary: every failure is a JSON answer, never a traceback.

Known errors become a status and one clear message (400 naming the field for bad input,
with ``problems`` as ``FILE:LINE:COL`` lines for configuration); anything else is a bug:
its traceback goes to the crash log and the answer is a 500 carrying the crash id.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

from aiohttp import web

from runner.crashlog import record_crash
from runner.errors import (
    ConfigError,
    MediamixError,
    RunLogError,
    StorageError,
    UsageError,
    redact,
)
from runner.server.state import SETTINGS
from runner.service.jobs import QueueFull

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """An answer other than success, raised anywhere in a handler."""

    def __init__(
        self, status: int, message: str, *, field: str | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.extra = extra


def field_error(field: str, message: str) -> ApiError:
    """400 naming the request field at fault (the name as the caller spelled it)."""
    return ApiError(400, f"{field}: {message}", field=field)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def dumps(data: Any) -> str:
    return json.dumps(data, default=_default, allow_nan=False, separators=(",", ":"))


def json_response(data: Any, status: int = 200, **headers: str) -> web.Response:
    return web.Response(
        text=dumps(data), status=status, content_type="application/json", headers=headers
    )


def error_response(
    status: int, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    body = {"error": redact(message), **{k: v for k, v in extra.items() if v is not None}}
    return web.Response(
        text=dumps(body), status=status, content_type="application/json", headers=headers
    )


def _status_for(exc: MediamixError) -> int:
    if isinstance(exc, QueueFull):
        return 503
    if isinstance(exc, ConfigError | UsageError):
        return 400
    if isinstance(exc, RunLogError):
        return 503
    if isinstance(exc, StorageError):
        return 502
    return 500


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.message, field=exc.field, **exc.extra)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects and the like
        reason = exc.text if exc.text and not exc.text.startswith(str(exc.status)) else None
        message = reason or exc.reason
        if exc.status == 413:
            limit = request.app[SETTINGS].max_body_bytes
            message = f"the request body is larger than {limit} bytes"
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return error_response(exc.status, message, headers=headers)
    except ConfigError as exc:
        return error_response(
            400,
            "invalid configuration: " + "; ".join(str(d) for d in exc.diagnostics[:3]),
            problems=[redact(str(d)) for d in exc.diagnostics],
            diagnostics=[d.as_dict() for d in exc.diagnostics],
        )
    except MediamixError as exc:
        return error_response(_status_for(exc), str(exc))
    except (ConnectionResetError, TimeoutError) as exc:
        if isinstance(exc, TimeoutError):
            return error_response(408, "the request body did not arrive in time")
        raise
    except Exception as exc:
        crash_id = record_crash(exc, context=f"{request.method} {request.path}")
        return error_response(
            500, "internal error: the details are in the server's crash log", id=crash_id
        )
