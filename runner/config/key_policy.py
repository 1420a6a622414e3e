"""Where an account made over the HTTP API may send a key: the exfiltration rule.

An account is a key variable plus a URL the key is sent to. Whoever can write accounts
over HTTP could otherwise pair any variable of the server's environment with a host of
their choosing (``api_key_env: AWS_SECRET_ACCESS_KEY``, ``base_url: https://them``) and
have the next generation deliver it. So, over HTTP, **a key only goes where a person
already sends it**:

1. ``api_key_env`` must be the provider's standard variable (``OPENAI_API_KEY``,
   ``ANTHROPIC_API_KEY``, ...) or a variable accounts.yaml already uses for the same
   provider. Any other name is refused, whatever the URL.
2. With a key variable, ``base_url`` must be on the provider's official API host
   (``api.openai.com``, ``*.openai.azure.com``, ...) or be an origin (scheme, host, port)
   that accounts.yaml already pairs with that same variable.

Accounts without a key variable may point at any http(s) URL (self-hosted servers): no
secret goes with them. The pairs allowed over HTTP are those of accounts.yaml plus the
vendors' own, and an account written over HTTP only ever adds an allowed pair, so the
rule cannot be widened one request at a time. People widen it by editing accounts.yaml
(or ``mediamix accounts add`` on the server), which this rule does not restrict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from runner.config.model import Account
from runner.providers.catalog import DEFAULT_KEY_ENV, OFFICIAL_HOSTS


@dataclass(frozen=True)
class PolicyProblem:
    #: The account field at fault: api_key_env or base_url.
    field: str
    message: str


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL; None when it is not one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def _official(provider: str, origin: tuple[str, str, int]) -> bool:
    scheme, host, port = origin
    if scheme != "https" or port != 443:
        return False
    for pattern in OFFICIAL_HOSTS.get(provider, ()):
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def key_destination_problem(
    entry: Mapping[str, object], configured: Iterable[Account]
) -> PolicyProblem | None:
    """Why the account ``entry`` (as sent over HTTP) may not be saved; None if it may.

    ``configured`` are the accounts of accounts.yaml as it is before this change.
    """
    provider = str(entry.get("provider") or "")
    variable = entry.get("api_key_env")
    base_url = entry.get("base_url")
    if base_url is not None and (not isinstance(base_url, str) or origin_of(base_url) is None):
        return PolicyProblem("base_url", "must be an http:// or https:// URL with a host")
    if not variable:
        return None
    variable = str(variable)
    same_provider = [a for a in configured if a.provider == provider and a.source is not None]
    standard = DEFAULT_KEY_ENV.get(provider)
    known = {a.api_key_env for a in same_provider if a.api_key_env}
    if variable != standard and variable not in known:
        allowed = sorted({*known, *([standard] if standard else [])})
        return PolicyProblem(
            "api_key_env",
            f"over the API an account may only use a {provider} key variable: "
            f"{', '.join(allowed) if allowed else '(none configured)'}. The value of any "
            "other variable could be sent to a host of the caller's choosing; to use "
            f"{variable}, add the account to accounts.yaml on the server",
        )
    if base_url is None:
        return None
    origin = origin_of(str(base_url))
    assert origin is not None
    if _official(provider, origin):
        return None
    paired = {
        origin_of(a.base_url)
        for a in same_provider
        if a.api_key_env == variable and a.base_url is not None
    }
    if origin in paired:
        return None
    return PolicyProblem(
        "base_url",
        f"over the API, {variable} may only be sent to {provider}'s own API host or to a "
        f"URL accounts.yaml already uses with {variable}; {origin[1]} is neither. Add the "
        "account to accounts.yaml on the server to send the key there",
    )
