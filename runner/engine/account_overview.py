"""Accounts as a person checks them: configuration, key presence and health from the run log.

One function for ``mediamix accounts`` and the HTTP API's ``GET /api/media/accounts``, so
both say the same thing. A key's value is never part of it: only whether its variable is set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from runner.config.model import Account
from runner.config.project import Workspace
from runner.errors import RunLogError
from runner.runlog.store import RunLog


def account_health(runlog_dir: os.PathLike[str] | str) -> dict[tuple[str, str], dict[str, Any]]:
    """(provider, account) -> the run log's account_health row; empty when there is no log
    yet or it cannot be read (health is extra information, never a reason to fail)."""
    log = RunLog(runlog_dir)
    if not log.exists() and not log.pending_files():
        return {}
    try:
        with log.queries() as q:
            return {(r["provider"], r["account"]): r for r in q.account_stats()}
    except RunLogError:
        return {}


def account_state(configured: str, health: Mapping[str, Any], now: datetime) -> str:
    """inactive (by config); rate_limited while a vendor's Retry-After lasts; else what
    the last attempt on the account says."""
    if configured == "inactive":
        return "inactive"
    cooldown_until = health.get("cooldown_until")
    if cooldown_until is not None and cooldown_until > now:
        return "rate_limited"
    return "error" if health.get("last_status") == "failed" else "active"


def key_state(account: Account, env: Mapping[str, str]) -> str:
    if not account.api_key_env:
        return "no key needed"
    return "key set" if env.get(account.api_key_env) else "key MISSING"


def account_overview(
    ws: Workspace,
    *,
    health: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """One row per account. The first keys are ``mediamix accounts --json``'s stable ones."""
    if health is None:
        health = account_health(ws.project.runlog_dir)
    environment = os.environ if env is None else env
    moment = now or datetime.now(UTC)
    rows = []
    for account in ws.accounts:
        h = health.get((account.provider, account.name), {})
        rows.append(
            {
                "name": account.name,
                "provider": account.provider,
                "api_key_env": account.api_key_env,
                "key": key_state(account, environment),
                "status": account_state(account.status, h, moment),
                "rpm": account.rpm,
                "max_concurrency": account.max_concurrency,
                "successes": int(h.get("successes") or 0),
                "failures": int(h.get("failures") or 0),
                "rate_limited": int(h.get("rate_limited") or 0),
                "cost_usd": h.get("cost_usd"),
                "key_set": bool(account.api_key_env and environment.get(account.api_key_env)),
                "configured_status": account.status,
                "rpd": account.rpd,
                "tpm": account.tpm,
                "base_url": account.base_url,
                "models": list(account.models),
                "cooldown_until": h.get("cooldown_until"),
                "source": "accounts.yaml" if account.source is not None else "built-in",
            }
        )
    return rows
