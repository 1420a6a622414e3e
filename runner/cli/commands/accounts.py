"""``mediamix accounts``: provider accounts, their keys' presence, limits and health."""

from __future__ import annotations

import json

import click

from runner.config.accounts_file import add_account
from runner.config.project import ACCOUNTS_FILE, load_workspace
from runner.engine.account_overview import account_overview
from runner.providers.registry import provider_names


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
    stable = (
        "name", "provider", "api_key_env", "key", "status", "rpm", "max_concurrency",
        "successes", "failures", "rate_limited", "cost_usd",
    )  # fmt: skip
    rows = [{k: row[k] for k in stable} for row in account_overview(ws)]
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
