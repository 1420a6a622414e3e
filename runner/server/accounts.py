"""``/api/media/accounts``: list accounts with health; create or update one.

A key never travels in a request: ``apiKey`` is refused (400) without being repeated,
and an account names the *variable* that holds its key (``api_key_env``). Who may send
which variable where is :mod:`runner.config.key_policy` (the exfiltration rule).
"""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from runner.config.accounts_file import save_account
from runner.config.key_policy import key_destination_problem
from runner.config.project import ACCOUNTS_FILE
from runner.engine.account_overview import account_overview
from runner.providers.registry import provider_names
from runner.server.bodies import Body, read_json
from runner.server.errors import ApiError, json_response
from runner.server.state import service_of

FIELDS = (
    "name", "provider", "api_key_env", "base_url", "models", "rpm", "rpd", "tpm",
    "max_concurrency", "status", "options",
)  # fmt: skip
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
LIMIT_MAX = 1_000_000_000
WRITE_LOCK = web.AppKey("accounts_write_lock", asyncio.Lock)


async def list_accounts(request: web.Request) -> web.Response:
    ws = await service_of(request).source.get()
    rows = await asyncio.to_thread(account_overview, ws)
    return json_response(
        {
            "source": "accounts.yaml" if ws.explicit_accounts else "built-in defaults",
            "accounts": rows,
        }
    )


async def save(request: web.Request) -> web.Response:
    body = Body(await read_json(request), FIELDS)
    name = body.string("name", required=True, max_chars=64, pattern=NAME)
    provider = body.string("provider", required=True, choices=provider_names())
    entry: dict[str, object] = {
        "name": name,
        "provider": provider,
        "api_key_env": body.string("api_key_env", max_chars=128, pattern=VARIABLE),
        "base_url": body.string("base_url", max_chars=2000),
        "models": body.strings("models"),
        "rpm": body.integer("rpm", low=1, high=LIMIT_MAX),
        "rpd": body.integer("rpd", low=1, high=LIMIT_MAX),
        "tpm": body.integer("tpm", low=1, high=LIMIT_MAX),
        "max_concurrency": body.integer("max_concurrency", low=1, high=100_000),
        "status": body.string("status", choices=("active", "inactive")),
        "options": body.mapping("options", max_bytes=16_384),
    }
    service = service_of(request)
    async with request.app[WRITE_LOCK]:
        ws = await service.source.get()
        problem = key_destination_problem(entry, ws.accounts if ws.explicit_accounts else [])
        if problem is not None:
            raise ApiError(403, f"{body.name(problem.field)}: {problem.message}",
                           field=body.name(problem.field))  # fmt: skip
        path = ws.project.root / ACCOUNTS_FILE
        outcome = await asyncio.to_thread(save_account, path, entry)
        service.source.invalidate()
        ws = await service.source.get()
    row = next(r for r in await asyncio.to_thread(account_overview, ws) if r["name"] == name)
    return json_response(
        {"outcome": outcome, "account": row}, status=201 if outcome == "created" else 200
    )


def routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/api/media/accounts", list_accounts),
        web.post("/api/media/accounts", save),
    ]
