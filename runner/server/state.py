"""What the server's handlers share, as typed application keys."""

from __future__ import annotations

from aiohttp import web

from runner.server.settings import ServeSettings
from runner.service.jobs import JobService

SETTINGS = web.AppKey("settings", ServeSettings)
SERVICE = web.AppKey("service", JobService)


def settings_of(request: web.Request) -> ServeSettings:
    return request.app[SETTINGS]


def service_of(request: web.Request) -> JobService:
    return request.app[SERVICE]
