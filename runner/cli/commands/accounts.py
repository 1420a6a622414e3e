"""``mediamix accounts``: provider accounts, their keys' presence, limits and health."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from runner.config.accounts_file import add_account
from runner.config.project import ACCOUNTS_FILE, load_workspace
from runner.errors import RunLogError
from runner.providers.registry import provider_names


def _health(runlog_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    from runner.runlog.store import RunLog

    log = RunLog(runlog_dir)
    if not log.exists() and not log.pending_files():
        return {}
    try:
        with log.queries() as q:
            return {(r["provider"], r["account"]): r for r in q.account_stats()}
    except RunLogError:
        return {}


def _status(configured: str, health: dict[str, Any], now: datetime) -> str:
    """inactive (by config); rate_limited while a vendor's Retry-After lasts; else what
    the last attempt on the account says."""
    if configured == "inactive":
        return "inactive"
    cooldown_until = health.get("cooldown_until")
    if cooldown_until is not None and cooldown_until > now:
        return "rate_limited"
    return "error" if health.get("last_status") == "failed" else "active"


@click.group("accounts", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def accounts_cmd(ctx: click.Context, as_json: bool) -> None:
    """List provider accounts with key presence, limits and health from the run log.

    Without accounts.yaml, mediamix uses one default account per vendor keyed by the
    vendor's usual variable (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, ...).
    """
    if ctx.invoked_subcommand is not None:
        return
    ws = load_workspace(ctx.obj.get("project"))
    health = _health(ws.project.runlog_dir)
    now = datetime.now(UTC)
    rows = []
    for account in ws.accounts:
        h = health.get((account.provider, account.name), {})
        key_state = (
            "no key needed"
            if not account.api_key_env
            else ("key set" if os.environ.get(account.api_key_env) else "key MISSING")
        )
        rows.append(
            {
                "name": account.name,
                "provider": account.provider,
                "api_key_env": account.api_key_env,
                "key": key_state,
                "status": _status(account.status, h, now),
                "rpm": account.rpm,
                "max_concurrency": account.max_concurrency,
                "successes": int(h.get("successes") or 0),
                "failures": int(h.get("failures") or 0),
                "rate_limited": int(h.get("rate_limited") or 0),
                "cost_usd": h.get("cost_usd"),
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    source = "accounts.yaml" if ws.explicit_accounts else "built-in defaults (no accounts.yaml)"
    click.echo(f"accounts from {source}:")
    for r in rows:
        limits = ", ".join(f"{k}={r[k]}" for k in ("rpm", "max_concurrency") if r[k] is not None)
        cost = f" ${r['cost_usd']:.4f}" if r["cost_usd"] else ""
        click.echo(
            f"  {r['name']:<20} {r['provider']:<18} {r['key']:<13} {r['status']:<12}"
            f" ok={r['successes']} failed={r['failures']} 429s={r['rate_limited']}{cost}"
            + (f"  [{limits}]" if limits else "")
        )


@accounts_cmd.command("add")
@click.argument("name")
@click.option("--provider", required=True, type=click.Choice(provider_names()))
@click.option("--api-key-env", help="NAME of the environment variable holding the key.")
@click.option("--base-url", help="API base URL (self-hosted servers, Azure resources, proxies).")
@click.option("--model", "models", multiple=True, help="A model this account serves (repeat).")
@click.option("--rpm", type=click.IntRange(1), help="Requests per minute allowed.")
@click.option("--max-concurrency", type=click.IntRange(1), help="Requests in flight at most.")
@click.pass_context
def accounts_add(
    ctx: click.Context,
    name: str,
    provider: str,
    api_key_env: str | None,
    base_url: str | None,
    models: tuple[str, ...],
    rpm: int | None,
    max_concurrency: int | None,
) -> None:
    """Append account NAME to accounts.yaml (never a key: only its variable's name)."""
    ws = load_workspace(ctx.obj.get("project"))
    path = ws.project.root / ACCOUNTS_FILE
    add_account(
        path,
        {
            "name": name,
            "provider": provider,
            "api_key_env": api_key_env,
            "base_url": base_url,
            "models": list(models),
            "rpm": rpm,
            "max_concurrency": max_concurrency,
        },
    )
    click.echo(f"added account {name} ({provider}) to {path}")
