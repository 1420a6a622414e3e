"""Helpers vendor handlers use: the parsed body, the injected fault, vendor-shaped errors,
and absolute download URLs.

The generic middleware (:mod:`tests.fakeprovider.server`) parses and records every request
before the handler runs, so handlers read bodies from here instead of the request stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from aiohttp import web

from tests.fakeprovider import bulk, media
from tests.fakeprovider.bulk import PaddedMp4
from tests.fakeprovider.state import FakeState
from tests.fakeprovider.vendors import vendor_for_path

STATE = web.AppKey("fake_state", FakeState)
VENDOR_MODULES = web.AppKey("fake_vendor_modules", dict[str, ModuleType])

JSON_BODY = web.RequestKey("fake_json_body", object)
FORM = web.RequestKey("fake_form", dict[str, str])
FILES = web.RequestKey("fake_files", dict[str, bytes])
API_KEY = web.RequestKey("fake_api_key", str)
FAULT = web.RequestKey("fake_fault", str)


def state_of(request: web.Request) -> FakeState:
    return request.app[STATE]


def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object ({} when the body was not a JSON object)."""
    body = request.get(JSON_BODY)
    return body if isinstance(body, dict) else {}


def form(request: web.Request) -> dict[str, str]:
    return request.get(FORM, {})


def files(request: web.Request) -> dict[str, bytes]:
    return request.get(FILES, {})


def api_key_of(request: web.Request) -> str:
    return request.get(API_KEY, "")


def fault_of(request: web.Request) -> str | None:
    """The content fault (blank_image, silence, empty_data, ...) this request should get."""
    return request.get(FAULT)


def usage(request: web.Request, counts: dict[str, Any]) -> dict[str, Any]:
    """A text answer's usage: the real ``counts`` with any configured overrides on top."""
    return {**counts, **state_of(request).usage}


def missing(body: Mapping[str, Any], *fields: str) -> str | None:
    """The first of ``fields`` absent or empty in ``body``."""
    for name in fields:
        if body.get(name) in (None, "", []):
            return name
    return None


def vendor_for(request: web.Request) -> str:
    """The vendor module name that owns ``request.path`` ("openai", "azure", ...)."""
    return vendor_for_path(request.path) or ""


def vendor_module(request: web.Request) -> ModuleType:
    name = vendor_for_path(request.path)
    modules = request.app[VENDOR_MODULES]
    if name is None or name not in modules:
        raise LookupError(f"no vendor serves {request.path}")
    return modules[name]


def error_response(
    request: web.Request,
    status: int,
    message: str,
    *,
    kind: str,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """An error answer in the wire format of the vendor that owns ``request.path``."""
    body, extra = vendor_module(request).error_body(status, message, kind=kind)
    return web.json_response(body, status=status, headers={**extra, **(headers or {})})


def missing_field(request: web.Request, field: str) -> web.Response:
    return error_response(
        request, 400, f"Missing required parameter: '{field}'.", kind="invalid_request"
    )


def absolute_url(request: web.Request, path: str) -> str:
    return f"{request.scheme}://{request.host}{path}"


def publish(request: web.Request, data: bytes | PaddedMp4, content_type: str) -> str:
    """Store ``data`` on the server and return an absolute URL that downloads it."""
    prefix = "/" + request.path.lstrip("/").split("/", 1)[0]
    return absolute_url(request, state_of(request).publish(prefix, data, content_type))


def video(request: web.Request, seconds: float) -> bytes | PaddedMp4:
    """A short MP4 clip, padded to ``state.video_bytes`` when a benchmark set a size."""
    clip = media.mp4(seconds)
    size = state_of(request).video_bytes
    return clip if size is None else PaddedMp4(clip, size)


async def send_media(
    request: web.Request, body: bytes | PaddedMp4, content_type: str
) -> web.StreamResponse:
    """Answer with ``body``: bytes in one piece, a padded video generated as it is sent."""
    if isinstance(body, PaddedMp4):
        return await bulk.stream(request, body, content_type)
    answer = web.Response(body=body, content_type=content_type)
    answer.enable_chunked_encoding()
    return answer
