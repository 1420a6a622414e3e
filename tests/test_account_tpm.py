"""An account's tokens-per-minute window counts what each request really used."""

from __future__ import annotations

import asyncio

from runner.config.model import Account
from runner.engine.accounts import AccountPool


def test_each_release_corrects_its_own_estimate_not_the_newest() -> None:
    """Two calls in flight, each estimated at 400 tokens of a 1,000 tpm account, each
    really using 100: afterwards 200 of the minute is spent, so a 700-token call may go at
    once. Correcting the newest entry instead of the caller's own left 500 counted."""
    now = [1000.0]
    account = Account(name="a", provider="openai", api_key_env="MMX_TPM_KEY", tpm=1000)
    pool = AccountPool([account], env={"MMX_TPM_KEY": "sk-tpm-test"}, clock=lambda: now[0])

    async def scenario() -> tuple[bool, bool]:
        first = await pool.acquire("openai", "gpt-4o-mini", tokens=400)
        second = await pool.acquire("openai", "gpt-4o-mini", tokens=400)
        too_much_now = pool.ready_now("openai", "gpt-4o-mini", tokens=700)
        first.release("success", tokens=100)
        second.release("success", tokens=100)
        return too_much_now, pool.ready_now("openai", "gpt-4o-mini", tokens=700)

    while_both_ran, after_both = asyncio.run(scenario())
    assert not while_both_ran  # 800 estimated + 700 > 1,000
    assert after_both  # 200 used + 700 <= 1,000
    now[0] += 61.0  # a minute on, the window is empty whatever was counted
    assert pool.ready_now("openai", "gpt-4o-mini", tokens=1000)
