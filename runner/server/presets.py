"""``/api/media/presets``: list, show (with its YAML), create, update; and ``init``.

Written presets pass the same schema and cross-file checks as ``mediamix validate``;
problems come back as ``FILE:LINE:COL: ...`` lines (``problems``) and as objects
(``diagnostics``) so an editor can mark the line. Files are replaced atomically.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aiohttp import web

from runner.config.model import Preset
from runner.config.presets_file import (
    MAX_PRESET_BYTES,
    NAME_PATTERN,
    check_preset_text,
    install_default_presets,
    preset_file,
    write_preset,
)
from runner.errors import ConfigError
from runner.server.bodies import Body, read_json
from runner.server.errors import ApiError, field_error, json_response
from runner.server.state import service_of

WRITE_LOCK = web.AppKey("presets_write_lock", asyncio.Lock)


def _summary(preset: Preset, root: Path) -> dict[str, Any]:
    return {
        "name": preset.name,
        "media_type": preset.media_type,
        "strategy": preset.strategy,
        "priority": preset.priority,
        "models": [m.label for m in preset.models],
        "max_attempts": preset.retry.max_attempts,
        "source": "built-in" if preset.builtin else "project",
        "editable": not preset.builtin or preset_file(root, preset.name).is_file(),
        "description": preset.description.strip(),
    }


async def list_presets(request: web.Request) -> web.Response:
    ws, problems = await service_of(request).source.lenient()
    rows = [
        _summary(p, ws.project.root)
        for p in sorted(ws.presets.values(), key=lambda p: (p.media_type, -p.priority, p.name))
    ]
    return json_response(
        {
            "presets": rows,
            "broken": sorted(ws.broken_presets),
            "problems": [str(d) for d in problems],
        }
    )


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    if not NAME_PATTERN.match(name):
        raise ApiError(404, "no such preset")
    return name


async def show_preset(request: web.Request) -> web.Response:
    name = _name(request)
    ws, problems = await service_of(request).source.lenient()
    preset = ws.presets.get(name)
    project_file = preset_file(ws.project.root, name)
    if preset is None and not project_file.is_file():
        raise ApiError(404, f"no preset named {name!r}")
    source = preset.source if preset is not None and preset.source else project_file
    text = await asyncio.to_thread(Path(source).read_text, encoding="utf-8")
    data: dict[str, Any] = {"name": name, "yaml": text}
    if preset is not None:
        details = asdict(preset)
        details["source"] = "built-in" if preset.builtin else "project"
        data.update(details)
    else:  # a project file that does not load: show it with its problems
        data["problems"] = [str(d) for d in problems if Path(d.file).name == project_file.name]
    return json_response(data)


def _yaml_field(body: Body) -> str:
    text = body.string("yaml", required=True, max_chars=MAX_PRESET_BYTES)
    assert text is not None
    return text


async def _write(request: web.Request, name: str, text: str, *, create: bool) -> web.Response:
    service = service_of(request)
    async with request.app[WRITE_LOCK]:
        # Lenient: a preset broken by hand on disk must not stop anyone fixing it here.
        ws, _ = await service.source.lenient()
        existed = preset_file(ws.project.root, name).is_file()
        if create and existed:
            raise ApiError(
                409, f"presets/{name}.yaml already exists; PUT /api/media/presets/{name}"
            )
        try:
            checked = await asyncio.to_thread(check_preset_text, name, text, ws)
        except ConfigError as exc:
            raise ApiError(
                400,
                f"preset {name!r} is not valid ({len(exc.diagnostics)} problem"
                f"{'s' if len(exc.diagnostics) != 1 else ''})",
                problems=[str(d) for d in exc.diagnostics],
                diagnostics=[d.as_dict() for d in exc.diagnostics],
            ) from None
        await asyncio.to_thread(write_preset, ws, name, text)
        service.source.invalidate()
    return json_response(
        {
            "name": name,
            "outcome": "updated" if existed else "created",
            "warnings": [str(d) for d in checked.warnings],
            "links": {"self": f"/api/media/presets/{name}"},
        },
        status=200 if existed else 201,
    )


async def create_preset(request: web.Request) -> web.Response:
    body = Body(await read_json(request), ("name", "yaml"))
    name = body.string("name", required=True, max_chars=64)
    assert name is not None
    if not NAME_PATTERN.match(name):
        raise field_error(body.name("name"), "use letters, digits, '-' and '_' (at most 64)")
    return await _write(request, name, _yaml_field(body), create=True)


async def update_preset(request: web.Request) -> web.Response:
    """Create or replace the project's presets/NAME.yaml (for a built-in preset, the
    project's own copy, which overrides it)."""
    name = _name(request)
    body = Body(await read_json(request), ("yaml", "name"))
    if body.has("name") and body.string("name") != name:
        raise field_error(body.name("name"), "differs from the preset named in the URL")
    return await _write(request, name, _yaml_field(body), create=False)


async def init_project(request: web.Request) -> web.Response:
    Body(await read_json(request), ())
    service = service_of(request)
    async with request.app[WRITE_LOCK]:
        ws = await service.source.get()
        result = await asyncio.to_thread(install_default_presets, ws.project.root)
        service.source.invalidate()
    return json_response(
        {"installed": result.installed, "kept": result.kept},
        status=201 if result.installed else 200,
    )


def routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/api/media/presets", list_presets),
        web.post("/api/media/presets", create_preset),
        web.get("/api/media/presets/{name}", show_preset),
        web.put("/api/media/presets/{name}", update_preset),
        web.post("/api/media/init", init_project),
    ]
